"""Auto-release benchmark: how long `payments.lifecycle.auto_release_sweep()` takes, and how much
memory it needs, to release 100,000 delivered milestones whose review deadline has passed (a
backlog: beat was down for a while, or a large marketplace's day). Target on a 2-core machine:
under 60 s and under 300 MB. See docs/performance.md for the method and the figures.

    scripts/bench release                      # 100,000 milestones, throwaway PostgreSQL and Redis
    scripts/bench release --milestones 20000   # another size
    scripts/bench release --profile            # also: where the time goes (cProfile + a breakdown)
    DATABASE_URL=postgres://... REDIS_URL=redis://... scripts/bench release   # servers of your own

Without DATABASE_URL (and REDIS_URL) it starts a throwaway PostgreSQL (and Redis) the way
scripts/test does (scripts/lib.sh: start_postgres, start_redis) and removes them afterwards.
A DATABASE_URL given must be PostgreSQL (the sweep relies on row locks and SKIP LOCKED, the
ledger on its triggers) and should be an empty scratch database: the benchmark migrates it and
inserts ~1.3 million rows. The tasks the sweep queues on commit (notification emails) go to a
queue of their own on the Redis, deleted at the end, so no worker of yours sends them.

Three steps, each in its own process so that the sweep's peak memory is its own:
1. load: N paid orders of three milestones (Standard tier of payments.tests.factories.gig_with_plan:
   20.00 + 30.00 + 25.00), inserted with bulk_create but shaped as the services write them. In
   order i, milestone i % 3 is delivered, its review deadline passed (spread over the last day);
   the ones before it are accepted (released: a balanced release posting and a payout each), the
   ones after it not started. Every order has a succeeded payment and its balanced funding
   posting. Ledger rows are only inserted: the database triggers refuse unbalanced transactions
   and any UPDATE. Ends with VACUUM ANALYZE.
2. sweep: auto_release_sweep() to completion; prints the wall time, the peak RSS of the process
   (ru_maxrss) and its growth during the sweep, the SQL statements it ran and the tasks it queued.
3. check: trial balance zero; no delivered milestone past its deadline left; each swept milestone
   released exactly once (one posting, one payout); every order's escrow = subtotal - released;
   one order in three completed.
"""

import argparse
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_SECONDS = 60
TARGET_MB = 300
CHUNK = 5_000  # orders per load transaction
BUYERS, SELLERS = 1_000, 100
CURRENCY = "USD"
PLAN = [("Concepts", 2000, 2, 1), ("Refinement", 3000, 3, 2), ("Final files", 2500, 2, 1)]  # price, days, revisions


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/bench release", description=__doc__.split("\n\n")[0])
    parser.add_argument("--milestones", type=int, default=100_000, help="delivered milestones to release")
    parser.add_argument("--batch", type=int, default=None, help="SWEEP_BATCH (default: the setting, 500)")
    parser.add_argument("--profile", action="store_true", help="profile the sweep (slower): cProfile and a breakdown")
    parser.add_argument(
        "--what-if",
        choices=["no-notifications", "no-publish"],
        help="measure the sweep without a part of its work, patched in the benchmark's process only: "
        "no-notifications skips the per-milestone notifications (rows and email tasks), no-publish keeps "
        "the rows but publishes no email task",
    )
    parser.add_argument(
        "--shards",
        type=int,
        default=None,
        help="sweeps side by side, one process each on its share of the orders, as SWEEP_SHARDS workers "
        "run them (default: the setting, 2); --shards 1 measures one sweep alone",
    )
    parser.add_argument("--step", choices=["load", "sweep"], help=argparse.SUPPRESS)  # internal: one step
    return parser.parse_args(argv)


def say(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


# --- throwaway servers (scripts/lib.sh) --------------------------------------------------------


def _lib(function: str, *args: str) -> bool:
    command = ["bash", "-c", f'source scripts/lib.sh && {function} "$@"', "bench", *args]
    result = subprocess.run(command, cwd=ROOT, check=False)  # noqa: S603 - our scripts/lib.sh, fixed args
    return result.returncode == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(function: str, scratch: str) -> int:
    for _ in range(3):  # a free port can be taken before the server binds it
        port = _free_port()
        if _lib(function, scratch, str(port)):
            return port
    sys.exit(f"bench: {function} failed 3 times")


@contextmanager
def servers():
    """PostgreSQL and Redis for the run: the ones in DATABASE_URL / REDIS_URL, or throwaway ones."""
    url = os.environ.get("DATABASE_URL", "")
    if url and not url.startswith(("postgres://", "postgresql://")):
        sys.exit(
            f"bench release needs PostgreSQL (row locks, SKIP LOCKED, the ledger triggers), not {url.split(':')[0]}.\n"
            "Unset DATABASE_URL to use a throwaway server, or point it at an empty PostgreSQL database."
        )
    scratch = tempfile.mkdtemp(prefix="marketplace-bench.", dir="/tmp")
    started = []
    try:
        if not url:
            port = _start("start_postgres", scratch)
            started.append("stop_postgres")
            os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:{port}/marketplace"
        if not os.environ.get("REDIS_URL"):
            port = _start("start_redis", scratch)
            started.append("stop_redis")
            os.environ["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        yield
    finally:
        for function in reversed(started):
            _lib(function, scratch)
        shutil.rmtree(scratch, ignore_errors=True)


def run_steps(args: argparse.Namespace) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings.test")
    os.environ["BENCH_QUEUE"] = f"bench-release-{uuid.uuid4().hex[:8]}"
    with servers():
        common = [f"--milestones={args.milestones}"] + ([f"--batch={args.batch}"] if args.batch else [])
        for step in ("load", "sweep"):
            extra = []
            if step == "sweep":
                extra += ["--profile"] if args.profile else []
                extra += [f"--what-if={args.what_if}"] if args.what_if else []
                extra += [f"--shards={args.shards}"] if args.shards else []
            command = [sys.executable, __file__, f"--step={step}", *common, *extra]
            rc = subprocess.run(command, check=False).returncode  # noqa: S603 - this script, fixed args
            if rc:
                return rc
    return 0


# --- step 1: load ------------------------------------------------------------------------------


def load(n: int) -> None:
    from django.contrib.auth.hashers import make_password
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    from gigs.models import Category, Gig, User
    from milestones.models import Order

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    if Order.objects.exists():
        sys.exit("bench release: the database already has orders; use an empty scratch database.")
    now = timezone.now()
    password = make_password(None)
    User.objects.bulk_create(
        User(username=f"bench-{role}-{i}", email=f"bench-{role}-{i}@example.com", password=password)
        for role, count in (("buyer", BUYERS), ("seller", SELLERS))
        for i in range(count)
    )
    buyers = list(User.objects.filter(username__startswith="bench-buyer-").order_by("pk").values_list("pk", flat=True))
    sellers = list(User.objects.filter(username__startswith="bench-seller-").order_by("pk"))
    category = Category.objects.create(name="Bench", slug="bench")
    gigs = Gig.objects.bulk_create(
        Gig(
            seller=s,
            category=category,
            title=f"I will design your brand {i}",
            slug=f"bench-release-{i}",
            description="Benchmark gig. " * 10,
            status=Gig.Status.PUBLISHED,
            published_at=now - timedelta(days=60),
            milestone_payments=True,
            plan_milestone_count=len(PLAN),
            currency=CURRENCY,
            price_from_minor=sum(p for _, p, _, _ in PLAN),
            fastest_delivery_days=sum(d for _, _, d, _ in PLAN),
        )
        for i, s in enumerate(sellers)
    )
    for first in range(0, n, CHUNK):
        with transaction.atomic():
            _load_chunk(range(first, min(first + CHUNK, n)), n, buyers, gigs, now)
        say(f"loaded {min(first + CHUNK, n):,} orders")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    print(f"load: {n:,} orders, {n:,} milestones due, in {time.perf_counter() - started:.0f} s", flush=True)


def _load_chunk(indexes: range, n: int, buyers: list[int], gigs: list, now) -> None:
    from milestones.models import Order, OrderMilestone
    from payments import ledger
    from payments.fees import order_fees, seller_commission
    from payments.models import LedgerEntry, LedgerTransaction, Payment, Payout

    subtotal = sum(p for _, p, _, _ in PLAN)
    fees = order_fees(subtotal, CURRENCY)
    S = OrderMilestone.Status
    orders = []
    for i in indexes:
        gig = gigs[i % len(gigs)]
        paid = now - timedelta(days=30) + timedelta(seconds=i)
        orders.append(
            Order(
                buyer_id=buyers[i % len(buyers)],
                seller_id=gig.seller_id,
                gig=gig,
                checkout_token=uuid.uuid4(),
                status=Order.Status.ACTIVE,
                gig_title=gig.title,
                package_tier="standard",
                package_name="Standard",
                milestone_payments=True,
                currency=CURRENCY,
                subtotal_minor=subtotal,
                service_fee_minor=fees.service_fee_minor,
                small_order_fee_minor=fees.small_order_fee_minor,
                total_minor=subtotal + fees.service_fee_minor + fees.small_order_fee_minor,
                commission_bps=fees.commission_bps,
                expires_at=paid,
                paid_at=paid,
            )
        )
    Order.objects.bulk_create(orders)
    milestones = []
    for i, o in zip(indexes, orders, strict=True):
        delivered = i % 3
        # The deadlines passed over the last day, oldest first (the order the sweep takes them).
        deadline = now - timedelta(days=1) + timedelta(microseconds=i * (86_000_000_000 // n))
        for position, (name, price, days, revisions) in enumerate(PLAN):
            m = OrderMilestone(
                order=o,
                position=position,
                name=name,
                description=f"{name} delivered.",
                price_minor=price,
                delivery_days=days,
                revisions=revisions,
                status=S.LOCKED,
            )
            if position < delivered:
                m.status, m.started_at, m.delivered_at = S.ACCEPTED, o.paid_at, o.paid_at + timedelta(days=1)
                m.accepted_at, m.due_at = o.paid_at + timedelta(days=2), o.paid_at + timedelta(days=days)
            elif position == delivered:
                m.status, m.started_at, m.due_at = S.DELIVERED, deadline - timedelta(days=5), deadline
                m.delivered_at, m.review_deadline = deadline - timedelta(days=3), deadline
            milestones.append(m)
    OrderMilestone.objects.bulk_create(milestones)

    payments = Payment.objects.bulk_create(
        Payment(
            order=o,
            provider="local",
            provider_payment_id=f"pi_bench_{uuid.uuid4().hex}",
            status=Payment.Status.SUCCEEDED,
            amount_minor=o.total_minor,
            currency=CURRENCY,
            charge_id=f"ch_bench_{uuid.uuid4().hex[:24]}",
        )
        for o in orders
    )
    by_order = {o.pk: o for o in orders}
    postings = [
        (
            LedgerTransaction(kind=LedgerTransaction.Kind.ORDER_FUNDED, reference=f"payment-{p.pk}-funded", order=o),
            [
                (ledger.PLATFORM_CASH, o.total_minor),
                (ledger.escrow(o.pk), -o.subtotal_minor),
                (ledger.PLATFORM_REVENUE, -o.buyer_fees_minor),
            ],
        )
        for o, p in zip(orders, payments, strict=True)
    ]
    payouts = []
    for m in milestones:
        if m.status != S.ACCEPTED:
            continue
        o = by_order[m.order_id]
        commission = seller_commission(m.price_minor, o.commission_bps)
        txn = LedgerTransaction(
            kind=LedgerTransaction.Kind.MILESTONE_RELEASED, reference=f"milestone-{m.pk}-released", order=o
        )
        postings.append(
            (
                txn,
                [
                    (ledger.escrow(o.pk), m.price_minor),
                    (ledger.seller_pending(o.seller_id), -(m.price_minor - commission)),
                    (ledger.PLATFORM_REVENUE, -commission),
                ],
            )
        )
        payouts.append(
            Payout(
                milestone=m,
                order=o,
                seller_id=o.seller_id,
                gross_minor=m.price_minor,
                commission_minor=commission,
                amount_minor=m.price_minor - commission,
                currency=CURRENCY,
                clears_at=m.accepted_at + timedelta(days=40),
            )
        )
    txns = LedgerTransaction.objects.bulk_create(t for t, _ in postings)
    LedgerEntry.objects.bulk_create(
        LedgerEntry(transaction=t, account=account, amount_minor=amount, currency=CURRENCY)
        for t, (_, legs) in zip(txns, postings, strict=True)
        for account, amount in legs
        if amount
    )
    Payout.objects.bulk_create(payouts)


# --- step 2: sweep; step 3: check --------------------------------------------------------------


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def backend_cpu_seconds(connection) -> float | None:
    """CPU time (user + system) the PostgreSQL backend serving `connection` has used, read from
    /proc when the server runs on this machine (the throwaway one does); None otherwise. With
    the benchmark's own CPU time it gives a figure that other load on the machine barely moves,
    unlike the wall time."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Breakdown:
    """Wall time spent in a few functions during the sweep (nested time counts in each)."""

    def __init__(self) -> None:
        self.seconds: Counter = Counter()
        self.calls: Counter = Counter()

    def wrap(self, owner, name: str, label: str) -> None:
        real = getattr(owner, name)

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return real(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - start
                self.calls[label] += 1

        setattr(owner, name, timed)

    def report(self, total: float) -> None:
        print("where the time goes (wall time inside each; nested calls count in both):")
        for label, seconds in self.seconds.most_common():
            print(f"  {label:52} {seconds:7.1f} s {seconds / total:6.1%} {self.calls[label]:>9,} calls")


PUBLISHED = [0]  # tasks published (patched apply_async, see sweep()); forked shard processes count their own


def _shard_process(shard: int, shards: int, results) -> None:
    """One of the side-by-side sweeps (a forked process, its own database connection)."""
    from django.db import connection

    from payments import lifecycle

    statements = Counter()

    def count(execute, sql, params, many, context):
        statements[sql.split(None, 1)[0].upper()] += 1
        return execute(sql, params, many, context)

    backend_before = backend_cpu_seconds(connection)
    cpu_before = time.process_time()
    with connection.execute_wrapper(count):
        released = lifecycle.auto_release_sweep(shard=shard, shards=shards)
    backend_after = backend_cpu_seconds(connection)
    results.put(
        {
            "released": released,
            "cpu": time.process_time() - cpu_before,
            "backend": None if backend_before is None else backend_after - backend_before,
            "rss": rss_mb(),
            "statements": dict(statements),
            "published": PUBLISHED[0],
        }
    )
    connection.close()


def _sweep_in_shards(shards: int) -> dict:
    """Run `shards` sweeps at once in forked processes; returns the totals (peak RSS: the largest)."""
    import multiprocessing

    from django.db import connections

    connections.close_all()  # each child opens its own
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    processes = [context.Process(target=_shard_process, args=(i, shards, results)) for i in range(shards)]
    for process in processes:
        process.start()
    parts = [results.get() for _ in processes]
    for process in processes:
        process.join()
        if process.exitcode:
            sys.exit(f"bench: a shard process failed (exit {process.exitcode})")
    statements = Counter()
    for part in parts:
        statements.update(part["statements"])
    backends = [p["backend"] for p in parts]
    return {
        "released": sum(p["released"] for p in parts),
        "cpu": sum(p["cpu"] for p in parts),
        "backend": None if None in backends else sum(backends),
        "rss": max(p["rss"] for p in parts),
        "statements": statements,
        "per_shard": [p["released"] for p in parts],
        "published": sum(p["published"] for p in parts),
    }


def sweep(n: int, batch: int | None, profile: bool, what_if: str | None, shards: int | None) -> int:
    import celery.app.task
    from django.conf import settings
    from django.db import connection, transaction

    from marketplace.celery import app
    from milestones import lifecycle as states
    from milestones import notifications
    from milestones.models import Notification
    from payments import ledger, lifecycle
    from payments.models import Payout

    # The tasks queued on commit go to a queue nobody consumes, deleted at the end.
    app.conf.task_default_queue = os.environ["BENCH_QUEUE"]
    with connection.cursor() as cursor:  # connect now: the connection is not part of the measure
        cursor.execute("SELECT 1")
    if batch:
        settings.MARKETPLACE = {**settings.MARKETPLACE, "SWEEP_BATCH": batch}
    statements = Counter()

    def count(execute, sql, params, many, context):
        statements[sql.split(None, 1)[0].upper()] += 1
        return execute(sql, params, many, context)

    published = PUBLISHED
    real_apply_async = celery.app.task.Task.apply_async

    def apply_async(self, *args, **kwargs):
        published[0] += 1
        return real_apply_async(self, *args, **kwargs)

    celery.app.task.Task.apply_async = apply_async
    if what_if == "no-notifications":
        states.notify_many = lambda items: 0
        print("WHAT-IF: no notifications (milestones.lifecycle.notify_many patched to do nothing)")
    elif what_if == "no-publish":
        celery.app.task.Task.apply_async = lambda self, *args, **kwargs: published.__setitem__(0, published[0] + 1)
        print("WHAT-IF: no task published (celery Task.apply_async patched to do nothing)")
    breakdown = Breakdown()
    if profile:
        breakdown.wrap(lifecycle, "_release", "payments.lifecycle._release (all but the lock queries)")
        breakdown.wrap(states, "accept_locked", "milestones.lifecycle.accept_locked")
        breakdown.wrap(notifications, "notify", "milestones.notifications.notify (savepoint+insert)")
        breakdown.wrap(ledger, "post_many", "payments.ledger.post_many")
        breakdown.wrap(Payout.objects, "bulk_create", "Payout.objects.bulk_create")
        breakdown.wrap(celery.app.task.Task, "apply_async", "celery Task.apply_async (publish, at commit)")
        breakdown.wrap(transaction.Atomic, "__exit__", "transaction.Atomic.__exit__ (commit+callbacks)")

    shards = shards or settings.MARKETPLACE["SWEEP_SHARDS"]
    if shards > 1 and (profile or what_if):
        sys.exit("bench: --profile and --what-if measure one sweep: add --shards 1")
    before = rss_mb()
    load_before = os.getloadavg()[0]
    per_shard = None
    if shards > 1:
        started = time.perf_counter()
        totals = _sweep_in_shards(shards)
        elapsed = time.perf_counter() - started
        released, cpu, backend_used, peak = totals["released"], totals["cpu"], totals["backend"], totals["rss"]
        statements.update(totals["statements"])
        per_shard = totals["per_shard"]
        published[0] += totals["published"]
    else:
        backend_before = backend_cpu_seconds(connection)
        cpu_before = time.process_time()
        with connection.execute_wrapper(count):
            started = time.perf_counter()
            if profile:
                import cProfile
                import pstats

                profiler = cProfile.Profile()
                released = profiler.runcall(lifecycle.auto_release_sweep)
            else:
                released = lifecycle.auto_release_sweep()
            elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_before
        backend_after = backend_cpu_seconds(connection)
        backend_used = None if backend_before is None else backend_after - backend_before
        peak = rss_mb()
    load_after = os.getloadavg()[0]
    queued = Notification.objects.count()  # one email task queued on commit per notification

    batch_size = settings.MARKETPLACE["SWEEP_BATCH"]
    ok_time, ok_memory = elapsed < TARGET_SECONDS, peak < TARGET_MB
    side_by_side = f", {shards} sweeps side by side ({' + '.join(f'{r:,}' for r in per_shard)})" if per_shard else ""
    print(
        f"sweep: released {released:,} milestones in {elapsed:.1f} s ({released / elapsed:,.0f}/s), "
        f"batch {batch_size}{side_by_side}"
    )
    backend = f"{backend_used:.1f} s" if backend_used is not None else "n/a (remote server)"
    who = f"the {shards} sweep processes" if per_shard else "this process"
    print(
        f"cpu: {who} {cpu:.1f} s, PostgreSQL backend(s) {backend}; "
        f"load average {load_before:.1f} before, {load_after:.1f} after (2 cores: above ~1 the wall time is shared)"
    )
    print(
        f"memory: peak RSS {peak:.0f} MB{' (the largest sweep process)' if per_shard else ''} "
        f"(before the sweep {before:.0f} MB, +{peak - before:.0f} MB)"
    )
    total_statements = sum(statements.values())
    print(
        f"sql: {total_statements:,} statements ({total_statements / max(released, 1):.1f} per milestone): "
        + ", ".join(f"{k} {v:,}" for k, v in statements.most_common())
    )
    print(f"tasks queued on commit: {published[0]:,} ({queued:,} notifications, each emailed by a task)")
    if profile:
        breakdown.report(elapsed)
        print("cProfile, top 25 by cumulative time (profiling roughly doubles the time):")
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(25)
    failures = check(n, released)
    print(
        f"targets: time {'OK' if ok_time else 'MISSED'} ({elapsed:.1f} s vs {TARGET_SECONDS} s), "
        f"memory {'OK' if ok_memory else 'MISSED'} ({peak:.0f} MB vs {TARGET_MB} MB); "
        f"ledger {'OK' if not failures else 'FAILED: ' + '; '.join(failures)}",
        flush=True,
    )
    _drop_queue(app)
    return 1 if failures else 0


def check(n: int, released: int) -> list[str]:
    from django.db import connection
    from django.utils import timezone

    from milestones.models import Order, OrderMilestone
    from payments import ledger
    from payments.models import LedgerTransaction, Payout

    failures = []
    trial = ledger.trial_balance()
    if any(trial.values()):
        failures.append(f"trial balance {trial}")
    if released != n:
        failures.append(f"released {released:,} of {n:,}")
    left = OrderMilestone.objects.filter(status="delivered", review_deadline__lte=timezone.now()).count()
    if left:
        failures.append(f"{left:,} due milestones left")
    accepted = OrderMilestone.objects.filter(status="accepted").count()
    postings = LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.MILESTONE_RELEASED).count()
    payouts = Payout.objects.count()
    auto = OrderMilestone.objects.filter(status="accepted", auto_accepted=True).count()
    if not (accepted == postings == payouts) or auto != n:
        failures.append(f"accepted {accepted:,}, release postings {postings:,}, payouts {payouts:,}, auto {auto:,}")
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH held AS (
                SELECT substring(account FROM 8)::bigint AS order_id, -SUM(amount_minor) AS amount
                FROM payments_ledgerentry WHERE account LIKE 'escrow:%%' GROUP BY account
            ), gone AS (
                SELECT order_id, SUM(price_minor) FILTER (WHERE status IN ('accepted', 'cancelled')) AS amount
                FROM milestones_ordermilestone GROUP BY order_id
            )
            SELECT count(*) FROM milestones_order o
            JOIN gone ON gone.order_id = o.id LEFT JOIN held ON held.order_id = o.id
            WHERE COALESCE(held.amount, 0) <> o.subtotal_minor - COALESCE(gone.amount, 0)
               OR COALESCE(held.amount, 0) < 0
            """
        )
        (wrong,) = cursor.fetchone()
    if wrong:
        failures.append(f"{wrong:,} orders whose escrow is not subtotal - released")
    completed = Order.objects.filter(status=Order.Status.COMPLETED).count()
    if completed != n // 3:
        failures.append(f"{completed:,} orders completed, expected {n // 3:,}")
    print(
        f"check: trial balance {trial}; {postings:,} release postings = {payouts:,} payouts = {accepted:,} accepted; "
        f"escrow consistent on {Order.objects.count() - wrong:,} orders; {completed:,} orders completed"
    )
    return failures


def _drop_queue(app) -> None:
    with app.connection_for_write() as conn:
        conn.default_channel.client.delete(os.environ["BENCH_QUEUE"])


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.step is None:
        return run_steps(args)
    import django

    django.setup()
    if args.step == "load":
        load(args.milestones)
        return 0
    return sweep(args.milestones, args.batch, args.profile, args.what_if, args.shards)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
