"""The pages of buyer projects and custom offers (issue 7) through the test client: browsing open
projects (search and filters), posting a project (budget, timeline, sketch, invitations,
attachments; each input error and refusal changes nothing; the no-JavaScript row buttons), My
projects, the project page for its buyer (offers side by side with the comparisons) and for a
seller (their own offer only), sending, revising and withdrawing an offer (prefilled from a
template or a gig), declining, the offer thread, closing, attachment downloads, and the offer
checkout in payments (fees, one order per token, the pay page). Strangers and sellers not
invited get a 404 on every page, form and file; list pages and the comparison run a constant
number of queries."""

import re
import uuid
from datetime import date, timedelta

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from gigs.tests.factories import CategoryFactory, UserFactory
from milestones import project_services as ps
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

from .factories import post_project, seller_in, send_offer

pytestmark = pytest.mark.django_db

OS, PS = Offer.Status, Project.Status


@pytest.fixture(autouse=True)
def _rules(settings):
    settings.MARKETPLACE = {
        **settings.MARKETPLACE,
        "MILESTONES_MIN": 2,
        "MILESTONES_MAX": 5,
        "MILESTONE_MIN_PRICE_MINOR": 500,
        "OFFER_EXPIRY_DAYS": 7,
        "OFFER_MAX_EXPIRY_DAYS": 30,
        "DEFAULT_CURRENCY": "USD",
    }


def body(response) -> str:
    return response.content.decode()


def text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body(response)))


def said(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def as_(client, user):
    client.force_login(user)
    return client


def state() -> dict:
    """Every row these pages may write, to prove a refused step wrote nothing."""
    return {
        model.__name__: sorted(model.objects.values_list("pk", flat=True))
        for model in (
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
            Notification,
        )
    } | {
        "offers": list(Offer.objects.order_by("pk").values()),
        "projects": list(Project.objects.order_by("pk").values()),
    }


def in_days(n: int) -> date:
    return timezone.localdate() + timedelta(days=n)


@pytest.fixture
def category():
    return CategoryFactory(name="Programming & Tech")


@pytest.fixture
def buyer():
    return UserFactory(username="dave")


@pytest.fixture
def project(buyer, category):
    return post_project(buyer=buyer, category=category, title="A website for my bakery")


@pytest.fixture
def seller(category):
    return seller_in(category, username="bob")


def url(name: str, *args) -> str:
    return reverse(name, args=args)


def plan_data(*rows) -> dict:
    """The offer form's milestone rows: (name, price, days, revisions, video call)."""
    data = {"om-TOTAL_FORMS": str(len(rows)), "om-INITIAL_FORMS": "0"}
    for i, (name, price, days, revisions, video) in enumerate(rows):
        data |= {
            f"om-{i}-name": name,
            f"om-{i}-description": f"{name}, delivered.",
            f"om-{i}-price": price,
            f"om-{i}-delivery_days": str(days),
            f"om-{i}-revisions": str(revisions),
        }
        if video:
            data[f"om-{i}-video_call"] = "on"
    return data


THREE = [("Discovery", "100", 2, 1, True), ("Build", "150", 3, 2, False), ("Launch", "50", 1, 0, False)]


def offer_data(rows=THREE, **overrides) -> dict:
    return {"message": "I can do it in a week.", "expiry_days": "7", "send": "1", **plan_data(*rows), **overrides}


# --- login and 404s ---------------------------------------------------------------------------


def test_every_page_needs_a_login(client, project):
    offer = send_offer(project=project)
    attachment = ps.project_attachment_add(
        buyer=project.buyer, project_id=project.pk, files=[SimpleUploadedFile("brief.txt", b"brief")]
    )[0]
    for target in (
        url("project-list"),
        url("project-create"),
        url("project-mine"),
        url("project-detail", project.pk),
        url("project-offer-new", project.pk),
        url("project-offer", project.pk, offer.pk),
        url("project-offer-revise", project.pk, offer.pk),
        url("project-attachment", project.pk, attachment.pk),
        url("offer-checkout", offer.pk),
    ):
        response = client.get(target)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login")), target


def test_strangers_get_404_on_every_page_form_and_file(client, project):
    offer = send_offer(project=project)
    attachment = ps.project_attachment_add(
        buyer=project.buyer, project_id=project.pk, files=[SimpleUploadedFile("brief.txt", b"brief")]
    )[0]
    stranger = seller_in(CategoryFactory())  # sells in another category: the project is not theirs to see
    as_(client, stranger)
    before = state()
    for target in (
        url("project-detail", project.pk),
        url("project-offer-new", project.pk),
        url("project-offer", project.pk, offer.pk),
        url("project-offer-revise", project.pk, offer.pk),
        url("project-attachment", project.pk, attachment.pk),
        url("offer-checkout", offer.pk),
    ):
        assert client.get(target).status_code == 404, target
    for target, data in (
        (url("project-offer-new", project.pk), offer_data()),
        (url("project-offer", project.pk, offer.pk), {"body": "Hello?"}),
        (url("project-offer-revise", project.pk, offer.pk), offer_data()),
        (url("project-offer-withdraw", project.pk, offer.pk), {}),
        (url("project-offer-decline", project.pk, offer.pk), {}),
        (url("project-close", project.pk), {}),
        (url("project-invite", project.pk), {"invites": stranger.username}),
        (url("offer-checkout", offer.pk), {"checkout_token": str(uuid.uuid4())}),
    ):
        assert client.post(target, data).status_code == 404, target
    assert state() == before


def test_invitation_only_projects_404_to_sellers_not_invited(client, buyer, category):
    invited = seller_in(category, username="alice")
    other = seller_in(category, username="carol")
    project = post_project(buyer=buyer, category=category, visibility=Project.Visibility.INVITE_ONLY, invited=[invited])
    assert as_(client, other).get(url("project-detail", project.pk)).status_code == 404
    assert client.get(url("project-offer-new", project.pk)).status_code == 404
    before = state()
    assert client.post(url("project-offer-new", project.pk), offer_data()).status_code == 404
    assert state() == before
    assert project.title not in body(client.get(url("project-list")))

    response = as_(client, invited).get(url("project-detail", project.pk))
    assert response.status_code == 200 and "Send an offer" in text(response)
    listing = text(client.get(url("project-list")))
    assert project.title in listing and "Invited" in listing


# --- browsing -----------------------------------------------------------------------------------


def test_sellers_browse_open_projects_of_their_categories(client, buyer, category, seller):
    mine = post_project(buyer=seller, category=category, title="My own project")
    elsewhere = post_project(category=CategoryFactory(), title="A project elsewhere")
    project = post_project(buyer=buyer, category=category, title="A website for my bakery")
    closed = post_project(buyer=buyer, category=category, title="A closed one")
    ps.project_close(actor=buyer, project_id=closed.pk)
    send_offer(project=project)

    response = as_(client, seller).get(url("project-list"))
    page = text(response)
    assert [p.pk for p in response.context["projects"]] == [project.pk]
    assert "A website for my bakery" in page and "$250 – $400" in page
    assert mine.title not in page and elsewhere.title not in page and closed.title not in page
    assert "My projects" in page and "Post a project" in page
    row = response.context["projects"][0]
    assert row.live_offer_count == 1 and row.my_offer_status is None

    send_offer(project=project, seller=seller)
    assert "Your offer sent" in text(client.get(url("project-list")))


def test_browse_search_and_filters(client, buyer, category, seller):
    cheap = post_project(
        buyer=buyer, category=category, title="Fix a login bug", budget_min_minor=5000, budget_max_minor=None, days=5
    )
    big = post_project(
        buyer=buyer, category=category, title="Build a shop", budget_min_minor=100000, budget_max_minor=200000, days=60
    )
    as_(client, seller)

    def found(**params) -> list[int]:
        return [p.pk for p in client.get(url("project-list"), params).context["projects"]]

    assert found() == [big.pk, cheap.pk]
    assert found(q="login bug") == [cheap.pk]
    assert found(q="shop nothing") == []
    assert found(budget_min="1000") == [big.pk]  # the budget reaches $1,000
    assert found(budget_max="100") == [cheap.pk]  # can be done for $100
    assert found(deadline_before=in_days(10).isoformat()) == [cheap.pk]
    response = client.get(url("project-list"), {"budget_min": "12.345"})
    assert "Use at most 2 decimal places." in text(response)
    assert [p.pk for p in response.context["projects"]] == [big.pk, cheap.pk]  # the bad filter is ignored
    assert "No open project matches" in text(client.get(url("project-list"), {"q": "zzz"}))


def test_browse_runs_the_same_queries_at_1_and_many_projects(
    client, buyer, category, seller, django_assert_num_queries
):
    as_(client, seller)
    post_project(buyer=buyer, category=category)
    # session, user, count, the page of projects (annotated), the nav's unread notifications
    with django_assert_num_queries(5):
        response = client.get(url("project-list"))
    assert len(response.context["projects"]) == 1
    for i in range(6):
        p = post_project(buyer=UserFactory(), category=category, title=f"Project number {i}")
        send_offer(project=p)
    with django_assert_num_queries(5):
        response = client.get(url("project-list"))
    assert len(response.context["projects"]) == 7


def test_my_projects_lists_the_buyers_projects_with_offer_counts(client, buyer, category, django_assert_num_queries):
    as_(client, buyer)
    assert "You have not posted a project yet." in text(client.get(url("project-mine")))
    first = post_project(buyer=buyer, category=category, title="First project")
    post_project(category=category, title="Someone else's project")
    with django_assert_num_queries(5):
        response = client.get(url("project-mine"))
    assert [p.pk for p in response.context["projects"]] == [first.pk]
    for i in range(5):
        p = post_project(buyer=buyer, category=category, title=f"Project {i}")
        send_offer(project=p)
        send_offer(project=p)
    with django_assert_num_queries(5):
        response = client.get(url("project-mine"))
    assert len(response.context["projects"]) == 6
    assert [c.strip() for c in re.findall(r'data-testid="offer-count">(\d+)<', body(response))] == ["2"] * 5 + ["0"]
    assert "Someone else" not in text(response)


# --- posting a project ------------------------------------------------------------------------------


def project_data(category, **overrides) -> dict:
    data = {
        "title": "A website for my bakery",
        "description": "Five pages, a menu and an order form.",
        "category": str(category.pk),
        "currency": "USD",
        "budget_type": "range",
        "budget_min": "250",
        "budget_max": "400.50",
        "start_date": in_days(1).isoformat(),
        "deadline": in_days(31).isoformat(),
        "visibility": "public",
        "invites": "",
        "sk-TOTAL_FORMS": "0",
        "sk-INITIAL_FORMS": "0",
        "post": "1",
    }
    data.update(overrides)
    return data


def sketch(*rows) -> dict:
    data = {"sk-TOTAL_FORMS": str(len(rows)), "sk-INITIAL_FORMS": "0"}
    for i, (name, share, target) in enumerate(rows):
        data |= {
            f"sk-{i}-name": name,
            f"sk-{i}-description": f"{name}, delivered.",
            f"sk-{i}-share": share,
            f"sk-{i}-target_date": target,
        }
    return data


def test_the_create_form_renders_with_labels(client, buyer, category):
    response = as_(client, buyer).get(url("project-create"))
    page = body(response)
    assert response.status_code == 200
    for label, field in (
        ("Title", "id_title"),
        ("Description", "id_description"),
        ("Category", "id_category"),
        ("Start date", "id_start_date"),
        ("Deadline", "id_deadline"),
        ("Invite sellers", "id_invites"),
        ("Attachments", "id_attachments"),
    ):
        assert f'<label for="{field}">{label}' in page
    assert "<legend>Budget" in page and "<legend>Who may send offers" in page
    assert 'name="sk-TOTAL_FORMS" value="0"' in page and "No milestones sketched." in page


def test_posting_a_project_with_a_range_sketch_invitations_and_files(client, buyer, category):
    alice = seller_in(category, username="alice")
    data = project_data(category, invites="alice, @Alice") | sketch(
        ("Design", "40", in_days(10).isoformat()), ("Build", "60", in_days(30).isoformat())
    )
    data["attachments"] = [
        SimpleUploadedFile("brief.pdf", b"%PDF brief", content_type="application/pdf"),
        SimpleUploadedFile("logo.png", b"\x89PNG", content_type="image/png"),
    ]
    response = as_(client, buyer).post(url("project-create"), data)
    project = Project.objects.get()
    assert response.status_code == 302 and response["Location"] == url("project-detail", project.pk)
    assert (project.buyer, project.budget_min_minor, project.budget_max_minor, project.currency) == (
        buyer,
        25000,
        40050,
        "USD",
    )
    assert (project.start_date, project.deadline, project.status) == (in_days(1), in_days(31), PS.OPEN)
    assert list(project.milestones.values_list("name", "share_bps", "target_date")) == [
        ("Design", 4000, in_days(10)),
        ("Build", 6000, in_days(30)),
    ]
    assert list(project.invites.values_list("seller__username", flat=True)) == ["alice"]
    assert sorted(project.attachments.values_list("name", flat=True)) == ["brief.pdf", "logo.png"]
    assert Notification.objects.filter(user=alice, kind="project_invite").count() == 1

    page = text(client.get(url("project-detail", project.pk)))
    assert "$250 – $400.50" in page and "Design" in page and "40 %" in page and "60 %" in page
    assert "brief.pdf" in page and "No offers yet." in page


def test_a_fixed_budget_and_an_invitation_only_project(client, buyer, category):
    invited = UserFactory(username="erin")
    data = project_data(category, budget_type="fixed", budget_min="1,250", budget_max="", visibility="invite_only")
    data["invites"] = "erin"
    as_(client, buyer).post(url("project-create"), data)
    project = Project.objects.get()
    assert (project.budget_min_minor, project.budget_max_minor, project.fixed_budget) == (125000, 125000, True)
    assert project.invite_only and list(project.invites.values_list("seller", flat=True)) == [invited.pk]
    assert "$1,250 (fixed)" in text(client.get(url("project-detail", project.pk)))


@pytest.mark.parametrize(
    "overrides,field,message",
    [
        ({"title": ""}, "title", "This field is required."),
        ({"budget_min": "abc"}, "budget_min", "Enter a number."),
        ({"budget_max": ""}, "budget_max", "Enter the most you will pay, or choose a fixed amount."),
        ({"budget_max": "100"}, "budget_max", "The most you pay cannot be less than the least."),
        ({"start_date": "2020-01-01"}, "start_date", "The start date cannot be in the past."),
        ({"deadline": "2020-01-01"}, "deadline", "The deadline cannot be before the start date."),
        ({"invites": "nobody_here"}, "invites", "No seller with the username nobody_here."),
        ({"invites": "dave"}, "invites", "You cannot invite yourself."),
        ({"visibility": "invite_only"}, "invites", "Invite at least one seller to an invitation-only project."),
    ],
)
def test_project_input_errors_show_next_to_the_field_and_change_nothing(
    client, buyer, category, overrides, field, message
):
    as_(client, buyer)
    before = state()
    response = client.post(url("project-create"), project_data(category, **overrides))
    assert response.status_code == 200
    assert message in response.context["form"].errors[field]
    assert message in text(response)
    assert state() == before


def test_sketch_errors_show_on_their_row_and_change_nothing(client, buyer, category):
    as_(client, buyer)
    before = state()
    shares = sketch(("Design", "40", in_days(10).isoformat()), ("Build", "50", in_days(30).isoformat()))
    response = client.post(url("project-create"), project_data(category) | shares)
    assert "The shares add up to 90 % of the budget: make them 100 %." in text(response)
    late = sketch(("Design", "40", in_days(40).isoformat()), ("Build", "60", in_days(30).isoformat()))
    response = client.post(url("project-create"), project_data(category) | late)
    sketch_rows = response.context["sketch"].forms
    assert "A target date falls between the start date and the deadline." in sketch_rows[0].errors["target_date"]
    blank = sketch(("", "abc", ""), ("Build", "60", in_days(30).isoformat()))
    response = client.post(url("project-create"), project_data(category) | blank)
    errors = response.context["sketch"].forms[0].errors
    assert "name" in errors and "Enter a percentage such as 25 or 33.33." in errors["share"] and "target_date" in errors
    one = sketch(("Everything", "100", in_days(30).isoformat()))
    assert "Sketch 2 to 5 milestones, or none." in text(
        client.post(url("project-create"), project_data(category) | one)
    )
    six = sketch(*[(f"M{i}", "20", in_days(20).isoformat()) for i in range(6)])
    response = client.post(url("project-create"), project_data(category) | six)
    assert "Use at most 5 milestones." in text(response)
    assert state() == before


def test_a_bad_attachment_is_refused_and_nothing_is_posted(client, buyer, category):
    as_(client, buyer)
    before = state()
    data = project_data(category)
    data["attachments"] = [SimpleUploadedFile("virus.exe", b"MZ", content_type="application/octet-stream")]
    response = client.post(url("project-create"), data)
    assert "virus.exe: files of this type are not accepted." in response.context["form"].errors["attachments"]
    assert "Choose your attachments again" in " ".join(said(response))
    assert state() == before


def test_the_sketch_rows_without_javascript(client, buyer, category):
    as_(client, buyer)
    before = state()
    data = project_data(category, title="Kept while adding") | sketch(("Design", "40", in_days(10).isoformat()))
    del data["post"]
    response = client.post(url("project-create"), data | {"sk_add": "1"})
    assert response.status_code == 200 and len(response.context["sketch"].forms) == 2
    page = body(response)
    assert 'value="Kept while adding"' in page and 'value="Design"' in page
    assert not response.context["form"].errors  # rebuilding rows shows no errors
    data = data | sketch(("Design", "40", in_days(10).isoformat()), ("Build", "60", in_days(20).isoformat()))
    response = client.post(url("project-create"), data | {"sk_remove": "0"})
    rows = response.context["sketch"].forms
    assert len(rows) == 1 and rows[0].initial["name"] == "Build"
    full = data | sketch(*[(f"M{i}", "20", in_days(20).isoformat()) for i in range(5)])
    response = client.post(url("project-create"), full | {"sk_add": "1"})
    assert len(response.context["sketch"].forms) == 5 and "Use at most 5 milestones." in said(response)
    assert "disabled" in re.search(r'<button[^>]*name="sk_add"[^>]*>', body(response)).group(0)
    assert state() == before
