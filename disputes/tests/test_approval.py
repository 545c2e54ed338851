"""A second admin's approval above DISPUTE_APPROVAL_ABOVE_MINOR: the decision waits, no money
moves; another admin approves (the money moves once, the books balance) or rejects it."""

import pytest
from django.contrib.auth.models import Group

from disputes import services
from disputes.exceptions import DisputeClosed, DisputeNotAllowed
from disputes.models import Dispute, DisputeEvent
from disputes.tests.helpers import assert_dispute_books, open_dispute
from gigs.tests.factories import UserFactory
from marketplace.exceptions import NotFound
from milestones.models import OrderMilestone
from payments.models import LedgerTransaction, Payout, Refund
from payments.tests.test_lifecycle import deliver, fresh, milestones_of, paid_order, pin_rules

pytestmark = pytest.mark.django_db

S = OrderMilestone.Status
DS = Dispute.Status


@pytest.fixture(autouse=True)
def _rules(settings):
    # The first milestone's price is 2000: above this threshold.
    pin_rules(settings, DISPUTE_RESPONSE_DAYS=5, DISPUTE_APPROVAL_ABOVE_MINOR=1999)


def agent():
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name="Dispute agents"))
    return user


@pytest.fixture
def dispute() -> Dispute:
    order = paid_order()
    m1 = milestones_of(order)[0]
    deliver(m1)
    d = open_dispute(fresh(m1))
    assert fresh(m1).price_minor == 2000
    return d


def propose(d, by, **kw):
    args = {"action": "split", "note": "Half was usable.", "percent": 50, **kw}
    return services.dispute_resolve(dispute_id=d.pk, admin=by, **args)


def test_above_the_threshold_the_decision_waits_and_no_money_moves(dispute):
    first = agent()
    before = LedgerTransaction.objects.count()
    d = propose(dispute, first)
    d = fresh(d)
    assert d.status == DS.UNDER_REVIEW and d.has_pending_decision
    assert (d.pending_action, d.pending_seller_amount_minor, d.pending_refund_amount_minor) == ("split", 1000, 1000)
    assert (d.proposed_by, d.pending_note, d.resolved_at, d.resolution_action) == (first, "Half was usable.", None, "")
    assert fresh(d.milestone).status == S.DISPUTED
    assert LedgerTransaction.objects.count() == before and not Payout.objects.exists() and not Refund.objects.exists()
    event = DisputeEvent.objects.get(dispute=d, action="decision proposed")
    assert event.actor == first and "Half was usable." in event.note
    # Another decision while one waits is refused.
    with pytest.raises(DisputeClosed):
        propose(d, agent(), action="release")
    assert_dispute_books()


def test_at_or_below_the_threshold_nothing_changes(settings, dispute):
    pin_rules(settings, DISPUTE_APPROVAL_ABOVE_MINOR=2000)
    d = propose(dispute, agent())
    assert d.status == DS.RESOLVED and not d.pending_action and d.approved_by is None
    assert Payout.objects.get().gross_minor == 1000 and Refund.objects.get().amount_minor == 1000
    assert not DisputeEvent.objects.filter(action="decision proposed").exists()
    assert_dispute_books()


def test_the_proposer_cannot_approve_their_own_decision(dispute):
    first = agent()
    propose(dispute, first)
    with pytest.raises(DisputeNotAllowed, match="second admin"):
        services.dispute_decision_approve(dispute_id=dispute.pk, admin=first, note="Looks right.")
    d = fresh(dispute)
    assert d.has_pending_decision and d.status == DS.UNDER_REVIEW and not Payout.objects.exists()


def test_a_second_admin_approves_and_the_money_moves_once(dispute):
    first, second = agent(), agent()
    propose(dispute, first)
    d = services.dispute_decision_approve(dispute_id=dispute.pk, admin=second, note="Agreed.")
    d = fresh(d)
    assert (d.status, d.resolution_action, d.seller_amount_minor, d.refund_amount_minor) == (
        DS.RESOLVED,
        "split",
        1000,
        1000,
    )
    assert (d.proposed_by, d.approved_by, d.resolved_by) == (first, second, second)
    assert "Half was usable." in d.resolution_note and "Agreed." in d.resolution_note
    assert not d.has_pending_decision
    assert fresh(d.milestone).status == S.SPLIT
    assert Payout.objects.get().gross_minor == 1000 and Refund.objects.get().amount_minor == 1000
    assert DisputeEvent.objects.filter(dispute=d, action="decision approved", actor=second).exists()
    assert_dispute_books()
    # Approving again is refused and moves nothing.
    with pytest.raises(DisputeClosed):
        services.dispute_decision_approve(dispute_id=d.pk, admin=agent(), note="Again.")
    assert Payout.objects.count() == 1 and Refund.objects.count() == 1
    assert LedgerTransaction.objects.filter(reference=f"milestone-{d.milestone_id}-released").count() == 1
    assert_dispute_books()


def test_a_second_admin_rejects_and_a_new_decision_can_follow(dispute):
    first, second = agent(), agent()
    propose(dispute, first, action="release")
    d = services.dispute_decision_reject(dispute_id=dispute.pk, admin=second, note="Not convinced.")
    d = fresh(d)
    assert d.is_active and not d.has_pending_decision and d.proposed_by is None
    assert not Payout.objects.exists() and not Refund.objects.exists()
    event = DisputeEvent.objects.get(dispute=d, action="decision rejected")
    assert event.actor == second and "Not convinced." in event.note
    with pytest.raises(DisputeClosed):
        services.dispute_decision_approve(dispute_id=d.pk, admin=second, note="Nothing waits.")
    propose(d, second, action="refund", note="Refund in full.")
    d = services.dispute_decision_approve(dispute_id=d.pk, admin=first, note="Yes.")
    assert d.status == DS.RESOLVED and fresh(d.milestone).status == S.CANCELLED
    assert Refund.objects.get().amount_minor == 2000 and not Payout.objects.exists()
    assert_dispute_books()


def test_approving_needs_staff_and_the_permission(dispute):
    propose(dispute, agent())
    with pytest.raises(NotFound):
        services.dispute_decision_approve(dispute_id=dispute.pk, admin=UserFactory(), note="x")
    no_permission = "do not have the permission to approve or reject"  # refused for that, not another reason
    with pytest.raises(DisputeNotAllowed, match=no_permission):
        services.dispute_decision_approve(dispute_id=dispute.pk, admin=UserFactory(is_staff=True), note="x")
    with pytest.raises(DisputeNotAllowed, match=no_permission):
        services.dispute_decision_reject(dispute_id=dispute.pk, admin=UserFactory(is_staff=True), note="x")
    assert fresh(dispute).has_pending_decision


def test_the_opener_cannot_withdraw_while_a_decision_waits(client, dispute):
    """ "The opener can withdraw it until a decision": an admin's decision waiting for the second
    approval is one; withdrawing would throw it away (and resume the milestone). Settling stays."""
    order = dispute.order
    propose(dispute, agent())
    with pytest.raises(DisputeClosed):
        services.dispute_withdraw(dispute_id=dispute.pk, user=order.buyer)
    d = fresh(dispute)
    assert d.status == DS.UNDER_REVIEW and d.has_pending_decision and fresh(d.milestone).status == S.DISPUTED
    client.force_login(order.buyer)
    page = client.get(f"/disputes/{d.pk}/")
    assert page.context["withdraw_form"] is None and "withdraw it" not in page.content.decode()
    refused = client.post(f"/disputes/{d.pk}/withdraw/", {"note": ""}, follow=True)
    assert "can no longer be withdrawn" in refused.content.decode()
    assert fresh(d).status == DS.UNDER_REVIEW
    offer = services.settlement_propose(dispute_id=d.pk, user=order.buyer, seller_amount_minor=800)
    assert services.settlement_accept(offer_id=offer.pk, user=order.seller).status == DS.RESOLVED
    assert_dispute_books()
