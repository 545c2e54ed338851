"""Catalog benchmark: query count and median time per request at growing catalog sizes.

Prints one row per (endpoint, size) and the time ratio against the 1-gig row. Run through
scripts/bench, which picks the settings and a scratch database.
"""

import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402

from gigs.models import Category, Gig, Package, User  # noqa: E402

SIZES = [int(s) for s in (sys.argv[1:] or ["1", "100", "1000", "5000"])]
ENDPOINTS = {
    "page /gigs/": "/gigs/",
    "page /gigs/?q=&sort": "/gigs/?q=task&ordering=price&min_price=10",
    "api /api/gigs/": "/api/gigs/",
    "page / (home)": "/",
}
REPEAT = 15


def grow_to(n: int, seller: User, category: Category) -> None:
    have = Gig.objects.count()
    gigs = Gig.objects.bulk_create(
        Gig(
            seller=seller,
            category=category,
            title=f"I will do task {i} well",
            slug=f"bench-{i}",
            description="Benchmark gig description " * 5,
            status=Gig.Status.PUBLISHED,
            published_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=i),
            price_from_minor=1000 + i % 500,
            fastest_delivery_days=3,
        )
        for i in range(have, n)
    )
    Package.objects.bulk_create(
        Package(
            gig=g,
            tier=t,
            name=t,
            description=t,
            price_minor=g.price_from_minor + 1000 * k,
            currency="USD",
            delivery_days=3,
            revisions=1,
        )
        for g in gigs
        for k, t in enumerate(Package.TIER_ORDER)
    )


def measure(client: Client, url: str) -> tuple[int, float]:
    client.get(url)  # warm caches and connections
    times = []
    for _ in range(REPEAT):
        start = time.perf_counter()
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return len(queries), statistics.median(times)


def main() -> None:
    setup_test_environment()
    call_command("migrate", verbosity=0)
    seller, _ = User.objects.get_or_create(username="bench", defaults={"email": "bench@example.com"})
    category, _ = Category.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    client = Client()
    print(f"database: {connection.vendor}; median of {REPEAT} requests each")
    print(f"{'endpoint':24} {'gigs':>6} {'queries':>8} {'ms':>8} {'x vs 1 gig':>11}")
    baseline: dict[str, float] = {}
    for n in SIZES:
        grow_to(n, seller, category)
        for name, url in ENDPOINTS.items():
            count, ms = measure(client, url)
            baseline.setdefault(name, ms)
            print(f"{name:24} {n:>6} {count:>8} {ms:>8.1f} {ms / baseline[name]:>11.2f}")


if __name__ == "__main__":
    main()
