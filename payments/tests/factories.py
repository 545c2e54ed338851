"""Orders and payments built through the real services (no hand-written rows), for every
payments test. The local provider is the default in tests (no Stripe keys)."""

import uuid

from gigs.models import Gig, Package
from gigs.tests.factories import GigFactory, UserFactory
from milestones import services as plan_services
from milestones.models import Order
from milestones.services import MilestoneInput, MilestoneTerms
from payments import services
from payments.gateways import gateway
from payments.models import Payment

TIERS = list(Package.TIER_ORDER)


def gig_with_plan(**factory) -> Gig:
    """A published gig sold in three milestones. Standard: $20 + $30 + $25 = $75 over 2+3+2 days."""
    gig = GigFactory(published=True, milestone_payments=True, **factory)
    terms = [
        ((1000, 1, 1), (2000, 2, 1), (3000, 2, 2)),
        ((1500, 2, 1), (3000, 3, 2), (4500, 4, 2)),
        ((1000, 1, 0), (2500, 2, 1), (4000, 3, 2)),
    ]
    milestones = [
        MilestoneInput(
            name=name,
            description=f"{name} delivered.",
            video_call=i == 1,
            packages={tier: MilestoneTerms(*t) for tier, t in zip(TIERS, terms[i], strict=True)},
        )
        for i, name in enumerate(["Concepts", "Refinement", "Final files"])
    ]
    plan_services.plan_replace(gig=gig, milestones=milestones, milestone_payments=True)
    return Gig.objects.get(pk=gig.pk)


def place_order(*, buyer=None, gig=None, tier: str = "standard", answers=None) -> Order:
    buyer = buyer or UserFactory()
    gig = gig or gig_with_plan()
    if answers is None:
        answers = {r.pk: "An answer." for r in gig.requirements.all()}
    order, _ = services.checkout_place_order(
        buyer=buyer, gig=gig, tier=tier, checkout_token=uuid.uuid4(), answers=answers
    )
    return order


def pay(order: Order, card: str = "4242424242424242") -> Payment:
    """Pay with the local provider's card page and process the emitted events right away."""
    payment = services.payment_start(order=order)
    gateway().submit_card(payment.provider_payment_id, card)
    process_inbox()
    payment.refresh_from_db()
    return payment


def process_inbox() -> None:
    from payments.models import WebhookEvent

    for pk in (
        WebhookEvent.objects.filter(status=WebhookEvent.Status.RECEIVED).order_by("pk").values_list("pk", flat=True)
    ):
        services.webhook_event_process(event_pk=pk)
