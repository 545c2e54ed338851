"""Dispute services: open, respond, talk, settle, withdraw, and an admin's decision.

A dispute is about one milestone (kind "milestone") or the whole order (kind "order",
`dispute_open_order`): an order dispute holds every milestone whose money is within reach
through DisputeHold rows (the chargebacks' `hold_locked`), and everything else works on it the
same way, over the sum it holds: the decision's amount to the seller is spread over the held
milestones earliest first (`allocate`).

Each one runs in `transaction.atomic()` and locks the order, then the milestone (an order
dispute: every milestone of the order, in position order), then the dispute
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
from marketplace.exceptions import DomainError, NotFound, ValidationFailed
from marketplace.money import format_money
from milestones import lifecycle as states
from milestones.exceptions import InvalidTransition
from milestones.models import Order, OrderMilestone
from milestones.notifications import notify, notify_parties
from payments import lifecycle as money
from payments.models import Payout

from .chargebacks import active_hold, hand_over_locked, hold_locked, offers_expire_locked, resume_locked
from .exceptions import DisputeAlreadyOpen, DisputeClosed, DisputeNotAllowed, ResponseWindowOver, SettlementRefused
from .models import Dispute, DisputeEvent, DisputeEvidence, DisputeHold, DisputeMessage, SettlementOffer
from .notices import dispute_url

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
    milestone: OrderMilestone | None  # None for an order dispute
    dispute: Dispute
    # An order dispute: its holds still held, in position order, with their locked milestones.
    holds: list[DisputeHold]

    @property
    def at_stake(self) -> int:
        """What the decision shares out: the milestone's price, or the sum an order dispute holds
        (each held milestone for its whole price: a payout is held only while it is whole)."""
        if self.milestone is not None:
            return self.milestone.price_minor
        return sum(h.milestone.price_minor for h in self.holds)

    @property
    def what(self) -> str:
        if self.milestone is not None:
            return f"milestone {self.milestone.position + 1} of order #{self.order.pk}"
        return f"order #{self.order.pk}"


def held_milestones(d: Dispute) -> list[DisputeHold]:
    """An order dispute's holds still held (position order, milestone loaded): what its decision
    shares out. Empty for other kinds. A read, for pages and admin."""
    if not d.is_order_dispute:
        return []
    return list(
        DisputeHold.objects.filter(dispute=d, outcome=DisputeHold.Outcome.HELD)
        .select_related("milestone")
        .order_by("milestone__position", "milestone_id")
    )


def amount_at_stake(d: Dispute) -> int:
    """What a decision on the dispute shares out now: the milestone's price, the sum of an order
    dispute's held milestones (what it held when opened once it ended), a chargeback's amount."""
    if d.milestone_id is not None:
        return d.milestone.price_minor
    if d.is_order_dispute and d.is_active:
        return sum(h.milestone.price_minor for h in held_milestones(d))
    if d.is_order_dispute and d.seller_amount_minor is not None and d.refund_amount_minor is not None:
        return d.seller_amount_minor + d.refund_amount_minor  # what the decision shared out
    return d.amount_minor or 0


def _lock_order_milestones(order_id: int) -> tuple[Order, list[OrderMilestone]]:
    """Lock the order, then every milestone of it in position order (as chargebacks do)."""
    order = Order.objects.select_for_update().filter(pk=order_id).first()
    if order is None:
        raise NotFound("No such order.")
    milestones = list(OrderMilestone.objects.select_for_update().filter(order=order).order_by("position", "pk"))
    return order, milestones


def _held(d: Dispute, milestones: list[OrderMilestone]) -> list[DisputeHold]:
    by_pk = {m.pk: m for m in milestones}
    holds = list(DisputeHold.objects.filter(dispute=d, outcome=DisputeHold.Outcome.HELD))
    for h in holds:
        h.milestone = by_pk[h.milestone_id]
    return sorted(holds, key=lambda h: (h.milestone.position, h.milestone.pk))


def _lock(dispute_id: int) -> Locked:
    """Lock the dispute's order, then its milestone (an order dispute: all of the order's), then
    the dispute."""
    row = Dispute.objects.filter(pk=dispute_id).values_list("milestone_id", "kind", "order_id").first()
    if row is None:
        raise NotFound("No such dispute.")
    m_id, kind, order_id = row
    if kind == Dispute.Kind.CHARGEBACK:
        # The card issuer decides a chargeback (disputes.chargebacks), not the parties or an admin.
        raise DisputeClosed("This is a chargeback: the card issuer decides it, from the provider's events.")
    if kind == Dispute.Kind.ORDER:
        order, milestones = _lock_order_milestones(order_id)
        dispute = Dispute.objects.select_for_update().get(pk=dispute_id)
        return Locked(order, None, dispute, _held(dispute, milestones))
    order, m = states.lock_order_and_milestone(milestone_id=m_id)
    dispute = Dispute.objects.select_for_update().get(pk=dispute_id)
    return Locked(order, m, dispute, [])


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


def _attach(
    dispute: Dispute, user: User, files: list[UploadedFile], *, post: str, message: DisputeMessage | None = None
) -> None:
    """Store the files with the post they came with (the opening, the answer, a message)."""
    states.check_uploads(files)
    for f in files:
        DisputeEvidence.objects.create(
            dispute=dispute, uploaded_by=user, file=f, name=f.name[:200], size=f.size, post=post, message=message
        )


def _opening_fields(
    reason: str, description: str, outcome_wanted: str, amount_wanted_minor: int | None
) -> tuple[str, int | None]:
    """Check the opening's fields (ValidationFailed); returns the description stripped and the
    amount wanted: an integer for a partial refund, None for any other outcome (the page shows
    the field whatever is chosen without JavaScript: an amount typed before is not kept)."""
    errors: dict[str, list[str]] = {}
    description = (description or "").strip()
    if reason not in Dispute.Reason.values:
        errors["reason"] = ["Choose a reason."]
    if not description:
        errors["description"] = ["Describe the problem."]
    if outcome_wanted not in Dispute.Outcome.values:
        errors["outcome_wanted"] = ["Choose the outcome you want."]
    if outcome_wanted != Dispute.Outcome.PARTIAL_REFUND:
        amount_wanted_minor = None
    elif isinstance(amount_wanted_minor, bool) or not isinstance(amount_wanted_minor, int | None):
        errors["amount_wanted_minor"] = ["An amount in minor units."]
    elif not amount_wanted_minor:
        errors["amount_wanted_minor"] = ["Say how much you want refunded."]
    if errors:
        raise ValidationFailed(errors)
    return description, amount_wanted_minor


def order_dispute_holding(milestone_id: int) -> Dispute | None:
    """The active order dispute holding the milestone, if any."""
    h = (
        DisputeHold.objects.filter(
            milestone_id=milestone_id,
            outcome=DisputeHold.Outcome.HELD,
            dispute__kind=Dispute.Kind.ORDER,
            dispute__status__in=Dispute.ACTIVE,
        )
        .select_related("dispute")
        .first()
    )
    return h.dispute if h else None


def _notify_opened(
    dispute: Dispute, order: Order, opener: User, *, to_other: str, to_opener: str, milestone=None
) -> None:
    """A new dispute told to the other party (who has to answer) and to the opener."""
    for recipient, text, key in ((_other(order, opener.pk), to_other, "opened"), (opener, to_opener, "opened:opener")):
        notify(
            url=dispute_url(dispute),
            user=recipient,
            kind="dispute_opened",
            text=text,
            dedupe_key=f"dispute-{dispute.pk}-{key}",
            order=order,
            milestone=milestone,
        )


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
    description, amount_wanted_minor = _opening_fields(reason, description, outcome_wanted, amount_wanted_minor)
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
        if order_dispute_holding(m.pk) is not None:
            raise DisputeAlreadyOpen(
                f"The dispute about the whole order #{order.pk} holds milestone {m.position + 1}: write there."
            )
        if m.status not in OrderMilestone.DISPUTABLE and m.status != MS.ACCEPTED:
            raise DisputeNotAllowed(
                f"Milestone {m.position + 1} is {m.get_status_display().lower()}: only a milestone in progress, "
                "delivered, in revision, or accepted with its money still pending clearance can be disputed."
            )
        refunded_before = Dispute.objects.filter(milestone=m, refund_amount_minor__gt=0).exists() or (
            DisputeHold.objects.filter(milestone=m, outcome=DisputeHold.Outcome.SETTLED, amount_minor__gt=0).exists()
        )
        if m.status == MS.ACCEPTED and refunded_before:
            raise DisputeNotAllowed(f"Milestone {m.position + 1} was already refunded in part in a dispute.")
        if amount_wanted_minor is not None and not 0 < amount_wanted_minor <= m.price_minor:
            raise ValidationFailed({"amount_wanted_minor": [f"At most {format_money(m.price_minor, order.currency)}."]})
        now = timezone.now()
        review_left = states.review_time_left(m, now)  # a delivery's, given back if it ends undecided
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
                    review_left=review_left,
                )
        except IntegrityError as exc:  # the unique constraint: cannot happen under the lock
            raise DisputeAlreadyOpen("A dispute about this milestone is already open.") from exc
        _event(dispute, actor=user, frm="", to=DS.OPEN, action="opened", note=description)
        _attach(dispute, user, files, post=DisputeEvidence.Post.OPENING)
        dispute.response_due_at = _response_due(now)
        dispute.save(update_fields=["response_due_at"])
        _change_status(dispute, DS.AWAITING_RESPONSE, actor=None, action="response requested")
        due = f"{timezone.localtime(dispute.response_due_at):%b %-d, %H:%M}"
        _notify_opened(
            dispute,
            order,
            user,
            to_other=f"A dispute was opened on milestone {m.position + 1} of order #{order.pk}: answer by {due}.",
            to_opener=f"Your dispute on milestone {m.position + 1} of order #{order.pk} is open; "
            "the milestone is on hold.",
            milestone=m,
        )
    return dispute


def order_dispute_within(milestones: list[OrderMilestone]) -> list[OrderMilestone]:
    """The milestones (in the order given) an order dispute would hold: unreleased ones, started
    or not, and accepted ones whose payout is pending clearance, not frozen and whole (a dispute
    refunded none of it). A read; one query, only when a milestone is accepted."""
    accepted = {m.pk: m.price_minor for m in milestones if m.status == MS.ACCEPTED}
    whole = set()
    if accepted:
        whole = {
            m_id
            for m_id, gross in Payout.objects.filter(
                milestone_id__in=accepted, status=Payout.Status.PENDING_CLEARANCE, frozen=False
            ).values_list("milestone_id", "gross_minor")
            if gross == accepted[m_id]
        }
    return [m for m in milestones if m.status in OrderMilestone.HOLDABLE or m.pk in whole]


def order_dispute_refusal(order: Order, milestones: list[OrderMilestone]) -> DomainError | None:
    """Why the whole order cannot be disputed now (the error to raise), or None: the order is not
    active; a dispute is active on one of its milestones, or on the order; a chargeback holds it;
    nothing is within reach (every milestone released and cleared, or cancelled). Reads only;
    the service calls it on the locked rows, the pages to decide whether to offer it."""
    if order.status != Order.Status.ACTIVE:
        return DisputeNotAllowed(f"Order #{order.pk} is {order.get_status_display().lower()}: it cannot be disputed.")
    active = Dispute.objects.filter(order=order, status__in=Dispute.ACTIVE)
    if active.filter(kind=Dispute.Kind.CHARGEBACK).exists():
        return DisputeNotAllowed(
            f"A chargeback on order #{order.pk} holds its money: the card issuer decides it first."
        )
    if active.filter(kind=Dispute.Kind.ORDER).exists():
        return DisputeAlreadyOpen(f"A dispute about the whole order #{order.pk} is already open.")
    taken = active.filter(kind=Dispute.Kind.MILESTONE).values_list("milestone__position", flat=True).first()
    if taken is not None:
        return DisputeAlreadyOpen(
            f"A dispute about milestone {taken + 1} is open: the whole order cannot be disputed meanwhile."
        )
    if not order_dispute_within(milestones):
        return DisputeNotAllowed(
            f"Nothing of order #{order.pk} can be disputed: its money is released and cleared, or refunded."
        )
    return None


def dispute_open_order(
    *,
    order_id: int,
    user: User,
    reason: str,
    description: str,
    outcome_wanted: str,
    amount_wanted_minor: int | None = None,
    files: list[UploadedFile] = (),
) -> Dispute:
    """Either party disputes the whole of an active order: every milestone whose money is within
    reach is held at once (DisputeHold rows, as a chargeback holds them): unreleased ones,
    started or not, frozen (`disputed`: no auto-release, no delivery, no cancellation, no stop),
    accepted ones whose payout is still pending clearance (and whole) with the payout frozen.
    The order is locked first, then its milestones in position order, so the auto-release sweep
    (which skips a locked order) and this never both act on a milestone. The amount at stake is
    the sum of the held milestones' prices; the other party has DISPUTE_RESPONSE_DAYS to answer.
    Raises NotFound (not a party), DisputeAlreadyOpen (a dispute is active on a milestone or on
    the order), DisputeNotAllowed (not active, a chargeback holds it, nothing within reach),
    ValidationFailed."""
    files = list(files)
    description, amount_wanted_minor = _opening_fields(reason, description, outcome_wanted, amount_wanted_minor)
    with transaction.atomic():
        order, milestones = _lock_order_milestones(order_id)
        if user.pk not in (order.buyer_id, order.seller_id):
            raise NotFound("No such order.")
        refusal = order_dispute_refusal(order, milestones)
        if refusal is not None:
            raise refusal
        dispute = Dispute.objects.create(
            kind=Dispute.Kind.ORDER,
            order=order,
            milestone=None,
            opened_by=user,
            reason=reason,
            description=description,
            outcome_wanted=outcome_wanted,
            amount_wanted_minor=amount_wanted_minor,
        )
        holds = hold_locked(order, milestones, dispute, actor=user, reason=f"order disputed (dispute {dispute.pk})")
        total = sum(h.milestone.price_minor for h in holds)
        if amount_wanted_minor is not None and not 0 < amount_wanted_minor <= total:
            raise ValidationFailed({"amount_wanted_minor": [f"At most {format_money(total, order.currency)}."]})
        now = timezone.now()
        dispute.amount_minor = total
        dispute.response_due_at = _response_due(now)
        dispute.save(update_fields=["amount_minor", "response_due_at"])
        held = ", ".join(str(h.milestone.position + 1) for h in holds)
        _event(dispute, actor=user, frm="", to=DS.OPEN, action="opened", note=description)
        _event(
            dispute,
            actor=user,
            frm=DS.OPEN,
            to=DS.OPEN,
            action="order held",
            note=f"Milestones {held}: {format_money(total, order.currency)} at stake.",
        )
        _attach(dispute, user, files, post=DisputeEvidence.Post.OPENING)
        _change_status(dispute, DS.AWAITING_RESPONSE, actor=None, action="response requested")
        due = f"{timezone.localtime(dispute.response_due_at):%b %-d, %H:%M}"
        _notify_opened(
            dispute,
            order,
            user,
            to_other=f"A dispute about the whole order #{order.pk} was opened (milestones {held} on hold): "
            f"answer by {due}.",
            to_opener=f"Your dispute about order #{order.pk} is open; milestones {held} are on hold.",
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
        _attach(d, user, files, post=DisputeEvidence.Post.RESPONSE)
        d.response = f"{d.response}\n\n{statement}".strip() if d.response else statement
        d.responded_at = now
        d.save(update_fields=["response", "responded_at"])
        _change_status(d, DS.UNDER_REVIEW, actor=user, action="responded", note=statement)
        notify_parties(
            url=dispute_url(d),
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
        msg = DisputeMessage.objects.create(dispute=lk.dispute, author=user, body=body)
        _attach(lk.dispute, user, files, post=DisputeEvidence.Post.MESSAGE, message=msg)
        _event(lk.dispute, actor=user, frm=lk.dispute.status, to=lk.dispute.status, action="message")
        for party in (lk.order.buyer, lk.order.seller):
            if party.pk != user.pk:
                notify(
                    url=dispute_url(lk.dispute),
                    user=party,
                    kind="dispute_message",
                    text=f"New message in the dispute on order #{lk.order.pk}.",
                    dedupe_key=f"dispute-message-{msg.pk}:{party.pk}",
                    order=lk.order,
                    milestone=lk.milestone,
                )
    return msg


def _check_amount(lk: Locked, amount, field: str = "seller_amount_minor") -> int:
    total = lk.at_stake
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 <= amount <= total:
        raise ValidationFailed({field: [f"Between 0 and {format_money(total, lk.order.currency)}."]})
    return amount


def allocate(prices: list[int], seller_amount: int) -> list[int]:
    """The seller's amount of an order dispute's decision spread over its held milestones in
    position order, earliest first: each takes up to its price, the first one short of it takes
    what is left, the later ones nothing (refunded). Integers; sums to `seller_amount`."""
    shares, left = [], seller_amount
    for price in prices:
        share = min(price, left)
        shares.append(share)
        left -= share
    if left:
        raise ValidationFailed({"seller_amount_minor": ["More than the dispute holds."]})
    return shares


def _refuse_under_chargeback(lk: Locked) -> None:
    ids = [lk.milestone.pk] if lk.milestone is not None else [h.milestone_id for h in lk.holds]
    for m_id in ids:
        if active_hold(m_id) is not None:
            raise DisputeClosed(
                f"A chargeback on order #{lk.order.pk} holds this dispute's money: it is decided once the card "
                "issuer decides the chargeback."
            )


def _resolve(
    lk: Locked, *, seller_amount: int, action: str, actor: User | None, note: str, kind: str = "dispute_resolved"
) -> Dispute:
    """On locked rows: settle the money at stake and mark the dispute resolved. An order
    dispute settles each held milestone with its share (`allocate`), in position order, each
    as a milestone dispute's decision would (the order then goes on, or completes). Refused
    while a chargeback holds the money: the card issuer may give the buyer it back meanwhile."""
    d, now = lk.dispute, timezone.now()
    _refuse_under_chargeback(lk)
    reason = f"dispute {d.pk}: {action}"
    total = lk.at_stake
    if lk.milestone is not None:
        money.dispute_settle_locked(
            lk.order, lk.milestone, seller_amount_minor=seller_amount, now=now, actor=actor, reason=reason
        )
    else:
        if not lk.holds:
            raise DisputeClosed("This dispute holds nothing any more: close it.")
        shares = allocate([h.milestone.price_minor for h in lk.holds], seller_amount)
        for h, share in zip(lk.holds, shares, strict=True):
            money.dispute_settle_locked(
                lk.order, h.milestone, seller_amount_minor=share, now=now, actor=actor, reason=reason
            )
            h.outcome, h.amount_minor, h.ended_at = DisputeHold.Outcome.SETTLED, h.milestone.price_minor - share, now
            h.save(update_fields=["outcome", "amount_minor", "ended_at"])
    d.resolution_action = action
    d.seller_amount_minor = seller_amount
    d.refund_amount_minor = total - seller_amount
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
    offers_expire_locked(d, now=now, actor=actor)  # nobody can accept them once decided
    _change_status(d, DS.RESOLVED, actor=actor, action=action, note=note)
    cur = lk.order.currency
    notify_parties(
        url=dispute_url(d),
        order=lk.order,
        kind=kind,
        key=f"dispute-{d.pk}-resolved",
        text=f"Dispute on {lk.what} resolved: "
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
        amount = _check_amount(lk, seller_amount_minor)
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
            url=dispute_url(lk.dispute),
            user=_other(lk.order, user.pk),
            kind="settlement_proposed",
            text=f"Dispute on order #{lk.order.pk}: a settlement of {format_money(amount, lk.order.currency)} "
            "to the seller (the rest refunded) was proposed.",
            dedupe_key=f"settlement-{offer.pk}-proposed",
            order=lk.order,
            milestone=lk.milestone,
        )
    return offer


def _refuse_expired(offer: SettlementOffer, d: Dispute, verb: str) -> None:
    """An offer still open when its dispute ended expired with it (SettlementRefused, 409)."""
    if offer.status == SettlementOffer.Status.EXPIRED:
        raise SettlementRefused(
            f"This offer was not answered before the dispute was {d.get_status_display().lower()}: "
            f"it can no longer be {verb}."
        )


def settlement_accept(*, offer_id: int, user: User) -> Dispute:
    """The other party accepts an open offer: the dispute resolves with its amounts, no admin.
    Accepting an accepted offer again is a no-op; the other offers still open expire with the
    decision. Raises NotFound, SettlementRefused (own offer, offer closed or expired with its
    dispute), DisputeClosed."""
    d_id = SettlementOffer.objects.filter(pk=offer_id).values_list("dispute_id", flat=True).first()
    if d_id is None:
        raise NotFound("No such offer.")
    with transaction.atomic():
        lk = _lock(d_id)
        offer = SettlementOffer.objects.select_for_update().get(pk=offer_id)
        _party(lk.order, user)
        if offer.status == SettlementOffer.Status.ACCEPTED:
            return lk.dispute
        _refuse_expired(offer, lk.dispute, "accepted")
        if offer.proposed_by_id == user.pk:
            raise SettlementRefused("The other party accepts your offer.")
        if offer.status != SettlementOffer.Status.OPEN:
            raise SettlementRefused("This offer is no longer open.")
        _active(lk.dispute)
        if offer.seller_amount_minor > lk.at_stake:  # a chargeback took some of the held money since
            raise SettlementRefused("This offer is more than the dispute still holds: propose again.")
        now = timezone.now()
        offer.status, offer.answered_at = SettlementOffer.Status.ACCEPTED, now
        offer.save(update_fields=["status", "answered_at"])
        return _resolve(  # the other offers still open expire with the decision
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
        _refuse_expired(offer, lk.dispute, "declined")
        if offer.proposed_by_id == user.pk or offer.status != SettlementOffer.Status.OPEN:
            raise SettlementRefused("This offer cannot be declined by you now.")
        offer.status, offer.answered_at = SettlementOffer.Status.DECLINED, timezone.now()
        offer.save(update_fields=["status", "answered_at"])
        _event(lk.dispute, actor=user, frm=lk.dispute.status, to=lk.dispute.status, action="settlement declined")
        notify(
            user=offer.proposed_by,
            kind="settlement_declined",
            text=f"Dispute on order #{lk.order.pk}: your settlement of "
            f"{format_money(offer.seller_amount_minor, lk.order.currency)} to the seller was declined.",
            dedupe_key=f"settlement-{offer.pk}-declined",
            order=lk.order,
            milestone=lk.milestone,
            url=dispute_url(lk.dispute),
        )
    return offer


def _end_undecided(lk: Locked, *, to: str, actor: User | None, action: str, note: str) -> Dispute:
    """On locked rows: the dispute ends without moving money; the milestone resumes where it was
    frozen (a delivery with the review time it had left, at least a day). An order dispute resumes every hold so (one
    not started as locked, then the lifecycle starts the first one if nothing leads), or hands it
    over to a chargeback holding it too."""
    d, now = lk.dispute, timezone.now()
    why = f"dispute {d.pk}: {action}"
    # A delivery gets back the review time it had left; at least a day, unless the buyer
    # withdraws their own dispute (then exactly what was left: no time is bought by disputing).
    buyer_withdrew = to == DS.WITHDRAWN and actor is not None and actor.pk == lk.order.buyer_id
    floor = timedelta(0) if buyer_withdrew else states.RESUME_REVIEW_FLOOR
    if lk.milestone is None:
        for h in lk.holds:
            if not hand_over_locked(d, h):
                resume_locked(lk.order, h.milestone, h, now=now, reason=why, review_floor=floor)
            else:
                h.outcome, h.ended_at = DisputeHold.Outcome.RESUMED, now
                h.save(update_fields=["outcome", "ended_at"])
        states.start_next_if_idle_locked(lk.order, now=now)
    elif hand_over_locked(d):
        pass  # a chargeback holds the milestone too: it stays frozen, the chargeback resumes it
    elif d.frozen_from == MS.ACCEPTED:
        money.payout_unfreeze_locked(lk.milestone, now=now)
    else:
        states.milestone_unfreeze_locked(
            lk.order,
            lk.milestone,
            resume_to=d.frozen_from,
            now=now,
            actor=actor,
            reason=f"dispute {d.pk}: {action}",
            review_left=d.review_left,
            review_floor=floor,
        )
    offers_expire_locked(d, now=now, actor=actor)
    if to == DS.RESOLVED:
        d.resolution_action, d.resolution_note, d.resolved_by, d.resolved_at = Dispute.Action.CLOSED, note, actor, now
        d.save(update_fields=["resolution_action", "resolution_note", "resolved_by", "resolved_at"])
    _change_status(d, to, actor=actor, action=action, note=note)
    goes_on = "the milestone goes on" if lk.milestone is not None else "the order goes on"
    notify_parties(
        url=dispute_url(d),
        order=lk.order,
        kind="dispute_" + action,
        key=f"dispute-{d.pk}-{action}",
        text=f"The dispute on {lk.what} was {action}: {goes_on}.",
        milestone=lk.milestone,
    )
    return d


def dispute_withdraw(*, dispute_id: int, user: User, note: str = "") -> Dispute:
    """The opener withdraws the dispute until it is decided (refused while an admin's decision waits
    for a second admin's approval); the milestone resumes where it was
    (a delivery gets back the review time it had left; no more: disputing buys no time). Again: a no-op."""
    with transaction.atomic():
        lk = _lock(dispute_id)
        _party(lk.order, user)
        if lk.dispute.opened_by_id != user.pk:
            raise DisputeClosed("Only the party who opened the dispute can withdraw it.")
        if lk.dispute.status == DS.WITHDRAWN:
            return lk.dispute
        _active(lk.dispute)
        if lk.dispute.pending_action:
            # An admin decided; a second admin's approval only lets the money move. Withdrawing
            # now would undo a decision the opener may dislike (they can still settle).
            raise DisputeClosed(
                "A decision on this dispute is waiting for a second admin's approval: it can no longer be withdrawn."
            )
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
            # An order dispute has no milestone: the order's lock is the one every writer takes.
            m = OrderMilestone.objects.select_for_update(skip_locked=True).filter(pk=m_id).first() if m_id else None
            d = Dispute.objects.select_for_update(skip_locked=True).filter(pk=d_id).first()
            if order is None or (m_id and m is None) or d is None or d.status != DS.AWAITING_RESPONSE:
                continue
            if d.response_due_at is None or d.response_due_at > now:
                continue
            _change_status(d, DS.UNDER_REVIEW, actor=None, action="response window over")
            notify_parties(
                url=dispute_url(d),
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
        price = lk.at_stake
        if action == Dispute.Action.RELEASE:
            amount = price
        elif action == Dispute.Action.REFUND:
            amount = 0
        elif action == Dispute.Action.SPLIT:
            amount = split_amount(price, seller_amount_minor=seller_amount_minor, percent=percent)
        else:
            raise ValidationFailed({"action": ["Release, refund or split."]})
        _check_amount(lk, amount)
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
    seller, refund = d.pending_seller_amount_minor, d.pending_refund_amount_minor
    if m is None:
        _order_still_at_stake(lk, seller, refund)
        return
    n = m.position + 1
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


def _order_still_at_stake(lk: Locked, seller: int | None, refund: int | None) -> None:
    """An order dispute's approval re-check: the waiting amounts add up to what it still holds,
    and every hold is still frozen by it (milestone disputed; payout frozen, pending, whole)."""
    if seller is None or refund is None or seller + refund != lk.at_stake:
        raise DisputeNotAllowed(
            f"The decision waiting does not add up to what the dispute holds any more "
            f"({format_money(lk.at_stake, lk.order.currency)}): reject it and decide again."
        )
    for h in lk.holds:
        m, n = h.milestone, h.milestone.position + 1
        if h.payout_frozen:
            payout = Payout.objects.filter(milestone=m).first()
            if (
                payout is None
                or not payout.frozen
                or payout.status != Payout.Status.PENDING_CLEARANCE
                or payout.gross_minor != m.price_minor
            ):
                state = payout.get_status_display().lower() if payout else "gone"
                raise DisputeNotAllowed(
                    f"The payout of milestone {n} is no longer held by this dispute ({state}): the decision "
                    "cannot be approved; reject it."
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
        amount = _check_amount(lk, d.pending_seller_amount_minor)
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
            url=dispute_url(d),
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
