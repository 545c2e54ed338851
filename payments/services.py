"""Checkout, payment, the provider-event inbox, sweeps, seller onboarding. Every write is here.

Calls to the provider happen outside transactions and row locks (the three-step pattern in
STYLE.md); each carries a deterministic idempotency key. Event processing is forward-only: a
succeeded payment is never downgraded by a late failure, so any arrival order ends in the same
state, and each event is applied at most once (the inbox is unique on the event id; the ledger on
its transaction reference).
"""

import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from gigs.models import Gig, User
from milestones import order_services, project_services
from milestones.models import Order
from milestones.project_models import Offer

from . import hooks, ledger
from .exceptions import PaymentRefused, SellerCannotReceive
from .fees import order_fees
from .gateways import gateway
from .keys import idempotency_key
from .models import ConnectedAccount, LedgerTransaction, Payment, Receipt, WebhookEvent

log = logging.getLogger(__name__)

# A payment in these states means the money is on its way: its order does not expire.
PAYMENT_IN_FLIGHT = (Payment.Status.SUCCEEDED, Payment.Status.PROCESSING)


# --- checkout -----------------------------------------------------------------------------------


def seller_can_receive(seller: User) -> bool:
    """Local provider: always. Stripe: the seller's connected account has transfers active."""
    if not gateway().requires_onboarding:
        return True
    return ConnectedAccount.objects.filter(user=seller, transfers_active=True).exists()


def checkout_place_order(
    *, buyer: User, gig: Gig, tier: str, checkout_token: uuid.UUID, answers: dict[int, str]
) -> tuple[Order, bool]:
    """Place an order for a package (milestones.order_services.order_place) with this platform's
    fees. One unpaid order per buyer and package: the same checkout token, or another checkout
    of the same gig and package while an unpaid order of it is in its window, returns that
    order (created False; its answers replaced by these). The buyer's unpaid orders of this
    package whose window closed are expired first, as the sweep would (their intents
    canceled), unless their payment is processing: that order is returned then. Raises
    SellerCannotReceive in Stripe mode when the seller has not finished onboarding."""
    existing = Order.objects.filter(buyer=buyer, checkout_token=checkout_token).first()
    if existing is not None:
        return existing, False
    if gig.seller_id != buyer.pk and not seller_can_receive(gig.seller):
        raise SellerCannotReceive("This seller cannot receive payments yet. Try again later.")
    due = Order.objects.filter(
        buyer=buyer, gig=gig, package_tier=tier, status=Order.Status.PENDING_PAYMENT, expires_at__lte=timezone.now()
    )
    if due.exists():
        _expire_orders(due, now=timezone.now(), skip_locked=False)
    return order_services.order_place(
        buyer=buyer,
        gig=gig,
        tier=tier,
        checkout_token=checkout_token,
        answers=answers,
        fees_for=order_fees,
        keep_due=_payment_in_flight,
    )


def payment_key(order: Order) -> str:
    return idempotency_key("order", order.pk, "payment")


def payment_start(*, order: Order) -> Payment:
    """The order's payment and its provider intent for the total, created once: calling again
    returns the same one (a declined card is retried on it; a paid one is simply returned).
    Raises PaymentRefused when the order is not awaiting payment (expired: its intent is
    canceled), ProviderUnavailable when the provider fails."""
    payment = Payment.objects.filter(order=order).first()
    if payment is not None and (order.is_payable or payment.status == Payment.Status.SUCCEEDED):
        return payment
    if not order.is_payable:
        raise PaymentRefused("This order is not awaiting payment.")
    provider = gateway()
    intent = provider.create_payment(  # outside any transaction; the key makes a retry safe
        amount_minor=order.total_minor,
        currency=order.currency,
        order_id=order.pk,
        transfer_group=f"order-{order.pk}",
        idempotency_key=payment_key(order),
    )
    try:
        with transaction.atomic():
            return Payment.objects.create(
                order=order,
                provider=provider.name,
                provider_payment_id=intent.id,
                client_secret=intent.client_secret,
                amount_minor=order.total_minor,
                currency=order.currency,
            )
    except IntegrityError:
        return Payment.objects.get(order=order)


# --- the inbox ----------------------------------------------------------------------------------


def webhook_event_store(*, event: dict, source: str) -> tuple[WebhookEvent, bool]:
    """Store a provider event in the inbox and queue its processing after commit. A duplicate id
    is recognised and changes nothing. Returns (event row, created)."""
    from .tasks import webhook_event_process_task

    try:
        with transaction.atomic():
            row = WebhookEvent.objects.create(
                event_id=event["id"], source=source, type=event.get("type", ""), payload=event
            )
    except IntegrityError:
        return WebhookEvent.objects.get(event_id=event["id"]), False
    webhook_event_process_task.delay_on_commit(row.pk)
    return row, True


HANDLED = {
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.canceled",
    "payment_intent.requires_action",
    "payment_intent.processing",
    "charge.refunded",
    "account.updated",
    # Provider disputes (chargebacks): applied by the handlers a later app registers in
    # payments.hooks (disputes); without one they are stored for later.
    *hooks.DISPUTE_EVENTS,
}


class FundingRefused(Exception):
    """The provider reports a payment that does not match the order (another amount or currency):
    nothing is booked. Raised before any write, so the event's transaction records only that."""


def webhook_event_process(*, event_pk: int) -> WebhookEvent:
    """Apply one stored event, at most once. Events this issue does not act on (transfer.*)
    are marked "stored for later"; so is a charge.dispute.* event no registered handler applied
    (payments.hooks: disputes opens a chargeback from it). A success that does not match its order
    (amount, currency) funds nothing: the event is marked failed with the reason, for an admin
    (the inbox sweep does not retry it: the same event would be refused again). Safe to call
    again."""
    with transaction.atomic():
        row = WebhookEvent.objects.select_for_update().get(pk=event_pk)
        if row.status in (WebhookEvent.Status.PROCESSED, WebhookEvent.Status.IGNORED):
            return row
        row.attempts += 1
        obj = row.payload.get("data", {}).get("object", {})
        created = int(row.payload.get("created") or 0)
        row.status, row.error = WebhookEvent.Status.PROCESSED, ""
        try:
            if row.type not in HANDLED:
                row.status = WebhookEvent.Status.IGNORED
            elif row.type.startswith("payment_intent."):
                _apply_payment_intent(row.type, obj, created=created)
            elif row.type == "charge.refunded":
                _apply_charge_refunded(obj, created=created)
            elif row.type == "account.updated":
                _apply_account_updated(obj, created=created)
            # Dispute events: inside this transaction, with the row locked, so applied at most once.
            elif not hooks.dispute_event(row.type, obj, created=created, event_id=row.event_id):
                row.status = WebhookEvent.Status.IGNORED
        except (FundingRefused, hooks.EventRefused) as exc:
            log.error("Event %s (%s) not applied: %s", row.event_id, row.type, exc)
            row.status, row.error = WebhookEvent.Status.FAILED, str(exc)
        # Set on failure too: a failed event with processed_at is a refusal, not an outage.
        row.processed_at = timezone.now()
        row.save(update_fields=["status", "attempts", "processed_at", "error"])
    return row


def _locked_payment(intent_id: str) -> Payment | None:
    """The payment of a provider intent, with its order locked first (orders before payments,
    always, so two processors never wait on each other in opposite orders)."""
    order_id = Payment.objects.filter(provider_payment_id=intent_id).values_list("order_id", flat=True).first()
    if order_id is None:
        return None
    Order.objects.select_for_update().get(pk=order_id)
    return Payment.objects.select_for_update().get(provider_payment_id=intent_id)


INTENT_STATUS = {
    "payment_intent.payment_failed": Payment.Status.FAILED,
    "payment_intent.requires_action": Payment.Status.REQUIRES_ACTION,
    "payment_intent.processing": Payment.Status.PROCESSING,
    "payment_intent.canceled": Payment.Status.CANCELED,
}


def _apply_payment_intent(event_type: str, obj: dict, *, created: int) -> None:
    """Forward-only: success is final (whatever arrives after it), and any other status is
    applied only when its event is not older than the state stored (`created`, Unix seconds),
    so a late "processing" cannot undo the "failed" that followed it. Events of the same second
    apply in arrival order."""
    payment = _locked_payment(obj.get("id", ""))
    if payment is None:
        log.warning("No payment for %s %s", event_type, obj.get("id"))
        return
    if payment.status == Payment.Status.SUCCEEDED:
        return  # forward-only: nothing after success changes the payment
    if event_type == "payment_intent.succeeded":
        _fund(
            payment,
            charge_id=obj.get("latest_charge") or "",
            amount=obj.get("amount"),
            currency=obj.get("currency"),
            created=created,
        )
        return
    if created < payment.state_as_of:
        log.info("Ignored %s of %s: older than the state stored", event_type, payment.provider_payment_id)
        return
    payment.status = INTENT_STATUS[event_type]
    payment.state_as_of = created
    if event_type == "payment_intent.payment_failed":
        error = obj.get("last_payment_error") or {}
        payment.failure_message = (error.get("message") or "The payment failed.")[:300]
    payment.save(update_fields=["status", "failure_message", "state_as_of", "updated_at"])


def _fund(payment: Payment, *, charge_id: str, amount: int | None, currency: str | None, created: int) -> None:
    """The order is paid: post cash / escrow / fee revenue, activate the order, issue the receipt.
    Runs on locked order and payment rows; the ledger reference makes it happen once. Raises
    FundingRefused, before writing anything, when the provider's amount or currency is not the
    order's: booking the order's total for another sum would put the ledger out of step with
    the money actually held."""
    order = payment.order
    reported = f"{amount} {(currency or '?').upper()}"
    if amount != order.total_minor or (currency or "").upper() != order.currency.upper():
        raise FundingRefused(
            f"Payment {payment.provider_payment_id} not funded: the provider reports {reported} (minor units), "
            f"order #{order.pk} totals {order.total_minor} {order.currency}. The order stays unpaid; an admin "
            "must reconcile the charge (refund it at the provider)."
        )
    ledger.post(
        kind=LedgerTransaction.Kind.ORDER_FUNDED,
        reference=f"payment-{payment.pk}-funded",
        order=order,
        currency=order.currency,
        legs=[
            (ledger.PLATFORM_CASH, order.total_minor),
            (ledger.escrow(order.pk), -order.subtotal_minor),
            (ledger.PLATFORM_REVENUE, -order.buyer_fees_minor),
        ],
        memo=f"Order #{order.pk} paid",
    )
    payment.status = Payment.Status.SUCCEEDED
    payment.charge_id = charge_id
    payment.failure_message = ""
    payment.state_as_of = max(payment.state_as_of, created)
    payment.save(update_fields=["status", "charge_id", "failure_message", "state_as_of", "updated_at"])
    order_services.order_activate(order_id=order.pk, reason=f"paid: {payment.provider_payment_id}")
    Receipt.objects.get_or_create(order=order)


def _apply_charge_refunded(obj: dict, *, created: int) -> None:
    """A refund made at the provider (dashboard, or later issues' refunds). The refunded total
    is cumulative on the charge, so only the growth is posted: escrow first, then fee revenue."""
    intent_id = obj.get("payment_intent") or ""
    payment = _locked_payment(intent_id)
    if payment is None:
        return
    if payment.status != Payment.Status.SUCCEEDED:
        if not (obj.get("paid") and obj.get("status") == "succeeded"):
            return
        # The refund's event was processed before the payment's success (any arrival order):
        # the charge proves the payment, so fund first; the success event then changes nothing.
        _fund(
            payment,
            charge_id=obj.get("id") or "",
            amount=obj.get("amount"),
            currency=obj.get("currency"),
            created=created,
        )
    refunded_total = min(int(obj.get("amount_refunded") or 0), payment.amount_minor)
    # Refunds we sent ourselves (cancelled milestones) are counted when payments.lifecycle records
    # them; one still being recorded is not a refund made elsewhere.
    from .lifecycle import pending_own_refunds

    delta = refunded_total - payment.refunded_minor - pending_own_refunds(payment.order_id)
    if delta <= 0:
        return
    order = payment.order
    from_escrow = min(delta, ledger.escrow_balance(order))
    ledger.post(
        kind=LedgerTransaction.Kind.PAYMENT_REFUNDED,
        reference=f"payment-{payment.pk}-refunded-to-{refunded_total}",
        order=order,
        currency=order.currency,
        legs=[
            (ledger.escrow(order.pk), from_escrow),
            (ledger.PLATFORM_REVENUE, delta - from_escrow),
            (ledger.PLATFORM_CASH, -delta),
        ],
        memo=f"Refund on order #{order.pk}",
    )
    payment.refunded_minor += delta
    payment.save(update_fields=["refunded_minor", "updated_at"])


def _apply_account_updated(obj: dict, *, created: int) -> None:
    """Store the account's capabilities, unless a newer state is already stored (events arrive in
    any order; a late, older account.updated must not undo a newer one)."""
    account = ConnectedAccount.objects.select_for_update().filter(stripe_account_id=obj.get("id", "")).first()
    if account is None or created < account.state_as_of:
        return
    account.state_as_of = created
    capabilities = obj.get("capabilities") or {}
    account.details_submitted = bool(obj.get("details_submitted"))
    account.charges_enabled = bool(obj.get("charges_enabled"))
    account.payouts_enabled = bool(obj.get("payouts_enabled"))
    account.transfers_active = capabilities.get("transfers") == "active"
    account.save()


# --- sweeps (beat) ------------------------------------------------------------------------------


def orders_expire_sweep(*, now=None, batch: int | None = None) -> int:
    """Expire unpaid orders past their checkout window, in batches of SWEEP_BATCH until none is
    left, skipping rows another worker holds; cancel their provider intents after each batch
    (outside its transaction). Orders whose money is on its way (payment succeeded or
    processing) are left out of the query itself, so however many there are they never take the
    place of orders that can expire. Returns how many expired."""
    now = now or timezone.now()
    batch = batch or settings.MARKETPLACE["SWEEP_BATCH"]
    total, skipped = 0, set()
    while True:
        due = (
            Order.objects.filter(status=Order.Status.PENDING_PAYMENT, expires_at__lte=now)
            .exclude(pk__in=Payment.objects.filter(status__in=PAYMENT_IN_FLIGHT).values("order_id"))
            .exclude(pk__in=skipped)
            .order_by("expires_at", "pk")[:batch]
        )
        expired, seen = _expire_orders(due, now=now, skip_locked=True, skipped=skipped)
        total += len(expired)
        if seen < batch:
            return total


def _expire_orders(due, *, now, skip_locked: bool, skipped: set | None = None) -> tuple[list[Order], int]:
    """Expire the orders of `due` (a query of unpaid orders past their window) in one
    transaction, on rows locked there, then cancel their intents outside it. Orders whose payment
    is on its way are left (and added to `skipped`). Returns (expired, how many rows were seen)."""
    skipped = set() if skipped is None else skipped
    expired: list[Order] = []
    with transaction.atomic():
        rows = list(due.select_for_update(skip_locked=skip_locked))
        for order in rows:
            # Checked again under the order's lock: the payment may have moved since the query.
            if _payment_in_flight(order):
                skipped.add(order.pk)
                continue
            order, changed = order_services.order_expire(order_id=order.pk, now=now)
            if changed:
                expired.append(order)
            else:
                skipped.add(order.pk)
    _cancel_intents(expired)
    return expired, len(rows)


def _payment_in_flight(order: Order) -> bool:
    """The order's money is on its way (or arrived): it must not expire."""
    return Payment.objects.filter(order=order, status__in=PAYMENT_IN_FLIGHT).exists()


def _cancel_intents(orders: list[Order]) -> None:
    """Cancel the provider intents of expired orders; outside any transaction."""
    for order in orders:
        payment = Payment.objects.filter(order=order).first()
        if payment is not None:
            try:
                gateway().cancel_payment(
                    payment.provider_payment_id, idempotency_key=idempotency_key("order", order.pk, "cancel")
                )
            except Exception:  # a late success revives the order; the next attempt is harmless
                log.exception("Could not cancel the payment of expired order %s", order.pk)


def webhook_inbox_sweep(*, older_than_seconds: int = 60) -> int:
    """Queue again the inbox events still unprocessed a minute after arrival (a lost message,
    a worker that died), up to SWEEP_BATCH a run: the queued ones are still unprocessed until a
    worker takes them, so another batch now would queue the same rows again. Returns how many."""
    from .tasks import webhook_event_process_task

    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    pks = list(
        WebhookEvent.objects.filter(
            status__in=[WebhookEvent.Status.RECEIVED, WebhookEvent.Status.FAILED], received_at__lte=cutoff
        )
        # Failed with processed_at set: processing ran and refused it (FundingRefused); another
        # run would refuse it again. Failures of a worker leave processed_at empty.
        .exclude(status=WebhookEvent.Status.FAILED, processed_at__isnull=False)
        .order_by("received_at", "pk")
        .values_list("pk", flat=True)[: settings.MARKETPLACE["SWEEP_BATCH"]]
    )
    for pk in pks:
        webhook_event_process_task.delay(pk)
    return len(pks)


# --- custom offers (issue 7) ----------------------------------------------------------------------


def checkout_accept_offer(
    *, buyer: User, offer_id: int, checkout_token: uuid.UUID, revision: int | None = None
) -> tuple[Order, bool]:
    """The buyer accepts a custom offer: an order through the same checkout as a gig order
    (milestones.project_services.order_place_from_offer with this platform's order_fees), then
    the usual payment_start / pay page. Returns (order, created); the same token, or accepting
    an offer already accepted, returns its order (created False). An unpaid order of this offer
    whose window closed is expired first, as the sweep would (its intent canceled; that reopens
    the offer), unless its payment is processing: that order is returned then.
    `revision`: the offer version the buyer saw; a newer one is refused (OfferRevised).
    Raises SellerCannotReceive in Stripe mode when the seller has not finished onboarding, and
    what order_place_from_offer raises (NotFound, OfferNotLive, OfferExpired, OfferRevised,
    ProjectNotOpen)."""
    existing = Order.objects.filter(buyer=buyer, checkout_token=checkout_token).first()
    if existing is not None:
        return existing, False
    offer = Offer.objects.filter(pk=offer_id, project__buyer=buyer).select_related("seller").first()
    if offer is not None and not seller_can_receive(offer.seller):
        raise SellerCannotReceive("This seller cannot receive payments yet. Try again later.")
    due = Order.objects.filter(offer_id=offer_id, status=Order.Status.PENDING_PAYMENT, expires_at__lte=timezone.now())
    if offer is not None and due.exists():
        for order in due:
            if _payment_in_flight(order):
                return order, False
        _expire_orders(due, now=timezone.now(), skip_locked=False)
    return project_services.order_place_from_offer(
        buyer=buyer, offer_id=offer_id, checkout_token=checkout_token, fees_for=order_fees, revision=revision
    )
