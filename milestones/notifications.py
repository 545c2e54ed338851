"""Notifications: one in-app row per event and recipient (unique `dedupe_key`), emailed by a task
queued after commit. A service that runs twice for one event notifies once."""

from django.db import IntegrityError, transaction

from gigs.models import User

from .models import Notification, Order, OrderMilestone


def notify(
    *,
    user: User,
    kind: str,
    text: str,
    dedupe_key: str,
    order: Order | None = None,
    milestone: OrderMilestone | None = None,
    url: str = "",
) -> Notification | None:
    """Record a notification and email it after commit; None when this event was already told."""
    from .tasks import notification_email_task

    if not url and order is not None:
        url = f"/orders/{order.pk}/"
    try:
        with transaction.atomic():
            row = Notification.objects.create(
                user=user, kind=kind, text=text[:300], url=url, dedupe_key=dedupe_key, order=order, milestone=milestone
            )
    except IntegrityError:
        return None
    notification_email_task.delay_on_commit(row.pk)
    return row


def notify_parties(*, order: Order, kind: str, text: str, key: str, milestone=None, buyer=True, seller=True) -> None:
    """The same event told to the order's buyer and/or seller."""
    if buyer:
        notify(user=order.buyer, kind=kind, text=text, dedupe_key=f"{key}:buyer", order=order, milestone=milestone)
    if seller:
        notify(user=order.seller, kind=kind, text=text, dedupe_key=f"{key}:seller", order=order, milestone=milestone)
