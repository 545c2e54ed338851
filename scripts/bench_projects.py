"""Projects benchmark: query count and median time of the buyer-project pages and API as the
projects grow: a seller browsing the open projects of their category (page and API, plain and
filtered), the buyer's own projects (page and API), and one project's offers compared side by side
(page and API) as its offers grow (one per seller, at most OFFERS_MAX).

Prints one row per (endpoint, size) and the time ratio against the first size of the same run.
Rows are written with bulk_create, consistent with what the services write: each project is
public in the bench category with a two-milestone sketch, and has OFFERS_PER_PROJECT live offers
of two milestones each from other sellers (the compared project has min(size, OFFERS_MAX)). On
PostgreSQL each growth step ends with ANALYZE. Run through `scripts/bench projects [sizes...]`
(the sizes count the bench buyer's projects: use a fresh database).
"""

import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import django

django.setup()

from django.contrib.auth.hashers import make_password  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402
from django.urls import reverse  # noqa: E402

from gigs.models import Category, Gig, SellerProfile, User  # noqa: E402
from milestones.project_models import Offer, OfferMilestone, Project, ProjectMilestone  # noqa: E402

SIZES = [int(s) for s in (sys.argv[1:] or ["1", "100", "1000", "5000"])]
OFFERS_PER_PROJECT = 3
OFFERS_MAX = 100
SELLERS = OFFERS_MAX
REPEAT = 15
BATCH = 2000
CURRENCY = "USD"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
START = date(2027, 1, 10)


def users(prefix: str, count: int) -> list[User]:
    names = [f"{prefix}{i}" for i in range(count)] if count > 1 else [prefix]
    existing = set(User.objects.filter(username__in=names).values_list("username", flat=True))
    password = make_password(None)
    User.objects.bulk_create(
        User(username=n, email=f"{n}@example.com", password=password) for n in names if n not in existing
    )
    found = list(User.objects.filter(username__in=names).order_by("pk"))
    SellerProfile.objects.bulk_create(
        [SellerProfile(user=u, display_name=u.username.title()) for u in found if u.username not in existing]
    )
    return found


def gig_for(seller: User, category: Category) -> None:
    """A published gig in the category: what lets a seller see its public projects."""
    slug = f"bench-gig-{seller.username}"
    if not Gig.objects.filter(slug=slug).exists():
        Gig.objects.create(
            seller=seller,
            category=category,
            title=f"I will do bench work {seller.pk}",
            slug=slug,
            description="Bench gig. " * 10,
            status=Gig.Status.PUBLISHED,
            published_at=T0,
            currency=CURRENCY,
            price_from_minor=5000,
            fastest_delivery_days=3,
        )


def add_projects(buyer: User, category: Category, sellers: list[User], start: int, stop: int) -> None:
    projects = [
        Project(
            buyer=buyer,
            title=f"Brand launch campaign {i}",
            description=f"Project {i}: a brand, a landing page and four weeks of posts. " * 3,
            category=category,
            currency=CURRENCY,
            budget_min_minor=20000 + (i % 7) * 5000,
            budget_max_minor=60000 + (i % 7) * 5000,
            start_date=START,
            deadline=START + timedelta(days=20 + i % 30),
        )
        for i in range(start, stop)
    ]
    Project.objects.bulk_create(projects, batch_size=BATCH)
    ProjectMilestone.objects.bulk_create(
        [
            ProjectMilestone(project=p, position=k, name=name, share_bps=share, target_date=p.start_date + days)
            for p in projects
            for k, (name, share, days) in enumerate(
                [("Plan", 4000, timedelta(days=7)), ("Launch", 6000, timedelta(days=20))]
            )
        ],
        batch_size=BATCH,
    )
    add_offers([(p, sellers[(p.pk + j) % len(sellers)]) for p in projects for j in range(OFFERS_PER_PROJECT)])


def add_offers(pairs: list[tuple[Project, User]]) -> None:
    offers = [
        Offer(
            project=p,
            seller=s,
            message="I have done this before; here is my plan.",
            currency=CURRENCY,
            total_minor=15000 + (s.pk % 9) * 7000,
            total_days=10 + s.pk % 25,
            expires_at=T0 + timedelta(days=3650),
        )
        for p, s in pairs
    ]
    Offer.objects.bulk_create(offers, batch_size=BATCH)
    OfferMilestone.objects.bulk_create(
        [
            OfferMilestone(
                offer=o,
                position=k,
                name=name,
                price_minor=o.total_minor // 2 + (o.total_minor % 2 if k else 0),
                delivery_days=o.total_days // 2 + (o.total_days % 2 if k else 0),
                revisions=1,
            )
            for o in offers
            for k, name in enumerate(["Concepts", "Delivery"])
        ],
        batch_size=BATCH,
    )


def measure(client: Client, url: str) -> tuple[int, float]:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    with CaptureQueriesContext(connection) as ctx:
        client.get(url)
    queries = len(ctx.captured_queries)  # now: the next requests reset the log
    times = []
    for _ in range(REPEAT):
        t = time.perf_counter()
        client.get(url)
        times.append((time.perf_counter() - t) * 1000)
    return queries, statistics.median(times)


def main() -> None:
    setup_test_environment()
    call_command("migrate", verbosity=0)
    category, _ = Category.objects.get_or_create(slug="bench-projects", defaults={"name": "Bench projects"})
    buyer = users("bench-buyer", 1)[0]
    seller = users("bench-seller", 1)[0]
    others = users("bench-offerer", SELLERS)
    for s in [seller, *others]:
        gig_for(s, category)
    as_seller, as_buyer = Client(), Client()
    as_seller.force_login(seller)
    as_buyer.force_login(buyer)

    rows: dict[str, list[tuple[int, int, float]]] = {}
    have = Project.objects.filter(buyer=buyer).count()
    compared = None
    for size in SIZES:
        if size > have:
            add_projects(buyer, category, others, have, size)
            have = size
        compared = compared or Project.objects.filter(buyer=buyer).order_by("pk").first()
        want = min(size, OFFERS_MAX)
        got = compared.offers.count()
        if want > got:
            taken = set(compared.offers.values_list("seller_id", flat=True))
            add_offers([(compared, s) for s in others if s.pk not in taken][: want - got])
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        offers = compared.offers.count()
        urls = {
            "seller: /projects/": (as_seller, reverse("project-list")),
            "seller: /projects/?q=&budget_max=&deadline_before=": (
                as_seller,
                reverse("project-list") + "?q=brand+launch&budget_max=900&deadline_before=2027-02-20",
            ),
            "seller: GET /api/projects/?role=seller": (as_seller, "/api/projects/?role=seller"),
            "buyer: /projects/mine/": (as_buyer, reverse("project-mine")),
            "buyer: GET /api/projects/": (as_buyer, "/api/projects/"),
            f"buyer: /projects/<id>/ (offers: {offers})": (as_buyer, reverse("project-detail", args=[compared.pk])),
            f"buyer: GET /api/projects/<id>/offers/ (offers: {offers})": (
                as_buyer,
                f"/api/projects/{compared.pk}/offers/",
            ),
        }
        for name, (client, url) in urls.items():
            key = name.split(" (offers")[0]
            queries, ms = measure(client, url)
            rows.setdefault(key, []).append((size, queries, ms))

    print(f"\nProjects benchmark on {connection.vendor}: median of {REPEAT} requests; size = the buyer's projects")
    print(f"(all public in one category the seller sells in, {OFFERS_PER_PROJECT} offers each; the compared")
    print(f"project has min(size, {OFFERS_MAX}) offers)\n")
    print(f"{'endpoint':<52} {'size':>6} {'queries':>8} {'ms':>9} {'x first':>8}")
    for key, measured in rows.items():
        base = measured[0][2]
        for size, queries, ms in measured:
            print(f"{key:<52} {size:>6} {queries:>8} {ms:>9.1f} {ms / base:>8.1f}")


if __name__ == "__main__":
    main()
