"""Chargebacks under concurrency, with real transactions on PostgreSQL (threads,
payments.tests.test_races.race): workers processing the same chargeback's events at once open one
dispute and post each movement once; a chargeback arriving while the auto-release sweep runs on
the same orders never lets a milestone be released once its freeze committed. Books balanced."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from disputes.models import Dispute, DisputeHold
from disputes.tests.helpers import assert_dispute_books
from milestones.models import Order, OrderMilestone
from payments import ledger, lifecycle, services
from payments.models import LedgerTransaction, Payment, Payout, Refund, WebhookEvent
from payments.tests.factories import gig_with_plan
from payments.tests.test_lifecycle import deliver, milestones_of, paid_order
from payments.tests.test_races import race, stagger

pytestmark = pytest.mark.django_db(transaction=True)

S = OrderMilestone.Status
FEE = 1500


def dispute_event(order: Order, kind: str, *, ref: str, status: str, txns: list[dict], created: int) -> dict:
    payment = Payment.objects.get(order=order)
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "object": "event",
        "type": f"charge.dispute.{kind}",
        "created": created,
        "data": {
            "object": {
                "id": ref,
                "object": "dispute",
                "amount": order.total_minor,
                "currency": "usd",
                "charge": payment.charge_id,
                "payment_intent": payment.provider_payment_id,
                "reason": "fraudulent",
                "status": status,
                "evidence_details": {"due_by": created + 7 * 86400},
                "balance_transactions": txns,
            }
        },
    }


def store(event: dict) -> int:
    row, created = services.webhook_event_store(event=event, source="stripe")
    assert created
    return row.pk


def test_workers_processing_the_same_chargeback_events_at_once_apply_each_once():
    order = paid_order()
    deliver(milestones_of(order)[0])
    ref, now = f"du_{uuid.uuid4().hex[:20]}", int(timezone.now().timestamp())
    withdrawal = {"id": "txn_race_w", "amount": -order.total_minor, "fee": FEE, "currency": "usd"}
    pks = [
        store(dispute_event(order, "created", ref=ref, status="needs_response", txns=[], created=now)),
        store(
            dispute_event(
                order, "funds_withdrawn", ref=ref, status="needs_response", txns=[withdrawal], created=now + 1
            )
        ),
        store(dispute_event(order, "updated", ref=ref, status="under_review", txns=[withdrawal], created=now + 2)),
        store(dispute_event(order, "closed", ref=ref, status="lost", txns=[withdrawal], created=now + 3)),
    ]

    def worker(i: int) -> list[str]:
        # Half the workers take the events in arrival order, half backwards: any order, at once.
        return [services.webhook_event_process(event_pk=pk).status for pk in (pks if i % 2 else pks[::-1])]

    race(8, worker)

    assert Dispute.objects.filter(kind=Dispute.Kind.CHARGEBACK).count() == 1
    d = Dispute.objects.get(provider_dispute_id=ref)
    assert (d.status, d.resolution_action, d.provider_status) == (Dispute.Status.RESOLVED, Dispute.Action.LOST, "lost")
    assert DisputeHold.objects.filter(dispute=d).count() == 3
    assert LedgerTransaction.objects.filter(reference=f"chargeback-{ref}-txn_race_w").count() == 1
    assert LedgerTransaction.objects.filter(kind=ledger.KIND_CHARGEBACK_REFUNDED).count() == 3
    assert LedgerTransaction.objects.filter(kind=ledger.KIND_CHARGEBACK_LOSS).count() == 1
    assert Refund.objects.filter(order=order).count() == 3
    assert set(WebhookEvent.objects.filter(pk__in=pks).values_list("status", flat=True)) == {"processed"}
    assert WebhookEvent.objects.filter(pk__in=pks, attempts=1).count() == len(pks)  # each applied once
    assert ledger.balance(ledger.chargeback(order.pk), "USD") == 0
    assert [m.status for m in milestones_of(order)] == [S.CANCELLED] * 3
    assert_dispute_books()


def test_a_chargeback_against_the_auto_release_sweep_never_releases_after_the_freeze():
    gig = gig_with_plan()
    orders = [paid_order(gig=gig) for _ in range(8)]
    firsts = []
    for o in orders:
        m1 = milestones_of(o)[0]
        deliver(m1)
        firsts.append(m1)
    OrderMilestone.objects.filter(status=S.DELIVERED).update(review_deadline=timezone.now() - timedelta(seconds=1))
    now = int(timezone.now().timestamp())
    pks = [
        store(dispute_event(o, "created", ref=f"du_sweep_{o.pk}", status="needs_response", txns=[], created=now))
        for o in orders
    ]

    def job(i: int):
        if i < len(orders):
            stagger(2 * i)
            return services.webhook_event_process(event_pk=pks[i]).status
        stagger(1)
        return lifecycle.auto_release_sweep()

    outcomes = race(len(orders) + 2, job)

    released = 0
    for m in firsts:
        m = OrderMilestone.objects.get(pk=m.pk)
        d = Dispute.objects.get(provider_dispute_id=f"du_sweep_{m.order_id}")
        hold = DisputeHold.objects.get(dispute=d, milestone=m)
        payouts = list(Payout.objects.filter(milestone=m))
        assert LedgerTransaction.objects.filter(reference=f"milestone-{m.pk}-released").count() == len(payouts) <= 1
        if payouts:
            # Released before the chargeback locked the order: the chargeback then froze the payout.
            assert m.status == S.ACCEPTED and hold.frozen_from == S.ACCEPTED
            assert payouts[0].frozen and hold.payout_frozen
            released += 1
        else:
            # Frozen first: the sweep never released it, and will not.
            assert m.status == S.DISPUTED and hold.frozen_from == S.DELIVERED
    assert outcomes[: len(orders)] == ["processed"] * len(orders)
    assert sum(outcomes[len(orders) :]) == released
    assert lifecycle.auto_release_sweep() == 0  # nothing frozen is released afterwards either
    assert_dispute_books()
