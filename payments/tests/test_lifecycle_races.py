"""Races on the lifecycle's money transitions, on real PostgreSQL with real concurrent
transactions: threads released together by a barrier, each with its own connection (closed at the
end; payments.tests.test_races.race).

Each test asserts exactly one effect per milestone (one release posting, or one refund), and ends
with the books checked (payments.tests.test_lifecycle.assert_books). Tasks queued on commit go to
the test Redis, where no worker consumes them: the threads call the services themselves.
"""

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from marketplace.exceptions import DomainError
from milestones import lifecycle as states
from milestones.models import CancellationRequest, Notification, Order, OrderEvent, OrderMilestone
from payments import lifecycle
from payments.models import LedgerTransaction, LocalRefund, LocalTransfer, Payment, Payout, Refund
from payments.tests.factories import gig_with_plan
from payments.tests.test_lifecycle import (
    accept,
    assert_books,
    deliver,
    fresh,
    milestones_of,
    paid_order,
    pin_rules,
)
from payments.tests.test_races import THREADS, race

pytestmark = pytest.mark.django_db(transaction=True)

S = OrderMilestone.Status
K = LedgerTransaction.Kind


@pytest.fixture(autouse=True)
def _rules(settings):
    pin_rules(settings)


def orders_with_delivered_first_milestone(n: int, *, due: bool = True) -> list[Order]:
    """n paid orders whose first milestone is delivered; with `due`, its review deadline has passed."""
    gig = gig_with_plan()
    orders = [paid_order(gig=gig) for _ in range(n)]
    for o in orders:
        deliver(milestones_of(o)[0])
    if due:
        OrderMilestone.objects.filter(status=S.DELIVERED).update(review_deadline=timezone.now() - timedelta(seconds=1))
    return orders


def refused(call) -> object:
    """Call; a refusal (a DomainError: InvalidTransition, NotFound...) is an outcome, not an error."""
    try:
        return call()
    except DomainError as exc:
        return exc.code


def releases(m: OrderMilestone) -> int:
    return LedgerTransaction.objects.filter(reference=f"milestone-{m.pk}-released").count()


def refunds_of(m: OrderMilestone) -> int:
    return sum(m.pk in r.milestone_ids for r in Refund.objects.filter(order_id=m.order_id))


# --- acceptance, auto-release, cancellation at once --------------------------------------------


def test_buyer_accept_auto_release_and_cancellation_on_one_delivered_milestone_release_it_once():
    """The seller asked to cancel milestone 1, then delivered it anyway; its review deadline has
    passed and the request has expired. At once: the buyer accepts, the buyer accepts the
    cancellation, two auto-release sweeps and the cancellation-expiry sweep run. The delivered
    milestone can only be accepted: released exactly once, nothing refunded."""
    gig = gig_with_plan()
    orders = [paid_order(gig=gig) for _ in range(6)]
    requests = {}
    for o in orders:
        m1 = milestones_of(o)[0]
        requests[o.pk] = lifecycle.cancellation_request(milestone_id=m1.pk, user=o.seller, reason="Too busy.")
        deliver(m1)
    past = timezone.now() - timedelta(seconds=1)
    OrderMilestone.objects.filter(status=S.DELIVERED).update(review_deadline=past)
    CancellationRequest.objects.update(expires_at=past)

    jobs = []
    for o in orders:
        m1 = milestones_of(o)[0]
        jobs.append(lambda m1=m1: accept(m1).status)
        jobs.append(
            lambda o=o: lifecycle.cancellation_answer(request_id=requests[o.pk].pk, user=o.buyer, accept=True).status
        )
    jobs += [lifecycle.auto_release_sweep, lifecycle.auto_release_sweep, lifecycle.cancellation_requests_expire_sweep]

    outcomes = race(len(jobs), lambda i: refused(jobs[i]))

    answers = set(outcomes[1 : 2 * len(orders) : 2])
    assert answers <= {"invalid_transition", CancellationRequest.Status.WITHDRAWN}, answers
    for o in orders:
        m1, m2, m3 = milestones_of(o)
        assert (m1.status, m2.status, m3.status) == (S.ACCEPTED, S.IN_PROGRESS, S.LOCKED)
        assert (releases(m1), refunds_of(m1)) == (1, 0)
        assert OrderEvent.objects.filter(milestone=m1, to_status=S.ACCEPTED).count() == 1
        assert fresh(requests[o.pk]).status in (CancellationRequest.Status.OPEN, CancellationRequest.Status.WITHDRAWN)
    assert not Refund.objects.exists()
    assert_books()


def test_delivery_and_acceptance_racing_cancellation_by_agreement_end_in_exactly_one_outcome(settings):
    """Both outcomes are possible here: the seller asked to cancel milestone 1, then delivers it
    (review window 0: due for the sweep at once) and the buyer accepts, while the buyer accepts the
    cancellation and the sweeps run. Per order: released once, or cancelled and refunded once."""
    pin_rules(settings, REVIEW_DAYS=0)
    gig = gig_with_plan()
    orders = [paid_order(gig=gig) for _ in range(8)]
    requests = {
        o.pk: lifecycle.cancellation_request(milestone_id=milestones_of(o)[0].pk, user=o.seller, reason="Busy.")
        for o in orders
    }
    CancellationRequest.objects.update(expires_at=timezone.now() + timedelta(milliseconds=30))

    def deliver_then_accept(o: Order) -> str:
        time.sleep(0.002 * (o.pk % 5))
        m1 = milestones_of(o)[0]
        refused(lambda: deliver(m1))
        return refused(lambda: accept(m1).status)

    def answer(o: Order) -> str:
        time.sleep(0.002 * ((o.pk + 2) % 5))
        return refused(
            lambda: lifecycle.cancellation_answer(request_id=requests[o.pk].pk, user=o.buyer, accept=True).status
        )

    def sweeps(i: int) -> int:
        done = 0
        for _ in range(5):
            done += lifecycle.auto_release_sweep() + lifecycle.cancellation_requests_expire_sweep()
            time.sleep(0.01 * (i + 1))
        return done

    jobs = [lambda o=o: deliver_then_accept(o) for o in orders] + [lambda o=o: answer(o) for o in orders]
    jobs += [lambda: sweeps(0), lambda: sweeps(1)]
    race(len(jobs), lambda i: jobs[i]())

    outcomes = Counter()
    for o in orders:
        m1, m2, m3 = milestones_of(o)
        if m1.status == S.ACCEPTED:
            outcomes["released"] += 1
            assert (releases(m1), refunds_of(m1)) == (1, 0)
            assert not Refund.objects.filter(order=o).exists()
            assert m2.status == S.IN_PROGRESS
        else:
            outcomes["cancelled"] += 1
            assert (m1.status, m2.status, m3.status) == (S.CANCELLED, S.CANCELLED, S.CANCELLED)
            assert (releases(m1), refunds_of(m1)) == (0, 1)
            [refund] = Refund.objects.filter(order=o)
            assert refund.amount_minor == o.subtotal_minor
            assert fresh(o).status == Order.Status.CANCELLED
        assert OrderEvent.objects.filter(milestone=m1, to_status__in=[S.ACCEPTED, S.CANCELLED]).count() == 1
    assert sum(outcomes.values()) == len(orders)
    print("outcomes:", dict(outcomes))
    assert_books()


# --- sweeps and drains at once -----------------------------------------------------------------


def test_concurrent_auto_release_sweeps_release_each_milestone_once(settings):
    pin_rules(settings, SWEEP_BATCH=4)
    orders = orders_with_delivered_first_milestone(30)

    released = race(4, lambda _: lifecycle.auto_release_sweep())

    assert sum(released) == 30
    assert LedgerTransaction.objects.filter(kind=K.MILESTONE_RELEASED).count() == 30
    assert Payout.objects.count() == 30
    for o in orders:
        m1 = milestones_of(o)[0]
        assert (m1.status, m1.auto_accepted, releases(m1)) == (S.ACCEPTED, True, 1)
    assert Notification.objects.filter(kind="auto_released").count() == 60  # buyer and seller, once each
    # Milestone 2 of each order started (milestone 1's were told when the orders were funded).
    assert Notification.objects.filter(kind="milestone_started", milestone__position=1).count() == 60
    assert lifecycle.auto_release_sweep() == 0
    assert_books()


def test_a_sweep_that_meets_only_locked_rows_gives_up_and_the_next_run_releases_them(settings):
    """Another transaction holds every due order (another sweep, buyers accepting): the sweep
    skips them batch after batch, and after ten batches' worth it leaves them to the holder or to
    the next run instead of growing its exclusion list without end."""
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    pin_rules(settings, SWEEP_BATCH=2)
    orders = orders_with_delivered_first_milestone(50)
    holding, done = threading.Event(), threading.Event()

    def hold():
        try:
            with transaction.atomic():
                list(Order.objects.select_for_update().filter(pk__in=[o.pk for o in orders]))
                holding.set()
                done.wait(30)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(30)
        with CaptureQueriesContext(connection) as queries:
            assert lifecycle.auto_release_sweep() == 0
        lock_queries = [q for q in queries if "SKIP LOCKED" in q["sql"]]
        assert len(lock_queries) == 11  # 22 orders skipped > 10 batches of 2, not all 25 batches
    finally:
        done.set()
        holder.join()
    assert lifecycle.auto_release_sweep() == 50
    assert_books()


def test_concurrent_transfer_drains_send_each_payout_once(settings):
    pin_rules(settings, CLEARANCE_DAYS=0)
    orders = orders_with_delivered_first_milestone(15)
    for o in orders:
        accept(milestones_of(o)[0])
    assert lifecycle.payouts_clear_sweep() == 15

    sent = race(4, lambda _: lifecycle.payouts_transfer_drain())

    assert LocalTransfer.objects.count() == 15
    assert LedgerTransaction.objects.filter(kind=K.PAYOUT_TRANSFERRED).count() == 15
    assert set(Payout.objects.values_list("status", "attempts")) == {(Payout.Status.TRANSFERRED, 1)}
    assert_books()
    # "Returns how many were transferred": by this drain, not also those another drain sent.
    assert sum(sent) == 15, f"the drains reported {sent} transfers for 15 payouts"


def test_concurrent_clearance_sweeps_clear_each_payout_once(settings):
    pin_rules(settings, CLEARANCE_DAYS=0, SWEEP_BATCH=3)
    for o in orders_with_delivered_first_milestone(12):
        accept(milestones_of(o)[0])

    cleared = race(4, lambda _: lifecycle.payouts_clear_sweep())

    assert sum(cleared) == 12
    assert LedgerTransaction.objects.filter(kind=K.PAYOUT_CLEARED).count() == 12
    assert_books()


# --- one action by many hands at once ----------------------------------------------------------


def test_the_buyer_accepting_twenty_times_at_once_releases_once():
    [order] = orders_with_delivered_first_milestone(1, due=False)
    m1 = milestones_of(order)[0]

    statuses = race(THREADS, lambda _: accept(m1).status)

    assert set(statuses) == {S.ACCEPTED}
    assert releases(m1) == 1 and Payout.objects.count() == 1
    assert fresh(milestones_of(order)[1]).status == S.IN_PROGRESS
    assert OrderEvent.objects.filter(to_status=S.IN_PROGRESS, milestone=milestones_of(order)[1]).count() == 1
    assert_books()


def test_stopping_the_order_twenty_times_at_once_refunds_once():
    [order] = orders_with_delivered_first_milestone(1, due=False)
    accept(milestones_of(order)[0])

    outcomes = race(THREADS, lambda _: refused(lambda: lifecycle.order_stop(order_id=order.pk, buyer=order.buyer).pk))

    [refund] = Refund.objects.all()
    assert Counter(outcomes) == {refund.pk: 1, "invalid_transition": THREADS - 1}
    assert LedgerTransaction.objects.filter(kind=K.MILESTONES_REFUNDED).count() == 1
    assert_books()


def test_a_refund_sent_by_twenty_workers_at_once_is_made_and_recorded_once():
    [order] = orders_with_delivered_first_milestone(1, due=False)
    accept(milestones_of(order)[0])
    refund = lifecycle.order_stop(order_id=order.pk, buyer=order.buyer)

    race(THREADS, lambda _: lifecycle.refund_send(refund_id=refund.pk))

    assert LocalRefund.objects.count() == 1
    assert LedgerTransaction.objects.filter(reference=f"{refund.idempotency_key}-paid").count() == 1
    assert Payment.objects.get(order=order).refunded_minor == refund.amount_minor == 2500
    assert fresh(refund).status == Refund.Status.SUCCEEDED
    assert_books()


def test_one_cancellation_request_answered_both_ways_at_once_has_one_answer():
    order = paid_order()
    m1 = milestones_of(order)[0]
    req = lifecycle.cancellation_request(milestone_id=m1.pk, user=order.buyer, reason="Changed my mind.")

    race(
        THREADS,
        lambda i: lifecycle.cancellation_answer(request_id=req.pk, user=order.seller, accept=i % 2 == 0).status,
    )

    req = fresh(req)
    assert req.status in (CancellationRequest.Status.ACCEPTED, CancellationRequest.Status.DECLINED)
    assert Refund.objects.count() == (1 if req.status == CancellationRequest.Status.ACCEPTED else 0)
    assert_books()


# --- lock order: the review reminders ----------------------------------------------------------


def test_a_review_reminder_sent_while_the_buyer_accepts_does_not_deadlock(monkeypatch):
    """Every writer locks the order, then its milestones. review_reminders_sweep updates the
    milestone first (its row lock) and only touches the order at commit, when the foreign-key
    checks of the notification it inserted take KEY SHARE locks on the order, which conflict
    with the FOR UPDATE lock milestone_accept holds while it waits for the milestone. Here the
    reminder's transaction is still open (it just inserted its notification) when the buyer
    accepts: both should finish."""
    [order] = orders_with_delivered_first_milestone(1, due=False)
    m1 = milestones_of(order)[0]
    OrderMilestone.objects.filter(pk=m1.pk).update(review_deadline=timezone.now() + timedelta(hours=47))
    reminder_open = threading.Event()
    real_notify_many = states.notify_many

    def notify_and_linger(items):
        rows = real_notify_many(items)
        if any(item["kind"] == "review_reminder" for item in items):
            reminder_open.set()
            time.sleep(0.5)  # the buyer's acceptance arrives meanwhile
        return rows

    monkeypatch.setattr(states, "notify_many", notify_and_linger)

    def work(i: int):
        if i == 0:
            return states.review_reminders_sweep()
        assert reminder_open.wait(timeout=10)
        return accept(m1).status

    sent, status = race(2, work)

    assert (sent, status) == (1, S.ACCEPTED)
    assert releases(m1) == 1
    assert_books()


# --- the cancellation-expiry and reminder sweeps share rows (skip_locked) ---------------------


def test_concurrent_reminder_sweeps_send_each_reminder_once(settings):
    pin_rules(settings, SWEEP_BATCH=3)
    orders = orders_with_delivered_first_milestone(12, due=False)
    OrderMilestone.objects.filter(status=S.DELIVERED).update(review_deadline=timezone.now() + timedelta(hours=47))

    def sweeps(_: int) -> int:
        return sum(states.review_reminders_sweep() for _ in range(6))

    sent = race(4, sweeps)

    assert sum(sent) == 12
    assert Notification.objects.filter(kind="review_reminder").count() == 12
    assert all(milestones_of(o)[0].reminded_48h for o in orders)
    assert_books()


def test_concurrent_expiry_sweeps_accept_each_request_once():
    gig = gig_with_plan()
    orders = [paid_order(gig=gig) for _ in range(8)]
    for o in orders:
        lifecycle.cancellation_request(milestone_id=milestones_of(o)[0].pk, user=o.buyer, reason="Plans changed.")
    CancellationRequest.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    accepted = race(4, lambda _: lifecycle.cancellation_requests_expire_sweep())

    assert sum(accepted) == 8
    assert set(CancellationRequest.objects.values_list("status", "auto_accepted")) == {
        (CancellationRequest.Status.ACCEPTED, True)
    }
    assert Refund.objects.count() == 8
    assert LedgerTransaction.objects.filter(kind=K.MILESTONES_REFUNDED).count() == 8
    assert_books()


def test_the_sweeps_skip_an_order_someone_holds_instead_of_waiting():
    """A buyer's transaction holds order A (as milestone_accept does while it works): the expiry
    and reminder sweeps handle order B and leave A to their next run, without waiting."""
    gig = gig_with_plan()
    held, free = paid_order(gig=gig), paid_order(gig=gig)
    reminded_held, reminded_free = orders_with_delivered_first_milestone(2, due=False)
    for o in (held, free):
        lifecycle.cancellation_request(milestone_id=milestones_of(o)[0].pk, user=o.seller, reason="Away.")
    CancellationRequest.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    OrderMilestone.objects.filter(status=S.DELIVERED).update(review_deadline=timezone.now() + timedelta(hours=30))
    locked, done = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                list(Order.objects.select_for_update().filter(pk__in=[held.pk, reminded_held.pk]))
                locked.set()
                done.wait(timeout=20)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(timeout=10)
        started = time.monotonic()
        assert lifecycle.cancellation_requests_expire_sweep() == 1
        assert states.review_reminders_sweep() == 1
        assert time.monotonic() - started < 5  # nobody waited for the holder
    finally:
        done.set()
        holder.join(timeout=30)
    assert milestones_of(free)[0].status == S.CANCELLED and milestones_of(held)[0].status == S.IN_PROGRESS
    assert (milestones_of(reminded_free)[0].reminded_48h, milestones_of(reminded_held)[0].reminded_48h) == (True, False)

    # Released: the next runs finish the job.
    assert lifecycle.cancellation_requests_expire_sweep() == 1
    assert states.review_reminders_sweep() == 1
    assert milestones_of(held)[0].status == S.CANCELLED and milestones_of(reminded_held)[0].reminded_48h
    assert_books()
