"""A dispute opened while the auto-release sweep runs on the same delivered, due milestone: real
concurrent transactions on PostgreSQL (payments.tests.test_races.race). Whoever locks the order
first wins; the other sees the new state. Exactly one outcome per milestone, balanced books."""

from datetime import timedelta

import pytest
from django.utils import timezone

from disputes.models import Dispute
from disputes.tests.helpers import assert_dispute_books, open_dispute
from milestones.models import OrderMilestone
from payments import lifecycle
from payments.models import LedgerTransaction, Payout
from payments.tests.factories import gig_with_plan
from payments.tests.test_lifecycle import deliver, milestones_of, paid_order
from payments.tests.test_lifecycle_races import refused
from payments.tests.test_races import race, stagger

pytestmark = pytest.mark.django_db(transaction=True)

S = OrderMilestone.Status


def test_dispute_open_against_the_auto_release_sweep_ends_in_exactly_one_outcome():
    gig = gig_with_plan()
    orders = [paid_order(gig=gig) for _ in range(8)]
    firsts = []
    for o in orders:
        m1 = milestones_of(o)[0]
        deliver(m1)
        firsts.append(m1)
    OrderMilestone.objects.filter(status=S.DELIVERED).update(review_deadline=timezone.now() - timedelta(seconds=1))

    def job(i: int):
        if i < len(firsts):
            stagger(2 * i)
            return refused(lambda: open_dispute(firsts[i]).status)
        stagger(1)
        return lifecycle.auto_release_sweep()

    outcomes = race(len(firsts) + 2, job)

    released = 0
    for i, m in enumerate(firsts):
        m = OrderMilestone.objects.get(pk=m.pk)
        was_released = LedgerTransaction.objects.filter(reference=f"milestone-{m.pk}-released").count()
        disputed = Dispute.objects.filter(milestone=m).count()
        assert disputed == 1 and was_released in (0, 1), (m.pk, was_released, disputed)
        if was_released:
            # Released first: the dispute then freezes its payout, pending clearance.
            assert m.status == S.ACCEPTED and outcomes[i] == Dispute.Status.AWAITING_RESPONSE
            assert Dispute.objects.get(milestone=m).frozen_from == S.ACCEPTED
            assert Payout.objects.get(milestone=m).frozen
            released += 1
        else:
            assert m.status == S.DISPUTED and outcomes[i] == Dispute.Status.AWAITING_RESPONSE
            assert not Payout.objects.filter(milestone=m).exists()
    assert sum(outcomes[len(firsts) :]) == released
    assert_dispute_books()
