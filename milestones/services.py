"""Writes of the milestones app: a gig's milestone plan and milestone templates.

`plan_replace` is the one way a plan changes: every rule is checked before anything is written,
and errors come back together, keyed like the input (`milestones.1.packages.basic.price_minor`,
`packages.standard` for a package total, `milestones` for the count). A rejected plan changes
nothing. Orders will snapshot a plan when placed, so editing it never touches them.
"""

from dataclasses import dataclass, field
from itertools import pairwise

from django.conf import settings
from django.db import IntegrityError, transaction

from gigs.models import Gig, Package, User
from gigs.services import gig_set_description, gig_set_plan_summary
from marketplace.exceptions import NotFound, ValidationFailed
from marketplace.money import format_money

from .exceptions import TemplateNameTaken
from .models import GigMilestone, GigMilestonePackage, MilestoneTemplate

TIERS = list(Package.TIER_ORDER)


@dataclass(frozen=True)
class MilestoneTerms:
    """A milestone's terms in one package."""

    price_minor: int
    delivery_days: int
    revisions: int = 0


@dataclass(frozen=True)
class MilestoneInput:
    name: str
    description: str = ""
    video_call: bool = False
    # Only the packages that include this milestone, keyed by tier.
    packages: dict[str, MilestoneTerms] = field(default_factory=dict)

    def to_data(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "video_call": self.video_call,
            "packages": {
                tier: {"price_minor": t.price_minor, "delivery_days": t.delivery_days, "revisions": t.revisions}
                for tier, t in self.packages.items()
            },
        }

    @classmethod
    def from_data(cls, data: dict) -> "MilestoneInput":
        """From a template's stored JSON or an API payload; shape errors surface in check_plan."""
        packages = {}
        raw_packages = data.get("packages")
        for tier, terms in (raw_packages if isinstance(raw_packages, dict) else {}).items():
            if not isinstance(terms, dict):
                terms = {}
            packages[str(tier)] = MilestoneTerms(
                price_minor=terms.get("price_minor"),
                delivery_days=terms.get("delivery_days"),
                revisions=terms.get("revisions", 0),
            )
        return cls(
            name=str(data.get("name") or ""),
            description=str(data.get("description") or ""),
            video_call=bool(data.get("video_call")),
            packages=packages,
        )


def _rules() -> dict:
    return settings.MARKETPLACE


def plan_totals(milestones: list[MilestoneInput]) -> dict[str, tuple[int, int]]:
    """tier -> (price_minor, delivery_days) summed over the milestones that package includes."""
    totals = {}
    for tier in TIERS:
        rows = [m.packages[tier] for m in milestones if tier in m.packages]
        if rows:
            totals[tier] = (
                sum(r.price_minor for r in rows if isinstance(r.price_minor, int)),
                sum(r.delivery_days for r in rows if isinstance(r.delivery_days, int)),
            )
    return totals


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_plan(milestones: list[MilestoneInput], *, milestone_payments: bool, currency: str) -> dict[str, list[str]]:
    """Every plan rule. With milestone payments off, the plan is kept but not offered, so only
    the per-milestone rules and the maximum count apply."""
    rules = _rules()
    errors: dict[str, list[str]] = {}

    def add(key: str, message: str) -> None:
        errors.setdefault(key, []).append(message)

    lo, hi = rules["MILESTONES_MIN"], rules["MILESTONES_MAX"]
    if len(milestones) > hi:
        add("milestones", f"A plan has at most {hi} milestones.")
        return errors
    if milestone_payments and len(milestones) < lo:
        add("milestones", f"With milestone payments on, plan at least {lo} milestones (or turn them off).")

    min_price = rules["MILESTONE_MIN_PRICE_MINOR"]
    for i, m in enumerate(milestones):
        key = f"milestones.{i}"
        name = m.name.strip()
        if not name:
            add(f"{key}.name", "Name this milestone.")
        elif len(name) > rules["MILESTONE_NAME_MAX_CHARS"]:
            add(f"{key}.name", f"Use at most {rules['MILESTONE_NAME_MAX_CHARS']} characters.")
        if len(m.description) > rules["MILESTONE_DESCRIPTION_MAX_CHARS"]:
            add(f"{key}.description", f"Use at most {rules['MILESTONE_DESCRIPTION_MAX_CHARS']} characters.")
        unknown = set(m.packages) - set(TIERS)
        if unknown:
            add(f"{key}.packages", f"Unknown package: {', '.join(sorted(unknown))}.")
        if not m.packages:
            add(f"{key}.packages", "Include this milestone in at least one package.")
        for tier, t in m.packages.items():
            if tier not in TIERS:
                continue
            tkey = f"{key}.packages.{tier}"
            if not _is_int(t.price_minor) or t.price_minor <= 0:
                add(f"{tkey}.price_minor", "Enter a price above zero, in whole cents.")
            elif t.price_minor < min_price:
                add(f"{tkey}.price_minor", f"Each milestone costs at least {format_money(min_price, currency)}.")
            elif t.price_minor > rules["PACKAGE_MAX_PRICE_MINOR"]:
                add(f"{tkey}.price_minor", "That price is too high.")
            if not _is_int(t.delivery_days) or not 1 <= t.delivery_days <= rules["PACKAGE_MAX_DELIVERY_DAYS"]:
                add(f"{tkey}.delivery_days", f"Delivery takes 1 to {rules['PACKAGE_MAX_DELIVERY_DAYS']} days.")
            if not _is_int(t.revisions) or not 0 <= t.revisions <= rules["PACKAGE_MAX_REVISIONS"]:
                add(f"{tkey}.revisions", f"Revisions go from 0 to {rules['PACKAGE_MAX_REVISIONS']}.")

    if not milestone_payments or errors:
        return errors
    totals = plan_totals(milestones)
    for tier in TIERS:
        if tier not in totals:
            add(f"packages.{tier}", f"The {Package.Tier(tier).label} package needs at least one milestone.")
    if TIERS[0] in totals and totals[TIERS[0]][0] < rules["BASIC_MIN_TOTAL_MINOR"]:
        add(
            f"packages.{TIERS[0]}",
            f"The Basic package must total at least {format_money(rules['BASIC_MIN_TOTAL_MINOR'], currency)} "
            f"(now {format_money(totals[TIERS[0]][0], currency)}).",
        )
    for lower, higher in pairwise(TIERS):
        if lower in totals and higher in totals and totals[higher][0] < totals[lower][0]:
            add(
                f"packages.{higher}",
                f"{Package.Tier(higher).label} ({format_money(totals[higher][0], currency)}) cannot cost less than "
                f"{Package.Tier(lower).label} ({format_money(totals[lower][0], currency)}).",
            )
    for tier, (price, days) in totals.items():
        if price > rules["PACKAGE_MAX_PRICE_MINOR"]:
            add(
                f"packages.{tier}",
                f"The {Package.Tier(tier).label} package may total at most "
                f"{format_money(rules['PACKAGE_MAX_PRICE_MINOR'], currency)}.",
            )
        if days > rules["PACKAGE_MAX_DELIVERY_DAYS"]:
            add(
                f"packages.{tier}",
                f"The {Package.Tier(tier).label} package may take at most {rules['PACKAGE_MAX_DELIVERY_DAYS']} days "
                f"in all (now {days}).",
            )
    return errors


def plan_replace(*, gig: Gig, milestones: list[MilestoneInput], milestone_payments: bool) -> Gig:
    """Replace the gig's whole plan and its milestone-payments switch in one transaction.

    With milestone payments on, the packages' price and delivery become the plan's sums.
    Raises ValidationFailed (nothing written) when a rule is broken.
    """
    errors = check_plan(milestones, milestone_payments=milestone_payments, currency=gig.currency)
    if errors:
        raise ValidationFailed(errors)
    with transaction.atomic():
        gig = Gig.objects.select_for_update().get(pk=gig.pk)
        GigMilestone.objects.filter(gig=gig).delete()
        rows = GigMilestone.objects.bulk_create(
            GigMilestone(
                gig=gig, position=i, name=m.name.strip(), description=m.description.strip(), video_call=m.video_call
            )
            for i, m in enumerate(milestones)
        )
        GigMilestonePackage.objects.bulk_create(
            GigMilestonePackage(
                milestone=row,
                tier=tier,
                price_minor=t.price_minor,
                delivery_days=t.delivery_days,
                revisions=t.revisions,
            )
            for row, m in zip(rows, milestones, strict=True)
            for tier, t in sorted(m.packages.items(), key=lambda kv: TIERS.index(kv[0]))
        )
        gig_set_plan_summary(
            gig=gig,
            milestone_payments=milestone_payments,
            milestone_count=len(milestones),
            totals=plan_totals(milestones),
        )
    return gig


def gig_description_page_save(
    *,
    gig: Gig,
    description: str,
    faqs: list[tuple[str, str]],
    milestones: list[MilestoneInput],
    milestone_payments: bool,
) -> Gig:
    """The Description & FAQ step: description, FAQ and plan saved together or not at all."""
    errors = check_plan(milestones, milestone_payments=milestone_payments, currency=gig.currency)
    with transaction.atomic():
        try:
            gig_set_description(gig=gig, description=description, faqs=faqs)
        except ValidationFailed as exc:
            errors = {**exc.errors, **errors}
        if errors:
            transaction.set_rollback(True)
            raise ValidationFailed(errors)
        return plan_replace(gig=gig, milestones=milestones, milestone_payments=milestone_payments)


def plan_inputs(gig: Gig) -> list[MilestoneInput]:
    """The stored plan as inputs (for templates and for re-saving)."""
    return [
        MilestoneInput(
            name=m.name,
            description=m.description,
            video_call=m.video_call,
            packages={t.tier: MilestoneTerms(t.price_minor, t.delivery_days, t.revisions) for t in m.tiers.all()},
        )
        for m in GigMilestone.objects.filter(gig=gig).prefetch_related("tiers").order_by("position")
    ]


# --- templates --------------------------------------------------------------------------------


def _check_template(name: str, milestones: list[MilestoneInput]) -> dict[str, list[str]]:
    errors = check_plan(milestones, milestone_payments=False, currency=_rules()["DEFAULT_CURRENCY"])
    if not name.strip():
        errors["name"] = ["Name the template."]
    elif len(name.strip()) > 80:
        errors["name"] = ["Use at most 80 characters."]
    if not milestones:
        errors.setdefault("milestones", []).append("A template needs at least one milestone.")
    return errors


def template_save(
    *, owner: User, name: str, milestones: list[MilestoneInput], description: str = ""
) -> MilestoneTemplate:
    """Store a plan under a name for reuse on other gigs. A name is unique per seller."""
    errors = _check_template(name, milestones)
    if errors:
        raise ValidationFailed(errors)
    try:
        with transaction.atomic():
            return MilestoneTemplate.objects.create(
                owner=owner,
                name=name.strip(),
                description=description.strip()[:240],
                milestones=[m.to_data() for m in milestones],
            )
    except IntegrityError as exc:
        raise TemplateNameTaken(f"You already have a template named “{name.strip()}”.", field="name") from exc


def _own_template(owner: User, template_id: int) -> MilestoneTemplate:
    template = MilestoneTemplate.objects.filter(owner=owner, pk=template_id).first()
    if template is None:
        raise NotFound("No such template.")
    return template


def template_rename(*, owner: User, template_id: int, name: str) -> MilestoneTemplate:
    template = _own_template(owner, template_id)
    if not name.strip() or len(name.strip()) > 80:
        raise ValidationFailed({"name": ["Use 1 to 80 characters."]})
    template.name = name.strip()
    try:
        with transaction.atomic():
            template.save(update_fields=["name", "updated_at"])
    except IntegrityError as exc:
        raise TemplateNameTaken(f"You already have a template named “{name.strip()}”.", field="name") from exc
    return template


def template_delete(*, owner: User, template_id: int) -> None:
    _own_template(owner, template_id).delete()


def template_milestones(template: MilestoneTemplate) -> list[MilestoneInput]:
    """The template's stored JSON as inputs. Admins can edit that JSON; anything that is not a list
    of objects reads as empty milestones, which check_plan then refuses with a clear error."""
    items = template.milestones if isinstance(template.milestones, list) else []
    return [MilestoneInput.from_data(item if isinstance(item, dict) else {}) for item in items]


def template_errors(template: MilestoneTemplate) -> dict[str, list[str]]:
    """What is wrong with a template's name and stored milestones (admin's form uses this)."""
    if not isinstance(template.milestones, list) or not all(isinstance(i, dict) for i in template.milestones):
        return {"milestones": ["Give a list of milestone objects: name, description, video_call, packages."]}
    return _check_template(template.name, template_milestones(template))


def plan_apply_template(*, gig: Gig, template: MilestoneTemplate) -> Gig:
    """Replace the plan with a template's milestones (API); the page fills the form instead."""
    return plan_replace(gig=gig, milestones=template_milestones(template), milestone_payments=gig.milestone_payments)
