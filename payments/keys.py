"""Idempotency keys for the payment provider, unique to this installation.

Keys are built from primary keys (`order-12-payment`), and Stripe remembers a key for 24 hours
per account. Two installations sharing one Stripe account (staging and a developer's machine),
or one whose database was reset, would send the same key for different objects and be given
the other object back: another order's PaymentIntent (perhaps already paid), another user's
connected account. So every key sent carries this installation's id first:
`<installation>:order-12-payment`.

The id is settings.IDEMPOTENCY_KEY_PREFIX when set (an operator's fixed choice), else the random
key of the `Installation` row (made by migration 0008, or here on first use), read once per
process. Within one installation a key stays the same on every retry.
"""

import re
import secrets

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from .models import Installation

PREFIX_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,40}")

_installation_key: str | None = None  # this process's cache of Installation.key


def new_installation_key() -> str:
    """12 random url-safe characters."""
    return secrets.token_urlsafe(9)


def installation_id() -> str:
    """The prefix of this installation's keys: IDEMPOTENCY_KEY_PREFIX, else Installation.key
    (one query on a process's first call, none after). Raises ImproperlyConfigured when the
    setting is not 1 to 40 of A-Z a-z 0-9 . _ -."""
    prefix = settings.IDEMPOTENCY_KEY_PREFIX
    if prefix:
        if not PREFIX_PATTERN.fullmatch(prefix):
            raise ImproperlyConfigured("IDEMPOTENCY_KEY_PREFIX must be 1 to 40 of A-Z a-z 0-9 . _ -")
        return prefix
    return _installation_key or _load_installation_key()


def _load_installation_key() -> str:
    row, created = Installation.objects.get_or_create(
        pk=Installation.SINGLETON, defaults={"key": new_installation_key()}
    )
    if created and transaction.get_connection().in_atomic_block:
        # Made in a transaction that may still roll back: remembered once committed, so that a
        # row rolled back does not live on in this process while another one makes a new row.
        transaction.on_commit(lambda: _remember(row.key))
    else:
        _remember(row.key)
    return row.key


def _remember(key: str) -> None:
    global _installation_key
    _installation_key = key


def idempotency_key(*parts: object) -> str:
    """The key to send to the provider for one operation: this installation's id, a colon, then
    the parts joined by "-" (`idempotency_key("order", 12, "payment")` ->
    "<installation>:order-12-payment"). The same parts give the same key within an
    installation, so retries are recognised; another installation gets another key."""
    if not parts:
        raise ValueError("An idempotency key needs at least one part.")
    return f"{installation_id()}:" + "-".join(str(part) for part in parts)
