"""The money of the milestone lifecycle (payments.lifecycle), with the clock under time-machine:
acceptance and release, the auto-release sweep, clearance, transfers to sellers (success, failure
with backoff and reconciliation, a stuck transfer), stopping an order, late cancellation,
cancellation by agreement and its expiry sweep, and a provider's charge.refunded event racing our
own refund.

Every test ends with the books checked (`assert_books`, an autouse fixture): the ledger balances
and every account agrees with the rows it mirrors (escrow = subtotal - released - cancelled, one
release posting and one payout per accepted milestone, refunds payable = pending refunds, sellers'
pending and available balances = their payouts, platform cash = funded - transferred - refunded).
The helpers here are shared with the other lifecycle test modules.
"""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection, transaction
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from gigs.tests.factories import UserFactory
from marketplace.exceptions import DomainError, NotFound, ValidationFailed
from milestones import lifecycle as states
from milestones.exceptions import InvalidTransition
from milestones.models import CancellationRequest, Delivery, Notification, Order, OrderEvent, OrderMilestone
from payments import ledger, lifecycle, services
from payments.exceptions import ProviderUnavailable
from payments.gateways import gateway
from payments.gateways.local import LocalGateway
from payments.keys import idempotency_key
from payments.models import LedgerEntry, LedgerTransaction, LocalRefund, LocalTransfer, Payment, Payout, Refund
from payments.tasks import (
    auto_release_sweep_task,
    payouts_clear_sweep_task,
    refund_send_task,
    refunds_retry_sweep_task,
)
from payments.tests.factories import gig_with_plan, pay, place_order

pytestmark = pytest.mark.django_db

S = OrderMilestone.Status
K = LedgerTransaction.Kind
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
# gig_with_plan's Standard package: (price, delivery days, revisions) of its three milestones.
PRICES = [2000, 3000, 2500]
COMMISSIONS = [400, 600, 500]  # 20 % of each
RULES = {
    "REVIEW_DAYS": 3,
    "REVIEW_REMINDER_HOURS": [48, 24],
    "CLEARANCE_DAYS": 7,
    "CANCELLATION_ANSWER_HOURS": 48,
    "LATE_CANCEL_HOURS": 24,
    "PAYOUT_RECONCILE_HOURS": 24,
    "SWEEP_BATCH": 500,
    "SELLER_COMMISSION_BPS": 2000,
    "UPLOAD_MAX_FILES": 10,
    "UPLOAD_MAX_BYTES": 25 * 1024 * 1024,
    "UPLOAD_EXTENSIONS": ["pdf", "png", "jpg", "zip", "txt"],
}


# --- helpers shared by the lifecycle test modules ----------------------------------------------


def pin_rules(settings, **changes) -> None:
    """Pin the lifecycle settings these tests rely on (an environment override cannot change
    what they mean); `changes` overrides some."""
    settings.MARKETPLACE = {**settings.MARKETPLACE, **RULES, **changes}


def paid_order(*, gig=None, buyer=None) -> Order:
    """A Standard order of gig_with_plan, paid with the local provider: active, milestone 1 started."""
    order = place_order(gig=gig or gig_with_plan(), buyer=buyer)
    pay(order)
    order.refresh_from_db()
    assert order.status == Order.Status.ACTIVE
    return order


def milestones_of(order: Order) -> list[OrderMilestone]:
    return list(OrderMilestone.objects.filter(order=order).order_by("position"))


def fresh(obj):
    return type(obj).objects.get(pk=obj.pk)


def deliver(m: OrderMilestone, files=()) -> Delivery:
    order = Order.objects.get(pk=m.order_id)
    return states.milestone_deliver(milestone_id=m.pk, seller=order.seller, message="Here it is.", files=list(files))


def accept(m: OrderMilestone) -> OrderMilestone:
    return lifecycle.milestone_accept(milestone_id=m.pk, buyer=Order.objects.get(pk=m.order_id).buyer)


def legs(reference: str) -> dict[str, int]:
    txn = LedgerTransaction.objects.get(reference=reference)
    return dict(txn.entries.values_list("account", "amount_minor"))


def owed(account: str, currency: str = "USD") -> int:
    """What a credit-normal account holds (escrow, seller balances, refunds payable)."""
    return -ledger.balance(account, currency)


def _sum(qs, field: str = "amount_minor") -> int:
    return qs.aggregate(s=Sum(field))["s"] or 0


def assert_books() -> None:
    """The ledger balances and agrees with the rows it mirrors, for every order and seller."""
    assert all(total == 0 for total in ledger.trial_balance().values()), ledger.trial_balance()
    cash_expected = 0
    for order in Order.objects.all():
        ms = milestones_of(order)
        released = sum(m.price_minor for m in ms if m.status == S.ACCEPTED)
        cancelled = sum(m.price_minor for m in ms if m.status == S.CANCELLED)
        funded = LedgerTransaction.objects.filter(order=order, kind=K.ORDER_FUNDED).count()
        assert funded in (0, 1)
        escrow = ledger.escrow_balance(order)
        assert escrow == (order.subtotal_minor - released - cancelled if funded else 0), (order.pk, escrow)
        assert escrow >= 0
        accepted = sum(m.status == S.ACCEPTED for m in ms)
        releases = LedgerTransaction.objects.filter(order=order, kind=K.MILESTONE_RELEASED).count()
        assert releases == Payout.objects.filter(order=order).count() == accepted, (order.pk, releases, accepted)
        refunds = Refund.objects.filter(order=order)
        assert _sum(refunds) == cancelled
        pending = _sum(refunds.filter(status=Refund.Status.PENDING))
        sent = _sum(refunds.filter(status=Refund.Status.SUCCEEDED))
        assert owed(ledger.refunds_payable(order.pk), order.currency) == pending
        payment = Payment.objects.filter(order=order).first()
        if payment is not None:
            assert payment.refunded_minor == sent
        if funded:
            cash_expected += order.total_minor - sent
    payouts = Payout.objects.all()
    for seller_id in set(payouts.values_list("seller_id", flat=True)):
        mine = payouts.filter(seller_id=seller_id)
        assert owed(ledger.seller_pending(seller_id)) == _sum(mine.filter(status=Payout.Status.PENDING_CLEARANCE))
        waiting = [Payout.Status.AVAILABLE, Payout.Status.TRANSFERRING, Payout.Status.FAILED]
        assert owed(ledger.seller_available(seller_id)) == _sum(mine.filter(status__in=waiting))
    cash_expected -= _sum(payouts.filter(status=Payout.Status.TRANSFERRED))
    assert ledger.balance(ledger.PLATFORM_CASH, "USD") == cash_expected
    # Each milestone is released or refunded at most once, in total.
    for m in OrderMilestone.objects.all():
        released = LedgerTransaction.objects.filter(reference=f"milestone-{m.pk}-released").count()
        refunded = sum(m.pk in r.milestone_ids for r in Refund.objects.filter(order_id=m.order_id))
        assert released + refunded <= 1, m.pk


def transferred_once(payout: Payout) -> LocalTransfer:
    """The payout was sent once, with its key, and recorded."""
    payout = fresh(payout)
    assert payout.status == Payout.Status.TRANSFERRED
    [transfer] = LocalTransfer.objects.filter(idempotency_key=idempotency_key("payout", payout.pk, "transfer"))
    assert payout.transfer_id == transfer.id
    assert transfer.amount == payout.amount_minor
    assert LedgerTransaction.objects.filter(reference=f"payout-{payout.pk}-transferred").count() == 1
    return transfer


@pytest.fixture(autouse=True)
def _rules(settings):
    pin_rules(settings)


@pytest.fixture
def clock():
    """Time stands still at NOW until the test moves it."""
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture(autouse=True)
def _books(db):
    """Every test ends with the books checked."""
    yield
    assert_books()


@pytest.fixture
def order(clock) -> Order:
    return paid_order()


# --- acceptance and release --------------------------------------------------------------------


class TestAccept:
    def test_releases_escrow_to_the_sellers_pending_balance_less_commission(self, order, clock):
        m1, m2, m3 = milestones_of(order)
        deliver(m1)
        clock.shift(timedelta(hours=5))
        accepted = accept(m1)

        assert accepted.status == S.ACCEPTED
        m1 = fresh(m1)
        assert (m1.status, m1.accepted_at, m1.auto_accepted, m1.review_deadline) == (
            S.ACCEPTED,
            NOW + timedelta(hours=5),
            False,
            None,
        )
        assert legs(f"milestone-{m1.pk}-released") == {
            ledger.escrow(order.pk): 2000,
            ledger.seller_pending(order.seller_id): -1600,
            ledger.PLATFORM_REVENUE: -400,
        }
        assert ledger.escrow_balance(order) == 7500 - 2000
        assert owed(ledger.seller_pending(order.seller_id)) == 1600
        payout = Payout.objects.get(milestone=m1)
        assert (payout.gross_minor, payout.commission_minor, payout.amount_minor, payout.currency) == (
            2000,
            400,
            1600,
            "USD",
        )
        assert (payout.status, payout.seller_id, payout.order_id) == (
            Payout.Status.PENDING_CLEARANCE,
            order.seller_id,
            order.pk,
        )
        assert payout.clears_at == NOW + timedelta(hours=5, days=7)
        # The next milestone starts now, due after its delivery days; the last one waits.
        m2, m3 = fresh(m2), fresh(m3)
        assert (m2.status, m2.started_at, m2.due_at) == (
            S.IN_PROGRESS,
            NOW + timedelta(hours=5),
            NOW + timedelta(days=3, hours=5),
        )
        assert m3.status == S.LOCKED and m3.started_at is None
        assert fresh(order).status == Order.Status.ACTIVE
        events = list(
            OrderEvent.objects.filter(order=order, created_at__gt=NOW).values_list(
                "milestone", "from_status", "to_status", "actor"
            )
        )
        assert events == [(m1.pk, S.DELIVERED, S.ACCEPTED, order.buyer_id), (m2.pk, S.LOCKED, S.IN_PROGRESS, None)]
        kinds = Notification.objects.filter(order=order).values_list("kind", "user_id")
        assert {("accepted", order.buyer_id), ("accepted", order.seller_id)} <= set(kinds)
        assert {("milestone_started", order.buyer_id), ("milestone_started", order.seller_id)} <= set(kinds)

    def test_accepting_the_last_milestone_completes_the_order(self, order, clock):
        for i, m in enumerate(milestones_of(order)):
            deliver(fresh(m))
            clock.shift(timedelta(days=1))
            accept(m)
            assert fresh(order).status == (Order.Status.COMPLETED if i == 2 else Order.Status.ACTIVE)

        assert ledger.escrow_balance(order) == 0
        assert [p.amount_minor for p in Payout.objects.order_by("pk")] == [1600, 2400, 2000]
        assert owed(ledger.seller_pending(order.seller_id)) == 6000
        assert LedgerTransaction.objects.filter(order=order, kind=K.MILESTONE_RELEASED).count() == 3
        completed = OrderEvent.objects.filter(order=order, milestone=None, to_status=Order.Status.COMPLETED)
        assert completed.count() == 1

    def test_accepting_again_is_a_no_op(self, order, clock):
        m1 = milestones_of(order)[0]
        deliver(m1)
        accept(m1)
        counts = (
            LedgerEntry.objects.count(),
            Payout.objects.count(),
            OrderEvent.objects.count(),
            Notification.objects.count(),
        )
        clock.shift(timedelta(hours=1))

        again = accept(m1)

        assert again.status == S.ACCEPTED and again.accepted_at == NOW
        assert counts == (
            LedgerEntry.objects.count(),
            Payout.objects.count(),
            OrderEvent.objects.count(),
            Notification.objects.count(),
        )

    def test_only_the_buyer_accepts_anyone_else_gets_not_found(self, order):
        m1 = milestones_of(order)[0]
        deliver(m1)
        for user in (order.seller, UserFactory()):
            with pytest.raises(NotFound):
                lifecycle.milestone_accept(milestone_id=m1.pk, buyer=user)
        with pytest.raises(NotFound):
            lifecycle.milestone_accept(milestone_id=10**9, buyer=order.buyer)
        assert fresh(m1).status == S.DELIVERED
        assert not Payout.objects.exists()

    def test_only_a_delivered_milestone_can_be_accepted(self, order):
        m1, m2, _ = milestones_of(order)
        for m in (m1, m2):  # in progress, not started
            with pytest.raises(InvalidTransition) as caught:
                accept(m)
            assert caught.value.code == "invalid_transition"
        deliver(m1)
        states.milestone_request_revision(milestone_id=m1.pk, buyer=order.buyer, reason="Bigger logo.")
        with pytest.raises(InvalidTransition):
            accept(m1)  # revision requested: the seller delivers again first
        assert not LedgerTransaction.objects.filter(kind=K.MILESTONE_RELEASED).exists()


# --- the auto-release sweep --------------------------------------------------------------------


class TestAutoReleaseSweep:
    def test_releases_only_milestones_past_their_review_deadline(self, clock):
        gig = gig_with_plan()
        due, not_yet, working = paid_order(gig=gig), paid_order(gig=gig), paid_order(gig=gig)
        deliver(milestones_of(due)[0])
        clock.shift(timedelta(days=1))
        deliver(milestones_of(not_yet)[0])

        clock.move_to(NOW + timedelta(days=3) - timedelta(seconds=1))
        assert lifecycle.auto_release_sweep() == 0
        clock.move_to(NOW + timedelta(days=3))  # the deadline itself
        assert lifecycle.auto_release_sweep() == 1

        m = milestones_of(due)[0]
        assert (m.status, m.auto_accepted, m.accepted_at) == (S.ACCEPTED, True, NOW + timedelta(days=3))
        event = OrderEvent.objects.get(milestone=m, to_status=S.ACCEPTED)
        assert event.actor is None and "automatically" in event.reason
        assert milestones_of(due)[1].status == S.IN_PROGRESS
        assert milestones_of(not_yet)[0].status == S.DELIVERED
        assert milestones_of(working)[0].status == S.IN_PROGRESS
        assert Payout.objects.get().milestone_id == m.pk

        clock.move_to(NOW + timedelta(days=4))
        assert lifecycle.auto_release_sweep() == 1  # the second one, now due
        assert milestones_of(not_yet)[0].auto_accepted

    def test_notifies_each_party_once_however_often_it_runs(self, order, clock):
        deliver(milestones_of(order)[0])
        clock.shift(timedelta(days=3))
        assert lifecycle.auto_release_sweep() == 1
        assert lifecycle.auto_release_sweep() == 0
        assert lifecycle.auto_release_sweep(now=NOW + timedelta(days=30)) == 0
        notes = Notification.objects.filter(kind="auto_released")
        assert sorted(notes.values_list("user_id", flat=True)) == sorted([order.buyer_id, order.seller_id])
        assert LedgerTransaction.objects.filter(kind=K.MILESTONE_RELEASED).count() == 1

    def test_shards_split_the_orders_and_together_release_them_all(self, clock):
        gig = gig_with_plan()
        orders = [paid_order(gig=gig) for _ in range(6)]
        for o in orders:
            deliver(milestones_of(o)[0])
        clock.shift(timedelta(days=3))

        assert lifecycle.auto_release_sweep(shard=1, shards=3) == sum(o.pk % 3 == 1 for o in orders)
        released = {o.pk for o in orders if milestones_of(o)[0].status == S.ACCEPTED}
        assert released == {o.pk for o in orders if o.pk % 3 == 1}
        assert lifecycle.auto_release_sweep(shard=0, shards=3) + lifecycle.auto_release_sweep(shard=2, shards=3) == (
            len(orders) - len(released)
        )
        assert all(milestones_of(o)[0].status == S.ACCEPTED for o in orders)
        assert Payout.objects.count() == len(orders)
        assert ledger.trial_balance() == {"USD": 0}

    def test_the_beat_task_fans_out_one_task_per_shard(self, settings, clock):
        from marketplace.celery import app

        gig = gig_with_plan()
        orders = [paid_order(gig=gig) for _ in range(4)]
        for o in orders:
            deliver(milestones_of(o)[0])
        clock.shift(timedelta(days=3))
        settings.MARKETPLACE = {**settings.MARKETPLACE, "SWEEP_SHARDS": 2}
        before = app.conf.task_always_eager
        app.conf.task_always_eager = True  # the shard tasks run here, in order, as a worker would run them
        try:
            assert auto_release_sweep_task() == 0  # it only queued the shards
        finally:
            app.conf.task_always_eager = before
        assert all(milestones_of(o)[0].status == S.ACCEPTED for o in orders)
        assert LedgerTransaction.objects.filter(kind=K.MILESTONE_RELEASED).count() == 4

    def test_works_in_batches(self, clock):
        gig = gig_with_plan()
        orders = [paid_order(gig=gig) for _ in range(5)]
        for o in orders:
            deliver(milestones_of(o)[0])
        clock.shift(timedelta(days=3))

        with CaptureQueriesContext(connection) as queries:
            assert lifecycle.auto_release_sweep(batch=2) == 5

        locks = [q["sql"] for q in queries if "SKIP LOCKED" in q["sql"]]
        assert len(locks) == 3  # 2 + 2 + 1
        assert all(milestones_of(o)[0].status == S.ACCEPTED for o in orders)

    def test_the_batch_size_comes_from_settings(self, settings, clock):
        pin_rules(settings, SWEEP_BATCH=1)
        gig = gig_with_plan()
        orders = [paid_order(gig=gig) for _ in range(3)]
        for o in orders:
            deliver(milestones_of(o)[0])
        clock.shift(timedelta(days=3))
        assert lifecycle.auto_release_sweep() == 3

    def test_a_sweep_batch_costs_a_fixed_number_of_queries(self, clock):
        """accept_locked's docstring: "In bulk, so a sweep batch costs a fixed number of queries".
        A batch of 1 and a batch of 6 should cost the same number of queries."""
        gig = gig_with_plan()
        counts = []
        for size in (1, 6):
            orders = [paid_order(gig=gig) for _ in range(size)]
            for o in orders:
                deliver(milestones_of(o)[0])
            clock.shift(timedelta(days=3))
            with CaptureQueriesContext(connection) as queries:
                assert lifecycle.auto_release_sweep(batch=10) == size
            counts.append(len(queries))
        assert counts[0] == counts[1], f"queries per batch: {counts} (1 vs 6 milestones)"

    def test_revision_requested_and_in_progress_milestones_are_not_swept(self, order, clock):
        m1 = milestones_of(order)[0]
        deliver(m1)
        states.milestone_request_revision(milestone_id=m1.pk, buyer=order.buyer, reason="Other colours.")
        clock.shift(timedelta(days=30))
        assert lifecycle.auto_release_sweep() == 0
        assert fresh(m1).status == S.REVISION_REQUESTED


# --- clearance ---------------------------------------------------------------------------------


def released_payout(order: Order, clock) -> Payout:
    m1 = milestones_of(order)[0]
    deliver(m1)
    accept(m1)
    return Payout.objects.get(milestone=m1)


class TestClearance:
    def test_a_payout_becomes_available_after_the_clearance_days(self, order, clock):
        payout = released_payout(order, clock)
        clock.move_to(NOW + timedelta(days=7) - timedelta(seconds=1))
        assert lifecycle.payouts_clear_sweep() == 0
        assert owed(ledger.seller_pending(order.seller_id)) == 1600

        clock.move_to(NOW + timedelta(days=7))
        assert lifecycle.payouts_clear_sweep() == 1

        assert fresh(payout).status == Payout.Status.AVAILABLE
        assert legs(f"payout-{payout.pk}-cleared") == {
            ledger.seller_pending(order.seller_id): 1600,
            ledger.seller_available(order.seller_id): -1600,
        }
        assert owed(ledger.seller_pending(order.seller_id)) == 0
        assert owed(ledger.seller_available(order.seller_id)) == 1600
        assert lifecycle.payouts_clear_sweep() == 0  # once

    def test_clears_in_batches(self, clock):
        gig = gig_with_plan()
        payouts = [released_payout(paid_order(gig=gig), clock) for _ in range(5)]
        clock.shift(timedelta(days=7))
        assert lifecycle.payouts_clear_sweep(batch=2) == 5
        assert {fresh(p).status for p in payouts} == {Payout.Status.AVAILABLE}

    def test_zero_clearance_days_clears_right_after_commit(
        self, settings, order, clock, django_capture_on_commit_callbacks
    ):
        pin_rules(settings, CLEARANCE_DAYS=0)
        m1 = milestones_of(order)[0]
        deliver(m1)
        with django_capture_on_commit_callbacks() as callbacks:
            accept(m1)
        assert payouts_clear_sweep_task.delay in [getattr(c, "func", None) for c in callbacks]
        payout = Payout.objects.get()
        assert payout.clears_at == NOW
        assert lifecycle.payouts_clear_sweep() == 1
        assert fresh(payout).status == Payout.Status.AVAILABLE

    def test_with_clearance_days_nothing_is_queued_at_release(self, order, clock, django_capture_on_commit_callbacks):
        m1 = milestones_of(order)[0]
        deliver(m1)
        with django_capture_on_commit_callbacks() as callbacks:
            accept(m1)
        assert payouts_clear_sweep_task.delay not in [getattr(c, "func", None) for c in callbacks]


# --- transfers ---------------------------------------------------------------------------------


@pytest.fixture
def available(order, clock) -> Payout:
    payout = released_payout(order, clock)
    clock.shift(timedelta(days=7))
    assert lifecycle.payouts_clear_sweep() == 1
    return fresh(payout)


def failing_transfers(monkeypatch, message: str = "Stripe is unavailable: down") -> list[str]:
    """The local provider's transfers fail until the patch is undone; returns the keys tried."""
    tried: list[str] = []

    def create_transfer(self, **kwargs):
        tried.append(kwargs["idempotency_key"])
        raise ProviderUnavailable(message)

    monkeypatch.setattr(LocalGateway, "create_transfer", create_transfer)
    return tried


class TestTransfer:
    def test_sends_the_payout_once_with_its_key_and_posts_the_ledger(self, order, available, clock):
        assert lifecycle.payouts_transfer_drain() == 1

        transfer = transferred_once(available)
        payment = Payment.objects.get(order=order)
        assert (transfer.destination, transfer.source_transaction, transfer.transfer_group, transfer.currency) == (
            f"acct_local_{order.seller_id}",
            payment.charge_id,
            f"order-{order.pk}",
            "USD",
        )
        payout = fresh(available)
        assert (payout.attempts, payout.transferred_at, payout.next_attempt_at) == (1, NOW + timedelta(days=7), None)
        assert legs(f"payout-{payout.pk}-transferred") == {
            ledger.seller_available(order.seller_id): 1600,
            ledger.PLATFORM_CASH: -1600,
        }
        assert Notification.objects.filter(kind="payout_transferred", user=order.seller).count() == 1

        # Again: the drain finds nothing, the service changes nothing, the provider replays the key.
        assert lifecycle.payouts_transfer_drain() == 0
        assert lifecycle.payout_transfer(payout_id=payout.pk).status == Payout.Status.TRANSFERRED
        again = gateway().create_transfer(
            amount_minor=1600,
            currency="USD",
            destination=transfer.destination,
            source_transaction=transfer.source_transaction,
            transfer_group=transfer.transfer_group,
            idempotency_key=idempotency_key("payout", payout.pk, "transfer"),
        )
        assert again == transfer.id
        assert LocalTransfer.objects.count() == 1
        transferred_once(payout)

    def test_a_payout_still_clearing_is_not_sent(self, order, clock):
        payout = released_payout(order, clock)
        assert lifecycle.payouts_transfer_drain() == 0
        assert lifecycle.payout_transfer(payout_id=payout.pk).status == Payout.Status.PENDING_CLEARANCE
        assert not LocalTransfer.objects.exists()

    def test_a_failure_is_retried_with_backoff_then_flagged_for_reconciliation(self, available, clock, monkeypatch):
        tried = failing_transfers(monkeypatch)
        t0 = NOW + timedelta(days=7)

        assert lifecycle.payouts_transfer_drain() == 0
        payout = fresh(available)
        assert (payout.status, payout.attempts, payout.first_failed_at) == (Payout.Status.FAILED, 1, t0)
        assert payout.next_attempt_at == t0 + timedelta(minutes=1)
        assert payout.last_error == "Stripe is unavailable: down"
        assert not payout.needs_reconciliation

        clock.shift(timedelta(seconds=59))
        assert lifecycle.payouts_transfer_drain() == 0
        assert fresh(payout).attempts == 1  # not due yet: not tried

        gaps = []
        while True:
            payout = fresh(payout)
            clock.move_to(payout.next_attempt_at)
            before = payout.next_attempt_at
            assert lifecycle.payouts_transfer_drain() == 0
            payout = fresh(payout)
            gaps.append(payout.next_attempt_at - before)
            assert payout.needs_reconciliation == (before - t0 >= timedelta(hours=24))
            if payout.needs_reconciliation:
                break
        assert gaps[:4] == [timedelta(minutes=m) for m in (2, 4, 8, 16)]
        assert max(gaps) == timedelta(hours=6)  # the backoff is capped
        assert set(tried) == {idempotency_key("payout", payout.pk, "transfer")}  # one key for every attempt
        assert payout.first_failed_at == t0
        assert not LocalTransfer.objects.exists()

        # The provider is back: the next retry pays, once, and clears the flag.
        monkeypatch.undo()
        clock.move_to(payout.next_attempt_at)
        assert lifecycle.payouts_transfer_drain() == 1
        transferred_once(payout)
        assert not fresh(payout).needs_reconciliation

    def test_a_seller_without_destination_is_a_recorded_failure(self, available, monkeypatch):
        monkeypatch.setattr(LocalGateway, "seller_destination", lambda self, seller_id: None)
        assert lifecycle.payouts_transfer_drain() == 0
        payout = fresh(available)
        assert payout.status == Payout.Status.FAILED
        assert "no account" in payout.last_error
        assert not LocalTransfer.objects.exists()

    def test_a_crash_after_the_provider_call_is_retried_10_minutes_later_with_the_same_key(
        self, available, clock, monkeypatch
    ):
        real_post = ledger.post

        def crash(**kwargs):
            if kwargs["reference"].endswith("-transferred"):
                raise RuntimeError("worker killed before the commit")
            return real_post(**kwargs)

        monkeypatch.setattr(ledger, "post", crash)
        with pytest.raises(RuntimeError):
            lifecycle.payouts_transfer_drain()
        monkeypatch.undo()

        payout = fresh(available)
        assert payout.status == Payout.Status.TRANSFERRING  # stuck: sent, not recorded
        [transfer] = LocalTransfer.objects.all()
        clock.shift(timedelta(minutes=9, seconds=59))
        assert lifecycle.payouts_transfer_drain() == 0
        assert fresh(payout).attempts == 1
        clock.shift(timedelta(seconds=1))
        assert lifecycle.payouts_transfer_drain() == 1

        assert transferred_once(payout) == transfer  # the same transfer, not a second one
        assert fresh(payout).attempts == 2


# --- stopping the order, late cancellation -----------------------------------------------------


class TestOrderStop:
    def test_only_after_a_milestone_was_accepted(self, order):
        with pytest.raises(InvalidTransition):
            lifecycle.order_stop(order_id=order.pk, buyer=order.buyer)
        assert not Refund.objects.exists()
        assert {m.status for m in milestones_of(order)} == {S.IN_PROGRESS, S.LOCKED}

    def test_cancels_the_milestones_not_started_and_refunds_them_in_one_refund(
        self, order, clock, django_capture_on_commit_callbacks
    ):
        m1, m2, m3 = milestones_of(order)
        deliver(m1)
        accept(m1)
        clock.shift(timedelta(hours=1))

        with django_capture_on_commit_callbacks() as callbacks:
            refund = lifecycle.order_stop(order_id=order.pk, buyer=order.buyer)

        m3 = fresh(m3)
        assert (m3.status, m3.cancelled_at) == (S.CANCELLED, NOW + timedelta(hours=1))
        assert fresh(m2).status == S.IN_PROGRESS  # started: the seller finishes it
        assert fresh(order).status == Order.Status.ACTIVE
        assert (refund.amount_minor, refund.milestone_ids, refund.status) == (2500, [m3.pk], Refund.Status.PENDING)
        assert refund.idempotency_key == idempotency_key("order", order.pk, "refund", m3.pk)
        assert legs(f"{refund.idempotency_key}-owed") == {
            ledger.escrow(order.pk): 2500,
            ledger.refunds_payable(order.pk): -2500,
        }
        assert [(c.func, c.args) for c in callbacks if c.func == refund_send_task.delay] == [
            (refund_send_task.delay, (refund.pk,))
        ]
        assert ledger.escrow_balance(order) == 7500 - 2000 - 2500
        assert Notification.objects.filter(kind="cancelled", order=order).count() == 2
        assert_books()

        # The refund is sent (what the task does): once, whatever the retries.
        for _ in range(2):
            lifecycle.refund_send(refund_id=refund.pk)
        refund = fresh(refund)
        [local] = LocalRefund.objects.all()
        assert (local.idempotency_key, local.amount, local.payment_intent) == (
            refund.idempotency_key,
            2500,
            Payment.objects.get(order=order).provider_payment_id,
        )
        assert (refund.status, refund.provider_refund_id) == (Refund.Status.SUCCEEDED, local.id)
        assert legs(f"{refund.idempotency_key}-paid") == {
            ledger.refunds_payable(order.pk): 2500,
            ledger.PLATFORM_CASH: -2500,
        }
        assert Payment.objects.get(order=order).refunded_minor == 2500
        assert owed(ledger.refunds_payable(order.pk)) == 0

        # Milestone 2 is still delivered and accepted; it was the last one: the order completes.
        deliver(m2)
        accept(m2)
        assert fresh(order).status == Order.Status.COMPLETED
        assert ledger.escrow_balance(order) == 0

    def test_twice_or_with_everything_started_there_is_nothing_to_stop(self, order):
        m1 = milestones_of(order)[0]
        deliver(m1)
        accept(m1)
        lifecycle.order_stop(order_id=order.pk, buyer=order.buyer)
        with pytest.raises(InvalidTransition):
            lifecycle.order_stop(order_id=order.pk, buyer=order.buyer)
        assert Refund.objects.count() == 1

        other = paid_order()
        a, b, _ = milestones_of(other)
        for m in (a, b):
            deliver(m)
            accept(m)
        with pytest.raises(InvalidTransition):
            lifecycle.order_stop(order_id=other.pk, buyer=other.buyer)

    def test_only_the_buyer_stops_the_order(self, order):
        m1 = milestones_of(order)[0]
        deliver(m1)
        accept(m1)
        for user in (order.seller, UserFactory()):
            with pytest.raises(NotFound):
                lifecycle.order_stop(order_id=order.pk, buyer=user)
        assert not Refund.objects.exists()


class TestLateCancel:
    def test_only_once_the_seller_is_a_day_past_the_due_date(self, order, clock):
        m1 = milestones_of(order)[0]
        assert m1.due_at == NOW + timedelta(days=2)
        clock.move_to(m1.due_at + timedelta(hours=23, minutes=59))
        with pytest.raises(InvalidTransition):
            lifecycle.milestone_cancel_late(milestone_id=m1.pk, buyer=order.buyer)

        clock.move_to(m1.due_at + timedelta(hours=24))
        refund = lifecycle.milestone_cancel_late(milestone_id=m1.pk, buyer=order.buyer)

        assert {m.status for m in milestones_of(order)} == {S.CANCELLED}
        assert fresh(order).status == Order.Status.CANCELLED  # nothing was accepted
        assert refund.amount_minor == 7500 and sorted(refund.milestone_ids) == [m.pk for m in milestones_of(order)]
        lifecycle.refund_send(refund_id=refund.pk)
        assert Payment.objects.get(order=order).refunded_minor == 7500
        assert ledger.escrow_balance(order) == 0

    def test_after_an_accepted_milestone_the_order_completes(self, order, clock):
        m1, m2, m3 = milestones_of(order)
        deliver(m1)
        accept(m1)
        clock.move_to(fresh(m2).due_at + timedelta(days=1))
        refund = lifecycle.milestone_cancel_late(milestone_id=m2.pk, buyer=order.buyer)
        assert sorted(refund.milestone_ids) == [m2.pk, m3.pk] and refund.amount_minor == 5500
        assert fresh(order).status == Order.Status.COMPLETED

    def test_only_the_buyer_and_only_a_milestone_being_worked_on(self, order, clock):
        m1, m2, _ = milestones_of(order)
        clock.shift(timedelta(days=10))
        with pytest.raises(NotFound):
            lifecycle.milestone_cancel_late(milestone_id=m1.pk, buyer=order.seller)
        with pytest.raises(InvalidTransition):
            lifecycle.milestone_cancel_late(milestone_id=m2.pk, buyer=order.buyer)  # not started
        deliver(m1)
        with pytest.raises(InvalidTransition):
            lifecycle.milestone_cancel_late(milestone_id=m1.pk, buyer=order.buyer)  # delivered, late or not
        assert not Refund.objects.exists()

    def test_a_revision_request_does_not_make_an_on_time_delivery_late(self, order, clock):
        """The seller delivered on day 0, due on day 2; the buyer used their review time and asked
        for a revision on day 2 at 23:00. Two hours later (a day past the original due date) the
        seller must still be working on the revision: the buyer may not cancel alone and be
        refunded for a milestone that was delivered on time."""
        m1 = milestones_of(order)[0]
        deliver(m1)
        clock.shift(timedelta(days=2, hours=23))
        states.milestone_request_revision(milestone_id=m1.pk, buyer=order.buyer, reason="Try a serif font.")
        clock.shift(timedelta(hours=2))

        with pytest.raises(InvalidTransition):
            lifecycle.milestone_cancel_late(milestone_id=m1.pk, buyer=order.buyer)
        assert fresh(m1).status == S.REVISION_REQUESTED


# --- cancellation by agreement -----------------------------------------------------------------


def request_cancel(m: OrderMilestone, user, reason: str = "Plans changed.") -> CancellationRequest:
    return lifecycle.cancellation_request(milestone_id=m.pk, user=user, reason=reason)


class TestCancellationByAgreement:
    def test_the_other_party_accepts_the_milestone_and_the_rest_are_refunded(self, order, clock):
        m1 = milestones_of(order)[0]
        req = request_cancel(m1, order.buyer)
        assert (req.status, req.expires_at, req.requested_by_id) == (
            CancellationRequest.Status.OPEN,
            NOW + timedelta(hours=48),
            order.buyer_id,
        )
        assert Notification.objects.filter(kind="cancellation_requested", user=order.seller).count() == 1

        clock.shift(timedelta(hours=3))
        answered = lifecycle.cancellation_answer(request_id=req.pk, user=order.seller, accept=True)

        assert (answered.status, answered.answered_by_id, answered.answered_at, answered.auto_accepted) == (
            CancellationRequest.Status.ACCEPTED,
            order.seller_id,
            NOW + timedelta(hours=3),
            False,
        )
        assert {m.status for m in milestones_of(order)} == {S.CANCELLED}
        assert fresh(order).status == Order.Status.CANCELLED
        [refund] = Refund.objects.all()
        assert refund.amount_minor == 7500
        lifecycle.refund_send(refund_id=refund.pk)

    def test_declined_nothing_changes_and_a_new_request_may_follow(self, order):
        m1 = milestones_of(order)[0]
        req = request_cancel(m1, order.seller)
        lifecycle.cancellation_answer(request_id=req.pk, user=order.buyer, accept=False)
        assert fresh(req).status == CancellationRequest.Status.DECLINED
        assert fresh(m1).status == S.IN_PROGRESS
        assert not Refund.objects.exists()
        # Answering again is a no-op, even the other way.
        lifecycle.cancellation_answer(request_id=req.pk, user=order.buyer, accept=True)
        assert fresh(req).status == CancellationRequest.Status.DECLINED and not Refund.objects.exists()
        assert request_cancel(m1, order.buyer).status == CancellationRequest.Status.OPEN

    def test_one_open_request_per_milestone(self, order):
        m1 = milestones_of(order)[0]
        request_cancel(m1, order.buyer)
        for user in (order.buyer, order.seller):
            with pytest.raises(InvalidTransition):
                request_cancel(m1, user)
        assert CancellationRequest.objects.count() == 1

    def test_only_the_other_party_answers(self, order):
        m1 = milestones_of(order)[0]
        req = request_cancel(m1, order.buyer)
        with pytest.raises(InvalidTransition):
            lifecycle.cancellation_answer(request_id=req.pk, user=order.buyer, accept=True)
        with pytest.raises(NotFound):
            lifecycle.cancellation_answer(request_id=req.pk, user=UserFactory(), accept=True)
        with pytest.raises(NotFound):
            lifecycle.cancellation_answer(request_id=10**9, user=order.seller, accept=True)
        assert fresh(req).status == CancellationRequest.Status.OPEN and not Refund.objects.exists()

    def test_refusals_when_asking(self, order):
        m1, m2, _ = milestones_of(order)
        with pytest.raises(NotFound):
            request_cancel(m1, UserFactory())
        with pytest.raises(InvalidTransition):
            request_cancel(m2, order.buyer)  # not started
        with pytest.raises(ValidationFailed) as caught:
            request_cancel(m1, order.buyer, reason="  ")
        assert "reason" in caught.value.errors
        deliver(m1)
        with pytest.raises(InvalidTransition):
            request_cancel(m1, order.buyer)  # delivered: accept, revise or dispute
        assert not CancellationRequest.objects.exists()

    def test_accepting_after_the_milestone_was_delivered_is_refused(self, order):
        m1 = milestones_of(order)[0]
        req = request_cancel(m1, order.buyer)
        deliver(m1)
        with pytest.raises(InvalidTransition):
            lifecycle.cancellation_answer(request_id=req.pk, user=order.seller, accept=True)
        assert fresh(m1).status == S.DELIVERED and not Refund.objects.exists()

    def test_the_expiry_sweep_accepts_unanswered_requests_after_48_hours(self, order, clock):
        m1 = milestones_of(order)[0]
        req = request_cancel(m1, order.seller)
        clock.move_to(NOW + timedelta(hours=47, minutes=59))
        assert lifecycle.cancellation_requests_expire_sweep() == 0
        clock.move_to(NOW + timedelta(hours=48))
        assert lifecycle.cancellation_requests_expire_sweep() == 1
        assert lifecycle.cancellation_requests_expire_sweep() == 0

        req = fresh(req)
        assert (req.status, req.auto_accepted, req.answered_by, req.answered_at) == (
            CancellationRequest.Status.ACCEPTED,
            True,
            None,
            NOW + timedelta(hours=48),
        )
        assert {m.status for m in milestones_of(order)} == {S.CANCELLED}
        assert Refund.objects.get().amount_minor == 7500
        event = OrderEvent.objects.filter(milestone=m1, to_status=S.CANCELLED).get()
        assert event.actor is None and "not answered" in event.reason

    def test_the_expiry_sweep_withdraws_a_request_whose_milestone_was_delivered(self, order, clock):
        m1 = milestones_of(order)[0]
        req = request_cancel(m1, order.buyer)
        deliver(m1)
        clock.shift(timedelta(hours=48))
        assert lifecycle.cancellation_requests_expire_sweep() == 0
        assert fresh(req).status == CancellationRequest.Status.WITHDRAWN
        assert fresh(m1).status == S.DELIVERED and not Refund.objects.exists()


# --- charge.refunded from the provider and our own refunds -------------------------------------


def charge_refunded_event(payment: Payment, amount_refunded: int, n: int = 1) -> dict:
    return {
        "id": f"evt_refunded_{payment.pk}_{n}",
        "object": "event",
        "type": "charge.refunded",
        "data": {
            "object": {
                "id": payment.charge_id,
                "object": "charge",
                "payment_intent": payment.provider_payment_id,
                "amount": payment.amount_minor,
                "amount_refunded": amount_refunded,
                "paid": True,
                "status": "succeeded",
            }
        },
    }


def deliver_event(event: dict) -> None:
    row, _ = services.webhook_event_store(event=event, source="stripe")
    services.webhook_event_process(event_pk=row.pk)


@pytest.fixture
def stopped(order) -> Refund:
    m1 = milestones_of(order)[0]
    deliver(m1)
    accept(m1)
    return lifecycle.order_stop(order_id=order.pk, buyer=order.buyer)


class TestChargeRefundedEvent:
    def test_arriving_before_our_refund_is_recorded_it_is_not_counted_twice(self, order, stopped, monkeypatch):
        payment = Payment.objects.get(order=order)
        real = LocalGateway.create_refund

        def refund_then_event(self, **kwargs):
            refund_id = real(self, **kwargs)
            # The provider's event is processed between its answer and our step 3.
            deliver_event(charge_refunded_event(payment, amount_refunded=2500))
            return refund_id

        monkeypatch.setattr(LocalGateway, "create_refund", refund_then_event)
        lifecycle.refund_send(refund_id=stopped.pk)

        assert not LedgerTransaction.objects.filter(kind=K.PAYMENT_REFUNDED).exists()
        assert Payment.objects.get(order=order).refunded_minor == 2500
        assert ledger.balance(ledger.PLATFORM_CASH, "USD") == order.total_minor - 2500

    def test_arriving_after_our_refund_is_recorded_it_changes_nothing(self, order, stopped):
        lifecycle.refund_send(refund_id=stopped.pk)
        entries = LedgerEntry.objects.count()
        deliver_event(charge_refunded_event(Payment.objects.get(order=order), amount_refunded=2500))
        assert LedgerEntry.objects.count() == entries
        assert Payment.objects.get(order=order).refunded_minor == 2500


# --- cancelling a delivery (no revisions left) -------------------------------------------------


def delivered_without_revisions(order: Order, clock) -> OrderMilestone:
    """Milestone 1 (one revision) delivered, revised and delivered again: nothing left to ask for;
    its review deadline is 72 h after the second delivery."""
    m1 = milestones_of(order)[0]
    deliver(m1)
    clock.shift(timedelta(hours=1))
    states.milestone_request_revision(milestone_id=m1.pk, buyer=order.buyer, reason="Other colours.")
    clock.shift(timedelta(hours=1))
    deliver(m1)
    clock.shift(timedelta(hours=1))
    m1 = fresh(m1)
    assert (m1.status, m1.revisions_left, m1.review_deadline) == (S.DELIVERED, 0, NOW + timedelta(hours=2, days=3))
    return m1


def beat() -> int:
    """What beat runs every minute, the expiry sweep first: how many milestones were released."""
    lifecycle.cancellation_requests_expire_sweep()
    return lifecycle.auto_release_sweep()


class TestCancellingADelivery:
    def test_probe_a_delivery_closes_the_request_and_the_work_is_paid_not_refunded(self, order, clock):
        """Revisions=1, a revision requested, the buyer asks to cancel, the seller delivers, four
        days pass (beat running every hour): the milestone ends accepted and paid."""
        m1 = milestones_of(order)[0]
        deliver(m1)
        states.milestone_request_revision(milestone_id=m1.pk, buyer=order.buyer, reason="Other colours.")
        clock.shift(timedelta(hours=1))
        req = request_cancel(m1, order.buyer)  # revision requested: the work is going on
        clock.shift(timedelta(hours=1))
        deliver(m1)
        req = fresh(req)
        assert (req.status, req.answered_at) == (CancellationRequest.Status.WITHDRAWN, NOW + timedelta(hours=2))
        start = NOW + timedelta(hours=2)
        for hour in range(4 * 24 + 1):
            clock.move_to(start + timedelta(hours=hour))
            beat()

        m1 = fresh(m1)
        assert (m1.status, m1.auto_accepted, m1.accepted_at) == (S.ACCEPTED, True, start + timedelta(days=3))
        assert Payout.objects.filter(milestone=m1).count() == 1
        assert not Refund.objects.exists()
        assert fresh(req).status == CancellationRequest.Status.WITHDRAWN
        assert milestones_of(order)[1].status == S.IN_PROGRESS

    def test_a_request_made_on_the_delivery_expires_at_the_review_deadline_and_is_never_accepted(self, order, clock):
        m1 = delivered_without_revisions(order, clock)
        req = request_cancel(m1, order.buyer, reason="Not what I asked for.")
        assert (req.status, req.expires_at) == (CancellationRequest.Status.OPEN, m1.review_deadline)
        told = Notification.objects.get(kind="cancellation_requested", user=order.seller).text
        assert "delivered milestone 1 (a refund to the buyer)" in told
        assert "Answer by Mar 5, 11:30; without an answer the milestone is accepted automatically then." in told

        clock.move_to(req.created_at + timedelta(hours=48))  # no 48 h auto-accept for a delivery
        assert beat() == 0
        assert fresh(req).status == CancellationRequest.Status.OPEN and fresh(m1).status == S.DELIVERED

        clock.move_to(m1.review_deadline)
        assert lifecycle.cancellation_requests_expire_sweep() == 0  # lapsed, not accepted
        req = fresh(req)
        assert (req.status, req.answered_at, req.auto_accepted) == (
            CancellationRequest.Status.WITHDRAWN,
            m1.review_deadline,
            False,
        )
        assert lifecycle.auto_release_sweep() == 1
        assert fresh(m1).status == S.ACCEPTED and not Refund.objects.exists()

    def test_an_open_request_on_the_delivery_does_not_hold_back_the_auto_release(self, order, clock):
        m1 = delivered_without_revisions(order, clock)
        request_cancel(m1, order.buyer)
        clock.move_to(m1.review_deadline)
        assert lifecycle.auto_release_sweep() == 1  # before the expiry sweep ran

    def test_the_seller_accepts_it_the_milestone_and_those_after_it_are_refunded(self, order, clock):
        m1 = delivered_without_revisions(order, clock)
        req = request_cancel(m1, order.buyer)
        lifecycle.cancellation_answer(request_id=req.pk, user=order.seller, accept=True)

        assert fresh(req).status == CancellationRequest.Status.ACCEPTED
        assert {m.status for m in milestones_of(order)} == {S.CANCELLED}
        assert fresh(order).status == Order.Status.CANCELLED
        [refund] = Refund.objects.all()
        assert (refund.amount_minor, sorted(refund.milestone_ids)) == (7500, [m.pk for m in milestones_of(order)])
        assert lifecycle.auto_release_sweep(now=NOW + timedelta(days=30)) == 0
        lifecycle.refund_send(refund_id=refund.pk)

    def test_one_request_per_party_and_delivery(self, order, clock):
        m1 = delivered_without_revisions(order, clock)
        req = request_cancel(m1, order.buyer)
        clock.shift(timedelta(minutes=5))
        lifecycle.cancellation_answer(request_id=req.pk, user=order.seller, accept=False)
        clock.shift(timedelta(minutes=5))
        with pytest.raises(InvalidTransition) as caught:
            request_cancel(m1, order.buyer, reason="Asking again.")
        assert caught.value.message == "You already asked to cancel this delivery."
        # The seller has not asked yet: they may (the buyer would be refunded if they accept).
        offer = request_cancel(m1, order.seller, reason="I would rather refund you.")
        lifecycle.cancellation_answer(request_id=offer.pk, user=order.buyer, accept=False)
        with pytest.raises(InvalidTransition):
            request_cancel(m1, order.seller)
        assert CancellationRequest.objects.count() == 2
        clock.move_to(m1.review_deadline)
        assert beat() == 1  # declining twice held nothing back
        assert not Refund.objects.exists()

    def test_past_the_review_deadline_it_can_be_neither_asked_nor_accepted(self, order, clock):
        m1 = delivered_without_revisions(order, clock)
        req = request_cancel(m1, order.buyer)
        clock.move_to(m1.review_deadline)  # due for release; the sweeps have not run yet
        with pytest.raises(InvalidTransition):
            lifecycle.cancellation_answer(request_id=req.pk, user=order.seller, accept=True)
        with pytest.raises(InvalidTransition):
            request_cancel(m1, order.seller)
        assert fresh(req).status == CancellationRequest.Status.OPEN and not Refund.objects.exists()
        assert lifecycle.cancellation_answer(request_id=req.pk, user=order.seller, accept=False).status == (
            CancellationRequest.Status.DECLINED
        )
        assert lifecycle.auto_release_sweep() == 1

    def test_a_closed_request_cannot_be_answered(self, order, clock):
        m1 = milestones_of(order)[0]
        req = request_cancel(m1, order.buyer)
        deliver(m1)
        for accept_it in (True, False):
            with pytest.raises(InvalidTransition) as caught:
                lifecycle.cancellation_answer(request_id=req.pk, user=order.seller, accept=accept_it)
            assert "closed without an answer" in caught.value.message
        assert fresh(req).status == CancellationRequest.Status.WITHDRAWN and not Refund.objects.exists()

    def test_a_new_delivery_allows_a_new_request(self, order, clock):
        """Milestone 2 has two revisions: asked about its last delivery only, once per delivery."""
        m1 = milestones_of(order)[0]
        deliver(m1)
        accept(m1)
        m2 = milestones_of(order)[1]
        deliver(m2)
        with pytest.raises(InvalidTransition):
            request_cancel(m2, order.buyer)  # revisions left: ask for one instead
        for _ in range(2):
            clock.shift(timedelta(hours=1))
            states.milestone_request_revision(milestone_id=m2.pk, buyer=order.buyer, reason="Again.")
            clock.shift(timedelta(hours=1))
            deliver(m2)
        clock.shift(timedelta(hours=1))
        request_cancel(m2, order.buyer)
        assert fresh(m2).revisions_left == 0


class TestWithdrawOpenRequests:
    def test_closes_the_open_requests_of_locked_milestones_in_one_update(self, order, clock):
        m1 = delivered_without_revisions(order, clock)
        req = request_cancel(m1, order.buyer)
        other = paid_order()
        kept = request_cancel(milestones_of(other)[0], other.seller)
        clock.shift(timedelta(minutes=1))
        with transaction.atomic():
            states.lock_order_and_milestone(milestone_id=m1.pk)
            with CaptureQueriesContext(connection) as queries:
                assert states.withdraw_open_requests_locked([m1.pk], now=timezone.now()) == 1
            assert len(queries) == 1
            assert states.withdraw_open_requests_locked([m1.pk], now=timezone.now()) == 0
        with CaptureQueriesContext(connection) as queries:
            assert states.withdraw_open_requests_locked([], now=timezone.now()) == 0
        assert len(queries) == 0
        req = fresh(req)
        assert (req.status, req.answered_at) == (
            CancellationRequest.Status.WITHDRAWN,
            NOW + timedelta(hours=3, minutes=1),
        )
        assert fresh(kept).status == CancellationRequest.Status.OPEN

    def test_accepting_a_milestone_withdraws_its_open_request_at_once(self, order, clock):
        m1 = delivered_without_revisions(order, clock)
        req = request_cancel(m1, order.buyer)
        accept(m1)
        assert fresh(req).status == CancellationRequest.Status.WITHDRAWN

    def test_cancelling_withdraws_the_open_requests_of_the_milestones_cancelled(self, order, clock):
        m1, m2, _ = milestones_of(order)
        deliver(m1)
        accept(m1)
        req = request_cancel(fresh(m2), order.seller)
        clock.move_to(fresh(m2).due_at + timedelta(hours=24))
        lifecycle.milestone_cancel_late(milestone_id=m2.pk, buyer=order.buyer)
        req = fresh(req)
        assert (req.status, req.answered_at) == (CancellationRequest.Status.WITHDRAWN, timezone.now())


# --- refunds: retries with backoff, reconciliation ---------------------------------------------


class WorkerKilled(BaseException):
    """The worker dies mid-call: nothing after the call runs, not even an `except Exception`."""


def refunds_failing(monkeypatch, error: BaseException) -> list[str]:
    tried: list[str] = []

    def create_refund(self, **kwargs):
        tried.append(kwargs["idempotency_key"])
        raise error

    monkeypatch.setattr(LocalGateway, "create_refund", create_refund)
    return tried


class TestRefundRetries:
    @pytest.fixture
    def refund(self, order, clock) -> Refund:
        m1 = milestones_of(order)[0]
        deliver(m1)
        accept(m1)
        return lifecycle.order_stop(order_id=order.pk, buyer=order.buyer)  # at NOW; its task never ran

    def test_a_refund_whose_task_was_lost_is_found_a_minute_later(self, refund, clock):
        assert lifecycle.refunds_retry_sweep() == []
        clock.shift(timedelta(seconds=59))
        assert lifecycle.refunds_retry_sweep() == []
        clock.shift(timedelta(seconds=1))
        assert lifecycle.refunds_retry_sweep() == [refund.pk]
        lifecycle.refund_send(refund_id=refund.pk)
        refund = fresh(refund)
        assert (refund.status, refund.next_attempt_at, refund.first_attempt_at) == (
            Refund.Status.SUCCEEDED,
            None,
            NOW + timedelta(minutes=1),
        )
        assert lifecycle.refunds_retry_sweep(now=NOW + timedelta(days=1)) == []

    def test_a_failure_is_retried_with_backoff_then_flagged_for_reconciliation(self, refund, clock, monkeypatch):
        tried = refunds_failing(monkeypatch, DomainError("This charge was already refunded."))
        with pytest.raises(DomainError):
            lifecycle.refund_send(refund_id=refund.pk)  # the task, right after the commit
        refund = fresh(refund)
        assert (refund.status, refund.attempts, refund.first_attempt_at, refund.next_attempt_at) == (
            Refund.Status.PENDING,
            1,
            NOW,
            NOW + timedelta(minutes=1),
        )
        assert (refund.last_error, refund.needs_reconciliation) == ("This charge was already refunded.", False)
        clock.shift(timedelta(seconds=59))
        assert lifecycle.refunds_retry_sweep() == []  # not every minute: after the backoff

        gaps = []
        while True:
            refund = fresh(refund)
            before = refund.next_attempt_at
            clock.move_to(before)
            assert lifecycle.refunds_retry_sweep() == [refund.pk]
            with pytest.raises(DomainError):
                lifecycle.refund_send(refund_id=refund.pk)
            refund = fresh(refund)
            gaps.append(refund.next_attempt_at - before)
            assert refund.needs_reconciliation == (before - NOW >= timedelta(hours=24))
            if refund.needs_reconciliation:
                break
        assert gaps[:4] == [timedelta(minutes=m) for m in (2, 4, 8, 16)]
        assert max(gaps) == timedelta(hours=6)
        assert len(tried) == refund.attempts and set(tried) == {refund.idempotency_key}
        assert fresh(refund).status == Refund.Status.PENDING and not LocalRefund.objects.exists()

        monkeypatch.undo()
        clock.move_to(refund.next_attempt_at)
        assert lifecycle.refunds_retry_sweep() == [refund.pk]
        lifecycle.refund_send(refund_id=refund.pk)
        refund = fresh(refund)
        assert (refund.status, refund.needs_reconciliation, refund.next_attempt_at) == (
            Refund.Status.SUCCEEDED,
            False,
            None,
        )
        assert LocalRefund.objects.count() == 1

    def test_a_send_that_never_comes_back_is_retried_every_10_minutes_and_flagged_after_a_day(
        self, refund, clock, monkeypatch
    ):
        refunds_failing(monkeypatch, WorkerKilled())
        with pytest.raises(WorkerKilled):
            lifecycle.refund_send(refund_id=refund.pk)
        assert fresh(refund).next_attempt_at == NOW + timedelta(minutes=10)
        clock.shift(timedelta(minutes=9, seconds=59))
        assert lifecycle.refunds_retry_sweep() == []
        while not fresh(refund).needs_reconciliation:
            clock.move_to(fresh(refund).next_attempt_at)
            assert lifecycle.refunds_retry_sweep() == [refund.pk]
            with pytest.raises(WorkerKilled):
                lifecycle.refund_send(refund_id=refund.pk)
        assert timezone.now() == NOW + timedelta(hours=24)  # flagged on the first claim a day on
        assert fresh(refund).attempts == 24 * 6 + 1

        monkeypatch.undo()
        clock.move_to(fresh(refund).next_attempt_at)
        lifecycle.refund_send(refund_id=refund.pk)
        assert (fresh(refund).status, fresh(refund).needs_reconciliation) == (Refund.Status.SUCCEEDED, False)

    def test_the_task_queues_a_send_for_each_refund_due(self, refund, clock, monkeypatch):
        queued = []
        monkeypatch.setattr(refund_send_task, "delay", queued.append)
        assert refunds_retry_sweep_task() == 0
        clock.shift(timedelta(minutes=1))
        assert refunds_retry_sweep_task() == 1
        assert queued == [refund.pk]


class TestStuckPayout:
    def test_a_transfer_crashing_every_time_is_flagged_a_day_after_its_first_attempt(
        self, available, clock, monkeypatch
    ):
        real_post = ledger.post

        def crash(**kwargs):
            if kwargs["reference"].endswith("-transferred"):
                raise RuntimeError("worker killed before the commit")
            return real_post(**kwargs)

        monkeypatch.setattr(ledger, "post", crash)
        t0 = timezone.now()
        with pytest.raises(RuntimeError):
            lifecycle.payouts_transfer_drain()
        payout = fresh(available)
        assert (payout.status, payout.first_attempt_at, payout.first_failed_at) == (
            Payout.Status.TRANSFERRING,
            t0,
            None,
        )
        while not fresh(payout).needs_reconciliation:
            clock.move_to(fresh(payout).next_attempt_at)
            with pytest.raises(RuntimeError):
                lifecycle.payouts_transfer_drain()
            assert fresh(payout).status == Payout.Status.TRANSFERRING
        assert timezone.now() == t0 + timedelta(hours=24)
        assert LocalTransfer.objects.count() == 1  # the same key every time

        monkeypatch.undo()
        clock.move_to(fresh(payout).next_attempt_at)
        assert lifecycle.payouts_transfer_drain() == 1
        transferred_once(payout)
        assert not fresh(payout).needs_reconciliation
