"""Disputes on an accepted milestone whose money is released but not cleared (issue 6): opening
freezes its payout (no clearance, no transfer), each decision settles it from the payout, and a
payout that cleared already is refused. The race with the clearance sweep is in
test_released_races.py."""

from datetime import timedelta

import pytest

from disputes import services
from disputes.exceptions import DisputeNotAllowed
from disputes.models import Dispute
from disputes.tests.helpers import open_dispute
from milestones.models import Order, OrderMilestone
from payments import ledger, lifecycle
from payments.keys import idempotency_key
from payments.models import LedgerTransaction, LocalRefund, Payout, Refund
from payments.tests.test_lifecycle import NOW, accept, deliver, fresh, milestones_of, owed, paid_order, pin_rules

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("books")]

S = OrderMilestone.Status
P = Payout.Status
NET, COMMISSION, PRICE = 1600, 400, 2000  # milestone 1 of gig_with_plan, 20 % commission


@pytest.fixture(autouse=True)
def _rules(settings):
    # A high approval threshold: these decisions move money at once.
    pin_rules(settings, DISPUTE_RESPONSE_DAYS=5, DISPUTE_APPROVAL_ABOVE_MINOR=10**9)


@pytest.fixture
def order(clock) -> Order:
    o = paid_order()
    o.base_revenue = owed(ledger.PLATFORM_REVENUE)  # the buyer's fees: not this milestone's
    return o


@pytest.fixture
def accepted(order) -> OrderMilestone:
    m1 = milestones_of(order)[0]
    deliver(m1)
    accept(m1)
    return fresh(m1)


def payout_of(m: OrderMilestone) -> Payout:
    return Payout.objects.get(milestone=m)


def balances(order: Order) -> tuple[int, int, int]:
    """(seller pending, seller available, platform revenue)."""
    return (
        owed(ledger.seller_pending(order.seller_id)),
        owed(ledger.seller_available(order.seller_id)),
        owed(ledger.PLATFORM_REVENUE) - order.base_revenue,
    )


def sent_once(refund: Refund) -> None:
    lifecycle.refund_send(refund_id=refund.pk)
    lifecycle.refund_send(refund_id=refund.pk)
    assert fresh(refund).status == Refund.Status.SUCCEEDED
    assert LocalRefund.objects.filter(idempotency_key=refund.idempotency_key).count() == 1
    assert LedgerTransaction.objects.filter(reference=f"{refund.idempotency_key}-paid").count() == 1
    assert -ledger.balance(ledger.refunds_payable(refund.order_id), refund.currency) == 0


def assert_trial_balance() -> None:
    assert all(total == 0 for total in ledger.trial_balance().values()), ledger.trial_balance()


class TestOpen:
    def test_opening_freezes_the_payout_against_the_clearance_sweep_and_the_drain(self, order, accepted, clock):
        assert payout_of(accepted).status == P.PENDING_CLEARANCE
        d = open_dispute(accepted, by="buyer")
        assert d.status == Dispute.Status.AWAITING_RESPONSE and d.frozen_from == S.ACCEPTED
        assert fresh(accepted).status == S.ACCEPTED
        payout = payout_of(accepted)
        assert payout.frozen and payout.status == P.PENDING_CLEARANCE
        clock.move_to(NOW + timedelta(days=30))
        assert lifecycle.payouts_clear_sweep() == 0
        assert lifecycle.payouts_transfer_drain() == 0
        assert lifecycle.payout_transfer(payout_id=payout.pk).status == P.PENDING_CLEARANCE
        assert payout_of(accepted).status == P.PENDING_CLEARANCE
        assert balances(order) == (NET, 0, COMMISSION)
        assert_trial_balance()

    def test_the_seller_may_open_too_and_the_last_milestone_of_a_completed_order(self, order):
        for m in milestones_of(order):
            deliver(m)
            accept(m)
        assert fresh(order).status == Order.Status.COMPLETED
        last = milestones_of(order)[-1]
        d = open_dispute(last, by="seller")
        assert d.frozen_from == S.ACCEPTED and payout_of(last).frozen

    def test_refused_once_the_money_cleared_or_was_sent(self, order, accepted, clock):
        clock.move_to(NOW + timedelta(days=8))
        assert lifecycle.payouts_clear_sweep() == 1
        with pytest.raises(DisputeNotAllowed) as exc:
            open_dispute(accepted)
        assert exc.value.http_status == 409
        assert "has cleared (available): it can no longer be disputed" in str(exc.value)
        assert lifecycle.payouts_transfer_drain() == 1
        with pytest.raises(DisputeNotAllowed) as exc:
            open_dispute(accepted, by="seller")
        assert "has cleared (transferred)" in str(exc.value)
        assert not Dispute.objects.exists() and not payout_of(accepted).frozen


class TestResolve:
    def test_release_unfreezes_and_clears_at_once_past_clears_at(self, order, accepted, staff, clock):
        d = open_dispute(accepted)
        clock.move_to(NOW + timedelta(days=10))
        services.dispute_resolve(dispute_id=d.pk, admin=staff, action="release", note="Work matches the brief.")
        payout = payout_of(accepted)
        assert not payout.frozen and payout.status == P.AVAILABLE
        assert (payout.gross_minor, payout.commission_minor, payout.amount_minor) == (PRICE, COMMISSION, NET)
        assert balances(order) == (0, NET, COMMISSION)
        assert not Refund.objects.exists()
        assert lifecycle.payouts_transfer_drain() == 1
        assert balances(order) == (0, 0, COMMISSION)
        assert_trial_balance()

    def test_release_before_clears_at_waits_for_it(self, order, accepted, staff, clock):
        d = open_dispute(accepted)
        services.dispute_resolve(dispute_id=d.pk, admin=staff, action="release", note="Fine.")
        assert payout_of(accepted).status == P.PENDING_CLEARANCE and not payout_of(accepted).frozen
        assert lifecycle.payouts_clear_sweep() == 0
        clock.move_to(NOW + timedelta(days=7))
        assert lifecycle.payouts_clear_sweep() == 1
        assert balances(order) == (0, NET, COMMISSION)

    def test_partial_refund_takes_back_pro_rata_with_the_remainder_from_the_commission(
        self, order, accepted, staff, clock
    ):
        d = open_dispute(accepted)
        refund_x = 333
        services.dispute_resolve(
            dispute_id=d.pk, admin=staff, action="split", note="Part missing.", seller_amount_minor=PRICE - refund_x
        )
        seller_back = NET * refund_x // PRICE  # 266 (266.4 rounded down for the seller)
        commission_back = refund_x - seller_back  # 67: the remainder is the platform's
        assert (seller_back, commission_back) == (266, 67)
        payout = payout_of(accepted)
        assert (payout.gross_minor, payout.commission_minor, payout.amount_minor) == (
            PRICE - refund_x,
            COMMISSION - commission_back,
            NET - seller_back,
        )
        assert not payout.frozen and payout.status == P.PENDING_CLEARANCE
        refund = Refund.objects.get()
        assert refund.amount_minor == refund_x and refund.milestone_ids == [accepted.pk]
        assert refund.idempotency_key == idempotency_key("order", order.pk, "refund", accepted.pk, "disputed")
        assert balances(order) == (NET - seller_back, 0, COMMISSION - commission_back)
        sent_once(refund)
        assert fresh(accepted).status == S.ACCEPTED
        clock.move_to(NOW + timedelta(days=7))
        assert lifecycle.payouts_clear_sweep() == 1
        assert lifecycle.payouts_transfer_drain() == 1
        assert balances(order) == (0, 0, COMMISSION - commission_back)
        assert fresh(payout).amount_minor == NET - seller_back  # never more than the seller is owed
        assert_trial_balance()
        # The milestone was refunded in part: another dispute on it is refused.
        with pytest.raises(DisputeNotAllowed):
            open_dispute(accepted, by="seller")

    def test_full_refund_cancels_the_payout(self, order, accepted, staff, clock):
        d = open_dispute(accepted)
        services.dispute_resolve(dispute_id=d.pk, admin=staff, action="refund", note="Nothing usable.")
        payout = payout_of(accepted)
        assert payout.status == P.CANCELLED and not payout.frozen
        assert (payout.gross_minor, payout.commission_minor, payout.amount_minor) == (0, 0, 0)
        assert balances(order) == (0, 0, 0)
        refund = Refund.objects.get()
        assert refund.amount_minor == PRICE
        sent_once(refund)
        clock.move_to(NOW + timedelta(days=30))
        assert lifecycle.payouts_clear_sweep() == 0
        assert lifecycle.payouts_transfer_drain() == 0
        assert balances(order) == (0, 0, 0)
        assert_trial_balance()

    def test_withdraw_and_close_unfreeze(self, order, accepted, staff, clock):
        d = open_dispute(accepted)
        services.dispute_withdraw(dispute_id=d.pk, user=order.buyer)
        assert not payout_of(accepted).frozen and payout_of(accepted).status == P.PENDING_CLEARANCE
        assert fresh(accepted).status == S.ACCEPTED
        d = open_dispute(accepted, by="seller")
        clock.move_to(NOW + timedelta(days=8))
        services.dispute_close(dispute_id=d.pk, admin=staff, note="Nothing to decide.")
        assert payout_of(accepted).status == P.AVAILABLE
        assert balances(order) == (0, NET, COMMISSION)
        assert not Refund.objects.exists()
        assert_trial_balance()
