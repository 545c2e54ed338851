"""Payment providers behind one interface. `gateway()` picks one from settings.PAYMENT_PROVIDER:
"local" (the default without Stripe keys) or "stripe"."""

from functools import cache

from django.conf import settings

from .base import AccountState, Gateway, ProviderPayment

__all__ = ["AccountState", "Gateway", "ProviderPayment", "gateway"]


@cache
def _gateway(name: str, key: str) -> Gateway:
    if name == "stripe":
        from .stripe_gateway import StripeGateway

        return StripeGateway(secret_key=key)
    from .local import LocalGateway

    return LocalGateway()


def gateway() -> Gateway:
    return _gateway(settings.PAYMENT_PROVIDER, settings.STRIPE_SECRET_KEY)
