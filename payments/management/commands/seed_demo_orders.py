"""Demo orders on seed_demo's gigs, through the real services and the local provider, so the
demo shows money in escrow, a delivery awaiting review and earnings pending clearance. Runs once:
skipped when the demo buyers already have orders, and in Stripe mode (no simulated cards)."""

import uuid

from django.conf import settings
from django.core.management.base import BaseCommand

from gigs.models import Gig, User
from milestones import lifecycle as states
from milestones.models import Order
from payments import lifecycle, services
from payments.gateways import gateway
from payments.models import WebhookEvent

LOGO = "I will design a minimalist logo for your brand"
WEBSITE = "I will build a Django website with a custom admin"


class Command(BaseCommand):
    help = "Load demo orders (dave: a delivery to review; erin: a released milestone). Safe to run again."

    def handle(self, *args, **options):
        if settings.PAYMENT_PROVIDER != "local":
            self.stdout.write("Demo orders need the local payment provider; skipped.")
            return
        buyers = User.objects.filter(username__in=["dave", "erin"])
        if Order.objects.filter(buyer__in=buyers).exists():
            self.stdout.write("Demo orders already there.")
            return
        dave, erin = User.objects.get(username="dave"), User.objects.get(username="erin")

        logo = self._paid_order(dave, Gig.objects.get(title=LOGO), "standard", "A coffee roastery in Lyon.")
        first = logo.milestones.order_by("position").first()
        states.milestone_deliver(
            milestone_id=first.pk,
            seller=logo.seller,
            message="Three concepts, as agreed: tell me which one to refine.",
            files=[],
        )

        site = self._paid_order(erin, Gig.objects.get(title=WEBSITE), "basic", "A booking site for my yoga studio.")
        first = site.milestones.order_by("position").first()
        states.milestone_deliver(milestone_id=first.pk, seller=site.seller, message="The page designs.", files=[])
        lifecycle.milestone_accept(milestone_id=first.pk, buyer=erin)
        self.stdout.write(self.style.SUCCESS(f"Demo orders ready: #{logo.pk} (dave), #{site.pk} (erin)."))

    def _paid_order(self, buyer, gig, tier, brief):
        answers = {r.pk: brief for r in gig.requirements.all() if r.required}
        order, _ = services.checkout_place_order(
            buyer=buyer, gig=gig, tier=tier, checkout_token=uuid.uuid4(), answers=answers
        )
        payment = services.payment_start(order=order)
        gateway().submit_card(payment.provider_payment_id, "4242424242424242")
        # Process the provider's events now (a worker would do it a moment later; doing it twice is a no-op).
        for pk in WebhookEvent.objects.filter(status=WebhookEvent.Status.RECEIVED).values_list("pk", flat=True):
            services.webhook_event_process(event_pk=pk)
        order.refresh_from_db()
        return order
