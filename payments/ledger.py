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
