"""The Stripe webhook endpoints (signed bodies, the inbox, processing queued on commit) and the
whole Stripe-mode path through the real SDK and the fake: seller onboarding, checkout refused to
a seller who cannot receive, payment intent, signed webhooks, an active order with escrow."""

import ast
import json
import time
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from gigs.tests.factories import UserFactory
from milestones.models import Order
from payments import ledger, services
from payments.connect import connect_onboarding_start
from payments.exceptions import SellerCannotReceive
from payments.keys import idempotency_key
from payments.models import ConnectedAccount, Payment, WebhookEvent
from payments.tasks import webhook_event_process_task
from payments.tests.factories import gig_with_plan, place_order
from payments.tests.stripe_fake import (
    CONNECT_WEBHOOK_SECRET,
    WEBHOOK_SECRET,
    make_event,
    post_event,
    signature_header,
    stripe_mode,
)

pytestmark = pytest.mark.django_db

STRIPE_URL = "/payments/webhooks/stripe/"
CONNECT_URL = "/payments/webhooks/connect/"


@pytest.fixture
def secrets(settings):
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_CONNECT_WEBHOOK_SECRET = CONNECT_WEBHOOK_SECRET


@pytest.fixture
def fake(settings):
    with stripe_mode(settings) as fake:
        yield fake


def an_event(event_type="payment_intent.succeeded", **obj) -> dict:
    return make_event(event_type, {"id": "pi_123", "object": "payment_intent", **obj})


def test_urls_are_where_stripe_is_told_to_post():
    assert reverse("stripe-webhook") == STRIPE_URL
    assert reverse("stripe-connect-webhook") == CONNECT_URL


@pytest.mark.usefixtures("secrets")
class TestReceive:
    def test_a_valid_event_is_stored_and_its_processing_queued_on_commit(self, django_capture_on_commit_callbacks):
        event = an_event()
        csrf_client = Client(enforce_csrf_checks=True)  # Stripe sends no CSRF token
        with django_capture_on_commit_callbacks() as callbacks:
            response = post_event(csrf_client, STRIPE_URL, event, WEBHOOK_SECRET)

        assert response.status_code == 200
        assert response.json() == {"received": True, "duplicate": False}
        row = WebhookEvent.objects.get()
        assert (row.event_id, row.source, row.type, row.status) == (
            event["id"],
            "stripe",
            "payment_intent.succeeded",
            WebhookEvent.Status.RECEIVED,
        )
        assert row.payload == event
        [callback] = callbacks
        assert callback.func == webhook_event_process_task.delay
        assert callback.args == (row.pk,)

    def test_the_stored_body_is_the_raw_body_as_signed(self):
        # Key order and spacing differ from json.dumps(event): the signature covers the raw bytes.
        body = '{"type": "charge.refunded", "object": "event", "id": "evt_raw",   "data": {"object": {}}}'
        response = post_event(Client(), STRIPE_URL, body, WEBHOOK_SECRET)
        assert response.status_code == 200
        assert WebhookEvent.objects.get().payload == json.loads(body)

    def test_a_duplicate_answers_200_and_does_nothing(self, django_capture_on_commit_callbacks, client):
        event = an_event()
        with django_capture_on_commit_callbacks() as first:
            post_event(client, STRIPE_URL, event, WEBHOOK_SECRET)
        with django_capture_on_commit_callbacks() as second:
            response = post_event(client, STRIPE_URL, event, WEBHOOK_SECRET)
        assert response.status_code == 200 and response.json()["duplicate"] is True
        assert WebhookEvent.objects.count() == 1
        assert (len(first), len(second)) == (1, 0)

    def test_connect_events_use_their_own_secret_and_source(self, client):
        event = make_event("account.updated", {"id": "acct_1", "object": "account"}, account="acct_1")
        assert post_event(client, CONNECT_URL, event, WEBHOOK_SECRET).status_code == 400
        assert post_event(client, STRIPE_URL, event, CONNECT_WEBHOOK_SECRET).status_code == 400
        assert not WebhookEvent.objects.exists()

        assert post_event(client, CONNECT_URL, event, CONNECT_WEBHOOK_SECRET).status_code == 200
        assert WebhookEvent.objects.get().source == "connect"

    @pytest.mark.parametrize(
        "header",
        [
            pytest.param(None, id="missing"),
            pytest.param("", id="empty"),
            pytest.param("t=123,v1=0000", id="garbage"),
            pytest.param(lambda body: signature_header(body, "whsec_wrong"), id="wrong-secret"),
            pytest.param(lambda body: signature_header(body + " ", WEBHOOK_SECRET), id="other-body"),
            pytest.param(
                lambda body: signature_header(body, WEBHOOK_SECRET, timestamp=int(time.time()) - 301), id="stale"
            ),
        ],
    )
    def test_an_unverified_body_is_refused_and_nothing_is_stored(
        self, client, header, django_capture_on_commit_callbacks
    ):
        body = json.dumps(an_event())
        extra = {} if header is None else {"HTTP_STRIPE_SIGNATURE": header(body) if callable(header) else header}
        with django_capture_on_commit_callbacks() as callbacks:
            response = client.post(STRIPE_URL, data=body, content_type="application/json", **extra)
        assert response.status_code == 400
        assert not WebhookEvent.objects.exists()
        assert callbacks == []

    def test_a_recent_timestamp_within_tolerance_is_accepted(self, client):
        event = an_event()
        response = post_event(client, STRIPE_URL, event, WEBHOOK_SECRET, timestamp=int(time.time()) - 280)
        assert response.status_code == 200

    def test_a_signed_body_that_is_not_an_event_is_refused(self, client):
        for body in ("not json", '{"type": "x"}'):
            assert post_event(client, STRIPE_URL, body, WEBHOOK_SECRET).status_code == 400
        assert not WebhookEvent.objects.exists()

    def test_an_endpoint_without_a_secret_refuses_everything(self, client, settings):
        settings.STRIPE_WEBHOOK_SECRET = ""
        assert post_event(client, STRIPE_URL, an_event(), "").status_code == 400
        assert not WebhookEvent.objects.exists()

    def test_only_post(self, client):
        assert client.get(STRIPE_URL).status_code == 405
        assert client.get(CONNECT_URL).status_code == 405


# --- Stripe mode, end to end --------------------------------------------------------------------


def onboarded_seller(fake, client) -> ConnectedAccount:
    """A gig whose seller onboarded through the service, the fake and the Connect webhook."""
    gig = gig_with_plan()
    connect_onboarding_start(user=gig.seller, refresh_url="https://x/refresh", return_url="https://x/return")
    account = ConnectedAccount.objects.get(user=gig.seller)
    fake.complete_onboarding(account.stripe_account_id)
    response = post_event(client, CONNECT_URL, fake.last_event("account.updated"), CONNECT_WEBHOOK_SECRET)
    assert response.status_code == 200
    services.webhook_event_process(event_pk=WebhookEvent.objects.get(type="account.updated").pk)
    account.refresh_from_db()
    return account


class TestStripeMode:
    def test_account_updated_via_connect_endpoint_sets_transfers_active(self, fake, client):
        gig = gig_with_plan()
        connect_onboarding_start(user=gig.seller, refresh_url="https://x/r", return_url="https://x/b")
        account = ConnectedAccount.objects.get(user=gig.seller)
        assert not account.transfers_active

        def deliver(**changes) -> ConnectedAccount:
            fake.update_account(account.stripe_account_id, **changes)
            assert post_event(client, CONNECT_URL, fake.events[-1], CONNECT_WEBHOOK_SECRET).status_code == 200
            services.webhook_event_process(event_pk=WebhookEvent.objects.get(event_id=fake.events[-1]["id"]).pk)
            account.refresh_from_db()
            return account

        assert not deliver(details_submitted=True, capabilities={"transfers": "pending"}).transfers_active
        assert account.details_submitted
        assert deliver(capabilities={"transfers": "active"}, payouts_enabled=True).transfers_active
        assert not deliver(capabilities={"transfers": "inactive"}).transfers_active  # Stripe wants more

    def test_an_older_account_updated_arriving_late_does_not_undo_a_newer_one(self, fake, client):
        gig = gig_with_plan()
        connect_onboarding_start(user=gig.seller, refresh_url="https://x/r", return_url="https://x/b")
        account = ConnectedAccount.objects.get(user=gig.seller)
        fake.update_account(account.stripe_account_id, capabilities={"transfers": "pending"})
        older = dict(fake.events[-1], created=1_000)
        fake.update_account(account.stripe_account_id, capabilities={"transfers": "active"})
        newer = dict(fake.events[-1], created=2_000)
        for event in (newer, older):  # delivered out of order
            assert post_event(client, CONNECT_URL, event, CONNECT_WEBHOOK_SECRET).status_code == 200
            services.webhook_event_process(event_pk=WebhookEvent.objects.get(event_id=event["id"]).pk)
        account.refresh_from_db()
        assert account.transfers_active
        assert account.state_as_of == 2_000

    def test_an_order_is_refused_until_the_seller_can_receive(self, fake):
        gig = gig_with_plan()
        with pytest.raises(SellerCannotReceive):
            place_order(gig=gig)  # no connected account
        connect_onboarding_start(user=gig.seller, refresh_url="https://x/r", return_url="https://x/b")
        with pytest.raises(SellerCannotReceive):
            place_order(gig=gig)  # onboarding started, transfers not active
        assert not Order.objects.exists()
        assert fake.payment_intents == {}

    def test_paid_through_a_signed_webhook_the_order_is_active_with_escrow(
        self, fake, client, django_capture_on_commit_callbacks
    ):
        account = onboarded_seller(fake, client)
        assert account.transfers_active
        order = place_order(gig=account.user.gigs.get())

        payment = services.payment_start(order=order)
        assert services.payment_start(order=order) == payment  # once
        [request] = fake.posts("/v1/payment_intents")
        assert request.idempotency_key == idempotency_key("order", order.pk, "payment")
        intent = fake.payment_intents[payment.provider_payment_id]
        assert (intent["amount"], intent["currency"]) == (order.total_minor, order.currency.lower())
        assert (intent["transfer_group"], intent["metadata"]) == (f"order-{order.pk}", {"order_id": str(order.pk)})
        assert (payment.provider, payment.client_secret) == ("stripe", intent["client_secret"])

        fake.confirm_payment(intent["id"])  # the buyer pays on Stripe's page
        event = fake.last_event("payment_intent.succeeded")
        with django_capture_on_commit_callbacks() as callbacks:
            response = post_event(client, STRIPE_URL, event, WEBHOOK_SECRET)
        assert response.status_code == 200
        order.refresh_from_db()
        assert order.status == Order.Status.PENDING_PAYMENT  # stored, not yet processed

        [callback] = callbacks  # what the worker would run
        assert callback.func == webhook_event_process_task.delay
        webhook_event_process_task.apply(args=callback.args).get()

        order.refresh_from_db()
        payment.refresh_from_db()
        assert order.status == Order.Status.ACTIVE
        assert (payment.status, payment.charge_id) == (Payment.Status.SUCCEEDED, intent["latest_charge"])
        assert ledger.escrow_balance(order) == order.subtotal_minor
        assert ledger.trial_balance() == {order.currency: 0}
        assert WebhookEvent.objects.get(event_id=event["id"]).status == WebhookEvent.Status.PROCESSED

        # Stripe redelivers: 200, and the money is counted once.
        assert post_event(client, STRIPE_URL, event, WEBHOOK_SECRET).json()["duplicate"] is True
        assert ledger.escrow_balance(order) == order.subtotal_minor

    @pytest.mark.parametrize("arrival", ["in order", "reversed"])
    def test_processing_then_failed_through_signed_webhooks_ends_failed(self, fake, client, arrival):
        """Stripe sends processing, then payment_failed; they may arrive the other way round. The
        event's `created` decides: the order is not left "processing" (which would hold off its
        expiry and keep its page reloading)."""
        account = onboarded_seller(fake, client)
        order = place_order(buyer=UserFactory(), gig=account.user.gigs.get())
        payment = services.payment_start(order=order)
        intent = fake.payment_intents[payment.provider_payment_id]
        created = int(time.time())
        events = [
            dict(make_event("payment_intent.processing", {**intent, "status": "processing"}), created=created - 60),
            dict(
                make_event(
                    "payment_intent.payment_failed",
                    {
                        **intent,
                        "status": "requires_payment_method",
                        "last_payment_error": {"code": "card_declined", "message": "Your card was declined."},
                    },
                ),
                created=created,
            ),
        ]
        for event in events if arrival == "in order" else events[::-1]:
            assert post_event(client, STRIPE_URL, event, WEBHOOK_SECRET).status_code == 200
            services.webhook_event_process(event_pk=WebhookEvent.objects.get(event_id=event["id"]).pk)

        payment.refresh_from_db()
        assert (payment.status, payment.failure_message) == (Payment.Status.FAILED, "Your card was declined.")
        assert payment.state_as_of == created
        with time_machine.travel(order.expires_at + timedelta(seconds=1)):
            assert services.orders_expire_sweep() == 1
        assert fake.payment_intents[payment.provider_payment_id]["status"] == "canceled"

    def test_a_success_for_another_amount_funds_nothing(self, fake, client):
        account = onboarded_seller(fake, client)
        order = place_order(buyer=UserFactory(), gig=account.user.gigs.get())
        payment = services.payment_start(order=order)
        fake.payment_intents[payment.provider_payment_id]["amount"] = order.total_minor - 100  # changed at Stripe
        fake.confirm_payment(payment.provider_payment_id)
        event = fake.last_event("payment_intent.succeeded")
        assert post_event(client, STRIPE_URL, event, WEBHOOK_SECRET).status_code == 200
        row = services.webhook_event_process(event_pk=WebhookEvent.objects.get(event_id=event["id"]).pk)
        assert row.status == WebhookEvent.Status.FAILED
        assert f"reports {order.total_minor - 100} USD" in row.error
        order.refresh_from_db()
        assert order.status == Order.Status.PENDING_PAYMENT and order.paid_at is None
        assert ledger.escrow_balance(order) == 0 and ledger.trial_balance() == {}

    def test_an_expired_checkout_cancels_its_intent_at_stripe(self, fake, client):
        account = onboarded_seller(fake, client)
        order = place_order(buyer=UserFactory(), gig=account.user.gigs.get())
        payment = services.payment_start(order=order)

        with time_machine.travel(order.expires_at + timedelta(seconds=1)):
            assert services.orders_expire_sweep() == 1

        assert fake.payment_intents[payment.provider_payment_id]["status"] == "canceled"
        [cancel] = fake.posts(f"/v1/payment_intents/{payment.provider_payment_id}/cancel")
        assert cancel.idempotency_key == idempotency_key("order", order.pk, "cancel")


# --- one module talks to Stripe --------------------------------------------------------------------

PROJECT = Path(__file__).resolve().parents[2]
SKIPPED_DIRS = {".venv", ".git", "var", "node_modules", "test-artifacts", "tests", "__pycache__"}


def _imports_stripe(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "stripe" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "stripe":
            return True
        # importlib.import_module("stripe") / __import__("stripe")
        if (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and str(node.args[0].value).split(".")[0] == "stripe"
            and getattr(node.func, "attr", getattr(node.func, "id", "")) in ("import_module", "__import__")
        ):
            return True
    return False


def test_only_the_stripe_gateway_imports_stripe():
    """DESIGN section 6: the real SDK lives behind the gateway interface, in one module. Tests
    (the fake, the live suite) may import it; nothing else may."""
    found = []
    for path in PROJECT.rglob("*.py"):
        relative = path.relative_to(PROJECT)
        if SKIPPED_DIRS.intersection(relative.parts[:-1]) or relative.name.startswith("test_"):
            continue
        if relative.name == "conftest.py":
            continue
        if _imports_stripe(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            found.append(relative.as_posix())
    assert found == ["payments/gateways/stripe_gateway.py"]


def test_the_import_check_sees_every_form_of_import():
    for source in (
        "import stripe",
        "import stripe.error as e",
        "from stripe import StripeClient",
        "from stripe.http_client import HTTPClient",
        "importlib.import_module('stripe')",
        "__import__('stripe')",
    ):
        assert _imports_stripe(ast.parse(source)), source
    for source in ("import stripey", "from .stripe import x", "from payments.gateways import stripe_gateway"):
        assert not _imports_stripe(ast.parse(source)), source
