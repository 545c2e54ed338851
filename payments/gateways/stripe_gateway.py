"""The Stripe gateway: the only module in the project that imports `stripe`.

Connect with separate charges and transfers: the buyer's PaymentIntent lands in the platform
balance (its `transfer_group` names the order); sellers have platform-controlled Express
accounts. Every POST that creates or changes money carries the caller's deterministic
idempotency key, so the SDK's own retries and ours never act twice (the SDK's default key is
random per call and would not protect a retry of the whole operation).

Errors: network failures, rate limits and Stripe's 5xx answers become ProviderUnavailable (the
API answers 503, Celery retries). Anything else (a bad parameter, a reused idempotency key, a
wrong API key) is a bug or a misconfiguration and propagates as the SDK's exception.
"""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import stripe
from django.conf import settings

from ..exceptions import InvalidSignature, ProviderUnavailable
from .base import AccountState, ProviderPayment, ProviderRefused

# The SDK retries connection errors, 409s and 5xx itself, with backoff and the same idempotency
# key; two retries keep a web request under a few seconds when Stripe is down.
MAX_NETWORK_RETRIES = 2


@contextmanager
def _provider_errors() -> Iterator[None]:
    """Turn outages into ProviderUnavailable; let every other Stripe error through."""
    try:
        yield
    except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError) as exc:
        raise ProviderUnavailable(f"Stripe is unavailable: {exc.user_message or exc}") from exc


def _meta(obj: Any) -> dict:
    """An object's metadata as a plain dict (a StripeObject is not a dict)."""
    return obj.metadata.to_dict() if getattr(obj, "metadata", None) else {}


def _to_payment(intent: Any) -> ProviderPayment:
    charge = intent.latest_charge
    if charge is not None and not isinstance(charge, str):  # expanded Charge object
        charge = charge.id
    return ProviderPayment(
        id=intent.id,
        client_secret=intent.client_secret or "",
        status=intent.status,
        amount_minor=intent.amount,
        currency=intent.currency.upper(),
        charge_id=charge or "",
    )


def _to_account(account: Any) -> AccountState:
    data = account.to_dict()
    capabilities = data.get("capabilities") or {}
    return AccountState(
        id=data["id"],
        details_submitted=bool(data.get("details_submitted")),
        charges_enabled=bool(data.get("charges_enabled")),
        payouts_enabled=bool(data.get("payouts_enabled")),
        transfers_active=capabilities.get("transfers") == "active",
    )


class StripeGateway:
    """Gateway on the Stripe API through `stripe.StripeClient`. `http_client` replaces the SDK's
    HTTP layer (tests pass payments.tests.stripe_fake.FakeStripe); None uses the SDK's default."""

    name = "stripe"
    requires_onboarding = True

    def __init__(self, secret_key: str, http_client: stripe.HTTPClient | None = None) -> None:
        self._client = stripe.StripeClient(secret_key, http_client=http_client, max_network_retries=MAX_NETWORK_RETRIES)

    # Payments --------------------------------------------------------------------------------

    def create_payment(
        self, *, amount_minor: int, currency: str, order_id: int, transfer_group: str, idempotency_key: str
    ) -> ProviderPayment:
        """A PaymentIntent for the amount, in the platform balance. The same key with the same
        arguments returns the same intent (for 24 h at Stripe); the same key with other arguments
        raises stripe.IdempotencyError. Raises ProviderUnavailable on an outage."""
        with _provider_errors():
            intent = self._client.v1.payment_intents.create(
                {
                    "amount": amount_minor,
                    "currency": currency.lower(),
                    "transfer_group": transfer_group,
                    "metadata": {"order_id": str(order_id)},
                    "automatic_payment_methods": {"enabled": True},
                },
                {"idempotency_key": idempotency_key},
            )
        return _to_payment(intent)

    def retrieve_payment(self, payment_id: str) -> ProviderPayment:
        """The intent as Stripe holds it now. Raises ProviderUnavailable on an outage."""
        with _provider_errors():
            return _to_payment(self._client.v1.payment_intents.retrieve(payment_id))

    def cancel_payment(self, payment_id: str, *, idempotency_key: str) -> ProviderPayment:
        """Cancel the intent so it can no longer be paid. An intent already succeeded or canceled
        is returned as it is (like the local gateway): Stripe refuses to cancel it, and either
        way nothing more can happen to it here. Raises ProviderUnavailable on an outage."""
        with _provider_errors():
            try:
                intent = self._client.v1.payment_intents.cancel(
                    payment_id, options={"idempotency_key": idempotency_key}
                )
            except stripe.InvalidRequestError as exc:
                if exc.code != "payment_intent_unexpected_state":
                    raise
                intent = self._client.v1.payment_intents.retrieve(payment_id)
        return _to_payment(intent)

    # Connect ---------------------------------------------------------------------------------

    def create_refund(
        self, *, payment_id: str, amount_minor: int, idempotency_key: str, look_up_first: bool = False
    ) -> str:
        """Refund part of a payment's charge (money not yet released). Returns the refund id; the
        same key returns the same refund. Stripe forgets keys after 24 h, so a retry
        (`look_up_first`) first lists the intent's refunds for one carrying this key in its
        metadata. Raises ProviderUnavailable on an outage."""
        with _provider_errors():
            if look_up_first:
                for refund in self._client.v1.refunds.list({"payment_intent": payment_id, "limit": 100}).data:
                    if _meta(refund).get("key") == idempotency_key:
                        return refund.id
            refund = self._client.v1.refunds.create(
                {"payment_intent": payment_id, "amount": amount_minor, "metadata": {"key": idempotency_key}},
                {"idempotency_key": idempotency_key},
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
        """Move released money to a seller's connected account, funded by the order's charge
        (`source_transaction`), so it never waits for the platform balance. Returns the transfer
        id; the same key returns the same transfer, and a retry (`look_up_first`) first looks in
        the order's transfer group for one carrying this key, in case Stripe forgot the key.
        Raises ProviderUnavailable on an outage."""
        with _provider_errors():
            if look_up_first:
                found = self._client.v1.transfers.list({"transfer_group": transfer_group, "limit": 100}).data
                for transfer in found:
                    if _meta(transfer).get("key") == idempotency_key:
                        return transfer.id
            transfer = self._client.v1.transfers.create(
                {
                    "amount": amount_minor,
                    "currency": currency.lower(),
                    "destination": destination,
                    "source_transaction": source_transaction,
                    "transfer_group": transfer_group,
                    "metadata": {"key": idempotency_key},
                },
                {"idempotency_key": idempotency_key},
            )
        return transfer.id

    def seller_destination(self, seller_id: int) -> str | None:
        from ..models import ConnectedAccount

        account = ConnectedAccount.objects.filter(user_id=seller_id, transfers_active=True).first()
        return account.stripe_account_id if account else None

    def create_account(self, *, user_id: int, email: str, idempotency_key: str) -> AccountState:
        """A connected account the platform controls: the platform pays Stripe's fees and bears
        losses, the seller gets the Express dashboard, Stripe collects the requirements. It asks
        for the `transfers` capability (what separate transfers need) and `card_payments`.
        The same key returns the same account. Raises ProviderUnavailable on an outage."""
        params: dict[str, Any] = {
            "controller": {
                "fees": {"payer": "application"},
                "losses": {"payments": "application"},
                "stripe_dashboard": {"type": "express"},
                "requirement_collection": "stripe",
            },
            "capabilities": {"transfers": {"requested": True}, "card_payments": {"requested": True}},
            "metadata": {"user_id": str(user_id)},
        }
        if email:
            params["email"] = email
        with _provider_errors():
            account = self._client.v1.accounts.create(params, {"idempotency_key": idempotency_key})
        return _to_account(account)

    def create_account_link(self, *, account_id: str, refresh_url: str, return_url: str) -> str:
        """A one-time onboarding URL, valid for minutes. Deliberately no fixed idempotency key:
        every call must yield a fresh link (a replayed one may already be used or expired), and
        a link moves no money. Raises ProviderUnavailable on an outage."""
        with _provider_errors():
            link = self._client.v1.account_links.create(
                {
                    "account": account_id,
                    "refresh_url": refresh_url,
                    "return_url": return_url,
                    "type": "account_onboarding",
                }
            )
        return link.url

    def retrieve_account(self, account_id: str) -> AccountState:
        """The account's flags; transfers_active is True only when the `transfers` capability is
        "active" (not "pending" or "inactive"). Raises ProviderUnavailable on an outage."""
        with _provider_errors():
            return _to_account(self._client.v1.accounts.retrieve(account_id))

    # Disputes (chargebacks) ----------------------------------------------------------------------

    def submit_dispute_evidence(self, dispute_id: str, evidence: dict, *, idempotency_key: str) -> str:
        """Update the dispute's evidence and submit it (`submit=True`: Stripe sends it to the
        issuer; it cannot be changed afterwards). Returns the dispute's status (under_review).
        The same key replays the same answer. Raises ProviderUnavailable on an outage, and
        ProviderRefused (Stripe's message) when Stripe refuses the update: the dispute was
        submitted or closed meanwhile, or it is not in this account."""
        with _provider_errors():
            try:
                dispute = self._client.v1.disputes.update(
                    dispute_id,
                    {"evidence": dict(evidence), "submit": True},
                    {"idempotency_key": idempotency_key},
                )
            except stripe.InvalidRequestError as exc:
                raise ProviderRefused(str(exc.user_message or exc)) from exc
        return dispute.status

    # Webhooks --------------------------------------------------------------------------------

    def construct_event(self, payload: bytes, signature: str, secret: str) -> dict:
        """Verify a webhook body against its Stripe-Signature header and return the event as a
        plain dict, exactly as sent. Raises InvalidSignature when the header is missing or wrong,
        the timestamp is older than settings.WEBHOOK_TOLERANCE_SECONDS, the secret is empty, or
        the body is not a JSON event with an id. Needs no network."""
        try:
            # The check Webhook.construct_event makes; the body is then parsed as plain JSON rather
            # than into an Event object, so the inbox stores exactly what Stripe sent.
            stripe.WebhookSignature.verify_header(payload, signature, secret, settings.WEBHOOK_TOLERANCE_SECONDS)
            event = json.loads(payload)
        except stripe.SignatureVerificationError as exc:
            raise InvalidSignature(str(exc.user_message or exc)) from exc
        except ValueError as exc:  # not UTF-8, not JSON, or not a v1 event
            raise InvalidSignature(f"The body is not a Stripe event: {exc}") from exc
        if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not event["id"]:
            raise InvalidSignature("The body is not a Stripe event.")
        return event
