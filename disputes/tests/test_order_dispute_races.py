"""A dispute about the whole order opened while the auto-release sweep runs on the same order
(its first milestone delivered and due): real concurrent transactions on PostgreSQL. Both lock
the order first (the sweep with skip_locked), so exactly one acts first: either the milestone
is released and the dispute then holds its payout, or the dispute froze it and no release
follows. Balanced books."""

import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from disputes.models import Dispute, DisputeHold
from disputes.tests.helpers import assert_dispute_books, open_order_dispute
from milestones.models import OrderMilestone
from payments import lifecycle
from payments.models import LedgerTransaction, Payout
from payments.tests.factories import gig_with_plan
from payments.tests.test_lifecycle import deliver, milestones_of, paid_order
from payments.tests.test_lifecycle_races import refused
from payments.tests.test_races import race

pytestmark = pytest.mark.django_db(transaction=True)

S = OrderMilestone.Status


def test_order_dispute_open_against_the_auto_release_sweep_ends_in_exactly_one_outcome():
    gig = gig_with_plan()
    orders = [paid_order(gig=gig) for _ in range(8)]
    for o in orders:
        deliver(milestones_of(o)[0])
    OrderMilestone.objects.filter(status=S.DELIVERED).update(review_deadline=timezone.now() - timedelta(seconds=1))

    def job(i: int):
        # Connect first (a new thread's connection takes longer than the race itself), then
        # spread the openings over ~35 ms with the sweeps in the middle: some orders are held
        # before the sweep locks them, some after it released their first milestone.
        connection.ensure_connection()
        if i < len(orders):
            time.sleep(0.005 * i)
            return refused(lambda: open_order_dispute(orders[i]).status)
        time.sleep(0.015 + 0.001 * i)
        return lifecycle.auto_release_sweep()

    outcomes = race(len(orders) + 2, job)

    released = 0
    for i, o in enumerate(orders):
        m1, m2, m3 = milestones_of(o)
        d = Dispute.objects.get(order=o, kind=Dispute.Kind.ORDER)
        assert outcomes[i] == Dispute.Status.AWAITING_RESPONSE
        hold1 = DisputeHold.objects.get(dispute=d, milestone=m1)
        releases = LedgerTransaction.objects.filter(reference=f"milestone-{m1.pk}-released").count()
        assert releases in (0, 1)
        if releases:
            # Released first: the dispute then holds its payout and the milestone it started.
            assert (m1.status, hold1.frozen_from, hold1.payout_frozen) == (S.ACCEPTED, S.ACCEPTED, True)
            assert Payout.objects.get(milestone=m1).frozen
            assert DisputeHold.objects.get(dispute=d, milestone=m2).frozen_from == S.IN_PROGRESS
            released += 1
        else:
            # Frozen first: no release after the freeze committed, whatever the sweep saw.
            assert (m1.status, hold1.frozen_from) == (S.DISPUTED, S.DELIVERED)
            assert not Payout.objects.filter(milestone=m1).exists()
            assert DisputeHold.objects.get(dispute=d, milestone=m2).frozen_from == S.LOCKED
        assert (m2.status, m3.status) == (S.DISPUTED, S.DISPUTED)
        assert DisputeHold.objects.filter(dispute=d).count() == 3
    assert sum(outcomes[len(orders) :]) == released
    # Another sweep later finds nothing more: frozen milestones are never released.
    assert lifecycle.auto_release_sweep() == 0
    assert LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.MILESTONE_RELEASED).count() == released
    assert_dispute_books()
