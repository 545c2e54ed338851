"""Notifications about a dispute link to its page (where the answer, the offers and the outcome
are), not to the order page that milestones.notifications links to by default."""

from django.urls import reverse

from milestones.models import Order
from milestones.notifications import notify


def dispute_url(d) -> str:
    """The dispute's page, for its parties."""
    return reverse("dispute-detail", args=[d.pk])


def notify_parties(*, order: Order, kind: str, text: str, key: str, url: str, milestone=None) -> None:
    """milestones.notifications.notify_parties with the dispute page as the link (same keys)."""
    for role, user in (("buyer", order.buyer), ("seller", order.seller)):
        notify(user=user, kind=kind, text=text, dedupe_key=f"{key}:{role}", order=order, milestone=milestone, url=url)
