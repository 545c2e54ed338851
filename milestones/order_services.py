"""Orders: placing one (a snapshot of the gig's plan for one package) and moving it through its
states. Payments calls these; it owns the money, this owns what was bought and its lifecycle.

Every transition locks the order row (`select_for_update`), re-checks the state under the lock,
writes an OrderEvent, and is a no-op when the order is already in the target state.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from gigs.models import Gig, Package, User
from marketplace.exceptions import ValidationFailed

from .exceptions import InvalidTransition, OrderRefused
from .models import GigMilestone, Order, OrderEvent, OrderMilestone
from .notifications import notify_parties


@dataclass(frozen=True)
class OrderLine:
    """One milestone as it will be copied into the order."""

    name: str
    description: str
    price_minor: int
    delivery_days: int
    revisions: int
    video_call: bool


@dataclass(frozen=True)
class OrderFees:
    service_fee_minor: int
    small_order_fee_minor: int
    commission_bps: int


@dataclass(frozen=True)
class OrderQuote:
    gig: Gig
    package: Package
    lines: list[OrderLine]

    @property
    def subtotal_minor(self) -> int:
        return sum(line.price_minor for line in self.lines)


def order_quote(*, gig: Gig, tier: str) -> OrderQuote:
    """What ordering `tier` of `gig` buys now: its milestones with their terms. A gig sold as plain
    packages (milestone payments off, or no plan) gives one milestone covering the whole package,
    so both kinds share one lifecycle, one escrow and one release path. Raises OrderRefused."""
    package = next((p for p in gig.packages.all() if p.tier == tier), None)
    if package is None:
        raise OrderRefused("This gig has no such package.", field="package")
    lines: list[OrderLine] = []
    if gig.milestone_payments:
        plan = GigMilestone.objects.filter(gig=gig, tiers__tier=tier).order_by("position")
        for m in plan.prefetch_related("tiers"):
            terms = next(t for t in m.tiers.all() if t.tier == tier)
            lines.append(
                OrderLine(m.name, m.description, terms.price_minor, terms.delivery_days, terms.revisions, m.video_call)
            )
    if not lines:
        lines = [
            OrderLine(
                package.name,
                package.description,
                package.price_minor,
                package.delivery_days,
                package.revisions,
                False,
            )
        ]
    return OrderQuote(gig=gig, package=package, lines=lines)


def _check_can_order(*, buyer: User, gig: Gig) -> None:
    if gig.status != Gig.Status.PUBLISHED:
        raise OrderRefused("This gig is not on sale right now.")
    if gig.seller_id == buyer.pk:
        raise OrderRefused("You cannot order your own gig.")


def _check_answers(gig: Gig, answers: dict[int, str]) -> list[dict]:
    """The answers to the gig's requirement questions, in order, or ValidationFailed."""
    errors: dict[str, list[str]] = {}
    copied = []
    for req in gig.requirements.all():
        answer = (answers.get(req.pk) or "").strip()
        if req.required and not answer:
            errors[f"requirements.{req.pk}"] = ["Answer this question."]
        elif len(answer) > 2000:
            errors[f"requirements.{req.pk}"] = ["Use at most 2,000 characters."]
        copied.append({"question": req.question, "answer": answer, "required": req.required})
    if errors:
        raise ValidationFailed(errors)
    return copied


def order_place(
    *,
    buyer: User,
    gig: Gig,
    tier: str,
    checkout_token: uuid.UUID,
    answers: dict[int, str],
    fees_for: Callable[[int, str], OrderFees],
    keep_due: Callable[[Order], bool] = lambda order: False,
) -> tuple[Order, bool]:
    """Place an order in `pending_payment` with a snapshot of the plan; amounts come from the gig
    and `fees_for(subtotal, currency)`, never from the request. Returns (order, created).

    One checkout, one order: the same buyer and checkout token give back the order already placed
    (double click, retried request), unchanged. So does placing again while the buyer has an
    unpaid order of the same gig and package still in its checkout window (a second tab, back
    and place again, another device): that order is returned with its requirement answers
    replaced by these (the buyer's latest word); its snapshot, amounts, payment and expiry stay.
    An unpaid order whose window closed is expired first and a new one placed, unless
    `keep_due(order)` says to keep it (payments: its money is on its way). Concurrent
    placements end with one order: the database allows one unpaid order per buyer, gig and
    package (payments migration 0006), and the losers take the winner's.
    Raises OrderRefused or ValidationFailed; nothing is written then."""
    existing = Order.objects.filter(buyer=buyer, checkout_token=checkout_token).first()
    if existing is not None:
        return existing, False
    _check_can_order(buyer=buyer, gig=gig)
    quote = order_quote(gig=gig, tier=tier)
    copied = _check_answers(gig, answers)
    fees = fees_for(quote.subtotal_minor, gig.currency)
    attempts = 3
    for attempt in range(attempts):
        now = timezone.now()
        try:
            with transaction.atomic():
                pending = (
                    Order.objects.select_for_update()
                    .filter(buyer=buyer, gig=gig, package_tier=tier, status=Order.Status.PENDING_PAYMENT)
                    .first()
                )
                if pending is not None:
                    if pending.expires_at > now or keep_due(pending):
                        _replace_answers(pending, copied, actor=buyer)
                        return pending, False
                    order_expire(order_id=pending.pk, now=now)
                return _create_order(
                    buyer=buyer,
                    gig=gig,
                    tier=tier,
                    token=checkout_token,
                    quote=quote,
                    copied=copied,
                    fees=fees,
                    now=now,
                ), True
        except IntegrityError:
            # Placed at the same moment by another request: the same checkout (its token), or
            # another checkout of this package (one unpaid order per package). The first is
            # returned as it is; the second is found, locked and reused on the next attempt.
            existing = Order.objects.filter(buyer=buyer, checkout_token=checkout_token).first()
            if existing is not None:
                return existing, False
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def _replace_answers(order: Order, copied: list[dict], *, actor: User) -> None:
    """On a locked unpaid order placed again: the latest requirement answers, recorded."""
    if order.requirements == copied:
        return
    order.requirements = copied
    order.save(update_fields=["requirements"])
    OrderEvent.objects.create(
        order=order,
        actor=actor,
        from_status=order.status,
        to_status=order.status,
        reason="placed again from another checkout: requirement answers updated",
    )


def _create_order(
    *, buyer: User, gig: Gig, tier: str, token: uuid.UUID, quote: OrderQuote, copied: list[dict], fees: OrderFees, now
) -> Order:
    order = Order.objects.create(
        buyer=buyer,
        seller_id=gig.seller_id,
        gig=gig,
        checkout_token=token,
        gig_title=gig.title,
        package_tier=tier,
        package_name=quote.package.name,
        milestone_payments=gig.milestone_payments and len(quote.lines) > 1,
        currency=gig.currency,
        subtotal_minor=quote.subtotal_minor,
        service_fee_minor=fees.service_fee_minor,
        small_order_fee_minor=fees.small_order_fee_minor,
        total_minor=quote.subtotal_minor + fees.service_fee_minor + fees.small_order_fee_minor,
        commission_bps=fees.commission_bps,
        requirements=copied,
        expires_at=now + timedelta(minutes=settings.MARKETPLACE["CHECKOUT_EXPIRY_MINUTES"]),
    )
    OrderMilestone.objects.bulk_create(
        OrderMilestone(
            order=order,
            position=i,
            name=line.name,
            description=line.description,
            price_minor=line.price_minor,
            delivery_days=line.delivery_days,
            revisions=line.revisions,
            video_call=line.video_call,
        )
        for i, line in enumerate(quote.lines)
    )
    OrderEvent.objects.create(order=order, actor=buyer, to_status=order.status, reason="placed")
    return order


def _change_status(order: Order, to: str, *, actor: User | None, reason: str) -> bool:
    """On a locked order: move to `to` if the map allows it; False when already there."""
    if order.status == to:
        return False
    if to not in Order.TRANSITIONS[order.status]:
        raise InvalidTransition(f"An order that is {order.get_status_display().lower()} cannot become {to}.")
    OrderEvent.objects.create(order=order, actor=actor, from_status=order.status, to_status=to, reason=reason)
    order.status = to
    return True


def order_activate(*, order_id: int, reason: str) -> tuple[Order, bool]:
    """The order is paid: it becomes active and its first milestone starts (due after its delivery
    days). Must run inside the caller's transaction (payments posts the ledger in the same one).
    Returns (order, changed); an order already active (or beyond) is left as it is."""
    order = Order.objects.select_for_update().get(pk=order_id)
    if order.status not in (Order.Status.PENDING_PAYMENT, Order.Status.EXPIRED):
        return order, False
    now = timezone.now()
    _change_status(order, Order.Status.ACTIVE, actor=None, reason=reason)
    order.paid_at = now
    order.save(update_fields=["status", "paid_at"])
    if order.offer_id is not None:
        from .project_services import offer_order_paid_locked  # projects build on orders

        offer_order_paid_locked(order=order)
    first = OrderMilestone.objects.select_for_update().filter(order=order).order_by("position").first()
    if first is not None and first.status == OrderMilestone.Status.LOCKED:
        first.status = OrderMilestone.Status.IN_PROGRESS
        first.started_at = now
        first.due_at = now + timedelta(days=first.delivery_days)
        first.save(update_fields=["status", "started_at", "due_at"])
        OrderEvent.objects.create(
            order=order,
            milestone=first,
            from_status=OrderMilestone.Status.LOCKED,
            to_status=OrderMilestone.Status.IN_PROGRESS,
            reason="order paid",
        )
    notify_parties(
        order=order,
        kind="order_funded",
        key=f"order-{order.pk}-funded",
        text=f"Order #{order.pk} is paid and in escrow; milestone 1 has started.",
    )
    if first is not None and first.status == OrderMilestone.Status.IN_PROGRESS:
        # As for every later milestone (milestones.lifecycle.accept_locked): the same event, key and
        # text, so that a list of "milestone started" notifications is complete.
        notify_parties(
            order=order,
            kind="milestone_started",
            key=f"milestone-{first.pk}-started",
            text=f"Milestone {first.position + 1} of order #{order.pk} has started.",
            milestone=first,
        )
    return order, True


def order_expire(*, order_id: int, now=None) -> tuple[Order, bool]:
    """An unpaid order whose checkout window closed (at `now`, default the current time). Runs in
    the caller's transaction. An order placed from a custom offer undoes the acceptance in the
    same transaction (project_services.offer_order_expired_locked: the project reopens, the
    offer is live again while before its expiry)."""
    now = now or timezone.now()
    order = Order.objects.select_for_update().get(pk=order_id)
    if order.status != Order.Status.PENDING_PAYMENT or order.expires_at > now:
        return order, False
    _change_status(order, Order.Status.EXPIRED, actor=None, reason="not paid in time")
    order.save(update_fields=["status"])
    if order.offer_id is not None:
        from .project_services import offer_order_expired_locked  # projects build on orders

        offer_order_expired_locked(order=order, now=now)
    return order, True
