"""Seller onboarding with Stripe Connect: one connected account per seller, created once, and
Account Links to Stripe's hosted onboarding. Stripe calls happen outside transactions; the
account keeps itself current afterwards through account.updated events (services), and through
`connect_account_refresh` when the seller comes back from Stripe.

With the local provider there is nothing to onboard: sellers can always be paid, and these
services store nothing.
"""

import time

from django.db import transaction

from gigs.models import User

from .gateways import AccountState, gateway
from .keys import idempotency_key
from .models import ConnectedAccount


def connect_account_key(user: User) -> str:
    return idempotency_key("user", user.pk, "connect-account")


FLAGS = ["details_submitted", "charges_enabled", "payouts_enabled", "transfers_active"]


def _flags(state: AccountState) -> dict[str, bool]:
    return {name: getattr(state, name) for name in FLAGS}


def connect_onboarding_start(*, user: User, refresh_url: str, return_url: str) -> str:
    """The URL to send the seller to: Stripe's onboarding for their connected account, which is
    created on the first call only (deterministic idempotency key, and the row is unique per
    user, so two concurrent first calls end with one account). Every call returns a fresh link.
    With the local provider it returns `return_url` and stores nothing. Raises
    ProviderUnavailable when Stripe cannot be reached."""
    provider = gateway()
    if not provider.requires_onboarding:
        return return_url
    account = ConnectedAccount.objects.filter(user=user).first()
    if account is None:
        state = provider.create_account(user_id=user.pk, email=user.email, idempotency_key=connect_account_key(user))
        # A concurrent first call got the same account from Stripe (same key); whichever stores
        # it first wins and the other reads that row.
        account, _ = ConnectedAccount.objects.get_or_create(
            user=user, defaults={"stripe_account_id": state.id, **_flags(state)}
        )
    return provider.create_account_link(
        account_id=account.stripe_account_id, refresh_url=refresh_url, return_url=return_url
    )


def connect_account_refresh(*, user: User) -> ConnectedAccount | None:
    """Read the seller's account from Stripe and store its flags (transfers_active is what
    checkout requires). None when the seller has no account (never started, or local provider).
    An account.updated applied while Stripe was being read (created after the read began) is
    newer than, or as new as, what was read: it is kept and the read is dropped. Raises
    ProviderUnavailable when Stripe cannot be reached; nothing changes then."""
    account = ConnectedAccount.objects.filter(user=user).first()
    if account is None:
        return None
    asked_at = int(time.time())
    state = gateway().retrieve_account(account.stripe_account_id)  # outside any transaction
    with transaction.atomic():
        account = ConnectedAccount.objects.select_for_update().get(pk=account.pk)
        if account.state_as_of > asked_at:
            return account
        for name, value in _flags(state).items():
            setattr(account, name, value)
        # What was read is at least as new as any event created before the read began.
        account.state_as_of = asked_at
        account.save(update_fields=[*FLAGS, "state_as_of", "updated_at"])
    return account
