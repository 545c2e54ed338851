"""Races on every money transition, on real PostgreSQL with real concurrent transactions: threads
released together by a barrier, each with its own database connection (closed at the end).

Each test asserts exactly one effect (one inbox row, one funding, one order, one success) and a
balanced ledger. Tasks queued on commit go to the test Redis, where no worker consumes them: the
threads do the processing themselves, which is what a worker would do.
"""

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from gigs.tests.factories import UserFactory
from milestones.models import Order, OrderEvent, OrderMilestone
from payments import ledger, services
from payments.gateways import gateway
from payments.gateways.local import CARD_SUCCEEDS
from payments.models import LedgerEntry, LedgerTransaction, LocalPaymentIntent, Payment, Receipt, WebhookEvent
from payments.tests.factories import gig_with_plan, place_order, process_inbox

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 20


def race(n: int, fn: Callable[[int], object]) -> list:
    """Run fn(0..n-1) in n threads started together; return their results, re-raise the first error."""
    barrier = threading.Barrier(n)
    results: list = [None] * n
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = fn(i)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            errors.append(exc)
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=run, args=(i,), name=f"race-{i}") for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=90)
    assert not any(t.is_alive() for t in threads), "a thread is stuck (deadlock?)"
    if errors:
        raise errors[0]
    return results


def stagger(i: int, step: float = 0.002) -> None:
    """Released all at once, one side of a race tends to win every time. Even threads act on
    order k = i // 2 after k steps (2 ms), odd threads sweep after about 8 ms: the first orders are
    paid before the sweep, the sweep meets others while they are locked (skip_locked), and the
    last ones come after it."""
    time.sleep(step * (i // 2) if i % 2 == 0 else 0.008 + 0.0005 * i)


def succeeded_event(payment: Payment) -> dict:
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "object": "event",
        "type": "payment_intent.succeeded",
        "data": {
            "object": {
                "id": payment.provider_payment_id,
                "object": "payment_intent",
                "amount": payment.amount_minor,
                "currency": payment.currency.lower(),
                "latest_charge": "ch_race",
                "status": "succeeded",
            }
        },
    }


def assert_funded_exactly_once(order: Order) -> None:
    order.refresh_from_db()
    assert order.status == Order.Status.ACTIVE
    funding = LedgerTransaction.objects.filter(order=order, kind=LedgerTransaction.Kind.ORDER_FUNDED)
    assert funding.count() == 1
    assert LedgerEntry.objects.filter(transaction__order=order).count() == 3
    assert ledger.escrow_balance(order) == order.subtotal_minor
    assert Payment.objects.get(order=order).status == Payment.Status.SUCCEEDED
    assert Receipt.objects.filter(order=order).count() == 1
    assert OrderEvent.objects.filter(order=order, milestone=None, to_status=Order.Status.ACTIVE).count() == 1
    assert OrderEvent.objects.filter(order=order, to_status=OrderMilestone.Status.IN_PROGRESS).count() == 1
    assert all(total == 0 for total in ledger.trial_balance().values())


def test_the_same_event_delivered_by_20_threads_is_stored_once_and_funds_once():
    order = place_order()
    payment = services.payment_start(order=order)
    event = succeeded_event(payment)

    def deliver(_: int) -> bool:
        row, created = services.webhook_event_store(event=event, source="stripe")
        services.webhook_event_process(event_pk=row.pk)
        return created

    created = race(THREADS, deliver)

    assert created.count(True) == 1
    row = WebhookEvent.objects.get()
    assert (row.event_id, row.status, row.attempts) == (event["id"], WebhookEvent.Status.PROCESSED, 1)
    assert_funded_exactly_once(order)


def test_20_different_success_events_for_one_intent_fund_once():
    order = place_order()
    payment = services.payment_start(order=order)
    events = [succeeded_event(payment) for _ in range(THREADS)]

    def deliver(i: int) -> None:
        row, _ = services.webhook_event_store(event=events[i], source="stripe")
        services.webhook_event_process(event_pk=row.pk)

    race(THREADS, deliver)

    assert WebhookEvent.objects.filter(status=WebhookEvent.Status.PROCESSED).count() == THREADS
    assert_funded_exactly_once(order)


def test_20_submissions_of_the_4242_card_on_one_intent_succeed_once():
    order = place_order()
    payment = services.payment_start(order=order)

    outcomes = race(THREADS, lambda _: gateway().submit_card(payment.provider_payment_id, CARD_SUCCEEDS).status)

    assert Counter(outcomes) == {"succeeded": 1, "already_paid": THREADS - 1}
    assert WebhookEvent.objects.filter(type="payment_intent.succeeded").count() == 1
    intent = LocalPaymentIntent.objects.get(pk=payment.provider_payment_id)
    assert intent.status == LocalPaymentIntent.Status.SUCCEEDED
    process_inbox()
    assert_funded_exactly_once(order)


def test_20_checkouts_with_the_same_token_place_one_order():
    gig, buyer, token = gig_with_plan(), UserFactory(), uuid.uuid4()

    def checkout(_: int) -> tuple[int, bool]:
        order, created = services.checkout_place_order(
            buyer=buyer, gig=gig, tier="standard", checkout_token=token, answers={}
        )
        return order.pk, created

    results = race(THREADS, checkout)

    assert len({pk for pk, _ in results}) == 1
    assert [created for _, created in results].count(True) == 1
    order = Order.objects.get()
    assert order.milestones.count() == 3
    assert order.events.count() == 1


def test_20_checkouts_of_one_package_with_different_tokens_place_one_order():
    """Twenty tabs (or devices) place the same package at once, each with its own checkout token:
    one order (the database allows one unpaid order per buyer, gig and package), which every
    request gets back, with one buyer's answers."""
    gig, buyer = gig_with_plan(), UserFactory()
    question = gig.requirements.create(question="Brand?", required=True, position=0)
    tokens = [uuid.uuid4() for _ in range(THREADS)]

    def checkout(i: int) -> tuple[int, bool]:
        order, created = services.checkout_place_order(
            buyer=buyer, gig=gig, tier="standard", checkout_token=tokens[i], answers={question.pk: f"tab {i}"}
        )
        return order.pk, created

    results = race(THREADS, checkout)

    order = Order.objects.get()
    assert {pk for pk, _ in results} == {order.pk}
    assert [created for _, created in results].count(True) == 1
    assert order.status == Order.Status.PENDING_PAYMENT and order.checkout_token in tokens
    assert order.milestones.count() == 3
    assert order.events.filter(reason="placed").count() == 1
    [answer] = order.requirements
    assert answer["answer"] in {f"tab {i}" for i in range(THREADS)}
    # And one payment for it, whichever tab goes on to pay.
    payments = race(THREADS, lambda _: services.payment_start(order=order).pk)
    assert len(set(payments)) == 1 and Payment.objects.count() == 1


def test_the_expiry_sweep_racing_with_payment_success_leaves_the_orders_active_and_funded_once():
    """The buyer's card was charged before the window closed, but the success event is processed
    while sweeps run: whichever wins, the order ends active, funded once (an expired order is
    revived by the payment, Order.TRANSITIONS)."""
    gig = gig_with_plan()
    orders, rows = [], []
    for _ in range(THREADS // 2):
        order = place_order(gig=gig)
        payment = services.payment_start(order=order)
        assert gateway().submit_card(payment.provider_payment_id, CARD_SUCCEEDS).status == "succeeded"
        orders.append(order)
        rows.append(WebhookEvent.objects.get(payload__data__object__id=payment.provider_payment_id))
    Order.objects.filter(pk__in=[o.pk for o in orders]).update(expires_at=timezone.now() - timedelta(minutes=1))

    def work(i: int) -> None:
        stagger(i)
        if i % 2:
            services.orders_expire_sweep()
        else:
            services.webhook_event_process(event_pk=rows[i // 2].pk)

    race(THREADS, work)
    process_inbox()  # the canceled events of intents the sweep tried to cancel, if any

    for order in orders:
        assert_funded_exactly_once(order)
        payment = Payment.objects.get(order=order)
        assert LocalPaymentIntent.objects.get(pk=payment.provider_payment_id).status == "succeeded"
    statuses = Counter(OrderEvent.objects.filter(milestone=None).values_list("from_status", "to_status"))
    assert statuses[("", "pending_payment")] == len(orders)
    assert statuses[("pending_payment", "active")] + statuses[("expired", "active")] == len(orders)


def test_the_expiry_sweep_racing_with_the_card_page_charges_only_orders_it_funds():
    """Card submissions race the sweep on due orders: a buyer is charged exactly when the order is
    funded; otherwise the card page refuses the canceled intent and the order stays expired."""
    gig = gig_with_plan()
    payments = [services.payment_start(order=place_order(gig=gig)) for _ in range(THREADS // 2)]
    Order.objects.update(expires_at=timezone.now() - timedelta(minutes=1))

    def work(i: int) -> str | None:
        stagger(i, step=0.025)  # the sweep cancels intents after its transaction: reach past it
        if i % 2:
            services.orders_expire_sweep()
            return None
        return gateway().submit_card(payments[i // 2].provider_payment_id, CARD_SUCCEEDS).status

    outcomes = race(THREADS, work)[::2]
    process_inbox()

    for payment, outcome in zip(payments, outcomes, strict=True):
        payment.refresh_from_db()
        intent = LocalPaymentIntent.objects.get(pk=payment.provider_payment_id)
        if outcome == "succeeded":
            assert intent.status == LocalPaymentIntent.Status.SUCCEEDED
            assert_funded_exactly_once(payment.order)
        else:
            assert outcome == "failed"
            assert intent.status == LocalPaymentIntent.Status.CANCELED
            assert payment.order.status == Order.Status.EXPIRED
            assert not LedgerTransaction.objects.filter(order=payment.order).exists()
    assert all(total == 0 for total in ledger.trial_balance().values())
