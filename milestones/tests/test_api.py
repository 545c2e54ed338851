"""The milestone plan and template API: reads for whoever may see the gig, writes for the owner.

Errors come back nested like the input with list positions as string keys, whether DRF or the
service found them ({"milestones": {"1": {"packages": {"basic": {"price_minor": [...]}}}}}), and
a rejected write changes nothing.
"""

import copy

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from gigs.models import Category, Gig, Package
from gigs.tests.factories import CategoryFactory, GigFactory, UserFactory
from milestones import builtin, services
from milestones.models import GigMilestone, GigMilestonePackage, MilestoneTemplate

pytestmark = pytest.mark.django_db

TEMPLATES_URL = "/api/milestone-templates/"
BUILTIN_NAMES = ["Logo design", "Two stages", "Video", "Website", "Writing"]
XSS = "<script>alert(1)</script>"


def plan_url(gig: Gig) -> str:
    return f"/api/gigs/{gig.slug}/plan/"


def apply_url(gig: Gig) -> str:
    return f"/api/gigs/{gig.slug}/plan/apply-template/"


def detail_url(gig: Gig) -> str:
    return f"/api/gigs/{gig.slug}/"


def template_url(template: MilestoneTemplate) -> str:
    return f"{TEMPLATES_URL}{template.pk}/"


def terms(price_minor, delivery_days=2, revisions=1) -> dict:
    return {"price_minor": price_minor, "delivery_days": delivery_days, "revisions": revisions}


def milestone(name: str, **packages) -> dict:
    return {"name": name, "description": f"What {name} delivers.", "video_call": False, "packages": packages}


def three_milestones() -> list[dict]:
    """Totals: basic 2500 / 5 days, standard 5500 / 9 days, premium 9000 / 11 days."""
    return [
        milestone("Concepts", basic=terms(1000, 2), standard=terms(2000, 3), premium=terms(3000, 4, 2)),
        milestone("Refinement", basic=terms(1500, 3, 0), standard=terms(2500, 4), premium=terms(4000, 5, 2)),
        milestone("Final files", standard=terms(1000, 2), premium=terms(2000, 2, 2)),
    ]


def n_milestones(n: int) -> list[dict]:
    return [milestone(f"Stage {i + 1}", basic=terms(1000), standard=terms(2000), premium=terms(3000)) for i in range(n)]


def plan_body(milestones: list[dict], milestone_payments: bool = True) -> dict:
    return {"milestone_payments": milestone_payments, "milestones": milestones}


def save_plan(gig: Gig, milestones: list[dict], milestone_payments: bool = True) -> Gig:
    return services.plan_replace(
        gig=gig,
        milestones=[services.MilestoneInput.from_data(m) for m in milestones],
        milestone_payments=milestone_payments,
    )


def snapshot(gig: Gig) -> tuple:
    """Everything a plan write may touch."""
    gig = Gig.objects.get(pk=gig.pk)
    return (
        gig.milestone_payments,
        gig.plan_milestone_count,
        gig.price_from_minor,
        gig.fastest_delivery_days,
        list(GigMilestone.objects.filter(gig=gig).order_by("position").values_list("id", "name", "description")),
        list(
            GigMilestonePackage.objects.filter(milestone__gig=gig)
            .order_by("milestone__position", "tier")
            .values_list("tier", "price_minor", "delivery_days", "revisions")
        ),
        list(Package.objects.filter(gig=gig).order_by("tier").values_list("tier", "price_minor", "delivery_days")),
    )


def at(body: dict, path: str):
    """The errors at a dotted path of a nested error body."""
    node = body
    for part in path.split("."):
        assert isinstance(node, dict) and part in node, f"no {part!r} on the way to {path!r} in {body}"
        node = node[part]
    return node


def assert_messages(body: dict, path: str) -> list[str]:
    messages = at(body, path)
    assert isinstance(messages, list) and messages and all(isinstance(m, str) for m in messages), body
    return messages


@pytest.fixture
def seller():
    return UserFactory()


@pytest.fixture
def owner_client(api_client, seller):
    api_client.force_authenticate(seller)
    return api_client


@pytest.fixture
def gig(seller):
    """A published gig sold in milestones, with a two-milestone plan already saved."""
    gig = GigFactory(seller=seller, published=True, milestone_payments=True)
    return save_plan(gig, n_milestones(2))


@pytest.fixture
def stranger_client(api_client):
    api_client.force_authenticate(UserFactory())
    return api_client


# --- reading ----------------------------------------------------------------------------------------


class TestReadPlan:
    def test_gig_detail_nests_the_plan(self, api_client, gig):
        save_plan(gig, three_milestones())
        response = api_client.get(detail_url(gig))
        assert response.status_code == 200
        plan = response.json()["milestone_plan"]
        assert [(m["position"], m["name"]) for m in plan] == [(1, "Concepts"), (2, "Refinement"), (3, "Final files")]
        assert plan[0]["packages"]["premium"] == {"price_minor": 3000, "delivery_days": 4, "revisions": 2}
        assert set(plan[2]["packages"]) == {"standard", "premium"}

    def test_plan_endpoint_has_the_input_shape_and_totals(self, api_client, gig):
        save_plan(gig, three_milestones())
        response = api_client.get(plan_url(gig))
        assert response.status_code == 200
        assert response.json() == {
            "milestone_payments": True,
            "milestones": three_milestones(),
            "totals": {
                "basic": {"price_minor": 2500, "delivery_days": 5},
                "standard": {"price_minor": 5500, "delivery_days": 9},
                "premium": {"price_minor": 9000, "delivery_days": 11},
            },
        }

    def test_gig_detail_shows_no_plan_while_milestone_payments_are_off(self, api_client, gig):
        """The detail shows the gig as offered; the kept plan stays readable at .../plan/."""
        save_plan(gig, three_milestones())
        services.plan_replace(gig=gig, milestones=services.plan_inputs(gig), milestone_payments=False)
        assert api_client.get(detail_url(gig)).json()["milestone_plan"] == []
        plan = api_client.get(plan_url(gig)).json()
        assert plan["milestone_payments"] is False
        assert [m["name"] for m in plan["milestones"]] == ["Concepts", "Refinement", "Final files"]

    def test_gig_without_a_plan(self, api_client):
        gig = GigFactory(published=True, milestone_payments=False)
        assert api_client.get(plan_url(gig)).json() == {"milestone_payments": False, "milestones": [], "totals": {}}

    def test_draft_plan_is_only_for_its_owner(self, api_client, seller):
        draft = save_plan(GigFactory(seller=seller, priced=True, milestone_payments=True), n_milestones(2))
        assert api_client.get(plan_url(draft)).status_code == 404
        api_client.force_authenticate(UserFactory())
        assert api_client.get(plan_url(draft)).status_code == 404
        api_client.force_authenticate(seller)
        assert len(api_client.get(plan_url(draft)).json()["milestones"]) == 2

    def test_unknown_gig_is_404(self, api_client):
        assert api_client.get("/api/gigs/no-such-gig/plan/").status_code == 404


# --- replacing --------------------------------------------------------------------------------------


class TestReplacePlan:
    def test_put_replaces_the_plan_and_the_package_totals(self, owner_client, gig):
        response = owner_client.put(plan_url(gig), plan_body(three_milestones()), format="json")
        assert response.status_code == 200, response.content
        assert response.json()["milestones"] == three_milestones()
        assert response.json()["totals"]["standard"] == {"price_minor": 5500, "delivery_days": 9}
        assert list(GigMilestone.objects.filter(gig=gig).values_list("name", flat=True)) == [
            "Concepts",
            "Refinement",
            "Final files",
        ]

        packages = owner_client.get(detail_url(gig)).json()["packages"]
        assert packages["basic"]["price_minor"] == 1000 + 1500
        assert packages["basic"]["delivery_days"] == 2 + 3
        assert packages["standard"]["price_minor"] == 2000 + 2500 + 1000
        assert packages["premium"]["price_minor"] == 3000 + 4000 + 2000
        gig.refresh_from_db()
        assert (gig.price_from_minor, gig.fastest_delivery_days, gig.plan_milestone_count) == (2500, 5, 3)

    def test_get_output_can_be_put_back_unchanged(self, owner_client, gig):
        save_plan(gig, three_milestones())
        before = owner_client.get(plan_url(gig)).json()
        body = {"milestone_payments": before["milestone_payments"], "milestones": before["milestones"]}
        response = owner_client.put(plan_url(gig), body, format="json")
        assert response.status_code == 200 and response.json() == before

    def test_five_milestones_is_the_maximum(self, owner_client, gig):
        response = owner_client.put(plan_url(gig), plan_body(n_milestones(5)), format="json")
        assert response.status_code == 200
        assert GigMilestone.objects.filter(gig=gig).count() == 5

    def test_turning_milestone_payments_off_keeps_the_plan_and_the_package_prices(self, owner_client, gig):
        prices = list(Package.objects.filter(gig=gig).order_by("tier").values_list("price_minor", flat=True))
        one = [milestone("Only stage", basic=terms(700))]  # too few and too cheap for milestone payments
        response = owner_client.put(plan_url(gig), plan_body(one, milestone_payments=False), format="json")
        assert response.status_code == 200, response.content
        assert response.json()["milestone_payments"] is False
        gig.refresh_from_db()
        assert gig.milestone_payments is False
        assert list(Package.objects.filter(gig=gig).order_by("tier").values_list("price_minor", flat=True)) == prices

    def test_names_are_stored_trimmed(self, owner_client, gig):
        milestones = three_milestones()
        milestones[0]["name"] = "  Concepts  "
        response = owner_client.put(plan_url(gig), plan_body(milestones), format="json")
        assert response.json()["milestones"][0]["name"] == "Concepts"


class TestRejectedPlan:
    """Every bad input is a 400 with the error where the input was, and nothing changes."""

    def put_rejected(self, client, gig, body) -> dict:
        before = snapshot(gig)
        response = client.put(plan_url(gig), body, format="json")
        assert response.status_code == 400, response.content
        assert snapshot(gig) == before
        return response.json()

    def test_a_sixth_milestone(self, owner_client, gig):
        body = self.put_rejected(owner_client, gig, plan_body(n_milestones(settings.MARKETPLACE["MILESTONES_MAX"] + 1)))
        assert body == {"milestones": ["A plan has at most 5 milestones."]}

    def test_a_sixth_milestone_is_refused_before_its_items_are_read(self, owner_client, gig):
        body = self.put_rejected(owner_client, gig, plan_body([{"name": 1, "packages": "x"}] * 6))
        assert list(body) == ["milestones"] and isinstance(body["milestones"], list)

    def test_a_crafted_thousand_milestones(self, owner_client, gig):
        body = self.put_rejected(owner_client, gig, plan_body(n_milestones(1) * 1000))
        assert_messages(body, "milestones")

    @pytest.mark.parametrize(
        ("price", "source"),
        [
            (0, "service"),
            (-500, "service"),
            (100, "service"),  # below the milestone minimum
            (10**9, "service"),  # above the package maximum
            (12.5, "serializer"),
            (1000.0, "serializer"),  # a whole float is still not an integer
            ("1000", "serializer"),
            ("", "serializer"),
            (True, "serializer"),
            (None, "serializer"),
            ([1000], "serializer"),
        ],
    )
    def test_bad_prices(self, owner_client, gig, price, source):
        milestones = three_milestones()
        milestones[1]["packages"]["basic"]["price_minor"] = price
        body = self.put_rejected(owner_client, gig, plan_body(milestones))
        assert list(body) == ["milestones"] and list(body["milestones"]) == ["1"], source
        assert_messages(body, "milestones.1.packages.basic.price_minor")

    def test_missing_price(self, owner_client, gig):
        milestones = three_milestones()
        del milestones[2]["packages"]["premium"]["price_minor"]
        body = self.put_rejected(owner_client, gig, plan_body(milestones))
        assert assert_messages(body, "milestones.2.packages.premium.price_minor") == ["This field is required."]

    @pytest.mark.parametrize("days", [0, 366, "3", 2.5])
    def test_bad_delivery_days(self, owner_client, gig, days):
        milestones = three_milestones()
        milestones[0]["packages"]["standard"]["delivery_days"] = days
        body = self.put_rejected(owner_client, gig, plan_body(milestones))
        assert_messages(body, "milestones.0.packages.standard.delivery_days")

    @pytest.mark.parametrize("revisions", [-1, 100, "1"])
    def test_bad_revisions(self, owner_client, gig, revisions):
        milestones = three_milestones()
        milestones[0]["packages"]["basic"]["revisions"] = revisions
        body = self.put_rejected(owner_client, gig, plan_body(milestones))
        assert_messages(body, "milestones.0.packages.basic.revisions")

    def test_errors_in_several_milestones_come_together_keyed_by_position(self, owner_client, gig):
        milestones = three_milestones()
        milestones[1]["packages"]["basic"]["price_minor"] = 12.5
        milestones[2]["packages"]["premium"]["delivery_days"] = "2"
        body = self.put_rejected(owner_client, gig, plan_body(milestones))
        assert set(body["milestones"]) == {"1", "2"}  # the valid first milestone is left out
        assert_messages(body, "milestones.1.packages.basic.price_minor")
        assert_messages(body, "milestones.2.packages.premium.delivery_days")

    def test_service_errors_in_several_milestones_come_together(self, owner_client, gig):
        milestones = three_milestones()
        milestones[0]["name"] = ""
        milestones[2]["packages"]["standard"]["price_minor"] = -1
        body = self.put_rejected(owner_client, gig, plan_body(milestones))
        assert set(body["milestones"]) == {"0", "2"}
        assert assert_messages(body, "milestones.0.name") == ["Name this milestone."]
        assert_messages(body, "milestones.2.packages.standard.price_minor")

    def test_basic_total_below_the_minimum(self, owner_client, gig):
        floor = settings.MARKETPLACE["BASIC_MIN_TOTAL_MINOR"]
        milestones = [
            milestone("Draft", basic=terms(floor - 1), standard=terms(floor), premium=terms(floor)),
            milestone("Final", standard=terms(floor), premium=terms(floor)),
        ]
        body = self.put_rejected(owner_client, gig, plan_body(milestones))
        assert list(body) == ["packages"] and list(body["packages"]) == ["basic"]
        assert "must total at least" in assert_messages(body, "packages.basic")[0]

    def test_higher_package_cheaper_than_the_lower_one(self, owner_client, gig):
        milestones = three_milestones()
        for m in milestones:
            m["packages"].pop("premium")
        milestones[0]["packages"]["premium"] = terms(1000)
        body = self.put_rejected(owner_client, gig, plan_body(milestones))
        assert list(body) == ["packages"]
        assert "cannot cost less" in assert_messages(body, "packages.premium")[0]

    def test_package_without_milestones(self, owner_client, gig):
        milestones = three_milestones()
        for m in milestones:
            m["packages"].pop("standard")
        body = self.put_rejected(owner_client, gig, plan_body(milestones))
        assert_messages(body, "packages.standard")

    def test_too_few_milestones_with_payments_on(self, owner_client, gig):
        body = self.put_rejected(owner_client, gig, plan_body(n_milestones(1)))
        assert body == {"milestones": [at(body, "milestones")[0]]} and "at least 2" in body["milestones"][0]

    def test_too_few_milestones_and_a_bad_one(self, owner_client, gig):
        # The count and the milestone's own field: both under "milestones" without losing either.
        one = n_milestones(1)
        one[0]["name"] = "   "
        body = self.put_rejected(owner_client, gig, plan_body(one))
        assert "at least 2" in assert_messages(body, "milestones.non_field_errors")[0]
        assert assert_messages(body, "milestones.0.name") == ["Name this milestone."]

    @pytest.mark.parametrize("name", ["", "   ", "x" * 81, "   " + "x" * 81])
    def test_bad_names(self, owner_client, gig, name):
        milestones = three_milestones()
        milestones[2]["name"] = name
        body = self.put_rejected(owner_client, gig, plan_body(milestones))
        assert body == {"milestones": {"2": {"name": at(body, "milestones.2.name")}}}
        assert_messages(body, "milestones.2.name")

    def test_name_of_exactly_the_limit_is_fine(self, owner_client, gig):
        milestones = three_milestones()
        milestones[2]["name"] = "x" * 80
        assert owner_client.put(plan_url(gig), plan_body(milestones), format="json").status_code == 200

    @pytest.mark.parametrize("name", [None, ["a"], {"a": 1}])
    def test_names_that_are_not_text(self, owner_client, gig, name):
        milestones = three_milestones()
        milestones[0]["name"] = name
        body = self.put_rejected(owner_client, gig, plan_body(milestones))
        assert_messages(body, "milestones.0.name")

    def test_description_over_the_limit(self, owner_client, gig):
        milestones = three_milestones()
        milestones[0]["description"] = "x" * 1001
        body = self.put_rejected(owner_client, gig, plan_body(milestones))
        assert_messages(body, "milestones.0.description")

    def test_unknown_package(self, owner_client, gig):
        milestones = three_milestones()
        milestones[0]["packages"]["gold"] = terms(5000)
        body = self.put_rejected(owner_client, gig, plan_body(milestones))
        assert_messages(body, "milestones.0.packages.gold")

    def test_milestone_in_no_package(self, owner_client, gig):
        milestones = three_milestones()
        milestones[1]["packages"] = {}
        body = self.put_rejected(owner_client, gig, plan_body(milestones))
        assert assert_messages(body, "milestones.1.packages") == ["Include this milestone in at least one package."]

    @pytest.mark.parametrize(
        ("body", "path"),
        [
            ({"milestones": []}, "milestone_payments"),
            ({"milestone_payments": True}, "milestones"),
            ({"milestone_payments": True, "milestones": None}, "milestones"),
            ({"milestone_payments": True, "milestones": {"0": {}}}, "milestones"),
            ({"milestone_payments": "maybe", "milestones": []}, "milestone_payments"),
            ([], "non_field_errors"),
            ({"milestone_payments": True, "milestones": ["a", "b"]}, "milestones.0"),
            ({"milestone_payments": True, "milestones": [{"name": "A", "packages": []}]}, "milestones.0.packages"),
            (
                {"milestone_payments": True, "milestones": [{"name": "A", "packages": {"basic": 5}}]},
                "milestones.0.packages.basic",
            ),
        ],
    )
    def test_malformed_bodies(self, owner_client, gig, body, path):
        assert_messages(self.put_rejected(owner_client, gig, body), path)

    def test_form_encoded_put_is_refused(self, owner_client, gig):
        before = snapshot(gig)
        response = owner_client.put(plan_url(gig), {"milestone_payments": "false"}, format="multipart")
        assert response.status_code == 415
        assert snapshot(gig) == before


class TestWhoMayWrite:
    def test_someone_elses_gig_is_404(self, stranger_client, gig):
        before = snapshot(gig)
        assert stranger_client.put(plan_url(gig), plan_body(three_milestones()), format="json").status_code == 404
        builtin = MilestoneTemplate.objects.get(owner=None, name="Logo design")
        assert stranger_client.post(apply_url(gig), {"template": builtin.pk}, format="json").status_code == 404
        assert snapshot(gig) == before

    def test_someone_elses_gig_is_404_before_the_body_is_read(self, stranger_client, gig):
        assert stranger_client.put(plan_url(gig), {"milestones": "junk"}, format="json").status_code == 404

    def test_anonymous_is_401(self, api_client, gig):
        before = snapshot(gig)
        assert api_client.put(plan_url(gig), plan_body(three_milestones()), format="json").status_code == 401
        assert api_client.post(apply_url(gig), {"template": 1}, format="json").status_code == 401
        assert api_client.get(TEMPLATES_URL).status_code == 401
        assert api_client.post(TEMPLATES_URL, {"name": "x", "milestones": []}, format="json").status_code == 401
        assert snapshot(gig) == before

    def test_unknown_gig_is_404(self, owner_client):
        assert owner_client.put("/api/gigs/nope/plan/", plan_body(three_milestones()), format="json").status_code == 404


# --- templates applied to a gig ----------------------------------------------------------------------


class TestApplyTemplate:
    def test_apply_a_builtin(self, owner_client, gig):
        logo = MilestoneTemplate.objects.get(owner=None, name="Logo design")
        response = owner_client.post(apply_url(gig), {"template": logo.pk}, format="json")
        assert response.status_code == 200, response.content
        data = response.json()
        assert [m["name"] for m in data["milestones"]] == ["Concepts", "Refinement", "Final files"]
        assert data["milestone_payments"] is True
        assert data["totals"]["basic"] == {"price_minor": 2000 + 1500 + 1000, "delivery_days": 5}
        packages = owner_client.get(detail_url(gig)).json()["packages"]
        assert packages["basic"]["price_minor"] == 4500
        assert packages["premium"]["price_minor"] == 6000 + 7000 + 5000

    @pytest.mark.parametrize("name", BUILTIN_NAMES)
    def test_every_builtin_makes_a_valid_plan(self, owner_client, gig, name):
        template = MilestoneTemplate.objects.get(owner=None, name=name)
        assert owner_client.post(apply_url(gig), {"template": template.pk}, format="json").status_code == 200

    def test_apply_your_own(self, owner_client, gig, seller):
        mine = services.template_save(
            owner=seller, name="Mine", milestones=[services.MilestoneInput.from_data(m) for m in three_milestones()]
        )
        response = owner_client.post(apply_url(gig), {"template": mine.pk}, format="json")
        assert response.status_code == 200
        assert response.json()["milestones"] == three_milestones()

    def test_someone_elses_template_is_404(self, owner_client, gig):
        theirs = services.template_save(
            owner=UserFactory(),
            name="Theirs",
            milestones=[services.MilestoneInput.from_data(m) for m in three_milestones()],
        )
        before = snapshot(gig)
        response = owner_client.post(apply_url(gig), {"template": theirs.pk}, format="json")
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
        assert owner_client.post(apply_url(gig), {"template": 999999}, format="json").status_code == 404
        assert snapshot(gig) == before

    @pytest.mark.parametrize(
        "stored",
        [{"not": "a list"}, ["not an object"], [{"name": 7, "packages": "x"}], [{"packages": {"basic": 5}}] * 2],
    )
    def test_a_malformed_stored_template_is_400_not_500(self, owner_client, gig, seller, stored):
        """Template JSON can be edited in admin (whose form checks it, but the database does not)."""
        bad = MilestoneTemplate.objects.create(owner=seller, name="Hand-edited", milestones=stored)
        before = snapshot(gig)
        response = owner_client.post(apply_url(gig), {"template": bad.pk}, format="json")
        assert response.status_code == 400, response.content
        assert "milestones" in response.json()
        assert snapshot(gig) == before

    def test_a_template_that_breaks_the_plan_rules_is_400(self, owner_client, gig, seller):
        # Templates are checked without the payment rules, so one milestone is a fine template
        # but too few for a gig sold in milestones.
        single = services.template_save(
            owner=seller, name="Single", milestones=[services.MilestoneInput.from_data(n_milestones(1)[0])]
        )
        before = snapshot(gig)
        response = owner_client.post(apply_url(gig), {"template": single.pk}, format="json")
        assert response.status_code == 400
        assert_messages(response.json(), "milestones")
        assert snapshot(gig) == before

    @pytest.mark.parametrize("body", [{}, {"template": "abc"}, {"template": 0}, {"template": None}])
    def test_bad_template_ids(self, owner_client, gig, body):
        before = snapshot(gig)
        response = owner_client.post(apply_url(gig), body, format="json")
        assert response.status_code == 400
        assert_messages(response.json(), "template")
        assert snapshot(gig) == before


# --- template management -----------------------------------------------------------------------------


class TestTemplates:
    def create(self, client, **body):
        return client.post(TEMPLATES_URL, {"name": "My plan", "milestones": three_milestones(), **body}, format="json")

    def test_list_has_builtins_then_your_own_and_not_others(self, owner_client, seller):
        services.template_save(
            owner=UserFactory(), name="Theirs", milestones=[services.MilestoneInput.from_data(n_milestones(1)[0])]
        )
        services.template_save(
            owner=seller, name="Mine", milestones=[services.MilestoneInput.from_data(n_milestones(1)[0])]
        )
        response = owner_client.get(TEMPLATES_URL)
        assert response.status_code == 200
        rows = response.json()
        assert [(r["name"], r["builtin"]) for r in rows] == [(n, True) for n in BUILTIN_NAMES] + [("Mine", False)]
        logo = rows[0]
        assert [m["name"] for m in logo["milestones"]] == ["Concepts", "Refinement", "Final files"]
        assert logo["milestones"][1]["video_call"] is True
        assert logo["milestones"][0]["packages"]["basic"] == {"price_minor": 2000, "delivery_days": 2, "revisions": 1}

    def test_category_is_exposed_and_filters_the_list(self, owner_client, seller):
        CategoryFactory(slug="graphics-design")
        CategoryFactory(slug="video-animation")
        builtin.link_categories(MilestoneTemplate, Category)
        services.template_save(
            owner=seller, name="Mine", milestones=[services.MilestoneInput.from_data(n_milestones(1)[0])]
        )
        rows = owner_client.get(TEMPLATES_URL).json()
        assert {r["name"]: r["category"] for r in rows} == {
            "Logo design": "graphics-design",
            "Two stages": None,
            "Video": "video-animation",
            "Website": None,
            "Writing": None,
            "Mine": None,
        }
        logo = MilestoneTemplate.objects.get(owner__isnull=True, name="Logo design")
        assert owner_client.get(template_url(logo)).json()["category"] == "graphics-design"

        filtered = owner_client.get(TEMPLATES_URL, {"category": "video-animation"})
        assert filtered.status_code == 200 and [r["name"] for r in filtered.json()] == ["Video"]
        assert owner_client.get(TEMPLATES_URL, {"category": "no-such-category"}).json() == []
        assert len(owner_client.get(TEMPLATES_URL, {"category": ""}).json()) == len(BUILTIN_NAMES) + 1
        bad = owner_client.get(TEMPLATES_URL, {"category": "not a slug"})
        assert bad.status_code == 400 and "category" in bad.json()

    def test_list_query_count_does_not_grow_with_categories(self, owner_client, django_assert_num_queries):
        owner_client.get(TEMPLATES_URL)
        with CaptureQueriesContext(connection) as ctx:
            owner_client.get(TEMPLATES_URL)
        for slug in builtin.CATEGORIES.values():
            CategoryFactory(slug=slug)
        builtin.link_categories(MilestoneTemplate, Category)
        with django_assert_num_queries(len(ctx)):
            rows = owner_client.get(TEMPLATES_URL).json()
        assert sum(r["category"] is not None for r in rows) == 4

    def test_list_query_count_does_not_grow(self, owner_client, seller, django_assert_num_queries):
        owner_client.get(TEMPLATES_URL)
        with CaptureQueriesContext(connection) as ctx:
            owner_client.get(TEMPLATES_URL)
        for i in range(10):
            services.template_save(
                owner=seller, name=f"T{i}", milestones=[services.MilestoneInput.from_data(n_milestones(1)[0])]
            )
        with django_assert_num_queries(len(ctx)):
            assert len(owner_client.get(TEMPLATES_URL).json()) == len(BUILTIN_NAMES) + 10

    def test_create_from_milestones(self, owner_client, seller):
        response = self.create(owner_client, description="Three stages.")
        assert response.status_code == 201, response.content
        data = response.json()
        assert (data["name"], data["description"], data["builtin"]) == ("My plan", "Three stages.", False)
        assert data["milestones"] == three_milestones()
        assert MilestoneTemplate.objects.get(pk=data["id"]).owner == seller

    def test_create_from_your_gig(self, owner_client, gig):
        save_plan(gig, three_milestones())
        response = owner_client.post(TEMPLATES_URL, {"name": "From gig", "from_gig": gig.slug}, format="json")
        assert response.status_code == 201, response.content
        assert response.json()["milestones"] == three_milestones()

    def test_create_from_a_gig_without_a_plan(self, owner_client, seller):
        bare = GigFactory(seller=seller, milestone_payments=False)
        response = owner_client.post(TEMPLATES_URL, {"name": "Empty", "from_gig": bare.slug}, format="json")
        assert response.status_code == 400
        assert_messages(response.json(), "from_gig")
        assert not MilestoneTemplate.objects.filter(name="Empty").exists()

    def test_create_from_someone_elses_gig_is_404(self, stranger_client, gig):
        response = stranger_client.post(TEMPLATES_URL, {"name": "Stolen", "from_gig": gig.slug}, format="json")
        assert response.status_code == 404
        assert not MilestoneTemplate.objects.filter(name="Stolen").exists()

    @pytest.mark.parametrize(
        ("body", "path"),
        [
            ({"from_gig": "some-gig"}, "non_field_errors"),  # both sources
            ({"milestones": []}, "milestones"),
            ({"name": ""}, "name"),
            ({"name": "x" * 81}, "name"),
            ({"description": "x" * 241}, "description"),
            ({"milestones": n_milestones(6)}, "milestones"),
            ({"milestones": [milestone("A", basic=terms(12.5))]}, "milestones.0.packages.basic.price_minor"),
            ({"milestones": [milestone("A", basic=terms(-5))]}, "milestones.0.packages.basic.price_minor"),
            ({"milestones": [milestone("", basic=terms(1000))]}, "milestones.0.name"),
        ],
    )
    def test_create_rejects(self, owner_client, body, path):
        response = self.create(owner_client, **body)
        assert response.status_code == 400, response.content
        assert_messages(response.json(), path)
        assert not MilestoneTemplate.objects.filter(owner__isnull=False).exists()

    def test_neither_source(self, owner_client):
        response = owner_client.post(TEMPLATES_URL, {"name": "Nothing"}, format="json")
        assert response.status_code == 400
        assert_messages(response.json(), "non_field_errors")

    def test_duplicate_name_is_409(self, owner_client):
        assert self.create(owner_client).status_code == 201
        response = self.create(owner_client, name="  My plan ")
        assert response.status_code == 409
        assert response.json()["code"] == "template_name_taken"
        assert response.json()["field"] == "name"
        assert MilestoneTemplate.objects.filter(name="My plan").count() == 1

    def test_a_builtins_name_is_free_for_your_own(self, owner_client):
        assert self.create(owner_client, name="Logo design").status_code == 201

    def test_read_one(self, owner_client, stranger_client):
        logo = MilestoneTemplate.objects.get(owner=None, name="Logo design")
        assert owner_client.get(template_url(logo)).json()["name"] == "Logo design"
        mine = self.create(owner_client).json()
        theirs = services.template_save(
            owner=UserFactory(), name="Theirs", milestones=[services.MilestoneInput.from_data(n_milestones(1)[0])]
        )
        assert owner_client.get(f"{TEMPLATES_URL}{mine['id']}/").status_code == 200
        assert owner_client.get(template_url(theirs)).status_code == 404

    def test_rename(self, owner_client):
        created = self.create(owner_client).json()
        response = owner_client.patch(f"{TEMPLATES_URL}{created['id']}/", {"name": " Renamed "}, format="json")
        assert response.status_code == 200
        assert response.json()["name"] == "Renamed"
        assert MilestoneTemplate.objects.get(pk=created["id"]).name == "Renamed"

    def test_rename_to_a_taken_name_is_409(self, owner_client):
        self.create(owner_client, name="Taken")
        created = self.create(owner_client).json()
        response = owner_client.patch(f"{TEMPLATES_URL}{created['id']}/", {"name": "Taken"}, format="json")
        assert response.status_code == 409 and response.json()["code"] == "template_name_taken"
        assert MilestoneTemplate.objects.get(pk=created["id"]).name == "My plan"

    @pytest.mark.parametrize("name", ["", "   ", "x" * 81])
    def test_rename_to_a_bad_name_is_400(self, owner_client, name):
        created = self.create(owner_client).json()
        response = owner_client.patch(f"{TEMPLATES_URL}{created['id']}/", {"name": name}, format="json")
        assert response.status_code == 400
        assert_messages(response.json(), "name")
        assert MilestoneTemplate.objects.get(pk=created["id"]).name == "My plan"

    def test_rename_or_delete_a_builtin_or_someone_elses_is_404(self, owner_client):
        logo = MilestoneTemplate.objects.get(owner=None, name="Logo design")
        theirs = services.template_save(
            owner=UserFactory(), name="Theirs", milestones=[services.MilestoneInput.from_data(n_milestones(1)[0])]
        )
        for template in (logo, theirs):
            assert owner_client.patch(template_url(template), {"name": "Mine now"}, format="json").status_code == 404
            assert owner_client.delete(template_url(template)).status_code == 404
            template.refresh_from_db()
            assert template.name in ("Logo design", "Theirs")

    def test_delete(self, owner_client):
        created = self.create(owner_client).json()
        assert owner_client.delete(f"{TEMPLATES_URL}{created['id']}/").status_code == 204
        assert not MilestoneTemplate.objects.filter(pk=created["id"]).exists()
        assert owner_client.delete(f"{TEMPLATES_URL}{created['id']}/").status_code == 404


# --- output safety and cost ---------------------------------------------------------------------------


class TestScriptTagsInNames:
    def test_json_keeps_the_text_and_the_page_escapes_it(self, owner_client, client, gig):
        milestones = three_milestones()
        milestones[0]["name"] = XSS
        milestones[1]["description"] = XSS
        assert owner_client.put(plan_url(gig), plan_body(milestones), format="json").status_code == 200

        assert owner_client.get(plan_url(gig)).json()["milestones"][0]["name"] == XSS
        detail = owner_client.get(detail_url(gig)).json()
        assert detail["milestone_plan"][0]["name"] == XSS
        assert detail["milestone_plan"][1]["description"] == XSS

        page = client.get(gig.get_absolute_url())
        assert page.status_code == 200
        html = page.content.decode()
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "<script>alert" not in html

    def test_template_names_come_back_verbatim(self, owner_client):
        response = owner_client.post(
            TEMPLATES_URL, {"name": XSS, "milestones": [milestone(XSS, basic=terms(1000))]}, format="json"
        )
        assert response.status_code == 201
        assert response.json()["name"] == XSS and response.json()["milestones"][0]["name"] == XSS


class TestQueryCounts:
    """Reading a plan costs the same queries with 2 milestones as with 5."""

    def count(self, client, url) -> int:
        client.get(url)  # warm up one-off caches
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url)
        assert response.status_code == 200
        return len(ctx)

    @pytest.mark.parametrize("url_of", [detail_url, plan_url])
    def test_same_count_for_2_and_5_milestones(self, api_client, seller, url_of):
        small = save_plan(GigFactory(seller=seller, published=True, milestone_payments=True), n_milestones(2))
        large = save_plan(GigFactory(seller=seller, published=True, milestone_payments=True), n_milestones(5))
        key = "milestone_plan" if url_of is detail_url else "milestones"
        assert len(api_client.get(url_of(large)).json()[key]) == 5
        assert self.count(api_client, url_of(small)) == self.count(api_client, url_of(large))


class TestSchema:
    def test_plan_and_template_bodies_are_documented(self, api_client):
        response = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
        assert response.status_code == 200
        schema = response.json()
        paths = schema["paths"]
        put = paths["/api/gigs/{slug}/plan/"]["put"]
        assert put["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/PlanWriteRequest")
        assert put["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/Plan")
        assert "400" in put["responses"] and "404" in put["responses"]
        assert "post" in paths["/api/gigs/{slug}/plan/apply-template/"]
        assert {"get", "post"} <= set(paths["/api/milestone-templates/"])
        assert {"get", "patch", "delete"} <= set(paths["/api/milestone-templates/{template_id}/"])
        components = schema["components"]["schemas"]
        price = components["TermsRequest"]["properties"]["price_minor"]
        assert price["type"] == "integer"
        assert set(components["MilestoneRequest"]["properties"]) == {"name", "description", "video_call", "packages"}


def test_a_rejected_put_leaves_the_plan_as_it_was_in_the_api(owner_client, gig):
    before = owner_client.get(plan_url(gig)).json()
    bad = copy.deepcopy(three_milestones())
    bad[0]["packages"]["basic"]["price_minor"] = 0
    assert owner_client.put(plan_url(gig), plan_body(bad), format="json").status_code == 400
    assert owner_client.get(plan_url(gig)).json() == before


@pytest.mark.parametrize(
    "errors",
    [
        {"milestones": ["Too few."], "milestones.0.name": ["Name this milestone."]},
        {"milestones.0.name": ["Name this milestone."], "milestones": ["Too few."]},
    ],
)
def test_service_errors_on_a_key_and_its_children_nest_in_either_order(errors):
    from marketplace.api import nest_errors

    assert nest_errors(errors) == {
        "milestones": {"non_field_errors": ["Too few."], "0": {"name": ["Name this milestone."]}}
    }
