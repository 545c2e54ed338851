"""The plan rules (check_plan / plan_replace), what a saved plan does to the gig's packages, templates,
and how a plan in force constrains publishing and the pricing step."""

import io

import pytest
from django.core.management import call_command

from gigs import services as gig_services
from gigs.exceptions import GigIncomplete
from gigs.models import Category, Gig, Package
from gigs.services import PackageInput
from gigs.tests.factories import CategoryFactory, GigFactory, UserFactory
from marketplace.exceptions import NotFound, ValidationFailed
from milestones import builtin, selectors, services
from milestones.exceptions import TemplateNameTaken
from milestones.models import GigMilestone, GigMilestonePackage, MilestoneTemplate
from milestones.services import MilestoneInput, MilestoneTerms, check_plan, plan_replace

pytestmark = pytest.mark.django_db

BASIC, STANDARD, PREMIUM = Package.TIER_ORDER
SKIP = object()  # "this package does not include the milestone"


@pytest.fixture(autouse=True)
def _plan_rules(settings):
    """Pin the documented limits so an environment override cannot change what these tests mean."""
    settings.MARKETPLACE = {
        **settings.MARKETPLACE,
        "MILESTONES_MIN": 2,
        "MILESTONES_MAX": 5,
        "MILESTONE_MIN_PRICE_MINOR": 500,
        "BASIC_MIN_TOTAL_MINOR": 1000,
        "MILESTONE_NAME_MAX_CHARS": 80,
        "MILESTONE_DESCRIPTION_MAX_CHARS": 1000,
        "PACKAGE_MAX_PRICE_MINOR": 10_000_000,
        "PACKAGE_MAX_DELIVERY_DAYS": 365,
        "PACKAGE_MAX_REVISIONS": 99,
    }


def ms(name="Stage", basic=(600, 2, 1), standard=(1000, 3, 1), premium=(1500, 4, 2), **kwargs) -> MilestoneInput:
    """One milestone; a tier given as SKIP is not included, a tier given as a tuple is (price, days, revisions)."""
    packages = {
        tier: MilestoneTerms(*terms)
        for tier, terms in ((BASIC, basic), (STANDARD, standard), (PREMIUM, premium))
        if terms is not SKIP
    }
    return MilestoneInput(name=name, packages=packages, **kwargs)


def plan(n=2) -> list[MilestoneInput]:
    """A valid plan of n milestones: every package includes every milestone, prices ascend by tier."""
    return [ms(f"Stage {i + 1}") for i in range(n)]


def check(milestones, *, on=True) -> dict[str, list[str]]:
    return check_plan(milestones, milestone_payments=on, currency="USD")


def prices(gig) -> dict[str, int]:
    return dict(Package.objects.filter(gig=gig).values_list("tier", "price_minor"))


def days(gig) -> dict[str, int]:
    return dict(Package.objects.filter(gig=gig).values_list("tier", "delivery_days"))


def names(gig) -> list[str]:
    return list(GigMilestone.objects.filter(gig=gig).order_by("position").values_list("name", flat=True))


def package_inputs(gig, **changes) -> list[PackageInput]:
    """The gig's packages as the pricing step would post them back, with `changes[tier]` applied."""
    rows = []
    for p in sorted(Package.objects.filter(gig=gig), key=lambda p: p.rank):
        fields = {
            "name": p.name,
            "description": p.description,
            "price_minor": p.price_minor,
            "delivery_days": p.delivery_days,
            "revisions": p.revisions,
        }
        fields.update(changes.get(p.tier, {}))
        rows.append(PackageInput(tier=p.tier, **fields))
    return rows


@pytest.fixture
def gig():
    """A priced draft sold in milestones, with no plan yet."""
    return GigFactory(priced=True, milestone_payments=True)


# --- check_plan -------------------------------------------------------------------------------


class TestMilestoneCount:
    @pytest.mark.parametrize("count", [2, 3, 4, 5])
    def test_two_to_five_with_milestone_payments_on(self, count):
        assert check(plan(count)) == {}

    @pytest.mark.parametrize("count", [0, 1])
    def test_fewer_than_two_refused_when_on(self, count):
        errors = check(plan(count))
        assert "milestones" in errors and "at least 2" in errors["milestones"][0]

    @pytest.mark.parametrize("count", [0, 1, 2, 5])
    def test_zero_to_five_when_off(self, count):
        assert check(plan(count), on=False) == {}

    @pytest.mark.parametrize("on", [True, False])
    def test_a_sixth_milestone_is_refused(self, on):
        errors = check(plan(6), on=on)
        assert list(errors) == ["milestones"] and "at most 5" in errors["milestones"][0]


class TestMilestoneRules:
    def test_min_price_per_milestone_in_each_package(self):
        errors = check([ms(basic=(499, 2, 1)), ms(standard=(499, 2, 1))])
        assert set(errors) == {"milestones.0.packages.basic.price_minor", "milestones.1.packages.standard.price_minor"}
        assert "$5" in errors["milestones.0.packages.basic.price_minor"][0]

    def test_min_price_is_inclusive(self):
        # 2 x $5 also meets the Basic minimum of $10 exactly.
        assert check([ms(basic=(500, 1, 0)), ms(basic=(500, 1, 0))]) == {}

    @pytest.mark.parametrize("price", ["600", 600.0, None, True, 0, -600])
    def test_price_must_be_a_positive_int(self, price):
        errors = check([ms(premium=(price, 2, 1)), ms()])
        assert set(errors) == {"milestones.0.packages.premium.price_minor"}
        assert "above zero" in errors["milestones.0.packages.premium.price_minor"][0]

    def test_price_above_the_package_maximum(self):
        errors = check([ms(premium=(10_000_001, 2, 1)), ms()])
        assert set(errors) == {"milestones.0.packages.premium.price_minor"}

    @pytest.mark.parametrize(
        ("delivery", "revisions", "key"),
        [
            (0, 1, "delivery_days"),
            (366, 1, "delivery_days"),
            ("3", 1, "delivery_days"),
            (3, -1, "revisions"),
            (3, 100, "revisions"),
        ],
    )
    def test_delivery_days_and_revisions_ranges(self, delivery, revisions, key):
        errors = check([ms(), ms(standard=(1000, delivery, revisions))])
        assert set(errors) == {f"milestones.1.packages.standard.{key}"}

    @pytest.mark.parametrize("name", ["", "   "])
    def test_name_is_required(self, name):
        errors = check([ms(), ms(name=name)])
        assert set(errors) == {"milestones.1.name"}

    def test_name_at_most_80_chars(self):
        assert check([ms(name="x" * 80), ms()]) == {}
        errors = check([ms(name="x" * 81), ms()])
        assert set(errors) == {"milestones.0.name"} and "80" in errors["milestones.0.name"][0]

    def test_description_at_most_1000_chars(self):
        assert check([ms(description="d" * 1000), ms()]) == {}
        errors = check([ms(description="d" * 1001), ms()])
        assert set(errors) == {"milestones.0.description"}

    def test_a_milestone_in_no_package(self):
        errors = check([ms(), ms(), ms(basic=SKIP, standard=SKIP, premium=SKIP)])
        assert set(errors) == {"milestones.2.packages"}
        assert "at least one package" in errors["milestones.2.packages"][0]

    def test_unknown_tier(self):
        bad = MilestoneInput(name="Gold", packages={**ms().packages, "gold": MilestoneTerms(900, 2, 0)})
        errors = check([ms(), bad])
        assert set(errors) == {"milestones.1.packages"} and "gold" in errors["milestones.1.packages"][0]

    def test_per_milestone_rules_apply_when_off_too(self):
        errors = check([ms(name=""), ms(basic=(100, 1, 0))], on=False)
        assert set(errors) == {"milestones.0.name", "milestones.1.packages.basic.price_minor"}

    def test_errors_of_several_milestones_come_back_together(self):
        errors = check([ms(name=""), ms(basic=(1, 1, 0)), ms(description="d" * 1001)])
        assert set(errors) == {
            "milestones.0.name",
            "milestones.1.packages.basic.price_minor",
            "milestones.2.description",
        }


class TestPackageRules:
    def test_every_package_includes_a_milestone(self):
        errors = check([ms(standard=SKIP), ms(standard=SKIP)])
        assert set(errors) == {"packages.standard"} and "at least one milestone" in errors["packages.standard"][0]

    def test_basic_total_minimum(self):
        errors = check([ms(basic=(900, 2, 0)), ms(basic=SKIP)])
        assert set(errors) == {"packages.basic"}
        assert "$10" in errors["packages.basic"][0] and "$9" in errors["packages.basic"][0]

    def test_higher_package_cannot_cost_less_than_lower(self):
        errors = check([ms(basic=(1000, 1, 0), standard=(900, 1, 0), premium=(800, 1, 0)), ms(standard=SKIP)])
        # Standard 900 < Basic 1600; Premium 2300 >= Standard 900 is fine.
        assert set(errors) == {"packages.standard"}
        errors = check([ms(premium=(600, 1, 0)), ms(premium=SKIP)])
        assert set(errors) == {"packages.premium"}

    def test_equal_packages_are_allowed(self):
        same = (800, 2, 1)
        assert check([ms(basic=same, standard=same, premium=same), ms(basic=same, standard=same, premium=same)]) == {}

    def test_package_rules_do_not_apply_when_off(self):
        assert check([ms(basic=(500, 1, 0), standard=SKIP, premium=(500, 1, 0))], on=False) == {}

    def test_package_totals_stay_within_what_the_pricing_step_allows(self):
        """A plan accepted with milestone payments on must leave packages that pass check_packages;
        otherwise publishing fails with "Fix the packages on the pricing step", and that step
        refuses every other value while the plan is in force."""
        slow = (600, 100, 0), (1000, 100, 0), (1500, 100, 0)
        errors = check([ms(f"Stage {i}", *slow) for i in range(4)])  # 4 x 100 = 400 days > 365
        assert any(key.startswith("packages.basic") for key in errors), errors
        dear = [ms(f"Stage {i}", premium=(6_000_000, 1, 0)) for i in range(2)]
        errors = check(dear)  # 2 x $60,000 = $120,000 > $100,000
        assert any(key.startswith("packages.premium") for key in errors), errors


# --- plan_replace -----------------------------------------------------------------------------


class TestPlanReplace:
    def test_writes_milestones_terms_and_package_totals(self, gig):
        milestones = [
            ms(
                " Concepts ",
                basic=(1000, 2, 1),
                standard=(2000, 3, 2),
                premium=(3000, 4, 3),
                video_call=True,
                description="  Three concepts.  ",
            ),
            ms("Refinement", basic=SKIP, standard=(1500, 2, 1), premium=(2500, 2, 2)),
            ms("Final files", basic=(500, 1, 0), standard=(700, 1, 0), premium=(900, 1, 0)),
        ]
        returned = plan_replace(gig=gig, milestones=milestones, milestone_payments=True)

        assert names(gig) == ["Concepts", "Refinement", "Final files"]
        first = GigMilestone.objects.get(gig=gig, position=0)
        assert first.description == "Three concepts." and first.video_call is True
        refinement = GigMilestone.objects.get(gig=gig, position=1)
        assert sorted(refinement.tiers.values_list("tier", flat=True)) == ["premium", "standard"]
        assert GigMilestonePackage.objects.filter(milestone__gig=gig).count() == 8
        assert prices(gig) == {"basic": 1500, "standard": 4200, "premium": 6400}
        assert days(gig) == {"basic": 3, "standard": 6, "premium": 7}
        gig.refresh_from_db()
        assert (gig.plan_milestone_count, gig.milestone_payments) == (3, True)
        assert (gig.price_from_minor, gig.fastest_delivery_days) == (1500, 3)
        assert returned.pk == gig.pk and returned.plan_milestone_count == 3
        # Names, descriptions and revisions of the packages are the pricing step's, not the plan's.
        assert Package.objects.get(gig=gig, tier=BASIC).description == "What this package includes."

    def test_creates_missing_packages(self):
        gig = GigFactory(milestone_payments=True)  # never priced
        plan_replace(gig=gig, milestones=plan(2), milestone_payments=True)
        rows = {p.tier: p for p in Package.objects.filter(gig=gig)}
        assert {t: (p.name, p.price_minor, p.delivery_days) for t, p in rows.items()} == {
            "basic": ("Basic", 1200, 4),
            "standard": ("Standard", 2000, 6),
            "premium": ("Premium", 3000, 8),
        }
        gig.refresh_from_db()
        assert gig.price_from_minor == 1200

    def test_replaces_the_whole_previous_plan(self, gig):
        plan_replace(gig=gig, milestones=plan(5), milestone_payments=True)
        plan_replace(gig=gig, milestones=[ms("Only A"), ms("Only B")], milestone_payments=True)
        assert names(gig) == ["Only A", "Only B"]
        assert GigMilestonePackage.objects.filter(milestone__gig=gig).count() == 6
        gig.refresh_from_db()
        assert gig.plan_milestone_count == 2

    def test_rejected_plan_changes_nothing(self, gig):
        plan_replace(gig=gig, milestones=plan(3), milestone_payments=True)
        before = (names(gig), prices(gig), days(gig))
        bad = [ms("New A", basic=(100, 1, 0)), ms("New B"), ms("New C"), ms("New D")]
        with pytest.raises(ValidationFailed) as exc:
            plan_replace(gig=gig, milestones=bad, milestone_payments=True)
        assert set(exc.value.errors) == {"milestones.0.packages.basic.price_minor"}
        assert (names(gig), prices(gig), days(gig)) == before
        gig.refresh_from_db()
        assert gig.plan_milestone_count == 3

    def test_rejected_switch_off_to_on_changes_nothing(self, gig):
        plan_replace(gig=gig, milestones=[ms("Single")], milestone_payments=False)
        with pytest.raises(ValidationFailed) as exc:
            plan_replace(gig=gig, milestones=[ms("Single")], milestone_payments=True)
        assert list(exc.value.errors) == ["milestones"]
        gig.refresh_from_db()
        assert gig.milestone_payments is False and names(gig) == ["Single"]
        assert prices(gig) == {"basic": 2500, "standard": 5000, "premium": 9000}

    def test_a_failure_while_writing_rolls_everything_back(self, gig, monkeypatch):
        plan_replace(gig=gig, milestones=plan(2), milestone_payments=True)
        before = (names(gig), prices(gig))

        def boom(**kwargs):
            raise RuntimeError("database went away")

        monkeypatch.setattr(services, "gig_set_plan_summary", boom)
        with pytest.raises(RuntimeError):
            plan_replace(gig=gig, milestones=[ms("X"), ms("Y"), ms("Z")], milestone_payments=True)
        assert (names(gig), prices(gig)) == before
        assert GigMilestonePackage.objects.filter(milestone__gig=gig).count() == 6

    def test_turning_milestone_payments_off_keeps_the_plan_and_stops_deriving(self, gig):
        plan_replace(gig=gig, milestones=plan(2), milestone_payments=True)
        derived = prices(gig)
        plan_replace(gig=gig, milestones=plan(2), milestone_payments=False)
        gig.refresh_from_db()
        assert gig.milestone_payments is False and gig.prices_from_plan is False
        assert names(gig) == ["Stage 1", "Stage 2"] and gig.plan_milestone_count == 2
        assert prices(gig) == derived

        # The kept plan no longer sets the prices ...
        cheaper = [ms("Stage 1", basic=(500, 1, 0)), ms("Stage 2", basic=(500, 1, 0))]
        plan_replace(gig=gig, milestones=cheaper, milestone_payments=False)
        assert prices(gig) == derived
        # ... and the pricing step may set any valid prices.
        gig_services.gig_set_packages(gig=gig, packages=package_inputs(gig, basic={"price_minor": 1234}))
        assert prices(gig)[BASIC] == 1234
        gig.refresh_from_db()
        assert gig.price_from_minor == 1234

    def test_turning_it_back_on_derives_the_prices_again(self, gig):
        plan_replace(gig=gig, milestones=plan(2), milestone_payments=False)
        gig_services.gig_set_packages(gig=gig, packages=package_inputs(gig, premium={"price_minor": 99_00}))
        plan_replace(gig=gig, milestones=plan(2), milestone_payments=True)
        assert prices(gig) == {"basic": 1200, "standard": 2000, "premium": 3000}


class TestDescriptionPageSave:
    def test_description_faq_and_plan_together(self, gig):
        services.gig_description_page_save(
            gig=gig,
            description="A long enough description of the whole job, stage by stage.",
            faqs=[("Files?", "All of them.")],
            milestones=plan(2),
            milestone_payments=True,
        )
        gig.refresh_from_db()
        assert gig.description.startswith("A long enough") and gig.faqs.count() == 1
        assert names(gig) == ["Stage 1", "Stage 2"]

    def test_a_bad_plan_saves_no_description(self, gig):
        with pytest.raises(ValidationFailed) as exc:
            services.gig_description_page_save(
                gig=gig, description="New text", faqs=[("Q?", "A.")], milestones=plan(1), milestone_payments=True
            )
        assert list(exc.value.errors) == ["milestones"]
        gig.refresh_from_db()
        assert gig.description != "New text" and not gig.faqs.exists() and names(gig) == []

    def test_a_bad_description_saves_no_plan_and_both_errors_are_reported(self):
        gig = GigFactory(published=True, milestone_payments=False)
        with pytest.raises(ValidationFailed) as exc:
            services.gig_description_page_save(
                gig=gig, description="short", faqs=[], milestones=[ms(name="")], milestone_payments=False
            )
        assert set(exc.value.errors) == {"description", "milestones.0.name"}
        with pytest.raises(ValidationFailed):
            services.gig_description_page_save(
                gig=gig, description="short", faqs=[], milestones=plan(2), milestone_payments=True
            )
        gig.refresh_from_db()
        assert gig.description != "short" and names(gig) == [] and gig.milestone_payments is False


# --- templates --------------------------------------------------------------------------------


class TestTemplates:
    def test_save_stores_the_plan_as_data(self):
        seller = UserFactory()
        milestones = [ms("Draft", video_call=True, standard=SKIP), ms("Final")]
        template = services.template_save(owner=seller, name="  My flow ", milestones=milestones)
        assert (template.owner, template.name, template.is_builtin) == (seller, "My flow", False)
        assert template.milestones[0] == {
            "name": "Draft",
            "description": "",
            "video_call": True,
            "packages": {
                "basic": {"price_minor": 600, "delivery_days": 2, "revisions": 1},
                "premium": {"price_minor": 1500, "delivery_days": 4, "revisions": 2},
            },
        }
        assert services.template_milestones(template) == milestones

    def test_name_is_unique_per_owner(self):
        seller = UserFactory()
        services.template_save(owner=seller, name="Flow", milestones=plan(2))
        with pytest.raises(TemplateNameTaken) as exc:
            services.template_save(owner=seller, name="Flow ", milestones=plan(3))
        assert exc.value.field == "name" and exc.value.code == "template_name_taken"
        assert MilestoneTemplate.objects.filter(owner=seller).count() == 1
        # Another seller, and a built-in's name, are fine.
        services.template_save(owner=UserFactory(), name="Flow", milestones=plan(2))
        services.template_save(owner=seller, name="Logo design", milestones=plan(2))

    def test_save_checks_name_and_milestones(self):
        with pytest.raises(ValidationFailed) as exc:
            services.template_save(owner=UserFactory(), name=" ", milestones=[])
        assert set(exc.value.errors) == {"name", "milestones"}
        with pytest.raises(ValidationFailed) as exc:
            services.template_save(owner=UserFactory(), name="x" * 81, milestones=[ms(basic=(1, 1, 0))])
        assert set(exc.value.errors) == {"name", "milestones.0.packages.basic.price_minor"}
        assert not MilestoneTemplate.objects.filter(owner__isnull=False).exists()

    def test_rename(self):
        seller = UserFactory()
        a = services.template_save(owner=seller, name="A", milestones=plan(2))
        services.template_save(owner=seller, name="B", milestones=plan(2))
        assert services.template_rename(owner=seller, template_id=a.pk, name=" Renamed ").name == "Renamed"
        assert MilestoneTemplate.objects.get(pk=a.pk).name == "Renamed"
        with pytest.raises(TemplateNameTaken):
            services.template_rename(owner=seller, template_id=a.pk, name="B")
        with pytest.raises(ValidationFailed) as exc:
            services.template_rename(owner=seller, template_id=a.pk, name="  ")
        assert "name" in exc.value.errors
        assert MilestoneTemplate.objects.get(pk=a.pk).name == "Renamed"

    def test_delete(self):
        seller = UserFactory()
        template = services.template_save(owner=seller, name="A", milestones=plan(2))
        services.template_delete(owner=seller, template_id=template.pk)
        assert not MilestoneTemplate.objects.filter(pk=template.pk).exists()
        with pytest.raises(NotFound):
            services.template_delete(owner=seller, template_id=template.pk)

    def test_someone_elses_or_a_builtin_template_is_not_found(self):
        template = services.template_save(owner=UserFactory(), name="Theirs", milestones=plan(2))
        builtin = MilestoneTemplate.objects.get(owner__isnull=True, name="Logo design")
        intruder = UserFactory()
        for target in (template, builtin):
            with pytest.raises(NotFound):
                services.template_rename(owner=intruder, template_id=target.pk, name="Mine now")
            with pytest.raises(NotFound):
                services.template_delete(owner=intruder, template_id=target.pk)
        assert MilestoneTemplate.objects.get(pk=template.pk).name == "Theirs"
        assert MilestoneTemplate.objects.filter(pk=builtin.pk).exists()

    def test_builtins_exist_and_are_valid_plans(self):
        builtins = MilestoneTemplate.objects.filter(owner__isnull=True)
        assert sorted(t.name for t in builtins) == ["Logo design", "Two stages", "Video", "Website", "Writing"]
        for template in builtins:
            assert check(services.template_milestones(template)) == {}, template.name

    def test_apply_builtin(self, gig):
        builtin = MilestoneTemplate.objects.get(owner__isnull=True, name="Logo design")
        services.plan_apply_template(gig=gig, template=builtin)
        assert names(gig) == ["Concepts", "Refinement", "Final files"]
        assert list(GigMilestone.objects.filter(gig=gig).values_list("video_call", flat=True)) == [False, True, False]
        assert prices(gig) == {"basic": 4500, "standard": 9000, "premium": 18000}
        assert days(gig) == {"basic": 5, "standard": 6, "premium": 9}


class TestTemplateCategories:
    """Built-in templates belong to a gig category (by slug) where that category exists."""

    def linked(self) -> dict[str, str | None]:
        return {
            t.name: t.category and t.category.slug
            for t in MilestoneTemplate.objects.filter(owner__isnull=True).select_related("category")
        }

    def test_link_categories_links_builtins_whose_category_exists(self):
        assert set(self.linked().values()) == {None}  # the migration found no categories
        CategoryFactory(slug="graphics-design", name="Graphics & Design")
        CategoryFactory(slug="video-animation", name="Video & Animation")
        assert builtin.link_categories(MilestoneTemplate, Category) == 2
        assert self.linked() == {
            "Logo design": "graphics-design",
            "Video": "video-animation",
            "Website": None,  # no such category (yet)
            "Writing": None,
            "Two stages": None,  # for any kind of work
        }
        assert builtin.link_categories(MilestoneTemplate, Category) == 0  # idempotent

    def test_a_category_an_admin_chose_is_kept_and_own_templates_are_left_alone(self):
        other = CategoryFactory(slug="other-work")
        MilestoneTemplate.objects.filter(owner__isnull=True, name="Website").update(category=other)
        own = services.template_save(owner=UserFactory(), name="Logo design", milestones=plan(2))
        CategoryFactory(slug="programming-tech")
        CategoryFactory(slug="graphics-design")
        builtin.link_categories(MilestoneTemplate, Category)
        assert self.linked()["Website"] == "other-work"
        assert self.linked()["Logo design"] == "graphics-design"
        own.refresh_from_db()
        assert own.category is None

    def test_seed_demo_links_the_builtins_to_its_categories(self):
        call_command("seed_demo", stdout=io.StringIO())
        assert self.linked() == {
            "Logo design": "graphics-design",
            "Website": "programming-tech",
            "Video": "video-animation",
            "Writing": "writing-translation",
            "Two stages": None,
        }

    def test_a_deleted_category_leaves_its_templates_general(self):
        design = CategoryFactory(slug="graphics-design")
        builtin.link_categories(MilestoneTemplate, Category)
        design.delete()
        assert self.linked()["Logo design"] is None

    def test_list_filter_and_picker_groups(self):
        design = CategoryFactory(slug="graphics-design", name="Graphics & Design")
        builtin.link_categories(MilestoneTemplate, Category)
        seller = UserFactory()
        services.template_save(owner=seller, name="Mine", milestones=plan(2))
        assert [t.name for t in selectors.template_list_for(seller, category="graphics-design")] == ["Logo design"]
        assert list(selectors.template_list_for(seller, category="no-such-category")) == []

        templates = list(selectors.template_list_for(seller))
        groups = selectors.template_picker_groups(templates, design)
        assert [(g["label"], [t.name for t in g["templates"]]) for g in groups] == [
            ("For Graphics & Design", ["Logo design"]),
            ("Other built-in", ["Two stages", "Video", "Website", "Writing"]),
            ("My templates", ["Mine"]),
        ]
        groups = selectors.template_picker_groups(templates, CategoryFactory(slug="music-audio"))
        assert [g["label"] for g in groups] == ["Other built-in", "My templates"]
        assert [g["label"] for g in selectors.template_picker_groups(templates, None)] == [
            "Other built-in",
            "My templates",
        ]


# --- publishing and the pricing step ----------------------------------------------------------


class TestPublish:
    def test_milestone_payments_on_needs_a_plan(self, gig):
        with pytest.raises(GigIncomplete) as exc:
            gig_services.gig_publish(gig=gig)
        assert any("milestones" in p for p in exc.value.problems)
        gig.refresh_from_db()
        assert gig.status == Gig.Status.DRAFT

    def test_the_switch_alone_is_not_enough_a_plan_of_two_to_five_is_needed(self, gig):
        plan_replace(gig=gig, milestones=[ms("Single")], milestone_payments=False)
        Gig.objects.filter(pk=gig.pk).update(milestone_payments=True)  # e.g. a direct edit
        with pytest.raises(GigIncomplete):
            gig_services.gig_publish(gig=gig)

    def test_publishes_with_a_plan(self, gig):
        plan_replace(gig=gig, milestones=plan(2), milestone_payments=True)
        assert gig_services.gig_publish_problems(Gig.objects.get(pk=gig.pk)) == []
        gig_services.gig_publish(gig=gig)
        gig.refresh_from_db()
        assert gig.status == Gig.Status.PUBLISHED

    def test_publishes_without_a_plan_when_off(self):
        gig = GigFactory(priced=True, milestone_payments=False)
        gig_services.gig_publish(gig=gig)
        gig.refresh_from_db()
        assert gig.status == Gig.Status.PUBLISHED and gig.plan_milestone_count == 0


class TestPricingStepWithAPlan:
    def test_refuses_other_prices_and_delivery(self, gig):
        plan_replace(gig=gig, milestones=plan(2), milestone_payments=True)
        before = (prices(gig), days(gig))
        with pytest.raises(ValidationFailed) as exc:
            gig_services.gig_set_packages(
                gig=gig,
                packages=package_inputs(gig, standard={"price_minor": 2500}, premium={"delivery_days": 30}),
            )
        assert set(exc.value.errors) == {"packages.standard.price_minor", "packages.premium.delivery_days"}
        assert "$20" in exc.value.errors["packages.standard.price_minor"][0]
        assert (prices(gig), days(gig)) == before

    def test_refuses_a_currency_change(self, gig):
        plan_replace(gig=gig, milestones=plan(2), milestone_payments=True)
        with pytest.raises(ValidationFailed) as exc:
            gig_services.gig_set_packages(gig=gig, packages=package_inputs(gig), currency="EUR")
        assert "currency" in exc.value.errors
        gig.refresh_from_db()
        assert gig.currency == "USD"

    def test_accepts_the_same_price_and_delivery_with_other_texts(self, gig):
        plan_replace(gig=gig, milestones=plan(2), milestone_payments=True)
        gig_services.gig_set_packages(
            gig=gig,
            packages=package_inputs(gig, basic={"name": "Starter", "description": "Two stages", "revisions": 4}),
        )
        basic = Package.objects.get(gig=gig, tier=BASIC)
        assert (basic.name, basic.description, basic.revisions, basic.price_minor) == (
            "Starter",
            "Two stages",
            4,
            1200,
        )

    def test_accepts_other_prices_when_milestone_payments_are_off(self, gig):
        plan_replace(gig=gig, milestones=plan(2), milestone_payments=False)
        gig_services.gig_set_packages(gig=gig, packages=package_inputs(gig, standard={"price_minor": 7777}))
        assert prices(gig)[STANDARD] == 7777
