"""What the milestones app adds to the gig page and the gig detail API (through gigs.hooks)."""

from gigs.models import Package

from .selectors import plan_by_tier, plan_for_gig


def plan_page_context(gig, request) -> dict:
    """The plan timeline for the package chosen with ?package= (Basic by default)."""
    if not gig.milestone_payments:
        return {}
    milestones = plan_for_gig(gig)
    if not milestones:
        return {}
    tiers = plan_by_tier(milestones)
    selected = request.GET.get("package")
    if selected not in tiers:
        selected = Package.Tier.BASIC
    return {"plan_tiers": list(tiers.values()), "plan_selected": selected}


def plan_api_fields(gig) -> dict:
    """`milestone_plan`: the milestones in order, each with its terms per including package, as the
    gig is offered: empty when milestone payments are off (the kept plan is at /api/gigs/<slug>/plan/)."""
    if not gig.milestone_payments:
        return {"milestone_plan": []}
    return {
        "milestone_plan": [
            {
                "position": m.position + 1,
                "name": m.name,
                "description": m.description,
                "video_call": m.video_call,
                "packages": {
                    t.tier: {"price_minor": t.price_minor, "delivery_days": t.delivery_days, "revisions": t.revisions}
                    for t in m.tiers.all()
                },
            }
            for m in plan_for_gig(gig)
        ]
    }
