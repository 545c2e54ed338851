"""Orders and ledger benchmark: query count and median time of the order pages, the order API and
an escrow balance as one buyer's and one seller's orders grow, with ten other buyers' orders (and
ledger postings) for each of theirs.

Prints one row per (endpoint, size) and the time ratio against the first size of the same run.
Rows are written with bulk_create, not the services, but consistent with what they write: a paid
order has its three milestones (the first started), a succeeded payment and its local provider
intent, a receipt, its events, and a balanced funding transaction (platform_cash +total,
escrow:<order> -subtotal, platform_revenue -fees); one order in ten expired unpaid (payment
canceled, nothing in the ledger). Ledger rows are only inserted: on PostgreSQL a trigger refuses
unbalanced transactions and any UPDATE or DELETE of them. On PostgreSQL each growth step ends with
VACUUM and ANALYZE. Run through `scripts/bench orders`, which picks the settings and a scratch database
(the sizes count the bench buyer's orders: use a fresh database, rows already there are kept).
"""

import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth.hashers import make_password  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402

from gigs.models import Category, Gig, Package, SellerProfile, User  # noqa: E402
from milestones.models import GigMilestone, GigMilestonePackage, Order, OrderEvent, OrderMilestone  # noqa: E402
from payments import ledger  # noqa: E402
from payments.fees import order_fees  # noqa: E402
from payments.models import LedgerEntry, LedgerTransaction, LocalPaymentIntent, Payment, Receipt  # noqa: E402

SIZES = [int(s) for s in (sys.argv[1:] or ["1", "100", "1000", "5000"])]
OTHERS_PER_ORDER = 10  # other buyers' orders placed for each of the bench buyer's: the ledger grows 11x
OTHER_BUYERS = 200
OTHER_SELLERS = 20
UNPAID_EVERY = 10  # every 10th order expired unpaid
REPEAT = 15
BATCH = 2000
CURRENCY = "USD"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
TIERS = list(Package.TIER_ORDER)
# The plan of payments/tests/factories.gig_with_plan: (price, days, revisions) per tier.
PLAN = [
    ("Concepts", {"basic": (1000, 1, 1), "standard": (2000, 2, 1), "premium": (3000, 2, 2)}),
    ("Refinement", {"basic": (1500, 2, 1), "standard": (3000, 3, 2), "premium": (4500, 4, 2)}),
    ("Final files", {"basic": (1000, 1, 0), "standard": (2500, 2, 1), "premium": (4000, 3, 2)}),
]
TIMESTAMPED = (Order, OrderEvent, Payment, Receipt, LedgerTransaction, LocalPaymentIntent)


@contextmanager
def explicit_timestamps() -> Iterator[None]:
    """Let bulk_create store the given created_at/updated_at (auto_now would stamp them all `now`):
    the orders are spread over weeks, as they would be, and list pages sort on created_at."""
    fields = [f for m in TIMESTAMPED for f in m._meta.concrete_fields if hasattr(f, "auto_now_add")]
    saved = [(f, f.auto_now, f.auto_now_add) for f in fields]
    for f in fields:
        f.auto_now = f.auto_now_add = False
    try:
        yield
    finally:
        for f, auto_now, auto_now_add in saved:
            f.auto_now, f.auto_now_add = auto_now, auto_now_add


def make_users(prefix: str, count: int) -> list[User]:
    names = [f"{prefix}{i}" if count > 1 else prefix for i in range(count)]
    existing = {u.username: u for u in User.objects.filter(username__in=names)}
    password = make_password(None)
    User.objects.bulk_create(
        User(username=n, email=f"{n}@example.com", password=password) for n in names if n not in existing
    )
    users = list(User.objects.filter(username__in=names).order_by("pk"))
    SellerProfile.objects.bulk_create(
        SellerProfile(user=u, display_name=u.username.replace("-", " ").title())
        for u in users
        if u.username not in existing
    )
    return users


def make_gig(seller: User, category: Category, slug: str) -> Gig:
    """A published gig sold in three milestones, with its plan and packages (sums of the plan)."""
    gig = Gig.objects.filter(slug=slug).first()
    if gig is not None:
        return gig
    sums = {t: [sum(terms[t][k] for _, terms in PLAN) for k in range(3)] for t in TIERS}
    gig = Gig.objects.create(
        seller=seller,
        category=category,
        title=f"I will design your brand {slug}",
        slug=slug,
        description="Benchmark gig description " * 5,
        status=Gig.Status.PUBLISHED,
        published_at=T0 - timedelta(days=30),
        milestone_payments=True,
        plan_milestone_count=len(PLAN),
        currency=CURRENCY,
        price_from_minor=min(s[0] for s in sums.values()),
        fastest_delivery_days=min(s[1] for s in sums.values()),
    )
    Package.objects.bulk_create(
        Package(
            gig=gig,
            tier=t,
            name=t.title(),
            description=f"{t.title()} package",
            price_minor=sums[t][0],
            currency=CURRENCY,
            delivery_days=sums[t][1],
            revisions=sums[t][2],
        )
        for t in TIERS
    )
    plan = GigMilestone.objects.bulk_create(
        GigMilestone(gig=gig, position=i, name=name, description=f"{name} delivered.", video_call=i == 1)
        for i, (name, _) in enumerate(PLAN)
    )
    GigMilestonePackage.objects.bulk_create(
        GigMilestonePackage(milestone=m, tier=t, price_minor=p, delivery_days=d, revisions=r)
        for m, (_, terms) in zip(plan, PLAN, strict=True)
        for t, (p, d, r) in terms.items()
    )
    return gig


def new_order(buyer: User, gig: Gig, seq: int, paid: bool) -> Order:
    tier = TIERS[seq % len(TIERS)]
    subtotal = sum(terms[tier][0] for _, terms in PLAN)
    fees = order_fees(subtotal, CURRENCY)
    created = T0 + timedelta(minutes=seq)
    return Order(
        buyer=buyer,
        seller_id=gig.seller_id,
        gig=gig,
        checkout_token=uuid.uuid4(),
        status=Order.Status.ACTIVE if paid else Order.Status.EXPIRED,
        gig_title=gig.title,
        package_tier=tier,
        package_name=tier.title(),
        milestone_payments=True,
        currency=CURRENCY,
        subtotal_minor=subtotal,
        service_fee_minor=fees.service_fee_minor,
        small_order_fee_minor=fees.small_order_fee_minor,
        total_minor=subtotal + fees.service_fee_minor + fees.small_order_fee_minor,
        commission_bps=fees.commission_bps,
        requirements=[{"question": "What is your brand name?", "answer": f"Brand {seq}", "required": True}],
        created_at=created,
        expires_at=created + timedelta(minutes=settings.MARKETPLACE["CHECKOUT_EXPIRY_MINUTES"]),
        paid_at=created + timedelta(minutes=2) if paid else None,
    )


def insert_orders(orders: list[Order]) -> None:
    """Everything the services write for these orders (already built, not saved)."""
    Order.objects.bulk_create(orders, batch_size=BATCH)
    milestones = []
    for o in orders:
        for i, (name, terms) in enumerate(PLAN):
            price, days, revisions = terms[o.package_tier]
            started = o.paid_at is not None and i == 0
            milestones.append(
                OrderMilestone(
                    order=o,
                    position=i,
                    name=name,
                    description=f"{name} delivered.",
                    price_minor=price,
                    delivery_days=days,
                    revisions=revisions,
                    video_call=i == 1,
                    status=OrderMilestone.Status.IN_PROGRESS if started else OrderMilestone.Status.LOCKED,
                    started_at=o.paid_at if started else None,
                    due_at=o.paid_at + timedelta(days=days) if started else None,
                )
            )
    OrderMilestone.objects.bulk_create(milestones, batch_size=BATCH)
    first = {m.order_id: m for m in milestones if m.position == 0}

    intents, payments = [], []
    for o in orders:
        paid = o.paid_at is not None
        intent_id = f"pi_local_{uuid.uuid4().hex[:24]}"
        charge_id = f"ch_local_{uuid.uuid4().hex[:24]}" if paid else ""
        status = LocalPaymentIntent.Status.SUCCEEDED if paid else LocalPaymentIntent.Status.CANCELED
        intents.append(
            LocalPaymentIntent(
                id=intent_id,
                amount=o.total_minor,
                currency=CURRENCY,
                status=status,
                metadata={"order_id": str(o.pk)},
                transfer_group=f"order-{o.pk}",
                idempotency_key=f"order-{o.pk}-payment",
                charge_id=charge_id,
                created_at=o.created_at + timedelta(minutes=1),
            )
        )
        payments.append(
            Payment(
                order=o,
                provider="local",
                provider_payment_id=intent_id,
                client_secret=f"{intent_id}_secret",
                status=Payment.Status.SUCCEEDED if paid else Payment.Status.CANCELED,
                amount_minor=o.total_minor,
                currency=CURRENCY,
                charge_id=charge_id,
                created_at=o.created_at + timedelta(minutes=1),
                updated_at=o.paid_at or o.expires_at,
            )
        )
    LocalPaymentIntent.objects.bulk_create(intents, batch_size=BATCH)
    Payment.objects.bulk_create(payments, batch_size=BATCH)

    paid = [(o, p) for o, p in zip(orders, payments, strict=True) if o.paid_at is not None]
    Receipt.objects.bulk_create((Receipt(order=o, issued_at=o.paid_at) for o, _ in paid), batch_size=BATCH)
    txns = LedgerTransaction.objects.bulk_create(
        (
            LedgerTransaction(
                kind=LedgerTransaction.Kind.ORDER_FUNDED,
                reference=f"payment-{p.pk}-funded",
                order=o,
                memo=f"Order #{o.pk} paid",
                created_at=o.paid_at,
            )
            for o, p in paid
        ),
        batch_size=BATCH,
    )
    LedgerEntry.objects.bulk_create(
        (
            LedgerEntry(transaction=t, account=account, amount_minor=amount, currency=CURRENCY)
            for t, (o, _) in zip(txns, paid, strict=True)
            for account, amount in [
                (ledger.PLATFORM_CASH, o.total_minor),
                (ledger.escrow(o.pk), -o.subtotal_minor),
                (ledger.PLATFORM_REVENUE, -o.buyer_fees_minor),
            ]
            if amount
        ),
        batch_size=BATCH,
    )

    events = []
    for o, p in zip(orders, payments, strict=True):
        pending = Order.Status.PENDING_PAYMENT
        events.append(
            OrderEvent(order=o, actor_id=o.buyer_id, to_status=pending, reason="placed", created_at=o.created_at)
        )
        if o.paid_at is None:
            events.append(
                OrderEvent(
                    order=o, from_status=pending, to_status=o.status, reason="not paid in time", created_at=o.expires_at
                )
            )
            continue
        events.append(
            OrderEvent(
                order=o,
                from_status=pending,
                to_status=o.status,
                reason=f"paid: {p.provider_payment_id}",
                created_at=o.paid_at,
            )
        )
        events.append(
            OrderEvent(
                order=o,
                milestone=first[o.pk],
                from_status=OrderMilestone.Status.LOCKED,
                to_status=OrderMilestone.Status.IN_PROGRESS,
                reason="order paid",
                created_at=o.paid_at,
            )
        )
    OrderEvent.objects.bulk_create(events, batch_size=BATCH)


def grow_to(n: int, buyer: User, seller_gig: Gig, others: list[User], other_gigs: list[Gig]) -> None:
    """The bench buyer gets n orders of the bench seller's gig; for each new one, OTHERS_PER_ORDER
    orders of other buyers from other sellers are placed around it (same weeks, same ledger)."""
    have = Order.objects.filter(buyer=buyer).count()
    seq = Order.objects.count()
    orders = []
    for i in range(have, n):
        for _ in range(OTHERS_PER_ORDER):
            gig = other_gigs[seq % len(other_gigs)]
            orders.append(new_order(others[seq % len(others)], gig, seq, paid=seq % UNPAID_EVERY != UNPAID_EVERY - 1))
            seq += 1
        orders.append(new_order(buyer, seller_gig, seq, paid=i % UNPAID_EVERY != UNPAID_EVERY - 1))
        seq += 1
    postgresql = connection.vendor == "postgresql"
    with transaction.atomic(), explicit_timestamps():
        if postgresql:
            # Asynchronously committed rows cannot be marked all-visible until the WAL is flushed
            # (scripts/test's throwaway server runs with synchronous_commit=off): VACUUM below would
            # leave this step's pages out of the visibility map, and counts would read the heap.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit = on")
        insert_orders(orders)
    if postgresql:
        # The steady state autovacuum keeps (planner statistics, visibility map for index-only
        # counts), reached now rather than by a background run in the middle of the timings. Twice:
        # on PostgreSQL 15 the first pass leaves the new orders' pages out of the visibility map
        # (their rows carry the key-share locks of the deferred foreign-key checks); the second
        # one marks them.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM")
            cursor.execute("VACUUM ANALYZE")


def timed(call: Callable[[], object]) -> tuple[int, float]:
    call()  # warm caches and connections
    times = []
    for _ in range(REPEAT):
        with CaptureQueriesContext(connection) as queries:
            start = time.perf_counter()
            call()
            times.append((time.perf_counter() - start) * 1000)
    return len(queries), statistics.median(times)


def get(client: Client, url: str) -> Callable[[], object]:
    def call() -> object:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        return response

    return call


def main() -> None:
    setup_test_environment()
    call_command("migrate", verbosity=0)
    category, _ = Category.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    (buyer,) = make_users("bench-buyer", 1)
    (seller,) = make_users("bench-seller", 1)
    others = make_users("bench-other-buyer-", OTHER_BUYERS)
    other_sellers = make_users("bench-other-seller-", OTHER_SELLERS)
    seller_gig = make_gig(seller, category, "bench-orders")
    other_gigs = [make_gig(s, category, f"bench-orders-{i}") for i, s in enumerate(other_sellers)]
    as_buyer, as_seller = Client(), Client()
    as_buyer.force_login(buyer)
    as_seller.force_login(seller)

    print(
        f"database: {connection.vendor}; median of {REPEAT} runs each; "
        f"{OTHERS_PER_ORDER} other buyers' orders per bench order; 1 order in {UNPAID_EVERY} expired unpaid"
    )
    print(f"{'endpoint':26} {'orders':>6} {'ledger':>7} {'queries':>8} {'ms':>8} {'x vs first':>11}")
    baseline: dict[str, float] = {}
    for n in SIZES:
        grow_to(n, buyer, seller_gig, others, other_gigs)
        order = Order.objects.filter(buyer=buyer, paid_at__isnull=False).order_by("pk").first()
        entries = LedgerEntry.objects.count()
        measured = {
            "page /orders/ (buyer)": get(as_buyer, "/orders/"),
            "page /sell/orders/": get(as_seller, "/sell/orders/"),
            "api /api/orders/?role=buyer": get(as_buyer, "/api/orders/?role=buyer"),
            "page /orders/<pk>/": get(as_buyer, f"/orders/{order.pk}/"),
            "page /orders/<pk>/receipt/": get(as_buyer, f"/orders/{order.pk}/receipt/"),
            "ledger.escrow_balance()": lambda order=order: ledger.escrow_balance(order),
        }
        assert ledger.escrow_balance(order) == order.subtotal_minor
        for name, call in measured.items():
            count, ms = timed(call)
            baseline.setdefault(name, ms)
            print(f"{name:26} {n:>6} {entries:>7} {count:>8} {ms:>8.2f} {ms / baseline[name]:>11.2f}", flush=True)
    assert sum(ledger.trial_balance().values()) == 0


if __name__ == "__main__":
    main()
