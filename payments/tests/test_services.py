"""payments.services with the local provider: checkout, starting a payment, the simulated card page's
outcomes, processing provider events (forward-only, at most once, any arrival order), refunds,
account updates, and the two beat sweeps (checkout expiry, the inbox)."""

import uuid
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from gigs.tests.factories import UserFactory
from marketplace.celery import app as celery_app
from milestones.exceptions import OrderRefused
from milestones.models import Notification, Order, OrderMilestone
from payments import ledger, services
from payments.exceptions import PaymentRefused, SellerCannotReceive
from payments.gateways import gateway
from payments.gateways.local import CARD_DECLINED, CARD_NEEDS_ACTION, CARD_SUCCEEDS
from payments.keys import idempotency_key
from payments.models import ConnectedAccount, LedgerTransaction, LocalPaymentIntent, Payment, Receipt, WebhookEvent
from payments.tests.factories import gig_with_plan, pay, place_order, process_inbox

pytestmark = pytest.mark.django_db

# The standard package of factories.gig_with_plan: $75 in three milestones, 5.5 % fee, $3 small-order fee.
SUBTOTAL, FEES, TOTAL = 7_500, 413 + 300, 8_213


@pytest.fixture(autouse=True)
def _rules(settings):
    settings.MARKETPLACE = {
        **settings.MARKETPLACE,
        "BUYER_SERVICE_FEE_BPS": 550,
        "SMALL_ORDER_FEE_MINOR": 300,
        "SMALL_ORDER_THRESHOLD_MINOR": 10_000,
        "SELLER_COMMISSION_BPS": 2000,
        "CHECKOUT_EXPIRY_MINUTES": 30,
    }
    settings.PAYMENT_PROVIDER = "local"


@pytest.fixture
def eager_tasks():
    """Tasks run in-process when sent (delay, delay_on_commit once the commit callbacks run), so a
    test asserts what they did rather than that they were sent."""
    before = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = before


@pytest.fixture
def order() -> Order:
    return place_order()


def card(payment: Payment, number: str):
    return gateway().submit_card(payment.provider_payment_id, number)


def intent_event(event_type: str, payment: Payment, **obj) -> dict:
    """A Stripe-shaped payment_intent.* event, as Stripe may send (distinct ids, any order)."""
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "object": "event",
        "type": event_type,
        "data": {
            "object": {
                "id": payment.provider_payment_id,
                "object": "payment_intent",
                "amount": payment.amount_minor,
                "currency": payment.currency.lower(),
                "latest_charge": "ch_test_1",
                **obj,
            }
        },
    }


def refund_event(payment: Payment, amount_refunded: int) -> dict:
    """charge.refunded: `amount_refunded` is the charge's cumulative refunded total."""
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "object": "event",
        "type": "charge.refunded",
        "data": {
            "object": {
                "id": payment.charge_id or "ch_test_1",
                "object": "charge",
                "amount": payment.amount_minor,
                "amount_refunded": amount_refunded,
                "currency": payment.currency.lower(),
                "payment_intent": payment.provider_payment_id,
                "paid": True,
                "status": "succeeded",
            }
        },
    }


def deliver(event: dict, source: str = "stripe") -> WebhookEvent:
    row, _ = services.webhook_event_store(event=event, source=source)
    return services.webhook_event_process(event_pk=row.pk)


def funding_count(order: Order) -> int:
    return LedgerTransaction.objects.filter(order=order, kind=LedgerTransaction.Kind.ORDER_FUNDED).count()


def assert_funded_once(order: Order) -> None:
    order.refresh_from_db()
    assert order.status == Order.Status.ACTIVE
    assert order.paid_at is not None
    assert funding_count(order) == 1
    assert ledger.escrow_balance(order) == order.subtotal_minor
    assert ledger.trial_balance() == {order.currency: 0}
    assert Receipt.objects.filter(order=order).count() == 1


def assert_not_funded(order: Order) -> None:
    order.refresh_from_db()
    assert order.paid_at is None
    assert funding_count(order) == 0
    assert ledger.escrow_balance(order) == 0


# --- checkout -----------------------------------------------------------------------------------


class TestCheckout:
    def test_places_an_order_with_the_platform_fees(self):
        gig, buyer = gig_with_plan(), UserFactory()
        order, created = services.checkout_place_order(
            buyer=buyer, gig=gig, tier="standard", checkout_token=uuid.uuid4(), answers={}
        )
        assert created
        assert (order.subtotal_minor, order.buyer_fees_minor, order.total_minor) == (SUBTOTAL, FEES, TOTAL)
        assert order.commission_bps == 2000
        assert order.status == Order.Status.PENDING_PAYMENT
        assert order.milestones.count() == 3

    def test_the_same_checkout_token_gives_back_the_same_order(self):
        gig, buyer, token = gig_with_plan(), UserFactory(), uuid.uuid4()
        first, _ = services.checkout_place_order(
            buyer=buyer, gig=gig, tier="standard", checkout_token=token, answers={}
        )
        again, created = services.checkout_place_order(
            buyer=buyer, gig=gig, tier="premium", checkout_token=token, answers={}
        )
        assert (again.pk, created) == (first.pk, False)
        assert Order.objects.count() == 1

    def place(self, buyer, gig, tier="standard", answers=None) -> tuple[Order, bool]:
        return services.checkout_place_order(
            buyer=buyer, gig=gig, tier=tier, checkout_token=uuid.uuid4(), answers=answers or {}
        )

    def test_another_checkout_of_an_unpaid_package_returns_that_order_with_the_new_answers(self):
        gig, buyer = gig_with_plan(), UserFactory()
        question = gig.requirements.create(question="Brand?", required=True, position=0)
        first, created = self.place(buyer, gig, answers={question.pk: "Acme"})
        payment = services.payment_start(order=first)
        again, created_again = self.place(buyer, gig, answers={question.pk: "Acme Tea"})

        assert (created, created_again, again.pk) == (True, False, first.pk)
        assert Order.objects.count() == 1 and Payment.objects.get() == payment
        assert again.requirements == [{"question": "Brand?", "answer": "Acme Tea", "required": True}]
        assert Order.objects.get().requirements == again.requirements
        assert again.expires_at == first.expires_at  # the window still counts from the first placement
        event = again.events.order_by("id").last()
        assert (event.from_status, event.to_status, event.actor) == ("pending_payment", "pending_payment", buyer)
        # The same answers again change nothing and record nothing.
        self.place(buyer, gig, answers={question.pk: "Acme Tea"})
        assert again.events.count() == 2

    def test_other_packages_buyers_and_paid_orders_are_separate(self):
        gig, buyer = gig_with_plan(), UserFactory()
        first, _ = self.place(buyer, gig)
        premium, created = self.place(buyer, gig, tier="premium")
        assert created and premium.pk != first.pk
        theirs, created = self.place(UserFactory(), gig)
        assert created and theirs.pk != first.pk
        pay(first)
        second, created = self.place(buyer, gig)  # buying the same package again, once paid
        assert created and second.pk != first.pk
        assert Order.objects.count() == 4

    def test_after_the_window_closed_the_old_order_expires_and_a_new_one_is_placed(self):
        gig, buyer = gig_with_plan(), UserFactory()
        old, _ = self.place(buyer, gig)
        payment = services.payment_start(order=old)
        with time_machine.travel(old.expires_at + timedelta(seconds=1)):
            new, created = self.place(buyer, gig)
        assert created and new.pk != old.pk
        old.refresh_from_db()
        assert old.status == Order.Status.EXPIRED
        assert LocalPaymentIntent.objects.get(pk=payment.provider_payment_id).status == "canceled"

    def test_a_due_order_whose_payment_is_processing_is_returned(self):
        gig, buyer = gig_with_plan(), UserFactory()
        old, _ = self.place(buyer, gig)
        deliver(intent_event("payment_intent.processing", services.payment_start(order=old)))
        with time_machine.travel(old.expires_at + timedelta(seconds=1)):
            again, created = self.place(buyer, gig)
        assert (again.pk, created) == (old.pk, False)
        assert Order.objects.get().status == Order.Status.PENDING_PAYMENT

    def test_the_database_allows_one_unpaid_order_per_buyer_gig_and_package(self):
        from django.db import IntegrityError, transaction

        order = place_order()
        copy = {
            f.attname: getattr(order, f.attname)
            for f in Order._meta.concrete_fields
            if f.attname not in ("id", "checkout_token")
        }
        with pytest.raises(IntegrityError), transaction.atomic():
            Order.objects.create(**copy, checkout_token=uuid.uuid4())
        Order.objects.create(**{**copy, "status": Order.Status.EXPIRED}, checkout_token=uuid.uuid4())  # fine

    def test_refusals_of_the_orders_app_come_through(self):
        gig = gig_with_plan()
        with pytest.raises(OrderRefused):
            services.checkout_place_order(
                buyer=gig.seller, gig=gig, tier="standard", checkout_token=uuid.uuid4(), answers={}
            )
        assert not Order.objects.exists()

    def test_a_provider_with_onboarding_needs_a_seller_who_can_receive(self, monkeypatch):
        class Onboarding:
            requires_onboarding = True

        monkeypatch.setattr(services, "gateway", Onboarding)
        gig, buyer = gig_with_plan(), UserFactory()
        with pytest.raises(SellerCannotReceive) as exc:
            services.checkout_place_order(buyer=buyer, gig=gig, tier="basic", checkout_token=uuid.uuid4(), answers={})
        assert exc.value.code == "seller_cannot_receive"
        account = ConnectedAccount.objects.create(user=gig.seller, stripe_account_id="acct_1", transfers_active=False)
        with pytest.raises(SellerCannotReceive):
            services.checkout_place_order(buyer=buyer, gig=gig, tier="basic", checkout_token=uuid.uuid4(), answers={})
        assert not Order.objects.exists()

        ConnectedAccount.objects.filter(pk=account.pk).update(transfers_active=True)
        order, created = services.checkout_place_order(
            buyer=buyer, gig=gig, tier="basic", checkout_token=uuid.uuid4(), answers={}
        )
        assert created and order.pk


# --- starting a payment -------------------------------------------------------------------------


class TestPaymentStart:
    def test_creates_one_payment_and_one_provider_intent_for_the_total(self, order):
        payment = services.payment_start(order=order)
        assert (payment.provider, payment.status) == ("local", Payment.Status.REQUIRES_PAYMENT)
        assert (payment.amount_minor, payment.currency) == (TOTAL, "USD")
        intent = LocalPaymentIntent.objects.get(pk=payment.provider_payment_id)
        assert (intent.amount, intent.currency, intent.status) == (TOTAL, "USD", "requires_payment_method")
        assert intent.idempotency_key == idempotency_key("order", order.pk, "payment")
        assert intent.transfer_group == f"order-{order.pk}"
        assert intent.metadata == {"order_id": str(order.pk)}
        assert payment.client_secret == f"{intent.id}_secret"

    def test_is_idempotent(self, order):
        first = services.payment_start(order=order)
        again = services.payment_start(order=Order.objects.get(pk=order.pk))
        assert again.pk == first.pk
        assert Payment.objects.count() == 1
        assert LocalPaymentIntent.objects.count() == 1

    @pytest.mark.parametrize("status", [Order.Status.EXPIRED, Order.Status.CANCELLED, Order.Status.ACTIVE])
    def test_refused_when_the_order_is_not_awaiting_payment(self, order, status):
        Order.objects.filter(pk=order.pk).update(status=status)
        with pytest.raises(PaymentRefused) as exc:
            services.payment_start(order=Order.objects.get(pk=order.pk))
        assert exc.value.code == "payment_refused"
        assert not Payment.objects.exists()
        assert not LocalPaymentIntent.objects.exists()


# --- the local card page ------------------------------------------------------------------------


class TestLocalCards:
    def test_4242_succeeds_and_funds_the_order(self, order):
        payment = services.payment_start(order=order)
        outcome = card(payment, "4242 4242 4242 4242")
        assert (outcome.status, outcome.message) == ("succeeded", "")
        [event] = WebhookEvent.objects.all()
        assert (event.type, event.source, event.status) == ("payment_intent.succeeded", "local", "received")
        assert_not_funded(order)  # nothing happens before the event is processed

        process_inbox()
        payment.refresh_from_db()
        intent = LocalPaymentIntent.objects.get(pk=payment.provider_payment_id)
        assert payment.status == Payment.Status.SUCCEEDED
        assert payment.charge_id == intent.charge_id != ""
        assert_funded_once(order)
        [txn] = LedgerTransaction.objects.all()
        assert txn.reference == f"payment-{payment.pk}-funded"
        assert sorted(txn.entries.values_list("account", "amount_minor", "currency")) == sorted(
            [
                (ledger.PLATFORM_CASH, TOTAL, "USD"),
                (ledger.escrow(order.pk), -SUBTOTAL, "USD"),
                (ledger.PLATFORM_REVENUE, -FEES, "USD"),
            ]
        )
        first = order.milestones.get(position=0)
        assert first.status == OrderMilestone.Status.IN_PROGRESS

    def test_the_event_is_processed_by_the_task_queued_on_commit(
        self, order, eager_tasks, django_capture_on_commit_callbacks
    ):
        payment = services.payment_start(order=order)
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            card(payment, CARD_SUCCEEDS)
        # The event's processing, queued by the card page; processing it then queues one email
        # per notification it made (among them "order funded", to the buyer and the seller).
        assert callbacks[0].func.__self__.name == "payments.tasks.webhook_event_process_task"
        assert len(callbacks) == 1 + Notification.objects.count()
        assert WebhookEvent.objects.get().status == WebhookEvent.Status.PROCESSED
        assert Notification.objects.filter(kind="order_funded").count() == 2
        assert_funded_once(order)

    def test_0002_is_declined_with_its_message_and_the_order_stays_payable(self, order):
        payment = services.payment_start(order=order)
        outcome = card(payment, CARD_DECLINED)
        assert (outcome.status, outcome.message) == ("failed", "Your card was declined.")
        process_inbox()
        payment.refresh_from_db()
        assert (payment.status, payment.failure_message) == (Payment.Status.FAILED, "Your card was declined.")
        order.refresh_from_db()
        assert order.status == Order.Status.PENDING_PAYMENT and order.is_payable
        assert_not_funded(order)

        # Payable again, on the same payment and intent.
        assert services.payment_start(order=order).pk == payment.pk
        assert card(payment, CARD_SUCCEEDS).status == "succeeded"
        process_inbox()
        payment.refresh_from_db()
        assert (payment.status, payment.failure_message) == (Payment.Status.SUCCEEDED, "")
        assert_funded_once(order)
        assert LocalPaymentIntent.objects.count() == 1

    def test_an_unknown_number_is_declined_as_incorrect(self, order):
        payment = services.payment_start(order=order)
        assert card(payment, "1234 5678 9012 3456").message == "Your card number is incorrect."
        process_inbox()
        payment.refresh_from_db()
        assert payment.failure_message == "Your card number is incorrect."

    def test_3155_requires_action_then_approved(self, order):
        payment = services.payment_start(order=order)
        assert card(payment, CARD_NEEDS_ACTION).status == "requires_action"
        process_inbox()
        payment.refresh_from_db()
        assert payment.status == Payment.Status.REQUIRES_ACTION
        assert_not_funded(order)

        assert gateway().confirm_action(payment.provider_payment_id, approve=True).status == "succeeded"
        process_inbox()
        payment.refresh_from_db()
        assert payment.status == Payment.Status.SUCCEEDED
        assert_funded_once(order)

    def test_3155_requires_action_then_failed_leaves_the_order_payable(self, order):
        payment = services.payment_start(order=order)
        card(payment, CARD_NEEDS_ACTION)
        outcome = gateway().confirm_action(payment.provider_payment_id, approve=False)
        assert (outcome.status, outcome.message) == ("failed", "The payment was not confirmed with your bank.")
        process_inbox()
        payment.refresh_from_db()
        assert payment.status == Payment.Status.FAILED
        assert payment.failure_message == "The payment was not confirmed with your bank."
        assert Order.objects.get(pk=order.pk).is_payable
        # Nothing to confirm any more; a new card works.
        assert gateway().confirm_action(payment.provider_payment_id, approve=True).status == "failed"
        assert card(payment, CARD_SUCCEEDS).status == "succeeded"
        process_inbox()
        assert_funded_once(order)

    def test_a_second_card_after_success_charges_nothing(self, order):
        payment = pay(order)
        for number in (CARD_SUCCEEDS, CARD_DECLINED, CARD_NEEDS_ACTION):
            outcome = card(payment, number)
            assert (outcome.status, outcome.message) == ("already_paid", "This order is already paid.")
        assert gateway().confirm_action(payment.provider_payment_id, approve=True).status == "already_paid"
        assert WebhookEvent.objects.count() == 1
        assert_funded_once(order)


# --- processing provider events ----------------------------------------------------------------


class TestWebhookEventProcess:
    def test_a_failure_after_success_changes_nothing(self, order):
        payment = pay(order)
        late = deliver(
            intent_event("payment_intent.payment_failed", payment, last_payment_error={"message": "Declined late"})
        )
        assert late.status == WebhookEvent.Status.PROCESSED
        for event_type in ("payment_intent.canceled", "payment_intent.processing", "payment_intent.requires_action"):
            deliver(intent_event(event_type, payment))
        payment.refresh_from_db()
        assert (payment.status, payment.failure_message) == (Payment.Status.SUCCEEDED, "")
        assert_funded_once(order)

    def test_success_after_failure_funds(self, order):
        payment = services.payment_start(order=order)
        deliver(intent_event("payment_intent.payment_failed", payment, last_payment_error={"message": "No funds"}))
        payment.refresh_from_db()
        assert (payment.status, payment.failure_message) == (Payment.Status.FAILED, "No funds")
        deliver(intent_event("payment_intent.succeeded", payment, latest_charge="ch_abc"))
        payment.refresh_from_db()
        assert (payment.status, payment.charge_id, payment.failure_message) == (Payment.Status.SUCCEEDED, "ch_abc", "")
        assert_funded_once(order)

    @pytest.mark.parametrize(
        ("event_type", "status"),
        [
            ("payment_intent.requires_action", Payment.Status.REQUIRES_ACTION),
            ("payment_intent.processing", Payment.Status.PROCESSING),
            ("payment_intent.canceled", Payment.Status.CANCELED),
        ],
    )
    def test_intermediate_statuses(self, order, event_type, status):
        payment = services.payment_start(order=order)
        deliver(intent_event(event_type, payment))
        payment.refresh_from_db()
        assert payment.status == status
        assert_not_funded(order)

    def test_a_duplicate_event_id_is_stored_once_and_queued_once(self, order, django_capture_on_commit_callbacks):
        payment = services.payment_start(order=order)
        event = intent_event("payment_intent.succeeded", payment)
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            first, created = services.webhook_event_store(event=event, source="stripe")
            again, created_again = services.webhook_event_store(event=event, source="stripe")
        assert (created, created_again, again.pk) == (True, False, first.pk)
        assert len(callbacks) == 1
        assert WebhookEvent.objects.count() == 1
        assert (first.event_id, first.type, first.payload) == (event["id"], "payment_intent.succeeded", event)

    def test_processing_twice_applies_once(self, order):
        payment = services.payment_start(order=order)
        row, _ = services.webhook_event_store(event=intent_event("payment_intent.succeeded", payment), source="stripe")
        first = services.webhook_event_process(event_pk=row.pk)
        again = services.webhook_event_process(event_pk=row.pk)
        assert (first.status, again.status, again.attempts) == ("processed", "processed", 1)
        assert again.processed_at == first.processed_at
        assert_funded_once(order)

    def test_distinct_events_for_the_same_success_fund_once(self, order):
        payment = services.payment_start(order=order)
        for _ in range(3):
            deliver(intent_event("payment_intent.succeeded", payment))
        assert_funded_once(order)

    @pytest.mark.parametrize("event_type", ["transfer.created", "charge.dispute.created", "customer.created"])
    def test_unhandled_types_are_stored_for_later(self, order, event_type):
        pay(order)
        row = deliver({"id": f"evt_{uuid.uuid4().hex}", "type": event_type, "data": {"object": {"id": "x"}}})
        assert row.status == WebhookEvent.Status.IGNORED
        assert row.processed_at is not None
        assert WebhookEvent.objects.get(pk=row.pk).payload["type"] == event_type
        assert_funded_once(order)

    def test_an_event_for_an_unknown_intent_changes_nothing(self, order):
        row = deliver(
            {"id": "evt_x", "type": "payment_intent.succeeded", "data": {"object": {"id": "pi_unknown", "amount": 1}}}
        )
        assert row.status == WebhookEvent.Status.PROCESSED
        assert not LedgerTransaction.objects.exists()

    def test_a_failing_attempt_is_marked_failed_and_counted(self, order, monkeypatch, eager_tasks):
        from payments.tasks import webhook_event_process_task

        payment = services.payment_start(order=order)
        row, _ = services.webhook_event_store(event=intent_event("payment_intent.succeeded", payment), source="stripe")

        def boom(*args, **kwargs):
            raise RuntimeError("database hiccup")

        monkeypatch.setattr(services, "_fund", boom)
        with pytest.raises(RuntimeError):
            webhook_event_process_task.delay(row.pk)
        row.refresh_from_db()
        assert row.status == WebhookEvent.Status.FAILED
        assert "database hiccup" in row.error
        assert_not_funded(order)
        assert row.attempts == 1, "the failed attempt is counted (it was rolled back with its transaction)"


class TestArrivalOrder:
    """Statuses other than success apply only when their event is not older than the state
    stored (the event's `created`); success is final whatever its time."""

    def at(self, created: int, event_type: str, payment: Payment, **obj) -> dict:
        return {**intent_event(event_type, payment, **obj), "created": created}

    @pytest.mark.parametrize("arrival", ["in order", "reversed"])
    def test_processing_then_failed_ends_failed_in_any_arrival_order(self, order, arrival):
        payment = services.payment_start(order=order)
        events = [
            self.at(1_000, "payment_intent.processing", payment),
            self.at(1_010, "payment_intent.payment_failed", payment, last_payment_error={"message": "Declined"}),
        ]
        for event in events if arrival == "in order" else events[::-1]:
            assert deliver(event).status == WebhookEvent.Status.PROCESSED
        payment.refresh_from_db()
        assert (payment.status, payment.failure_message, payment.state_as_of) == (
            Payment.Status.FAILED,
            "Declined",
            1_010,
        )
        # Not stuck "processing": the order is payable again and its checkout can expire.
        assert services.orders_expire_sweep(now=order.expires_at + timedelta(seconds=1)) == 1

    @pytest.mark.parametrize("arrival", ["in order", "reversed"])
    def test_failed_then_retried_ends_with_the_retry(self, order, arrival):
        payment = services.payment_start(order=order)
        events = [
            self.at(1_000, "payment_intent.payment_failed", payment),
            self.at(1_060, "payment_intent.requires_action", payment),
        ]
        for event in events if arrival == "in order" else events[::-1]:
            deliver(event)
        payment.refresh_from_db()
        assert payment.status == Payment.Status.REQUIRES_ACTION

    @pytest.mark.parametrize("arrival", ["in order", "reversed"])
    def test_success_is_final_whatever_its_time(self, order, arrival):
        payment = services.payment_start(order=order)
        events = [
            self.at(1_000, "payment_intent.succeeded", payment),
            self.at(1_010, "payment_intent.payment_failed", payment),
            self.at(1_020, "payment_intent.processing", payment),
        ]
        for event in events if arrival == "in order" else events[::-1]:
            deliver(event)
        payment.refresh_from_db()
        assert payment.status == Payment.Status.SUCCEEDED
        assert_funded_once(order)

    def test_events_of_the_same_second_apply_in_arrival_order(self, order):
        payment = services.payment_start(order=order)
        deliver(self.at(1_000, "payment_intent.payment_failed", payment))
        deliver(self.at(1_000, "payment_intent.requires_action", payment))
        payment.refresh_from_db()
        assert payment.status == Payment.Status.REQUIRES_ACTION

    @pytest.mark.parametrize("arrival", ["in order", "reversed"])
    def test_local_provider_events_processed_in_either_order(self, order, arrival):
        """The card page: a decline, then (a minute later) a card that asks for confirmation."""
        payment = services.payment_start(order=order)
        start = timezone.now()
        with time_machine.travel(start):
            card(payment, CARD_DECLINED)
        with time_machine.travel(start + timedelta(minutes=1)):
            card(payment, CARD_NEEDS_ACTION)
        rows = list(WebhookEvent.objects.order_by("pk"))
        assert [r.type for r in rows] == ["payment_intent.payment_failed", "payment_intent.requires_action"]
        for row in rows if arrival == "in order" else rows[::-1]:
            services.webhook_event_process(event_pk=row.pk)
        payment.refresh_from_db()
        assert payment.status == Payment.Status.REQUIRES_ACTION
        assert payment.state_as_of == int(rows[1].payload["created"])


class TestFundingMismatch:
    """A success the provider reports for another amount or currency than the order's funds
    nothing: the event is marked failed with the reason, logged at error level, not retried."""

    @pytest.mark.parametrize(
        ("changes", "reported"),
        [
            ({"amount": TOTAL - 1}, f"{TOTAL - 1} USD"),
            ({"currency": "eur"}, f"{TOTAL} EUR"),
            ({"currency": None}, f"{TOTAL} ?"),
            ({"amount": None}, "None USD"),
        ],
    )
    def test_a_mismatched_success_is_refused(self, order, changes, reported, caplog):
        payment = services.payment_start(order=order)
        event = intent_event("payment_intent.succeeded", payment)
        event["data"]["object"].update(changes)
        with caplog.at_level("ERROR", logger="payments.services"):
            row = deliver(event)

        assert row.status == WebhookEvent.Status.FAILED
        assert f"the provider reports {reported}" in row.error
        assert f"order #{order.pk} totals {TOTAL} USD" in row.error
        assert WebhookEvent.objects.get(pk=row.pk).error == row.error
        assert [r.levelname for r in caplog.records if "not funded" in r.getMessage()] == ["ERROR"]
        assert_not_funded(order)
        assert not LedgerTransaction.objects.exists()
        payment.refresh_from_db()
        assert payment.status == Payment.Status.REQUIRES_PAYMENT
        assert Order.objects.get(pk=order.pk).status == Order.Status.PENDING_PAYMENT
        assert not Receipt.objects.exists()
        # The inbox sweep does not queue it again: another run would refuse it again.
        with time_machine.travel(timezone.now() + timedelta(minutes=5)):
            assert services.webhook_inbox_sweep() == 0
        # A matching event still funds the order.
        assert deliver(intent_event("payment_intent.succeeded", payment)).status == WebhookEvent.Status.PROCESSED
        assert_funded_once(order)

    def test_a_refund_of_a_mismatched_charge_before_the_success_is_refused_too(self, order):
        payment = services.payment_start(order=order)
        event = refund_event(payment, 1_000)
        event["data"]["object"]["currency"] = "gbp"
        row = deliver(event)
        assert row.status == WebhookEvent.Status.FAILED and f"reports {TOTAL} GBP" in row.error
        assert_not_funded(order)
        payment.refresh_from_db()
        assert payment.refunded_minor == 0 and not LedgerTransaction.objects.exists()


class TestRefunds:
    def test_charge_refunded_posts_each_growth_of_the_cumulative_total_once(self, order):
        payment = pay(order)
        deliver(refund_event(payment, 1_000))
        assert ledger.escrow_balance(order) == SUBTOTAL - 1_000
        assert ledger.balance(ledger.PLATFORM_CASH, "USD") == TOTAL - 1_000

        later = refund_event(payment, 3_000)
        deliver(later)
        deliver(later)  # a duplicate id
        deliver({**later, "id": f"evt_{uuid.uuid4().hex}"})  # the same total in another event
        deliver(refund_event(payment, 1_000))  # an older total arriving late
        payment.refresh_from_db()
        assert payment.refunded_minor == 3_000
        refunds = LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.PAYMENT_REFUNDED).order_by("id")
        assert [t.reference for t in refunds] == [
            f"payment-{payment.pk}-refunded-to-1000",
            f"payment-{payment.pk}-refunded-to-3000",
        ]
        assert sorted(refunds[1].entries.values_list("account", "amount_minor")) == sorted(
            [(ledger.escrow(order.pk), 2_000), (ledger.PLATFORM_CASH, -2_000)]
        )
        assert ledger.escrow_balance(order) == SUBTOTAL - 3_000
        assert ledger.balance(ledger.PLATFORM_CASH, "USD") == TOTAL - 3_000
        assert ledger.trial_balance() == {"USD": 0}

    def test_a_full_refund_empties_escrow_then_returns_the_fees(self, order):
        payment = pay(order)
        deliver(refund_event(payment, SUBTOTAL + 100))
        assert ledger.escrow_balance(order) == 0
        assert -ledger.balance(ledger.PLATFORM_REVENUE, "USD") == FEES - 100
        deliver(refund_event(payment, TOTAL + 5_000))  # more than was paid: capped at the total
        payment.refresh_from_db()
        assert payment.refunded_minor == TOTAL
        assert ledger.escrow_balance(order) == 0
        assert ledger.balance(ledger.PLATFORM_REVENUE, "USD") == 0
        assert ledger.balance(ledger.PLATFORM_CASH, "USD") == 0
        assert ledger.trial_balance() == {"USD": 0}

    def test_a_refund_event_for_a_charge_that_was_never_paid_posts_nothing(self, order):
        """Only a paid charge proves the payment (a refund event for a paid charge, processed
        before the success, funds the order first: the next test)."""
        payment = services.payment_start(order=order)
        event = refund_event(payment, 500)
        event["data"]["object"].update(paid=False, status="failed")
        deliver(event)
        assert not LedgerTransaction.objects.exists()
        assert Order.objects.get(pk=order.pk).status == Order.Status.PENDING_PAYMENT
        payment.refresh_from_db()
        assert payment.refunded_minor == 0

    def test_a_refund_processed_before_the_success_is_not_lost(self, order):
        """Provider events come in any order (DESIGN §6: processing does not depend on arrival
        order). A charge.refunded handled before payment_intent.succeeded must still count."""
        payment = services.payment_start(order=order)
        deliver(refund_event(payment, 1_000))
        deliver(intent_event("payment_intent.succeeded", payment))
        payment.refresh_from_db()
        assert payment.status == Payment.Status.SUCCEEDED
        assert payment.refunded_minor == 1_000
        assert ledger.escrow_balance(order) == SUBTOTAL - 1_000
        assert ledger.balance(ledger.PLATFORM_CASH, "USD") == TOTAL - 1_000


class TestAccountUpdated:
    def account_event(self, account_id: str, transfers: str, created: int = 1_700_000_000, **flags) -> dict:
        return {
            "id": f"evt_{uuid.uuid4().hex}",
            "type": "account.updated",
            "created": created,
            "data": {"object": {"id": account_id, "capabilities": {"transfers": transfers}, **flags}},
        }

    def test_keeps_the_accounts_capabilities_current(self):
        account = ConnectedAccount.objects.create(user=UserFactory(), stripe_account_id="acct_42")
        deliver(
            self.account_event("acct_42", "active", details_submitted=True, charges_enabled=True, payouts_enabled=True),
            source="connect",
        )
        account.refresh_from_db()
        assert (
            account.details_submitted,
            account.charges_enabled,
            account.payouts_enabled,
            account.transfers_active,
        ) == (True, True, True, True)

        deliver(
            self.account_event("acct_42", "inactive", created=1_700_000_100, details_submitted=True), source="connect"
        )
        account.refresh_from_db()
        assert (account.details_submitted, account.charges_enabled, account.transfers_active) == (True, False, False)

    def test_an_unknown_account_changes_nothing(self):
        row = deliver(self.account_event("acct_nobody", "active"), source="connect")
        assert row.status == WebhookEvent.Status.PROCESSED
        assert not ConnectedAccount.objects.exists()


# --- sweeps -------------------------------------------------------------------------------------


class TestOrdersExpireSweep:
    def test_expires_only_due_unpaid_orders_and_cancels_their_intents(self):
        gig = gig_with_plan()
        due_started = place_order(gig=gig)
        started_payment = services.payment_start(order=due_started)
        due_untouched = place_order(gig=gig)
        paid = place_order(gig=gig)
        pay(paid)
        processing = place_order(gig=gig)
        deliver(intent_event("payment_intent.processing", services.payment_start(order=processing)))
        with time_machine.travel(timezone.now() + timedelta(minutes=20)):
            not_due = place_order(gig=gig)

        with time_machine.travel(due_started.expires_at + timedelta(seconds=1)):
            assert services.orders_expire_sweep() == 2
            assert services.orders_expire_sweep() == 0

        statuses = dict(Order.objects.values_list("pk", "status"))
        assert statuses == {
            due_started.pk: Order.Status.EXPIRED,
            due_untouched.pk: Order.Status.EXPIRED,
            paid.pk: Order.Status.ACTIVE,
            processing.pk: Order.Status.PENDING_PAYMENT,  # money on its way: not expired
            not_due.pk: Order.Status.PENDING_PAYMENT,
        }
        intent = LocalPaymentIntent.objects.get(pk=started_payment.provider_payment_id)
        assert intent.status == LocalPaymentIntent.Status.CANCELED
        process_inbox()
        started_payment.refresh_from_db()
        assert started_payment.status == Payment.Status.CANCELED
        # The card page now refuses the canceled intent.
        assert card(started_payment, CARD_SUCCEEDS).status == "failed"
        assert_not_funded(due_started)

    def test_a_payment_that_succeeds_after_expiry_still_funds_the_order(self, order):
        payment = services.payment_start(order=order)
        assert card(payment, CARD_SUCCEEDS).status == "succeeded"  # its event still waits in the inbox
        with time_machine.travel(order.expires_at + timedelta(minutes=1)):
            assert services.orders_expire_sweep() == 1
            assert Order.objects.get(pk=order.pk).status == Order.Status.EXPIRED
            # Cancel came too late: the intent had succeeded.
            assert LocalPaymentIntent.objects.get(pk=payment.provider_payment_id).status == "succeeded"
            process_inbox()
        assert_funded_once(order)
        assert [e.to_status for e in order.events.filter(milestone=None).order_by("id")] == [
            "pending_payment",
            "expired",
            "active",
        ]

    def test_orders_it_must_skip_never_block_later_expiries(self, settings):
        """SWEEP_BATCH is honoured, the sweep goes on batch after batch, and orders whose payment is
        processing are left out of the query: more of them than a batch block nothing."""
        settings.MARKETPLACE = {**settings.MARKETPLACE, "SWEEP_BATCH": 2}
        gig = gig_with_plan()
        processing = []
        for _ in range(5):  # placed first: they are the first due
            o = place_order(gig=gig)
            deliver(intent_event("payment_intent.processing", services.payment_start(order=o)))
            processing.append(o)
        with time_machine.travel(timezone.now() + timedelta(minutes=1)):
            due = [place_order(gig=gig) for _ in range(5)]
        services.payment_start(order=due[0])  # one with an intent to cancel
        with time_machine.travel(timezone.now() + timedelta(minutes=20)):
            not_due = place_order(gig=gig)

        with time_machine.travel(due[-1].expires_at + timedelta(seconds=1)):
            with CaptureQueriesContext(connection) as queries:
                assert services.orders_expire_sweep() == 5
            # Batches of 2, 2 and 1 due orders: the processing ones took no place in them.
            assert sum("SKIP LOCKED" in q["sql"] for q in queries.captured_queries) == 3
            assert services.orders_expire_sweep() == 0

        statuses = dict(Order.objects.values_list("pk", "status"))
        assert {statuses[o.pk] for o in processing} == {Order.Status.PENDING_PAYMENT}
        assert {statuses[o.pk] for o in due} == {Order.Status.EXPIRED}
        assert statuses[not_due.pk] == Order.Status.PENDING_PAYMENT
        intent_id = Payment.objects.get(order=due[0]).provider_payment_id
        assert LocalPaymentIntent.objects.get(pk=intent_id).status == LocalPaymentIntent.Status.CANCELED

    def test_the_batch_argument_overrides_the_setting(self):
        gig = gig_with_plan()
        orders = [place_order(gig=gig) for _ in range(3)]
        with time_machine.travel(orders[-1].expires_at + timedelta(seconds=1)):
            assert services.orders_expire_sweep(batch=1) == 3
        assert set(Order.objects.values_list("status", flat=True)) == {Order.Status.EXPIRED}

    def test_the_now_argument_is_honoured(self, order):
        later = order.expires_at + timedelta(minutes=1)
        assert services.orders_expire_sweep(now=later) == 1
        assert Order.objects.get(pk=order.pk).status == Order.Status.EXPIRED


class TestWebhookInboxSweep:
    def test_requeues_old_unprocessed_events_and_they_get_processed(self, eager_tasks):
        gig = gig_with_plan()
        lost, failed, fresh, done = (place_order(gig=gig) for _ in range(4))
        start = timezone.now()
        with time_machine.travel(start - timedelta(minutes=5)):
            done_payment = pay(done)  # first: pay() processes every received event
            lost_row, _ = services.webhook_event_store(
                event=intent_event("payment_intent.succeeded", services.payment_start(order=lost)), source="stripe"
            )
            failed_row, _ = services.webhook_event_store(
                event=intent_event("payment_intent.succeeded", services.payment_start(order=failed)), source="stripe"
            )
            WebhookEvent.objects.filter(pk=failed_row.pk).update(status=WebhookEvent.Status.FAILED, error="boom")
        with time_machine.travel(start - timedelta(seconds=30)):
            fresh_row, _ = services.webhook_event_store(
                event=intent_event("payment_intent.succeeded", services.payment_start(order=fresh)), source="stripe"
            )

        with time_machine.travel(start):
            assert services.webhook_inbox_sweep() == 2

        statuses = dict(WebhookEvent.objects.values_list("pk", "status"))
        assert statuses[lost_row.pk] == statuses[failed_row.pk] == WebhookEvent.Status.PROCESSED
        assert statuses[fresh_row.pk] == WebhookEvent.Status.RECEIVED  # under a minute old: not lost yet
        assert WebhookEvent.objects.get(pk=failed_row.pk).error == ""
        assert_funded_once(lost)
        assert_funded_once(failed)
        assert_not_funded(fresh)
        assert funding_count(done) == 1 and done_payment.status == Payment.Status.SUCCEEDED
        with time_machine.travel(start):
            assert services.webhook_inbox_sweep() == 0
