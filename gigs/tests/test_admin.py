"""The gigs admin: every page renders, search/filters work, lists don't N+1, actions call services."""

import pytest
from django.contrib import admin
from django.contrib.messages import get_messages
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from gigs.models import Gig, GigRequirement, Package, User
from gigs.services import gig_set_requirements
from gigs.tests.factories import CategoryFactory, GigFactory, GigFaqFactory, UserFactory

pytestmark = pytest.mark.django_db

GIG_CHANGELIST = reverse("admin:gigs_gig_changelist")


def gigs_model_admins() -> list:
    return sorted(
        (ma for model, ma in admin.site._registry.items() if model._meta.app_label == "gigs"),
        key=lambda ma: ma.model._meta.model_name,
    )


def admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def results(response) -> list:
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


@pytest.fixture
def some_rows():
    """A few rows of every gigs model: users with profiles, categories, gigs in each state, FAQs,
    checkout questions."""
    live = GigFactory(published=True, title="I will design a minimalist logo")
    GigFaqFactory(gig=live)
    gig_set_requirements(gig=live, requirements=[("Your brand name?", True), ("Colours you like?", False)])
    GigFactory(priced=True, title="I will write your blog post")
    GigFactory(published=True, status=Gig.Status.PAUSED, title="I will edit your podcast")
    GigFactory(title="I will translate your website")  # a draft without packages
    return live


def test_every_gigs_model_is_registered():
    names = {ma.model._meta.model_name for ma in gigs_model_admins()}
    assert names == {"user", "sellerprofile", "category", "gig", "package", "gigfaq", "gigrequirement"}


@pytest.mark.parametrize("model_admin", gigs_model_admins(), ids=lambda ma: ma.model._meta.model_name)
def test_changelist_and_add_pages_render(admin_client, admin_user, some_rows, model_admin):
    model = model_admin.model
    response = admin_client.get(admin_url(model, "changelist"))
    assert response.status_code == 200
    assert response.context["cl"].result_count >= 1

    request = RequestFactory().get("/")
    request.user = admin_user
    add = admin_client.get(admin_url(model, "add"))
    # Adding may be switched off for a model that only services should create; then it must say so.
    assert add.status_code == (200 if model_admin.has_add_permission(request) else 403)


@pytest.mark.parametrize("model_admin", gigs_model_admins(), ids=lambda ma: ma.model._meta.model_name)
def test_change_page_renders(admin_client, some_rows, model_admin):
    obj = model_admin.model.objects.order_by("pk").last()
    assert admin_client.get(admin_url(model_admin.model, "change", obj.pk)).status_code == 200


def test_gig_change_page_shows_its_packages_inline(admin_client):
    gig = GigFactory(published=True)
    GigFaqFactory(gig=gig, question="Do you sign an NDA?")
    response = admin_client.get(admin_url(Gig, "change", gig.pk))
    assert response.status_code == 200
    inlines = {fs.formset.prefix: fs.formset for fs in response.context["inline_admin_formsets"]}
    assert sorted(f.instance.tier for f in inlines["packages"].forms) == sorted(Package.TIER_ORDER)
    assert [f.instance.question for f in inlines["faqs"].forms] == ["Do you sign an NDA?"]
    body = response.content.decode()
    assert "Basic package" in body and "Do you sign an NDA?" in body
    # Status changes go through the publish/pause services, never a form field.
    assert "status" not in response.context["adminform"].form.fields


def test_gig_changelist_search_and_status_filter(admin_client, some_rows):
    assert [g.title for g in results(admin_client.get(GIG_CHANGELIST, {"q": "minimalist"}))] == [some_rows.title]
    assert results(admin_client.get(GIG_CHANGELIST, {"q": some_rows.seller.username})) == [some_rows]
    assert results(admin_client.get(GIG_CHANGELIST, {"q": "nothing-matches-this"})) == []

    drafts = results(admin_client.get(GIG_CHANGELIST, {"status__exact": "draft"}))
    assert sorted(g.title for g in drafts) == ["I will translate your website", "I will write your blog post"]
    assert [g.title for g in results(admin_client.get(GIG_CHANGELIST, {"status__exact": "paused"}))] == [
        "I will edit your podcast"
    ]


def test_gig_changelist_search_does_not_duplicate_rows(admin_client):
    # Searching across joined fields must not repeat a gig once per package.
    gig = GigFactory(published=True, title="I will animate your logo")
    assert results(admin_client.get(GIG_CHANGELIST, {"q": "animate"})) == [gig]


def test_gig_changelist_shows_the_starting_price(admin_client):
    GigFactory(published=True)
    GigFactory(title="I will have no packages yet")
    body = admin_client.get(GIG_CHANGELIST).content.decode()
    assert "$25" in body and "—" in body


def test_other_changelist_searches(admin_client, some_rows):
    packages = results(admin_client.get(admin_url(Package, "changelist"), {"q": "minimalist"}))
    assert sorted(p.pk for p in packages) == sorted(some_rows.packages.values_list("pk", flat=True))
    users = results(admin_client.get(admin_url(User, "changelist"), {"q": some_rows.seller.username}))
    assert users == [some_rows.seller]


def test_requirement_changelist_search_and_filter(admin_client, some_rows):
    url = admin_url(GigRequirement, "changelist")
    assert [r.question for r in results(admin_client.get(url, {"q": "brand"}))] == ["Your brand name?"]
    assert len(results(admin_client.get(url, {"q": "minimalist"}))) == 2  # by the gig's title
    assert [r.question for r in results(admin_client.get(url, {"required__exact": "0"}))] == ["Colours you like?"]


def test_requirement_can_be_corrected_but_not_added_here(admin_client, some_rows):
    question = GigRequirement.objects.get(question="Your brand name?")
    url = admin_url(GigRequirement, "change", question.pk)
    data = {"gig": some_rows.pk, "question": "Your brand's name?", "required": "on", "position": "0"}
    assert admin_client.post(url, data).status_code == 302
    question.refresh_from_db()
    assert question.question == "Your brand's name?"
    # A gig's questions are set together by gig_set_requirements (which checks how many).
    assert admin_client.get(admin_url(GigRequirement, "add")).status_code == 403


@pytest.mark.parametrize("model", [Gig, Package, User, GigRequirement])
def test_changelist_query_count_is_constant(admin_client, django_assert_num_queries, model):
    def some_gigs(n):
        for gig in GigFactory.create_batch(n, published=True):  # each with its own seller and category
            gig_set_requirements(gig=gig, requirements=[("Your brand name?", True)])

    some_gigs(1)
    url = admin_url(model, "changelist")
    admin_client.get(url)  # warm up one-off caches
    with CaptureQueriesContext(connection) as one:
        assert admin_client.get(url).status_code == 200
    some_gigs(29)
    with django_assert_num_queries(len(one)):
        response = admin_client.get(url)
    assert response.context["cl"].result_count >= 30


def test_pause_action_pauses_published_gigs_and_leaves_drafts_alone(admin_client):
    live = GigFactory(published=True)
    draft = GigFactory(priced=True)
    response = admin_client.post(GIG_CHANGELIST, {"action": "pause_gigs", "_selected_action": [live.pk, draft.pk]})
    assert response.status_code == 302
    live.refresh_from_db()
    draft.refresh_from_db()
    assert live.status == Gig.Status.PAUSED and live.published_at is not None
    assert draft.status == Gig.Status.DRAFT and draft.published_at is None
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["Paused 1 gig(s)."]


def test_pause_action_on_an_already_paused_gig_is_a_no_op(admin_client):
    paused = GigFactory(published=True, status=Gig.Status.PAUSED)
    response = admin_client.post(GIG_CHANGELIST, {"action": "pause_gigs", "_selected_action": [paused.pk]})
    assert response.status_code == 302
    assert Gig.objects.get(pk=paused.pk).status == Gig.Status.PAUSED
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["Paused 0 gig(s)."]


def test_admin_edit_cannot_change_status(admin_client):
    gig = GigFactory(published=True)
    url = admin_url(Gig, "change", gig.pk)
    form = admin_client.get(url).context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    data = {k: ("" if v is None else v) for k, v in data.items()}
    data.update(
        {
            "title": "A corrected title for this gig",
            "status": Gig.Status.DRAFT,
            "packages-TOTAL_FORMS": "0",
            "packages-INITIAL_FORMS": "0",
            "faqs-TOTAL_FORMS": "0",
            "faqs-INITIAL_FORMS": "0",
            "requirements-TOTAL_FORMS": "0",
            "requirements-INITIAL_FORMS": "0",
            # the milestones app adds the gig's plan inline (read-only) to this page
            "plan_milestones-TOTAL_FORMS": "0",
            "plan_milestones-INITIAL_FORMS": "0",
        }
    )
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    gig.refresh_from_db()
    assert gig.title == "A corrected title for this gig" and gig.status == Gig.Status.PUBLISHED


def test_non_staff_user_is_sent_to_the_admin_login(client):
    client.force_login(UserFactory())
    for url in (reverse("admin:index"), GIG_CHANGELIST):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"] == f"{reverse('admin:login')}?next={url}"


def test_anonymous_is_sent_to_the_admin_login(client):
    response = client.get(GIG_CHANGELIST)
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))


def test_categories_can_be_reordered_from_the_list(admin_client):
    a = CategoryFactory(name="Alpha", slug="alpha", position=1)
    b = CategoryFactory(name="Beta", slug="beta", position=2)
    url = admin_url(a, "changelist")
    data = {
        "form-TOTAL_FORMS": "2",
        "form-INITIAL_FORMS": "2",
        "form-0-id": str(a.pk),
        "form-0-position": "5",
        "form-1-id": str(b.pk),
        "form-1-position": "2",
        "_save": "Save",
    }
    assert admin_client.post(url, data).status_code == 302
    a.refresh_from_db()
    assert a.position == 5


def test_gig_added_in_the_admin_gets_a_unique_usable_slug(admin_client, admin_user):
    # BUG (see report): `slug` is read-only in GigAdmin and nothing fills it in, so the first gig
    # added here is saved with slug "" (its get_absolute_url() raises NoReverseMatch, which breaks
    # the seller's /api/me/gigs/) and the second one is a 500 (IntegrityError on the unique slug).
    # Correct: either adding is switched off (gigs are made by sellers via services.gig_create)
    # or each added gig gets a unique slug from its title.
    request = RequestFactory().get("/")
    request.user = admin_user
    url = admin_url(Gig, "add")
    if not admin.site._registry[Gig].has_add_permission(request):
        assert admin_client.get(url).status_code == 403
        return
    seller, category = UserFactory(), CategoryFactory()
    admin_client.raise_request_exception = False
    for title in ("I will add a gig through the admin", "I will add another gig through the admin"):
        data = {
            "seller": seller.pk,
            "title": title,
            "category": category.pk,
            "description": "",
            "milestone_payments": "on",
            "currency": "USD",
            "packages-TOTAL_FORMS": "0",
            "packages-INITIAL_FORMS": "0",
            "faqs-TOTAL_FORMS": "0",
            "faqs-INITIAL_FORMS": "0",
        }
        assert admin_client.post(url, data).status_code == 302
    slugs = list(Gig.objects.order_by("pk").values_list("slug", flat=True))
    assert len(slugs) == 2 and all(slugs) and len(set(slugs)) == 2
    for gig in Gig.objects.all():
        assert gig.get_absolute_url().endswith(f"/{gig.slug}/")
