"""Reads of buyer projects and custom offers (issue 7), scoped to who asks: someone who may not
see a project or an offer gets NotFound (404), never a hint that it exists.

Who sees what:
- the buyer sees their projects in every state, and every offer on them except those a
  moderator removed;
- a seller sees an open project that is public in a category where they have a published gig,
  or that invited them (public or invitation-only); and any project they have sent an offer on,
  whatever its state; of its offers, only their own.
Each list runs a fixed number of queries, whatever the number of rows.
"""

from dataclasses import dataclass
from datetime import date

from django.db.models import Count, Exists, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from gigs.models import Gig, User
from marketplace.exceptions import NotFound

from .models import MilestoneTemplate, Order
from .project_models import Offer, OfferMessage, OfferMilestone, Project, ProjectInvite, ProjectMilestone


@dataclass(frozen=True)
class OfferMilestoneInput:
    """One milestone of an offer as a seller sends it (and as the prefill selectors return it)."""

    name: str
    description: str = ""
    price_minor: int = 0
    delivery_days: int = 1
    revisions: int = 0
    video_call: bool = False

    def to_data(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "price_minor": self.price_minor,
            "delivery_days": self.delivery_days,
            "revisions": self.revisions,
            "video_call": self.video_call,
        }


# --- visibility -----------------------------------------------------------------------------------


def _seller_categories(user: User):
    return Gig.objects.filter(seller=user, status=Gig.Status.PUBLISHED).values("category_id")


def _open_to_seller(user: User) -> Q:
    """Open projects this seller may offer on (not their own), until their deadline: a project
    whose deadline passed takes no new offers and leaves the browse page (sellers who already
    sent one still see it; the buyer may move the deadline, or accept an offer already there)."""
    invited = Exists(ProjectInvite.objects.filter(project=OuterRef("pk"), seller=user))
    public = Q(visibility=Project.Visibility.PUBLIC, category_id__in=_seller_categories(user))
    current = Q(status=Project.Status.OPEN, deadline__gte=timezone.localdate())
    return current & (public | Q(invited)) & ~Q(buyer=user)


def _visible_to(user: User) -> Q:
    if not user.is_authenticated:
        return Q(pk__in=[])
    offered = Exists(Offer.objects.filter(project=OuterRef("pk"), seller=user))
    return Q(buyer=user) | _open_to_seller(user) | Q(offered)


def project_visible_to(*, user: User, project: Project) -> bool:
    """Whether `user` may see `project` (one query; none for its buyer)."""
    if user.is_authenticated and project.buyer_id == user.pk:
        return True
    return Project.objects.filter(_visible_to(user), pk=project.pk).exists()


def project_open_to_seller(*, seller: User, project_id: int) -> bool:
    """Whether `seller` may send an offer on this project now (open, visible, not their own)."""
    return Project.objects.filter(_open_to_seller(seller), pk=project_id).exists()


# --- projects ---------------------------------------------------------------------------------


def _project_detail_queryset() -> QuerySet[Project]:
    return Project.objects.select_related("buyer__seller_profile", "category").prefetch_related(
        Prefetch("milestones", queryset=ProjectMilestone.objects.order_by("position")),
        "attachments",
    )


def project_get_for_user(*, user: User, project_id: int) -> Project:
    """A project with its buyer, category, sketch milestones and attachments (three queries), for
    whoever may see it; NotFound otherwise (an invitation-only project for a seller not invited)."""
    project = _project_detail_queryset().filter(_visible_to(user), pk=project_id).first()
    if project is None:
        raise NotFound("No such project.")
    return project


def _live_offer_count() -> Coalesce:
    """A project's live offers, counted in a correlated subquery rather than a join and GROUP BY:
    the database then sorts and pages the projects on their index and counts offers for the
    page's rows only (with GROUP BY it aggregated every matching project's offers first)."""
    live = (
        Offer.objects.filter(project=OuterRef("pk"), status=Offer.Status.LIVE)
        .order_by()
        .values("project")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(live, output_field=IntegerField()), 0)


def project_list_for_buyer(*, buyer: User) -> QuerySet[Project]:
    """The buyer's projects, newest first, each with `live_offer_count`. One query."""
    return (
        Project.objects.filter(buyer=buyer)
        .select_related("category")
        .annotate(live_offer_count=_live_offer_count())
        .order_by("-created_at", "-id")
    )


def project_list_for_seller(
    *,
    seller: User,
    q: str = "",
    budget_min: int | None = None,
    budget_max: int | None = None,
    deadline_before: date | None = None,
) -> QuerySet[Project]:
    """Open projects a seller may offer on: public ones in the categories of their published gigs
    and those they were invited to (invitation-only ones only then); never their own. Newest first.

    `q`: every word must appear in the title or description. `budget_min` (minor units): the
    project's budget reaches at least this (its maximum >= budget_min). `budget_max`: the project
    can be done for at most this (its minimum <= budget_max). `deadline_before`: deadline on or
    before that date. Raw minor units across currencies, as the gig catalog does.

    Each row has `live_offer_count`, `invited` (this seller was invited) and `my_offer_status`
    (the status of this seller's current offer, or None), with buyer and category: one query.
    """
    qs = Project.objects.filter(_open_to_seller(seller))
    for word in q.strip().split()[:8]:
        qs = qs.filter(Q(title__icontains=word) | Q(description__icontains=word))
    if budget_min is not None:
        qs = qs.filter(budget_max_minor__gte=budget_min)
    if budget_max is not None:
        qs = qs.filter(budget_min_minor__lte=budget_max)
    if deadline_before is not None:
        qs = qs.filter(deadline__lte=deadline_before)
    mine = Offer.objects.filter(project=OuterRef("pk"), seller=seller, status__in=Offer.CURRENT)
    return (
        qs.select_related("buyer__seller_profile", "category")
        .annotate(
            live_offer_count=_live_offer_count(),
            invited=Exists(ProjectInvite.objects.filter(project=OuterRef("pk"), seller=seller)),
            my_offer_status=mine.values("status")[:1],
        )
        .order_by("-created_at", "-id")
    )


# --- offers -----------------------------------------------------------------------------------


def offer_compare(offer: Offer, project: Project, *, today: date | None = None) -> Offer:
    """Set the comparison attributes on `offer` (no query):
    `delivery_date` (the plan's days from the project's start date, or from today when the start
    has passed), `late` (delivered after the deadline), `days_late`, `over_budget` (total above
    the budget's maximum), `over_budget_minor` (by how much, 0 when within), `under_budget_min`
    (cheaper than the budget's minimum, informative)."""
    today = today or timezone.localdate()
    start = max(project.start_date, today)
    offer.delivery_date = offer.delivery_date_from(start)
    offer.days_late = max((offer.delivery_date - project.deadline).days, 0)
    offer.late = offer.days_late > 0
    offer.over_budget_minor = max(offer.total_minor - project.budget_max_minor, 0)
    offer.over_budget = offer.over_budget_minor > 0
    offer.under_budget_min = offer.total_minor < project.budget_min_minor
    return offer


def _offers_queryset() -> QuerySet[Offer]:
    return Offer.objects.select_related("seller__seller_profile").prefetch_related(
        Prefetch("milestones", queryset=OfferMilestone.objects.order_by("position"))
    )


def offer_list_for_project(*, user: User, project: Project, today: date | None = None) -> list[Offer]:
    """The offers on a project as `user` may see them, side by side: for the project's buyer every
    offer but removed ones (live first, then by total), for anyone else only their own. Each
    offer has its seller (with profile), its milestones in order and the comparisons of
    `offer_compare` (over_budget, late, delivery_date, ...). Two queries, whatever the count.
    The caller got `project` from project_get_for_user."""
    qs = _offers_queryset().filter(project=project)
    qs = qs.exclude(status=Offer.Status.REMOVED) if project.buyer_id == user.pk else qs.filter(seller=user)
    offers = list(qs.order_by("created_at", "id"))
    live_first = {Offer.Status.LIVE: 0, Offer.Status.ACCEPTED: 0}
    offers.sort(key=lambda o: (live_first.get(o.status, 1), o.total_minor, o.created_at, o.pk))
    for offer in offers:
        offer.project = project
        offer_compare(offer, project, today=today)
    return offers


def offer_get_for_user(*, user: User, offer_id: int) -> Offer:
    """An offer with its project, seller and milestones, for the project's buyer or the offer's
    seller (with the comparisons of offer_compare); NotFound for anyone else, and for the buyer
    when a moderator removed it."""
    if not user.is_authenticated:
        raise NotFound("No such offer.")
    offer = (
        _offers_queryset()
        .select_related("project__category", "project__buyer__seller_profile")
        .filter(Q(seller=user) | (Q(project__buyer=user) & ~Q(status=Offer.Status.REMOVED)), pk=offer_id)
        .first()
    )
    if offer is None:
        raise NotFound("No such offer.")
    return offer_compare(offer, offer.project)


def offer_messages(*, offer: Offer) -> QuerySet[OfferMessage]:
    """The offer's thread, oldest first, with senders. The caller got `offer` from offer_get_for_user."""
    return (
        OfferMessage.objects.filter(offer=offer).select_related("sender__seller_profile").order_by("created_at", "id")
    )


def offer_list_for_seller(*, seller: User) -> QuerySet[Offer]:
    """The seller's offers on every project, newest first, with their projects. One query."""
    return Offer.objects.filter(seller=seller).select_related("project__category").order_by("-created_at", "-id")


def offer_current_order(*, offer: Offer) -> Order | None:
    """The order placed from this offer that still counts (unpaid in its window, or paid), if any."""
    return Order.objects.filter(offer=offer).exclude(status=Order.Status.EXPIRED).order_by("-created_at").first()


# --- prefilled plans ------------------------------------------------------------------------------


def offer_prefill_from_template(*, seller: User, template_id: int, tier: str = "standard") -> list[OfferMilestoneInput]:
    """An offer plan filled from a milestone template: one of the seller's own or a built-in one
    (someone else's is NotFound). Templates hold terms per package: `tier`'s terms are used,
    or, for a milestone that package leaves out, those of its first package listed. The plan
    rules are checked when the offer is sent (offer_send), not here."""
    template = MilestoneTemplate.objects.filter(Q(owner=seller) | Q(owner__isnull=True), pk=template_id).first()
    if template is None:
        raise NotFound("No such template.")
    from .services import template_milestones

    lines = []
    for m in template_milestones(template):
        terms = m.packages.get(tier) or next(iter(m.packages.values()), None)
        if terms is None:
            continue
        lines.append(
            OfferMilestoneInput(
                name=m.name,
                description=m.description,
                price_minor=terms.price_minor if isinstance(terms.price_minor, int) else 0,
                delivery_days=terms.delivery_days if isinstance(terms.delivery_days, int) else 1,
                revisions=terms.revisions if isinstance(terms.revisions, int) else 0,
                video_call=m.video_call,
            )
        )
    return lines


def offer_prefill_from_gig(*, seller: User, gig_id: int, tier: str) -> list[OfferMilestoneInput]:
    """An offer plan filled from one package of one of the seller's gigs (any status), as an order
    of it would snapshot it (milestones.order_services.order_quote). Someone else's gig, or a
    package the gig does not have, is NotFound. Amounts are in the gig's currency: the offer is
    in the project's (the page should say so when they differ)."""
    from .exceptions import OrderRefused
    from .order_services import order_quote

    gig = Gig.objects.filter(seller=seller, pk=gig_id).prefetch_related("packages").first()
    if gig is None:
        raise NotFound("No such gig.")
    try:
        quote = order_quote(gig=gig, tier=tier)
    except OrderRefused as exc:
        raise NotFound(exc.message) from exc
    return [
        OfferMilestoneInput(
            name=line.name,
            description=line.description,
            price_minor=line.price_minor,
            delivery_days=line.delivery_days,
            revisions=line.revisions,
            video_call=line.video_call,
        )
        for line in quote.lines
    ]
