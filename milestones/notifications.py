"""Notifications: one in-app row per event and recipient (unique `dedupe_key`), emailed by a task
queued after commit. A service that runs twice for one event notifies once."""

from django.db import IntegrityError, transaction

from gigs.models import User
from marketplace.db import insert_rows

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


def notify_parties(
    *, order: Order, kind: str, text: str, key: str, milestone=None, buyer=True, seller=True, url: str = ""
) -> None:
    """The same event told to the order's buyer and/or seller, linking to `url` (default: the
    order page; disputes link to the dispute's)."""
    for role, user, wanted in (("buyer", order.buyer, buyer), ("seller", order.seller, seller)):
        if wanted:
            notify(
                user=user, kind=kind, text=text, dedupe_key=f"{key}:{role}", order=order, milestone=milestone, url=url
            )


def notify_many(items: list[dict]) -> int:
    """Many notifications in one INSERT (sweeps releasing thousands of milestones), skipping the
    ones already recorded, and one email task for them all after commit. Each item has the
    fields of `notify` (user or user_id, kind, text, dedupe_key, order, milestone, url)."""
    from .tasks import notifications_email_batch_task

    if not items:
        return 0
    rows, keys = [], []
    for item in items:
        order, milestone, user = item.get("order"), item.get("milestone"), item.get("user")
        order_id = order.pk if order is not None else item.get("order_id")
        rows.append(
            (
                user.pk if user is not None else item["user_id"],
                item["kind"],
                item["text"][:300],
                item.get("url") or (f"/orders/{order_id}/" if order_id is not None else ""),
                item["dedupe_key"],
                order_id,
                milestone.pk if milestone is not None else item.get("milestone_id"),
            )
        )
        keys.append(item["dedupe_key"])
    # A plain COPY of tuples: sweeps write thousands per batch (marketplace/db.py).
    insert_rows(
        Notification,
        ["user_id", "kind", "text", "url", "dedupe_key", "order_id", "milestone_id"],
        rows,
        ignore_conflicts=True,
    )
    transaction.on_commit(lambda: notifications_email_batch_task.delay(keys))
    return len(rows)


def party_items(*, order: Order, kind: str, text: str, key: str, milestone=None) -> list[dict]:
    """`notify_many` items telling the order's buyer and seller the same event."""
    return [
        {
            "user_id": uid,
            "kind": kind,
            "text": text,
            "dedupe_key": f"{key}:{who}",
            "order": order,
            "milestone": milestone,
        }
        for who, uid in (("buyer", order.buyer_id), ("seller", order.seller_id))
    ]
