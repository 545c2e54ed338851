"""Simulate a chargeback on a paid order, for demos (local provider only): the buyer's bank
disputes the card payment. The local provider emits Stripe-shaped charge.dispute.* events into
the inbox (created, funds_withdrawn; with --outcome the decision: funds_reinstated and closed
won, or closed lost), and they are processed at once, as Stripe's webhooks would be (a running
worker may take them first: processing is once per event either way). Run it again with
--outcome on an order whose simulated chargeback is open to decide that one.

    manage.py simulate_chargeback 12                  # open: the order's milestones are held
    manage.py simulate_chargeback 12 --outcome won    # the issuer decides (or open and decide)
    manage.py simulate_chargeback 12 --amount 2500    # a partial chargeback (minor units)
"""

from django.core.management.base import BaseCommand, CommandError

from payments import services
from payments.gateways import gateway
from payments.models import Payment, WebhookEvent

FINAL = ("won", "lost", "warning_closed", "prevented")


def open_simulated_dispute(payment: Payment) -> str | None:
    """The local provider's latest dispute on the payment, if still undecided."""
    row = (
        WebhookEvent.objects.filter(
            source="local",
            type__startswith="charge.dispute.",
            payload__data__object__payment_intent=payment.provider_payment_id,
        )
        .order_by("-pk")
        .first()
    )
    if row is None or row.payload["data"]["object"]["status"] in FINAL:
        return None
    return row.payload["data"]["object"]["id"]


class Command(BaseCommand):
    help = "Simulate a chargeback on a paid order with the local provider (demos)."

    def add_arguments(self, parser):
        parser.add_argument("order_id", type=int)
        parser.add_argument("--outcome", choices=["won", "lost"], help="the card issuer's decision")
        parser.add_argument("--amount", type=int, help="disputed amount in minor units (default: the whole charge)")

    def handle(self, *args, order_id: int, outcome: str | None, amount: int | None, **options):
        provider = gateway()
        if not hasattr(provider, "simulate_chargeback"):
            raise CommandError("Chargebacks are simulated with the local payment provider only.")
        payment = Payment.objects.filter(order_id=order_id, status=Payment.Status.SUCCEEDED).first()
        if payment is None:
            raise CommandError(f"Order #{order_id} has no successful payment.")
        first = WebhookEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        dispute_id = open_simulated_dispute(payment)
        try:
            if dispute_id is None:
                dispute_id = provider.simulate_chargeback(payment.provider_payment_id, amount_minor=amount)
                self.stdout.write(f"Chargeback {dispute_id} opened on order #{order_id}.")
            elif amount is not None or not outcome:
                raise CommandError(
                    f"Order #{order_id} has chargeback {dispute_id} open: decide it with --outcome won|lost."
                )
            if outcome:
                provider.close_simulated_chargeback(dispute_id, outcome=outcome)
                self.stdout.write(f"Chargeback {dispute_id}: the issuer decided {outcome}.")
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        for pk in WebhookEvent.objects.filter(pk__gt=first, source="local").order_by("pk").values_list("pk", flat=True):
            row = services.webhook_event_process(event_pk=pk)
            self.stdout.write(
                f"  {row.type}: {row.get_status_display().lower()}{f' ({row.error})' if row.error else ''}"
            )
