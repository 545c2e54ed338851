"""The local payment provider: a simulated card page instead of Stripe, for development, demos
and tests without network. It keeps its intents in LocalPaymentIntent and emits Stripe-shaped
events (payment_intent.succeeded, .payment_failed, .requires_action, .canceled) into the same
inbox as Stripe webhooks, so one processing path serves both.

Cards (Stripe's test numbers): 4242 4242 4242 4242 succeeds; 4000 0000 0000 0002 is declined;
4000 0025 0000 3155 asks for an extra confirmation step. Any other number is declined as
incorrect.
"""

import copy
import time
import uuid
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from ..exceptions import InvalidSignature
from ..models import LocalPaymentIntent, LocalRefund, LocalTransfer, WebhookEvent
from .base import AccountState, ProviderPayment, ProviderRefused

CARD_SUCCEEDS = "4242424242424242"
CARD_DECLINED = "4000000000000002"
CARD_NEEDS_ACTION = "4000002500003155"


@dataclass(frozen=True)
class CardOutcome:
    """What the card page shows after a submission."""

    status: str  # succeeded, requires_action, failed, already_paid
    message: str = ""


def _as_payment(intent: LocalPaymentIntent) -> ProviderPayment:
    return ProviderPayment(
        id=intent.id,
        client_secret=f"{intent.id}_secret",
        status=intent.status,
        amount_minor=intent.amount,
        currency=intent.currency.upper(),
        charge_id=intent.charge_id,
    )


def _event(event_type: str, intent: LocalPaymentIntent, **extra) -> dict:
    obj = {
        "id": intent.id,
        "object": "payment_intent",
        "amount": intent.amount,
        "currency": intent.currency.lower(),
        "status": intent.status,
        "metadata": intent.metadata,
        "transfer_group": intent.transfer_group,
        "latest_charge": intent.charge_id or None,
        **extra,
    }
    return {
        "id": f"evt_local_{uuid.uuid4().hex}",
        "object": "event",
        "type": event_type,
        "created": int(time.time()),
        "livemode": False,
        "data": {"object": obj},
    }


# A simulated chargeback: the dispute fee the issuer's network charges (Stripe's is $15).
CHARGEBACK_FEE_MINOR = 1500
EVIDENCE_DAYS = 7


def _dispute_event(event_type: str, dispute: dict, *, idempotency_key: str | None = None) -> dict:
    return {
        "id": f"evt_local_{uuid.uuid4().hex}",
        "object": "event",
        "type": event_type,
        "created": int(time.time()),
        "livemode": False,
        "request": {"id": None, "idempotency_key": idempotency_key},
        "data": {"object": copy.deepcopy(dispute)},
    }


def _balance_txn(amount: int, fee: int, currency: str, category: str) -> dict:
    return {
        "id": f"txn_local_{uuid.uuid4().hex[:24]}",
        "object": "balance_transaction",
        "amount": amount,
        "fee": fee,
        "net": amount - fee,
        "currency": currency,
        "reporting_category": category,
        "created": int(time.time()),
    }


def _emit(event: dict) -> None:
    from ..services import webhook_event_store  # the inbox; services imports this module

    webhook_event_store(event=event, source="local")


class LocalGateway:
    name = "local"
    requires_onboarding = False

    def create_payment(
        self, *, amount_minor: int, currency: str, order_id: int, transfer_group: str, idempotency_key: str
    ) -> ProviderPayment:
        existing = LocalPaymentIntent.objects.filter(idempotency_key=idempotency_key).first()
        if existing is None:
            try:
                with transaction.atomic():
                    existing = LocalPaymentIntent.objects.create(
                        id=f"pi_local_{uuid.uuid4().hex[:24]}",
                        amount=amount_minor,
                        currency=currency.upper(),
                        metadata={"order_id": str(order_id)},
                        transfer_group=transfer_group,
                        idempotency_key=idempotency_key,
                    )
            except IntegrityError:
                existing = LocalPaymentIntent.objects.get(idempotency_key=idempotency_key)
        return _as_payment(existing)

    def retrieve_payment(self, payment_id: str) -> ProviderPayment:
        return _as_payment(LocalPaymentIntent.objects.get(pk=payment_id))

    def cancel_payment(self, payment_id: str, *, idempotency_key: str) -> ProviderPayment:
        with transaction.atomic():
            intent = LocalPaymentIntent.objects.select_for_update().get(pk=payment_id)
            if intent.status not in (LocalPaymentIntent.Status.SUCCEEDED, LocalPaymentIntent.Status.CANCELED):
                intent.status = LocalPaymentIntent.Status.CANCELED
                intent.save(update_fields=["status"])
                _emit(_event("payment_intent.canceled", intent))
        return _as_payment(intent)

    # The card page -------------------------------------------------------------------------

    def submit_card(self, payment_id: str, card_number: str) -> CardOutcome:
        """The buyer submits a card on the simulated page. At most one success per intent: a
        second submission after success charges nothing and says so."""
        number = "".join(ch for ch in card_number if ch.isdigit())
        with transaction.atomic():
            intent = LocalPaymentIntent.objects.select_for_update().get(pk=payment_id)
            if intent.status == LocalPaymentIntent.Status.SUCCEEDED:
                return CardOutcome("already_paid", "This order is already paid.")
            if intent.status == LocalPaymentIntent.Status.CANCELED:
                return CardOutcome("failed", "This payment was canceled: the checkout expired.")
            if number == CARD_SUCCEEDS:
                return self._succeed(intent)
            if number == CARD_NEEDS_ACTION:
                intent.status = LocalPaymentIntent.Status.REQUIRES_ACTION
                intent.save(update_fields=["status"])
                _emit(_event("payment_intent.requires_action", intent))
                return CardOutcome("requires_action", "Your bank asks you to confirm this payment.")
            message = "Your card was declined." if number == CARD_DECLINED else "Your card number is incorrect."
            return self._fail(intent, message, "card_declined" if number == CARD_DECLINED else "incorrect_number")

    def confirm_action(self, payment_id: str, *, approve: bool) -> CardOutcome:
        """The extra confirmation step (3-D Secure in Stripe): approve or fail it."""
        with transaction.atomic():
            intent = LocalPaymentIntent.objects.select_for_update().get(pk=payment_id)
            if intent.status == LocalPaymentIntent.Status.SUCCEEDED:
                return CardOutcome("already_paid", "This order is already paid.")
            if intent.status != LocalPaymentIntent.Status.REQUIRES_ACTION:
                return CardOutcome("failed", "There is nothing to confirm: enter your card again.")
            if approve:
                return self._succeed(intent)
            return self._fail(intent, "The payment was not confirmed with your bank.", "authentication_failed")

    def _succeed(self, intent: LocalPaymentIntent) -> CardOutcome:
        intent.status = LocalPaymentIntent.Status.SUCCEEDED
        intent.charge_id = f"ch_local_{uuid.uuid4().hex[:24]}"
        intent.last_error = ""
        intent.save(update_fields=["status", "charge_id", "last_error"])
        _emit(_event("payment_intent.succeeded", intent))
        return CardOutcome("succeeded")

    def _fail(self, intent: LocalPaymentIntent, message: str, code: str) -> CardOutcome:
        intent.status = LocalPaymentIntent.Status.REQUIRES_PAYMENT_METHOD
        intent.last_error = message
        intent.save(update_fields=["status", "last_error"])
        _emit(_event("payment_intent.payment_failed", intent, last_payment_error={"code": code, "message": message}))
        return CardOutcome("failed", message)

    # Money out: refunds and transfers, recorded once per idempotency key ------------------

    def create_refund(
        self, *, payment_id: str, amount_minor: int, idempotency_key: str, look_up_first: bool = False
    ) -> str:
        # The local provider never forgets a key: `look_up_first` changes nothing here.
        with transaction.atomic():
            intent = LocalPaymentIntent.objects.select_for_update().get(pk=payment_id)
            existing = LocalRefund.objects.filter(idempotency_key=idempotency_key).first()
            if existing is not None:
                return existing.id
            refunded = sum(LocalRefund.objects.filter(payment_intent=payment_id).values_list("amount", flat=True))
            if intent.status != LocalPaymentIntent.Status.SUCCEEDED or refunded + amount_minor > intent.amount:
                raise ValueError(
                    f"Cannot refund {amount_minor} of {payment_id}: {refunded} of {intent.amount} refunded."
                )
            refund = LocalRefund.objects.create(
                id=f"re_local_{uuid.uuid4().hex[:24]}",
                payment_intent=payment_id,
                amount=amount_minor,
                idempotency_key=idempotency_key,
            )
        return refund.id

    def create_transfer(
        self,
        *,
        amount_minor: int,
        currency: str,
        destination: str,
        source_transaction: str,
        transfer_group: str,
        idempotency_key: str,
        look_up_first: bool = False,
    ) -> str:
        try:
            with transaction.atomic():
                transfer = LocalTransfer.objects.create(
                    id=f"tr_local_{uuid.uuid4().hex[:24]}",
                    amount=amount_minor,
                    currency=currency.upper(),
                    destination=destination,
                    source_transaction=source_transaction,
                    transfer_group=transfer_group,
                    idempotency_key=idempotency_key,
                )
        except IntegrityError:
            transfer = LocalTransfer.objects.get(idempotency_key=idempotency_key)
        return transfer.id

    def seller_destination(self, seller_id: int) -> str | None:
        return f"acct_local_{seller_id}"

    # Connect: the local provider has no onboarding ----------------------------------------

    def create_account(self, *, user_id: int, email: str, idempotency_key: str) -> AccountState:
        return AccountState(f"acct_local_{user_id}", True, True, True, True)

    def create_account_link(self, *, account_id: str, refresh_url: str, return_url: str) -> str:
        return return_url

    def retrieve_account(self, account_id: str) -> AccountState:
        return AccountState(account_id, True, True, True, True)

    # Chargebacks: simulated for demos --------------------------------------------------------
    # The local provider's side of a dispute is the last event it emitted about it (the inbox
    # keeps them): each new event carries the whole dispute object, as Stripe's do.

    def _dispute(self, dispute_id: str) -> dict:
        row = (
            WebhookEvent.objects.filter(
                source="local", type__startswith="charge.dispute.", payload__data__object__id=dispute_id
            )
            .order_by("-pk")
            .first()
        )
        if row is None:
            raise ValueError(f"No such dispute: {dispute_id}")
        return row.payload["data"]["object"]

    def simulate_chargeback(
        self, payment_id: str, *, amount_minor: int | None = None, reason: str = "fraudulent"
    ) -> str:
        """The buyer's bank disputes a paid intent's charge: emits charge.dispute.created, then
        charge.dispute.funds_withdrawn (the amount, the whole charge by default, and the dispute
        fee taken from the platform balance). Returns the dispute's id."""
        intent = LocalPaymentIntent.objects.get(pk=payment_id)
        if intent.status != LocalPaymentIntent.Status.SUCCEEDED:
            raise ValueError(f"{payment_id} has no successful charge to dispute.")
        amount = intent.amount if amount_minor is None else amount_minor
        if not 0 < amount <= intent.amount:
            raise ValueError(f"A dispute is for 1 to {intent.amount}, not {amount}.")
        now = int(time.time())
        currency = intent.currency.lower()
        dispute = {
            "id": f"du_local_{uuid.uuid4().hex[:24]}",
            "object": "dispute",
            "amount": amount,
            "currency": currency,
            "charge": intent.charge_id,
            "payment_intent": intent.id,
            "reason": reason,
            "status": "needs_response",
            "evidence": {},
            "evidence_details": {
                "due_by": now + EVIDENCE_DAYS * 86400,
                "has_evidence": False,
                "past_due": False,
                "submission_count": 0,
            },
            "balance_transactions": [],
            "is_charge_refundable": False,
            "created": now,
            "livemode": False,
            "metadata": {},
        }
        _emit(_dispute_event("charge.dispute.created", dispute))
        dispute["balance_transactions"].append(_balance_txn(-amount, CHARGEBACK_FEE_MINOR, currency, "dispute"))
        _emit(_dispute_event("charge.dispute.funds_withdrawn", dispute))
        return dispute["id"]

    def close_simulated_chargeback(self, dispute_id: str, *, outcome: str) -> None:
        """The issuer decides: "won" gives the amount back (charge.dispute.funds_reinstated, the
        fee kept, as Stripe does) then charge.dispute.closed; "lost" only closes it."""
        if outcome not in ("won", "lost"):
            raise ValueError(outcome)
        dispute = copy.deepcopy(self._dispute(dispute_id))
        if dispute["status"] in ("won", "lost"):
            return
        dispute["status"] = outcome
        if outcome == "won":
            reinstated = _balance_txn(dispute["amount"], 0, dispute["currency"], "dispute_reversal")
            dispute["balance_transactions"].append(reinstated)
            _emit(_dispute_event("charge.dispute.funds_reinstated", dispute))
        _emit(_dispute_event("charge.dispute.closed", dispute))

    def submit_dispute_evidence(self, dispute_id: str, evidence: dict, *, idempotency_key: str) -> str:
        """Record the evidence as Stripe would (submitted: the dispute goes under review) and emit
        charge.dispute.updated. The same key returns the status without a second submission."""
        earlier = WebhookEvent.objects.filter(
            source="local", type="charge.dispute.updated", payload__request__idempotency_key=idempotency_key
        ).first()
        if earlier is not None:
            return earlier.payload["data"]["object"]["status"]
        dispute = copy.deepcopy(self._dispute(dispute_id))
        if dispute["status"] not in ("needs_response", "warning_needs_response"):
            raise ProviderRefused(f"Dispute {dispute_id} is {dispute['status']}: evidence can no longer be submitted.")
        dispute["evidence"] = {**dispute["evidence"], **evidence}
        dispute["status"] = "under_review" if dispute["status"] == "needs_response" else "warning_under_review"
        details = dispute["evidence_details"]
        details.update(has_evidence=True, submission_count=details["submission_count"] + 1)
        _emit(_dispute_event("charge.dispute.updated", dispute, idempotency_key=idempotency_key))
        return dispute["status"]

    def construct_event(self, payload: bytes, signature: str, secret: str) -> dict:
        # Local events never arrive over HTTP; a body posted to the Stripe endpoint in local mode
        # is refused like a bad signature.
        raise InvalidSignature("No webhook secret is configured for the local provider.")
