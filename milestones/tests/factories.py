"""Buyer projects and custom offers for tests, built through the real services (no hand-written
rows, so every row is one the application could have written): `post_project`, `seller_in`,
`send_offer`, `accept_offer`. `ProjectFactory` / `OfferFactory` (factory_boy) are thin wrappers
of the same helpers for tests that prefer factories; traits set the state.
"""

import uuid
from datetime import timedelta

import factory
from django.utils import timezone

from gigs.models import Category, User
from gigs.tests.factories import CategoryFactory, GigFactory, UserFactory
from milestones import project_services
from milestones.models import Notification, Order, OrderMilestone
from milestones.order_services import OrderFees
from milestones.project_models import (
    Offer,
    OfferMessage,
    OfferMilestone,
    OfferRevision,
    Project,
    ProjectAttachment,
    ProjectEvent,
    ProjectInvite,
    ProjectMilestone,
)
from milestones.project_selectors import OfferMilestoneInput

# Three milestones: $100 + $150 + $50 = $300 over 2 + 3 + 1 = 6 days.
PLAN = [
    OfferMilestoneInput("Discovery", "Workshop and brief.", 10000, 2, 1, True),
    OfferMilestoneInput("Build", "The site, built.", 15000, 3, 2, False),
    OfferMilestoneInput("Launch", "Live and handed over.", 5000, 1, 0, False),
]


def fixed_fees(subtotal: int, currency: str) -> OrderFees:
    """Fees for the milestones app's own tests (payments' order_fees in payments tests)."""
    return OrderFees(service_fee_minor=subtotal // 10, small_order_fee_minor=300, commission_bps=2000)


def seller_in(category: Category, **user) -> User:
    """A seller with a published gig in `category`: public projects there are open to them."""
    seller = UserFactory(**user)
    GigFactory(seller=seller, category=category, published=True)
    return seller


def post_project(
    *,
    buyer: User | None = None,
    category: Category | None = None,
    budget_min_minor: int = 25000,
    budget_max_minor: int | None = 40000,
    start_in_days: int = 1,
    days: int = 30,
    visibility: str = Project.Visibility.PUBLIC,
    invited: list[User] = (),
    **fields,
) -> Project:
    """An open project: $250 to $400, starting tomorrow, deadline 30 days later."""
    start = timezone.localdate() + timedelta(days=start_in_days)
    return project_services.project_create(
        buyer=buyer or UserFactory(),
        title=fields.pop("title", "A website for my bakery"),
        description=fields.pop("description", "Five pages, a menu and an order form."),
        category_id=(category or CategoryFactory()).pk,
        budget_min_minor=budget_min_minor,
        budget_max_minor=budget_max_minor,
        start_date=fields.pop("start_date", start),
        deadline=fields.pop("deadline", start + timedelta(days=days)),
        visibility=visibility,
        invited_seller_ids=[u.pk for u in invited],
        **fields,
    )


def send_offer(
    *, project: Project, seller: User | None = None, plan=None, message="I can do it.", expiry_days=None
) -> Offer:
    """A live offer on `project` by `seller` (default: a new seller of the project's category)."""
    seller = seller or seller_in(project.category)
    return project_services.offer_send(
        seller=seller,
        project_id=project.pk,
        message=message,
        milestones=PLAN if plan is None else plan,
        expiry_days=expiry_days,
    )


def accept_offer(offer: Offer, *, fees_for=fixed_fees, token: uuid.UUID | None = None) -> Order:
    order, _ = project_services.order_place_from_offer(
        buyer=offer.project.buyer, offer_id=offer.pk, checkout_token=token or uuid.uuid4(), fees_for=fees_for
    )
    return order


class ProjectFactory(factory.Factory):
    """`ProjectFactory()` posts an open public project (post_project's defaults); pass any of
    post_project's arguments. Trait `invite_only`."""

    class Meta:
        model = dict  # built by post_project, not by a model constructor

    class Params:
        invite_only = factory.Trait(visibility=Project.Visibility.INVITE_ONLY)

    visibility = Project.Visibility.PUBLIC

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return post_project(**kwargs)

    _build = _create


class OfferFactory(factory.Factory):
    """`OfferFactory()` sends a live offer (PLAN) on a new project by a seller of its category.
    Traits: `accepted` (its order placed, pending payment), `withdrawn`, `declined`."""

    class Meta:
        model = dict

    class Params:
        accepted = factory.Trait(state="accepted")
        withdrawn = factory.Trait(state="withdrawn")
        declined = factory.Trait(state="declined")

    state = "live"

    @classmethod
    def _create(cls, model_class, *args, state="live", project=None, seller=None, **kwargs):
        offer = send_offer(project=project or post_project(), seller=seller, **kwargs)
        if state == "accepted":
            accept_offer(offer)
        elif state == "withdrawn":
            project_services.offer_withdraw(seller=offer.seller, offer_id=offer.pk)
        elif state == "declined":
            project_services.offer_decline(buyer=offer.project.buyer, offer_id=offer.pk)
        return Offer.objects.select_related("project", "seller").get(pk=offer.pk)

    _build = _create


def project_state() -> dict:
    """Every row the project services and pages may write (the pks of each model, and the
    offers' and projects' whole rows), to prove a refused step wrote nothing."""
    return {
        model.__name__: sorted(model.objects.values_list("pk", flat=True))
        for model in (
            Project,
            ProjectInvite,
            ProjectMilestone,
            ProjectAttachment,
            Offer,
            OfferMilestone,
            OfferRevision,
            OfferMessage,
            ProjectEvent,
            Order,
            OrderMilestone,
            Notification,
        )
    } | {
        "offers": list(Offer.objects.order_by("pk").values()),
        "projects": list(Project.objects.order_by("pk").values()),
    }


# The offer rules the project tests rely on, pinned so an environment override cannot change what
# they mean.
PROJECT_RULES = {
    "MILESTONES_MIN": 2,
    "MILESTONES_MAX": 5,
    "MILESTONE_MIN_PRICE_MINOR": 500,
    "OFFER_EXPIRY_DAYS": 7,
    "OFFER_MAX_EXPIRY_DAYS": 30,
}


def pin_project_rules(settings, **changes) -> None:
    """Pin PROJECT_RULES in settings.MARKETPLACE; `changes` adds or overrides some."""
    settings.MARKETPLACE = {**settings.MARKETPLACE, **PROJECT_RULES, **changes}
