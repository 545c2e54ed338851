"""The gig API: catalog reads for everyone, writes for the owner only, errors as JSON.

Money is integer minor units everywhere; errors from the services come back nested exactly as DRF's
own field errors ({"packages": {"standard": {"price_minor": [...]}}}).
"""

import datetime as dt
import json

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from gigs.models import Gig, GigFaq, Package
from gigs.services import gig_refresh_listing
from gigs.tasks import gig_published_email_task
from gigs.tests.factories import CategoryFactory, GigFactory, GigFaqFactory, UserFactory

pytestmark = pytest.mark.django_db

LIST_URL = "/api/gigs/"
MY_GIGS_URL = "/api/me/gigs/"
PASSWORD = "pass-word-123"  # what UserFactory sets


def detail_url(gig: Gig) -> str:
    return f"/api/gigs/{gig.slug}/"


def slugs(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["slug"] for row in response.json()["results"]]


def set_basic_price(gig: Gig, price_minor: int) -> None:
    """Make `price_minor` the gig's starting price, keeping the tiers ascending."""
    for i, tier in enumerate(Package.TIER_ORDER):
        Package.objects.filter(gig=gig, tier=tier).update(price_minor=price_minor + i * 100)
    gig_refresh_listing(gig=gig)


def packages_payload(basic: int = 2500, standard: int = 5000, premium: int = 9000) -> dict:
    return {
        tier: {
            "name": f"{tier.title()} logo",
            "description": f"The {tier} package.",
            "price_minor": price,
            "delivery_days": days,
            "revisions": revisions,
        }
        for tier, price, days, revisions in (
            ("basic", basic, 3, 1),
            ("standard", standard, 5, 2),
            ("premium", premium, 7, 3),
        )
    }


def gig_payload(category, **overrides) -> dict:
    payload = {
        "title": "I will design a modern logo for your brand",
        "category": category.slug,
        "description": "Three concepts, vector files and a style sheet, delivered on time.",
        "packages": packages_payload(),
        "faqs": [{"question": "Do you do revisions?", "answer": "Yes, as listed in each package."}],
    }
    payload.update(overrides)
    return payload


def assert_nothing_written() -> None:
    assert (Gig.objects.count(), Package.objects.count(), GigFaq.objects.count()) == (0, 0, 0)


@pytest.fixture
def seller_client(api_client):
    """An API client authenticated as a fresh seller; the seller is `api_client.user`."""
    seller = UserFactory()
    api_client.force_authenticate(seller)
    api_client.user = seller
    return api_client


# --- catalog ------------------------------------------------------------------------------------


class TestGigList:
    def test_lists_only_published_gigs(self, api_client):
        live = GigFactory(published=True)
        GigFactory(priced=True)  # draft
        GigFactory(published=True, status=Gig.Status.PAUSED)
        response = api_client.get(LIST_URL)
        assert slugs(response) == [live.slug]
        row = response.json()["results"][0]
        assert row["status"] == "published"
        assert row["price_from_minor"] == 2500 and row["currency"] == "USD"
        assert row["seller"]["username"] == live.seller.username
        assert row["category"] == live.category.slug

    def test_owners_own_drafts_stay_out_of_the_public_list(self, seller_client):
        GigFactory(priced=True, seller=seller_client.user)
        assert slugs(seller_client.get(LIST_URL)) == []

    def test_search_covers_title_and_description_and_every_word_must_match(self, api_client):
        in_title = GigFactory(published=True, title="I will design a minimalist logo")
        in_description = GigFactory(
            published=True, title="I will build your brand", description="A logo and palette, minimalist. " * 3
        )
        GigFactory(published=True, title="I will write your blog post", description="SEO articles. " * 5)
        only_one_word = GigFactory(published=True, title="I will design a bold logo")

        assert sorted(slugs(api_client.get(LIST_URL, {"q": "LOGO"}))) == sorted(
            [in_title.slug, in_description.slug, only_one_word.slug]
        )
        assert sorted(slugs(api_client.get(LIST_URL, {"q": "minimalist logo"}))) == sorted(
            [in_title.slug, in_description.slug]
        )
        assert slugs(api_client.get(LIST_URL, {"q": "palette"})) == [in_description.slug]
        assert slugs(api_client.get(LIST_URL, {"q": "logo unicorn"})) == []

    def test_category_filter_by_slug(self, api_client):
        design = CategoryFactory(slug="design")
        a = GigFactory(published=True, category=design)
        b = GigFactory(published=True, category=design)
        GigFactory(published=True)
        assert sorted(slugs(api_client.get(LIST_URL, {"category": "design"}))) == sorted([a.slug, b.slug])
        assert slugs(api_client.get(LIST_URL, {"category": "no-such-category"})) == []

    def test_price_range_applies_to_the_starting_price(self, api_client):
        cheap = GigFactory(published=True)  # 2500 / 5000 / 9000: premium is above 5000, basic is not
        dear = GigFactory(published=True)
        set_basic_price(dear, 20000)

        assert slugs(api_client.get(LIST_URL, {"min_price_minor": 5000})) == [dear.slug]
        assert slugs(api_client.get(LIST_URL, {"max_price_minor": 5000})) == [cheap.slug]
        assert slugs(api_client.get(LIST_URL, {"min_price_minor": 2500, "max_price_minor": 2500})) == [cheap.slug]
        both = api_client.get(LIST_URL, {"min_price_minor": 2500, "max_price_minor": 20000})
        assert sorted(slugs(both)) == sorted([cheap.slug, dear.slug])
        assert slugs(api_client.get(LIST_URL, {"min_price_minor": 20001})) == []

    def test_orderings(self, api_client):
        now = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
        old = GigFactory(published=True, title="I will do B things", published_at=now - dt.timedelta(days=2))
        new = GigFactory(published=True, title="I will do C things", published_at=now)
        mid = GigFactory(published=True, title="I will do A things", published_at=now - dt.timedelta(days=1))
        for gig, price in ((old, 3000), (new, 1000), (mid, 2000)):
            set_basic_price(gig, price)

        assert slugs(api_client.get(LIST_URL)) == [new.slug, mid.slug, old.slug]  # newest is the default
        assert slugs(api_client.get(LIST_URL, {"ordering": "newest"})) == [new.slug, mid.slug, old.slug]
        assert slugs(api_client.get(LIST_URL, {"ordering": "price"})) == [new.slug, mid.slug, old.slug]
        assert slugs(api_client.get(LIST_URL, {"ordering": "-price"})) == [old.slug, mid.slug, new.slug]
        assert slugs(api_client.get(LIST_URL, {"ordering": "title"})) == [mid.slug, old.slug, new.slug]

    def test_pagination(self, api_client):
        GigFactory.create_batch(21, published=True)  # PAGE_SIZE is 20
        first = api_client.get(LIST_URL).json()
        assert first["count"] == 21 and len(first["results"]) == 20
        assert first["previous"] is None and "page=2" in first["next"]
        second = api_client.get(first["next"]).json()
        assert second["count"] == 21 and len(second["results"]) == 1 and second["next"] is None
        seen = {r["slug"] for r in first["results"]} | {r["slug"] for r in second["results"]}
        assert len(seen) == 21

    def test_pagination_keeps_the_filters(self, api_client):
        GigFactory.create_batch(21, published=True, title="I will paint a watercolour portrait")
        GigFactory(published=True, title="I will write a poem")
        first = api_client.get(LIST_URL, {"q": "watercolour"}).json()
        assert first["count"] == 21 and "q=watercolour" in first["next"]

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"min_price_minor": "abc"}, "min_price_minor"),
            ({"max_price_minor": "12.5"}, "max_price_minor"),
            ({"min_price_minor": "-1"}, "min_price_minor"),
            ({"max_price_minor": "-100"}, "max_price_minor"),
            ({"min_price_minor": "5000", "max_price_minor": "1000"}, "max_price_minor"),
            ({"ordering": "bogus"}, "ordering"),
            ({"ordering": "-published_at"}, "ordering"),  # not a field name passthrough
            ({"max_price_minor": "1e20"}, "max_price_minor"),
            ({"min_price_minor": "12345678901234567890"}, "min_price_minor"),  # 20 digits
            ({"max_price_minor": "1000000000000000"}, "max_price_minor"),  # 16 digits: above the limit
        ],
    )
    def test_bad_filters_are_400_with_field_errors(self, api_client, params, field):
        GigFactory(published=True)
        response = api_client.get(LIST_URL, params)
        assert response.status_code == 400
        body = response.json()
        assert field in body and isinstance(body[field], list) and body[field]

    def test_the_largest_price_filter_is_accepted(self, api_client):
        gig = GigFactory(published=True)
        assert slugs(api_client.get(LIST_URL, {"max_price_minor": "999999999999999"})) == [gig.slug]
        assert slugs(api_client.get(LIST_URL, {"min_price_minor": "999999999999999"})) == []

    def test_several_bad_filters_are_reported_together(self, api_client):
        response = api_client.get(LIST_URL, {"min_price_minor": "abc", "max_price_minor": "-1", "ordering": "bogus"})
        assert response.status_code == 400
        assert {"min_price_minor", "max_price_minor", "ordering"} <= set(response.json())


class TestQueryCounts:
    """The list endpoints run the same queries whatever the number of rows (no N+1)."""

    @staticmethod
    def _count(client, url) -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url)
        assert response.status_code == 200
        return len(ctx)

    def test_public_list(self, api_client, django_assert_num_queries):
        GigFactory(published=True)
        api_client.get(LIST_URL)  # warm up one-off caches (content types, etc.)
        at_one = self._count(api_client, LIST_URL)
        # Each gig has its own seller, profile and category: N+1 on any of them would show. Sellers
        # made outside sign-up have no profile; the missing row must not cost a query either.
        GigFactory.create_batch(44, published=True)
        newest = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)  # first page, whatever Faker picked
        bare = [GigFactory(published=True, seller=UserFactory(profile=None), published_at=newest) for _ in range(5)]
        with django_assert_num_queries(at_one):
            response = api_client.get(LIST_URL)
        data = response.json()
        assert data["count"] == 50 and len(data["results"]) == 20
        sellers = {row["slug"]: row["seller"] for row in data["results"]}
        assert all(sellers[g.slug]["display_name"] == g.seller.username for g in bare)

    def test_public_list_filtered_and_ordered_by_price(self, api_client, django_assert_num_queries):
        url = f"{LIST_URL}?q=task&ordering=price&min_price_minor=1"
        GigFactory(published=True)
        api_client.get(url)
        at_one = self._count(api_client, url)
        GigFactory.create_batch(49, published=True)
        with django_assert_num_queries(at_one):
            assert api_client.get(url).json()["count"] == 50

    def test_my_gigs(self, seller_client, django_assert_num_queries):
        seller = seller_client.user
        GigFactory(published=True, seller=seller)
        seller_client.get(MY_GIGS_URL)
        at_one = self._count(seller_client, MY_GIGS_URL)
        GigFactory.create_batch(25, published=True, seller=seller)
        GigFactory.create_batch(24, seller=seller)  # drafts without packages
        with django_assert_num_queries(at_one):
            response = seller_client.get(MY_GIGS_URL)
        assert response.json()["count"] == 50


class TestMyGigs:
    def test_lists_own_gigs_of_every_status_only(self, seller_client):
        seller = seller_client.user
        mine = [
            GigFactory(seller=seller),
            GigFactory(published=True, seller=seller),
            GigFactory(published=True, seller=seller, status=Gig.Status.PAUSED),
        ]
        GigFactory(published=True)  # someone else's
        response = seller_client.get(MY_GIGS_URL)
        assert sorted(slugs(response)) == sorted(g.slug for g in mine)
        draft_row = next(r for r in response.json()["results"] if r["slug"] == mine[0].slug)
        assert draft_row["status"] == "draft" and draft_row["price_from_minor"] is None

    def test_needs_authentication(self, api_client):
        assert api_client.get(MY_GIGS_URL).status_code in (401, 403)


# --- detail -------------------------------------------------------------------------------------


class TestGigDetail:
    def test_published_gig_is_readable_anonymously_with_packages_by_tier(self, api_client):
        gig = GigFactory(published=True)
        GigFaqFactory(gig=gig, question="Second?", answer="B", position=1)
        GigFaqFactory(gig=gig, question="First?", answer="A", position=0)
        response = api_client.get(detail_url(gig))
        assert response.status_code == 200
        data = response.json()
        assert data["slug"] == gig.slug and data["status"] == "published" and data["description"] == gig.description
        assert list(data["packages"]) == ["basic", "standard", "premium"]
        prices = {tier: pkg["price_minor"] for tier, pkg in data["packages"].items()}
        assert prices == {"basic": 2500, "standard": 5000, "premium": 9000}
        assert all(type(p) is int for p in prices.values())  # integers, never strings or floats
        basic = data["packages"]["basic"]
        assert basic["currency"] == "USD" and basic["delivery_days"] == 3 and basic["revisions"] == 1
        assert basic["name"] == "Basic package"
        assert data["price_from_minor"] == 2500
        assert data["faqs"] == [{"question": "First?", "answer": "A"}, {"question": "Second?", "answer": "B"}]

    def test_detail_query_count_does_not_grow_with_faqs(self, api_client, django_assert_num_queries):
        gig = GigFactory(published=True)
        GigFaqFactory(gig=gig)
        api_client.get(detail_url(gig))
        with CaptureQueriesContext(connection) as one:
            api_client.get(detail_url(gig))
        GigFaqFactory.create_batch(9, gig=gig)
        with django_assert_num_queries(len(one)):
            assert len(api_client.get(detail_url(gig)).json()["faqs"]) == 10

    @pytest.mark.parametrize("status", [Gig.Status.DRAFT, Gig.Status.PAUSED])
    def test_someone_elses_unpublished_gig_is_404(self, api_client, status):
        gig = GigFactory(published=True, status=status)
        assert api_client.get(detail_url(gig)).status_code == 404
        api_client.force_authenticate(UserFactory())
        response = api_client.get(detail_url(gig))
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"

    def test_owner_sees_own_draft(self, seller_client):
        gig = GigFactory(seller=seller_client.user)
        response = seller_client.get(detail_url(gig))
        assert response.status_code == 200
        data = response.json()
        assert data["status"] == "draft"
        assert data["packages"] == {"basic": None, "standard": None, "premium": None}
        assert data["price_from_minor"] is None

    def test_missing_gig_is_404(self, api_client):
        assert api_client.get("/api/gigs/no-such-gig/").status_code == 404


# --- create -------------------------------------------------------------------------------------


class TestGigCreate:
    def test_anonymous_cannot_create(self, api_client):
        response = api_client.post(LIST_URL, gig_payload(CategoryFactory()), format="json")
        # SessionAuthentication is listed first and sends no WWW-Authenticate header, so DRF says 403.
        assert response.status_code in (401, 403)
        assert_nothing_written()

    def test_creates_a_draft_with_packages_and_faqs(self, seller_client):
        category = CategoryFactory()
        response = seller_client.post(LIST_URL, gig_payload(category), format="json")
        assert response.status_code == 201, response.content
        data = response.json()
        assert data["slug"] == "i-will-design-a-modern-logo-for-your-brand"
        assert data["status"] == "draft" and data["published_at"] is None
        assert data["category"] == category.slug
        assert data["packages"]["standard"]["price_minor"] == 5000

        gig = Gig.objects.get()
        assert gig.seller == seller_client.user and gig.slug == data["slug"] and gig.status == Gig.Status.DRAFT
        assert gig.currency == "USD"
        stored = {p.tier: (p.price_minor, p.delivery_days, p.revisions, p.currency) for p in gig.packages.all()}
        assert stored == {
            "basic": (2500, 3, 1, "USD"),
            "standard": (5000, 5, 2, "USD"),
            "premium": (9000, 7, 3, "USD"),
        }
        assert [(f.question, f.answer) for f in gig.faqs.all()] == [
            ("Do you do revisions?", "Yes, as listed in each package.")
        ]

    def test_create_without_packages_makes_a_bare_draft(self, seller_client):
        payload = gig_payload(CategoryFactory())
        del payload["packages"], payload["faqs"]
        response = seller_client.post(LIST_URL, payload, format="json")
        assert response.status_code == 201
        assert Gig.objects.get().packages.count() == 0

    def test_same_title_gets_a_distinct_slug(self, seller_client):
        category = CategoryFactory()
        first = seller_client.post(LIST_URL, gig_payload(category), format="json").json()
        second = seller_client.post(LIST_URL, gig_payload(category), format="json").json()
        assert first["slug"] == "i-will-design-a-modern-logo-for-your-brand"
        assert second["slug"] == "i-will-design-a-modern-logo-for-your-brand-2"

    def test_other_currency(self, seller_client):
        response = seller_client.post(LIST_URL, gig_payload(CategoryFactory(), currency="EUR"), format="json")
        assert response.status_code == 201
        assert response.json()["packages"]["basic"]["currency"] == "EUR"
        assert set(Package.objects.values_list("currency", flat=True)) == {"EUR"}

    @pytest.mark.parametrize(
        ("change", "error_path"),
        [
            (lambda p: p["packages"]["basic"].update(price_minor=0), ("packages", "basic", "price_minor")),
            (lambda p: p["packages"]["premium"].update(price_minor=-500), ("packages", "premium", "price_minor")),
            (lambda p: p["packages"]["standard"].update(price_minor="ten"), ("packages", "standard", "price_minor")),
            (lambda p: p["packages"]["basic"].update(price_minor=12.5), ("packages", "basic", "price_minor")),
            (lambda p: p["packages"]["basic"].update(price_minor=None), ("packages", "basic", "price_minor")),
            # A strict JSON integer, as in the plan API: no strings of digits, whole floats or booleans.
            (lambda p: p["packages"]["basic"].update(price_minor="2500"), ("packages", "basic", "price_minor")),
            (lambda p: p["packages"]["basic"].update(price_minor=2500.0), ("packages", "basic", "price_minor")),
            (lambda p: p["packages"]["premium"].update(price_minor=True), ("packages", "premium", "price_minor")),
            # Service rules, checked after DRF's field validation:
            (lambda p: p["packages"]["standard"].update(price_minor=2000), ("packages", "standard", "price_minor")),
            (lambda p: p["packages"]["premium"].update(price_minor=4999), ("packages", "premium", "price_minor")),
            (lambda p: p["packages"]["premium"].update(price_minor=10**7 + 1), ("packages", "premium", "price_minor")),
            (lambda p: p["packages"]["basic"].update(delivery_days=0), ("packages", "basic", "delivery_days")),
            (lambda p: p["packages"]["basic"].pop("name"), ("packages", "basic", "name")),
            (lambda p: p["packages"].pop("premium"), ("packages", "premium")),
            (lambda p: p.update(category="no-such-category"), ("category",)),
            (lambda p: p.update(title="Logo"), ("title",)),
            (lambda p: p.update(title="   short   "), ("title",)),
            (lambda p: p.update(title="x" * 101), ("title",)),
            (lambda p: p.update(currency="XYZ"), ("currency",)),
            (lambda p: p.update(faqs=[{"question": "No answer?", "answer": ""}]), ("faqs",)),
            (lambda p: p.update(faqs=[{"question": f"Q{i}?", "answer": "A"} for i in range(11)]), ("faqs",)),
        ],
        ids=[
            "price-zero",
            "price-negative",
            "price-string",
            "price-float",
            "price-null",
            "price-digit-string",
            "price-whole-float",
            "price-boolean",
            "standard-cheaper-than-basic",
            "premium-cheaper-than-standard",
            "price-above-max",
            "delivery-days-zero",
            "package-name-missing",
            "tier-missing",
            "unknown-category",
            "title-too-short",
            "title-short-after-strip",
            "title-too-long",
            "unknown-currency",
            "faq-without-answer",
            "too-many-faqs",
        ],
    )
    def test_invalid_input_is_400_with_the_field_error_and_writes_nothing(self, seller_client, change, error_path):
        payload = gig_payload(CategoryFactory())
        change(payload)
        response = seller_client.post(LIST_URL, payload, format="json")
        assert response.status_code == 400, response.content
        node = response.json()
        for key in error_path:
            assert key in node, (error_path, response.json())
            node = node[key]
        assert node  # a non-empty message list (or nested errors)
        assert_nothing_written()

    def test_standard_cheaper_than_basic_error_is_under_standard_only(self, seller_client):
        payload = gig_payload(CategoryFactory(), packages=packages_payload(basic=3000, standard=2000, premium=9000))
        response = seller_client.post(LIST_URL, payload, format="json")
        assert response.status_code == 400
        body = response.json()
        assert list(body) == ["packages"] and list(body["packages"]) == ["standard"]
        assert list(body["packages"]["standard"]) == ["price_minor"]
        assert "cheaper" in body["packages"]["standard"]["price_minor"][0]
        assert_nothing_written()

    def test_all_errors_come_back_together(self, seller_client):
        payload = gig_payload(CategoryFactory(), title="Short", packages=packages_payload(standard=100))
        response = seller_client.post(LIST_URL, payload, format="json")
        assert response.status_code == 400
        body = response.json()
        assert "title" in body and "price_minor" in body["packages"]["standard"]
        assert_nothing_written()

    def test_html_in_user_text_is_returned_verbatim_as_data(self, seller_client):
        title = "<script>alert('x')</script> logo design"
        response = seller_client.post(LIST_URL, gig_payload(CategoryFactory(), title=title), format="json")
        assert response.status_code == 201
        assert response["Content-Type"].startswith("application/json")
        assert response.json()["title"] == title


class TestTokenAuth:
    def test_token_from_username_and_password_can_create_a_gig(self):
        user = UserFactory()
        client = APIClient(enforce_csrf_checks=True)  # token auth needs no CSRF token
        response = client.post("/api/auth/token/", {"username": user.username, "password": PASSWORD}, format="json")
        assert response.status_code == 200
        key = response.json()["token"]
        assert key == Token.objects.get(user=user).key

        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        response = client.post(LIST_URL, gig_payload(CategoryFactory()), format="json")
        assert response.status_code == 201, response.content
        assert Gig.objects.get().seller == user

    def test_wrong_password_gets_no_token(self, api_client):
        user = UserFactory()
        response = api_client.post("/api/auth/token/", {"username": user.username, "password": "nope"}, format="json")
        assert response.status_code == 400 and "token" not in response.json()
        assert not Token.objects.exists()

    def test_bad_token_is_rejected(self, api_client):
        api_client.credentials(HTTP_AUTHORIZATION="Token not-a-real-key")
        response = api_client.post(LIST_URL, gig_payload(CategoryFactory()), format="json")
        # 403 rather than 401: SessionAuthentication comes first and offers no WWW-Authenticate challenge.
        assert response.status_code in (401, 403)
        assert response.json()["detail"] == "Invalid token."
        assert_nothing_written()


class TestCsrf:
    def test_session_authenticated_post_without_csrf_token_is_rejected(self):
        user = UserFactory()
        client = APIClient(enforce_csrf_checks=True)
        assert client.login(username=user.username, password=PASSWORD)
        response = client.post(LIST_URL, gig_payload(CategoryFactory()), format="json")
        assert response.status_code == 403
        assert "CSRF" in response.json()["detail"]
        assert_nothing_written()

    def test_session_authenticated_publish_without_csrf_token_is_rejected(self):
        gig = GigFactory(priced=True)
        client = APIClient(enforce_csrf_checks=True)
        assert client.login(username=gig.seller.username, password=PASSWORD)
        assert client.post(f"{detail_url(gig)}publish/").status_code == 403
        gig.refresh_from_db()
        assert gig.status == Gig.Status.DRAFT


# --- update -------------------------------------------------------------------------------------


class TestGigUpdate:
    def test_owner_patches_title_and_packages(self, seller_client):
        gig = GigFactory(priced=True, seller=seller_client.user)
        old_slug = gig.slug
        payload = {"title": "I will design an even better logo", "packages": packages_payload(1000, 2000, 3000)}
        response = seller_client.patch(detail_url(gig), payload, format="json")
        assert response.status_code == 200, response.content
        assert response.json()["title"] == "I will design an even better logo"
        assert response.json()["slug"] == old_slug  # renaming never breaks links
        gig.refresh_from_db()
        assert gig.title == "I will design an even better logo" and gig.slug == old_slug
        assert dict(gig.packages.values_list("tier", "price_minor")) == {
            "basic": 1000,
            "standard": 2000,
            "premium": 3000,
        }
        assert gig.packages.count() == 3  # replaced in place, not added

    def test_patch_keeps_what_is_omitted(self, seller_client):
        gig = GigFactory(priced=True, seller=seller_client.user)
        GigFaqFactory(gig=gig)
        response = seller_client.patch(detail_url(gig), {"title": "A new and longer title"}, format="json")
        assert response.status_code == 200
        gig.refresh_from_db()
        assert gig.description.startswith("A complete description")
        assert gig.packages.count() == 3 and gig.faqs.count() == 1

    def test_put_by_owner(self, seller_client):
        gig = GigFactory(priced=True, seller=seller_client.user)
        other_category = CategoryFactory()
        payload = gig_payload(other_category, title="I will replace the whole gig")
        response = seller_client.put(detail_url(gig), payload, format="json")
        assert response.status_code == 200, response.content
        gig.refresh_from_db()
        assert gig.title == "I will replace the whole gig" and gig.category == other_category

    def test_put_needs_the_required_fields(self, seller_client):
        gig = GigFactory(priced=True, seller=seller_client.user)
        response = seller_client.put(detail_url(gig), {"title": "Only a title, no category"}, format="json")
        assert response.status_code == 400 and "category" in response.json()
        assert Gig.objects.get(pk=gig.pk).title == gig.title

    @pytest.mark.parametrize("method", ["patch", "put"])
    @pytest.mark.parametrize("status", [Gig.Status.PUBLISHED, Gig.Status.DRAFT, Gig.Status.PAUSED])
    def test_someone_elses_gig_is_404_and_unchanged(self, seller_client, method, status):
        gig = GigFactory(published=True, status=status)
        payload = gig_payload(CategoryFactory(), title="I have taken over this gig", packages=packages_payload(1, 2, 3))
        response = getattr(seller_client, method)(detail_url(gig), payload, format="json")
        assert response.status_code == 404
        gig.refresh_from_db()
        assert gig.title != "I have taken over this gig" and gig.seller != seller_client.user
        assert sorted(gig.packages.values_list("price_minor", flat=True)) == [2500, 5000, 9000]

    def test_anonymous_cannot_patch(self, api_client):
        gig = GigFactory(published=True)
        response = api_client.patch(detail_url(gig), {"title": "Anonymous edit of this gig"}, format="json")
        assert response.status_code in (401, 403)
        assert Gig.objects.get(pk=gig.pk).title == gig.title

    @pytest.mark.parametrize(
        "packages",
        [
            packages_payload(basic=0),  # rejected by the serializer
            packages_payload(basic=3000, standard=2000),  # rejected by the service
        ],
        ids=["serializer", "service"],
    )
    def test_failed_patch_changes_nothing(self, seller_client, packages):
        gig = GigFactory(priced=True, seller=seller_client.user)
        payload = {"title": "A perfectly valid new title", "packages": packages}
        response = seller_client.patch(detail_url(gig), payload, format="json")
        assert response.status_code == 400
        assert "packages" in response.json()
        gig.refresh_from_db()
        assert gig.title != "A perfectly valid new title"
        assert sorted(gig.packages.values_list("price_minor", flat=True)) == [2500, 5000, 9000]

    def test_failure_late_in_the_transaction_rolls_back_earlier_writes(self, seller_client):
        """The title is written before the description is checked (live gigs need a long one)."""
        gig = GigFactory(published=True, seller=seller_client.user)
        payload = {"title": "A perfectly valid new title", "description": "Too short."}
        response = seller_client.patch(detail_url(gig), payload, format="json")
        assert response.status_code == 400 and "description" in response.json()
        gig.refresh_from_db()
        assert gig.title != "A perfectly valid new title"
        assert gig.description.startswith("A complete description")

    @pytest.mark.parametrize(
        "packages",
        [
            {"basic": {"price_minor": 100}},  # one field of one tier
            {"basic": packages_payload()["basic"]},  # one whole tier
        ],
        ids=["one-field", "one-tier"],
    )
    def test_patch_with_partial_packages_is_a_400_not_a_crash(self, seller_client, packages):
        # BUG (see report): PATCH runs the nested PackagesSerializer in partial mode too, so DRF accepts
        # incomplete packages and GigWriteSerializer.service_kwargs() crashes building PackageInput
        # (TypeError / KeyError -> 500). The correct answer is a 400 that names what is missing.
        client = seller_client
        client.raise_request_exception = False
        gig = GigFactory(priced=True, seller=client.user)
        response = client.patch(detail_url(gig), {"packages": packages}, format="json")
        assert response.status_code == 400
        assert "packages" in response.json()
        assert sorted(gig.packages.values_list("price_minor", flat=True)) == [2500, 5000, 9000]


# --- publish and pause --------------------------------------------------------------------------


def publish_url(gig: Gig) -> str:
    return f"{detail_url(gig)}publish/"


def pause_url(gig: Gig) -> str:
    return f"{detail_url(gig)}pause/"


class TestPublish:
    def test_incomplete_gig_is_409_with_problems_and_stays_draft(self, seller_client):
        gig = GigFactory(seller=seller_client.user, description="")  # no packages, no description
        response = seller_client.post(publish_url(gig))
        assert response.status_code == 409
        body = response.json()
        assert body["code"] == "gig_incomplete"
        assert isinstance(body["problems"], list) and len(body["problems"]) == 2
        assert all(isinstance(p, str) and p for p in body["problems"])
        assert body["detail"]
        gig.refresh_from_db()
        assert gig.status == Gig.Status.DRAFT and gig.published_at is None

    def test_gig_with_invalid_stored_packages_is_incomplete(self, seller_client):
        gig = GigFactory(priced=True, seller=seller_client.user)
        Package.objects.filter(gig=gig, tier="standard").update(price_minor=1)  # cheaper than basic
        response = seller_client.post(publish_url(gig))
        assert response.status_code == 409 and response.json()["code"] == "gig_incomplete"
        assert Gig.objects.get(pk=gig.pk).status == Gig.Status.DRAFT

    def test_complete_gig_publishes_and_emails_the_seller_once_after_commit(
        self, seller_client, django_capture_on_commit_callbacks, monkeypatch
    ):
        queued: list[tuple] = []

        def fake_delay(*args, **kwargs):
            queued.append(args)
            return gig_published_email_task.apply(args=args, kwargs=kwargs)

        monkeypatch.setattr(gig_published_email_task, "delay", fake_delay)
        gig = GigFactory(priced=True, seller=seller_client.user)

        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            response = seller_client.post(publish_url(gig))
        assert response.status_code == 200, response.content
        assert response.json()["status"] == "published" and response.json()["published_at"]
        assert queued == [] and mail.outbox == []  # nothing leaves before the commit
        assert len(callbacks) == 1

        callbacks[0]()  # the commit happens
        assert queued == [(gig.pk,)]
        assert len(mail.outbox) == 1
        assert mail.outbox[0].to == [gig.seller.email]
        assert gig.title in mail.outbox[0].subject

    def test_publishing_twice_is_idempotent(self, seller_client, django_capture_on_commit_callbacks):
        gig = GigFactory(priced=True, seller=seller_client.user)
        with django_capture_on_commit_callbacks(execute=False) as first:
            assert seller_client.post(publish_url(gig)).status_code == 200
        gig.refresh_from_db()
        published_at = gig.published_at
        with django_capture_on_commit_callbacks(execute=False) as again:
            response = seller_client.post(publish_url(gig))
        assert response.status_code == 200
        assert response.json()["status"] == "published"
        gig.refresh_from_db()
        assert gig.published_at == published_at
        assert (len(first), len(again)) == (1, 0)

    def test_pause_hides_the_gig_and_republishing_sends_no_second_email(
        self, seller_client, api_client, django_capture_on_commit_callbacks
    ):
        gig = GigFactory(priced=True, seller=seller_client.user)
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            seller_client.post(publish_url(gig))
            assert slugs(APIClient().get(LIST_URL)) == [gig.slug]

            response = seller_client.post(pause_url(gig))
            assert response.status_code == 200 and response.json()["status"] == "paused"
            assert slugs(APIClient().get(LIST_URL)) == []
            assert APIClient().get(detail_url(gig)).status_code == 404
            assert seller_client.get(detail_url(gig)).json()["status"] == "paused"  # the owner still sees it

            assert seller_client.post(publish_url(gig)).json()["status"] == "published"
            assert slugs(APIClient().get(LIST_URL)) == [gig.slug]
        assert len(callbacks) == 1

    def test_pausing_a_draft_is_409(self, seller_client):
        gig = GigFactory(priced=True, seller=seller_client.user)
        response = seller_client.post(pause_url(gig))
        assert response.status_code == 409 and response.json()["code"] == "invalid_transition"
        assert Gig.objects.get(pk=gig.pk).status == Gig.Status.DRAFT

    @pytest.mark.parametrize("action", ["publish", "pause"])
    def test_someone_elses_gig_is_404(self, seller_client, action):
        draft = GigFactory(priced=True)
        live = GigFactory(published=True)
        assert seller_client.post(f"{detail_url(draft)}{action}/").status_code == 404
        assert seller_client.post(f"{detail_url(live)}{action}/").status_code == 404
        assert Gig.objects.get(pk=draft.pk).status == Gig.Status.DRAFT
        assert Gig.objects.get(pk=live.pk).status == Gig.Status.PUBLISHED

    def test_anonymous_cannot_publish(self, api_client):
        gig = GigFactory(priced=True)
        assert api_client.post(publish_url(gig)).status_code in (401, 403)
        assert Gig.objects.get(pk=gig.pk).status == Gig.Status.DRAFT


# --- schema, docs, categories -------------------------------------------------------------------


class TestSchemaAndCategories:
    def test_openapi_schema(self, api_client):
        response = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
        assert response.status_code == 200
        schema = json.loads(response.content)
        assert schema["openapi"].startswith("3")
        paths = schema["paths"]
        assert {"/api/gigs/", "/api/gigs/{slug}/", "/api/gigs/{slug}/publish/", "/api/me/gigs/"} <= set(paths)
        assert {"get", "post"} <= set(paths["/api/gigs/"])
        list_params = {p["name"] for p in paths["/api/gigs/"]["get"]["parameters"]}
        assert {"q", "category", "min_price_minor", "max_price_minor", "ordering", "page"} <= list_params

    def test_schema_is_yaml_by_default(self, api_client):
        response = api_client.get("/api/schema/")
        assert response.status_code == 200 and response.content.startswith(b"openapi: 3")

    def test_swagger_docs_page(self, api_client):
        response = api_client.get("/api/docs/")
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/html")
        assert b"swagger" in response.content.lower()

    def test_categories(self, api_client):
        second = CategoryFactory(name="Writing", slug="writing", position=2)
        first = CategoryFactory(name="Design", slug="design", position=1, description="Logos and more")
        response = api_client.get("/api/categories/")
        assert response.status_code == 200
        assert response.json() == [
            {"id": first.pk, "name": "Design", "slug": "design", "description": "Logos and more"},
            {"id": second.pk, "name": "Writing", "slug": "writing", "description": ""},
        ]


def test_package_factory_defaults_match_payload_prices():
    """Guards the numbers the tests above rely on (2500 / 5000 / 9000)."""
    gig = GigFactory(priced=True)
    assert dict(gig.packages.values_list("tier", "price_minor")) == {"basic": 2500, "standard": 5000, "premium": 9000}


@pytest.mark.django_db
def test_requirements_are_written_and_read_through_the_gig_api(api_client):
    """Integrators set the checkout questions with the gig and read their ids for orders."""
    from gigs.models import GigRequirement

    gig = GigFactory(published=True)
    api_client.force_authenticate(gig.seller)
    url = f"/api/gigs/{gig.slug}/"
    body = {
        "requirements": [{"question": "Your brand name?", "required": True}, {"question": "Links?", "required": False}]
    }
    response = api_client.patch(url, body, format="json")
    assert response.status_code == 200, response.content
    detail = api_client.get(url).json()["requirements"]
    ids = list(GigRequirement.objects.filter(gig=gig).order_by("position").values_list("pk", flat=True))
    assert detail == [
        {"id": ids[0], "question": "Your brand name?", "required": True},
        {"id": ids[1], "question": "Links?", "required": False},
    ]
    bad = api_client.patch(url, {"requirements": [{"question": "   "}] * 11}, format="json")
    assert bad.status_code == 400
    assert GigRequirement.objects.filter(gig=gig).count() == 2
