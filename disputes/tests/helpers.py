"""Shared by the dispute tests: open a dispute (on a milestone, on the whole order), and check the
books with split milestones."""

from django.db.models import Sum

from disputes import services
from disputes.models import Dispute
from milestones.models import Order, OrderMilestone
from payments import ledger
from payments.models import LedgerTransaction, Payout, Refund

S = OrderMilestone.Status


def open_dispute(m: OrderMilestone, by: str = "buyer", **kw) -> Dispute:
    order = Order.objects.get(pk=m.order_id)
    args = {
        "reason": Dispute.Reason.NOT_AS_DESCRIBED,
        "description": "The logo is not what we agreed.",
        "outcome_wanted": Dispute.Outcome.FULL_REFUND,
        **kw,
    }
    return services.dispute_open(milestone_id=m.pk, user=getattr(order, by), **args)


def open_order_dispute(order: Order, by: str = "buyer", **kw) -> Dispute:
    """A dispute about the whole order (services.dispute_open_order)."""
    order = Order.objects.get(pk=order.pk)
    args = {
        "reason": Dispute.Reason.QUALITY,
        "description": "Nothing delivered so far is usable.",
        "outcome_wanted": Dispute.Outcome.FULL_REFUND,
        **kw,
    }
    return services.dispute_open_order(order_id=order.pk, user=getattr(order, by), **args)


def _sum(qs, field="amount_minor") -> int:
    return qs.aggregate(s=Sum(field))["s"] or 0


def assert_dispute_books() -> None:
    """The ledger balances; each order's escrow = subtotal - released - refunded; a milestone is
    released once and refunded once at most, and a decided one exactly to its price."""
    assert all(total == 0 for total in ledger.trial_balance().values()), ledger.trial_balance()
    for order in Order.objects.all():
        if not LedgerTransaction.objects.filter(order=order, kind=LedgerTransaction.Kind.ORDER_FUNDED).exists():
            continue
        released = _sum(Payout.objects.filter(order=order), "gross_minor")
        refunds = Refund.objects.filter(order=order)
        assert ledger.escrow_balance(order) == order.subtotal_minor - released - _sum(refunds), order.pk
        assert ledger.escrow_balance(order) >= 0
        pending = _sum(refunds.filter(status=Refund.Status.PENDING))
        assert -ledger.balance(ledger.refunds_payable(order.pk), order.currency) == pending
        for m in OrderMilestone.objects.filter(order=order):
            releases = LedgerTransaction.objects.filter(reference=f"milestone-{m.pk}-released").count()
            mine = [r for r in refunds if m.pk in r.milestone_ids]
            assert releases <= 1 and len(mine) <= 1, m.pk
            # A refund of several milestones (a stopped order) repays each one's full price.
            refunded = sum(r.amount_minor if len(r.milestone_ids) == 1 else m.price_minor for r in mine)
            paid = _sum(Payout.objects.filter(milestone=m), "gross_minor") + refunded
            if m.status in (S.ACCEPTED, S.CANCELLED, S.SPLIT):
                assert paid == m.price_minor, (m.pk, m.status, paid)
            else:
                assert paid == 0, (m.pk, m.status, paid)
