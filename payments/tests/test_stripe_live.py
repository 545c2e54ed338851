"""Opt-in: StripeGateway against real Stripe test mode, to check that the fake and the gateway
agree with Stripe itself. Runs only when STRIPE_TEST_SECRET_KEY holds a test-mode key
(sk_test_... or rk_test_...) of a platform with Connect enabled; it creates test-mode objects
in that account and moves no real money. Needs network access to api.stripe.com.

    STRIPE_TEST_SECRET_KEY=sk_test_... scripts/test payments/tests/test_stripe_live.py
"""

import json
import os
import uuid

import pytest
import stripe

from payments.exceptions import InvalidSignature
from payments.gateways.stripe_gateway import StripeGateway

KEY = os.environ.get("STRIPE_TEST_SECRET_KEY", "")

pytestmark = [
    pytest.mark.stripe_live,
    pytest.mark.skipif(
        not KEY,
        reason="opt-in suite against real Stripe test mode: set STRIPE_TEST_SECRET_KEY to a test-mode key to run it",
    ),
]


@pytest.fixture(scope="module")
def gw() -> StripeGateway:
    assert KEY.startswith(("sk_test_", "rk_test_")), "STRIPE_TEST_SECRET_KEY must be a test-mode key"
    return StripeGateway(secret_key=KEY)


@pytest.fixture(scope="module")
def sdk() -> stripe.StripeClient:
    return stripe.StripeClient(KEY)


def unique_key(name: str) -> str:
    return f"live-test-{name}-{uuid.uuid4().hex}"


def create(gw, key, amount=5000):
    return gw.create_payment(
        amount_minor=amount, currency="USD", order_id=1, transfer_group="order-live-1", idempotency_key=key
    )


def test_create_payment_is_idempotent_and_cancel_works(gw):
    key = unique_key("payment")
    payment = create(gw, key)
    assert (payment.status, payment.amount_minor, payment.currency) == ("requires_payment_method", 5000, "USD")
    assert payment.client_secret.startswith(payment.id)
    assert create(gw, key).id == payment.id
    with pytest.raises(stripe.IdempotencyError):
        create(gw, key, amount=6000)

    canceled = gw.cancel_payment(payment.id, idempotency_key=unique_key("cancel"))
    assert canceled.status == "canceled"
    assert gw.retrieve_payment(payment.id).status == "canceled"
    assert gw.cancel_payment(payment.id, idempotency_key=unique_key("cancel")).status == "canceled"


def test_a_paid_intent_reports_its_charge_and_cannot_be_canceled(gw, sdk):
    payment = create(gw, unique_key("paid"))
    sdk.v1.payment_intents.confirm(
        payment.id, {"payment_method": "pm_card_visa", "return_url": "https://example.com/return"}
    )
    paid = gw.retrieve_payment(payment.id)
    assert paid.status == "succeeded" and paid.charge_id.startswith("ch_")
    result = gw.cancel_payment(payment.id, idempotency_key=unique_key("cancel"))
    assert (result.status, result.charge_id) == ("succeeded", paid.charge_id)


def test_connected_account_and_onboarding_link(gw):
    key = unique_key("account")
    account = gw.create_account(user_id=1, email="live-test@example.com", idempotency_key=key)
    assert account.id.startswith("acct_") and not account.transfers_active
    assert gw.create_account(user_id=1, email="live-test@example.com", idempotency_key=key).id == account.id
    url = gw.create_account_link(
        account_id=account.id, refresh_url="https://example.com/refresh", return_url="https://example.com/return"
    )
    assert url.startswith("https://connect.stripe.com/")
    assert gw.retrieve_account(account.id).id == account.id


def test_webhook_signature_as_stripe_signs_it(gw):
    body = json.dumps({"id": "evt_live_test", "object": "event", "type": "ping", "data": {"object": {}}})
    header = stripe.WebhookSignature.generate_signature_header(body, "whsec_live_test")
    assert gw.construct_event(body.encode(), header, "whsec_live_test")["id"] == "evt_live_test"
    with pytest.raises(InvalidSignature):
        gw.construct_event(body.encode(), header, "whsec_other")
