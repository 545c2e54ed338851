"""Chargebacks: the buyer disputed the card payment with their bank. The provider reports it with
charge.dispute.* events (Stripe's, or the local provider's simulation), which reach
`chargeback_event_apply` through payments.hooks (registered in DisputesConfig.ready) inside the
inbox's transaction, so each event is applied at most once.

Any event of a provider dispute, whichever arrives first, opens the platform's Dispute (kind
chargeback, one per provider dispute id) and holds the order's money still within reach
(DisputeHold per milestone, `hold_locked`, shared with the parties' order disputes): milestones
in work and milestones not started are frozen (`disputed`; nothing cancels or refunds them),
payouts pending clearance are frozen. Every event posts the balance transactions its dispute object lists
(funds withdrawn, reinstated: each once, by its id), so the ledger follows whatever the arrival
order. The provider's status is forward-only: an older event never replaces a newer one's, and a
final status (won, lost, warning_closed, prevented) is never replaced. A final status closes the
dispute once: won resumes every hold where it was (deliveries get back the review time they had left), lost
settles the held money as refunded by the card network (latest milestone first, up to the
disputed amount; what no held money covers is the platform's loss).

Locks: the order, then its milestones (position order), then the payment, the dispute and the
payouts: the order every writer uses, so the auto-release sweep and a chargeback on the same
order never both act (the sweep skips a locked order; a chargeback arriving after a release sees
the payout pending clearance and freezes it).
"""

import logging
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from gigs.models import User
from marketplace.exceptions import NotFound, ValidationFailed
from marketplace.money import format_money
from milestones import lifecycle as states
from milestones.models import Order, OrderMilestone
from milestones.notifications import notify_parties
from payments import hooks, ledger
from payments import lifecycle as money
from payments.gateways import ProviderRefused, gateway
from payments.keys import idempotency_key
from payments.models import Payment, Payout, Refund

from .exceptions import DisputeClosed, DisputeNotAllowed
from .models import (
    Dispute,
    DisputeEvent,
    DisputeEvidenceSubmission,
    DisputeHold,
    SettlementOffer,
    chargeback_reason_label,
    chargeback_status_label,
)
from .notices import dispute_url

log = logging.getLogger(__name__)
DS = Dispute.Status
MS = OrderMilestone.Status
H = DisputeHold.Outcome

WON = frozenset({"won", "warning_closed", "prevented"})
LOST = frozenset({"lost"})
FINAL = WON | LOST
REVIEWING = frozenset({"under_review", "warning_under_review"})

# Stripe's evidence fields that take text (the others take uploaded file ids).
EVIDENCE_TEXT_FIELDS = (
    "product_description",
    "customer_name",
    "customer_email_address",
    "service_date",
    "access_activity_log",
    "cancellation_rebuttal",
    "refund_refusal_explanation",
    "uncategorized_text",
)


class ChargebackNotReady(Exception):
    """The order's payment is not recorded as succeeded yet (its event is still on its way): the
    event is rolled back and the inbox sweep processes it again later."""


def _event(d: Dispute, *, actor: User | None, frm: str, to: str, action: str, note: str = "") -> None:
    DisputeEvent.objects.create(dispute=d, actor=actor, from_status=frm, to_status=to, action=action, note=note)


def offers_expire_locked(d: Dispute, *, now: datetime, actor: User | None = None) -> int:
    """On the locked dispute, as it ends (resolved, closed, withdrawn; in the same transaction):
    its offers still open become expired ("Not answered"), so nobody can accept or decline them
    any more, with an event saying how many. Returns how many."""
    n = SettlementOffer.objects.filter(dispute=d, status=SettlementOffer.Status.OPEN).update(
        status=SettlementOffer.Status.EXPIRED, answered_at=now
    )
    if n:
        _event(
            d,
            actor=actor,
            frm=d.status,
            to=d.status,
            action="settlement offers expired",
            note=f"{n} open settlement offer{'s' if n != 1 else ''} not answered: the dispute ended.",
        )
    return n


def _move(d: Dispute, to: str, *, actor: User | None, action: str, note: str = "") -> None:
    """Forward along Dispute.TRANSITIONS, with an event; nothing when there or not allowed."""
    if d.status == to or to not in Dispute.TRANSITIONS[d.status]:
        return
    _event(d, actor=actor, frm=d.status, to=to, action=action, note=note)
    d.status = to
    d.save(update_fields=["status"])


def _ts(value) -> datetime | None:
    return datetime.fromtimestamp(int(value), tz=UTC) if value else None


def _id(value) -> str:
    """An id, or the id of an expanded object."""
    if isinstance(value, dict):
        return value.get("id") or ""
    return value or ""


def _order_id_for(obj: dict) -> int | None:
    intent, charge = _id(obj.get("payment_intent")), _id(obj.get("charge"))
    q = Q()
    if intent:
        q |= Q(provider_payment_id=intent)
    if charge:
        q |= Q(charge_id=charge)
    if not q:
        return None
    return Payment.objects.filter(q).values_list("order_id", flat=True).first()


# --- the provider's events ------------------------------------------------------------------------


def chargeback_event_apply(event_type: str, obj: dict, *, created: int, event_id: str) -> bool:
    """Apply one charge.dispute.* event (payments.hooks handler), inside the inbox transaction.
    False (stored for later) when no order of ours has the charge. Raises hooks.EventRefused when
    the dispute is in another currency than the order, ChargebackNotReady (retried) when the
    payment's success is not recorded yet."""
    ref = obj.get("id") or ""
    order_id = _order_id_for(obj) if ref else None
    if order_id is None:
        log.warning("No order for %s %s (charge %s)", event_type, ref, obj.get("charge"))
        return False
    order = Order.objects.select_for_update().get(pk=order_id)
    milestones = list(OrderMilestone.objects.select_for_update().filter(order=order).order_by("position"))
    payment = Payment.objects.select_for_update().get(order=order)
    if payment.status != Payment.Status.SUCCEEDED:
        raise ChargebackNotReady(f"Payment of order #{order.pk} not recorded as succeeded yet ({ref}).")
    currency = (obj.get("currency") or order.currency).upper()
    if currency != order.currency.upper():
        raise hooks.EventRefused(
            f"Chargeback {ref} is in {currency}, order #{order.pk} in {order.currency}: not applied; reconcile it."
        )
    now = timezone.now()
    d = Dispute.objects.select_for_update().filter(provider_dispute_id=ref).first()
    if d is None:
        d = _open(order, obj, ref=ref, created=created)
        if (obj.get("status") or "") not in WON:  # a dispute first seen already won holds nothing
            _hold(order, milestones, d, now=now)
    _post_funds(order, d, obj)
    _record_status(d, obj, created=created, event_type=event_type)
    if d.is_active and d.provider_status in FINAL:
        by_pk = {m.pk: m for m in milestones}
        if d.provider_status in WON:
            _close_won(order, by_pk, d, now=now)
        else:
            _close_lost(order, by_pk, d, now=now)
    return True


def _open(order: Order, obj: dict, *, ref: str, created: int) -> Dispute:
    amount = int(obj.get("amount") or 0)
    reason = chargeback_reason_label(obj.get("reason") or "general")
    d = Dispute.objects.create(
        kind=Dispute.Kind.CHARGEBACK,
        order=order,
        milestone=None,
        opened_by=order.buyer,  # the cardholder disputed the payment with their bank
        reason=Dispute.Reason.OTHER,
        description=f"Chargeback: the buyer disputed the card payment with their bank. The bank's reason: {reason}.",
        outcome_wanted=Dispute.Outcome.FULL_REFUND,
        amount_wanted_minor=amount or None,
        provider_dispute_id=ref,
        provider_charge_id=_id(obj.get("charge")),
        provider_reason=(obj.get("reason") or "general")[:64],
        amount_minor=amount,
    )
    _event(d, actor=None, frm="", to=DS.OPEN, action="chargeback opened", note=f"{ref}: {reason}")
    notify_parties(
        order=order,
        url=dispute_url(d),
        kind="chargeback_opened",
        key=f"chargeback-{d.pk}-opened",
        text=f"Order #{order.pk}: the payment is disputed with the card issuer ({reason.lower()}); the order's "
        "unreleased milestones are on hold until the issuer decides.",
    )
    return d


def _active_party_dispute(m: OrderMilestone) -> Dispute | None:
    """The party's dispute freezing the milestone: a milestone dispute on it, or an order
    dispute holding it."""
    d = Dispute.objects.filter(kind=Dispute.Kind.MILESTONE, milestone=m, status__in=Dispute.ACTIVE).first()
    if d is None:
        h = (
            DisputeHold.objects.filter(
                milestone=m, outcome=H.HELD, dispute__kind=Dispute.Kind.ORDER, dispute__status__in=Dispute.ACTIVE
            )
            .select_related("dispute")
            .first()
        )
        d = h.dispute if h else None
    return d


def hold_locked(
    order: Order, milestones: list[OrderMilestone], d: Dispute, *, actor: User | None, reason: str
) -> list[DisputeHold]:
    """On the locked order and its milestones (position order): hold every milestone whose money
    is within reach for `d` (a chargeback, or a party's order dispute), one DisputeHold each:
    unreleased milestones, started or not, are frozen (`disputed`, `frozen_from` kept); an
    accepted one whose payout is pending clearance has the payout frozen. A chargeback also
    records a milestone a party's dispute froze already (`party_dispute`: that dispute's to
    end) and split payouts pending clearance; an order dispute holds only whole payouts (its
    opening is refused while another dispute holds anything). Cleared, sent and cancelled money
    is out of reach. Returns the holds made."""
    chargeback = d.is_chargeback
    holds = []
    for m in milestones:
        hold = DisputeHold(
            dispute=d, milestone=m, frozen_from=m.status, review_left=states.review_time_left(m, timezone.now())
        )
        if m.status in OrderMilestone.HOLDABLE:
            states.milestone_freeze_locked(order, m, actor=actor, reason=reason, not_started=True)
        elif m.status == MS.DISPUTED:
            if not chargeback:
                continue
            hold.party_dispute = _active_party_dispute(m)  # frozen already: that dispute's to end
        elif m.status in (MS.ACCEPTED, MS.SPLIT):
            payout = Payout.objects.select_for_update().filter(milestone=m).first()
            if payout is None or payout.status != Payout.Status.PENDING_CLEARANCE:
                continue  # cleared or sent: out of reach (a lost chargeback's loss)
            if not chargeback and (payout.frozen or payout.gross_minor != m.price_minor):
                continue  # held elsewhere, or partly refunded already
            if payout.frozen:
                hold.party_dispute = _active_party_dispute(m)
            else:
                money.payout_freeze_locked(m)
                hold.payout_frozen = True
        else:
            continue  # cancelled: refunded already
        hold.save()
        holds.append(hold)
    return holds


def _hold(order: Order, milestones: list[OrderMilestone], d: Dispute, *, now: datetime) -> None:
    hold_locked(order, milestones, d, actor=None, reason=f"chargeback {d.provider_dispute_id}")


def _post_funds(order: Order, d: Dispute, obj: dict) -> None:
    """Post each balance transaction the dispute lists (withdrawn: negative amount and the fee;
    reinstated: positive), once each by its id."""
    for txn in obj.get("balance_transactions") or []:
        if not isinstance(txn, dict) or not txn.get("id"):
            continue
        currency = (txn.get("currency") or order.currency).upper()
        if currency != order.currency.upper():
            raise hooks.EventRefused(
                f"Balance transaction {txn['id']} of chargeback {d.provider_dispute_id} is in {currency}, "
                f"order #{order.pk} in {order.currency}: not applied; reconcile it."
            )
        amount, fee = int(txn.get("amount") or 0), int(txn.get("fee") or 0)
        if amount == 0 and fee == 0:
            continue
        _, new = ledger.post_chargeback_funds(
            order=order,
            dispute_ref=d.provider_dispute_id,
            balance_txn_id=txn["id"],
            amount_minor=amount,
            fee_minor=fee,
            currency=order.currency,
        )
        if new:
            what = "funds reinstated" if amount > 0 else "funds withdrawn"
            cur = order.currency
            _event(
                d,
                actor=None,
                frm=d.status,
                to=d.status,
                action=what,
                note=f"{format_money(abs(amount), cur)}, fee {format_money(fee, cur)} ({txn['id']})",
            )


def _record_status(d: Dispute, obj: dict, *, created: int, event_type: str) -> None:
    """Forward-only: a final status is never replaced; otherwise an event older than the state
    stored changes nothing. A final status applies whatever its time."""
    status = obj.get("status") or ""
    if d.provider_status in FINAL or not status:
        return
    if status not in FINAL and created < d.provider_state_as_of:
        return
    due = _ts((obj.get("evidence_details") or {}).get("due_by"))
    d.provider_status = status
    d.provider_reason = (obj.get("reason") or d.provider_reason)[:64]
    d.amount_minor = int(obj.get("amount") or d.amount_minor or 0)
    d.evidence_due_by = due or d.evidence_due_by
    d.provider_state_as_of = max(created, d.provider_state_as_of)
    d.save(
        update_fields=["provider_status", "provider_reason", "amount_minor", "evidence_due_by", "provider_state_as_of"]
    )
    if status in REVIEWING:
        _move(d, DS.UNDER_REVIEW, actor=None, action="under review by the issuer", note=event_type)


def resume_locked(
    order: Order,
    m: OrderMilestone,
    h: DisputeHold,
    *,
    now: datetime,
    reason: str,
    review_floor: timedelta = states.RESUME_REVIEW_FLOOR,
) -> None:
    """On the locked rows: a hold ends without taking the money, and the milestone goes on where
    it was (a delivery with the review time it had left, at least a day; one not started as locked, which holds from
    before milestones froze locked ones were never frozen); a payout the hold froze is unfrozen.
    A party's dispute still open on it keeps its own freeze."""
    party_active = (
        h.party_dispute_id is not None
        and Dispute.objects.filter(pk=h.party_dispute_id, status__in=Dispute.ACTIVE).exists()
    )
    if not party_active:  # a milestone dispute still open keeps its own freeze
        if h.frozen_from in OrderMilestone.HOLDABLE:
            states.milestone_unfreeze_locked(
                order,
                m,
                resume_to=h.frozen_from,
                now=now,
                actor=None,
                reason=reason,
                review_left=h.review_left,
                review_floor=review_floor,
            )
        elif h.payout_frozen:
            money.payout_unfreeze_locked(m, now=now)
    h.outcome, h.ended_at = H.RESUMED, now
    h.save(update_fields=["outcome", "ended_at"])


def _finish(d: Dispute, *, action: str, refunded: int, now: datetime, note: str) -> None:
    d.resolution_action, d.refund_amount_minor, d.resolved_at = action, refunded, now
    d.resolution_note = note
    d.save(update_fields=["resolution_action", "refund_amount_minor", "resolved_at", "resolution_note"])
    _event(d, actor=None, frm=d.status, to=DS.RESOLVED, action=f"chargeback {action}", note=note)
    d.status = DS.RESOLVED
    d.save(update_fields=["status"])


def _close_won(order: Order, by_pk: dict[int, OrderMilestone], d: Dispute, *, now: datetime) -> None:
    reason = f"chargeback {d.provider_dispute_id} won"
    for h in d.holds.filter(outcome=H.HELD).order_by("milestone__position"):
        resume_locked(order, by_pk[h.milestone_id], h, now=now, reason=reason)
    states.start_next_if_idle_locked(order, now=now)
    _finish(
        d,
        action=Dispute.Action.WON,
        refunded=0,
        now=now,
        note=f"The issuer decided for the platform ({chargeback_status_label(d.provider_status).lower()}).",
    )
    notify_parties(
        order=order,
        url=dispute_url(d),
        kind="chargeback_won",
        key=f"chargeback-{d.pk}-closed",
        text=f"Order #{order.pk}: the card issuer decided the payment dispute for the platform; the order goes on.",
    )


def _end_party_dispute(party: Dispute, m: OrderMilestone, *, value: int, now: datetime, note: str) -> None:
    """A party's dispute whose milestone a lost chargeback refunded: nothing is left to decide
    about it. An order dispute loses that hold and ends only when it holds nothing more."""
    party = Dispute.objects.select_for_update().get(pk=party.pk)
    if not party.is_active:
        return
    if party.is_order_dispute:
        DisputeHold.objects.filter(dispute=party, milestone=m, outcome=H.HELD).update(
            outcome=H.REFUNDED, amount_minor=value, ended_at=now
        )
        _event(party, actor=None, frm=party.status, to=party.status, action="hold refunded by a chargeback", note=note)
        if party.holds.filter(outcome=H.HELD).exists():
            return
    party.resolution_action, party.resolution_note, party.resolved_at = Dispute.Action.CHARGEBACK, note, now
    party.pending_action, party.pending_note = "", ""
    party.pending_seller_amount_minor = party.pending_refund_amount_minor = None
    party.save()
    offers_expire_locked(party, now=now)
    _event(party, actor=None, frm=party.status, to=DS.RESOLVED, action="settled by a chargeback", note=note)
    party.status = DS.RESOLVED
    party.save(update_fields=["status"])


def _close_lost(order: Order, by_pk: dict[int, OrderMilestone], d: Dispute, *, now: datetime) -> None:
    """The card network gave the buyer `amount_minor` back. The held money covers it, latest
    milestone first: each milestone whose held money fits in what is left is refunded by the
    chargeback (unreleased: escrow -> chargeback, the milestone cancelled; a payout pending
    clearance: seller pending + commission -> chargeback, the payout cancelled); from the first
    one that does not fit, the rest resume. What no held money covered is the platform's loss.
    One Refund row per refunded milestone records it (succeeded: nothing is sent)."""
    ref = d.provider_dispute_id
    remaining = d.amount_minor or 0
    covering, refunded, cancelled = True, 0, []
    holds = sorted(d.holds.filter(outcome=H.HELD), key=lambda h: by_pk[h.milestone_id].position, reverse=True)
    for h in holds:
        m = by_pk[h.milestone_id]
        payout = None
        if m.status in (MS.LOCKED, MS.DISPUTED):
            value = m.price_minor  # still in escrow
        else:
            payout = Payout.objects.select_for_update().filter(milestone=m).first()
            held = payout is not None and payout.frozen and payout.status == Payout.Status.PENDING_CLEARANCE
            value = payout.gross_minor if held else 0
        if not (covering and 0 < value <= remaining):
            covering = covering and value == 0
            resume_locked(order, m, h, now=now, reason=f"chargeback {ref} lost: not needed to cover it")
            continue
        if h.party_dispute_id:
            _end_party_dispute(
                h.party_dispute, m, value=value, now=now, note=f"Milestone refunded by the lost chargeback {ref}."
            )
        if payout is None:
            legs = [(ledger.escrow(order.pk), value)]
            cancelled.append(m)
        else:
            legs = [(ledger.seller_pending(payout.seller_id), payout.amount_minor)]
            legs.append((ledger.PLATFORM_REVENUE, payout.commission_minor))
            payout.gross_minor = payout.commission_minor = payout.amount_minor = 0
            payout.status, payout.frozen = Payout.Status.CANCELLED, False
            payout.save(update_fields=["gross_minor", "commission_minor", "amount_minor", "status", "frozen"])
        ledger.post_chargeback_refunded(order=order, dispute_ref=ref, milestone_id=m.pk, legs_from=legs)
        Refund.objects.create(
            order=order,
            amount_minor=value,
            currency=order.currency,
            milestone_ids=[m.pk],
            reason=f"chargeback {ref} lost: refunded by the card network"[:200],
            idempotency_key=f"chargeback-{ref}-milestone-{m.pk}"[:120],
            status=Refund.Status.SUCCEEDED,
            provider_refund_id=ref[:120],
        )
        h.outcome, h.amount_minor, h.ended_at = H.REFUNDED, value, now
        h.save(update_fields=["outcome", "amount_minor", "ended_at"])
        remaining -= value
        refunded += value
    if cancelled:
        states.cancel_locked(order, cancelled, now=now, actor=None, reason=f"chargeback {ref} lost")
        states.withdraw_open_requests_locked([m.pk for m in cancelled], now=now)
    states.start_next_if_idle_locked(order, now=now)
    ledger.post_chargeback_loss(order=order, dispute_ref=ref, amount_minor=remaining)
    cur = order.currency
    _finish(
        d,
        action=Dispute.Action.LOST,
        refunded=refunded,
        now=now,
        note=f"The issuer decided for the buyer: {format_money(refunded, cur)} of held money refunded, "
        f"{format_money(remaining, cur)} not covered (the platform's loss).",
    )
    notify_parties(
        order=order,
        url=dispute_url(d),
        kind="chargeback_lost",
        key=f"chargeback-{d.pk}-closed",
        text=f"Order #{order.pk}: the card issuer refunded the buyer {format_money(d.amount_minor or 0, cur)}; "
        "the milestones it covered are cancelled.",
    )


# --- the milestone disputes' side -------------------------------------------------------------------


def active_hold(milestone_id: int) -> DisputeHold | None:
    """The hold of an active chargeback on the milestone, if any (read under the caller's locks)."""
    return (
        DisputeHold.objects.filter(
            milestone_id=milestone_id,
            outcome=H.HELD,
            dispute__kind=Dispute.Kind.CHARGEBACK,
            dispute__status__in=Dispute.ACTIVE,
        )
        .select_related("dispute")
        .first()
    )


def hand_over_locked(party: Dispute, own: DisputeHold | None = None) -> bool:
    """A party's dispute ends without a decision while a chargeback holds its milestone (an
    order dispute: the milestone of its hold `own`): the chargeback keeps the milestone (or
    payout) frozen, and resumes it where the party's dispute found it when the chargeback is
    won. True when handed over (the caller then leaves the milestone frozen)."""
    hold = active_hold(own.milestone_id if own else party.milestone_id)
    if hold is None or hold.party_dispute_id != party.pk:
        return False
    hold.party_dispute = None
    if own is not None:
        hold.frozen_from, hold.payout_frozen = own.frozen_from, own.payout_frozen
        hold.review_left = own.review_left
    else:
        hold.frozen_from = party.frozen_from
        hold.payout_frozen = party.frozen_from in (MS.ACCEPTED, MS.SPLIT)
        hold.review_left = party.review_left
    hold.save(update_fields=["party_dispute", "frozen_from", "payout_frozen", "review_left"])
    return True


# --- admin: evidence ---------------------------------------------------------------------------------


def evidence_key(dispute: Dispute, number: int) -> str:
    return idempotency_key("dispute", dispute.pk, "evidence", number)


def chargeback_evidence_submit(*, dispute_id: int, admin: User, evidence: dict[str, str]) -> DisputeEvidenceSubmission:
    """An admin submits evidence for a chargeback to the provider (Stripe: the dispute's evidence
    with submit=True; it can be submitted once). Text fields only (EVIDENCE_TEXT_FIELDS), at
    least one. The provider call runs outside any transaction with a deterministic key (the
    dispute and the submission's number), so a retried request never submits twice; then the
    submission is recorded with an event. Raises NotFound, DisputeClosed (not an active
    chargeback, submitted already, or refused by the provider: decided there meanwhile),
    ValidationFailed, ProviderUnavailable."""
    if not admin.is_staff:
        raise NotFound("No such dispute.")
    evidence = {k: (v or "").strip() for k, v in evidence.items() if k in EVIDENCE_TEXT_FIELDS and (v or "").strip()}
    if not evidence:
        raise ValidationFailed({"evidence": ["Fill in at least one evidence field."]})
    d = Dispute.objects.filter(pk=dispute_id).first()
    if d is None or not d.is_chargeback:
        raise NotFound("No such chargeback.")
    if not d.is_active or d.provider_status in FINAL:
        raise DisputeClosed("This chargeback is closed: evidence can no longer be submitted.")
    if d.evidence_submitted_at is not None:
        raise DisputeClosed("Evidence for this chargeback was submitted already: the issuer is reviewing it.")
    key = evidence_key(d, d.evidence_submissions.count() + 1)
    try:  # outside any transaction; the key makes a retry safe
        status = gateway().submit_dispute_evidence(d.provider_dispute_id, evidence, idempotency_key=key)
    except ProviderRefused as exc:
        raise DisputeClosed(f"The provider refused the evidence: {exc}") from exc
    with transaction.atomic():
        Order.objects.select_for_update().get(pk=d.order_id)
        d = Dispute.objects.select_for_update().get(pk=dispute_id)
        sub, _ = DisputeEvidenceSubmission.objects.get_or_create(
            idempotency_key=key,
            defaults={"dispute": d, "submitted_by": admin, "evidence": evidence, "provider_status": status},
        )
        if d.evidence_submitted_at is None:
            d.evidence_submitted_at = timezone.now()
            d.save(update_fields=["evidence_submitted_at"])
            fields = ", ".join(sorted(evidence))
            _event(d, actor=admin, frm=d.status, to=d.status, action="evidence submitted", note=f"{fields} ({status})")
            if status in REVIEWING:
                _move(d, DS.UNDER_REVIEW, actor=admin, action="under review by the issuer")
    return sub


# --- the local provider's simulation -------------------------------------------------------------------


def chargeback_simulate(*, order_id: int, outcome: str | None = None, amount_minor: int | None = None) -> str:
    """Local provider only (demos): the buyer's bank disputes the order's payment. Emits
    charge.dispute.created and .funds_withdrawn into the inbox (processed like Stripe's), and with
    `outcome` ("won" or "lost") the closing events too. Returns the dispute's id."""
    provider = gateway()
    if not hasattr(provider, "simulate_chargeback"):
        raise DisputeNotAllowed("Chargebacks are simulated with the local provider only.")
    if outcome not in (None, "won", "lost"):
        raise ValidationFailed({"outcome": ["won or lost"]})
    payment = Payment.objects.filter(order_id=order_id, status=Payment.Status.SUCCEEDED).first()
    if payment is None:
        raise NotFound("No paid order with this id.")
    ref = provider.simulate_chargeback(payment.provider_payment_id, amount_minor=amount_minor)
    if outcome:
        provider.close_simulated_chargeback(ref, outcome=outcome)
    return ref


def chargeback_simulate_close(*, dispute_id: int, outcome: str) -> None:
    """Local provider only: the issuer decides a simulated chargeback (won: the funds come back)."""
    provider = gateway()
    d = Dispute.objects.filter(pk=dispute_id, kind=Dispute.Kind.CHARGEBACK).first()
    if d is None:
        raise NotFound("No such chargeback.")
    if not hasattr(provider, "close_simulated_chargeback"):
        raise DisputeNotAllowed("Chargebacks are simulated with the local provider only.")
    if outcome not in ("won", "lost"):
        raise ValidationFailed({"outcome": ["won or lost"]})
    provider.close_simulated_chargeback(d.provider_dispute_id, outcome=outcome)
