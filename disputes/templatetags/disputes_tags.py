"""Template helpers of the disputes app for other apps' pages (the order page), reading only what
those pages loaded already, so they add no query."""

from django import template

from milestones.models import OrderMilestone

register = template.Library()
MS = OrderMilestone.Status


@register.filter
def whole_order_disputable(rows, order) -> bool:
    """Whether to offer "Open a dispute about the whole order" on the order page: the order is
    active, nothing of it is held by a dispute already (no disputed milestone, no frozen payout),
    and some money is within reach (a milestone not released, or a payout pending clearance).
    `rows` are the order page's milestone rows (`milestone`, `payout`). The service re-checks
    everything (an active dispute, a chargeback) when the form is sent."""
    if getattr(order, "status", None) != "active":
        return False
    reachable = False
    for row in rows:
        m, payout = row.get("milestone"), row.get("payout")
        if m.status == MS.DISPUTED or (payout is not None and payout.frozen):
            return False
        if m.status in OrderMilestone.HOLDABLE:
            reachable = True
        elif m.status == MS.ACCEPTED and payout is not None and payout.status == "pending_clearance":
            reachable = reachable or payout.gross_minor == m.price_minor
    return reachable
