"""Stripe's webhook endpoints: verify, store in the inbox, answer 200. Processing happens later,
in a task queued on commit (payments.services.webhook_event_store), so Stripe gets its answer
fast and a slow or failing handler never makes it resend.

Two endpoints because Stripe signs platform events and Connect events (those of the sellers'
accounts, e.g. account.updated) with the secrets of two different endpoint registrations.
"""

import logging
from functools import cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from . import services
from .exceptions import InvalidSignature
from .gateways.stripe_gateway import StripeGateway

log = logging.getLogger(__name__)


@cache
def _verifier(secret_key: str) -> StripeGateway:
    # Verification is local (an HMAC over the body); the key only builds the client.
    return StripeGateway(secret_key or "sk_test_unused")


def _receive(request: HttpRequest, *, secret: str, source: str) -> HttpResponse:
    try:
        event = _verifier(settings.STRIPE_SECRET_KEY).construct_event(
            request.body, request.headers.get("Stripe-Signature", ""), secret
        )
    except InvalidSignature as exc:
        log.warning("Refused a %s webhook: %s", source, exc)
        return HttpResponse("Invalid signature.", status=400, content_type="text/plain")
    _, created = services.webhook_event_store(event=event, source=source)
    return JsonResponse({"received": True, "duplicate": not created})


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    """Platform events (payment intents, charges, refunds), signed with STRIPE_WEBHOOK_SECRET.
    400 and nothing stored when the signature is missing, wrong or older than 300 s; otherwise
    the event is stored once (a duplicate id also answers 200 and changes nothing)."""
    return _receive(request, secret=settings.STRIPE_WEBHOOK_SECRET, source="stripe")


@csrf_exempt
@require_POST
def stripe_connect_webhook(request: HttpRequest) -> HttpResponse:
    """Connected accounts' events (account.updated), signed with STRIPE_CONNECT_WEBHOOK_SECRET;
    the same guarantees as stripe_webhook."""
    return _receive(request, secret=settings.STRIPE_CONNECT_WEBHOOK_SECRET, source="connect")
