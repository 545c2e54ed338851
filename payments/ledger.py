"""The double-entry ledger: post balanced transactions, read balances. Append-only."""

from collections import defaultdict
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Sum

from marketplace.db import insert_rows, reserve_ids
from milestones.models import Order

from .models import LedgerEntry, LedgerTransaction

PLATFORM_CASH = "platform_cash"
PLATFORM_REVENUE = "platform_revenue"


def escrow(order_id: int) -> str:
    return f"escrow:{order_id}"


class Unbalanced(ValueError):
    pass


def post(
    *,
    kind: str,
    reference: str,
    legs: list[tuple[str, int]],
    currency: str,
    order: Order | None = None,
    memo: str = "",
) -> tuple[LedgerTransaction, bool]:
    """Post one transaction: `legs` are (account, amount) with debits positive and credits
    negative, summing to zero. Idempotent on `reference`: returns (transaction, created)."""
    legs = [(account, amount) for account, amount in legs if amount]
    if not legs or sum(amount for _, amount in legs) != 0:
        raise Unbalanced(f"Legs of {reference} do not balance: {legs}")
    if any(not isinstance(amount, int) or isinstance(amount, bool) for _, amount in legs):
        raise Unbalanced("Ledger amounts are integers in minor units.")
    existing = LedgerTransaction.objects.filter(reference=reference).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            txn = LedgerTransaction.objects.create(kind=kind, reference=reference, order=order, memo=memo)
            LedgerEntry.objects.bulk_create(
                LedgerEntry(transaction=txn, account=account, amount_minor=amount, currency=currency)
                for account, amount in legs
            )
    except IntegrityError:
        return LedgerTransaction.objects.get(reference=reference), False
    return txn, True


def balance(account: str, currency: str) -> int:
    """Debits minus credits of one account."""
    total = LedgerEntry.objects.filter(account=account, currency=currency).aggregate(s=Sum("amount_minor"))["s"]
    return total or 0


def escrow_balance(order: Order) -> int:
    """What escrow holds for the order (escrow is credit-normal: credits minus debits)."""
    return -balance(escrow(order.pk), order.currency)


def escrow_balances(orders: list[Order]) -> dict[int, int]:
    """Escrow held per order, in one query (for lists)."""
    names = {escrow(o.pk): o.pk for o in orders}
    rows = LedgerEntry.objects.filter(account__in=names).values("account").annotate(s=Sum("amount_minor"))
    result: dict[int, int] = defaultdict(int)
    for row in rows:
        result[names[row["account"]]] = -row["s"]
    return result


def trial_balance() -> dict[str, int]:
    """Sum of every entry per currency: always zero."""
    rows = LedgerEntry.objects.values("currency").annotate(s=Sum("amount_minor"))
    return {row["currency"]: row["s"] for row in rows}


def seller_pending(seller_id: int) -> str:
    return f"seller_pending:{seller_id}"


def seller_available(seller_id: int) -> str:
    return f"seller_available:{seller_id}"


def refunds_payable(order_id: int) -> str:
    """Money owed back to the buyer for cancelled milestones, until the provider refunds it."""
    return f"refunds_payable:{order_id}"


@dataclass(frozen=True)
class Posting:
    kind: str
    reference: str
    legs: list[tuple[str, int]]
    currency: str
    order_id: int | None = None
    memo: str = ""


def post_many(postings: list[Posting]) -> int:
    """Post many balanced transactions in two INSERTs (sweeps over thousands of rows). The caller
    holds the locks that make them new; a reference posted before raises IntegrityError, so the
    whole batch rolls back rather than post anything twice. Returns how many were posted."""
    for p in postings:
        legs = [amount for _, amount in p.legs if amount]
        if not legs or sum(legs) != 0 or any(not isinstance(a, int) or isinstance(a, bool) for a in legs):
            raise Unbalanced(f"Legs of {p.reference} do not balance: {p.legs}")
    if not postings:
        return 0
    ids = reserve_ids(LedgerTransaction, len(postings))
    if ids is not None:  # PostgreSQL: ids reserved first, so the entries can point at them
        insert_rows(
            LedgerTransaction,
            ["id", "kind", "reference", "order_id", "memo"],
            [(pk, p.kind, p.reference, p.order_id, p.memo) for pk, p in zip(ids, postings, strict=True)],
        )
    else:  # other databases return the new ids from the insert
        ids = [
            txn.pk
            for txn in LedgerTransaction.objects.bulk_create(
                LedgerTransaction(kind=p.kind, reference=p.reference, order_id=p.order_id, memo=p.memo)
                for p in postings
            )
        ]
    insert_rows(
        LedgerEntry,
        ["transaction_id", "account", "amount_minor", "currency"],
        [
            (pk, account, amount, p.currency)
            for pk, p in zip(ids, postings, strict=True)
            for account, amount in p.legs
            if amount
        ],
    )
    return len(ids)


# --- chargebacks (provider disputes) ------------------------------------------------------------
# The card network takes the disputed amount (and the provider's dispute fee) out of the platform
# balance while the dispute runs, and gives it back if the platform wins.
CHARGEBACK_FEES = "chargeback_fees"  # expense: the provider's dispute fees (net of any given back)
CHARGEBACK_LOSSES = "chargeback_losses"  # expense: what a lost chargeback took beyond the held money

# The chargeback postings' kinds (LedgerTransaction.Kind, like every other posting's).
KIND_CHARGEBACK_FUNDS = LedgerTransaction.Kind.CHARGEBACK_FUNDS
KIND_CHARGEBACK_REFUNDED = LedgerTransaction.Kind.CHARGEBACK_REFUNDED
KIND_CHARGEBACK_LOSS = LedgerTransaction.Kind.CHARGEBACK_LOSS


def chargeback(order_id: int) -> str:
    """Debit-normal: what the card network holds of the order's charge during a chargeback
    (withdrawn, not reinstated), until a lost chargeback settles it against the held money."""
    return f"chargeback:{order_id}"


def post_chargeback_funds(
    *, order: Order, dispute_ref: str, balance_txn_id: str, amount_minor: int, fee_minor: int, currency: str
) -> tuple[LedgerTransaction, bool]:
    """One provider balance transaction of a dispute: `amount_minor` signed as the provider
    reports it (negative: funds withdrawn, positive: reinstated) and its `fee_minor` (positive:
    the dispute fee charged, negative: given back). platform_cash moves by the net
    (amount - fee), chargeback:<order> by the amount, chargeback_fees by the fee. Idempotent on
    the balance transaction's id: any event listing it posts it once."""
    return post(
        kind=KIND_CHARGEBACK_FUNDS,
        reference=f"chargeback-{dispute_ref}-{balance_txn_id}",
        order=order,
        currency=currency,
        legs=[
            (PLATFORM_CASH, amount_minor - fee_minor),
            (chargeback(order.pk), -amount_minor),
            (CHARGEBACK_FEES, fee_minor),
        ],
        memo=f"Chargeback {dispute_ref}: {'reinstated' if amount_minor > 0 else 'withdrawn'} ({balance_txn_id})",
    )


def post_chargeback_refunded(
    *, order: Order, dispute_ref: str, milestone_id: int, legs_from: list[tuple[str, int]]
) -> tuple[LedgerTransaction, bool]:
    """A lost chargeback refunded a held milestone's money: `legs_from` are the accounts that held
    it (escrow:<order> for unreleased money; seller_pending and platform_revenue for a payout
    pending clearance), each debited, and chargeback:<order> is credited their sum. Once per
    dispute and milestone."""
    legs = [(account, amount) for account, amount in legs_from if amount]
    return post(
        kind=KIND_CHARGEBACK_REFUNDED,
        reference=f"chargeback-{dispute_ref}-milestone-{milestone_id}-refunded",
        order=order,
        currency=order.currency,
        legs=[*legs, (chargeback(order.pk), -sum(amount for _, amount in legs))],
        memo=f"Chargeback {dispute_ref} lost: milestone money refunded by the card network",
    )


def post_chargeback_loss(*, order: Order, dispute_ref: str, amount_minor: int) -> tuple[LedgerTransaction, bool]:
    """What a lost chargeback took that no held money covered (the buyer's fees, money already
    paid out): chargeback_losses Dr / chargeback:<order> Cr. Once per dispute; nothing for 0."""
    if amount_minor == 0:
        return None, False
    return post(
        kind=KIND_CHARGEBACK_LOSS,
        reference=f"chargeback-{dispute_ref}-loss",
        order=order,
        currency=order.currency,
        legs=[(CHARGEBACK_LOSSES, amount_minor), (chargeback(order.pk), -amount_minor)],
        memo=f"Chargeback {dispute_ref} lost: not covered by held money",
    )
