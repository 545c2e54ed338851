"""The milestone lifecycle after payment: delivery, review, revisions, acceptance (state only:
payments.lifecycle moves the money in the same transaction), cancellation, review reminders.

Every transition runs inside `transaction.atomic()` on rows locked in a fixed order (the order
first, then its milestones), re-checks the state under the lock, writes an OrderEvent, and is a
no-op when the row is already in the target state.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from gigs.models import User
from marketplace.db import insert_rows
from marketplace.exceptions import NotFound, ValidationFailed

from .exceptions import InvalidTransition, RevisionsExhausted
from .models import CancellationRequest, Delivery, DeliveryFile, Order, OrderEvent, OrderMilestone, RevisionRequest
from .notifications import notify, notify_many, notify_parties, party_items

S = OrderMilestone.Status


def _rules() -> dict:
    return settings.MARKETPLACE


def check_uploads(files: list[UploadedFile], field: str = "files") -> None:
    """Size, type and count limits (settings UPLOAD_*); ValidationFailed otherwise."""
    rules = _rules()
    errors = []
    if len(files) > rules["UPLOAD_MAX_FILES"]:
        errors.append(f"Attach at most {rules['UPLOAD_MAX_FILES']} files.")
    for f in files:
        ext = f.name.rsplit(".", 1)[-1].lower() if "." in f.name else ""
        if ext not in rules["UPLOAD_EXTENSIONS"]:
            errors.append(f"{f.name}: files of this type are not accepted.")
        if f.size > rules["UPLOAD_MAX_BYTES"]:
            errors.append(f"{f.name}: a file may be at most {rules['UPLOAD_MAX_BYTES'] // (1024 * 1024)} MB.")
    if errors:
        raise ValidationFailed({field: errors})


def lock_order_and_milestone(*, milestone_id: int) -> tuple[Order, OrderMilestone]:
    """Lock the milestone's order, then the milestone (the fixed order every writer uses)."""
    order_id = OrderMilestone.objects.filter(pk=milestone_id).values_list("order_id", flat=True).first()
    if order_id is None:
        raise NotFound("No such milestone.")
    order = Order.objects.select_for_update().get(pk=order_id)
    milestone = OrderMilestone.objects.select_for_update().get(pk=milestone_id)
    return order, milestone


def _event(order: Order, milestone: OrderMilestone | None, *, actor, frm: str, to: str, reason: str) -> OrderEvent:
    return OrderEvent(order=order, milestone=milestone, actor=actor, from_status=frm, to_status=to, reason=reason)


EVENT_COLUMNS = ["order_id", "milestone_id", "actor_id", "from_status", "to_status", "reason"]


def _event_row(order_id: int, milestone_id: int | None, actor_id: int | None, frm: str, to: str, reason: str):
    """An `OrderEvent` as a row of EVENT_COLUMNS, for bulk inserts."""
    return (order_id, milestone_id, actor_id, frm, to, reason)


def change_milestone(order: Order, milestone: OrderMilestone, to: str, *, actor: User | None, reason: str) -> bool:
    """On locked rows: move the milestone if the map allows it (InvalidTransition otherwise);
    False when it is already there. The caller saves the milestone."""
    if milestone.status == to:
        return False
    if to not in OrderMilestone.TRANSITIONS[milestone.status]:
        raise InvalidTransition(
            f"Milestone {milestone.position + 1} is {milestone.get_status_display().lower()}: it cannot be {to}."
        )
    _event(order, milestone, actor=actor, frm=milestone.status, to=to, reason=reason).save()
    milestone.status = to
    return True


def withdraw_open_requests_locked(milestone_ids, *, now: datetime) -> int:
    """Close the open cancellation requests of these milestones as withdrawn, on milestones the
    caller locked (order first) in its transaction: they were delivered, accepted or cancelled,
    so the question the requests asked is gone. One UPDATE however many milestones (a sweep
    batch can pass thousands). Returns how many requests were closed."""
    ids = list(milestone_ids)
    if not ids:
        return 0
    return CancellationRequest.objects.filter(milestone_id__in=ids, status=CancellationRequest.Status.OPEN).update(
        status=CancellationRequest.Status.WITHDRAWN, answered_at=now
    )


def milestone_deliver(*, milestone_id: int, seller: User, message: str, files: list[UploadedFile]) -> Delivery:
    """The seller delivers a milestone in progress (early delivery allowed) or after a revision
    request; the buyer has REVIEW_DAYS to answer before it is accepted automatically. A delivery
    answers an open cancellation request on the milestone: it is withdrawn (a request made while
    the work went on must not refund the work once delivered; with no revisions left, the buyer
    may ask again about this delivery, and that request never auto-accepts)."""
    message = (message or "").strip()
    if not message:
        raise ValidationFailed({"message": ["Say what you deliver."]})
    check_uploads(files)
    with transaction.atomic():
        order, m = lock_order_and_milestone(milestone_id=milestone_id)
        if order.seller_id != seller.pk or order.status != Order.Status.ACTIVE:
            raise NotFound("No such milestone.")
        if m.status not in OrderMilestone.WORKING:
            raise InvalidTransition(
                f"Milestone {m.position + 1} is {m.get_status_display().lower()}: nothing to deliver."
            )
        now = timezone.now()
        delivery = Delivery.objects.create(milestone=m, sender=seller, message=message)
        for f in files:
            DeliveryFile.objects.create(
                delivery=delivery,
                file=f,
                name=f.name[:200],
                size=f.size,
                content_type=(getattr(f, "content_type", "") or "application/octet-stream")[:100],
            )
        change_milestone(order, m, S.DELIVERED, actor=seller, reason="delivered")
        m.delivered_at = now
        m.review_deadline = now + timedelta(days=_rules()["REVIEW_DAYS"])
        m.reminded_48h = m.reminded_24h = False
        m.save(update_fields=["status", "delivered_at", "review_deadline", "reminded_48h", "reminded_24h"])
        closed = withdraw_open_requests_locked([m.pk], now=now)
        text = f"Milestone {m.position + 1} of order #{order.pk} was delivered"
        if closed:
            text += " (the request to cancel it is closed)"
        notify(
            user=order.buyer,
            kind="delivered",
            text=f"{text}: review it by {timezone.localtime(m.review_deadline):%b %-d, %H:%M}.",
            dedupe_key=f"delivery-{delivery.pk}",
            order=order,
            milestone=m,
        )
    return delivery


def milestone_request_revision(*, milestone_id: int, buyer: User, reason: str) -> RevisionRequest:
    """The buyer asks for changes to a delivered milestone; counts against its revisions. With
    none left, RevisionsExhausted (accept, cancel by agreement, or dispute)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed({"reason": ["Say what should change."]})
    with transaction.atomic():
        order, m = lock_order_and_milestone(milestone_id=milestone_id)
        if order.buyer_id != buyer.pk:
            raise NotFound("No such milestone.")
        if m.status != S.DELIVERED:
            raise InvalidTransition(f"Milestone {m.position + 1} is not waiting for your review.")
        if m.revisions_left <= 0:
            raise RevisionsExhausted(
                "No revisions are left for this milestone: accept it, ask the seller to cancel it by agreement, "
                "or open a dispute."
            )
        request = RevisionRequest.objects.create(milestone=m, requested_by=buyer, reason=reason)
        change_milestone(order, m, S.REVISION_REQUESTED, actor=buyer, reason="revision requested")
        m.revisions_used += 1
        m.review_deadline = None
        # The revision is due within the milestone's own delivery time from the request, so a
        # seller who delivered on time is never "late" because the buyer asked for changes.
        m.due_at = max(m.due_at or timezone.now(), timezone.now() + timedelta(days=m.delivery_days))
        m.save(update_fields=["status", "revisions_used", "review_deadline", "due_at"])
        notify(
            user=order.seller,
            kind="revision_requested",
            text=f"The buyer asked for a revision of milestone {m.position + 1} (order #{order.pk}).",
            dedupe_key=f"revision-{request.pk}",
            order=order,
            milestone=m,
        )
    return request


@dataclass
class Accepted:
    order: Order
    milestone: OrderMilestone


def accept_locked(
    pairs: list[tuple[Order, OrderMilestone]], *, now: datetime, actor: User | None, auto: bool
) -> list[Accepted]:
    """State part of acceptance, on rows the caller locked (orders, then milestones) inside its
    transaction: mark each delivered milestone accepted, start the next one, complete orders
    with nothing left. In bulk, so a sweep batch costs a fixed number of queries. Milestones
    not delivered are skipped. Returns what was accepted."""
    done = [(o, m) for o, m in pairs if m.status == S.DELIVERED]
    if not done:
        return []
    reason = "accepted automatically: no answer by the review deadline" if auto else "accepted by the buyer"
    actor_id = actor.pk if actor else None
    # Rows built from ids, not related objects: a sweep builds thousands of them per batch.
    events = [_event_row(o.pk, m.pk, actor_id, m.status, S.ACCEPTED, reason) for o, m in done]
    ids = [m.pk for _, m in done]
    OrderMilestone.objects.filter(pk__in=ids).update(
        status=S.ACCEPTED, accepted_at=now, auto_accepted=auto, review_deadline=None
    )
    for _, m in done:
        m.status, m.accepted_at, m.auto_accepted, m.review_deadline = S.ACCEPTED, now, auto, None

    orders = {o.pk: o for o, _ in done}
    # The next milestone of each order: the first one not started (milestones run in order).
    # Only the columns needed: a sweep reads thousands per batch.
    nexts: dict[int, OrderMilestone] = {}
    for m in (
        OrderMilestone.objects.filter(order_id__in=orders, status=S.LOCKED)
        .only("pk", "order_id", "position", "delivery_days")
        .order_by("order_id", "position")
    ):
        nexts.setdefault(m.order_id, m)
    by_days: dict[int, list[int]] = {}
    for m in nexts.values():
        events.append(_event_row(m.order_id, m.pk, None, S.LOCKED, S.IN_PROGRESS, "previous accepted"))
        by_days.setdefault(m.delivery_days, []).append(m.pk)
    # One UPDATE per distinct delivery time (a handful per batch) rather than bulk_update's
    # CASE per row, which costs more to build than the database takes to run it.
    for days, pks in by_days.items():
        OrderMilestone.objects.filter(pk__in=pks).update(
            status=S.IN_PROGRESS, started_at=now, due_at=now + timedelta(days=days)
        )

    open_orders = set(
        OrderMilestone.objects.filter(order_id__in=orders, status__in=OrderMilestone.UNRELEASED | {S.DISPUTED})
        .values_list("order_id", flat=True)
        .distinct()
    )
    finished = [pk for pk in orders if pk not in open_orders and orders[pk].status == Order.Status.ACTIVE]
    for pk in finished:
        events.append(_event_row(pk, None, None, Order.Status.ACTIVE, Order.Status.COMPLETED, "every milestone done"))
        orders[pk].status = Order.Status.COMPLETED
    Order.objects.filter(pk__in=finished).update(status=Order.Status.COMPLETED)
    insert_rows(OrderEvent, EVENT_COLUMNS, events)

    items = []
    for o, m in done:
        word = "was accepted automatically" if auto else "was accepted"
        items += party_items(
            order=o,
            kind="auto_released" if auto else "accepted",
            key=f"milestone-{m.pk}-accepted",
            text=f"Milestone {m.position + 1} of order #{o.pk} {word}: its money is released.",
            milestone=m,
        )
    for m in nexts.values():
        items += party_items(
            order=orders[m.order_id],
            kind="milestone_started",
            key=f"milestone-{m.pk}-started",
            text=f"Milestone {m.position + 1} of order #{m.order_id} has started.",
            milestone=m,
        )
    notify_many(items)
    return [Accepted(o, m) for o, m in done]


def cancel_locked(
    order: Order, milestones: list[OrderMilestone], *, now: datetime, actor: User | None, reason: str
) -> list[OrderMilestone]:
    """State part of cancelling milestones on locked rows (payments refunds them in the same
    transaction). The order ends when nothing is left to do: completed if any milestone was
    accepted, else cancelled. Returns the milestones cancelled (already cancelled: skipped)."""
    cancelled = []
    for m in milestones:
        if change_milestone(order, m, S.CANCELLED, actor=actor, reason=reason):
            m.cancelled_at, m.review_deadline = now, None
            m.save(update_fields=["status", "cancelled_at", "review_deadline"])
            cancelled.append(m)
    remaining = OrderMilestone.objects.filter(order=order, status__in=OrderMilestone.UNRELEASED | {S.DISPUTED})
    if cancelled and order.status == Order.Status.ACTIVE and not remaining.exists():
        accepted = OrderMilestone.objects.filter(order=order, status=S.ACCEPTED).exists()
        to = Order.Status.COMPLETED if accepted else Order.Status.CANCELLED
        _event(order, None, actor=actor, frm=order.status, to=to, reason=reason).save()
        order.status = to
        order.save(update_fields=["status"])
    if cancelled:
        names = ", ".join(str(m.position + 1) for m in cancelled)
        notify_parties(
            order=order,
            kind="cancelled",
            key=f"order-{order.pk}-cancel-{'-'.join(str(m.pk) for m in cancelled)}",
            text=f"Order #{order.pk}: milestone{'s' if len(cancelled) > 1 else ''} {names} cancelled and refunded.",
        )
    return cancelled


REMINDER_FLAGS = ("reminded_48h", "reminded_24h")


def review_reminders_sweep(*, now: datetime | None = None, batch: int | None = None) -> int:
    """Remind buyers REVIEW_REMINDER_HOURS (48 h, 24 h) before a delivered milestone is accepted
    automatically. Each reminder is sent once per delivery (a flag on the milestone, and the
    notification's key), and only while it is the latest one due: a deadline under 24 h away
    gets the 24 h reminder alone (REVIEW_DAYS=1 would otherwise send both at delivery).

    One batch per reminder and run. Orders, then their milestones, are locked with
    `skip_locked`, so two sweeps share the rows and a milestone whose order someone holds (the
    buyer accepting it now) waits for the next run. Returns how many reminders were sent."""
    now = now or timezone.now()
    batch = batch or _rules()["SWEEP_BATCH"]
    hours_list = list(_rules()["REVIEW_REMINDER_HOURS"])
    sent = 0
    for hours, flag in zip(hours_list, REMINDER_FLAGS, strict=False):
        # The next reminder's window starts where this one's ends: past it, this one is stale.
        after = max([h for h in hours_list if h < hours], default=0)
        window = {
            "status": S.DELIVERED,
            "review_deadline__lte": now + timedelta(hours=hours),
            "review_deadline__gt": now + timedelta(hours=after),
            flag: False,
        }
        with transaction.atomic():
            due = (
                OrderMilestone.objects.filter(**window)
                .order_by("review_deadline", "pk")
                .values_list("order_id", flat=True)[:batch]
            )
            order_ids = sorted(set(due))
            if not order_ids:
                continue
            # The order first, then the milestone, as every writer locks them.
            orders = {
                o.pk: o
                for o in Order.objects.select_for_update(skip_locked=True).filter(pk__in=order_ids).order_by("pk")
            }
            if not orders:
                continue
            milestones = list(
                OrderMilestone.objects.select_for_update(skip_locked=True)
                .filter(order_id__in=orders, **window)
                .order_by("order_id", "position")
            )
            if not milestones:
                continue
            OrderMilestone.objects.filter(pk__in=[m.pk for m in milestones]).update(**{flag: True})
            notify_many(
                [
                    {
                        "user_id": orders[m.order_id].buyer_id,
                        "kind": "review_reminder",
                        "text": f"Milestone {m.position + 1} of order #{m.order_id} will be accepted automatically "
                        f"on {timezone.localtime(m.review_deadline):%b %-d, %H:%M} unless you review it.",
                        "dedupe_key": f"milestone-{m.pk}-remind-{hours}-{int(m.delivered_at.timestamp())}",
                        "order_id": m.order_id,
                        "milestone": m,
                    }
                    for m in milestones
                ]
            )
            sent += len(milestones)
    return sent


# --- disputes (state only: the disputes app calls these; payments moves the money) --------------


def milestone_freeze_locked(
    order: Order, milestone: OrderMilestone, *, actor: User | None, reason: str, not_started: bool = False
) -> str:
    """On rows the caller locked (order, then milestone): freeze a milestone under dispute. It
    becomes `disputed`, which no sweep takes (the auto-release sweep reads `delivered` rows only),
    and its review deadline is cleared. Returns the status it was frozen from, for the caller to
    keep: unfreezing resumes there. InvalidTransition when it is not in progress, delivered or
    in revision, or with `not_started` (a hold over the whole order: an order dispute, a
    chargeback) not started either: a `locked` one frozen never starts, and nothing cancels it
    (order_stop and the cancellations take `locked` rows only)."""
    allowed = OrderMilestone.HOLDABLE if not_started else OrderMilestone.DISPUTABLE
    if milestone.status not in allowed:
        raise InvalidTransition(
            f"Milestone {milestone.position + 1} is {milestone.get_status_display().lower()}: it cannot be disputed."
        )
    frm = milestone.status
    change_milestone(order, milestone, S.DISPUTED, actor=actor, reason=reason)
    milestone.review_deadline = None
    milestone.save(update_fields=["status", "review_deadline"])
    return frm


# When a hold ends without a decision, a delivery gets back the review time it had left, but at
# least this (capped at REVIEW_DAYS): the buyer hears of the resume and still has a day to act.
RESUME_REVIEW_FLOOR = timedelta(hours=24)


def review_time_left(milestone: OrderMilestone, now: datetime) -> timedelta | None:
    """The review time a delivered milestone has left (None when it is not waiting for a
    review): a dispute freezing it keeps this, so that its resume gives it back."""
    if milestone.status != S.DELIVERED or milestone.review_deadline is None:
        return None
    return max(milestone.review_deadline - now, timedelta(0))


def milestone_unfreeze_locked(
    order: Order,
    milestone: OrderMilestone,
    *,
    resume_to: str,
    now: datetime,
    actor: User | None,
    reason: str,
    review_left: timedelta | None = None,
    review_floor: timedelta = RESUME_REVIEW_FLOOR,
) -> bool:
    """On locked rows: a dispute ended without a decision (withdrawn, closed); the milestone
    resumes as `resume_to`. A delivery gets back the review time it had left when frozen
    (`review_left`, from `review_time_left`; the whole REVIEW_DAYS when unknown), so the dispute
    does not eat the buyer's time and opening then withdrawing a dispute never buys a fresh
    window (a buyer could otherwise hold back the auto-release for ever); at least
    `review_floor` (the buyer withdrawing their own dispute passes 0), never more than
    REVIEW_DAYS; reminders are sent again. Work in progress or in revision gets its due date
    moved by the time on hold, so the seller is not made late by it. A milestone frozen before
    it started resumes as `locked` and starts only the way the lifecycle starts one (the
    previous accepted or settled; `start_next_if_idle_locked`). False when not disputed."""
    if milestone.status != S.DISPUTED:
        return False
    if resume_to not in OrderMilestone.HOLDABLE:
        raise InvalidTransition(f"A disputed milestone cannot resume as {resume_to}.")
    # When the hold began (the last move to `disputed`), read before the resume adds its event.
    held_since = (
        OrderEvent.objects.filter(milestone=milestone, to_status=S.DISPUTED)
        .order_by("-created_at", "-id")
        .values_list("created_at", flat=True)
        .first()
    )
    change_milestone(order, milestone, resume_to, actor=actor, reason=reason)
    fields = ["status"]
    if resume_to in OrderMilestone.WORKING and milestone.due_at is not None and held_since is not None:
        # No delivery could be sent while it was held: the due date moves by the time on hold,
        # so the buyer cannot cancel it as late (milestone_cancel_late) the moment it resumes.
        milestone.due_at += max(now - held_since, timedelta(0))
        fields.append("due_at")
    if resume_to == S.DELIVERED:
        window = timedelta(days=_rules()["REVIEW_DAYS"])
        left = window if review_left is None else review_left
        milestone.review_deadline = now + min(max(left, review_floor, timedelta(0)), window)
        milestone.reminded_48h = milestone.reminded_24h = False
        fields += ["review_deadline", "reminded_48h", "reminded_24h"]
    milestone.save(update_fields=fields)
    return True


def milestone_settle_locked(
    order: Order, milestone: OrderMilestone, *, to: str, now: datetime, actor: User | None, reason: str
) -> OrderMilestone | None:
    """On locked rows: a disputed milestone ends decided, `to` = accepted (all to the seller),
    cancelled (all refunded) or split. Then the order goes on as after an acceptance: the next
    milestone not started begins (due = now + its delivery days); with nothing left, the order
    completes (cancelled if no milestone was paid to the seller). Returns the milestone started."""
    if to not in (S.ACCEPTED, S.CANCELLED, S.SPLIT):
        raise InvalidTransition(f"A dispute cannot end a milestone as {to}.")
    change_milestone(order, milestone, to, actor=actor, reason=reason)
    milestone.review_deadline = None
    fields = ["status", "review_deadline"]
    if to == S.CANCELLED:
        milestone.cancelled_at = now
        fields.append("cancelled_at")
    else:
        milestone.accepted_at = now
        fields.append("accepted_at")
    milestone.save(update_fields=fields)
    nxt = OrderMilestone.objects.select_for_update().filter(order=order, status=S.LOCKED).order_by("position").first()
    if nxt is not None:
        return _start_locked(order, nxt, now=now, reason="previous settled")
    remaining = OrderMilestone.objects.filter(order=order, status__in=OrderMilestone.UNRELEASED | {S.DISPUTED})
    if order.status == Order.Status.ACTIVE and not remaining.exists():
        paid = OrderMilestone.objects.filter(order=order, status__in=[S.ACCEPTED, S.SPLIT]).exists()
        done = Order.Status.COMPLETED if paid else Order.Status.CANCELLED
        _event(order, None, actor=actor, frm=order.status, to=done, reason=reason).save()
        order.status = done
        order.save(update_fields=["status"])
    return None


def start_next_if_idle_locked(order: Order, *, now: datetime) -> OrderMilestone | None:
    """On the locked order (its milestones locked too): after holds over the whole order resumed,
    start the first milestone not started when nothing before it is still going (every earlier
    one accepted, split or cancelled), as an acceptance would have. Returns the one started."""
    if order.status != Order.Status.ACTIVE:
        return None
    rows = list(OrderMilestone.objects.select_for_update().filter(order=order).order_by("position"))
    for m in rows:
        if m.status in (S.ACCEPTED, S.SPLIT, S.CANCELLED):
            continue
        if m.status != S.LOCKED:
            return None  # one is in work, delivered or disputed: it leads
        return _start_locked(order, m, now=now, reason="previous done")
    return None


def _start_locked(order: Order, m: OrderMilestone, *, now: datetime, reason: str) -> OrderMilestone:
    """Start a locked milestone one at a time (accept_locked starts a batch's in bulk): due in its
    delivery days, with the "milestone started" notice every start sends (same key and text)."""
    change_milestone(order, m, S.IN_PROGRESS, actor=None, reason=reason)
    m.started_at, m.due_at = now, now + timedelta(days=m.delivery_days)
    m.save(update_fields=["status", "started_at", "due_at"])
    notify_parties(
        order=order,
        kind="milestone_started",
        key=f"milestone-{m.pk}-started",
        text=f"Milestone {m.position + 1} of order #{order.pk} has started.",
        milestone=m,
    )
    return m
