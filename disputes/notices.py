"""Notifications about a dispute link to its page (where the answer, the offers and the outcome
are), not to the order page that milestones.notifications links to by default: pass
`url=dispute_url(d)` to milestones.notifications.notify_parties."""

from django.urls import reverse


def dispute_url(d) -> str:
    """The dispute's page, for its parties."""
    return reverse("dispute-detail", args=[d.pk])
