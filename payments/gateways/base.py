"""The gateway interface every payment provider implements. Nothing outside payments/gateways
knows which provider runs; amounts are integer minor units, currencies ISO codes (upper case)."""

from dataclasses import dataclass
from typing import Protocol


class ProviderRefused(Exception):
    """The provider refused a request about an object in a state that does not allow it (e.g.
    evidence for a dispute already submitted or closed). Its message is the provider's."""


@dataclass(frozen=True)
class ProviderPayment:
    """A payment intent as the provider sees it. status: requires_payment_method,
    requires_action, processing, succeeded, canceled."""

    id: str
    client_secret: str
    status: str
    amount_minor: int
    currency: str
    charge_id: str = ""


@dataclass(frozen=True)
class AccountState:
    """A seller's connected account and its capabilities."""

    id: str
    details_submitted: bool
    charges_enabled: bool
    payouts_enabled: bool
    transfers_active: bool


class Gateway(Protocol):
    name: str
    # Local: sellers can always be paid (no onboarding). Stripe: they need an active account.
    requires_onboarding: bool

    def create_payment(
        self, *, amount_minor: int, currency: str, order_id: int, transfer_group: str, idempotency_key: str
    ) -> ProviderPayment:
        """A payment intent for the order's total; the same key returns the same intent."""

    def retrieve_payment(self, payment_id: str) -> ProviderPayment: ...

    def cancel_payment(self, payment_id: str, *, idempotency_key: str) -> ProviderPayment: ...

    def create_refund(
        self, *, payment_id: str, amount_minor: int, idempotency_key: str, look_up_first: bool = False
    ) -> str:
        """Refund part of a payment; returns the refund id. The same key returns the same refund;
        `look_up_first` finds one made earlier with this key (metadata) before creating, for
        retries after the provider may have forgotten the key (Stripe: 24 h)."""

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
        """Send money to a seller's account, funded by the order's charge; returns the transfer id.
        The same key returns the same transfer; `look_up_first` as for refunds."""

    def seller_destination(self, seller_id: int) -> str | None:
        """The account a seller's transfers go to; None when the seller cannot receive yet."""

    def create_account(self, *, user_id: int, email: str, idempotency_key: str) -> AccountState:
        """A connected account for a seller (Express dashboard, platform-controlled)."""

    def create_account_link(self, *, account_id: str, refresh_url: str, return_url: str) -> str:
        """A one-time URL where the seller finishes onboarding."""

    def retrieve_account(self, account_id: str) -> AccountState: ...

    def submit_dispute_evidence(self, dispute_id: str, evidence: dict, *, idempotency_key: str) -> str:
        """Send a chargeback's evidence (the provider's evidence fields, text) and submit it for
        the issuer's review; returns the dispute's status afterwards (under_review). The same key
        returns the same answer without a second submission. ProviderRefused when the dispute no
        longer takes evidence (submitted already, closed)."""

    def construct_event(self, payload: bytes, signature: str, secret: str) -> dict:
        """Verify a webhook body's signature (300 s tolerance) and parse it; InvalidSignature."""
