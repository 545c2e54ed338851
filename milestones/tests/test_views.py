"""The milestone builder without JavaScript (every button posts the page), template pages, and the
plan timeline on the gig page."""

import re

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from gigs.models import Category, Gig, Package
from gigs.tests.factories import CategoryFactory, GigFactory, UserFactory
from milestones import builtin, services
from milestones.models import GigMilestone, GigMilestonePackage, MilestoneTemplate
from milestones.services import MilestoneInput, MilestoneTerms

pytestmark = pytest.mark.django_db

TIERS = list(Package.TIER_ORDER)
SKIP = object()
DESCRIPTION = "A complete description of the work, long enough to be published on the site."


def row(name, basic=("6", 2, 1), standard=("10", 3, 1), premium=("15", 4, 2), *, description="", video_call=False):
    """One milestone as the builder posts it; a tier given as SKIP is unticked and left empty."""
    data = {"name": name, "description": description, "video_call": video_call}
    for tier, terms in zip(TIERS, (basic, standard, premium), strict=True):
        if terms is SKIP:
            data[f"{tier}_included"] = False
            continue
        price, days, revisions = terms
        data.update(
            {
                f"{tier}_included": True,
                f"{tier}_price": price,
                f"{tier}_delivery_days": days,
                f"{tier}_revisions": revisions,
            }
        )
    return data


def page_data(rows, *, on=True, initial=None, description=DESCRIPTION, **extra) -> dict:
    """The whole Description & FAQ form as a browser without JavaScript submits it: checkboxes
    that are unticked are left out, like a browser does."""
    data = {
        "description": description,
        "faq-TOTAL_FORMS": 0,
        "faq-INITIAL_FORMS": 0,
        "ms-TOTAL_FORMS": len(rows),
        "ms-INITIAL_FORMS": len(rows) if initial is None else initial,
        "template": "",
        "template_name": "",
    }
    if on:
        data["milestone_payments"] = "1"
    for i, r in enumerate(rows):
        for key, value in r.items():
            if value is True:
                data[f"ms-{i}-{key}"] = "on"
            elif value is not False:
                data[f"ms-{i}-{key}"] = value
    data.update(extra)
    return data


def ms(name, basic=(600, 2, 1), standard=(1000, 3, 1), premium=(1500, 4, 2), video_call=False) -> MilestoneInput:
    packages = {t: MilestoneTerms(*terms) for t, terms in zip(TIERS, (basic, standard, premium), strict=True) if terms}
    return MilestoneInput(name=name, video_call=video_call, packages=packages)


def step_url(gig) -> str:
    return reverse("gig-edit", args=[gig.pk, "description"])


def builder_names(response) -> list[str]:
    """Names of the rows the builder shows, whether rebuilt (initial) or re-rendered from the POST."""
    formset = response.context["ms_formset"]
    if formset.is_bound:
        return [f["name"].value() for f in formset.forms]
    return [r["name"] for r in formset.initial or []]


def rendered_names(response) -> list[str]:
    return re.findall(r'name="ms-\d+-name" value="([^"]*)"', response.content.decode())


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def prices(gig) -> dict[str, int]:
    return dict(Package.objects.filter(gig=gig).values_list("tier", "price_minor"))


@pytest.fixture
def gig(client):
    """A priced draft sold in milestones, its seller logged in."""
    gig = GigFactory(priced=True, milestone_payments=True)
    client.force_login(gig.seller)
    return gig


class TestBuilderPage:
    def test_get_shows_the_builder(self, client, gig):
        response = client.get(step_url(gig))
        assert response.status_code == 200
        assert response.context["ms_formset"].forms == []
        body = response.content.decode()
        assert 'id="milestones"' in body and 'name="ms_start"' in body and "Start from scratch" in body
        assert re.search(r'name="milestone_payments" value="1"\s+checked', body)
        # Built-in templates are offered; the publish box says a plan is needed.
        offered = re.findall(r'<option value="\d+">([^<]+)</option>', body)
        assert {"Logo design", "Website", "Video", "Writing", "Two stages"} <= set(offered)
        assert any("milestones" in p for p in response.context["problems"])

    def test_the_template_picker_offers_the_gigs_category_first(self, client):
        design = CategoryFactory(slug="graphics-design", name="Graphics & Design")
        builtin.link_categories(MilestoneTemplate, Category)
        gig = GigFactory(priced=True, milestone_payments=True, category=design)
        services.template_save(owner=gig.seller, name="My logo flow", milestones=[ms("A"), ms("B")])
        client.force_login(gig.seller)
        body = client.get(step_url(gig)).content.decode()
        groups = re.findall(r'<optgroup label="([^"]+)">(.*?)</optgroup>', body, re.S)
        assert [(label, re.findall(r'<option value="\d+">([^<]+)</option>', options)) for label, options in groups] == [
            ("For Graphics &amp; Design", ["Logo design"]),
            ("Other built-in", ["Two stages", "Video", "Website", "Writing"]),
            ("My templates", ["My logo flow"]),
        ]

    def test_a_gig_whose_category_has_no_template_sees_the_other_groups(self, client, gig):
        body = client.get(step_url(gig)).content.decode()
        assert re.findall(r'<optgroup label="([^"]+)">', body) == ["Other built-in"]

    def test_toggle_off_is_rendered_unticked(self, client):
        gig = GigFactory(priced=True, milestone_payments=False)
        client.force_login(gig.seller)
        body = client.get(step_url(gig)).content.decode()
        assert not re.search(r'name="milestone_payments" value="1"\s+checked', body)

    def test_needs_login(self, client):
        gig = GigFactory(milestone_payments=True)
        response = client.get(step_url(gig))
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))

    def test_someone_elses_gig_is_404(self, client):
        gig = GigFactory(priced=True, milestone_payments=True)
        client.force_login(UserFactory())
        assert client.get(step_url(gig)).status_code == 404
        for extra in ({"save": "1"}, {"ms_add": "1"}, {"ms_save_template": "1", "template_name": "Stolen"}):
            data = page_data([row("A"), row("B")], description="hijacked " * 10, **extra)
            assert client.post(step_url(gig), data).status_code == 404
        gig.refresh_from_db()
        assert gig.description == DESCRIPTION and not GigMilestone.objects.exists()
        assert not MilestoneTemplate.objects.filter(owner__isnull=False).exists()


class TestStructureButtons:
    """Each re-renders the rows without saving anything."""

    def test_start_from_scratch_gives_one_milestone(self, client, gig):
        response = client.post(step_url(gig), page_data([], ms_start="1", description="Not saved. " * 10))
        assert response.status_code == 200
        assert response.context["form"]["description"].value() == "Not saved. " * 10  # typed text survives
        initial = response.context["ms_formset"].initial
        assert initial == [{"name": "Milestone 1", "description": "", **{f"{t}_included": True for t in TIERS}}]
        assert rendered_names(response) == ["Milestone 1"]
        assert not GigMilestone.objects.exists()
        gig.refresh_from_db()
        assert gig.description == DESCRIPTION

    def test_add_up_to_five_then_refuse(self, client, gig):
        rows = [row("First")]
        for expected in range(2, 6):
            response = client.post(step_url(gig), page_data(rows, ms_add="1"))
            assert builder_names(response) == ["First"] + [f"Milestone {n}" for n in range(2, expected + 1)]
            rows.append(row(f"Milestone {expected}"))
        assert response.context["can_add"] is False
        assert "reached the limit of 5 milestones" in response.content.decode()

        response = client.post(step_url(gig), page_data(rows, ms_add="1"))
        assert len(builder_names(response)) == 5
        assert "A plan has at most 5 milestones." in messages_of(response)
        assert not GigMilestone.objects.exists()

    def test_the_count_rule_follows_the_settings_at_request_time(self, client, gig, settings):
        """MILESTONES_MIN/MAX are read per request: the page text, the script's limit, the add
        button, the formset's maximum and the service all follow a changed setting."""
        body = client.get(step_url(gig)).content.decode()
        assert "Between 2 and 5 milestones." in body and 'data-max="5"' in body

        settings.MARKETPLACE = {**settings.MARKETPLACE, "MILESTONES_MIN": 1, "MILESTONES_MAX": 3}
        body = client.get(step_url(gig)).content.decode()
        assert "Between 1 and 3 milestones." in body and 'data-max="3"' in body
        rows = [row("A"), row("B"), row("C")]
        response = client.post(step_url(gig), page_data(rows, ms_add="1"))
        assert len(builder_names(response)) == 3 and response.context["can_add"] is False
        assert "A plan has at most 3 milestones." in messages_of(response)
        assert "reached the limit of 3 milestones" in response.content.decode()

        response = client.post(step_url(gig), page_data([*rows, row("D")], save="1"))
        assert response.status_code == 200
        assert "A plan has at most 3 milestones." in response.context["ms_formset"].non_form_errors()
        assert not GigMilestone.objects.exists()

        response = client.post(step_url(gig), page_data([row("Only", basic=("10", 2, 1))], save="1"))
        assert response.status_code == 302  # one milestone is enough now
        assert GigMilestone.objects.filter(gig=gig).count() == 1

    def test_a_crafted_sixth_milestone_is_refused_and_nothing_saved(self, client, gig):
        before = prices(gig)
        rows = [row(f"Stage {i}") for i in range(1, 7)]
        response = client.post(step_url(gig), page_data(rows, save="1"))
        assert response.status_code == 200
        assert "at most 5" in str(response.context["ms_formset"].non_form_errors())
        assert not GigMilestone.objects.exists() and prices(gig) == before

    @pytest.mark.parametrize(
        ("button", "expected"),
        [
            ({"ms_remove": "1"}, ["A", "C"]),
            ({"ms_up": "2"}, ["A", "C", "B"]),
            ({"ms_down": "0"}, ["B", "A", "C"]),
            ({"ms_up": "0"}, ["A", "B", "C"]),  # already first
            ({"ms_down": "2"}, ["A", "B", "C"]),  # already last
            ({"ms_remove": "7"}, ["A", "B", "C"]),  # no such row
        ],
    )
    def test_remove_and_move(self, client, gig, button, expected):
        rows = [row("A", basic=("6", 1, 0)), row("B", basic=("7", 1, 0)), row("C", basic=("8", 1, 0))]
        response = client.post(step_url(gig), page_data(rows, **button))
        assert response.status_code == 200
        assert builder_names(response) == expected
        assert rendered_names(response) == expected
        # The rest of each row moves with its name.
        by_name = {r["name"]: r["basic_price"] for r in response.context["ms_formset"].initial}
        assert by_name == {n: {"A": "6", "B": "7", "C": "8"}[n] for n in expected}
        assert not GigMilestone.objects.exists()

    def test_apply_a_builtin_template(self, client, gig):
        template = MilestoneTemplate.objects.get(owner__isnull=True, name="Two stages")
        response = client.post(step_url(gig), page_data([row("Mine")], ms_apply_template="1", template=template.pk))
        assert builder_names(response) == ["First delivery", "Final delivery"]
        first = response.context["ms_formset"].initial[0]
        assert (first["video_call"], first["basic_price"], first["premium_delivery_days"]) == (True, "10.00", 4)
        assert any("Two stages" in m for m in messages_of(response))
        totals = {t["tier"]: t["price_minor"] for t in response.context["totals"]}
        assert totals == {"basic": 2000, "standard": 4000, "premium": 8000}
        assert not GigMilestone.objects.exists()

    def test_apply_own_template_but_not_someone_elses(self, client, gig):
        mine = services.template_save(owner=gig.seller, name="Mine", milestones=[ms("X"), ms("Y")])
        theirs = services.template_save(owner=UserFactory(), name="Theirs", milestones=[ms("Secret")])
        response = client.post(step_url(gig), page_data([row("A")], ms_apply_template="1", template=mine.pk))
        assert builder_names(response) == ["X", "Y"]
        response = client.post(step_url(gig), page_data([row("A")], ms_apply_template="1", template=theirs.pk))
        assert builder_names(response) == ["A"]
        assert "Choose a template to apply." in messages_of(response)
        assert "Theirs" not in response.content.decode()


class TestSave:
    def plan_rows(self):
        return [
            row("Concepts", basic=("10", 2, 1), standard=("20", 3, 2), premium=("30", 4, 3), video_call=True),
            row("Refinement", basic=SKIP, standard=("15", 2, 1), premium=("25", 2, 2)),
            row("Final files", basic=("5", 1, 0), standard=("7.50", 1, 0), premium=("9", 1, 0)),
        ]

    def test_valid_plan_is_saved_and_shown_again(self, client, gig):
        response = client.post(step_url(gig), page_data(self.plan_rows(), save="1"))
        assert response.status_code == 302 and response["Location"] == step_url(gig)

        saved = list(GigMilestone.objects.filter(gig=gig).order_by("position"))
        assert [(m.name, m.video_call) for m in saved] == [
            ("Concepts", True),
            ("Refinement", False),
            ("Final files", False),
        ]
        assert GigMilestonePackage.objects.filter(milestone__gig=gig).count() == 8
        assert prices(gig) == {"basic": 1500, "standard": 4250, "premium": 6400}
        gig.refresh_from_db()
        assert gig.plan_milestone_count == 3 and gig.price_from_minor == 1500

        response = client.get(step_url(gig))
        assert builder_names(response) == ["Concepts", "Refinement", "Final files"]
        second = response.context["ms_formset"].initial[1]
        assert second["basic_included"] is False and second["standard_price"] == "15.00"
        assert rendered_names(response) == ["Concepts", "Refinement", "Final files"]
        assert not any("milestones" in p for p in response.context["problems"])

    def test_turning_milestone_payments_off_keeps_the_plan(self, client, gig):
        client.post(step_url(gig), page_data(self.plan_rows(), save="1"))
        derived = prices(gig)
        response = client.post(step_url(gig), page_data(self.plan_rows()[:1], on=False, save="1"))
        assert response.status_code == 302
        gig.refresh_from_db()
        assert gig.milestone_payments is False
        assert [m.name for m in GigMilestone.objects.filter(gig=gig)] == ["Concepts"]
        assert prices(gig) == derived

    def test_a_milestone_price_error_is_shown_next_to_the_field(self, client, gig):
        rows = self.plan_rows()
        rows[1]["standard_price"] = "3"
        response = client.post(step_url(gig), page_data(rows, save="1"))
        assert response.status_code == 200
        forms = response.context["ms_formset"].forms
        assert "$5" in forms[1].errors["standard_price"][0]
        assert not forms[0].errors and not forms[2].errors
        assert forms[1].errors["standard_price"][0] in response.content.decode()
        assert not GigMilestone.objects.exists()

    def test_field_shape_errors(self, client, gig):
        rows = self.plan_rows()
        rows[0]["basic_price"] = "abc"
        rows[2]["premium_price"] = ""
        rows[2]["name"] = ""
        response = client.post(step_url(gig), page_data(rows, save="1"))
        forms = response.context["ms_formset"].forms
        assert "basic_price" in forms[0].errors
        assert set(forms[2].errors) == {"name", "premium_price"}
        assert not GigMilestone.objects.exists()

    def test_typed_prices_with_commas(self, client, gig):
        """A decimal comma before the cents and commas grouping thousands, as the page script reads them."""
        rows = self.plan_rows()
        rows[0]["basic_price"], rows[0]["standard_price"], rows[0]["premium_price"] = "12,50", "1,250", "1,250.50"
        response = client.post(step_url(gig), page_data(rows, save="1"))
        assert response.status_code == 302
        first = GigMilestone.objects.get(gig=gig, position=0)
        assert dict(first.tiers.values_list("tier", "price_minor")) == {
            "basic": 1250,
            "standard": 125000,
            "premium": 125050,
        }

    @pytest.mark.parametrize(
        ("typed", "message"),
        [
            ("1e3", "without an exponent"),
            ("1,2345", "Use a comma only"),
            ("-12", "without a sign"),
        ],
    )
    def test_refused_prices_are_field_errors_and_count_nothing_in_the_totals(self, client, gig, typed, message):
        rows = self.plan_rows()
        rows[0]["basic_price"] = typed
        response = client.post(step_url(gig), page_data(rows, save="1"))
        assert response.status_code == 200
        errors = response.context["ms_formset"].forms[0].errors["basic_price"]
        assert message in errors[0] and errors[0] in response.content.decode()
        assert response.context["totals"][0]["price_minor"] == 500  # only Final files' $5
        assert not GigMilestone.objects.exists()

    def test_package_total_errors_are_shown_under_the_totals(self, client, gig):
        rows = [
            row("A", basic=("6", 1, 0), standard=("6", 1, 0), premium=("20", 1, 0)),
            row("B", basic=SKIP, standard=SKIP, premium=("20", 1, 0)),
        ]
        response = client.post(step_url(gig), page_data(rows, save="1"))
        assert response.status_code == 200
        tier_errors = response.context["tier_errors"]
        assert set(tier_errors) == {"basic"} and "$10" in tier_errors["basic"][0]
        assert 'data-total="basic" class="has-error"' in response.content.decode()

        rows[0]["basic_price"], rows[0]["standard_price"] = "12", "11"
        response = client.post(step_url(gig), page_data(rows, save="1"))
        assert set(response.context["tier_errors"]) == {"standard"}
        assert "cannot cost less than" in response.context["tier_errors"]["standard"][0]
        assert not GigMilestone.objects.exists()
        assert prices(gig) == {"basic": 2500, "standard": 5000, "premium": 9000}

    def test_too_few_milestones_is_a_plan_error(self, client, gig):
        response = client.post(step_url(gig), page_data(self.plan_rows()[:1], save="1"))
        assert response.status_code == 200
        assert any("at least 2" in e for e in response.context["plan_errors"])
        assert "data-plan-error" in response.content.decode()
        assert not GigMilestone.objects.exists()

    def test_a_blank_added_row_does_not_crash_the_save(self, client, gig):
        """A row added in the browser (beyond ms-INITIAL_FORMS) and cleared again must be refused
        or dropped, never reach the service half-cleaned."""
        rows = [*self.plan_rows()[:2], row("", basic=SKIP, standard=SKIP, premium=SKIP)]
        response = client.post(step_url(gig), page_data(rows, initial=2, save="1"))
        if response.status_code == 302:
            assert [m.name for m in GigMilestone.objects.filter(gig=gig)] == ["Concepts", "Refinement"]
        else:
            assert response.status_code == 200 and response.context["ms_formset"].forms[2].errors
            assert not GigMilestone.objects.exists()

    def test_add_question_with_a_tampered_faq_count_is_not_a_500(self, client, gig):
        data = page_data([row("A"), row("B")], add_faq="1")
        data["faq-TOTAL_FORMS"] = "lots"
        response = client.post(step_url(gig), data)
        assert response.status_code == 200
        assert builder_names(response) == ["A", "B"]

    def test_enter_in_a_field_saves(self, client, gig):
        """Implicit submission clicks the form's first submit button: it must be Save, not
        "Add a question" or a milestone button."""
        body = client.get(step_url(gig)).content.decode()
        form = body[body.index('id="description-form"') :]
        first = re.search(r"<button[^>]*type=\"submit\"[^>]*>", form).group(0)
        assert 'name="save"' in first

    def test_save_as_template_and_a_duplicate_name(self, client, gig):
        data = page_data(self.plan_rows(), ms_save_template="1", template_name="My logo flow")
        response = client.post(step_url(gig), data)
        assert response.status_code == 200
        template = MilestoneTemplate.objects.get(owner=gig.seller)
        assert template.name == "My logo flow"
        assert [m["name"] for m in template.milestones] == ["Concepts", "Refinement", "Final files"]
        assert template.milestones[2]["packages"]["standard"]["price_minor"] == 750
        assert "My logo flow" in [t.name for t in response.context["templates"]]
        assert not GigMilestone.objects.exists()  # saving a template does not save the gig's plan

        response = client.post(step_url(gig), data)
        assert "already have a template" in response.context["template_form"].errors["template_name"][0]
        assert MilestoneTemplate.objects.filter(owner=gig.seller).count() == 1

    def test_save_as_template_checks_the_milestones(self, client, gig):
        rows = self.plan_rows()
        rows[0]["basic_price"] = "1"
        response = client.post(step_url(gig), page_data(rows, ms_save_template="1", template_name="Cheap"))
        assert "basic_price" in response.context["ms_formset"].forms[0].errors
        assert not MilestoneTemplate.objects.filter(owner=gig.seller).exists()


class TestTemplatePages:
    def test_list_shows_builtins_and_own_only(self, client):
        seller = UserFactory()
        services.template_save(owner=seller, name="Mine", milestones=[ms("X"), ms("Y")])
        services.template_save(owner=UserFactory(), name="Theirs", milestones=[ms("Z")])
        client.force_login(seller)
        response = client.get(reverse("milestone-templates"))
        assert response.status_code == 200
        listed = [t.name for t in response.context["templates"]]
        assert listed[:5] == ["Logo design", "Two stages", "Video", "Website", "Writing"]
        assert listed[5:] == ["Mine"]
        body = response.content.decode()
        assert "X → Y" in body and "Theirs" not in body
        # Only own templates can be renamed or deleted.
        assert len(re.findall(r"/sell/templates/\d+/delete/", body)) == 1

    def test_list_needs_login(self, client):
        response = client.get(reverse("milestone-templates"))
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))

    def test_rename_and_delete_own(self, client):
        seller = UserFactory()
        template = services.template_save(owner=seller, name="Old", milestones=[ms("X")])
        services.template_save(owner=seller, name="Taken", milestones=[ms("X")])
        client.force_login(seller)

        response = client.post(reverse("milestone-template-rename", args=[template.pk]), {"name": "New"})
        assert response.status_code == 302 and response["Location"] == reverse("milestone-templates")
        assert MilestoneTemplate.objects.get(pk=template.pk).name == "New"

        response = client.post(reverse("milestone-template-rename", args=[template.pk]), {"name": "Taken"}, follow=True)
        assert "already have a template" in response.content.decode()
        response = client.post(reverse("milestone-template-rename", args=[template.pk]), {"name": ""}, follow=True)
        assert "Use 1 to 80 characters." in response.content.decode()
        assert MilestoneTemplate.objects.get(pk=template.pk).name == "New"

        response = client.post(reverse("milestone-template-delete", args=[template.pk]))
        assert response.status_code == 302
        assert not MilestoneTemplate.objects.filter(pk=template.pk).exists()

    def test_get_does_not_change_anything(self, client):
        seller = UserFactory()
        template = services.template_save(owner=seller, name="Old", milestones=[ms("X")])
        client.force_login(seller)
        assert client.get(reverse("milestone-template-delete", args=[template.pk])).status_code == 405
        assert MilestoneTemplate.objects.filter(pk=template.pk).exists()

    def test_someone_elses_or_a_builtin_template_is_404(self, client):
        theirs = services.template_save(owner=UserFactory(), name="Theirs", milestones=[ms("X")])
        builtin = MilestoneTemplate.objects.get(owner__isnull=True, name="Video")
        client.force_login(UserFactory())
        for template in (theirs, builtin):
            rename = client.post(reverse("milestone-template-rename", args=[template.pk]), {"name": "Hijacked"})
            assert rename.status_code == 404
            assert client.post(reverse("milestone-template-delete", args=[template.pk])).status_code == 404
        assert MilestoneTemplate.objects.get(pk=theirs.pk).name == "Theirs"
        assert MilestoneTemplate.objects.filter(pk=builtin.pk, name="Video").exists()


# --- the gig page -----------------------------------------------------------------------------


def published_with_plan(milestones, *, on=True) -> Gig:
    gig = GigFactory(published=True, milestone_payments=on)
    services.plan_replace(gig=gig, milestones=milestones, milestone_payments=on)
    return gig


def panel(body: str, tier: str) -> tuple[str, str]:
    """(attributes, content) of the timeline panel of one package."""
    match = re.search(rf'<div data-plan-panel="{tier}"([^>]*)>(.*?)</div>', body, re.S)
    assert match, f"no {tier} panel"
    return match.group(1), match.group(2)


class TestGigPageTimeline:
    def plan(self):
        return [
            ms("Concepts", basic=(600, 2, 1), standard=(1000, 3, 1), premium=(1500, 4, 2)),
            ms("Call and refine", basic=None, standard=(1200, 2, 0), premium=(1500, 2, 2), video_call=True),
            ms("Final files", basic=(600, 1, 0), standard=(800, 1, 0), premium=(1500, 1, 2)),
        ]

    def test_timeline_of_the_chosen_package(self, client):
        gig = published_with_plan(self.plan())
        response = client.get(gig.get_absolute_url(), {"package": "standard"})
        assert response.context["plan_selected"] == "standard"
        body = response.content.decode()
        attrs, content = panel(body, "standard")
        assert "hidden" not in attrs and "hidden" in panel(body, "basic")[0]
        assert re.findall(r"<h4>(\d+)\. (.*?)</h4>", content) == [
            ("1", "Concepts"),
            ("2", "Call and refine"),
            ("3", "Final files"),
        ]
        steps = re.findall(r"<li data-testid=\"plan-step\">(.*?)</li>", content, re.S)
        assert ["video call" in s for s in steps] == [False, True, False]
        assert "$10" in steps[0] and "$12" in steps[1] and "$8" in steps[2]
        assert "Standard total: $30 · 6 days" in content
        assert 'data-plan-tab="standard" aria-current="true"' in body

    def test_basic_is_the_default_and_skips_milestones_it_does_not_include(self, client):
        gig = published_with_plan(self.plan())
        for query in ({}, {"package": "gold"}):
            response = client.get(gig.get_absolute_url(), query)
            assert response.context["plan_selected"] == "basic"
        _, content = panel(response.content.decode(), "basic")
        assert re.findall(r"<h4>\d+\. (.*?)</h4>", content) == ["Concepts", "Final files"]
        assert "Basic total: $12 · 3 days" in content

    def test_user_text_is_escaped(self, client):
        gig = published_with_plan([ms("<script>alert(1)</script>"), ms("<b>bold</b>")])
        body = client.get(gig.get_absolute_url()).content.decode()
        assert "<script>alert(1)</script>" not in body and "<b>bold</b>" not in body
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body

        client.force_login(gig.seller)
        editor = client.get(step_url(gig)).content.decode()
        assert "<script>alert(1)</script>" not in editor and "&lt;script&gt;" in editor
        services.template_save(owner=gig.seller, name="<script>x()</script>", milestones=[ms("<i>i</i>")])
        listing = client.get(reverse("milestone-templates")).content.decode()
        assert "<script>x()" not in listing and "<i>i</i>" not in listing

    def test_query_count_does_not_grow_with_the_plan(self, client):
        two = published_with_plan([ms(f"Stage {i}") for i in range(2)])
        five = published_with_plan([ms(f"Stage {i}") for i in range(5)])
        # Five milestones, some left out of Basic or Standard: 3 in Basic, 4 in Standard, 5 in Premium.
        mixed = published_with_plan(
            [
                ms("Stage 0"),
                ms("Stage 1", basic=None),
                ms("Stage 2", basic=None, standard=None),
                ms("Stage 3"),
                ms("Stage 4"),
            ]
        )
        client.get(two.get_absolute_url())  # warm up one-off caches
        counts = {}
        for name, gig, steps in (("two", two, 3 * 2), ("five", five, 3 * 5), ("mixed", mixed, 3 + 4 + 5)):
            with CaptureQueriesContext(connection) as queries:
                response = client.get(gig.get_absolute_url(), {"package": "standard"})
            assert len(re.findall(r'data-testid="plan-step"', response.content.decode())) == steps
            counts[name] = queries
        for name in ("five", "mixed"):
            assert len(counts[name]) == len(counts["two"]), [q["sql"] for q in counts[name].captured_queries]

    def test_no_timeline_when_milestone_payments_are_off(self, client):
        gig = published_with_plan([ms("Kept"), ms("Not offered")], on=False)
        assert GigMilestone.objects.filter(gig=gig).count() == 2
        response = client.get(gig.get_absolute_url(), {"package": "standard"})
        assert response.status_code == 200 and "plan_tiers" not in response.context
        body = response.content.decode()
        assert "data-plan" not in body and "Not offered" not in body

    def test_no_timeline_without_a_plan(self, client):
        gig = GigFactory(published=True, milestone_payments=False)
        assert "data-plan" not in client.get(gig.get_absolute_url()).content.decode()
