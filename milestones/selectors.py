"""Reads of the milestones app."""

from django.db.models import Prefetch, Q, QuerySet

from gigs.models import Category, Gig, Package, User

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


def template_list_for(user: User, *, category: str = "") -> QuerySet[MilestoneTemplate]:
    """Built-in templates and the user's own, built-ins first; with `category` (a slug), only the
    templates for that category. One query, with each template's category."""
    own = Q(owner=user) if user.is_authenticated else Q(pk__in=[])
    qs = MilestoneTemplate.objects.filter(Q(owner__isnull=True) | own).select_related("category")
    if category:
        qs = qs.filter(category__slug=category)
    return qs.order_by("-owner_id", "name")


def template_picker_groups(templates: list[MilestoneTemplate], category: Category | None) -> list[dict]:
    """The builder's template picker: the built-ins for the gig's category first ("For <category>"),
    then the other built-ins, then the seller's own; empty groups left out. No query."""
    for_category = [t for t in templates if t.is_builtin and category is not None and t.category_id == category.pk]
    groups = [
        {"label": f"For {category.name}" if category else "", "templates": for_category},
        {"label": "Other built-in", "templates": [t for t in templates if t.is_builtin and t not in for_category]},
        {"label": "My templates", "templates": [t for t in templates if not t.is_builtin]},
    ]
    return [g for g in groups if g["templates"]]


def template_get_for(user: User, template_id: int) -> MilestoneTemplate | None:
    return template_list_for(user).filter(pk=template_id).first()
