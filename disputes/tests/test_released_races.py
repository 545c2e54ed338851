"""A dispute opened on an accepted milestone while the clearance sweep runs on its payout, due
now: real concurrent transactions on PostgreSQL (payments.tests.test_races.race). The dispute
locks order -> milestone -> payout, the sweep locks the payout (skip_locked) and re-checks it:
each payout ends either cleared (the dispute refused) or frozen (not cleared), books balanced."""

from datetime import timedelta

import pytest
from django.utils import timezone

from disputes.models import Dispute
from disputes.tests.helpers import assert_dispute_books, open_dispute
from payments import ledger, lifecycle
from payments.models import LedgerTransaction, Payout
from payments.tests.factories import gig_with_plan
from payments.tests.test_lifecycle import accept, deliver, milestones_of, paid_order
from payments.tests.test_lifecycle_races import refused
from payments.tests.test_races import race, stagger

pytestmark = pytest.mark.django_db(transaction=True)


def test_dispute_open_against_the_clearance_sweep_ends_in_exactly_one_outcome():
    gig = gig_with_plan()
    firsts = []
    for _ in range(8):
        m1 = milestones_of(paid_order(gig=gig))[0]
        deliver(m1)
        accept(m1)
        firsts.append(m1)
    Payout.objects.update(clears_at=timezone.now() - timedelta(seconds=1))

    def job(i: int):
        if i < len(firsts):
            stagger(2 * i)
            return refused(lambda: open_dispute(firsts[i]).status)
        stagger(1)
        return lifecycle.payouts_clear_sweep()

    outcomes = race(len(firsts) + 2, job)

    cleared = 0
    for i, m in enumerate(firsts):
        payout = Payout.objects.get(milestone=m)
        was_cleared = LedgerTransaction.objects.filter(reference=f"payout-{payout.pk}-cleared").count()
        disputed = Dispute.objects.filter(milestone=m).count()
        assert (was_cleared, disputed) in ((1, 0), (0, 1)), (m.pk, was_cleared, disputed)
        if was_cleared:
            assert payout.status == Payout.Status.AVAILABLE and not payout.frozen
            assert outcomes[i] == "dispute_not_allowed"
            cleared += 1
        else:
            assert payout.status == Payout.Status.PENDING_CLEARANCE and payout.frozen
            assert outcomes[i] == Dispute.Status.AWAITING_RESPONSE
    assert sum(outcomes[len(firsts) :]) == cleared
    # Nothing frozen is cleared or sent afterwards either.
    assert lifecycle.payouts_clear_sweep() == 0
    lifecycle.payouts_transfer_drain()
    frozen = list(Payout.objects.filter(frozen=True))
    assert len(frozen) == len(firsts) - cleared  # the check below runs on every disputed payout
    assert all(p.status == Payout.Status.PENDING_CLEARANCE for p in frozen)
    assert all(total == 0 for total in ledger.trial_balance().values())
    assert_dispute_books()
