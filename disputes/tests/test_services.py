"""Dispute services: each transition and refusal, each money outcome with the ledger checked."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from disputes import services
from disputes.exceptions import (
    DisputeAlreadyOpen,
    DisputeClosed,
    DisputeNotAllowed,
    ResponseWindowOver,
    SettlementRefused,
)
from disputes.models import Dispute, DisputeEvent, DisputeEvidence, SettlementOffer
from disputes.tasks import disputes_response_window_sweep_task
from disputes.tests.helpers import open_dispute, open_order_dispute
from gigs.tests.factories import UserFactory
from marketplace.exceptions import NotFound, ValidationFailed
from milestones.exceptions import InvalidTransition
from milestones.models import Notification, Order, OrderEvent, OrderMilestone
from payments import ledger, lifecycle
from payments.keys import idempotency_key
from payments.models import LedgerTransaction, LocalRefund, Payout, Refund
from payments.tests.test_lifecycle import (
    COMMISSIONS,
    NOW,
    PRICES,
    assert_books,
    deliver,
    fresh,
    milestones_of,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("books")]

S = OrderMilestone.Status
DS = Dispute.Status
K = LedgerTransaction.Kind


def events(d: Dispute) -> list[tuple[str, str, str]]:
    return list(DisputeEvent.objects.filter(dispute=d).values_list("from_status", "to_status", "action"))


# --- opening -------------------------------------------------------------------------------------


class TestOpen:
    def test_the_buyer_opens_on_a_delivered_milestone_and_it_freezes(self, order, delivered, clock):
        d = open_dispute(delivered, files=[SimpleUploadedFile("proof.png", b"\x89PNG")])
        assert d.status == DS.AWAITING_RESPONSE and d.frozen_from == S.DELIVERED
        assert d.response_due_at == NOW + timedelta(days=5)
        m = fresh(delivered)
        assert m.status == S.DISPUTED and m.review_deadline is None
        assert events(d) == [("", DS.OPEN, "opened"), (DS.OPEN, DS.AWAITING_RESPONSE, "response requested")]
        assert OrderEvent.objects.filter(milestone=m, to_status=S.DISPUTED).count() == 1
        assert DisputeEvidence.objects.get(dispute=d).name == "proof.png"
        assert Notification.objects.filter(user=order.seller, kind="dispute_opened").count() == 1
        # Past the old review deadline, the auto-release sweep leaves it alone.
        clock.move_to(NOW + timedelta(days=30))
        assert lifecycle.auto_release_sweep() == 0
        assert fresh(m).status == S.DISPUTED and not Payout.objects.exists()

    def test_the_seller_opens_on_a_milestone_in_progress(self, order):
        m1 = milestones_of(order)[0]
        d = open_dispute(m1, by="seller", outcome_wanted=Dispute.Outcome.RELEASE)
        assert d.frozen_from == S.IN_PROGRESS and fresh(m1).status == S.DISPUTED
        # Another milestone of the order is not frozen; it just has not started.
        assert milestones_of(order)[1].status == S.LOCKED

    def test_someone_else_gets_not_found(self, order, delivered):
        with pytest.raises(NotFound):
            services.dispute_open(
                milestone_id=delivered.pk,
                user=UserFactory(),
                reason="quality",
                description="x",
                outcome_wanted="full_refund",
            )

    def test_a_second_dispute_on_the_milestone_is_refused(self, delivered):
        open_dispute(delivered)
        with pytest.raises(DisputeAlreadyOpen):
            open_dispute(delivered, by="seller")

    def test_locked_milestones_are_refused(self, order, delivered):
        # An accepted one can be disputed until its money clears: test_released.py.
        with pytest.raises(DisputeNotAllowed) as exc:
            open_dispute(milestones_of(order)[1])
        assert exc.value.http_status == 409

    def test_input_is_checked(self, delivered):
        with pytest.raises(ValidationFailed) as exc:
            open_dispute(delivered, reason="boredom", description=" ", outcome_wanted=Dispute.Outcome.PARTIAL_REFUND)
        assert set(exc.value.errors) == {"reason", "description", "amount_wanted_minor"}
        with pytest.raises(ValidationFailed):
            open_dispute(delivered, outcome_wanted=Dispute.Outcome.PARTIAL_REFUND, amount_wanted_minor=PRICES[0] + 1)
        assert fresh(delivered).status == S.DELIVERED
        for bad in (500.0, "500", True):  # integers only
            with pytest.raises(ValidationFailed):
                open_dispute(delivered, outcome_wanted=Dispute.Outcome.PARTIAL_REFUND, amount_wanted_minor=bad)
        assert not Dispute.objects.exists() and fresh(delivered).status == S.DELIVERED

    def test_an_amount_goes_with_a_partial_refund_only(self, order, delivered):
        """The page shows the amount field without JavaScript whatever the outcome chosen: an
        amount typed before choosing a full refund or a release is not kept as wanted."""
        d = open_dispute(delivered, outcome_wanted=Dispute.Outcome.FULL_REFUND, amount_wanted_minor=700)
        assert d.amount_wanted_minor is None
        services.dispute_withdraw(dispute_id=d.pk, user=order.buyer)
        d = open_order_dispute(order, outcome_wanted=Dispute.Outcome.RELEASE, amount_wanted_minor=10**9)
        assert d.amount_wanted_minor is None


# --- answering, the thread, the window -------------------------------------------------------------


class TestRespond:
    def test_the_other_party_answers_in_time(self, order, delivered):
        d = open_dispute(delivered)
        with pytest.raises(DisputeClosed):
            services.dispute_respond(dispute_id=d.pk, user=order.buyer, statement="Me again.")
        d = services.dispute_respond(dispute_id=d.pk, user=order.seller, statement="It is as agreed.")
        assert d.status == DS.UNDER_REVIEW and d.response == "It is as agreed."
        with pytest.raises(DisputeClosed):
            services.dispute_respond(dispute_id=d.pk, user=order.seller, statement="Again.")

    def test_too_late_and_strangers(self, order, delivered, clock):
        d = open_dispute(delivered)
        with pytest.raises(NotFound):
            services.dispute_respond(dispute_id=d.pk, user=UserFactory(), statement="Hi.")
        clock.move_to(NOW + timedelta(days=5))
        with pytest.raises(ResponseWindowOver):
            services.dispute_respond(dispute_id=d.pk, user=order.seller, statement="Late.")

    def test_the_sweep_sends_unanswered_disputes_to_review(self, delivered, clock):
        d = open_dispute(delivered)
        clock.move_to(NOW + timedelta(days=5) - timedelta(seconds=1))
        assert services.disputes_response_window_sweep() == 0
        clock.move_to(NOW + timedelta(days=5))
        assert disputes_response_window_sweep_task() == 1
        assert fresh(d).status == DS.UNDER_REVIEW
        assert services.disputes_response_window_sweep() == 0
        assert events(fresh(d))[-1] == (DS.AWAITING_RESPONSE, DS.UNDER_REVIEW, "response window over")

    def test_messages_from_both_parties_only(self, order, delivered):
        d = open_dispute(delivered)
        services.dispute_message_post(dispute_id=d.pk, user=order.seller, body="Can we talk?")
        services.dispute_message_post(dispute_id=d.pk, user=order.buyer, body="Yes.")
        assert list(d.messages.values_list("body", flat=True)) == ["Can we talk?", "Yes."]
        assert Notification.objects.filter(user=order.buyer, kind="dispute_message").count() == 1
        with pytest.raises(NotFound):
            services.dispute_message_post(dispute_id=d.pk, user=UserFactory(), body="Hello")


# --- withdrawing ----------------------------------------------------------------------------------


class TestWithdraw:
    def test_withdrawing_resumes_the_delivery_with_a_fresh_review_window(self, order, delivered, clock):
        d = open_dispute(delivered)
        clock.move_to(NOW + timedelta(days=4))
        with pytest.raises(DisputeClosed):
            services.dispute_withdraw(dispute_id=d.pk, user=order.seller)
        d = services.dispute_withdraw(dispute_id=d.pk, user=order.buyer)
        assert d.status == DS.WITHDRAWN
        m = fresh(delivered)
        assert m.status == S.DELIVERED and m.review_deadline == NOW + timedelta(days=4 + 3)
        assert services.dispute_withdraw(dispute_id=d.pk, user=order.buyer).status == DS.WITHDRAWN  # no-op
        assert lifecycle.auto_release_sweep() == 0
        clock.move_to(m.review_deadline)
        assert lifecycle.auto_release_sweep() == 1
        assert fresh(m).status == S.ACCEPTED
        assert_books()

    def test_disputing_then_withdrawing_buys_the_buyer_no_review_time(self, order, delivered, staff, clock):
        """The review time left when frozen comes back, not a fresh window: otherwise a buyer
        could open and withdraw disputes for ever and the delivery would never be released."""
        deadline = delivered.review_deadline
        for _ in range(3):
            clock.move_to(deadline - timedelta(hours=1))  # an hour left
            d = open_dispute(fresh(delivered))
            clock.shift(timedelta(days=2))
            services.dispute_withdraw(dispute_id=d.pk, user=order.buyer)
            m = fresh(delivered)
            assert m.status == S.DELIVERED and m.review_deadline == timezone.now() + timedelta(hours=1)
            assert not (m.reminded_48h or m.reminded_24h)
            deadline = m.review_deadline
        clock.move_to(deadline)
        assert lifecycle.auto_release_sweep() == 1 and fresh(delivered).status == S.ACCEPTED

    def test_an_order_dispute_withdrawn_gives_back_the_review_time_left_too(self, order, delivered, clock):
        clock.move_to(delivered.review_deadline - timedelta(hours=1))
        d = open_order_dispute(order)
        clock.shift(timedelta(days=2))
        services.dispute_withdraw(dispute_id=d.pk, user=order.buyer)
        assert fresh(delivered).review_deadline == timezone.now() + timedelta(hours=1)

    def test_a_seller_withdrawing_or_an_admin_closing_leaves_the_buyer_a_day_at_least(
        self, order, delivered, staff, clock
    ):
        # With more than a day left, that much comes back.
        clock.move_to(delivered.review_deadline - timedelta(days=2))
        d = open_dispute(fresh(delivered), by="seller")
        clock.shift(timedelta(days=9))
        services.dispute_withdraw(dispute_id=d.pk, user=order.seller)
        assert fresh(delivered).review_deadline == timezone.now() + timedelta(days=2)
        # With an hour left, a day.
        clock.move_to(fresh(delivered).review_deadline - timedelta(hours=1))
        d = open_dispute(fresh(delivered), by="seller")
        services.dispute_withdraw(dispute_id=d.pk, user=order.seller)
        assert fresh(delivered).review_deadline == timezone.now() + timedelta(hours=24)
        clock.move_to(fresh(delivered).review_deadline - timedelta(hours=2))
        d = open_dispute(fresh(delivered))
        clock.shift(timedelta(days=1))
        services.dispute_close(dispute_id=d.pk, admin=staff, note="Talk it over.")
        assert fresh(delivered).review_deadline == timezone.now() + timedelta(hours=24)

    def test_a_new_dispute_may_follow_a_withdrawn_one(self, order, delivered):
        d = open_dispute(delivered)
        services.dispute_withdraw(dispute_id=d.pk, user=order.buyer)
        assert open_dispute(delivered, by="seller").frozen_from == S.DELIVERED

    def test_withdrawing_a_milestone_in_progress(self, order):
        m1 = milestones_of(order)[0]
        d = open_dispute(m1)
        services.dispute_withdraw(dispute_id=d.pk, user=order.buyer)
        assert fresh(m1).status == S.IN_PROGRESS

    def test_work_resumes_with_its_due_date_moved_by_the_time_on_hold(self, order, staff, clock):
        """The seller cannot deliver while the dispute holds the milestone: its due date moves
        by the time on hold, so the buyer cannot cancel it as late the moment it resumes."""
        m1 = milestones_of(order)[0]
        due = m1.due_at
        clock.move_to(NOW + timedelta(hours=1))
        d = open_dispute(m1)
        clock.move_to(due + timedelta(days=3))  # past the due date and LATE_CANCEL_HOURS
        services.dispute_withdraw(dispute_id=d.pk, user=order.buyer)
        m1 = fresh(m1)
        held_for = due + timedelta(days=3) - (NOW + timedelta(hours=1))
        assert (m1.status, m1.due_at) == (S.IN_PROGRESS, due + held_for)
        with pytest.raises(InvalidTransition):
            lifecycle.milestone_cancel_late(milestone_id=m1.pk, buyer=order.buyer)
        # The same when an admin closes it, and for an order dispute's holds.
        d = open_order_dispute(order)
        clock.shift(timedelta(days=2))
        services.dispute_close(dispute_id=d.pk, admin=staff, note="Talk it over.")
        assert fresh(m1).due_at == m1.due_at + timedelta(days=2)
        assert fresh(m1).status == S.IN_PROGRESS


# --- money outcomes ---------------------------------------------------------------------------------


def refund_sent_once(refund: Refund) -> None:
    lifecycle.refund_send(refund_id=refund.pk)  # what the task queued on commit does
    lifecycle.refund_send(refund_id=refund.pk)
    assert fresh(refund).status == Refund.Status.SUCCEEDED
    assert LocalRefund.objects.filter(idempotency_key=refund.idempotency_key).count() == 1
    assert LedgerTransaction.objects.filter(reference=f"{refund.idempotency_key}-paid").count() == 1


class TestSettlement:
    def test_accepted_offer_splits_the_money_and_the_order_goes_on(self, order, delivered):
        d = open_dispute(delivered)
        offer = services.settlement_propose(dispute_id=d.pk, user=order.seller, seller_amount_minor=1500)
        with pytest.raises(SettlementRefused):
            services.settlement_accept(offer_id=offer.pk, user=order.seller)
        d = services.settlement_accept(offer_id=offer.pk, user=order.buyer)
        assert (d.status, d.resolution_action, d.seller_amount_minor, d.refund_amount_minor) == (
            DS.RESOLVED,
            Dispute.Action.SETTLED,
            1500,
            500,
        )
        m1, m2, _ = milestones_of(order)
        assert m1.status == S.SPLIT and m2.status == S.IN_PROGRESS
        payout = Payout.objects.get(milestone=m1)
        assert (payout.gross_minor, payout.commission_minor, payout.amount_minor) == (1500, 300, 1200)
        assert ledger.escrow_balance(order) == order.subtotal_minor - 2000
        refund = Refund.objects.get(order=order)
        assert refund.amount_minor == 500 and refund.milestone_ids == [m1.pk]
        assert refund.idempotency_key == idempotency_key("order", order.pk, "refund", m1.pk)
        assert LedgerTransaction.objects.filter(order=order, kind=K.MILESTONE_RELEASED).count() == 1
        assert LedgerTransaction.objects.filter(order=order, kind=K.MILESTONES_REFUNDED).count() == 1
        refund_sent_once(refund)
        # Accepting again is a no-op.
        assert services.settlement_accept(offer_id=offer.pk, user=order.buyer).status == DS.RESOLVED
        assert Refund.objects.count() == 1

    def test_amounts_out_of_range_are_refused(self, order, delivered):
        d = open_dispute(delivered)
        for bad in (-1, PRICES[0] + 1, "100"):
            with pytest.raises(ValidationFailed):
                services.settlement_propose(dispute_id=d.pk, user=order.buyer, seller_amount_minor=bad)

    def test_a_new_offer_replaces_the_proposers_last_and_declines_work(self, order, delivered):
        d = open_dispute(delivered)
        first = services.settlement_propose(dispute_id=d.pk, user=order.buyer, seller_amount_minor=500)
        second = services.settlement_propose(dispute_id=d.pk, user=order.buyer, seller_amount_minor=800)
        assert fresh(first).status == SettlementOffer.Status.WITHDRAWN
        with pytest.raises(SettlementRefused):
            services.settlement_accept(offer_id=first.pk, user=order.seller)
        services.settlement_decline(offer_id=second.pk, user=order.seller)
        assert fresh(second).status == SettlementOffer.Status.DECLINED
        assert fresh(d).status == DS.AWAITING_RESPONSE


class TestResolve:
    def test_release_to_the_seller(self, order, delivered, staff):
        d = open_dispute(delivered)
        d = services.dispute_resolve(dispute_id=d.pk, admin=staff, action="release", note="Work matches the brief.")
        m1, m2, _ = milestones_of(order)
        assert m1.status == S.ACCEPTED and m2.status == S.IN_PROGRESS
        assert Payout.objects.get(milestone=m1).commission_minor == COMMISSIONS[0]
        assert not Refund.objects.exists()
        assert d.resolved_by == staff and d.resolution_note == "Work matches the brief."
        assert events(d)[-1] == (DS.AWAITING_RESPONSE, DS.RESOLVED, "release")
        assert Notification.objects.filter(kind="dispute_resolved").count() == 2
        assert_books()

    def test_refund_to_the_buyer(self, order, delivered, staff):
        d = open_dispute(delivered)
        services.dispute_resolve(dispute_id=d.pk, admin=staff, action="refund", note="Not delivered as agreed.")
        m1, m2, _ = milestones_of(order)
        assert m1.status == S.CANCELLED and m2.status == S.IN_PROGRESS
        assert not Payout.objects.exists()
        refund = Refund.objects.get()
        assert refund.amount_minor == PRICES[0]
        refund_sent_once(refund)
        assert_books()

    def test_split_by_percentage(self, order, delivered, staff):
        d = open_dispute(delivered)
        d = services.dispute_resolve(dispute_id=d.pk, admin=staff, action="split", note="A third done.", percent=33)
        assert (d.seller_amount_minor, d.refund_amount_minor) == (660, 1340)
        assert fresh(delivered).status == S.SPLIT
        assert Payout.objects.get().gross_minor == 660 and Refund.objects.get().amount_minor == 1340

    def test_percentages_round_down_for_the_seller_and_the_remainder_goes_to_the_buyer(self):
        assert services.split_amount(1999, percent=33) == 659  # 659.67
        assert services.split_amount(1, percent=50) == 0
        assert services.split_amount(1999, percent=100) == 1999
        assert services.split_amount(1999, seller_amount_minor=7) == 7
        with pytest.raises(ValidationFailed):
            services.split_amount(1999, seller_amount_minor=7, percent=5)

    def test_split_by_amount_and_its_limits(self, order, delivered, staff):
        d = open_dispute(delivered)
        with pytest.raises(ValidationFailed):
            services.dispute_resolve(dispute_id=d.pk, admin=staff, action="split", note="x", seller_amount_minor=2001)
        with pytest.raises(ValidationFailed):
            services.dispute_resolve(dispute_id=d.pk, admin=staff, action="split", note="x", percent=101)
        with pytest.raises(ValidationFailed):
            services.dispute_resolve(dispute_id=d.pk, admin=staff, action="split", note=" ", seller_amount_minor=5)
        with pytest.raises(ValidationFailed):
            services.dispute_resolve(dispute_id=d.pk, admin=staff, action="split", note="x")
        assert (
            fresh(d).status == DS.AWAITING_RESPONSE
            and not LedgerTransaction.objects.filter(kind=K.MILESTONE_RELEASED).exists()
        )
        services.dispute_resolve(dispute_id=d.pk, admin=staff, action="split", note="x", seller_amount_minor=2000)
        assert fresh(delivered).status == S.ACCEPTED  # all of it to the seller
        with pytest.raises(DisputeClosed):
            services.dispute_resolve(dispute_id=d.pk, admin=staff, action="refund", note="again")
        assert Payout.objects.count() == 1

    def test_non_staff_cannot_resolve(self, order, delivered):
        d = open_dispute(delivered)
        with pytest.raises(NotFound):
            services.dispute_resolve(dispute_id=d.pk, admin=order.buyer, action="refund", note="mine")

    def test_the_last_milestone_settled_completes_the_order(self, order, staff):
        for m in milestones_of(order)[:2]:
            deliver(fresh(m))
            lifecycle.milestone_accept(milestone_id=m.pk, buyer=order.buyer)
        m3 = milestones_of(order)[2]
        deliver(m3)
        d = open_dispute(fresh(m3))
        services.dispute_resolve(dispute_id=d.pk, admin=staff, action="split", note="Partly", percent=50)
        assert fresh(order).status == Order.Status.COMPLETED

    def test_a_refund_starts_the_next_milestone(self, order, staff):
        d = open_dispute(milestones_of(order)[0])
        services.dispute_resolve(dispute_id=d.pk, admin=staff, action="refund", note="Nothing done")
        assert fresh(order).status == Order.Status.ACTIVE
        assert [m.status for m in milestones_of(order)] == [S.CANCELLED, S.IN_PROGRESS, S.LOCKED]

    def test_request_info_and_close(self, order, delivered, staff, clock):
        d = open_dispute(delivered)
        services.dispute_respond(dispute_id=d.pk, user=order.seller, statement="Fine work.")
        clock.move_to(NOW + timedelta(days=1))
        d = services.dispute_request_info(dispute_id=d.pk, admin=staff, note="Send the brief.")
        assert d.status == DS.AWAITING_RESPONSE and d.response_due_at == NOW + timedelta(days=6)
        assert d.messages.get().body == "Send the brief."
        d = services.dispute_close(dispute_id=d.pk, admin=staff, note="Resolved between the parties.")
        assert (d.status, d.resolution_action) == (DS.RESOLVED, Dispute.Action.CLOSED)
        m = fresh(delivered)
        assert m.status == S.DELIVERED and m.review_deadline == NOW + timedelta(days=1 + 3)
        assert not LedgerTransaction.objects.filter(kind=K.MILESTONE_RELEASED).exists()


class TestNotifications:
    """Both parties hear of every step that concerns them, each notice leading to the dispute page."""

    @staticmethod
    def told(user, kind: str) -> list[str]:
        return list(Notification.objects.filter(user=user, kind=kind).values_list("url", flat=True))

    def test_opening_answer_offers_and_the_outcome(self, order, delivered):
        d = open_dispute(delivered)
        page = f"/disputes/{d.pk}/"
        assert self.told(order.seller, "dispute_opened") == [page]  # the other party, with the link
        services.dispute_respond(dispute_id=d.pk, user=order.seller, statement="It matches the brief.")
        assert self.told(order.buyer, "dispute_responded") == [page] == self.told(order.seller, "dispute_responded")
        first = services.settlement_propose(dispute_id=d.pk, user=order.buyer, seller_amount_minor=500)
        assert self.told(order.seller, "settlement_proposed") == [page]
        services.settlement_decline(offer_id=first.pk, user=order.seller)
        # The proposer hears that the offer was declined (they would otherwise wait for nothing).
        assert self.told(order.buyer, "settlement_declined") == [page]
        assert self.told(order.seller, "settlement_declined") == []
        second = services.settlement_propose(dispute_id=d.pk, user=order.seller, seller_amount_minor=1500)
        assert self.told(order.buyer, "settlement_proposed") == [page]
        services.settlement_accept(offer_id=second.pk, user=order.buyer)
        assert self.told(order.buyer, "dispute_resolved") == [page] == self.told(order.seller, "dispute_resolved")

    def test_a_withdrawal_is_told_to_both(self, order, delivered):
        d = open_dispute(delivered)
        services.dispute_withdraw(dispute_id=d.pk, user=order.buyer)
        page = f"/disputes/{d.pk}/"
        assert self.told(order.buyer, "dispute_withdrawn") == [page] == self.told(order.seller, "dispute_withdrawn")
