"""Dispute services: open, respond, talk, settle, withdraw, and an admin's decision.

Each one runs in `transaction.atomic()` and locks the order, then the milestone, then the dispute
(the order every writer of these rows uses, so the auto-release sweep and a dispute opened at the
same moment cannot both act: whichever locks the order first wins, the other sees the new state),
re-checks the state under the lock, and appends a DisputeEvent. Money moves only through
payments.lifecycle.dispute_settle_locked, in the same transaction as the dispute's resolution.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from gigs.models import User
from marketplace.exceptions import NotFound, ValidationFailed
from marketplace.money import format_money
from milestones import lifecycle as states
from milestones.exceptions import InvalidTransition
from milestones.models import Order, OrderMilestone
from milestones.notifications import notify, notify_parties
from payments import lifecycle as money
from payments.models import Payout

from .chargebacks import active_hold, hand_over_locked
from .exceptions import DisputeAlreadyOpen, DisputeClosed, DisputeNotAllowed, ResponseWindowOver, SettlementRefused
from .models import Dispute, DisputeEvent, DisputeEvidence, DisputeMessage, SettlementOffer

DS = Dispute.Status
MS = OrderMilestone.Status


def _rules() -> dict:
    return settings.MARKETPLACE


def _response_due(now: datetime) -> datetime:
    return now + timedelta(days=_rules()["DISPUTE_RESPONSE_DAYS"])


def _event(dispute: Dispute, *, actor: User | None, frm: str, to: str, action: str, note: str = "") -> DisputeEvent:
    return DisputeEvent.objects.create(
        dispute=dispute, actor=actor, from_status=frm, to_status=to, action=action, note=note
    )


def _change_status(dispute: Dispute, to: str, *, actor: User | None, action: str, note: str = "") -> bool:
    """On the locked dispute: move it if the map allows (DisputeClosed otherwise), with an event.
    False when it is already there. The caller saves the other fields it changed."""
    if dispute.status == to:
        return False
    if to not in Dispute.TRANSITIONS[dispute.status]:
        raise DisputeClosed(f"This dispute is {dispute.get_status_display().lower()}: it cannot be {to}.")
    _event(dispute, actor=actor, frm=dispute.status, to=to, action=action, note=note)
    dispute.status = to
    dispute.save(update_fields=["status"])
    return True


@dataclass
class Locked:
    order: Order
    milestone: OrderMilestone
    dispute: Dispute


def _lock(dispute_id: int) -> Locked:
    """Lock the dispute's order, then its milestone, then the dispute."""
    row = Dispute.objects.filter(pk=dispute_id).values_list("milestone_id", "kind").first()
    if row is None:
        raise NotFound("No such dispute.")
    m_id, kind = row
    if kind == Dispute.Kind.CHARGEBACK:
        # The card issuer decides a chargeback (disputes.chargebacks), not the parties or an admin.
        raise DisputeClosed("This is a chargeback: the card issuer decides it, from the provider's events.")
    order, m = states.lock_order_and_milestone(milestone_id=m_id)
    dispute = Dispute.objects.select_for_update().get(pk=dispute_id)
    return Locked(order, m, dispute)


def _party(order: Order, user: User) -> None:
    if user.pk not in (order.buyer_id, order.seller_id):
        raise NotFound("No such dispute.")


def _other(order: Order, user_id: int) -> User:
    return order.seller if user_id == order.buyer_id else order.buyer


def _active(dispute: Dispute) -> None:
    if not dispute.is_active:
        raise DisputeClosed(f"This dispute is {dispute.get_status_display().lower()}.")


def _note(note: str, field: str = "note") -> str:
    note = (note or "").strip()
    if not note:
        raise ValidationFailed({field: ["Write a note: it is kept with the decision."]})
    return note


def _attach(dispute: Dispute, user: User, files: list[UploadedFile]) -> None:
    states.check_uploads(files)
    for f in files:
        DisputeEvidence.objects.create(dispute=dispute, uploaded_by=user, file=f, name=f.name[:200], size=f.size)


def dispute_open(
    *,
    milestone_id: int,
    user: User,
    reason: str,
    description: str,
    outcome_wanted: str,
    amount_wanted_minor: int | None = None,
    files: list[UploadedFile] = (),
) -> Dispute:
    """Either party disputes a milestone in progress, delivered or in revision (frozen at once:
    no auto-release, no cancellation), or accepted with its payout still pending clearance (the
    payout is frozen: no clearance, no transfer). The other party has DISPUTE_RESPONSE_DAYS to
    answer. Raises NotFound (not a party, order not active), DisputeNotAllowed (milestone in
    another state, or its money cleared already), DisputeAlreadyOpen, ValidationFailed."""
    files = list(files)
    errors: dict[str, list[str]] = {}
    description = (description or "").strip()
    if reason not in Dispute.Reason.values:
        errors["reason"] = ["Choose a reason."]
    if not description:
        errors["description"] = ["Describe the problem."]
    if outcome_wanted not in Dispute.Outcome.values:
        errors["outcome_wanted"] = ["Choose the outcome you want."]
    if outcome_wanted == Dispute.Outcome.PARTIAL_REFUND and not amount_wanted_minor:
        errors["amount_wanted_minor"] = ["Say how much you want refunded."]
    if errors:
        raise ValidationFailed(errors)
    with transaction.atomic():
        order, m = states.lock_order_and_milestone(milestone_id=milestone_id)
        # An accepted milestone may be the last of an order that completed.
        open_statuses = (
            (Order.Status.ACTIVE, Order.Status.COMPLETED) if m.status == MS.ACCEPTED else (Order.Status.ACTIVE,)
        )
        if user.pk not in (order.buyer_id, order.seller_id) or order.status not in open_statuses:
            raise NotFound("No such milestone.")
        if Dispute.objects.filter(milestone=m, status__in=Dispute.ACTIVE).exists():
            raise DisputeAlreadyOpen("A dispute about this milestone is already open.")
        if m.status not in OrderMilestone.DISPUTABLE and m.status != MS.ACCEPTED:
            raise DisputeNotAllowed(
                f"Milestone {m.position + 1} is {m.get_status_display().lower()}: only a milestone in progress, "
                "delivered, in revision, or accepted with its money still pending clearance can be disputed."
            )
        if m.status == MS.ACCEPTED and Dispute.objects.filter(milestone=m, refund_amount_minor__gt=0).exists():
            raise DisputeNotAllowed(f"Milestone {m.position + 1} was already refunded in part in a dispute.")
        if amount_wanted_minor is not None and not 0 < amount_wanted_minor <= m.price_minor:
            raise ValidationFailed({"amount_wanted_minor": [f"At most {format_money(m.price_minor, order.currency)}."]})
        now = timezone.now()
        if m.status == MS.ACCEPTED:
            # The money is released but not cleared: the payout is frozen (locked after the
            # order and the milestone, re-checked); the milestone stays accepted.
            try:
                money.payout_freeze_locked(m)
            except InvalidTransition as exc:
                raise DisputeNotAllowed(str(exc)) from exc
            frozen_from = MS.ACCEPTED
        else:
            frozen_from = states.milestone_freeze_locked(order, m, actor=user, reason="disputed")
        try:
            with transaction.atomic():
                dispute = Dispute.objects.create(
                    order=order,
                    milestone=m,
                    opened_by=user,
                    reason=reason,
                    description=description,
                    outcome_wanted=outcome_wanted,
                    amount_wanted_minor=amount_wanted_minor,
                    frozen_from=frozen_from,
                )
        except IntegrityError as exc:  # the unique constraint: cannot happen under the lock
            raise DisputeAlreadyOpen("A dispute about this milestone is already open.") from exc
        _event(dispute, actor=user, frm="", to=DS.OPEN, action="opened", note=description)
        _attach(dispute, user, files)
        dispute.response_due_at = _response_due(now)
        dispute.save(update_fields=["response_due_at"])
        _change_status(dispute, DS.AWAITING_RESPONSE, actor=None, action="response requested")
        due = f"{timezone.localtime(dispute.response_due_at):%b %-d, %H:%M}"
        notify(
            user=_other(order, user.pk),
            kind="dispute_opened",
            text=f"A dispute was opened on milestone {m.position + 1} of order #{order.pk}: answer by {due}.",
            dedupe_key=f"dispute-{dispute.pk}-opened",
            order=order,
            milestone=m,
        )
        notify(
            user=user,
            kind="dispute_opened",
            text=f"Your dispute on milestone {m.position + 1} of order #{order.pk} is open; the milestone is on hold.",
            dedupe_key=f"dispute-{dispute.pk}-opened:opener",
            order=order,
            milestone=m,
        )
    return dispute


def dispute_respond(*, dispute_id: int, user: User, statement: str, files: list[UploadedFile] = ()) -> Dispute:
    """The other party answers within the response window (with evidence); the dispute goes to
    review. Raises NotFound, DisputeClosed, ResponseWindowOver, ValidationFailed."""
    statement = (statement or "").strip()
    if not statement:
        raise ValidationFailed({"statement": ["Write your answer."]})
    files = list(files)
    with transaction.atomic():
        lk = _lock(dispute_id)
        d = lk.dispute
        _party(lk.order, user)
        if d.opened_by_id == user.pk:
            raise DisputeClosed("The other party answers this dispute.")
        if d.status != DS.AWAITING_RESPONSE:
            raise DisputeClosed(f"This dispute is {d.get_status_display().lower()}: it is not waiting for an answer.")
        now = timezone.now()
        if d.response_due_at is not None and d.response_due_at <= now:
            raise ResponseWindowOver("The time to answer is over: the dispute is with the platform now.")
        _attach(d, user, files)
        d.response = f"{d.response}\n\n{statement}".strip() if d.response else statement
        d.responded_at = now
        d.save(update_fields=["response", "responded_at"])
        _change_status(d, DS.UNDER_REVIEW, actor=user, action="responded", note=statement)
        notify_parties(
            order=lk.order,
            kind="dispute_responded",
            key=f"dispute-{d.pk}-responded-{int(now.timestamp())}",
            text=f"Dispute on order #{lk.order.pk}: an answer was posted; the platform reviews it now.",
            milestone=lk.milestone,
        )
    return d


def dispute_message_post(*, dispute_id: int, user: User, body: str, files: list[UploadedFile] = ()) -> DisputeMessage:
    """Either party (or an admin) writes to the dispute thread, while it is active."""
    body = (body or "").strip()
    if not body:
        raise ValidationFailed({"body": ["Write a message."]})
    files = list(files)
    with transaction.atomic():
        lk = _lock(dispute_id)
        if not user.is_staff:
            _party(lk.order, user)
        _active(lk.dispute)
        _attach(lk.dispute, user, files)
        msg = DisputeMessage.objects.create(dispute=lk.dispute, author=user, body=body)
        _event(lk.dispute, actor=user, frm=lk.dispute.status, to=lk.dispute.status, action="message")
        for party in (lk.order.buyer, lk.order.seller):
            if party.pk != user.pk:
                notify(
                    user=party,
                    kind="dispute_message",
                    text=f"New message in the dispute on order #{lk.order.pk}.",
                    dedupe_key=f"dispute-message-{msg.pk}:{party.pk}",
                    order=lk.order,
                    milestone=lk.milestone,
                )
    return msg


def _check_amount(m: OrderMilestone, currency: str, amount, field: str = "seller_amount_minor") -> int:
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 <= amount <= m.price_minor:
        raise ValidationFailed({field: [f"Between 0 and {format_money(m.price_minor, currency)}."]})
    return amount


def _resolve(
    lk: Locked, *, seller_amount: int, action: str, actor: User | None, note: str, kind: str = "dispute_resolved"
) -> Dispute:
    """On locked rows: settle the milestone's money and mark the dispute resolved. Refused while a
    chargeback holds the milestone: the card issuer may give the buyer the money back meanwhile."""
    d, now = lk.dispute, timezone.now()
    if active_hold(lk.milestone.pk) is not None:
        raise DisputeClosed(
            f"A chargeback on order #{lk.order.pk} holds this milestone: its money is decided once the card "
            "issuer decides the chargeback."
        )
    money.dispute_settle_locked(
        lk.order,
        lk.milestone,
        seller_amount_minor=seller_amount,
        now=now,
        actor=actor,
        reason=f"dispute {d.pk}: {action}",
    )
    d.resolution_action = action
    d.seller_amount_minor = seller_amount
    d.refund_amount_minor = lk.milestone.price_minor - seller_amount
    d.resolution_note = note
    d.resolved_by = actor
    d.resolved_at = now
    d.save(
        update_fields=[
            "resolution_action",
            "seller_amount_minor",
            "refund_amount_minor",
            "resolution_note",
            "resolved_by",
            "resolved_at",
        ]
    )
    _change_status(d, DS.RESOLVED, actor=actor, action=action, note=note)
    cur = lk.order.currency
    notify_parties(
        order=lk.order,
        kind=kind,
        key=f"dispute-{d.pk}-resolved",
        text=f"Dispute on milestone {lk.milestone.position + 1} of order #{lk.order.pk} resolved: "
        f"{format_money(seller_amount, cur)} to the seller, {format_money(d.refund_amount_minor, cur)} refunded.",
        milestone=lk.milestone,
    )
    return d


def settlement_propose(*, dispute_id: int, user: User, seller_amount_minor: int) -> SettlementOffer:
    """A party proposes an amount for the seller (0..the milestone's price), the rest refunded.
    An earlier open offer of the same party is withdrawn."""
    with transaction.atomic():
        lk = _lock(dispute_id)
        _party(lk.order, user)
        _active(lk.dispute)
        amount = _check_amount(lk.milestone, lk.order.currency, seller_amount_minor)
        SettlementOffer.objects.filter(dispute=lk.dispute, proposed_by=user, status=SettlementOffer.Status.OPEN).update(
            status=SettlementOffer.Status.WITHDRAWN, answered_at=timezone.now()
        )
        offer = SettlementOffer.objects.create(dispute=lk.dispute, proposed_by=user, seller_amount_minor=amount)
        _event(
            lk.dispute,
            actor=user,
            frm=lk.dispute.status,
            to=lk.dispute.status,
            action="settlement proposed",
            note=f"{format_money(amount, lk.order.currency)} to the seller",
        )
        notify(
            user=_other(lk.order, user.pk),
            kind="settlement_proposed",
            text=f"Dispute on order #{lk.order.pk}: a settlement of {format_money(amount, lk.order.currency)} "
            "to the seller (the rest refunded) was proposed.",
            dedupe_key=f"settlement-{offer.pk}-proposed",
            order=lk.order,
            milestone=lk.milestone,
        )
    return offer


def settlement_accept(*, offer_id: int, user: User) -> Dispute:
    """The other party accepts an open offer: the dispute resolves with its amounts, no admin.
    Accepting an accepted offer again is a no-op. Raises NotFound, SettlementRefused (own offer,
    offer closed), DisputeClosed."""
    d_id = SettlementOffer.objects.filter(pk=offer_id).values_list("dispute_id", flat=True).first()
    if d_id is None:
        raise NotFound("No such offer.")
    with transaction.atomic():
        lk = _lock(d_id)
        offer = SettlementOffer.objects.select_for_update().get(pk=offer_id)
        _party(lk.order, user)
        if offer.status == SettlementOffer.Status.ACCEPTED:
            return lk.dispute
        if offer.proposed_by_id == user.pk:
            raise SettlementRefused("The other party accepts your offer.")
        if offer.status != SettlementOffer.Status.OPEN:
            raise SettlementRefused("This offer is no longer open.")
        _active(lk.dispute)
        now = timezone.now()
        offer.status, offer.answered_at = SettlementOffer.Status.ACCEPTED, now
        offer.save(update_fields=["status", "answered_at"])
        SettlementOffer.objects.filter(dispute=lk.dispute, status=SettlementOffer.Status.OPEN).update(
            status=SettlementOffer.Status.WITHDRAWN, answered_at=now
        )
        return _resolve(
            lk,
            seller_amount=offer.seller_amount_minor,
            action=Dispute.Action.SETTLED,
            actor=user,
            note=f"Settlement offer {offer.pk} accepted.",
        )


def settlement_decline(*, offer_id: int, user: User) -> SettlementOffer:
    """The other party declines an open offer."""
    d_id = SettlementOffer.objects.filter(pk=offer_id).values_list("dispute_id", flat=True).first()
    if d_id is None:
        raise NotFound("No such offer.")
    with transaction.atomic():
        lk = _lock(d_id)
        offer = SettlementOffer.objects.select_for_update().get(pk=offer_id)
        _party(lk.order, user)
        if offer.status == SettlementOffer.Status.DECLINED:
            return offer
        if offer.proposed_by_id == user.pk or offer.status != SettlementOffer.Status.OPEN:
            raise SettlementRefused("This offer cannot be declined by you now.")
        offer.status, offer.answered_at = SettlementOffer.Status.DECLINED, timezone.now()
        offer.save(update_fields=["status", "answered_at"])
        _event(lk.dispute, actor=user, frm=lk.dispute.status, to=lk.dispute.status, action="settlement declined")
    return offer


def _end_undecided(lk: Locked, *, to: str, actor: User | None, action: str, note: str) -> Dispute:
    """On locked rows: the dispute ends without moving money; the milestone resumes where it was
    frozen (a delivery with a fresh review window)."""
    d, now = lk.dispute, timezone.now()
    if hand_over_locked(d):
        pass  # a chargeback holds the milestone too: it stays frozen, the chargeback resumes it
    elif d.frozen_from == MS.ACCEPTED:
        money.payout_unfreeze_locked(lk.milestone, now=now)
    else:
        states.milestone_unfreeze_locked(
            lk.order, lk.milestone, resume_to=d.frozen_from, now=now, actor=actor, reason=f"dispute {d.pk}: {action}"
        )
    SettlementOffer.objects.filter(dispute=d, status=SettlementOffer.Status.OPEN).update(
        status=SettlementOffer.Status.WITHDRAWN, answered_at=now
    )
    if to == DS.RESOLVED:
        d.resolution_action, d.resolution_note, d.resolved_by, d.resolved_at = Dispute.Action.CLOSED, note, actor, now
        d.save(update_fields=["resolution_action", "resolution_note", "resolved_by", "resolved_at"])
    _change_status(d, to, actor=actor, action=action, note=note)
    notify_parties(
        order=lk.order,
        kind="dispute_" + action,
        key=f"dispute-{d.pk}-{action}",
        text=f"The dispute on milestone {lk.milestone.position + 1} of order #{lk.order.pk} was {action}: "
        "the milestone goes on.",
        milestone=lk.milestone,
    )
    return d


def dispute_withdraw(*, dispute_id: int, user: User, note: str = "") -> Dispute:
    """The opener withdraws the dispute until it is decided; the milestone resumes where it was
    (a delivery's review deadline restarts: now + REVIEW_DAYS). Again: a no-op."""
    with transaction.atomic():
        lk = _lock(dispute_id)
        _party(lk.order, user)
        if lk.dispute.opened_by_id != user.pk:
            raise DisputeClosed("Only the party who opened the dispute can withdraw it.")
        if lk.dispute.status == DS.WITHDRAWN:
            return lk.dispute
        _active(lk.dispute)
        return _end_undecided(lk, to=DS.WITHDRAWN, actor=user, action="withdrawn", note=(note or "").strip())


def disputes_response_window_sweep(*, now: datetime | None = None, batch: int | None = None) -> int:
    """Disputes still awaiting an answer past their response window go to review. Rows someone
    holds are left to the next run (`skip_locked`, order, milestone, dispute). Returns how many."""
    now = now or timezone.now()
    batch = batch or _rules()["SWEEP_BATCH"]
    due = list(
        Dispute.objects.filter(status=DS.AWAITING_RESPONSE, response_due_at__lte=now)
        .order_by("response_due_at", "pk")
        .values_list("pk", "order_id", "milestone_id")[:batch]
    )
    moved = 0
    for d_id, order_id, m_id in due:
        with transaction.atomic():
            order = Order.objects.select_for_update(skip_locked=True).filter(pk=order_id).first()
            m = OrderMilestone.objects.select_for_update(skip_locked=True).filter(pk=m_id).first()
            d = Dispute.objects.select_for_update(skip_locked=True).filter(pk=d_id).first()
            if order is None or m is None or d is None or d.status != DS.AWAITING_RESPONSE:
                continue
            if d.response_due_at is None or d.response_due_at > now:
                continue
            _change_status(d, DS.UNDER_REVIEW, actor=None, action="response window over")
            notify_parties(
                order=order,
                kind="dispute_under_review",
                key=f"dispute-{d.pk}-review-{int(d.response_due_at.timestamp())}",
                text=f"The dispute on order #{order.pk} is with the platform for a decision.",
                milestone=m,
            )
            moved += 1
    return moved


# --- admin --------------------------------------------------------------------------------------


def split_amount(price_minor: int, *, seller_amount_minor: int | None = None, percent: int | None = None) -> int:
    """The seller's share of a split: an amount, or a whole percentage of the price rounded
    down (the remainder of the rounding goes to the buyer)."""
    if (seller_amount_minor is None) == (percent is None):
        raise ValidationFailed({"seller_amount_minor": ["Give an amount or a percentage for the seller."]})
    if percent is not None:
        if isinstance(percent, bool) or not isinstance(percent, int) or not 0 <= percent <= 100:
            raise ValidationFailed({"percent": ["A whole percentage from 0 to 100."]})
        return price_minor * percent // 100
    return seller_amount_minor


def dispute_resolve(
    *,
    dispute_id: int,
    admin: User,
    action: str,
    note: str,
    seller_amount_minor: int | None = None,
    percent: int | None = None,
) -> Dispute:
    """An admin decides: release (all to the seller), refund (all to the buyer) or split (an
    amount, or a percentage rounded down, to the seller; the rest refunded). A note is required;
    a split never exceeds the milestone's price. Resolving a resolved dispute again is refused.

    With more than DISPUTE_APPROVAL_ABOVE_MINOR at stake (the milestone's price) the decision is
    only recorded (pending_*, proposed_by/at, a "decision proposed" event; the dispute goes to or
    stays under review) and no money moves until another admin approves it
    (dispute_decision_approve) or rejects it (dispute_decision_reject). While one waits, another
    decision is refused (DisputeClosed)."""
    note = _note(note)
    if not admin.is_staff:
        raise NotFound("No such dispute.")
    with transaction.atomic():
        lk = _lock(dispute_id)
        d = lk.dispute
        _active(d)
        if d.pending_action:
            raise DisputeClosed("A decision on this dispute is waiting for a second admin: approve or reject it first.")
        price = lk.milestone.price_minor
        if action == Dispute.Action.RELEASE:
            amount = price
        elif action == Dispute.Action.REFUND:
            amount = 0
        elif action == Dispute.Action.SPLIT:
            amount = split_amount(price, seller_amount_minor=seller_amount_minor, percent=percent)
        else:
            raise ValidationFailed({"action": ["Release, refund or split."]})
        _check_amount(lk.milestone, lk.order.currency, amount)
        if price <= _rules()["DISPUTE_APPROVAL_ABOVE_MINOR"]:
            return _resolve(lk, seller_amount=amount, action=action, actor=admin, note=note)
        d.pending_action, d.pending_note = action, note
        d.pending_seller_amount_minor, d.pending_refund_amount_minor = amount, price - amount
        d.proposed_by, d.proposed_at = admin, timezone.now()
        d.approved_by, d.approved_at = None, None
        d.save(
            update_fields=[
                "pending_action",
                "pending_note",
                "pending_seller_amount_minor",
                "pending_refund_amount_minor",
                "proposed_by",
                "proposed_at",
                "approved_by",
                "approved_at",
            ]
        )
        cur = lk.order.currency
        summary = (
            f"{Dispute.Action(action).label}: {format_money(amount, cur)} to the seller, "
            f"{format_money(price - amount, cur)} refunded. {note}"
        )
        if not _change_status(d, DS.UNDER_REVIEW, actor=admin, action="decision proposed", note=summary):
            _event(d, actor=admin, frm=d.status, to=d.status, action="decision proposed", note=summary)
        return d


def _approver(admin: User) -> None:
    if not admin.is_staff:
        raise NotFound("No such dispute.")
    if not admin.has_perm("disputes.approve_decision"):
        raise DisputeNotAllowed("You do not have the permission to approve or reject dispute decisions.")


def _pending(d: Dispute) -> None:
    _active(d)
    if not d.pending_action:
        raise DisputeClosed("No decision on this dispute is waiting for approval.")


def _still_at_stake(lk: Locked) -> None:
    """Approval re-checks, on the locked rows, what the proposer decided on: the milestone is
    still frozen by this dispute (disputed; or accepted with its payout frozen and pending
    clearance), and the waiting amounts still add up to the price with no more refunded than is
    held. Raises DisputeNotAllowed saying what changed; the decision stays waiting (reject it)."""
    d, m = lk.dispute, lk.milestone
    n = m.position + 1
    seller, refund = d.pending_seller_amount_minor, d.pending_refund_amount_minor
    if seller is None or refund is None or seller + refund != m.price_minor:
        raise DisputeNotAllowed(
            f"The decision waiting does not add up to milestone {n}'s price any more "
            f"({format_money(m.price_minor, lk.order.currency)}): reject it and decide again."
        )
    if d.frozen_from == MS.ACCEPTED:
        payout = Payout.objects.filter(milestone=m).first()
        if payout is None or not payout.frozen or payout.status != Payout.Status.PENDING_CLEARANCE:
            state = payout.get_status_display().lower() if payout else "gone"
            raise DisputeNotAllowed(
                f"The payout of milestone {n} is no longer held by this dispute ({state}): the decision cannot be "
                "approved; reject it."
            )
        if refund > payout.gross_minor:
            raise DisputeNotAllowed(
                f"The decision refunds {format_money(refund, lk.order.currency)}, but only "
                f"{format_money(payout.gross_minor, lk.order.currency)} of milestone {n} is held: reject it."
            )
    elif m.status != MS.DISPUTED:
        raise DisputeNotAllowed(
            f"Milestone {n} is {m.get_status_display().lower()}, no longer frozen by this dispute: the decision "
            "cannot be approved; reject it."
        )


def dispute_decision_approve(*, dispute_id: int, admin: User, note: str) -> Dispute:
    """A second admin (staff with disputes.approve_decision, not the proposer) approves the
    decision waiting on the dispute: the money moves as dispute_resolve would have moved it, and
    the resolution note keeps both admins' notes. The proposer approving is refused
    (DisputeNotAllowed); so is a dispute with nothing waiting (DisputeClosed)."""
    note = _note(note)
    _approver(admin)
    with transaction.atomic():
        lk = _lock(dispute_id)
        d = lk.dispute
        _pending(d)
        if d.proposed_by_id == admin.pk:
            raise DisputeNotAllowed("A second admin approves this decision: you proposed it.")
        amount = _check_amount(lk.milestone, lk.order.currency, d.pending_seller_amount_minor)
        _still_at_stake(lk)
        now = timezone.now()
        d.approved_by, d.approved_at = admin, now
        d.save(update_fields=["approved_by", "approved_at"])
        _event(d, actor=admin, frm=d.status, to=d.status, action="decision approved", note=note)
        both = f"{d.pending_note}\nApproved by {admin.get_username()}: {note}"
        return _resolve(lk, seller_amount=amount, action=d.pending_action, actor=admin, note=both)


def dispute_decision_reject(*, dispute_id: int, admin: User, note: str) -> Dispute:
    """An admin with disputes.approve_decision rejects the decision waiting on the dispute (the
    proposer may, to take it back): nothing moves, the dispute stays active for a new decision."""
    note = _note(note)
    _approver(admin)
    with transaction.atomic():
        lk = _lock(dispute_id)
        d = lk.dispute
        _pending(d)
        rejected = f"{d.get_pending_action_display()} proposed by {d.proposed_by.get_username()} rejected: {note}"
        d.pending_action, d.pending_note = "", ""
        d.pending_seller_amount_minor = d.pending_refund_amount_minor = None
        d.proposed_by = d.proposed_at = None
        d.save(
            update_fields=[
                "pending_action",
                "pending_note",
                "pending_seller_amount_minor",
                "pending_refund_amount_minor",
                "proposed_by",
                "proposed_at",
            ]
        )
        _event(d, actor=admin, frm=d.status, to=d.status, action="decision rejected", note=rejected)
    return d


def dispute_request_info(*, dispute_id: int, admin: User, note: str) -> Dispute:
    """An admin asks the parties for more information: the note goes to the thread, and the
    dispute waits another response window (DISPUTE_RESPONSE_DAYS) before it returns to review."""
    note = _note(note)
    if not admin.is_staff:
        raise NotFound("No such dispute.")
    with transaction.atomic():
        lk = _lock(dispute_id)
        d = lk.dispute
        _active(d)
        now = timezone.now()
        DisputeMessage.objects.create(dispute=d, author=admin, body=note)
        d.response_due_at = _response_due(now)
        d.save(update_fields=["response_due_at"])
        if not _change_status(d, DS.AWAITING_RESPONSE, actor=admin, action="information requested", note=note):
            _event(d, actor=admin, frm=d.status, to=d.status, action="information requested", note=note)
        notify_parties(
            order=lk.order,
            kind="dispute_info_requested",
            key=f"dispute-{d.pk}-info-{int(now.timestamp())}",
            text=f"The platform asks for more information about the dispute on order #{lk.order.pk}: "
            f"answer by {timezone.localtime(d.response_due_at):%b %-d, %H:%M}.",
            milestone=lk.milestone,
        )
    return d


def dispute_close(*, dispute_id: int, admin: User, note: str) -> Dispute:
    """An admin closes the dispute without a decision on the money: the milestone resumes where
    it was frozen (as after a withdrawal). A note is required."""
    note = _note(note)
    if not admin.is_staff:
        raise NotFound("No such dispute.")
    with transaction.atomic():
        lk = _lock(dispute_id)
        _active(lk.dispute)
        return _end_undecided(lk, to=DS.RESOLVED, actor=admin, action="closed", note=note)
