"""Projects and custom offers API (issue 7): every endpoint through the API client, with its happy
path, field errors (400, nested like the input), refusals (409 with the service's code) and 404
for anyone who may not see the project or offer, on reads and writes alike. Each refusal is
checked to write nothing. Accepting (payments.api.offer_views) places one order per acceptance
and starts its payment. The projects list and the offers list run constant queries at 1 and
many rows."""

import uuid
from datetime import timedelta

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from gigs.tests.factories import CategoryFactory, GigFactory, UserFactory
from milestones.models import Notification, Order, OrderMilestone
from milestones.project_models import (
    Offer,
    OfferMessage,
    OfferMilestone,
    OfferRevision,
    Project,
    ProjectAttachment,
    ProjectEvent,
    ProjectInvite,
    ProjectMilestone,
)
from milestones.services import MilestoneInput, MilestoneTerms, template_save
from payments.models import Payment
from payments.tests.factories import place_order

from .factories import pin_project_rules, post_project, seller_in, send_offer

pytestmark = pytest.mark.django_db

OS, PS = Offer.Status, Project.Status
PLAN_BODY = [
    {"name": "Discovery", "description": "Workshop.", "price_minor": 10000, "delivery_days": 2, "revisions": 1},
    {"name": "Build", "price_minor": 15000, "delivery_days": 3, "revisions": 2, "video_call": True},
    {"name": "Launch", "price_minor": 5000, "delivery_days": 1},
]


@pytest.fixture(autouse=True)
def _rules(settings):
    pin_project_rules(settings, CHECKOUT_EXPIRY_MINUTES=30)


@pytest.fixture
def category():
    return CategoryFactory()


@pytest.fixture
def buyer():
    return UserFactory(username="bakery")


@pytest.fixture
def project(buyer, category):
    return post_project(buyer=buyer, category=category)


@pytest.fixture
def seller(category):
    return seller_in(category, username="maker")


@pytest.fixture
def offer(project, seller):
    return send_offer(project=project, seller=seller)


def as_(api_client, user):
    api_client.force_authenticate(user)
    api_client.default_format = "json"  # multipart bodies say so
    return api_client


def state() -> dict:
    """Every row the project services write, to prove a refusal wrote nothing."""
    models = (
        Project,
        ProjectInvite,
        ProjectMilestone,
        ProjectAttachment,
        Offer,
        OfferMilestone,
        OfferRevision,
        OfferMessage,
        ProjectEvent,
        Order,
        OrderMilestone,
        Payment,
        Notification,
    )
    return {m.__name__: list(m.objects.order_by("pk").values()) for m in models}


def today():
    return timezone.localdate()


def project_body(category, **kw) -> dict:
    start = today() + timedelta(days=3)
    return {
        "title": "A menu app",
        "description": "An app listing our cakes, with photos.",
        "category": category.pk,
        "budget_min_minor": 30000,
        "budget_max_minor": 50000,
        "currency": "EUR",
        "start_date": start.isoformat(),
        "deadline": (start + timedelta(days=40)).isoformat(),
        "visibility": "public",
        **kw,
    }


def sketch(start_in: int = 3) -> list[dict]:
    start = today() + timedelta(days=start_in)
    return [
        {"name": "Design", "description": "Mock-ups", "share_bps": 4000, "target_date": str(start + timedelta(10))},
        {"name": "Build", "share_bps": 6000, "target_date": str(start + timedelta(30))},
    ]


def offer_body(**kw) -> dict:
    return {"message": "I have built ten shops.", "milestones": PLAN_BODY, **kw}


def fresh(obj):
    return type(obj).objects.get(pk=obj.pk)


# --- projects -------------------------------------------------------------------------------------


class TestProjectCreate:
    def test_posts_a_project_with_its_sketch_and_invitations(self, api_client, buyer, category, seller):
        body = project_body(category, milestones=sketch(), invites=[seller.pk], visibility="invite_only")
        response = as_(api_client, buyer).post("/api/projects/", body, format="json")
        assert response.status_code == 201, response.json()
        data = response.json()
        project = Project.objects.get(pk=data["id"])
        assert (project.buyer, project.status, project.currency, project.budget_max_minor) == (
            buyer,
            PS.OPEN,
            "EUR",
            50000,
        )
        assert data["role"] == "buyer" and data["status"] == "open" and data["visibility"] == "invite_only"
        assert data["category"] == {"id": category.pk, "slug": category.slug, "name": category.name}
        assert (data["budget_min_minor"], data["budget_max_minor"], data["fixed_budget"]) == (30000, 50000, False)
        assert [(m["position"], m["name"], m["share_bps"]) for m in data["milestones"]] == [
            (1, "Design", 4000),
            (2, "Build", 6000),
        ]
        assert [i["seller"] for i in data["invites"]] == [seller.pk]
        assert data["buyer"]["username"] == "bakery" and data["url"].endswith(f"/projects/{project.pk}/")
        assert ProjectEvent.objects.get(project=project).reason == "posted"
        assert Notification.objects.filter(user=seller, kind="project_invite").count() == 1

    def test_a_fixed_budget_in_the_default_currency(self, api_client, buyer, category):
        body = project_body(category)
        del body["budget_max_minor"], body["currency"]
        data = as_(api_client, buyer).post("/api/projects/", body, format="json").json()
        assert (data["budget_min_minor"], data["budget_max_minor"], data["fixed_budget"]) == (30000, 30000, True)
        assert data["currency"] == "USD"

    def test_multipart_with_attachments_a_sketch_and_invitations(self, api_client, buyer, category, seller):
        body = {k: str(v) for k, v in project_body(category).items()}
        body["invites"] = [str(seller.pk)]
        for i, m in enumerate(sketch()):
            for key, value in m.items():
                body[f"milestones[{i}]{key}"] = str(value)
        body["attachments"] = [SimpleUploadedFile("brief.pdf", b"%PDF-1.4"), SimpleUploadedFile("logo.png", b"PNG")]
        response = as_(api_client, buyer).post("/api/projects/", body, format="multipart")
        assert response.status_code == 201, response.json()
        data = response.json()
        assert sorted(a["name"] for a in data["attachments"]) == ["brief.pdf", "logo.png"]
        assert [m["share_bps"] for m in data["milestones"]] == [4000, 6000]
        assert data["budget_min_minor"] == 30000 and [i["seller"] for i in data["invites"]] == [seller.pk]

    def test_field_errors_are_400_nested_like_the_input_and_write_nothing(self, api_client, buyer, category):
        before = state()
        client = as_(api_client, buyer)
        shape = client.post("/api/projects/", {"title": "x", "budget_min_minor": "300"}, format="json")
        assert shape.status_code == 400
        errors = shape.json()
        assert {"description", "category", "start_date", "deadline"} <= set(errors)
        assert "budget_min_minor" in errors  # a string is not a JSON integer
        bad_sketch = sketch()
        bad_sketch[1]["share_bps"] = 5000
        rules = client.post(
            "/api/projects/",
            project_body(category, budget_max_minor=100, milestones=bad_sketch, currency="XYZ"),
            format="json",
        )
        assert rules.status_code == 400
        errors = rules.json()
        assert errors["budget_max_minor"] == ["The most you pay cannot be less than the least."]
        assert "currency" in errors and "90 %" in errors["milestones"][0]
        typed = sketch()
        typed[0]["share_bps"] = "4000"
        nested = client.post("/api/projects/", project_body(category, milestones=typed), format="json")
        assert nested.status_code == 400 and set(nested.json()["milestones"]) == {"0"}
        assert "share_bps" in nested.json()["milestones"]["0"]
        files = project_body(category)
        files["attachments"] = [SimpleUploadedFile("setup.exe", b"MZ")]
        upload = client.post("/api/projects/", files, format="multipart")
        assert upload.status_code == 400 and "setup.exe" in upload.json()["attachments"][0]
        me = client.post("/api/projects/", project_body(category, invites=[buyer.pk]), format="json")
        assert me.status_code == 400 and me.json() == {"invites": ["You cannot invite yourself."]}
        assert state() == before

    def test_anonymous_is_refused(self, api_client, category):
        assert api_client.post("/api/projects/", project_body(category), format="json").status_code in (401, 403)
        assert api_client.get("/api/projects/").status_code in (401, 403)
        assert not Project.objects.exists()


class TestProjectList:
    def test_the_buyer_lists_their_own_projects_in_every_state(self, api_client, buyer, project, category):
        closed = post_project(buyer=buyer, category=category, title="An old one")
        as_(api_client, buyer).post(f"/api/projects/{closed.pk}/close/", {}, format="json")
        post_project(category=category, title="Someone else's")
        send_offer(project=project)
        data = api_client.get("/api/projects/").json()
        assert [(p["id"], p["status"]) for p in data["results"]] == [(closed.pk, "closed"), (project.pk, "open")]
        mine = data["results"][1]
        assert mine["live_offer_count"] == 1 and mine["invited"] is None and mine["my_offer_status"] is None
        assert "buyer" not in mine

    def test_a_seller_lists_the_open_projects_open_to_them(self, api_client, buyer, project, seller, category):
        other_category = CategoryFactory()
        elsewhere = post_project(category=other_category, title="Another trade")
        hidden = post_project(category=category, visibility="invite_only", title="Private")
        invited = post_project(category=other_category, visibility="invite_only", invited=[seller], title="For you")
        own = post_project(buyer=seller, category=category, title="My own")
        closed = post_project(category=category, title="Closed one")
        as_(api_client, closed.buyer).post(f"/api/projects/{closed.pk}/close/", {}, format="json")
        send_offer(project=project, seller=seller)
        data = as_(api_client, seller).get("/api/projects/", {"role": "seller"}).json()
        rows = {p["id"]: p for p in data["results"]}
        assert set(rows) == {project.pk, invited.pk}
        assert not {elsewhere.pk, hidden.pk, own.pk, closed.pk} & set(rows)
        assert rows[project.pk]["my_offer_status"] == "live" and rows[project.pk]["invited"] is False
        assert rows[invited.pk]["invited"] is True and rows[invited.pk]["my_offer_status"] is None
        assert rows[project.pk]["buyer"]["username"] == "bakery" and rows[project.pk]["role"] == "seller"

    def test_the_sellers_filters(self, api_client, seller, category):
        cheap = post_project(
            category=category, budget_min_minor=5000, budget_max_minor=10000, title="Logo tweak", days=5
        )
        dear = post_project(category=category, budget_min_minor=90000, budget_max_minor=120000, title="Shop", days=90)
        client = as_(api_client, seller)

        def ids(**params):
            response = client.get("/api/projects/", {"role": "seller", **params})
            assert response.status_code == 200, response.json()
            return {p["id"] for p in response.json()["results"]}

        assert ids() == {cheap.pk, dear.pk}
        assert ids(q="logo") == {cheap.pk} and ids(q="shop") == {dear.pk} and ids(q="logo shop") == set()
        assert ids(budget_min=50000) == {dear.pk}
        assert ids(budget_max=20000) == {cheap.pk}
        assert ids(deadline_before=str(today() + timedelta(days=10))) == {cheap.pk}
        bad = client.get("/api/projects/", {"role": "seller", "budget_min": "lots", "deadline_before": "soon"})
        assert bad.status_code == 400 and {"budget_min", "deadline_before"} <= set(bad.json())
        assert client.get("/api/projects/", {"role": "admin"}).status_code == 400

    def test_list_queries_are_constant(self, api_client, django_assert_num_queries, buyer, seller, category):
        def one_more():
            project = post_project(buyer=buyer, category=category)
            send_offer(project=project)

        one_more()
        for who, params in ((buyer, {}), (seller, {"role": "seller"})):
            as_(api_client, who)
            with django_assert_num_queries(2) as one:
                assert len(api_client.get("/api/projects/", params).json()["results"]) == 1
            assert len(one.captured_queries) == 2
        for _ in range(7):
            one_more()
        for who, params in ((buyer, {}), (seller, {"role": "seller"})):
            as_(api_client, who)
            with django_assert_num_queries(2):
                assert len(api_client.get("/api/projects/", params).json()["results"]) == 8


class TestProjectDetail:
    def test_who_sees_a_project(self, api_client, buyer, project, seller, category):
        data = as_(api_client, buyer).get(f"/api/projects/{project.pk}/").json()
        assert data["role"] == "buyer" and data["invites"] == [] and data["description"]
        seen = as_(api_client, seller).get(f"/api/projects/{project.pk}/")
        assert seen.status_code == 200 and seen.json()["invites"] is None and seen.json()["role"] == "seller"
        # No published gig in the category: a public project is not theirs to see.
        assert as_(api_client, UserFactory()).get(f"/api/projects/{project.pk}/").status_code == 404
        assert as_(api_client, buyer).get("/api/projects/999999/").status_code == 404

    def test_an_invitation_only_project_is_404_to_sellers_not_invited(self, api_client, buyer, seller, category):
        private = post_project(buyer=buyer, category=category, visibility="invite_only")
        url = f"/api/projects/{private.pk}/"
        assert as_(api_client, seller).get(url).status_code == 404
        assert api_client.get(f"{url}offers/").status_code == 404
        before = state()
        assert api_client.post(f"{url}offers/", offer_body(), format="json").status_code == 404
        assert api_client.post(f"{url}offers/", {"milestones": "nonsense"}, format="json").status_code == 404
        assert state() == before
        as_(api_client, buyer).post(f"{url}invite/", {"sellers": [seller.pk]}, format="json")
        assert as_(api_client, seller).get(url).status_code == 200


class TestProjectUpdate:
    def test_put_replaces_the_fields_and_the_sketch(self, api_client, buyer, project, category, offer):
        body = project_body(category, currency="USD", milestones=sketch(), title="A bigger bakery site")
        response = as_(api_client, buyer).put(f"/api/projects/{project.pk}/", body, format="json")
        assert response.status_code == 200, response.json()
        data = response.json()
        assert data["title"] == "A bigger bakery site" and len(data["milestones"]) == 2
        assert fresh(project).budget_max_minor == 50000
        assert ProjectEvent.objects.filter(project=project, reason="edited").count() == 1

    def test_patch_changes_only_what_is_sent(self, api_client, buyer, category):
        body = project_body(category, milestones=sketch())
        created = as_(api_client, buyer).post("/api/projects/", body, format="json").json()
        response = api_client.patch(f"/api/projects/{created['id']}/", {"budget_max_minor": 60000}, format="json")
        assert response.status_code == 200, response.json()
        data = response.json()
        assert data["budget_max_minor"] == 60000 and data["title"] == "A menu app" and data["currency"] == "EUR"
        assert [m["share_bps"] for m in data["milestones"]] == [4000, 6000]

    def test_errors_refusals_and_others(self, api_client, buyer, project, category, seller, offer):
        url = f"/api/projects/{project.pk}/"
        before = state()
        bad = as_(api_client, buyer).patch(url, {"budget_min_minor": 0, "currency": "EUR"}, format="json")
        assert bad.status_code == 400
        assert set(bad.json()) == {"budget_min_minor", "currency"}  # offers were sent in USD
        for who in (seller, UserFactory()):
            assert as_(api_client, who).put(url, project_body(category), format="json").status_code == 404
            assert api_client.patch(url, {"title": "Mine now"}, format="json").status_code == 404
        assert state() == before
        as_(api_client, buyer).post(f"{url}close/", {}, format="json")
        closed = api_client.patch(url, {"title": "Reopened?"}, format="json")
        assert closed.status_code == 409 and closed.json()["code"] == "project_not_open"
        assert fresh(project).title == "A website for my bakery"


class TestProjectCloseInviteAttach:
    def test_the_buyer_closes_and_live_offers_end_not_selected(self, api_client, buyer, project, offer):
        url = f"/api/projects/{project.pk}/close/"
        response = as_(api_client, buyer).post(url, {"reason": "Found someone"}, format="json")
        assert response.status_code == 200 and response.json()["status"] == "closed"
        assert response.json()["closed_reason"] == "Found someone"
        assert fresh(offer).status == OS.NOT_SELECTED
        events = ProjectEvent.objects.filter(project=project, offer=None, to_status=PS.CLOSED)
        assert events.get().reason == "closed by the buyer: Found someone" and events.get().actor == buyer
        again = api_client.post(url, {}, format="json")
        assert again.status_code == 200 and events.count() == 1

    def test_others_cannot_close_and_an_awarded_project_is_409(self, api_client, buyer, project, offer, seller):
        url = f"/api/projects/{project.pk}/close/"
        before = state()
        for who in (seller, UserFactory(), UserFactory(is_staff=True)):
            assert as_(api_client, who).post(url, {"reason": "Spam"}, format="json").status_code == 404
        assert as_(api_client, buyer).post(url, {"reason": "x" * 301}, format="json").status_code == 400
        assert state() == before
        accepted = api_client.post(f"/api/offers/{offer.pk}/accept/", {"checkout_token": str(uuid.uuid4())})
        assert accepted.status_code == 201
        refused = api_client.post(url, {}, format="json")
        assert refused.status_code == 409 and refused.json()["code"] == "project_not_open"
        assert fresh(project).status == PS.AWARDED

    def test_invite(self, api_client, buyer, project, seller):
        url = f"/api/projects/{project.pk}/invite/"
        response = as_(api_client, buyer).post(url, {"sellers": [seller.pk]}, format="json")
        assert response.status_code == 200 and [i["seller"] for i in response.json()] == [seller.pk]
        assert api_client.post(url, {"sellers": [seller.pk]}, format="json").status_code == 200
        assert ProjectInvite.objects.filter(project=project).count() == 1
        assert Notification.objects.filter(user=seller, kind="project_invite").count() == 1
        before = state()
        assert api_client.post(url, {"sellers": []}, format="json").status_code == 400
        assert api_client.post(url, {"sellers": ["1"]}, format="json").status_code == 400
        unknown = api_client.post(url, {"sellers": [999999]}, format="json")
        assert unknown.status_code == 400 and "999999" in unknown.json()["invites"][0]
        assert as_(api_client, seller).post(url, {"sellers": [seller.pk]}, format="json").status_code == 404
        assert state() == before

    def test_attachments(self, api_client, buyer, project, seller):
        url = f"/api/projects/{project.pk}/attachments/"
        body = {"attachments": [SimpleUploadedFile("menu.pdf", b"%PDF")]}
        response = as_(api_client, buyer).post(url, body, format="multipart")
        assert response.status_code == 201 and [a["name"] for a in response.json()] == ["menu.pdf"]
        before = state()
        bad = api_client.post(url, {"attachments": [SimpleUploadedFile("x.exe", b"MZ")]}, format="multipart")
        assert bad.status_code == 400 and "attachments" in bad.json()
        stranger = as_(api_client, seller).post(
            url, {"attachments": [SimpleUploadedFile("a.pdf", b"%PDF")]}, format="multipart"
        )
        assert stranger.status_code == 404
        assert state() == before


# --- offers ---------------------------------------------------------------------------------------


class TestOffersOfAProject:
    def test_the_buyer_compares_every_offer(self, api_client, buyer, project, offer, category):
        # $300 in 6 days: within the $250-$400 budget. $450 over 40 days: over budget and late.
        slow = [{"name": "All of it", "price_minor": 45000, "delivery_days": 40}]
        dear = as_(api_client, seller_in(category)).post(
            f"/api/projects/{project.pk}/offers/", offer_body(milestones=slow), format="json"
        )
        assert dear.status_code == 201, dear.json()
        rows = as_(api_client, buyer).get(f"/api/projects/{project.pk}/offers/").json()
        assert [r["total_minor"] for r in rows] == [30000, 45000]
        first, second = rows
        assert (first["over_budget"], first["late"], first["over_budget_minor"]) == (False, False, 0)
        assert (second["over_budget"], second["late"], second["over_budget_minor"]) == (True, True, 5000)
        start = project.start_date
        assert first["delivery_date"] == str(start + timedelta(days=6)) and first["currency"] == "USD"
        assert second["days_late"] == 10 and first["role"] == "buyer"
        assert [m["name"] for m in first["milestones"]] == ["Discovery", "Build", "Launch"]
        assert first["seller"]["username"] == "maker"

    def test_a_seller_sees_only_their_own_offers(self, api_client, project, offer, seller, category):
        rival = seller_in(category)
        theirs = send_offer(project=project, seller=rival)
        rows = as_(api_client, seller).get(f"/api/projects/{project.pk}/offers/").json()
        assert [r["id"] for r in rows] == [offer.pk] and rows[0]["role"] == "seller"
        assert as_(api_client, rival).get(f"/api/offers/{offer.pk}/").status_code == 404
        assert as_(api_client, seller).get(f"/api/offers/{theirs.pk}/").status_code == 404
        assert as_(api_client, seller_in(category)).get(f"/api/projects/{project.pk}/offers/").json() == []
        assert as_(api_client, UserFactory()).get(f"/api/projects/{project.pk}/offers/").status_code == 404

    def test_offers_list_queries_are_constant(self, api_client, django_assert_num_queries, buyer, project, offer):
        as_(api_client, buyer)
        with django_assert_num_queries(5) as one:
            assert len(api_client.get(f"/api/projects/{project.pk}/offers/").json()) == 1
        for _ in range(6):
            send_offer(project=project)
        with django_assert_num_queries(len(one.captured_queries)):
            rows = api_client.get(f"/api/projects/{project.pk}/offers/").json()
        assert len(rows) == 7 and all(len(r["milestones"]) == 3 for r in rows)


class TestSend:
    def test_a_seller_sends_an_offer(self, api_client, buyer, project, seller):
        url = f"/api/projects/{project.pk}/offers/"
        response = as_(api_client, seller).post(url, offer_body(expiry_days=10), format="json")
        assert response.status_code == 201, response.json()
        data = response.json()
        offer = Offer.objects.get(pk=data["id"])
        assert (offer.seller, offer.status, offer.total_minor, offer.total_days) == (seller, OS.LIVE, 30000, 6)
        assert data["status"] == "live" and data["revision"] == 1 and data["order"] is None
        assert [(m["position"], m["price_minor"]) for m in data["milestones"]] == [(1, 10000), (2, 15000), (3, 5000)]
        assert data["milestones"][1]["video_call"] is True and data["revisions"][0]["number"] == 1
        assert data["expires_at"][:10] == str((timezone.now() + timedelta(days=10)).date())
        assert Notification.objects.filter(user=buyer, kind="offer_received").count() == 1

    def test_refusals_write_nothing(self, api_client, buyer, project, seller, offer):
        url = f"/api/projects/{project.pk}/offers/"
        before = state()
        own = as_(api_client, buyer).post(url, offer_body(), format="json")
        assert own.status_code == 409 and own.json()["code"] == "offer_refused"
        again = as_(api_client, seller).post(url, offer_body(), format="json")
        assert again.status_code == 409 and again.json()["code"] == "offer_exists"
        assert as_(api_client, UserFactory()).post(url, offer_body(), format="json").status_code == 404
        assert state() == before

    def test_field_errors(self, api_client, project, category):
        client = as_(api_client, seller_in(category))
        url = f"/api/projects/{project.pk}/offers/"
        before = state()
        typed = client.post(url, offer_body(milestones=[{"name": "A", "price_minor": "100", "delivery_days": 1}]))
        assert typed.status_code == 400 and "price_minor" in typed.json()["milestones"]["0"]
        plan = [dict(PLAN_BODY[0], price_minor=100), dict(PLAN_BODY[1], name="")]
        rules = client.post(url, offer_body(milestones=plan, message=" ", expiry_days=99), format="json")
        assert rules.status_code == 400
        errors = rules.json()
        assert {"message", "expiry_days", "milestones"} <= set(errors)
        assert set(errors["milestones"]) == {"0", "1"}
        assert "price_minor" in errors["milestones"]["0"] and "name" in errors["milestones"]["1"]
        zero = client.post(url, offer_body(milestones=[dict(PLAN_BODY[0], price_minor=0)]), format="json")
        assert zero.status_code == 400 and "price_minor" in zero.json()["milestones"]["0"]
        six = client.post(url, offer_body(milestones=[PLAN_BODY[0]] * 6), format="json")
        assert six.status_code == 400 and six.json()["milestones"] == ["An offer has at most 5 milestones."]
        assert state() == before

    def test_a_closed_project_takes_no_offers(self, api_client, buyer, project, offer, seller):
        as_(api_client, seller).post(f"/api/offers/{offer.pk}/withdraw/", {}, format="json")
        as_(api_client, buyer).post(f"/api/projects/{project.pk}/close/", {}, format="json")
        # The seller still sees the project (they offered on it) and learns it is closed.
        refused = as_(api_client, seller).post(f"/api/projects/{project.pk}/offers/", offer_body(), format="json")
        assert refused.status_code == 409 and refused.json()["code"] == "project_not_open"


class TestOfferActions:
    def test_detail_for_both_parties_only(self, api_client, buyer, offer, seller):
        url = f"/api/offers/{offer.pk}/"
        assert as_(api_client, buyer).get(url).json()["role"] == "buyer"
        assert as_(api_client, seller).get(url).json()["role"] == "seller"
        assert as_(api_client, UserFactory()).get(url).status_code == 404
        assert api_client.get("/api/offers/999999/").status_code == 404

    def test_revise(self, api_client, buyer, offer, seller):
        url = f"/api/offers/{offer.pk}/"
        two = [PLAN_BODY[0], dict(PLAN_BODY[1], price_minor=12000)]
        response = as_(api_client, seller).put(url, offer_body(milestones=two, message="Cheaper."), format="json")
        assert response.status_code == 200, response.json()
        data = response.json()
        assert (data["revision"], data["total_minor"], data["message"]) == (2, 22000, "Cheaper.")
        assert [r["number"] for r in data["revisions"]] == [1, 2]
        assert data["revisions"][0]["total_minor"] == 30000
        before = state()
        assert as_(api_client, buyer).put(url, offer_body(), format="json").status_code == 404
        assert as_(api_client, UserFactory()).put(url, offer_body(), format="json").status_code == 404
        bad = as_(api_client, seller).put(url, offer_body(milestones=[]), format="json")
        assert bad.status_code == 400 and bad.json() == {"milestones": ["Add at least one milestone."]}
        assert state() == before

    def test_revising_an_expired_or_withdrawn_offer_is_409(self, api_client, offer, seller):
        url = f"/api/offers/{offer.pk}/"
        with time_machine.travel(offer.expires_at + timedelta(minutes=1)):
            before = state()
            late = as_(api_client, seller).put(url, offer_body(), format="json")
            assert late.status_code == 409 and late.json()["code"] == "offer_expired"
            assert state() == before
        api_client.post(f"{url}withdraw/", {}, format="json")
        gone = api_client.put(url, offer_body(), format="json")
        assert gone.status_code == 409 and gone.json()["code"] == "offer_not_live"

    def test_withdraw(self, api_client, buyer, offer, seller):
        url = f"/api/offers/{offer.pk}/withdraw/"
        before = state()
        assert as_(api_client, buyer).post(url, {}, format="json").status_code == 404
        assert state() == before
        response = as_(api_client, seller).post(url, {"reason": "Booked up"}, format="json")
        assert response.status_code == 200 and response.json()["status"] == "withdrawn"
        assert ProjectEvent.objects.get(offer=offer, to_status=OS.WITHDRAWN).reason == "Booked up"
        assert api_client.post(url, {}, format="json").status_code == 200
        assert ProjectEvent.objects.filter(offer=offer, to_status=OS.WITHDRAWN).count() == 1

    def test_decline(self, api_client, buyer, offer, seller, project, category):
        url = f"/api/offers/{offer.pk}/decline/"
        before = state()
        assert as_(api_client, seller).post(url, {}, format="json").status_code == 404
        assert state() == before
        response = as_(api_client, buyer).post(url, {"reason": "Too slow"}, format="json")
        assert response.status_code == 200 and response.json()["status"] == "declined"
        assert fresh(offer).answered_at is not None
        withdrawn = send_offer(project=project)
        as_(api_client, withdrawn.seller).post(f"/api/offers/{withdrawn.pk}/withdraw/", {}, format="json")
        refused = as_(api_client, buyer).post(f"/api/offers/{withdrawn.pk}/decline/", {}, format="json")
        assert refused.status_code == 409 and refused.json()["code"] == "offer_not_live"
        assert fresh(withdrawn).status == OS.WITHDRAWN

    def test_the_thread(self, api_client, buyer, offer, seller):
        url = f"/api/offers/{offer.pk}/messages/"
        asked = as_(api_client, buyer).post(url, {"body": "Can you start Monday?"}, format="json")
        assert asked.status_code == 201
        answered = as_(api_client, seller).post(url, {"body": "Yes."}, format="json")
        assert [(m["sender_role"], m["body"]) for m in answered.json()] == [
            ("buyer", "Can you start Monday?"),
            ("seller", "Yes."),
        ]
        assert len(as_(api_client, buyer).get(url).json()) == 2
        before = state()
        assert api_client.post(url, {"body": "   "}, format="json").status_code == 400
        rival = as_(api_client, seller_in(offer.project.category))
        assert rival.get(url).status_code == 404
        assert rival.post(url, {"body": "Pick me"}, format="json").status_code == 404
        assert state() == before
        as_(api_client, buyer).post(f"/api/offers/{offer.pk}/decline/", {}, format="json")
        closed = api_client.post(url, {"body": "One more thing"}, format="json")
        assert closed.status_code == 409 and closed.json()["code"] == "offer_not_live"

    def test_prefill_from_a_template_or_a_gig(self, api_client, seller):
        terms = {"standard": MilestoneTerms(2000, 3, 1), "basic": MilestoneTerms(1000, 2, 0)}
        template = template_save(
            owner=seller,
            name="Site",
            milestones=[MilestoneInput(name="Plan", packages=terms), MilestoneInput(name="Make", packages=terms)],
        )
        client = as_(api_client, seller)
        data = client.get("/api/offers/prefill/", {"template": template.pk}).json()
        assert [(m["name"], m["price_minor"], m["delivery_days"]) for m in data["milestones"]] == [
            ("Plan", 2000, 3),
            ("Make", 2000, 3),
        ]
        basic = client.get("/api/offers/prefill/", {"template": template.pk, "tier": "basic"}).json()
        assert basic["milestones"][0]["price_minor"] == 1000
        gig = GigFactory(seller=seller, priced=True)
        from_gig = client.get("/api/offers/prefill/", {"gig": gig.pk, "tier": "premium"})
        assert from_gig.status_code == 200 and sum(m["price_minor"] for m in from_gig.json()["milestones"]) == 9000
        assert client.get("/api/offers/prefill/").status_code == 400
        assert client.get("/api/offers/prefill/", {"gig": gig.pk, "template": template.pk}).status_code == 400
        other = as_(api_client, UserFactory())
        assert other.get("/api/offers/prefill/", {"gig": gig.pk}).status_code == 404
        assert other.get("/api/offers/prefill/", {"template": template.pk}).status_code == 404


# --- accepting: payments.api.offer_views -----------------------------------------------------------


class TestAccept:
    def test_accepting_places_one_order_and_starts_its_payment(self, api_client, buyer, project, offer, category):
        other = send_offer(project=project)
        url = f"/api/offers/{offer.pk}/accept/"
        token = str(uuid.uuid4())
        response = as_(api_client, buyer).post(url, {"checkout_token": token}, format="json")
        assert response.status_code == 201, response.json()
        data = response.json()
        order = Order.objects.get()
        assert data["order"]["id"] == order.pk and order.offer_id == offer.pk
        assert data["order"]["status"] == "pending_payment" and data["order"]["package_tier"] == "custom"
        assert data["order"]["subtotal_minor"] == 30000
        assert data["order"]["total_minor"] == (
            30000 + data["order"]["service_fee_minor"] + data["order"]["small_order_fee_minor"]
        )
        assert [m["price_minor"] for m in data["order"]["milestones"]] == [10000, 15000, 5000]
        payment = Payment.objects.get(order=order)
        assert data["payment"]["amount_minor"] == order.total_minor == payment.amount_minor
        assert data["payment"]["pay_url"] == f"http://testserver{reverse('order-pay', args=[order.pk])}"
        assert (fresh(offer).status, fresh(project).status, fresh(other).status) == (
            OS.ACCEPTED,
            PS.AWARDED,
            OS.NOT_SELECTED,
        )
        # The same token, and another token: the same order, 200, nothing more written.
        before = state()
        same = api_client.post(url, {"checkout_token": token}, format="json")
        assert same.status_code == 200 and same.json()["order"]["id"] == order.pk
        twice = api_client.post(url, {"checkout_token": str(uuid.uuid4())}, format="json")
        assert twice.status_code == 200 and twice.json()["order"]["id"] == order.pk
        assert twice.json()["payment"]["provider_payment_id"] == payment.provider_payment_id
        assert state() == before
        assert as_(api_client, buyer).get(f"/api/offers/{offer.pk}/").json()["order"] == order.pk

    def test_only_the_buyer_accepts(self, api_client, offer, seller):
        url = f"/api/offers/{offer.pk}/accept/"
        before = state()
        for who in (seller, UserFactory()):
            assert as_(api_client, who).post(url, {"checkout_token": str(uuid.uuid4())}).status_code == 404
        assert as_(api_client, offer.project.buyer).post("/api/offers/999999/accept/", {}).status_code == 400
        body = {"checkout_token": str(uuid.uuid4())}
        assert api_client.post("/api/offers/999999/accept/", body, format="json").status_code == 404
        assert state() == before

    def test_field_errors_and_refusals(self, api_client, buyer, project, offer, category):
        url = f"/api/offers/{offer.pk}/accept/"
        gig_order = place_order(buyer=buyer)
        withdrawn = send_offer(project=project)
        as_(api_client, withdrawn.seller).post(f"/api/offers/{withdrawn.pk}/withdraw/", {}, format="json")
        client = as_(api_client, buyer)
        before = state()
        assert client.post(url, {}, format="json").json() == {"checkout_token": ["This field is required."]}
        assert client.post(url, {"checkout_token": "abc"}, format="json").status_code == 400
        reused = client.post(url, {"checkout_token": str(gig_order.checkout_token)}, format="json")
        assert reused.status_code == 400 and "checkout_token" in reused.json()
        gone = client.post(f"/api/offers/{withdrawn.pk}/accept/", {"checkout_token": str(uuid.uuid4())})
        assert gone.status_code == 409 and gone.json()["code"] == "offer_not_live"
        assert state() == before
        live = send_offer(project=project)
        assert client.post(url, {"checkout_token": str(uuid.uuid4())}, format="json").status_code == 201
        before = state()
        taken = client.post(f"/api/offers/{live.pk}/accept/", {"checkout_token": str(uuid.uuid4())}, format="json")
        assert taken.status_code == 409 and taken.json()["code"] == "offer_not_live"  # not selected now
        assert state() == before and Order.objects.filter(offer__isnull=False).count() == 1

    def test_a_revision_the_buyer_did_not_see_is_409(self, api_client, buyer, offer):
        seller = offer.seller
        revised = as_(api_client, seller).put(
            f"/api/offers/{offer.pk}/", {"message": "New plan.", "milestones": PLAN_BODY[:2]}, format="json"
        )
        assert revised.status_code == 200 and revised.json()["revision"] == 2
        client = as_(api_client, buyer)
        url = f"/api/offers/{offer.pk}/accept/"
        before = state()
        stale = client.post(url, {"checkout_token": str(uuid.uuid4()), "revision": 1}, format="json")
        assert stale.status_code == 409 and stale.json()["code"] == "offer_revised"
        assert state() == before
        assert client.post(url, {"checkout_token": str(uuid.uuid4()), "revision": 0}, format="json").status_code == 400
        ok = client.post(url, {"checkout_token": str(uuid.uuid4()), "revision": 2}, format="json")
        assert ok.status_code == 201 and ok.json()["order"]["subtotal_minor"] == 25000

    def test_a_seller_who_cannot_receive_payments_is_409(self, api_client, buyer, offer, monkeypatch):
        from payments import services as payments

        class Onboarding:  # Stripe mode: the seller has no connected account with transfers
            requires_onboarding = True

        monkeypatch.setattr(payments, "gateway", Onboarding)
        before = state()
        body = {"checkout_token": str(uuid.uuid4())}
        refused = as_(api_client, buyer).post(f"/api/offers/{offer.pk}/accept/", body)
        assert refused.status_code == 409 and refused.json()["code"] == "seller_cannot_receive"
        assert state() == before

    def test_a_provider_outage_is_503_and_the_same_token_then_starts_the_payment(
        self, api_client, buyer, offer, monkeypatch
    ):
        from payments import services as payments
        from payments.exceptions import ProviderUnavailable

        real_start = payments.payment_start

        def down(**kwargs):
            raise ProviderUnavailable("timeout")

        monkeypatch.setattr(payments, "payment_start", down)
        body = {"checkout_token": str(uuid.uuid4())}
        url = f"/api/offers/{offer.pk}/accept/"
        outage = as_(api_client, buyer).post(url, body)
        assert outage.status_code == 503 and outage.json()["code"] == "provider_unavailable"
        order = Order.objects.get(offer=offer)  # placed before the provider was called
        assert not Payment.objects.exists()
        monkeypatch.setattr(payments, "payment_start", real_start)
        retry = api_client.post(url, body)
        assert retry.status_code == 200 and retry.json()["order"]["id"] == order.pk
        assert retry.json()["payment"]["amount_minor"] == order.total_minor == Payment.objects.get().amount_minor

    def test_accepting_a_paid_offer_again_returns_its_order(self, api_client, buyer, offer):
        from payments.tests.factories import pay

        url = f"/api/offers/{offer.pk}/accept/"
        first = as_(api_client, buyer).post(url, {"checkout_token": str(uuid.uuid4())}).json()
        pay(Order.objects.get(pk=first["order"]["id"]))
        again = api_client.post(url, {"checkout_token": str(uuid.uuid4())})
        assert again.status_code == 200
        data = again.json()
        assert (data["order"]["id"], data["order"]["status"], data["payment"]["status"]) == (
            first["order"]["id"],
            "active",
            "succeeded",
        )
        assert Order.objects.filter(offer=offer).count() == 1 and Payment.objects.count() == 1

    def test_an_expired_offer_is_409(self, api_client, buyer, offer):
        with time_machine.travel(offer.expires_at + timedelta(seconds=1)):
            before = state()
            body = {"checkout_token": str(uuid.uuid4())}
            late = as_(api_client, buyer).post(f"/api/offers/{offer.pk}/accept/", body, format="json")
            assert late.status_code == 409 and late.json()["code"] == "offer_expired"
            assert state() == before


def test_the_schema_documents_the_project_endpoints(api_client):
    response = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    paths = schema["paths"]
    assert {"get", "post"} <= set(paths["/api/projects/"])
    assert {"get", "put", "patch"} <= set(paths["/api/projects/{id}/"])
    for tail in ("close/", "invite/", "attachments/"):
        assert "post" in paths[f"/api/projects/{{id}}/{tail}"]
    assert {"get", "post"} <= set(paths["/api/projects/{id}/offers/"])
    assert {"get", "put"} <= set(paths["/api/offers/{id}/"])
    assert {"get", "post"} <= set(paths["/api/offers/{id}/messages/"])
    assert "post" in paths["/api/offers/{id}/withdraw/"] and "post" in paths["/api/offers/{id}/decline/"]
    accept = paths["/api/offers/{id}/accept/"]["post"]
    assert {"200", "201", "400", "404", "409"} <= set(accept["responses"])
    list_params = {p["name"] for p in paths["/api/projects/"]["get"]["parameters"]}
    assert {"role", "q", "budget_min", "budget_max", "deadline_before", "page"} <= list_params
    offer = schema["components"]["schemas"]["Offer"]["properties"]
    assert {"over_budget", "late", "delivery_date", "total_minor", "currency"} <= set(offer)
