"""Money of the milestone lifecycle: release on acceptance (by the buyer or the auto-release
sweep), clearance, transfers to sellers, and refunds of cancelled milestones.

Each money transition runs in one transaction with the state change (milestones.lifecycle) on
rows locked order-first; every ledger posting has a unique reference and every provider call a
deterministic idempotency key, made outside transactions (the three steps of STYLE.md).
Sweeps work in batches with `select_for_update(skip_locked=True)`, so two sweeps at once share
the rows instead of waiting for each other, and each batch costs a fixed number of queries.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q, Sum
from django.db.models.functions import Mod
from django.utils import timezone

from gigs.models import User
from marketplace.db import insert_rows
from marketplace.exceptions import DomainError, NotFound, ValidationFailed
from marketplace.money import format_money
from milestones import lifecycle as states
from milestones.exceptions import InvalidTransition
from milestones.models import CancellationRequest, Order, OrderMilestone
from milestones.notifications import notify

from . import ledger
from .fees import seller_commission
from .gateways import gateway
from .keys import idempotency_key
from .models import LedgerTransaction, Payment, Payout, Refund

log = logging.getLogger(__name__)
S = OrderMilestone.Status
K = LedgerTransaction.Kind


def _rules() -> dict:
    return settings.MARKETPLACE


# --- release ------------------------------------------------------------------------------------


PAYOUT_COLUMNS = [
    "milestone_id",
    "order_id",
    "seller_id",
    "gross_minor",
    "commission_minor",
    "amount_minor",
    "currency",
    "clears_at",
]


def _release(pairs: list[tuple[Order, OrderMilestone]], *, now: datetime, actor: User | None, auto: bool) -> int:
    """Accept delivered milestones (locked by the caller) and release their money: escrow to the
    seller's pending balance less the commission, which is platform revenue; one payout each,
    clearing after CLEARANCE_DAYS. Returns how many were released."""
    accepted = states.accept_locked(pairs, now=now, actor=actor, auto=auto)
    if not accepted:
        return 0
    # A cancellation request on an accepted milestone has nothing left to cancel.
    states.withdraw_open_requests_locked([a.milestone.pk for a in accepted], now=now)
    clears_at = now + timedelta(days=_rules()["CLEARANCE_DAYS"])
    postings, payouts = [], []
    for a in accepted:
        o, m = a.order, a.milestone
        commission = seller_commission(m.price_minor, o.commission_bps)
        postings.append(
            ledger.Posting(
                kind=K.MILESTONE_RELEASED,
                reference=f"milestone-{m.pk}-released",
                currency=o.currency,
                order_id=o.pk,
                legs=[
                    (ledger.escrow(o.pk), m.price_minor),
                    (ledger.seller_pending(o.seller_id), -(m.price_minor - commission)),
                    (ledger.PLATFORM_REVENUE, -commission),
                ],
                memo=f"Milestone {m.position + 1} of order #{o.pk} released",
            )
        )
        payouts.append(
            (m.pk, o.pk, o.seller_id, m.price_minor, commission, m.price_minor - commission, o.currency, clears_at)
        )
    ledger.post_many(postings)
    insert_rows(Payout, PAYOUT_COLUMNS, payouts)
    if _rules()["CLEARANCE_DAYS"] == 0:
        from .tasks import payouts_clear_sweep_task

        payouts_clear_sweep_task.delay_on_commit()
    return len(accepted)


def milestone_accept(*, milestone_id: int, buyer: User) -> OrderMilestone:
    """The buyer accepts a delivered milestone: its money is released and the next one starts
    (the last one completes the order). Accepting again is a no-op; anything else is refused."""
    with transaction.atomic():
        order, m = states.lock_order_and_milestone(milestone_id=milestone_id)
        if order.buyer_id != buyer.pk:
            raise NotFound("No such milestone.")
        if m.status == S.ACCEPTED:
            return m
        if m.status != S.DELIVERED:
            raise InvalidTransition(f"Milestone {m.position + 1} is not waiting for your review.")
        _release([(order, m)], now=timezone.now(), actor=buyer, auto=False)
    return m


SWEEP_ORDER_FIELDS = ("pk", "buyer_id", "seller_id", "status", "currency", "commission_bps")
SWEEP_MILESTONE_FIELDS = ("pk", "order_id", "position", "status", "price_minor")


def auto_release_sweep(
    *, now: datetime | None = None, batch: int | None = None, shard: int = 0, shards: int = 1
) -> int:
    """Accept, and release, every delivered milestone whose review deadline passed, in batches.
    Rows another transaction holds (a buyer accepting right now, another sweep) are skipped and
    found by the next run. With `shards` > 1 it takes only the orders whose id is `shard` modulo
    `shards`, so that several workers drain a backlog side by side without meeting on the same
    rows (payments.tasks.auto_release_sweep_task fans out SWEEP_SHARDS of them). Returns how many
    were released."""
    now = now or timezone.now()
    batch = batch or _rules()["SWEEP_BATCH"]
    released, skipped = 0, set()
    base = OrderMilestone.objects.filter(status=S.DELIVERED, review_deadline__lte=now)
    if shards > 1:
        base = base.alias(shard_of=Mod("order_id", shards)).filter(shard_of=shard)
    while True:
        if len(skipped) > 10 * batch:
            # Batch after batch held by someone else: another sweep is on these rows. Leave
            # them to it (or to the next run) rather than grow the exclusion list without end.
            return released
        with transaction.atomic():
            due = (
                base.exclude(order_id__in=skipped)
                .order_by("review_deadline", "pk")
                .values_list("order_id", flat=True)[:batch]
            )
            order_ids = sorted(set(due))
            if not order_ids:
                return released
            # Only the columns the release needs: a batch reads hundreds of rows (`.only()` also
            # keeps FOR UPDATE to these tables).
            orders = {
                o.pk: o
                for o in Order.objects.select_for_update(skip_locked=True)
                .filter(pk__in=order_ids)
                .only(*SWEEP_ORDER_FIELDS)
                .order_by("pk")
            }
            skipped.update(set(order_ids) - set(orders))
            if not orders:
                continue
            milestones = (
                OrderMilestone.objects.select_for_update()
                .filter(order_id__in=orders, status=S.DELIVERED, review_deadline__lte=now)
                .only(*SWEEP_MILESTONE_FIELDS)
                .order_by("order_id", "position")
            )
            released += _release([(orders[m.order_id], m) for m in milestones], now=now, actor=None, auto=True)


# --- clearance and transfers --------------------------------------------------------------------


def _clear_locked(payouts: list[Payout]) -> None:
    """On locked payouts pending clearance: seller pending -> available, status available."""
    if not payouts:
        return
    ledger.post_many(
        [
            ledger.Posting(
                kind=K.PAYOUT_CLEARED,
                reference=f"payout-{p.pk}-cleared",
                currency=p.currency,
                order_id=p.order_id,
                legs=[
                    (ledger.seller_pending(p.seller_id), p.amount_minor),
                    (ledger.seller_available(p.seller_id), -p.amount_minor),
                ],
            )
            for p in payouts
        ]
    )
    Payout.objects.filter(pk__in=[p.pk for p in payouts]).update(status=Payout.Status.AVAILABLE)
    for p in payouts:
        p.status = Payout.Status.AVAILABLE


def payouts_clear_sweep(*, now: datetime | None = None, batch: int | None = None) -> int:
    """Payouts whose clearance period ended become available (seller pending -> available) and
    are queued for transfer. Returns how many cleared."""
    from .tasks import payouts_transfer_drain_task

    now = now or timezone.now()
    batch = batch or _rules()["SWEEP_BATCH"]
    cleared, skipped = 0, set()
    while len(skipped) <= 10 * batch:  # else: batch after batch held by someone else
        with transaction.atomic():
            due = list(
                Payout.objects.filter(status=Payout.Status.PENDING_CLEARANCE, frozen=False, clears_at__lte=now)
                .exclude(order_id__in=skipped)
                .order_by("clears_at", "pk")
                .values_list("pk", "order_id")[:batch]
            )
            if not due:
                break
            # Lock order -> payout, as a dispute does (order, milestone, payout): rows someone
            # holds are skipped and found by the next run.
            order_ids = sorted({o for _, o in due})
            locked_orders = set(
                Order.objects.select_for_update(skip_locked=True)
                .filter(pk__in=order_ids)
                .order_by("pk")
                .values_list("pk", flat=True)
            )
            payouts = list(
                Payout.objects.select_for_update(skip_locked=True)
                .filter(pk__in=[p for p, o in due if o in locked_orders])
                .order_by("pk")
            )
            got = {p.pk for p in payouts}
            skipped.update(o for p, o in due if o not in locked_orders or p not in got)
            # Read under the lock: a dispute that froze one meanwhile is seen here (re-checked).
            payouts = [
                p
                for p in payouts
                if not p.frozen and p.status == Payout.Status.PENDING_CLEARANCE and p.clears_at <= now
            ]
            _clear_locked(payouts)
            cleared += len(payouts)
    if cleared:
        transaction.on_commit(payouts_transfer_drain_task.delay)
    return cleared


STUCK_AFTER = timedelta(minutes=10)


def _backoff(attempts: int) -> timedelta:
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), 360))


def _overdue_for_reconciliation(since: datetime | None, now: datetime) -> bool:
    """Money still not sent PAYOUT_RECONCILE_HOURS after the first try (payouts and refunds):
    someone must compare with the provider (admin lists them); the retries go on."""
    return since is not None and now - since >= timedelta(hours=_rules()["PAYOUT_RECONCILE_HOURS"])


def _lock_payout_order(payout_id: int) -> None:
    order_id = Payout.objects.filter(pk=payout_id).values_list("order_id", flat=True).get()
    Order.objects.select_for_update().filter(pk=order_id).values_list("pk", flat=True).get()


def payout_transfer(*, payout_id: int, force: bool = False) -> Payout:
    """See `_payout_transfer`; returns the payout as it stands afterwards."""
    return _payout_transfer(payout_id=payout_id, force=force)[0]


def _payout_transfer(*, payout_id: int, force: bool = False) -> tuple[Payout, bool]:
    """Send an available payout to the seller. Safe to call again and from several workers: the
    claim step lets one through; a crash after the provider call is retried with the same key,
    so the seller is paid once. Failures are recorded with a retry time; a payout failing for
    more than PAYOUT_RECONCILE_HOURS is flagged for reconciliation (admin lists them). `force`
    retries a failed payout before its backoff ends."""
    now = timezone.now()
    with transaction.atomic():  # 1. claim
        # The order first, as a dispute locks order -> milestone -> payout.
        _lock_payout_order(payout_id)
        payout = Payout.objects.select_for_update(of=("self",)).select_related("order").get(pk=payout_id)
        if payout.frozen:  # held by a dispute (re-checked under the lock)
            return payout, False
        retry_due = payout.next_attempt_at is None or payout.next_attempt_at <= now
        # `force` (admin's "Retry transfer now") skips a failed payout's backoff, never the guard
        # on one still transferring: that one may be in flight at the provider right now.
        claimable = (
            payout.status == Payout.Status.AVAILABLE
            or (payout.status == Payout.Status.FAILED and (retry_due or force))
            or (payout.status == Payout.Status.TRANSFERRING and retry_due)
        )
        if not claimable:
            return payout, False
        stuck = payout.status == Payout.Status.TRANSFERRING  # the last attempt never came back
        payout.status = Payout.Status.TRANSFERRING
        payout.attempts += 1
        payout.next_attempt_at = now + STUCK_AFTER  # a crash leaves it here; the drain retries it then
        payout.first_attempt_at = payout.first_attempt_at or now
        if stuck and _overdue_for_reconciliation(payout.first_attempt_at, now):
            # Crashing every time never reaches the failure branch below: flag it here.
            payout.needs_reconciliation = True
        payout.save(update_fields=["status", "attempts", "next_attempt_at", "first_attempt_at", "needs_reconciliation"])
        charge_id = Payment.objects.filter(order_id=payout.order_id).values_list("charge_id", flat=True).first()

    provider = gateway()
    try:  # 2. outside any transaction or lock
        destination = provider.seller_destination(payout.seller_id)
        if destination is None:
            raise DomainError("The seller has no account that can receive transfers.")
        transfer_id = provider.create_transfer(
            amount_minor=payout.amount_minor,
            currency=payout.currency,
            destination=destination,
            source_transaction=charge_id or "",
            transfer_group=f"order-{payout.order_id}",
            idempotency_key=idempotency_key("payout", payout.pk, "transfer"),
            look_up_first=payout.attempts > 1,  # a retry: the first attempt may have gone through
        )
    except Exception as exc:  # noqa: BLE001 - any failure is recorded; the drain retries with backoff
        with transaction.atomic():
            payout = Payout.objects.select_for_update().get(pk=payout_id)
            if payout.status == Payout.Status.TRANSFERRING:
                payout.status = Payout.Status.FAILED
                payout.first_failed_at = payout.first_failed_at or now
                payout.next_attempt_at = now + _backoff(payout.attempts)
                payout.last_error = str(getattr(exc, "message", exc))[:500]
                # Counted from the first attempt: it may have crashed before this one failed.
                payout.needs_reconciliation = _overdue_for_reconciliation(
                    payout.first_attempt_at or payout.first_failed_at, now
                )
                payout.save()
        log.warning("Payout %s transfer failed: %s", payout_id, exc)
        return payout, False

    with transaction.atomic():  # 3. record the outcome, post the ledger
        _lock_payout_order(payout_id)
        payout = Payout.objects.select_for_update().get(pk=payout_id)
        if payout.status != Payout.Status.TRANSFERRED:
            ledger.post(
                kind=K.PAYOUT_TRANSFERRED,
                reference=f"payout-{payout.pk}-transferred",
                currency=payout.currency,
                order=payout.order,
                legs=[
                    (ledger.seller_available(payout.seller_id), payout.amount_minor),
                    (ledger.PLATFORM_CASH, -payout.amount_minor),
                ],
                memo=transfer_id,
            )
            payout.status = Payout.Status.TRANSFERRED
            payout.transfer_id = transfer_id
            payout.transferred_at = timezone.now()
            payout.next_attempt_at = None
            payout.needs_reconciliation = False
            payout.save()
            notify(
                user=payout.order.seller,
                kind="payout_transferred",
                text=f"{format_money(payout.amount_minor, payout.currency)} for order #{payout.order_id} "
                "was sent to your account.",
                dedupe_key=f"payout-{payout.pk}-transferred",
                order=payout.order,
                url="/sell/earnings/",
            )
            return payout, True
    return payout, False


def payouts_transfer_drain(*, now: datetime | None = None, batch: int | None = None) -> int:
    """Transfer every payout that is available, due for a retry, or stuck mid-transfer. Returns
    how many were transferred."""
    now = now or timezone.now()
    batch = batch or _rules()["SWEEP_BATCH"]
    ids = list(
        Payout.objects.filter(
            Q(status=Payout.Status.AVAILABLE)
            | Q(status__in=[Payout.Status.FAILED, Payout.Status.TRANSFERRING], next_attempt_at__lte=now),
            frozen=False,
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:batch]
    )
    return sum(_payout_transfer(payout_id=pk)[1] for pk in ids)  # only the ones this call sent


# --- cancellation and refunds -------------------------------------------------------------------


def _cancel_and_refund(
    order: Order, milestones: list[OrderMilestone], *, actor: User | None, reason: str
) -> Refund | None:
    """On locked rows: cancel the milestones and owe their price back to the buyer (escrow ->
    refunds payable), then send one refund after commit. None when nothing was cancelled."""
    cancelled = states.cancel_locked(order, milestones, now=timezone.now(), actor=actor, reason=reason)
    if not cancelled:
        return None
    states.withdraw_open_requests_locked([m.pk for m in cancelled], now=timezone.now())
    return _refund_owed(order, sum(m.price_minor for m in cancelled), [m.pk for m in cancelled], reason=reason)


def _refund_owed(order: Order, amount: int, milestone_ids: list[int], *, reason: str) -> Refund:
    """On the locked order: owe `amount` of these milestones back to the buyer (escrow -> refunds
    payable) and send one refund after commit, keyed by the milestones (each is refunded once)."""
    ids = sorted(milestone_ids)
    key = idempotency_key("order", order.pk, "refund", *ids)  # also the base of its ledger references
    ledger.post(
        kind=K.MILESTONES_REFUNDED,
        reference=f"{key}-owed",
        currency=order.currency,
        order=order,
        legs=[(ledger.escrow(order.pk), amount), (ledger.refunds_payable(order.pk), -amount)],
        memo=reason[:200],
    )
    refund = Refund.objects.create(
        order=order,
        amount_minor=amount,
        currency=order.currency,
        milestone_ids=ids,
        reason=reason[:200],
        idempotency_key=key,
    )
    from .tasks import refund_send_task

    refund_send_task.delay_on_commit(refund.pk)
    return refund


# --- disputes --------------------------------------------------------------------------------


def dispute_settle_locked(
    order: Order, milestone: OrderMilestone, *, seller_amount_minor: int, now: datetime, actor: User | None, reason: str
) -> tuple[Payout | None, Refund | None]:
    """On rows the caller locked (order, then milestone) in its transaction: end a disputed
    milestone whose money escrow still holds. `seller_amount_minor` is released to the seller
    (escrow -> seller pending less the commission on that amount, commission -> revenue; a
    payout clearing after CLEARANCE_DAYS), the rest of the price is refunded to the buyer
    (escrow -> refunds payable; a Refund sent after commit with its deterministic key). The
    milestone ends accepted (all to the seller), cancelled (all refunded) or split, and the order
    goes on with its next milestone or completes. An accepted milestone (its money released, the
    payout frozen by the dispute) is settled from its payout instead: see
    `_dispute_settle_released_locked`. Raises ValidationFailed for an amount outside
    0..price, InvalidTransition when the milestone is not disputed. Returns (payout, refund)."""
    price = milestone.price_minor
    if isinstance(seller_amount_minor, bool) or not isinstance(seller_amount_minor, int):
        raise ValidationFailed({"seller_amount_minor": ["An amount in minor units."]})
    if not 0 <= seller_amount_minor <= price:
        raise ValidationFailed(
            {"seller_amount_minor": [f"Between 0 and {format_money(price, order.currency)} (the milestone's price)."]}
        )
    if milestone.status == S.ACCEPTED:
        return _dispute_settle_released_locked(
            order, milestone, seller_amount_minor=seller_amount_minor, now=now, reason=reason
        )
    if milestone.status != S.DISPUTED:
        raise InvalidTransition(f"Milestone {milestone.position + 1} is not under dispute.")
    refund_amount = price - seller_amount_minor
    to = S.ACCEPTED if refund_amount == 0 else S.CANCELLED if seller_amount_minor == 0 else S.SPLIT
    states.milestone_settle_locked(order, milestone, to=to, now=now, actor=actor, reason=reason)
    states.withdraw_open_requests_locked([milestone.pk], now=now)
    payout = refund = None
    if seller_amount_minor:
        commission = seller_commission(seller_amount_minor, order.commission_bps)
        ledger.post(
            kind=K.MILESTONE_RELEASED,
            reference=f"milestone-{milestone.pk}-released",
            currency=order.currency,
            order=order,
            legs=[
                (ledger.escrow(order.pk), seller_amount_minor),
                (ledger.seller_pending(order.seller_id), -(seller_amount_minor - commission)),
                (ledger.PLATFORM_REVENUE, -commission),
            ],
            memo=reason[:200],
        )
        payout = Payout.objects.create(
            milestone=milestone,
            order=order,
            seller_id=order.seller_id,
            gross_minor=seller_amount_minor,
            commission_minor=commission,
            amount_minor=seller_amount_minor - commission,
            currency=order.currency,
            clears_at=now + timedelta(days=_rules()["CLEARANCE_DAYS"]),
        )
        if _rules()["CLEARANCE_DAYS"] == 0:
            from .tasks import payouts_clear_sweep_task

            payouts_clear_sweep_task.delay_on_commit()
    if refund_amount:
        refund = _refund_owed(order, refund_amount, [milestone.pk], reason=reason)
    return payout, refund


def _lock_payout(milestone: OrderMilestone) -> Payout | None:
    return Payout.objects.select_for_update().filter(milestone=milestone).first()


def payout_freeze_locked(milestone: OrderMilestone) -> Payout:
    """On rows the caller locked (order, then milestone): lock the accepted milestone's payout
    and freeze it while it is still pending clearance (no clearance, no transfer until a
    decision). Raises InvalidTransition, with the reason, once it cleared or was sent."""
    payout = _lock_payout(milestone)
    n = milestone.position + 1
    if payout is None:
        raise InvalidTransition(f"Milestone {n} has no payout to hold back.")
    if payout.frozen:
        raise InvalidTransition(f"The payout of milestone {n} is already held by a dispute.")
    if payout.status != Payout.Status.PENDING_CLEARANCE:
        raise InvalidTransition(
            f"The money of milestone {n} has cleared ({payout.get_status_display().lower()}): "
            "it can no longer be disputed."
        )
    payout.frozen = True
    payout.save(update_fields=["frozen"])
    return payout


def payout_unfreeze_locked(milestone: OrderMilestone, *, now: datetime) -> Payout | None:
    """On locked rows (order, milestone): a dispute on an accepted milestone ended with the money
    to the seller (released, withdrawn, closed). The payout goes on: it clears at its clears_at,
    at once (and is queued for transfer) when that has passed."""
    payout = _lock_payout(milestone)
    if payout is None or not payout.frozen:
        return payout
    payout.frozen = False
    payout.save(update_fields=["frozen"])
    if payout.status == Payout.Status.PENDING_CLEARANCE and payout.clears_at <= now:
        _clear_locked([payout])
        from .tasks import payouts_transfer_drain_task

        transaction.on_commit(payouts_transfer_drain_task.delay)
    return payout


def _dispute_settle_released_locked(
    order: Order, milestone: OrderMilestone, *, seller_amount_minor: int, now: datetime, reason: str
) -> tuple[Payout | None, Refund | None]:
    """A dispute on an accepted milestone decides: `seller_amount_minor` stays with the seller,
    X = price - that is refunded. The release already moved escrow -> seller pending (net) +
    revenue (commission), so X is taken back pro rata: the seller's share is floor(net * X /
    gross) and the commission gives back the rest (the rounding remainder is the platform's:
    the seller never gives back more than their share), seller pending + revenue -> refunds
    payable, then one Refund sent after commit (deterministic key). The payout shrinks by the
    same amounts (cancelled when all is refunded) and is unfrozen; the milestone stays accepted.
    The payout must still be frozen and pending clearance (InvalidTransition otherwise)."""
    payout = _lock_payout(milestone)
    if payout is None or not payout.frozen or payout.status != Payout.Status.PENDING_CLEARANCE:
        raise InvalidTransition(f"The payout of milestone {milestone.position + 1} is not held by a dispute.")
    refund_amount = milestone.price_minor - seller_amount_minor
    if refund_amount > payout.gross_minor:
        raise ValidationFailed(
            {"seller_amount_minor": [f"At most {format_money(payout.gross_minor, order.currency)} can be refunded."]}
        )
    if refund_amount == 0:
        return payout_unfreeze_locked(milestone, now=now), None
    seller_back = payout.amount_minor * refund_amount // payout.gross_minor
    commission_back = refund_amount - seller_back
    key = idempotency_key("order", order.pk, "refund", milestone.pk, "disputed")
    legs = [
        (ledger.seller_pending(payout.seller_id), seller_back),
        (ledger.PLATFORM_REVENUE, commission_back),
        (ledger.refunds_payable(order.pk), -refund_amount),
    ]
    ledger.post(
        kind=K.MILESTONES_REFUNDED,
        reference=f"{key}-owed",
        currency=order.currency,
        order=order,
        legs=[(account, amount) for account, amount in legs if amount],
        memo=reason[:200],
    )
    payout.gross_minor -= refund_amount
    payout.commission_minor -= commission_back
    payout.amount_minor -= seller_back
    fields = ["gross_minor", "commission_minor", "amount_minor"]
    if payout.gross_minor == 0:
        payout.status = Payout.Status.CANCELLED
        fields.append("status")
    payout.save(update_fields=fields)
    refund = Refund.objects.create(
        order=order,
        amount_minor=refund_amount,
        currency=order.currency,
        milestone_ids=[milestone.pk],
        reason=reason[:200],
        idempotency_key=key,
    )
    from .tasks import refund_send_task

    refund_send_task.delay_on_commit(refund.pk)
    if payout.status == Payout.Status.CANCELLED:
        payout.frozen = False
        payout.save(update_fields=["frozen"])
    else:
        payout = payout_unfreeze_locked(milestone, now=now)
    return payout, refund


def refund_send(*, refund_id: int) -> Refund:
    """Send a refund to the provider (the same key on every retry) and record it. Safe to call
    again. Each attempt is counted and stamped before the call (next_attempt_at = 10 minutes on,
    when the retry sweep tries again should this one never come back); a failure records its
    error and the next attempt after a backoff (1 minute, doubling, at most 6 hours) and
    re-raises; trying for more than PAYOUT_RECONCILE_HOURS flags the refund for reconciliation."""
    refund = Refund.objects.select_related("order").get(pk=refund_id)
    if refund.status == Refund.Status.SUCCEEDED:
        return refund
    payment = Payment.objects.get(order_id=refund.order_id)
    # 1. Count the attempt before the call, so that a crash after it leaves a trace: any later
    # send is then a retry, which looks the refund up first (Stripe forgets keys after 24 h).
    now = timezone.now()
    with transaction.atomic():  # locks in the fixed order (order, then refund), as in step 3
        Order.objects.select_for_update().get(pk=refund.order_id)
        refund = Refund.objects.select_for_update().select_related("order").get(pk=refund_id)
        if refund.status == Refund.Status.SUCCEEDED:
            return refund
        is_retry = refund.attempts > 0
        refund.attempts += 1
        refund.first_attempt_at = refund.first_attempt_at or now
        refund.next_attempt_at = now + STUCK_AFTER
        if is_retry and _overdue_for_reconciliation(refund.first_attempt_at, now):
            refund.needs_reconciliation = True  # also when every attempt crashed before recording
        refund.save(update_fields=["attempts", "first_attempt_at", "next_attempt_at", "needs_reconciliation"])
    try:  # 2. outside any transaction or lock
        provider_id = gateway().create_refund(
            payment_id=payment.provider_payment_id,
            amount_minor=refund.amount_minor,
            idempotency_key=refund.idempotency_key,
            look_up_first=is_retry,
        )
    except Exception as exc:
        failed_at = timezone.now()
        Refund.objects.filter(pk=refund.pk, status=Refund.Status.PENDING).update(
            last_error=str(getattr(exc, "message", exc))[:500],
            next_attempt_at=failed_at + _backoff(refund.attempts),
            needs_reconciliation=_overdue_for_reconciliation(refund.first_attempt_at, failed_at),
        )
        log.warning("Refund %s failed: %s", refund_id, exc)
        raise
    with transaction.atomic():
        Order.objects.select_for_update().get(pk=refund.order_id)
        payment = Payment.objects.select_for_update().get(pk=payment.pk)
        refund = Refund.objects.select_for_update().get(pk=refund_id)
        if refund.status != Refund.Status.SUCCEEDED:
            ledger.post(
                kind=K.MILESTONES_REFUNDED,
                reference=f"{refund.idempotency_key}-paid",
                currency=refund.currency,
                order=refund.order,
                legs=[
                    (ledger.refunds_payable(refund.order_id), refund.amount_minor),
                    (ledger.PLATFORM_CASH, -refund.amount_minor),
                ],
                memo=provider_id,
            )
            refund.status = Refund.Status.SUCCEEDED
            refund.provider_refund_id = provider_id
            refund.next_attempt_at = None
            refund.needs_reconciliation = False
            refund.save(update_fields=["status", "provider_refund_id", "next_attempt_at", "needs_reconciliation"])
            payment.refunded_minor += refund.amount_minor
            payment.save(update_fields=["refunded_minor", "updated_at"])
    return refund


REFUND_FIRST_RETRY_AFTER = timedelta(minutes=1)


def refunds_retry_sweep(*, now: datetime | None = None, batch: int | None = None) -> list[int]:
    """The pending refunds due for another send: never claimed a minute after they were made
    (the queued task was lost), or past their next_attempt_at (a backoff after a failure, or a
    claim that never came back). Returns their ids, oldest first, for the caller to queue; a
    refund failing for good is retried ever more slowly, never every minute."""
    now = now or timezone.now()
    batch = batch or _rules()["SWEEP_BATCH"]
    due = Refund.objects.filter(status=Refund.Status.PENDING).filter(
        Q(next_attempt_at__isnull=True, created_at__lte=now - REFUND_FIRST_RETRY_AFTER) | Q(next_attempt_at__lte=now)
    )
    return list(due.order_by("created_at", "pk").values_list("pk", flat=True)[:batch])


def pending_own_refunds(order_id: int) -> int:
    """Refunds we asked the provider for but have not recorded: a charge.refunded event that
    arrives first must not count them as refunds made elsewhere."""
    total = Refund.objects.filter(order_id=order_id, status=Refund.Status.PENDING).aggregate(s=Sum("amount_minor"))
    return total["s"] or 0


def order_stop(*, order_id: int, buyer: User) -> Refund:
    """The buyer stops the order after any accepted milestone: the milestones not started yet are
    cancelled and refunded in one refund. No cancellation fee. Milestones a hold over the whole
    order froze (an order dispute, a chargeback: `disputed`, even not started) are not taken: the
    dispute decides their money (a refund of a charge under chargeback would be refused anyway)."""
    with transaction.atomic():
        order = Order.objects.select_for_update().filter(pk=order_id, buyer=buyer).first()
        if order is None:
            raise NotFound("No such order.")
        milestones = list(OrderMilestone.objects.select_for_update().filter(order=order).order_by("position"))
        if not any(m.status == S.ACCEPTED for m in milestones):
            raise InvalidTransition("You can stop the order once a milestone has been accepted.")
        not_started = [m for m in milestones if m.status == S.LOCKED]
        if not not_started:
            if any(m.status == S.DISPUTED for m in milestones):
                raise InvalidTransition(
                    "The milestones left are on hold by a dispute: nothing can be stopped until it is decided."
                )
            raise InvalidTransition("Every milestone has started: nothing is left to stop.")
        return _cancel_and_refund(order, not_started, actor=buyer, reason="the buyer stopped the order")


def cancellable_by_agreement(m: OrderMilestone) -> bool:
    """In progress, or delivered with no revisions left (the buyer's way out besides accepting
    and disputing)."""
    return m.status in OrderMilestone.WORKING or (m.status == S.DELIVERED and m.revisions_left == 0)


def cancellation_auto_accepts(m: OrderMilestone) -> bool:
    """Whether an unanswered request to cancel the milestone is accepted when it expires: only
    while the work is going on. Delivered work is never refunded by silence: a request about a
    delivery expires at its review deadline unanswered, and the milestone is accepted then."""
    return m.status in OrderMilestone.WORKING


def cancellation_answerable_until(m: OrderMilestone, now: datetime) -> datetime:
    """When a request to cancel the milestone made now must be answered: CANCELLATION_ANSWER_HOURS
    for work going on, the review deadline for a delivery (the seller's money is released then;
    the request does not hold it back)."""
    if m.status == S.DELIVERED and m.review_deadline is not None:
        return m.review_deadline
    return now + timedelta(hours=_rules()["CANCELLATION_ANSWER_HOURS"])


def asked_about_delivery(m: OrderMilestone, user_id: int, requests) -> bool:
    """Whether `user_id` already asked to cancel this delivery of the milestone (one request per
    party and delivery, so that asking again and again cannot wear the other party down).
    `requests` are the milestone's cancellation requests (prefetched by the order page)."""
    if m.status != S.DELIVERED or m.delivered_at is None:
        return False
    # delivered_at is set before any request about that delivery; requests made before it were
    # closed by the delivery and do not count.
    return any(r.requested_by_id == user_id and r.created_at > m.delivered_at for r in requests)


def milestone_cancel_late(*, milestone_id: int, buyer: User) -> Refund:
    """The seller is LATE_CANCEL_HOURS past the due date: the buyer may cancel the milestone in
    progress alone; it and the milestones after it are cancelled and refunded."""
    with transaction.atomic():
        order, m = states.lock_order_and_milestone(milestone_id=milestone_id)
        if order.buyer_id != buyer.pk:
            raise NotFound("No such milestone.")
        late_after = (m.due_at or timezone.now()) + timedelta(hours=_rules()["LATE_CANCEL_HOURS"])
        if m.status not in OrderMilestone.WORKING or timezone.now() < late_after:
            raise InvalidTransition("You can cancel alone only when the seller is a day past the due date.")
        rest = list(OrderMilestone.objects.select_for_update().filter(order=order, status=S.LOCKED))
        return _cancel_and_refund(order, [m, *rest], actor=buyer, reason="seller late: cancelled by the buyer")


def cancellation_request(*, milestone_id: int, user: User, reason: str) -> CancellationRequest:
    """Either party asks to cancel the milestone in progress, or delivered with no revisions left.
    The other party accepts (the milestone and those after it are refunded) or declines. Work
    going on: no answer in CANCELLATION_ANSWER_HOURS and the request is accepted automatically.
    A delivery: the answer is due by the review deadline; without one the request lapses and
    the milestone is accepted automatically; one request per party and delivery. Raises
    NotFound (not a party, order not active), InvalidTransition, ValidationFailed (no reason)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed({"reason": ["Say why."]})
    with transaction.atomic():
        order, m = states.lock_order_and_milestone(milestone_id=milestone_id)
        if user.pk not in (order.buyer_id, order.seller_id) or order.status != Order.Status.ACTIVE:
            raise NotFound("No such milestone.")
        if not cancellable_by_agreement(m):
            raise InvalidTransition(
                "Only a milestone in progress, or delivered with no revisions left, can be cancelled by agreement."
            )
        now = timezone.now()
        if CancellationRequest.objects.filter(milestone=m, status=CancellationRequest.Status.OPEN).exists():
            raise InvalidTransition("A cancellation request for this milestone is already waiting for an answer.")
        if m.status == S.DELIVERED:
            if m.review_deadline is not None and m.review_deadline <= now:
                raise InvalidTransition("The review time of this delivery is over: it is being accepted.")
            if asked_about_delivery(m, user.pk, CancellationRequest.objects.filter(milestone=m)):
                raise InvalidTransition("You already asked to cancel this delivery.")
        req = CancellationRequest.objects.create(
            milestone=m, requested_by=user, reason=reason, expires_at=cancellation_answerable_until(m, now)
        )
        other = order.seller if user.pk == order.buyer_id else order.buyer
        answer_by = f"{timezone.localtime(req.expires_at):%b %-d, %H:%M}"
        if cancellation_auto_accepts(m):
            text = (
                f"Order #{order.pk}: cancelling milestone {m.position + 1} was requested. Answer within "
                f"{_rules()['CANCELLATION_ANSWER_HOURS']} hours, or it is accepted."
            )
        else:
            text = (
                f"Order #{order.pk}: cancelling delivered milestone {m.position + 1} (a refund to the buyer) was "
                f"requested. Answer by {answer_by}; without an answer the milestone is accepted automatically then."
            )
        notify(
            user=other,
            kind="cancellation_requested",
            text=text,
            dedupe_key=f"cancellation-{req.pk}",
            order=order,
            milestone=m,
        )
    return req


def _close_request(
    req: CancellationRequest, order: Order, m: OrderMilestone, *, accept: bool, by: User | None
) -> Refund | None:
    req.status = CancellationRequest.Status.ACCEPTED if accept else CancellationRequest.Status.DECLINED
    req.answered_at, req.answered_by, req.auto_accepted = timezone.now(), by, by is None
    req.save(update_fields=["status", "answered_at", "answered_by", "auto_accepted"])
    if not accept:
        return None
    rest = list(OrderMilestone.objects.select_for_update().filter(order=order, status=S.LOCKED))
    why = "cancelled by agreement" if by else "cancellation request not answered in time"
    return _cancel_and_refund(order, [m, *rest], actor=by, reason=why)


def cancellation_acceptable(m: OrderMilestone, now: datetime) -> bool:
    """Whether a request to cancel the milestone can be accepted now: it can be cancelled by
    agreement and, delivered, its review deadline has not passed (it is being accepted)."""
    if not cancellable_by_agreement(m):
        return False
    return m.status != S.DELIVERED or m.review_deadline is None or m.review_deadline > now


def cancellation_answer(*, request_id: int, user: User, accept: bool) -> CancellationRequest:
    """The other party accepts (the milestone and those after it are cancelled and refunded) or
    declines. Answering an answered request again is a no-op; a withdrawn one (closed without
    an answer) is refused, as is accepting once the milestone cannot be cancelled (a delivery
    past its review deadline, or with revisions left)."""
    m_id = CancellationRequest.objects.filter(pk=request_id).values_list("milestone_id", flat=True).first()
    if m_id is None:
        raise NotFound("No such request.")
    with transaction.atomic():
        order, m = states.lock_order_and_milestone(milestone_id=m_id)
        req = CancellationRequest.objects.select_for_update().get(pk=request_id)
        if user.pk not in (order.buyer_id, order.seller_id):
            raise NotFound("No such request.")
        if req.status == CancellationRequest.Status.WITHDRAWN:
            # Closed unanswered (delivered, accepted, cancelled or lapsed meanwhile): no answer
            # to repeat, and none to give now.
            raise InvalidTransition("This request was closed without an answer: the milestone moved on meanwhile.")
        if req.status != CancellationRequest.Status.OPEN:
            return req
        if req.requested_by_id == user.pk:
            raise InvalidTransition("The other party answers this request.")
        if accept and not cancellation_acceptable(m, timezone.now()):
            raise InvalidTransition("This milestone can no longer be cancelled.")
        _close_request(req, order, m, accept=accept, by=user)
    return req


def cancellation_requests_expire_sweep(*, now: datetime | None = None, batch: int | None = None) -> int:
    """Open requests past their answer time: on a milestone in progress (or revision requested)
    they are accepted automatically (cancelled and refunded); on anything else (a delivery,
    whose request expires at its review deadline, or a milestone accepted or cancelled
    meanwhile) they lapse as withdrawn, and the auto-release goes on. One batch per run; rows
    locked with `skip_locked` in the fixed order (order, milestone, request), so two sweeps share
    the work and a row someone holds is left to the next run. Returns how many were accepted."""
    now = now or timezone.now()
    batch = batch or _rules()["SWEEP_BATCH"]
    done = 0
    due = list(
        CancellationRequest.objects.filter(status=CancellationRequest.Status.OPEN, expires_at__lte=now)
        .order_by("expires_at", "pk")
        .values_list("pk", "milestone__order_id", "milestone_id")[:batch]
    )
    for req_id, order_id, m_id in due:
        with transaction.atomic():
            order = Order.objects.select_for_update(skip_locked=True).filter(pk=order_id).first()
            if order is None:
                continue
            m = OrderMilestone.objects.select_for_update(skip_locked=True).filter(pk=m_id).first()
            req = CancellationRequest.objects.select_for_update(skip_locked=True).filter(pk=req_id).first()
            if m is None or req is None or req.status != CancellationRequest.Status.OPEN:
                continue
            if order.status != Order.Status.ACTIVE or not cancellation_auto_accepts(m):
                req.status, req.answered_at = CancellationRequest.Status.WITHDRAWN, now
                req.save(update_fields=["status", "answered_at"])
                continue
            _close_request(req, order, m, accept=True, by=None)
            done += 1
    return done
