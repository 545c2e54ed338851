"""Reads of the milestones app."""

from django.db.models import Prefetch, Q, QuerySet

from gigs.models import Gig, Package, User

from .models import GigMilestone, GigMilestonePackage, MilestoneTemplate


def plan_for_gig(gig: Gig) -> list[GigMilestone]:
    """The gig's milestones in order with their per-package terms: two queries, whatever the size."""
    return list(
        GigMilestone.objects.filter(gig=gig)
        .order_by("position")
        .prefetch_related(Prefetch("tiers", queryset=GigMilestonePackage.objects.order_by("id")))
    )


def plan_by_tier(milestones: list[GigMilestone]) -> dict[str, dict]:
    """For each package: its milestones (with that package's terms) and the totals, for display."""
    result = {}
    for tier in Package.TIER_ORDER:
        steps = []
        for m in milestones:
            terms = next((t for t in m.tiers.all() if t.tier == tier), None)
            if terms is not None:
                steps.append({"milestone": m, "terms": terms})
        result[tier] = {
            "tier": tier,
            "label": Package.Tier(tier).label,
            "steps": steps,
            "total_price_minor": sum(s["terms"].price_minor for s in steps),
            "total_days": sum(s["terms"].delivery_days for s in steps),
        }
    return result


def template_list_for(user: User) -> QuerySet[MilestoneTemplate]:
    """Built-in templates and the user's own, built-ins first."""
    own = Q(owner=user) if user.is_authenticated else Q(pk__in=[])
    return MilestoneTemplate.objects.filter(Q(owner__isnull=True) | own).order_by("-owner_id", "name")


def template_get_for(user: User, template_id: int) -> MilestoneTemplate | None:
    return template_list_for(user).filter(pk=template_id).first()
