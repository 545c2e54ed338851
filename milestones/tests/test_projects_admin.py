"""The projects admin (issue 7): every project model has a view-only admin whose pages load, the
lists filter and search, money and statuses cannot be edited, and the moderation steps (close a
project, remove an offer) ask for a reason, from the object's page or the list, and go through
project_close / offer_remove: state changed, the audit row written, the user told. Staff without
the permissions are refused and change nothing."""

from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from gigs.tests.factories import CategoryFactory, UserFactory
from milestones import project_services
from milestones.admin import ReadOnlyAdmin
from milestones.models import Notification
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
from milestones.project_services import ProjectMilestoneInput

from .factories import PLAN, accept_offer, post_project, seller_in, send_offer

pytestmark = pytest.mark.django_db

OS, PS = Offer.Status, Project.Status
PROJECT_MODELS = [
    Project,
    ProjectInvite,
    ProjectAttachment,
    ProjectMilestone,
    Offer,
    OfferMilestone,
    OfferRevision,
    OfferMessage,
    ProjectEvent,
]


def admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def texts(response) -> list[str]:
    return [m.message for m in get_messages(response.wsgi_request)]


def fresh(obj):
    return type(obj).objects.get(pk=obj.pk)


@pytest.fixture
def category():
    return CategoryFactory(name="Web design", slug="web-design")


@pytest.fixture
def project(category):
    """An open project with a sketch, an invitation, a brief file, a live offer (revised once,
    with a message each way) and its history."""
    start = timezone.localdate() + timedelta(days=1)  # post_project's start date
    project = post_project(
        category=category,
        title="A bakery website",
        invited=[UserFactory(username="invitee")],
        milestones=[
            ProjectMilestoneInput("Design", 4000, start + timedelta(days=5)),
            ProjectMilestoneInput("Build", 6000, start + timedelta(days=20)),
        ],
        attachments=[SimpleUploadedFile("brief.pdf", b"%PDF-1.4")],
    )
    offer = send_offer(project=project, seller=seller_in(category, username="maker"))
    project_services.offer_revise(seller=offer.seller, offer_id=offer.pk, message="Cheaper now.", milestones=PLAN[:2])
    project_services.offer_message_post(user=project.buyer, offer_id=offer.pk, body="When can you start?")
    project_services.offer_message_post(user=offer.seller, offer_id=offer.pk, body="Monday.")
    return project


@pytest.fixture
def offer(project):
    return Offer.objects.get(project=project)


def staff(*codenames: str):
    user = UserFactory(is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="milestones", codename__in=codenames))
    return user


# --- the pages ------------------------------------------------------------------------------------


def test_every_project_model_has_a_view_only_admin():
    for model in PROJECT_MODELS:
        assert admin.site.is_registered(model), model
        assert isinstance(admin.site._registry[model], ReadOnlyAdmin), model


@pytest.mark.parametrize("model", PROJECT_MODELS, ids=lambda m: m._meta.model_name)
def test_list_and_page_load_and_cannot_add(admin_client, project, model):
    response = admin_client.get(admin_url(model, "changelist"))
    assert response.status_code == 200 and response.context["cl"].result_count >= 1
    obj = model.objects.order_by("pk").last()
    page = admin_client.get(admin_url(model, "change", obj.pk))
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert admin_client.get(admin_url(model, "add")).status_code == 403
    assert admin_client.get(admin_url(model, "delete", obj.pk)).status_code == 403


def test_the_project_page_shows_the_whole_record(admin_client, project, offer):
    body = admin_client.get(admin_url(Project, "change", project.pk)).content.decode()
    for text in ("$250 – $400", "Design", "invitee", "brief.pdf", "maker", "posted", "Close project"):
        assert text in body, text
    assert reverse("admin:milestones_project_close", args=[project.pk]) in body
    offer_page = admin_client.get(admin_url(Offer, "change", offer.pk)).content.decode()
    for text in ("Cheaper now.", "When can you start?", "Monday.", "$250", "Remove offer"):
        assert text in offer_page, text


def test_the_order_page_of_an_offer_order_links_to_its_offer(admin_client, offer):
    from milestones.models import Order

    order = accept_offer(offer)
    body = admin_client.get(admin_url(Order, "change", order.pk)).content.decode()
    assert f'href="{admin_url(Offer, "change", offer.pk)}"' in body
    assert "Custom offer" in body


def test_project_filters_and_search(admin_client, project, category):
    closed = post_project(category=CategoryFactory(), title="A logo", visibility="invite_only")
    project_services.project_close(actor=closed.buyer, project_id=closed.pk)
    url = admin_url(Project, "changelist")

    def found(**params):
        return {p.pk for p in admin_client.get(url, params).context["cl"].result_list}

    assert found() == {project.pk, closed.pk}
    assert found(status__exact="closed") == {closed.pk} and found(status__exact="open") == {project.pk}
    assert found(visibility__exact="invite_only") == {closed.pk}
    assert found(category__id__exact=category.pk) == {project.pk}
    assert found(q="bakery") == {project.pk} and found(q=closed.buyer.username) == {closed.pk}
    assert found(q=str(closed.pk)) == {closed.pk}
    cl = admin_client.get(url).context["cl"]
    for spec in cl.filter_specs:
        for choice in spec.choices(cl):
            assert admin_client.get(url + choice["query_string"]).status_code == 200


def test_offer_filters_and_search(admin_client, project, offer, category):
    declined = send_offer(project=project)
    project_services.offer_decline(buyer=project.buyer, offer_id=declined.pk)
    url = admin_url(Offer, "changelist")

    def found(**params):
        return {o.pk for o in admin_client.get(url, params).context["cl"].result_list}

    assert found(status__exact="declined") == {declined.pk} and found(status__exact="live") == {offer.pk}
    assert found(q="maker") == {offer.pk} and found(q=str(project.pk)) == {offer.pk, declined.pk}
    assert found(project__category__id__exact=category.pk) == {offer.pk, declined.pk}
    events = admin_url(ProjectEvent, "changelist")
    assert admin_client.get(events, {"about": "project"}).context["cl"].result_count == 1  # posted
    assert admin_client.get(events, {"about": "offer"}).context["cl"].result_count >= 3


def test_money_and_status_cannot_be_edited(admin_client, project, offer):
    before = (list(Project.objects.values()), list(Offer.objects.values()), list(OfferMilestone.objects.values()))
    edits = {"status": "closed", "budget_max_minor": "1", "budget_min_minor": "1", "title": "Edited"}
    assert admin_client.post(admin_url(Project, "change", project.pk), edits).status_code == 403
    assert (
        admin_client.post(admin_url(Offer, "change", offer.pk), {"status": "accepted", "total_minor": 1}).status_code
        == 403
    )
    milestone = OfferMilestone.objects.filter(offer=offer).first()
    assert admin_client.post(admin_url(OfferMilestone, "change", milestone.pk), {"price_minor": 1}).status_code == 403
    changelist = admin_url(Project, "changelist")
    admin_client.post(changelist, {"action": "delete_selected", "_selected_action": [project.pk], "post": "yes"})
    assert (list(Project.objects.values()), list(Offer.objects.values()), list(OfferMilestone.objects.values())) == (
        before
    )


def test_changelists_run_constant_queries(admin_client, category):
    def one_more():
        send_offer(project=post_project(category=category))

    def count(model) -> tuple[int, int]:
        """The queries of a changelist and the rows it lists."""
        url = admin_url(model, "changelist")
        admin_client.get(url)
        with CaptureQueriesContext(connection) as ctx:
            response = admin_client.get(url)
        return len(ctx), response.context["cl"].result_count

    models = (Project, Offer, ProjectEvent)
    one_more()
    first = {m: count(m) for m in models}
    for _ in range(4):
        one_more()
    many = {m: count(m) for m in models}
    # The many case lists more rows (5 projects, 5 offers, their events) in the same queries.
    assert (first[Project][1], first[Offer][1], many[Project][1], many[Offer][1]) == (1, 1, 5, 5)
    assert many[ProjectEvent][1] == 5 * first[ProjectEvent][1] > 0
    assert {m: q for m, (q, _) in many.items()} == {m: q for m, (q, _) in first.items()}


# --- moderation -----------------------------------------------------------------------------------


class TestCloseProject:
    def test_from_the_page_with_a_reason(self, admin_client, admin_user, project, offer):
        url = reverse("admin:milestones_project_close", args=[project.pk])
        form = admin_client.get(url)
        assert form.status_code == 200 and "reason" in form.context["form"].fields
        assert project.title in form.content.decode()
        # No reason: the form comes back and nothing changes.
        again = admin_client.post(url, {"reason": ""})
        assert again.status_code == 200 and again.context["form"].errors
        assert fresh(project).status == PS.OPEN and fresh(offer).status == OS.LIVE
        done = admin_client.post(url, {"reason": "Spam: asks for free work"})
        assert done.status_code == 302 and done["Location"] == admin_url(Project, "change", project.pk)
        project = fresh(project)
        assert (project.status, project.closed_by, project.closed_reason) == (
            PS.CLOSED,
            admin_user,
            "Spam: asks for free work",
        )
        event = ProjectEvent.objects.get(project=project, offer=None, to_status=PS.CLOSED)
        assert (event.actor, event.from_status, event.reason) == (
            admin_user,
            PS.OPEN,
            "closed by a moderator: Spam: asks for free work",
        )
        assert fresh(offer).status == OS.NOT_SELECTED
        assert Notification.objects.filter(user=project.buyer, kind="project_closed").count() == 1
        assert Notification.objects.filter(user=offer.seller, kind="offer_not_selected").count() == 1
        assert any("done" in t for t in texts(done))
        # Closed: no button any more.
        page = admin_client.get(admin_url(Project, "change", project.pk)).content.decode()
        assert url not in page

    def test_an_awarded_project_closes_and_its_order_goes_on(self, admin_client, project, offer):
        order = accept_offer(offer)
        url = reverse("admin:milestones_project_close", args=[project.pk])
        assert admin_client.post(url, {"reason": "Buyer asked us"}).status_code == 302
        assert fresh(project).status == PS.CLOSED and fresh(offer).status == OS.ACCEPTED
        assert fresh(order).status == order.status

    def test_from_the_list_with_an_intermediate_form(self, admin_client, admin_user, project, category):
        other = post_project(category=category, title="Another")
        already = post_project(category=category, title="Done before")
        project_services.project_close(actor=already.buyer, project_id=already.pk)
        changelist = admin_url(Project, "changelist")
        selected = [project.pk, other.pk, already.pk]
        ask = admin_client.post(changelist, {"action": "close_projects", "_selected_action": selected})
        assert ask.status_code == 200 and "reason" in ask.context["form"].fields
        assert {o["pk"] for o in ask.context["objects"]} == set(selected)
        assert fresh(project).status == PS.OPEN
        empty = admin_client.post(changelist, {"action": "close_projects", "_selected_action": selected, "apply": "1"})
        assert empty.status_code == 200 and empty.context["form"].errors and fresh(other).status == PS.OPEN
        done = admin_client.post(
            changelist,
            {"action": "close_projects", "_selected_action": selected, "apply": "1", "reason": "Duplicate posts"},
        )
        assert done.status_code == 302
        assert {p.status for p in Project.objects.all()} == {PS.CLOSED}
        assert ProjectEvent.objects.filter(actor=admin_user, to_status=PS.CLOSED).count() == 2
        assert fresh(already).closed_by == already.buyer  # it was closed already: untouched
        assert any("nothing to do" in t for t in texts(done))


class TestRemoveOffer:
    def test_from_the_page_with_a_reason(self, admin_client, admin_user, project, offer):
        url = reverse("admin:milestones_offer_remove", args=[offer.pk])
        form = admin_client.get(url)
        assert form.status_code == 200 and "reason" in form.context["form"].fields
        assert admin_client.post(url, {}).context["form"].errors and fresh(offer).status == OS.LIVE
        done = admin_client.post(url, {"reason": "Off-platform contact details"})
        assert done.status_code == 302
        assert fresh(offer).status == OS.REMOVED
        event = ProjectEvent.objects.get(offer=offer, to_status=OS.REMOVED)
        assert (event.actor, event.from_status, event.reason) == (
            admin_user,
            OS.LIVE,
            "removed by a moderator: Off-platform contact details",
        )
        note = Notification.objects.get(user=offer.seller, kind="offer_removed")
        assert "Off-platform contact details" in note.text
        assert fresh(project).status == PS.OPEN  # only the offer goes

    def test_an_accepted_offer_is_refused_and_unchanged(self, admin_client, project, offer):
        accept_offer(offer)
        changelist = admin_url(Offer, "changelist")
        before = list(ProjectEvent.objects.values_list("pk", flat=True))
        done = admin_client.post(
            changelist, {"action": "remove_offers", "_selected_action": [offer.pk], "apply": "1", "reason": "Spam"}
        )
        assert done.status_code == 302 and fresh(offer).status == OS.ACCEPTED
        assert list(ProjectEvent.objects.values_list("pk", flat=True)) == before
        assert any("nothing to do" in t for t in texts(done))
        # The service refuses it too (the page's button is not offered on an accepted offer).
        url = reverse("admin:milestones_offer_remove", args=[offer.pk])
        assert url not in admin_client.get(admin_url(Offer, "change", offer.pk)).content.decode()

    def test_from_the_list(self, admin_client, project, offer):
        second = send_offer(project=project)
        changelist = admin_url(Offer, "changelist")
        selected = [offer.pk, second.pk]
        ask = admin_client.post(changelist, {"action": "remove_offers", "_selected_action": selected})
        assert ask.status_code == 200 and {o["pk"] for o in ask.context["objects"]} == set(selected)
        body = {"action": "remove_offers", "_selected_action": selected, "apply": "1", "reason": "Copy-paste spam"}
        assert admin_client.post(changelist, body).status_code == 302
        assert {o.status for o in Offer.objects.filter(pk__in=selected)} == {OS.REMOVED}
        assert ProjectEvent.objects.filter(offer__in=selected, to_status=OS.REMOVED).count() == 2


class TestPermissions:
    def test_staff_without_permissions_is_refused(self, client, project, offer):
        client.force_login(staff())
        assert client.get(admin_url(Project, "changelist")).status_code == 403
        assert client.get(admin_url(Offer, "change", offer.pk)).status_code == 403
        assert (
            client.post(reverse("admin:milestones_project_close", args=[project.pk]), {"reason": "x"}).status_code
            == 403
        )
        assert (
            client.post(reverse("admin:milestones_offer_remove", args=[offer.pk]), {"reason": "x"}).status_code == 403
        )
        assert fresh(project).status == PS.OPEN and fresh(offer).status == OS.LIVE

    def test_view_permission_alone_sees_but_cannot_moderate(self, client, project, offer):
        client.force_login(staff("view_project", "view_offer"))
        page = client.get(admin_url(Project, "change", project.pk))
        close_url = reverse("admin:milestones_project_close", args=[project.pk])
        assert page.status_code == 200 and close_url not in page.content.decode()
        assert client.get(close_url).status_code == 403
        assert client.post(close_url, {"reason": "x"}).status_code == 403
        changelist = client.get(admin_url(Project, "changelist"))
        assert "close_projects" not in changelist.content.decode()
        client.post(
            admin_url(Project, "changelist"),
            {"action": "close_projects", "_selected_action": [project.pk], "apply": "1", "reason": "x"},
        )
        remove_url = reverse("admin:milestones_offer_remove", args=[offer.pk])
        assert client.post(remove_url, {"reason": "x"}).status_code == 403
        assert fresh(project).status == PS.OPEN and fresh(offer).status == OS.LIVE
        assert not ProjectEvent.objects.filter(to_status__in=[PS.CLOSED, OS.REMOVED]).exists()

    def test_a_moderator_with_the_permissions_moderates(self, client, project, offer):
        moderator = staff("view_project", "change_project", "view_offer", "change_offer")
        client.force_login(moderator)
        remove_url = reverse("admin:milestones_offer_remove", args=[offer.pk])
        assert client.post(remove_url, {"reason": "Rude message"}).status_code == 302
        close_url = reverse("admin:milestones_project_close", args=[project.pk])
        assert client.post(close_url, {"reason": "Against the rules"}).status_code == 302
        assert (fresh(offer).status, fresh(project).status) == (OS.REMOVED, PS.CLOSED)
        assert fresh(project).closed_by == moderator
