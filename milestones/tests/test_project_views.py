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
import time_machine
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from gigs.tests.factories import CategoryFactory, GigFactory, UserFactory
from milestones import project_services as ps
from milestones.models import Notification, Order
from milestones.project_models import (
    Offer,
    OfferMessage,
    Project,
)
from milestones.project_selectors import OfferMilestoneInput as M
from milestones.services import MilestoneInput, MilestoneTerms, template_save

from .factories import pin_project_rules, post_project, project_state, seller_in, send_offer

pytestmark = pytest.mark.django_db

OS, PS = Offer.Status, Project.Status


@pytest.fixture(autouse=True)
def _rules(settings):
    pin_project_rules(settings, DEFAULT_CURRENCY="USD")


def body(response) -> str:
    return response.content.decode()


def text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body(response)))


def said(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def as_(client, user):
    client.force_login(user)
    return client


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
    before = project_state()
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
        (url("project-attach", project.pk), {"files": SimpleUploadedFile("x.txt", b"x")}),
        (url("project-invite", project.pk), {"invites": stranger.username}),
        (url("offer-checkout", offer.pk), {"checkout_token": str(uuid.uuid4())}),
    ):
        assert client.post(target, data).status_code == 404, target
    assert project_state() == before


def test_invitation_only_projects_404_to_sellers_not_invited(client, buyer, category):
    invited = seller_in(category, username="alice")
    other = seller_in(category, username="carol")
    project = post_project(buyer=buyer, category=category, visibility=Project.Visibility.INVITE_ONLY, invited=[invited])
    assert as_(client, other).get(url("project-detail", project.pk)).status_code == 404
    assert client.get(url("project-offer-new", project.pk)).status_code == 404
    before = project_state()
    assert client.post(url("project-offer-new", project.pk), offer_data()).status_code == 404
    assert project_state() == before
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


def test_my_offers_lists_the_sellers_offers(client, category, seller, django_assert_num_queries):
    as_(client, seller)
    assert "You have not sent an offer yet." in text(client.get(url("my-offers")))
    first = send_offer(project=post_project(category=category, title="First project"), seller=seller)
    send_offer(project=post_project(category=category, title="Not mine"))
    # session, user, count, the offers with their projects and categories, the nav
    with django_assert_num_queries(5):
        response = client.get(url("my-offers"))
    assert [o.pk for o in response.context["offers"]] == [first.pk]
    for i in range(4):
        send_offer(project=post_project(category=category, title=f"Project {i}"), seller=seller)
    ps.offer_withdraw(seller=seller, offer_id=first.pk)
    with django_assert_num_queries(5):
        response = client.get(url("my-offers"))
    assert len(response.context["offers"]) == 5
    page = text(response)
    assert "First project" in page and "Withdrawn" in page and "$300" in page and "Not mine" not in page


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
    before = project_state()
    response = client.post(url("project-create"), project_data(category, **overrides))
    assert response.status_code == 200
    assert message in response.context["form"].errors[field]
    assert message in text(response)
    assert project_state() == before


def test_sketch_errors_show_on_their_row_and_change_nothing(client, buyer, category):
    as_(client, buyer)
    before = project_state()
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
    assert project_state() == before


def test_a_bad_attachment_is_refused_and_nothing_is_posted(client, buyer, category):
    as_(client, buyer)
    before = project_state()
    data = project_data(category)
    data["attachments"] = [SimpleUploadedFile("virus.exe", b"MZ", content_type="application/octet-stream")]
    response = client.post(url("project-create"), data)
    assert "virus.exe: files of this type are not accepted." in response.context["form"].errors["attachments"]
    assert "Choose your attachments again" in " ".join(said(response))
    assert project_state() == before


def test_the_sketch_rows_without_javascript(client, buyer, category):
    as_(client, buyer)
    before = project_state()
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
    assert project_state() == before


def test_the_buyer_edits_an_open_project(client, buyer, category):
    project = post_project(
        buyer=buyer,
        category=category,
        milestones=[
            ps.ProjectMilestoneInput("Design", 5000, in_days(5)),
            ps.ProjectMilestoneInput("Build", 5000, in_days(20)),
        ],
    )
    offer = send_offer(project=project)
    target = url("project-edit", project.pk)
    for user in (offer.seller, seller_in(CategoryFactory())):
        assert as_(client, user).get(target).status_code == 404
        assert client.post(target, project_data(category)).status_code == 404
    response = as_(client, buyer).get(target)
    form = response.context["form"]
    assert "invites" not in form.fields and "attachments" not in form.fields
    assert (form.initial["budget_type"], form.initial["budget_min"], form.initial["budget_max"]) == (
        "range",
        "250",
        "400",
    )
    assert [f.initial["share"] for f in response.context["sketch"].forms] == ["50", "50"]
    assert "Save the project" in body(response) and "Edit the project" in text(response)

    before = project_state()
    response = client.post(target, project_data(category, budget_max="100"))
    assert "The most you pay cannot be less than the least." in response.context["form"].errors["budget_max"]
    assert project_state() == before

    data = project_data(category, title="A bigger website", budget_type="fixed", budget_min="500", budget_max="")
    data |= sketch(("Design", "30", in_days(5).isoformat()), ("Build", "70", in_days(25).isoformat()))
    response = client.post(target, data)
    assert response["Location"] == url("project-detail", project.pk)
    project.refresh_from_db()
    assert (project.title, project.budget_min_minor, project.budget_max_minor) == ("A bigger website", 50000, 50000)
    assert list(project.milestones.values_list("share_bps", flat=True)) == [3000, 7000]
    offer.refresh_from_db()
    assert offer.status == OS.LIVE  # offers stay; the page compares them with the new budget
    assert "under the budget" in text(client.get(url("project-detail", project.pk)))  # $300 < $500

    ps.project_close(actor=buyer, project_id=project.pk)
    assert "Only an open project can be edited." in said(client.get(target))
    before = project_state()
    response = client.post(target, data)
    assert "Only an open project can be edited." in response.context["form"].non_field_errors()
    assert project_state() == before


# --- the project page ---------------------------------------------------------------------------


def test_the_buyer_compares_offers_side_by_side(client, project, seller):
    cheap = send_offer(project=project, seller=seller)  # $300 in 6 days: within budget, on time
    dear = send_offer(
        project=project,
        plan=[M("Everything", "All of it.", 50000, 40, 1, False)],
        message="The premium way.",
    )
    response = as_(client, project.buyer).get(url("project-detail", project.pk))
    assert response.status_code == 200
    offers = response.context["offers"]
    assert [o.pk for o in offers] == [cheap.pk, dear.pk]  # live first, cheapest first
    cards = re.findall(r'<article class="panel pj-offer.*?</article>', body(response), re.S)
    assert len(cards) == 2
    first, second = (re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", c)) for c in cards)
    assert seller.public_name in first and "$300" in first and "within budget" in first and "by the deadline" in first
    assert "Discovery · $100 · 2 days · 1 revision · video call" in first
    start = project.start_date
    assert (start + timedelta(days=6)).strftime("%b %-d, %Y") in first
    assert "$500" in second and "over budget by $100" in second and "late by 10 days" in second
    assert 'class="panel pj-offer pj-offer-live pj-over pj-late"' in cards[1]
    page = body(response)
    for offer in (cheap, dear):
        assert url("offer-checkout", offer.pk) in page
        assert url("project-offer", project.pk, offer.pk) in page
        assert url("project-offer-decline", project.pk, offer.pk) in page
    assert "Close to new offers" in page and "(2 live)" in text(response)


def test_the_comparison_runs_the_same_queries_at_1_and_many_offers(client, project, django_assert_num_queries):
    ps.project_attachment_add(buyer=project.buyer, project_id=project.pk, files=[SimpleUploadedFile("a.txt", b"a")])
    send_offer(project=project)
    as_(client, project.buyer)
    # session, user, project, its sketch, its attachments, the offers, their milestones, the
    # invited sellers, the nav
    with django_assert_num_queries(9):
        response = client.get(url("project-detail", project.pk))
    assert len(response.context["offers"]) == 1
    for _ in range(5):
        send_offer(project=project)
    ps.project_invite(buyer=project.buyer, project_id=project.pk, seller_ids=[UserFactory().pk, UserFactory().pk])
    with django_assert_num_queries(9):
        response = client.get(url("project-detail", project.pk))
    assert len(response.context["offers"]) == 6
    assert len(re.findall(r'data-testid="offer-card"', body(response))) == 6


def test_a_seller_sees_the_brief_and_only_their_own_offer(client, project, seller):
    other = send_offer(project=project, message="The other seller's secret pitch.")
    response = as_(client, seller).get(url("project-detail", project.pk))
    page = text(response)
    assert response.status_code == 200 and "A website for my bakery" in page and "Send an offer" in page
    assert response.context["offers"] == [] and "secret pitch" not in page and other.seller.username not in page
    assert "Close to new offers" not in page and url("offer-checkout", other.pk) not in body(response)

    mine = send_offer(project=project, seller=seller, message="My own pitch.")
    response = client.get(url("project-detail", project.pk))
    page = text(response)
    assert [o.pk for o in response.context["offers"]] == [mine.pk]
    assert "Your offer is waiting for the buyer" in page and "My own pitch." in page
    assert "Revise my offer" in page and "Withdraw my offer" in page and "secret pitch" not in page
    assert url("offer-checkout", mine.pk) not in body(response)


def test_a_seller_may_not_offer_on_their_own_project(client, project):
    as_(client, project.buyer)
    response = client.get(url("project-offer-new", project.pk))
    assert response["Location"] == url("project-detail", project.pk)
    assert "You cannot send an offer on your own project." in said(response)
    before = project_state()
    response = client.post(url("project-offer-new", project.pk), offer_data())
    assert response.status_code == 200
    assert "You cannot send an offer on your own project." in response.context["form"].non_field_errors()
    assert project_state() == before
    assert "Send an offer" not in text(client.get(url("project-detail", project.pk)))


def test_attachments_download_for_those_who_see_the_project_only(client, project, seller, settings):
    attachment = ps.project_attachment_add(
        buyer=project.buyer, project_id=project.pk, files=[SimpleUploadedFile("brief.pdf", b"%PDF the brief")]
    )[0]
    target = url("project-attachment", project.pk, attachment.pk)
    for user in (project.buyer, seller):
        response = as_(client, user).get(target)
        assert response.status_code == 200
        assert response["Content-Disposition"] == 'attachment; filename="brief.pdf"'
        assert response["Cache-Control"] == "private, no-store"
        assert b"".join(response.streaming_content) == b"%PDF the brief"
    assert target in body(client.get(url("project-detail", project.pk)))
    assert settings.MEDIA_URL not in body(client.get(url("project-detail", project.pk)))
    other = post_project(category=project.category)
    assert client.get(url("project-attachment", other.pk, attachment.pk)).status_code == 404
    assert as_(client, seller_in(CategoryFactory())).get(target).status_code == 404


def test_the_buyer_attaches_more_files(client, project, seller):
    target = url("project-attach", project.pk)
    assert as_(client, seller).post(target, {"files": SimpleUploadedFile("x.txt", b"x")}).status_code == 404
    as_(client, project.buyer)
    before = project_state()
    response = client.post(target, {"files": SimpleUploadedFile("run.exe", b"MZ")})
    assert "run.exe: files of this type are not accepted." in said(response)
    assert "Choose a file to attach." in said(client.post(target, {}))
    assert project_state() == before
    response = client.post(target, {"files": [SimpleUploadedFile("a.txt", b"a"), SimpleUploadedFile("b.md", b"b")]})
    assert "Attached a.txt, b.md." in said(response)
    assert sorted(project.attachments.values_list("name", flat=True)) == ["a.txt", "b.md"]
    assert "a.txt" in text(as_(client, seller).get(url("project-detail", project.pk)))


def test_the_buyer_closes_the_project(client, project, seller):
    offer = send_offer(project=project, seller=seller)
    assert as_(client, seller).post(url("project-close", project.pk)).status_code == 404
    response = as_(client, project.buyer).post(url("project-close", project.pk), {"reason": "Found someone."})
    assert "The project is closed: it takes no more offers." in said(response)
    project.refresh_from_db()
    offer.refresh_from_db()
    assert (project.status, project.closed_reason, offer.status) == (PS.CLOSED, "Found someone.", OS.NOT_SELECTED)
    page = text(client.get(url("project-detail", project.pk)))
    assert "This project is closed: Found someone." in page and "Close to new offers" not in page
    assert url("offer-checkout", offer.pk) not in page


def test_the_buyer_invites_more_sellers(client, project, seller):
    erin = UserFactory(username="erin")
    as_(client, project.buyer)
    before = project_state()
    response = client.post(url("project-invite", project.pk), {"invites": "nobody"})
    assert "No seller with the username nobody." in said(response)
    assert project_state() == before
    response = client.post(url("project-invite", project.pk), {"invites": "erin bob"})
    assert "Invited" in said(response)[-1]
    assert sorted(project.invites.values_list("seller", flat=True)) == sorted([erin.pk, seller.pk])
    page = text(client.get(url("project-detail", project.pk)))
    assert (
        f"Invited: {seller.public_name}, {erin.public_name}" in page
        or f"Invited: {erin.public_name}, {seller.public_name}" in page
    )


# --- offers ---------------------------------------------------------------------------------------


def test_the_offer_form_renders_with_one_blank_milestone(client, project, seller):
    response = as_(client, seller).get(url("project-offer-new", project.pk))
    page = body(response)
    assert response.status_code == 200 and len(response.context["plan"].forms) == 1
    assert '<label for="id_message">Message to the buyer' in page
    assert (
        '<label for="id_om-0-price">Price (USD)' in page
        and '<label for="id_om-0-delivery_days">Delivery (days)' in page
    )
    assert 'name="expiry_days" value="7"' in page
    assert "A website for my bakery" in text(response) and "$250 – $400" in text(response)


def test_a_seller_sends_an_offer(client, project, seller):
    response = as_(client, seller).post(url("project-offer-new", project.pk), offer_data(expiry_days="10"))
    offer = Offer.objects.get()
    assert response["Location"] == url("project-detail", project.pk)
    assert "Your offer of $300 is sent: the buyer is told." in said(response)
    assert (offer.seller, offer.status, offer.total_minor, offer.total_days) == (seller, OS.LIVE, 30000, 6)
    assert offer.message == "I can do it in a week."
    assert list(offer.milestones.values_list("name", "price_minor", "delivery_days", "revisions", "video_call")) == [
        ("Discovery", 10000, 2, 1, True),
        ("Build", 15000, 3, 2, False),
        ("Launch", 5000, 1, 0, False),
    ]
    assert abs(offer.expires_at - (timezone.now() + timedelta(days=10))) < timedelta(minutes=1)
    assert Notification.objects.filter(user=project.buyer, kind="offer_received").count() == 1

    # One live offer per seller: the form sends them to revise it; a second post is refused.
    response = client.get(url("project-offer-new", project.pk))
    assert response["Location"] == url("project-offer-revise", project.pk, offer.pk)
    before = project_state()
    response = client.post(url("project-offer-new", project.pk), offer_data())
    assert (
        "You already have an offer on this project: revise it instead." in response.context["form"].non_field_errors()
    )
    assert project_state() == before


@pytest.mark.parametrize(
    "rows,where,message",
    [
        ([("", "100", 2, 0, False)], ("om", 0, "name"), "This field is required."),
        ([("Build", "", 2, 0, False)], ("om", 0, "price"), "This field is required."),
        ([("Build", "12.345", 2, 0, False)], ("om", 0, "price"), "Use at most 2 decimal places."),
        ([("Build", "4", 2, 0, False)], ("om", 0, "price"), "Each milestone costs at least $5."),
        ([("Build", "0", 2, 0, False)], ("om", 0, "price"), "Each milestone costs at least $5."),
        (
            [("Build", "100", 0, 0, False)],
            ("om", 0, "delivery_days"),
            "Ensure this value is greater than or equal to 1.",
        ),
        (
            [("Build", "100", 2, 0, False), ("Launch", "100", 400, 0, False)],
            ("om", 1, "delivery_days"),
            "Delivery takes 1 to 365 days.",
        ),
        ([(f"M{i}", "100", 1, 0, False) for i in range(6)], None, "Use at most 5 milestones."),
        ([], None, "Add at least one milestone."),
    ],
)
def test_offer_plan_errors_show_on_their_row_and_change_nothing(client, project, seller, rows, where, message):
    as_(client, seller)
    before = project_state()
    response = client.post(url("project-offer-new", project.pk), offer_data(rows))
    assert response.status_code == 200
    if where is not None:
        _, i, field = where
        assert message in response.context["plan"].forms[i].errors[field]
    assert message in text(response)
    assert project_state() == before


@pytest.mark.parametrize(
    "overrides,field,message",
    [
        ({"message": ""}, "message", "This field is required."),
        ({"expiry_days": "0"}, "expiry_days", "Ensure this value is greater than or equal to 1."),
        ({"expiry_days": "31"}, "expiry_days", "Ensure this value is less than or equal to 30."),
    ],
)
def test_offer_field_errors_change_nothing(client, project, seller, overrides, field, message):
    as_(client, seller)
    before = project_state()
    response = client.post(url("project-offer-new", project.pk), offer_data(**overrides))
    assert message in response.context["form"].errors[field]
    assert project_state() == before


def test_the_plan_rows_without_javascript(client, project, seller):
    as_(client, seller)
    before = project_state()
    data = offer_data(message="Kept while adding")
    del data["send"]
    response = client.post(url("project-offer-new", project.pk), data | {"om_add": "1"})
    assert len(response.context["plan"].forms) == 4 and 'value="Discovery"' in body(response)
    assert "Kept while adding" in body(response) and not response.context["form"].errors
    response = client.post(url("project-offer-new", project.pk), data | {"om_remove": "1"})
    names = [f.initial["name"] for f in response.context["plan"].forms]
    assert names == ["Discovery", "Launch"]
    assert response.context["plan"].forms[0].initial["video_call"] is True
    assert project_state() == before


def test_the_offer_form_is_prefilled_from_a_template_or_a_gig(client, project, seller):
    template = template_save(
        owner=seller,
        name="My web plan",
        milestones=[
            MilestoneInput("Wireframes", "Every page sketched.", True, {"standard": MilestoneTerms(12000, 4, 2)}),
            MilestoneInput("Build", "", False, {"standard": MilestoneTerms(20000, 10, 1)}),
        ],
    )
    as_(client, seller)
    response = client.get(url("project-offer-new", project.pk), {"template": template.pk, "tier": "standard"})
    rows = [f.initial for f in response.context["plan"].forms]
    assert [(r["name"], r["price"], r["delivery_days"], r["revisions"], r["video_call"]) for r in rows] == [
        ("Wireframes", "120", 4, 2, True),
        ("Build", "200", 10, 1, False),
    ]
    assert "Filled from your template" in text(response) and "My web plan" in body(response)
    assert not Offer.objects.exists()

    gig = seller.gigs.get()
    response = client.get(url("project-offer-new", project.pk), {"gig": gig.pk, "tier": "basic"})
    assert response.status_code == 200 and response.context["plan"].forms
    assert "Filled from the Basic package of your gig" in text(response)
    assert gig.title in body(response)

    someone_elses = GigFactory(published=True)
    response = client.get(url("project-offer-new", project.pk), {"gig": someone_elses.pk})
    assert "No such gig." in " ".join(said(response))
    assert [f.initial.get("name") for f in response.context["plan"].forms] == [""]


def test_a_seller_revises_and_withdraws_their_offer(client, project, seller):
    offer = send_offer(project=project, seller=seller)
    target = url("project-offer-revise", project.pk, offer.pk)
    as_(client, seller)
    response = client.get(target)
    assert [f.initial["name"] for f in response.context["plan"].forms] == ["Discovery", "Build", "Launch"]
    assert response.context["plan"].forms[1].initial["price"] == "150"
    assert "I can do it." in body(response) and "Send the revised offer" in body(response)

    rows = [("Discovery", "100", 2, 1, True), ("Build and launch", "180", 4, 2, False)]
    response = client.post(target, offer_data(rows, message="Cheaper, in two steps."))
    assert "Your offer is revised (version 2, $280)." in said(response)
    offer.refresh_from_db()
    assert (offer.revision, offer.total_minor, offer.message) == (2, 28000, "Cheaper, in two steps.")
    assert list(offer.milestones.values_list("name", flat=True)) == ["Discovery", "Build and launch"]
    assert offer.revisions.count() == 2

    # The buyer and other sellers cannot revise or withdraw it.
    for user in (project.buyer, seller_in(project.category)):
        as_(client, user)
        before = project_state()
        assert client.get(target).status_code == 404
        assert client.post(target, offer_data()).status_code == 404
        assert client.post(url("project-offer-withdraw", project.pk, offer.pk)).status_code == 404
        assert project_state() == before

    as_(client, seller)
    response = client.post(url("project-offer-withdraw", project.pk, offer.pk), {"reason": "Too busy."})
    assert "Your offer is withdrawn." in said(response)
    offer.refresh_from_db()
    assert offer.status == OS.WITHDRAWN
    response = client.get(target)
    assert "This offer is withdrawn: it cannot be revised. Send a new one instead." in said(response)
    before = project_state()
    response = client.post(target, offer_data())
    assert "This offer is withdrawn." in response.context["form"].non_field_errors()
    assert project_state() == before
    # A new offer may be sent after withdrawing.
    assert "Send an offer" in text(client.get(url("project-detail", project.pk)))


def test_the_buyer_declines_an_offer(client, project, seller):
    offer = send_offer(project=project, seller=seller)
    as_(client, project.buyer)
    response = client.post(url("project-offer-decline", project.pk, offer.pk), {"reason": "Too slow."})
    assert f"You declined {seller.public_name}'s offer: they are told." in said(response)
    offer.refresh_from_db()
    assert offer.status == OS.DECLINED
    assert Notification.objects.get(user=seller, kind="offer_declined").text.endswith("declined: Too slow.")
    before = project_state()
    response = client.post(url("project-offer-decline", project.pk, offer.pk))  # again: a no-op
    assert project_state() == before
    assert as_(client, seller).post(url("project-offer-decline", project.pk, offer.pk)).status_code == 404
    withdrawn = send_offer(project=project)
    ps.offer_withdraw(seller=withdrawn.seller, offer_id=withdrawn.pk)
    as_(client, project.buyer)
    before = project_state()
    response = client.post(url("project-offer-decline", project.pk, withdrawn.pk))
    assert "This offer is withdrawn." in said(response)
    assert project_state() == before


def test_the_offer_thread(client, project, seller):
    offer = send_offer(project=project, seller=seller)
    target = url("project-offer", project.pk, offer.pk)
    response = as_(client, project.buyer).get(target)
    assert response.status_code == 200 and "No messages yet." in text(response)
    assert "Accept this offer" in text(response) and "Decline this offer" in text(response)
    response = client.post(target, {"body": "Can you start on Monday?"})
    assert response["Location"] == target
    response = as_(client, seller).post(target, {"body": "Yes, Monday works."})
    page = text(client.get(target))
    assert f"The buyer ({project.buyer.public_name})" in page
    assert "Can you start on Monday?" in page and "You" in page and "Yes, Monday works." in page
    assert "Accept this offer" not in page
    assert list(OfferMessage.objects.values_list("sender", "body")) == [
        (project.buyer.pk, "Can you start on Monday?"),
        (seller.pk, "Yes, Monday works."),
    ]
    before = project_state()
    response = client.post(target, {"body": "   "})
    assert response.status_code == 200 and "This field is required." in response.context["form"].errors["body"]
    assert project_state() == before
    # Another seller of the category: 404, even with the project visible to them.
    assert as_(client, seller_in(project.category)).get(target).status_code == 404
    # Withdrawn: the thread is read-only.
    ps.offer_withdraw(seller=seller, offer_id=offer.pk)
    response = as_(client, seller).get(target)
    assert "its thread is closed" in text(response) and response.context["form"] is None
    before = project_state()
    response = client.post(target, {"body": "One more thing"})
    assert "This offer is withdrawn: its thread is closed." in response.context["form"].non_field_errors()
    assert project_state() == before
    assert as_(client, project.buyer).get(url("project-offer", project.pk + 1000, offer.pk)).status_code == 404


# --- accepting: the checkout (payments) -----------------------------------------------------------


def test_the_offer_checkout_shows_the_fees_and_places_one_order(client, project, seller):
    offer = send_offer(project=project, seller=seller)
    other = send_offer(project=project)
    target = url("offer-checkout", offer.pk)
    response = as_(client, project.buyer).get(target)
    assert response.status_code == 200
    page = text(response)
    assert f"Custom offer from {seller.public_name}" in page
    assert "1. Discovery Workshop and brief. $100 2 days 1 Included" in page
    assert "3. Launch Live and handed over. $50 1 day None" in page
    # 5.5 % of $300 = $16.50; no small order fee at $100 or more.
    assert "Subtotal $300 Service fee $16.50 Total $316.50" in page and "Small order fee" not in page
    token = response.context["form"]["checkout_token"].value()
    assert f'value="{token}"' in body(response)

    response = client.post(target, {"checkout_token": str(token)})
    order = Order.objects.get()
    assert response["Location"] == url("order-pay", order.pk)
    assert (order.offer_id, order.buyer, order.seller, order.total_minor, order.service_fee_minor) == (
        offer.pk,
        project.buyer,
        seller,
        31650,
        1650,
    )
    assert list(order.milestones.values_list("name", "price_minor")) == [
        ("Discovery", 10000),
        ("Build", 15000),
        ("Launch", 5000),
    ]
    # The same token again (a double submit): the same order, nothing new.
    before = project_state()
    response = client.post(target, {"checkout_token": str(token)})
    assert response["Location"] == url("order-pay", order.pk)
    assert project_state() == before
    project.refresh_from_db()
    other.refresh_from_db()
    offer.refresh_from_db()
    assert (project.status, offer.status, other.status) == (PS.AWARDED, OS.ACCEPTED, OS.NOT_SELECTED)
    # Coming back to the checkout of the accepted offer: its order.
    assert client.get(target)["Location"] == url("order-pay", order.pk)
    page = text(client.get(url("project-detail", project.pk)))
    assert f"You accepted {seller.public_name}'s offer: order #{order.pk} waits for your payment" in page
    assert "Close to new offers" not in page
    # The pay page is the usual one.
    assert "Pay $316.50" in text(client.get(url("order-pay", order.pk)))


def test_an_offer_past_its_expiry_cannot_be_accepted(client, project, seller):
    offer = send_offer(project=project, seller=seller, expiry_days=1)
    as_(client, project.buyer)
    with time_machine.travel(timezone.now() + timedelta(days=2)):
        page = body(client.get(url("project-detail", project.pk)))
        assert url("offer-checkout", offer.pk) not in page and "expired" in page
        response = client.get(url("offer-checkout", offer.pk))
        assert "This offer has expired." in text(response)
        before = project_state()
        response = client.post(url("offer-checkout", offer.pk), {"checkout_token": str(uuid.uuid4())})
        assert "This offer has expired." in response.context["form"].non_field_errors()
        assert project_state() == before


def test_the_offer_checkout_warns_of_an_offer_over_budget_and_late(client, project, seller):
    within = send_offer(project=project)
    page = as_(client, project.buyer).get(url("offer-checkout", within.pk))
    assert 'data-testid="offer-warning"' not in body(page)
    dear = send_offer(project=project, seller=seller, plan=[M("All of it", "", 45000, 40)])
    page = text(client.get(url("offer-checkout", dear.pk)))
    assert "This offer is over your budget by $50." in page
    assert "10 days after your deadline" in page


def test_the_offer_checkout_refuses_and_changes_nothing(client, project, seller):
    offer = send_offer(project=project, seller=seller)
    target = url("offer-checkout", offer.pk)
    # Only the project's buyer: the seller and others get a 404.
    for user in (seller, seller_in(project.category)):
        assert as_(client, user).get(target).status_code == 404
    as_(client, project.buyer)
    response = client.get(target)
    token = str(response.context["form"]["checkout_token"].value())
    ps.offer_withdraw(seller=seller, offer_id=offer.pk)  # meanwhile
    before = project_state()
    response = client.post(target, {"checkout_token": token})
    assert response.status_code == 200
    assert "This offer is withdrawn." in response.context["form"].non_field_errors()
    assert "This offer is withdrawn." in text(response)
    assert "disabled>Accept and place order" in body(response)
    assert project_state() == before
    response = client.post(target, {"checkout_token": "not-a-uuid"})
    assert response.status_code == 200 and project_state() == before


def test_an_offer_revised_after_the_checkout_opened_is_not_accepted_unseen(client, project, seller):
    offer = send_offer(project=project, seller=seller)
    target = url("offer-checkout", offer.pk)
    response = as_(client, project.buyer).get(target)
    token = str(response.context["form"]["checkout_token"].value())
    assert 'name="revision" value="1"' in body(response)
    # Meanwhile the seller raises the price: the page the buyer accepts from showed version 1.
    ps.offer_revise(seller=seller, offer_id=offer.pk, message="More work.", milestones=[M("All of it", "", 90000, 10)])
    before = project_state()
    response = client.post(target, {"checkout_token": token, "revision": "1"})
    assert response.status_code == 200 and project_state() == before
    assert "The seller revised this offer since you opened it (now version 2)" in text(response)
    # The page now shows version 2 and its total; accepting it places the order at that price.
    assert 'name="revision" value="2"' in body(response) and "$900" in text(response)
    response = client.post(target, {"checkout_token": token, "revision": "2"})
    order = Order.objects.get()
    assert response["Location"] == url("order-pay", order.pk) and order.subtotal_minor == 90000


def test_a_closed_project_cannot_accept(client, project, seller):
    offer = send_offer(project=project, seller=seller)
    ps.project_close(actor=project.buyer, project_id=project.pk)
    as_(client, project.buyer)
    before = project_state()
    response = client.post(url("offer-checkout", offer.pk), {"checkout_token": str(uuid.uuid4())})
    assert "This offer is not selected." in response.context["form"].non_field_errors()
    assert "This project takes no more offers." in text(response)
    assert project_state() == before
