"""Disputes about the whole order (kind "order"): opening holds every milestone within reach
(unreleased ones, started or not, frozen; accepted ones pending clearance with the payout
frozen) through DisputeHold rows; every party and admin step works on it over the sum it
holds; decisions spread the seller's amount over the held milestones earliest first. Every
test ends with the books checked (assert_dispute_books)."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from disputes import services
from disputes.exceptions import DisputeAlreadyOpen, DisputeClosed, DisputeNotAllowed
from disputes.models import Dispute, DisputeEvidence, DisputeHold
from disputes.tests.helpers import assert_dispute_books, open_dispute, open_order_dispute
from disputes.tests.test_chargebacks import Bank
from gigs.tests.factories import UserFactory
from marketplace.exceptions import NotFound, ValidationFailed
from milestones.exceptions import InvalidTransition
from milestones.models import Order, OrderMilestone
from payments import lifecycle
from payments.models import Payout, Refund
from payments.tests.stripe_fake import WEBHOOK_SECRET
from payments.tests.test_lifecycle import NOW, accept, deliver, fresh, milestones_of, pin_rules

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("books")]

S = OrderMilestone.Status
DS = Dispute.Status
H = DisputeHold.Outcome
TOTAL = 7500  # 2000 + 3000 + 2500


@pytest.fixture(autouse=True)
def _rules(settings):
    pin_rules(settings, DISPUTE_RESPONSE_DAYS=5, DISPUTE_APPROVAL_ABOVE_MINOR=10**9)
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET


def statuses(order: Order) -> list[str]:
    return [m.status for m in milestones_of(order)]


def holds(d: Dispute) -> list[tuple[int, str, bool, str]]:
    return [
        (h.milestone.position, h.frozen_from, h.payout_frozen, h.outcome)
        for h in DisputeHold.objects.filter(dispute=d).select_related("milestone").order_by("milestone__position")
    ]


def snapshot(order: Order) -> tuple:
    return (
        statuses(order),
        Dispute.objects.filter(order=order).count(),
        DisputeHold.objects.filter(milestone__order=order).count(),
        list(Payout.objects.filter(order=order).values_list("frozen", "status")),
        Refund.objects.filter(order=order).count(),
    )


@pytest.fixture
def delivered_order(order) -> Order:
    deliver(milestones_of(order)[0])
    return order


@pytest.fixture
def accepted_first(order) -> Order:
    m1 = milestones_of(order)[0]
    deliver(m1)
    accept(m1)
    return order


class TestOpen:
    def test_it_holds_every_unreleased_milestone_at_once_locked_ones_too(self, delivered_order, clock):
        order = delivered_order
        d = open_order_dispute(order, files=[SimpleUploadedFile("brief.pdf", b"%PDF")])
        assert (d.kind, d.milestone_id, d.status, d.amount_minor) == (
            Dispute.Kind.ORDER,
            None,
            DS.AWAITING_RESPONSE,
            TOTAL,
        )
        assert d.response_due_at == NOW + timedelta(days=5)
        assert statuses(order) == [S.DISPUTED, S.DISPUTED, S.DISPUTED]
        assert holds(d) == [(0, S.DELIVERED, False, H.HELD), (1, S.LOCKED, False, H.HELD), (2, S.LOCKED, False, H.HELD)]
        assert fresh(milestones_of(order)[0]).review_deadline is None
        assert services.amount_at_stake(d) == TOTAL
        assert DisputeEvidence.objects.get(dispute=d).post == DisputeEvidence.Post.OPENING
        # Past the old review deadline the auto-release sweep finds nothing.
        clock.move_to(NOW + timedelta(days=30))
        assert lifecycle.auto_release_sweep() == 0
        assert not Payout.objects.exists()

    def test_an_accepted_milestone_pending_clearance_has_its_payout_held(self, accepted_first, clock):
        order = accepted_first
        d = open_order_dispute(order, by="seller", outcome_wanted=Dispute.Outcome.RELEASE)
        assert statuses(order) == [S.ACCEPTED, S.DISPUTED, S.DISPUTED]
        assert holds(d) == [
            (0, S.ACCEPTED, True, H.HELD),
            (1, S.IN_PROGRESS, False, H.HELD),
            (2, S.LOCKED, False, H.HELD),
        ]
        assert d.amount_minor == TOTAL
        payout = Payout.objects.get(order=order)
        assert payout.frozen
        clock.move_to(NOW + timedelta(days=30))
        assert lifecycle.payouts_clear_sweep() == 0
        assert fresh(payout).status == Payout.Status.PENDING_CLEARANCE

    def test_a_cleared_payout_is_not_held_and_not_at_stake(self, accepted_first, clock):
        order = accepted_first
        clock.move_to(NOW + timedelta(days=30))
        lifecycle.payouts_clear_sweep()
        d = open_order_dispute(order)
        assert [h[0] for h in holds(d)] == [1, 2] and d.amount_minor == 5500

    def test_a_milestone_dispute_open_refuses_the_order_dispute_and_nothing_changes(self, delivered_order):
        order = delivered_order
        open_dispute(milestones_of(order)[0])
        before = snapshot(order)
        with pytest.raises(DisputeAlreadyOpen):
            open_order_dispute(order)
        assert snapshot(order) == before

    def test_an_order_dispute_refuses_a_second_and_a_milestone_dispute_on_what_it_holds(self, accepted_first):
        order = accepted_first
        open_order_dispute(order)
        before = snapshot(order)
        with pytest.raises(DisputeAlreadyOpen):
            open_order_dispute(order, by="seller")
        for m in milestones_of(order):  # the accepted one (payout held) and the frozen ones
            with pytest.raises(DisputeAlreadyOpen):
                open_dispute(m)
        assert snapshot(order) == before

    def test_a_chargeback_refuses_it_and_nothing_changes(self, delivered_order):
        order = delivered_order
        Bank(order).created()
        before = snapshot(order)
        with pytest.raises(DisputeNotAllowed, match=f"A chargeback on order #{order.pk} holds its money"):
            open_order_dispute(order)
        assert snapshot(order) == before

    def test_strangers_get_not_found_and_nothing_changes(self, delivered_order):
        before = snapshot(delivered_order)
        with pytest.raises(NotFound):
            services.dispute_open_order(
                order_id=delivered_order.pk,
                user=UserFactory(),
                reason="quality",
                description="x",
                outcome_wanted="full_refund",
            )
        assert snapshot(delivered_order) == before

    def test_bad_input_and_an_amount_above_what_it_holds_change_nothing(self, delivered_order):
        before = snapshot(delivered_order)
        with pytest.raises(ValidationFailed) as exc:
            open_order_dispute(delivered_order, description=" ", reason="nope")
        assert set(exc.value.errors) == {"description", "reason"}
        with pytest.raises(ValidationFailed) as exc:
            open_order_dispute(
                delivered_order, outcome_wanted=Dispute.Outcome.PARTIAL_REFUND, amount_wanted_minor=TOTAL + 1
            )
        assert "amount_wanted_minor" in exc.value.errors
        assert snapshot(delivered_order) == before

    def test_nothing_within_reach_is_refused(self, order, clock):
        for m in milestones_of(order):
            deliver(fresh(m))
            accept(fresh(m))
        assert fresh(order).status == Order.Status.COMPLETED
        with pytest.raises(DisputeNotAllowed):
            open_order_dispute(order)
        assert not Dispute.objects.exists()


class TestParties:
    def test_respond_thread_offers_and_the_sweep(self, delivered_order, clock):
        order = delivered_order
        d = open_order_dispute(order)
        msg = services.dispute_message_post(
            dispute_id=d.pk, user=order.seller, body="See the files.", files=[SimpleUploadedFile("a.png", b"x")]
        )
        ev = DisputeEvidence.objects.get(dispute=d, name="a.png")
        assert (ev.post, ev.message_id) == (DisputeEvidence.Post.MESSAGE, msg.pk)
        with pytest.raises(ValidationFailed):
            services.settlement_propose(dispute_id=d.pk, user=order.seller, seller_amount_minor=TOTAL + 1)
        offer = services.settlement_propose(dispute_id=d.pk, user=order.seller, seller_amount_minor=TOTAL)
        services.settlement_decline(offer_id=offer.pk, user=order.buyer)
        d = services.dispute_respond(
            dispute_id=d.pk, user=order.seller, statement="It is all there.", files=[SimpleUploadedFile("b.png", b"y")]
        )
        assert d.status == DS.UNDER_REVIEW
        assert DisputeEvidence.objects.get(name="b.png").post == DisputeEvidence.Post.RESPONSE
        services.dispute_request_info(dispute_id=d.pk, admin=UserFactory(is_staff=True), note="Send the brief.")
        clock.move_to(NOW + timedelta(days=6))
        assert services.disputes_response_window_sweep() == 1
        assert fresh(d).status == DS.UNDER_REVIEW
        assert statuses(order) == [S.DISPUTED, S.DISPUTED, S.DISPUTED]

    def test_an_accepted_settlement_is_spread_earliest_first(self, delivered_order):
        order = delivered_order
        d = open_order_dispute(order)
        offer = services.settlement_propose(dispute_id=d.pk, user=order.buyer, seller_amount_minor=3500)
        d = services.settlement_accept(offer_id=offer.pk, user=order.seller)
        assert (d.status, d.resolution_action, d.seller_amount_minor, d.refund_amount_minor) == (
            DS.RESOLVED,
            Dispute.Action.SETTLED,
            3500,
            4000,
        )
        # 2000 to milestone 1 (accepted), 1500 of 3000 to milestone 2 (split), milestone 3 refunded.
        assert statuses(order) == [S.ACCEPTED, S.SPLIT, S.CANCELLED]
        assert sorted(Payout.objects.values_list("gross_minor", flat=True)) == [1500, 2000]
        assert sorted(Refund.objects.values_list("amount_minor", flat=True)) == [1500, 2500]
        assert [h[3] for h in holds(d)] == [H.SETTLED] * 3
        assert fresh(order).status == Order.Status.COMPLETED
        assert_dispute_books()

    def test_withdrawn_every_hold_resumes_where_it_was(self, accepted_first, clock):
        order = accepted_first
        m2 = milestones_of(order)[1]
        deliver(m2)
        d = open_order_dispute(order)
        assert holds(d)[1][1] == S.DELIVERED
        clock.move_to(NOW + timedelta(days=2))
        d = services.dispute_withdraw(dispute_id=d.pk, user=order.buyer, note="Sorted out.")
        assert d.status == DS.WITHDRAWN
        assert statuses(order) == [S.ACCEPTED, S.DELIVERED, S.LOCKED]
        # The review time it had left when frozen (all three days), from now: the hold ate none of it.
        assert fresh(m2).review_deadline == NOW + timedelta(days=2 + 3)
        assert not Payout.objects.get(milestone=milestones_of(order)[0]).frozen
        assert [h[3] for h in holds(d)] == [H.RESUMED] * 3
        # The order goes on: the auto-release takes the delivery when its new deadline passes.
        clock.move_to(NOW + timedelta(days=6))
        assert lifecycle.auto_release_sweep() == 1
        assert statuses(order) == [S.ACCEPTED, S.ACCEPTED, S.IN_PROGRESS]

    def test_only_the_opener_withdraws(self, delivered_order):
        d = open_order_dispute(delivered_order)
        with pytest.raises(DisputeClosed):
            services.dispute_withdraw(dispute_id=d.pk, user=delivered_order.seller)
        assert fresh(d).status == DS.AWAITING_RESPONSE


class TestAdmin:
    @pytest.mark.parametrize(
        ("action", "kw", "seller", "expected"),
        [
            ("release", {}, TOTAL, [S.ACCEPTED, S.ACCEPTED, S.ACCEPTED]),
            ("refund", {}, 0, [S.CANCELLED, S.CANCELLED, S.CANCELLED]),
            ("split", {"seller_amount_minor": 2000}, 2000, [S.ACCEPTED, S.CANCELLED, S.CANCELLED]),
            ("split", {"percent": 50}, 3750, [S.ACCEPTED, S.SPLIT, S.CANCELLED]),
        ],
    )
    def test_each_outcome_with_the_books(self, delivered_order, staff, action, kw, seller, expected):
        order = delivered_order
        d = open_order_dispute(order)
        d = services.dispute_resolve(dispute_id=d.pk, admin=staff, action=action, note="Decided.", **kw)
        assert (d.status, d.seller_amount_minor, d.refund_amount_minor) == (DS.RESOLVED, seller, TOTAL - seller)
        assert statuses(order) == expected
        paid = sum(Payout.objects.filter(order=order).values_list("gross_minor", flat=True))
        refunded = sum(Refund.objects.filter(order=order).values_list("amount_minor", flat=True))
        assert (paid, refunded) == (seller, TOTAL - seller)
        assert fresh(order).status == (Order.Status.CANCELLED if seller == 0 else Order.Status.COMPLETED)
        assert_dispute_books()

    def test_a_split_with_a_held_payout_takes_back_from_it(self, accepted_first, staff):
        order = accepted_first
        d = open_order_dispute(order)
        d = services.dispute_resolve(dispute_id=d.pk, admin=staff, action="split", seller_amount_minor=1200, note="x")
        assert statuses(order) == [S.ACCEPTED, S.CANCELLED, S.CANCELLED]
        payout = Payout.objects.get(order=order)
        assert (payout.gross_minor, payout.frozen) == (1200, False)
        # Each milestone refunded once, with its own key: 800 taken back from the payout, 3000, 2500.
        assert sorted(Refund.objects.values_list("amount_minor", flat=True)) == [800, 2500, 3000]
        assert fresh(order).status == Order.Status.COMPLETED
        assert_dispute_books()

    def test_too_much_is_refused_and_nothing_moves(self, delivered_order, staff):
        d = open_order_dispute(delivered_order)
        before = snapshot(delivered_order)
        with pytest.raises(ValidationFailed):
            services.dispute_resolve(
                dispute_id=d.pk, admin=staff, action="split", seller_amount_minor=TOTAL + 1, note="x"
            )
        assert snapshot(delivered_order) == before and fresh(d).status == DS.AWAITING_RESPONSE

    def test_closed_without_a_decision_it_resumes(self, delivered_order, staff):
        d = services.dispute_close(dispute_id=open_order_dispute(delivered_order).pk, admin=staff, note="No case.")
        assert (d.status, d.resolution_action) == (DS.RESOLVED, Dispute.Action.CLOSED)
        assert statuses(delivered_order) == [S.DELIVERED, S.LOCKED, S.LOCKED]
        assert not Payout.objects.exists() and not Refund.objects.exists()

    def test_above_the_threshold_a_second_admin_approves(self, delivered_order, settings):
        from disputes.tests.test_approval import agent

        pin_rules(settings, DISPUTE_APPROVAL_ABOVE_MINOR=TOTAL - 1)
        d = open_order_dispute(delivered_order)
        first, second = agent(), agent()
        d = services.dispute_resolve(dispute_id=d.pk, admin=first, action="split", percent=40, note="Part.")
        assert d.has_pending_decision and (d.pending_seller_amount_minor, d.pending_refund_amount_minor) == (3000, 4500)
        assert not Payout.objects.exists() and not Refund.objects.exists()
        with pytest.raises(DisputeNotAllowed):
            services.dispute_decision_approve(dispute_id=d.pk, admin=first, note="Me.")
        d = services.dispute_decision_approve(dispute_id=d.pk, admin=second, note="Agreed.")
        assert d.status == DS.RESOLVED and statuses(delivered_order) == [S.ACCEPTED, S.SPLIT, S.CANCELLED]
        assert_dispute_books()


class TestWithChargebacks:
    def test_a_chargeback_meanwhile_blocks_decisions_takes_the_holds_over_and_resumes_them(
        self, delivered_order, staff
    ):
        order = delivered_order
        d = open_order_dispute(order)
        bank = Bank(order)
        bank.created()
        bank.funds_withdrawn()
        cb = bank.dispute
        taken = list(DisputeHold.objects.filter(dispute=cb))
        assert {h.milestone_id for h in taken} == {m.pk for m in milestones_of(order)}  # not vacuous
        assert all(h.party_dispute_id == d.pk for h in taken)
        with pytest.raises(DisputeClosed):
            services.dispute_resolve(dispute_id=d.pk, admin=staff, action="refund", note="x")
        assert not Refund.objects.exists()
        services.dispute_withdraw(dispute_id=d.pk, user=order.buyer)
        # Handed over: the chargeback keeps them frozen, and resumes them when won.
        assert statuses(order) == [S.DISPUTED, S.DISPUTED, S.DISPUTED]
        bank.won()
        assert statuses(order) == [S.DELIVERED, S.LOCKED, S.LOCKED]
        assert_dispute_books()

    def test_order_stop_during_a_chargeback_refunds_nothing_held(self, accepted_first):
        order = accepted_first
        bank = Bank(order)
        bank.created()
        bank.funds_withdrawn()
        assert statuses(order) == [S.ACCEPTED, S.DISPUTED, S.DISPUTED]
        with pytest.raises(InvalidTransition, match="on hold"):
            lifecycle.order_stop(order_id=order.pk, buyer=order.buyer)
        assert not Refund.objects.exists() and statuses(order) == [S.ACCEPTED, S.DISPUTED, S.DISPUTED]
        # Won: the not-started one resumes as locked behind the one in progress.
        bank.won()
        assert statuses(order) == [S.ACCEPTED, S.IN_PROGRESS, S.LOCKED]
        assert_dispute_books()

    def test_a_won_chargeback_resumes_locked_and_the_next_starts_on_acceptance(self, delivered_order):
        order = delivered_order
        bank = Bank(order)
        bank.created()
        bank.funds_withdrawn()
        bank.won()
        assert statuses(order) == [S.DELIVERED, S.LOCKED, S.LOCKED]
        accept(milestones_of(order)[0])
        assert statuses(order) == [S.ACCEPTED, S.IN_PROGRESS, S.LOCKED]
        assert_dispute_books()

    def test_a_lost_chargeback_refunds_a_held_not_started_milestone(self, delivered_order):
        order = delivered_order
        bank = Bank(order, amount=2500)
        bank.created()
        bank.funds_withdrawn()
        bank.lost()
        assert statuses(order) == [S.DELIVERED, S.LOCKED, S.CANCELLED]
        assert_dispute_books()


class TestChargebackOutcomesOnAnOrderDispute:
    def test_a_lost_chargeback_takes_its_share_and_the_order_dispute_decides_the_rest(self, delivered_order, staff):
        order = delivered_order
        d = open_order_dispute(order)
        bank = Bank(order, amount=2500)
        bank.created()
        bank.funds_withdrawn()
        bank.lost()
        # The chargeback refunded milestone 3 (latest first); the order dispute still holds 1 and 2.
        assert statuses(order) == [S.DISPUTED, S.DISPUTED, S.CANCELLED]
        assert [h[3] for h in holds(d)] == [H.HELD, H.HELD, H.REFUNDED]
        d = fresh(d)
        assert d.is_active and services.amount_at_stake(d) == 5000
        with pytest.raises(ValidationFailed):
            services.dispute_resolve(dispute_id=d.pk, admin=staff, action="split", seller_amount_minor=5001, note="x")
        d = services.dispute_resolve(dispute_id=d.pk, admin=staff, action="split", seller_amount_minor=2500, note="x")
        assert (d.seller_amount_minor, d.refund_amount_minor) == (2500, 2500)
        assert statuses(order) == [S.ACCEPTED, S.SPLIT, S.CANCELLED]
        assert fresh(order).status == Order.Status.COMPLETED
        assert_dispute_books()

    def test_approval_is_refused_while_a_chargeback_holds_its_money(self, delivered_order, settings):
        from disputes.tests.test_approval import agent

        pin_rules(settings, DISPUTE_APPROVAL_ABOVE_MINOR=1)
        order = delivered_order
        d = open_order_dispute(order)
        first, second = agent(), agent()
        services.dispute_resolve(dispute_id=d.pk, admin=first, action="refund", note="Refund it all.")
        bank = Bank(order)
        bank.created()
        with pytest.raises(DisputeClosed):
            services.dispute_decision_approve(dispute_id=d.pk, admin=second, note="Agreed.")
        assert fresh(d).has_pending_decision and not Refund.objects.exists()
        assert statuses(order) == [S.DISPUTED, S.DISPUTED, S.DISPUTED]
