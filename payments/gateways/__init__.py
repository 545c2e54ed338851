"""Payment providers behind one interface. `gateway()` picks one from settings.PAYMENT_PROVIDER:
"local" (the default without Stripe keys) or "stripe". Tests can swap in another with `override`."""

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

from django.conf import settings

from .base import AccountState, Gateway, ProviderPayment, ProviderRefused

__all__ = ["AccountState", "Gateway", "ProviderPayment", "ProviderRefused", "gateway", "override"]

# Set only by `override` (tests); a plain global rather than a context variable so that threads
# started inside the block (race tests) see it too.
_override: Gateway | None = None


@cache
def _gateway(name: str, key: str) -> Gateway:
    if name == "stripe":
        from .stripe_gateway import StripeGateway

        return StripeGateway(secret_key=key)
    from .local import LocalGateway

    return LocalGateway()


def gateway() -> Gateway:
    if _override is not None:
        return _override
    return _gateway(settings.PAYMENT_PROVIDER, settings.STRIPE_SECRET_KEY)


@contextmanager
def override(provider: Gateway) -> Iterator[Gateway]:
    """Test hook: inside the block gateway() returns `provider` (e.g. a StripeGateway bound to
    payments.tests.stripe_fake.FakeStripe), whatever the settings say; the previous one comes
    back on exit, even after an error. Blocks nest. Never used by production code."""
    global _override
    previous, _override = _override, provider
    try:
        yield provider
    finally:
        _override = previous
