"""The milestones admin: template pages, the gig's plan shown read-only on the gig page, the
per-package terms list, and the view-only lists of order milestones, deliveries, requests, the
history, the workspace and notifications (constant queries at 1 and 5 rows)."""

import json

import pytest
from django.contrib import admin
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from gigs.models import Category, Gig, Package
from gigs.tests.factories import CategoryFactory, GigFactory, UserFactory
from marketplace.money import format_money
from milestones import builtin, services
from milestones import lifecycle as states
from milestones.admin import GigMilestoneInline, GigWithPlanAdmin, ReadOnlyAdmin
from milestones.models import (
    CancellationRequest,
    Delivery,
    DeliveryFile,
    GigMilestone,
    GigMilestonePackage,
    MessageAttachment,
    MilestoneNote,
    MilestoneTemplate,
    Notification,
    Order,
    OrderEvent,
    OrderMessage,
    OrderMilestone,
    RevisionRequest,
    Task,
    TeamMember,
)
from milestones.notifications import notify
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
from milestones.services import MilestoneInput, MilestoneTerms
from payments.tests.factories import pay, place_order

pytestmark = pytest.mark.django_db

TIERS = list(Package.TIER_ORDER)


def admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def results(response) -> list:
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


def ms(name, basic=(600, 2, 1), standard=(1000, 3, 1), premium=(1500, 4, 2), video_call=False) -> MilestoneInput:
    packages = {t: MilestoneTerms(*terms) for t, terms in zip(TIERS, (basic, standard, premium), strict=True) if terms}
    return MilestoneInput(name=name, video_call=video_call, packages=packages)


def gig_with_plan(*names: str, **factory) -> Gig:
    gig = GigFactory(priced=True, milestone_payments=True, **factory)
    services.plan_replace(gig=gig, milestones=[ms(n) for n in names], milestone_payments=True)
    return Gig.objects.get(pk=gig.pk)


def change_form_data(response) -> dict:
    """What the browser would post back from an admin change page: the main form's values and
    every inline's management form and rows, unchanged."""
    data = {}
    form = response.context["adminform"].form
    for name in form.fields:
        value = form[name].value()
        if value is True:
            data[name] = "on"
        elif value not in (None, False):
            data[name] = value
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        for name in formset.management_form.fields:
            data[f"{formset.prefix}-{name}"] = formset.management_form[name].value()
        for f in formset.forms:
            for name in f.fields:
                value = f[name].value()
                if value not in (None, False):
                    data[f.add_prefix(name)] = value.pk if hasattr(value, "pk") else value
    return data


VIEW_ONLY = [
    GigMilestone,
    OrderMilestone,
    Delivery,
    DeliveryFile,
    RevisionRequest,
    CancellationRequest,
    OrderEvent,
    TeamMember,
    Task,
    MilestoneNote,
    OrderMessage,
    MessageAttachment,
    Notification,
    # Buyer projects and offers (issue 7): moderators close and remove through buttons and
    # actions that call the services (milestones/tests/test_projects_admin.py).
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


def test_registered_models():
    registered = {m for m in admin.site._registry if m._meta.app_label == "milestones"}
    assert registered == {MilestoneTemplate, GigMilestonePackage, Order, *VIEW_ONLY}
    assert isinstance(admin.site._registry[Gig], GigWithPlanAdmin)
    # Statuses, money, history and the parties' records are written only by the services.
    assert all(isinstance(admin.site._registry[m], ReadOnlyAdmin) for m in VIEW_ONLY)


class TestTemplateAdmin:
    def test_changelist_lists_builtins_and_sellers_templates(self, admin_client):
        seller = UserFactory(username="maker")
        services.template_save(owner=seller, name="Maker flow", milestones=[ms("A"), ms("B")])
        url = admin_url(MilestoneTemplate, "changelist")
        listed = results(admin_client.get(url))
        assert {t.name for t in listed} == {"Logo design", "Website", "Video", "Writing", "Two stages", "Maker flow"}
        body = admin_client.get(url).content.decode()
        assert "Maker flow" in body and "maker" in body

        builtins = results(admin_client.get(url, {"owner__isempty": "1"}))
        assert sorted(t.name for t in builtins) == ["Logo design", "Two stages", "Video", "Website", "Writing"]
        assert [t.name for t in results(admin_client.get(url, {"owner__isempty": "0"}))] == ["Maker flow"]
        assert [t.name for t in results(admin_client.get(url, {"q": "maker"}))] == ["Maker flow"]

    def test_changelist_shows_and_filters_by_category(self, admin_client):
        design = CategoryFactory(slug="graphics-design", name="Graphics & Design")
        builtin.link_categories(MilestoneTemplate, Category)
        url = admin_url(MilestoneTemplate, "changelist")
        response = admin_client.get(url)
        assert "Graphics &amp; Design" in response.content.decode()
        assert "category" in response.context["cl"].list_display
        assert [t.name for t in results(admin_client.get(url, {"category__id__exact": design.pk}))] == ["Logo design"]
        assert len(results(admin_client.get(url, {"category__isnull": "True"}))) == 4

    def test_admin_sets_a_builtin_templates_category(self, admin_client):
        music = CategoryFactory(slug="music-audio", name="Music & Audio")
        template = MilestoneTemplate.objects.get(owner__isnull=True, name="Two stages")
        response = admin_client.get(admin_url(MilestoneTemplate, "change", template.pk))
        data = {
            "name": template.name,
            "description": template.description,
            "category": music.pk,
            "milestones": json.dumps(template.milestones),
        }
        response = admin_client.post(admin_url(MilestoneTemplate, "change", template.pk), data)
        assert response.status_code == 302, response.context["adminform"].form.errors
        template.refresh_from_db()
        assert template.category == music

    def test_milestone_count_column(self, admin_client):
        response = admin_client.get(admin_url(MilestoneTemplate, "changelist"), {"q": "Two stages"})
        (template,) = results(response)
        model_admin = admin.site._registry[MilestoneTemplate]
        assert model_admin.milestone_count(template) == 2

    def test_change_and_add_pages_render(self, admin_client):
        builtin = MilestoneTemplate.objects.get(owner__isnull=True, name="Website")
        own = services.template_save(owner=UserFactory(), name="Own", milestones=[ms("A")])
        for template in (builtin, own):
            response = admin_client.get(admin_url(MilestoneTemplate, "change", template.pk))
            assert response.status_code == 200
            assert response.context["adminform"].form.instance == template
        body = admin_client.get(admin_url(MilestoneTemplate, "change", builtin.pk)).content.decode()
        assert "Development" in body  # the stored milestones are shown
        assert admin_client.get(admin_url(MilestoneTemplate, "add")).status_code == 200

    def test_admin_adds_a_builtin_template_checked_by_the_builder_rules(self, admin_client):
        stored = [m.to_data() for m in (ms("Sketch"), ms("Final"))]
        response = admin_client.post(
            admin_url(MilestoneTemplate, "add"),
            {"name": "Illustration", "description": "Sketch, final.", "milestones": json.dumps(stored)},
        )
        assert response.status_code == 302, response.context["adminform"].form.errors
        template = MilestoneTemplate.objects.get(name="Illustration")
        assert template.owner is None and template.is_builtin
        assert [m.name for m in services.template_milestones(template)] == ["Sketch", "Final"]

    @pytest.mark.parametrize(
        ("stored", "message"),
        [
            ({"a": 1}, "list of milestone objects"),
            (["x"], "list of milestone objects"),
            ([], "This field is required"),
            ([{"name": "A", "packages": {"basic": {"price_minor": 1, "delivery_days": 1}}}], "costs at least"),
            ([{"name": "", "packages": {"basic": {"price_minor": 900, "delivery_days": 1}}}], "Name this milestone"),
        ],
    )
    def test_admin_refuses_a_template_the_builder_could_not_apply(self, admin_client, stored, message):
        count = MilestoneTemplate.objects.count()
        response = admin_client.post(
            admin_url(MilestoneTemplate, "add"), {"name": "Broken", "description": "", "milestones": json.dumps(stored)}
        )
        assert response.status_code == 200
        assert message in " ".join(response.context["adminform"].form.errors["milestones"])
        assert MilestoneTemplate.objects.count() == count

    def test_changelist_query_count_is_constant(self, admin_client):
        url = admin_url(MilestoneTemplate, "changelist")
        admin_client.get(url)  # warm up one-off caches
        with CaptureQueriesContext(connection) as few:
            assert admin_client.get(url).status_code == 200
        for i in range(20):
            services.template_save(owner=UserFactory(), name=f"Flow {i}", milestones=[ms("A")])
        with CaptureQueriesContext(connection) as many:
            response = admin_client.get(url)
        assert response.context["cl"].result_count == 25
        assert len(many) == len(few), [q["sql"] for q in many.captured_queries]


class TestGigPlanInline:
    def test_gig_change_page_shows_the_plan_read_only(self, admin_client):
        gig = gig_with_plan("Concepts", "Refinement", "Final files")
        response = admin_client.get(admin_url(Gig, "change", gig.pk))
        assert response.status_code == 200
        inlines = {i.formset.prefix: i for i in response.context["inline_admin_formsets"]}
        plan = inlines["plan_milestones"]
        assert [f.instance.name for f in plan.formset.forms] == ["Concepts", "Refinement", "Final files"]
        # Nothing of a milestone is editable, and none can be added or deleted here.
        editable = {name for f in plan.formset.forms for name in f.fields} - {"id", "gig"}
        assert editable == set()
        assert plan.formset.can_delete is False and plan.has_add_permission is False
        body = response.content.decode()
        assert "basic: $6, 2d, 1 rev; standard: $10, 3d, 1 rev; premium: $15, 4d, 2 rev" in body

    @pytest.mark.parametrize(
        ("currency", "expected"),
        [
            ("USD", "basic: $6.50, 2d, 1 rev"),
            ("JPY", "basic: ¥650, 2d, 1 rev"),  # no minor unit: not 6.50
            ("KWD", "basic: 0.650 KWD, 2d, 1 rev"),  # three decimals
        ],
    )
    def test_inline_prices_use_the_currencys_decimals(self, admin_client, currency, expected):
        gig = GigFactory(priced=True, milestone_payments=True, currency=currency)
        plan = [ms("A", basic=(650, 2, 1)), ms("B")]
        services.plan_replace(gig=gig, milestones=plan, milestone_payments=False)
        body = admin_client.get(admin_url(Gig, "change", gig.pk)).content.decode()
        assert expected in body

    def test_inline_terms_do_not_query_per_milestone(self, admin_client):
        two, five = gig_with_plan("A", "B"), gig_with_plan("A", "B", "C", "D", "E")
        admin_client.get(admin_url(Gig, "change", two.pk))  # warm up
        with CaptureQueriesContext(connection) as small:
            admin_client.get(admin_url(Gig, "change", two.pk))
        with CaptureQueriesContext(connection) as big:
            admin_client.get(admin_url(Gig, "change", five.pk))
        assert len(big) == len(small), [q["sql"] for q in big.captured_queries]

    def test_saving_the_gig_in_admin_keeps_the_plan(self, admin_client):
        gig = gig_with_plan("A", "B", "C")
        url = admin_url(Gig, "change", gig.pk)
        data = change_form_data(admin_client.get(url))
        data["title"] = "A corrected title for this gig"
        response = admin_client.post(url, data)
        assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
        gig.refresh_from_db()
        assert gig.title == "A corrected title for this gig"
        assert list(GigMilestone.objects.filter(gig=gig).values_list("name", flat=True)) == ["A", "B", "C"]
        assert GigMilestonePackage.objects.filter(milestone__gig=gig).count() == 9
        assert gig.plan_milestone_count == 3 and gig.milestone_payments is True

    def test_milestone_payments_cannot_be_switched_in_admin(self, admin_client):
        """The switch changes how the gig is sold and priced; the plan rules are checked only by
        plan_replace, so admin must not flip it behind them (a live gig would sell in milestones
        with no plan, or stop deriving prices from one)."""
        gig = GigFactory(published=True, milestone_payments=False)
        url = admin_url(Gig, "change", gig.pk)
        data = change_form_data(admin_client.get(url))
        data["milestone_payments"] = "on"
        admin_client.post(url, data)
        gig.refresh_from_db()
        assert gig.milestone_payments is False

    def test_gig_changelist_shows_the_plan_size(self, admin_client):
        gig_with_plan("A", "B", "C", title="I will plan in three stages")
        response = admin_client.get(admin_url(Gig, "changelist"), {"q": "three stages"})
        assert [g.plan_milestone_count for g in results(response)] == [3]
        assert "column-plan_milestone_count" in response.content.decode()

    def test_inline_class_is_read_only(self):
        inline = GigMilestoneInline(Gig, admin.site)
        assert set(inline.readonly_fields) == set(inline.fields)
        assert inline.has_add_permission(request=None) is False


class TestMilestonePackageAdmin:
    def test_changelist_search_and_filter(self, admin_client):
        gig_with_plan("Sketches", "Final art", title="I will paint your portrait")
        gig_with_plan("Outline", "Draft", title="I will write your essay")
        url = admin_url(GigMilestonePackage, "changelist")
        assert len(results(admin_client.get(url))) == 12
        sketches = results(admin_client.get(url, {"q": "Sketches"}))
        assert sorted(r.tier for r in sketches) == sorted(TIERS)
        assert len(results(admin_client.get(url, {"q": "essay"}))) == 6
        premium = results(admin_client.get(url, {"tier__exact": "premium"}))
        assert len(premium) == 4 and {r.tier for r in premium} == {"premium"}
        body = admin_client.get(url, {"q": "Sketches"}).content.decode()
        assert "1. Sketches" in body

    def test_rows_are_read_only_and_cannot_be_added(self, admin_client):
        gig = gig_with_plan("A", "B")
        row = GigMilestonePackage.objects.filter(milestone__gig=gig).first()
        response = admin_client.get(admin_url(GigMilestonePackage, "change", row.pk))
        assert response.status_code == 200
        editable = set(response.context["adminform"].form.fields)
        assert not editable & {"milestone", "tier", "price_minor", "delivery_days", "revisions"}
        assert admin_client.get(admin_url(GigMilestonePackage, "add")).status_code == 403

    def test_changelist_query_count_is_constant(self, admin_client):
        gig_with_plan("A", "B")
        url = admin_url(GigMilestonePackage, "changelist")
        admin_client.get(url)  # warm up one-off caches
        with CaptureQueriesContext(connection) as few:
            assert admin_client.get(url).status_code == 200
        for _ in range(5):
            gig_with_plan("A", "B", "C")
        with CaptureQueriesContext(connection) as many:
            response = admin_client.get(url)
        assert response.context["cl"].result_count == 6 + 5 * 9
        assert len(many) == len(few), [q["sql"] for q in many.captured_queries]


# --- the lifecycle, workspace and notifications: view-only lists -----------------------------------


def plain_order(*, paid: bool = False) -> Order:
    """An order of a gig sold as plain packages: one milestone, its own buyer, seller and gig."""
    order = place_order(gig=GigFactory(published=True))
    if paid:
        pay(order)
    return order


def delivered(order: Order) -> Delivery:
    milestone = order.milestones.get()
    return states.milestone_deliver(
        milestone_id=milestone.pk,
        seller=order.seller,
        message="Here it is.",
        files=[SimpleUploadedFile("logo.png", b"png"), SimpleUploadedFile("logo.svg", b"<svg/>")],
    )


def told(order: Order) -> Notification:
    return notify(
        user=order.buyer,
        kind="milestone_delivered",
        text=f"Order #{order.pk}: delivered.",
        dedupe_key=f"admin-test-{order.pk}",
        order=order,
        milestone=order.milestones.get(),
    )


HEAVY = {
    OrderMilestone: lambda: plain_order(),
    Notification: lambda: told(plain_order()),
    Delivery: lambda: delivered(plain_order(paid=True)),
}


@pytest.mark.parametrize("model", list(HEAVY), ids=lambda m: m._meta.model_name)
def test_heavy_changelists_keep_a_constant_number_of_queries(admin_client, django_assert_num_queries, model):
    make = HEAVY[model]
    make()
    url = admin_url(model, "changelist")
    admin_client.get(url)  # warm up one-off caches
    with CaptureQueriesContext(connection) as one:
        assert admin_client.get(url).context["cl"].result_count == 1
    for _ in range(4):
        make()  # each with its own order, buyer, seller and gig
    with django_assert_num_queries(len(one)):
        response = admin_client.get(url)
    assert response.context["cl"].result_count == 5
    # Searching and filtering join more tables, still once for the whole page.
    with CaptureQueriesContext(connection) as searched_one:
        admin_client.get(url, {"q": "no such thing"})
    with django_assert_num_queries(len(searched_one)):
        admin_client.get(url, {"q": "a"})


def test_order_milestone_list_shows_parties_price_and_state(admin_client):
    order = plain_order(paid=True)
    url = admin_url(OrderMilestone, "changelist")
    response = admin_client.get(url, {"q": order.seller.username})
    (row,) = results(response)
    assert row.order == order and row.status == OrderMilestone.Status.IN_PROGRESS
    body = response.content.decode()
    assert order.buyer.username in body and format_money(row.price_minor, order.currency) in body
    assert [m.pk for m in results(admin_client.get(url, {"q": str(order.pk)}))] == [row.pk]
    assert results(admin_client.get(url, {"status__exact": "delivered"})) == []
    assert [m.pk for m in results(admin_client.get(url, {"status__exact": "in_progress"}))] == [row.pk]


def test_delivery_list_counts_files_and_names_them_without_links(admin_client):
    delivery = delivered(plain_order(paid=True))
    response = admin_client.get(admin_url(Delivery, "changelist"))
    (row,) = results(response)
    assert row.file_count == 2
    page = admin_client.get(admin_url(Delivery, "change", delivery.pk)).content.decode()
    assert "logo.png" in page and "logo.svg" in page
    # Downloads are for the order's parties only: no link to the stored file anywhere here.
    stored = delivery.files.first().file
    assert stored.url not in page
    file_page = admin_client.get(admin_url(DeliveryFile, "change", delivery.files.first().pk)).content.decode()
    assert "logo.png" in file_page and stored.url not in file_page


def test_notification_filters(admin_client):
    first, second = told(plain_order()), told(plain_order())
    Notification.objects.filter(pk=first.pk).update(read_at=first.created_at)
    url = admin_url(Notification, "changelist")
    assert [n.pk for n in results(admin_client.get(url, {"read_at__isempty": "0"}))] == [first.pk]
    assert [n.pk for n in results(admin_client.get(url, {"read_at__isempty": "1"}))] == [second.pk]
    assert [n.pk for n in results(admin_client.get(url, {"q": second.user.username}))] == [second.pk]


@pytest.mark.parametrize("model", [OrderMilestone, Delivery, Notification], ids=lambda m: m._meta.model_name)
def test_lifecycle_rows_cannot_be_changed_added_or_deleted(admin_client, model):
    delivery = delivered(plain_order(paid=True))
    obj = {OrderMilestone: delivery.milestone, Delivery: delivery, Notification: told(delivery.milestone.order)}[model]
    before = model.objects.filter(pk=obj.pk).values().get()
    change = admin_url(model, "change", obj.pk)
    edits = {"status": "accepted", "price_minor": "1", "message": "edited", "text": "edited", "read_at": ""}
    assert admin_client.post(change, edits).status_code == 403
    assert admin_client.post(admin_url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    assert admin_client.post(admin_url(model, "add"), edits).status_code == 403
    assert model.objects.filter(pk=obj.pk).values().get() == before
    page = admin_client.get(change)
    assert page.status_code == 200 and b'name="_save"' not in page.content
