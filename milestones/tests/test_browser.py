"""Browser journeys through the milestone builder on the gig editor's Description & FAQ step:
real Chromium driven by Playwright against pytest-django's live server, with JavaScript on (the
builder works in the page) and off (every button is a server round trip). Screenshots of each
step go to test-artifacts/screenshots/."""

import re
from decimal import Decimal

import pytest
from django.conf import settings
from playwright.sync_api import expect

from gigs.models import Gig, Package
from marketplace.money import format_money, to_minor
from milestones.models import GigMilestone

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "demo-pass-2026"
TIERS = ["basic", "standard", "premium"]
MAX_MILESTONES = settings.MARKETPLACE["MILESTONES_MAX"]
# seed_demo's gigs used here.
SOCIAL_KIT = "I will create a social media kit for your launch"  # alice, Digital Marketing: no plan
BOOK_COVER = "I will illustrate a custom book cover"  # alice, Graphics & Design: the "Logo design" plan
MIX_MASTER = "I will mix and master your song"  # carol, Music & Audio: no plan


# --- helpers ----------------------------------------------------------------------------------


def log_in(page, username: str) -> None:
    page.goto("/")
    page.get_by_role("navigation", name="Account").get_by_role("link", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("navigation", name="Account").get_by_role("link", name=username)).to_be_visible()


def open_description_step(page, title: str) -> None:
    """From anywhere: My gigs, the gig's Edit link, then the editor's third step."""
    page.get_by_role("navigation", name="Account").get_by_role("link", name="My gigs").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My gigs")
    page.get_by_test_id("my-gig").filter(has_text=title).get_by_role("link", name="Edit").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    page.get_by_role("link", name="3. Description & FAQ").click()
    expect(page).to_have_url(re.compile(r"/sell/gigs/\d+/edit/description/$"))
    expect(page.get_by_role("heading", name="Milestones")).to_be_visible()


def wait_for_builder_script(page) -> None:
    """The script is deferred: until it has run, the builder's buttons still post the page."""
    expect(page.locator("[data-builder]")).to_have_attribute("data-enhanced", "true")


def payments_toggle(page):
    return page.get_by_role("checkbox", name=re.compile(r"^Milestone payments"))


def milestones(page):
    return page.locator("[data-list] [data-milestone]")


def field(page, i: int, name: str):
    return page.locator(f'[name="ms-{i}-{name}"]')


def fill_milestone(page, i: int, name: str, terms: dict, description: str = "", video_call: bool = False) -> None:
    """`terms`: tier -> (price, delivery days, revisions) as typed, or None to leave it out."""
    field(page, i, "name").fill(name)
    field(page, i, "description").fill(description)
    field(page, i, "video_call").set_checked(video_call)
    for tier in TIERS:
        included = field(page, i, f"{tier}_included")
        if terms.get(tier) is None:
            included.uncheck()
            continue
        included.check()
        price, days, revisions = terms[tier]
        field(page, i, f"{tier}_price").fill(price)
        field(page, i, f"{tier}_delivery_days").fill(days)
        field(page, i, f"{tier}_revisions").fill(revisions)


def expect_milestone(page, i: int, name: str, terms: dict, description: str = "", video_call: bool = False) -> None:
    """The builder shows milestone i as saved: prices come back with two decimals ("20.00")."""
    expect(field(page, i, "name")).to_have_value(name)
    expect(field(page, i, "description")).to_have_value(description)
    if video_call:
        expect(field(page, i, "video_call")).to_be_checked()
    else:
        expect(field(page, i, "video_call")).not_to_be_checked()
    for tier in TIERS:
        if terms.get(tier) is None:
            expect(field(page, i, f"{tier}_included")).not_to_be_checked()
            continue
        price, days, revisions = terms[tier]
        expect(field(page, i, f"{tier}_included")).to_be_checked()
        expect(field(page, i, f"{tier}_price")).to_have_value(f"{Decimal(price):.2f}")
        expect(field(page, i, f"{tier}_delivery_days")).to_have_value(days)
        expect(field(page, i, f"{tier}_revisions")).to_have_value(revisions)


def expect_totals(page, totals: dict) -> None:
    """`totals`: tier -> (milestone count, "$price", "N days") in the table under the builder."""
    for tier, (count, price, days) in totals.items():
        row = page.locator(f"[data-total={tier}]")
        expect(row.locator("[data-count]")).to_have_text(str(count))
        expect(row.locator("[data-price]")).to_have_text(price)
        expect(row.locator("[data-days]")).to_have_text(days)


def stored_plan(gig: Gig) -> list[tuple[str, dict]]:
    """The saved plan: [(name, {tier: (price_minor, days, revisions)})] in order."""
    return [
        (m.name, {t.tier: (t.price_minor, t.delivery_days, t.revisions) for t in m.tiers.all()})
        for m in GigMilestone.objects.filter(gig=gig).order_by("position").prefetch_related("tiers")
    ]


def package_prices(gig: Gig) -> dict[str, int]:
    return dict(Package.objects.filter(gig=gig).values_list("tier", "price_minor"))


# A three-milestone plan for the social media kit; "Story covers" is not in Basic.
KIT_PLAN = [
    (
        "Brand audit",
        {"basic": ("20", "2", "1"), "standard": ("30", "3", "1"), "premium": ("40", "3", "2")},
        "Your brand, audience and channels reviewed.",
        False,
    ),
    (
        "Template design",
        {"basic": ("25", "3", "1"), "standard": ("45.50", "4", "2"), "premium": ("70", "5", "3")},
        "",
        True,
    ),
    ("Story covers", {"basic": None, "standard": ("12.50", "1", "0"), "premium": ("30", "2", "1")}, "", False),
]
KIT_TOTALS = {
    "basic": (2, "$45", "5 days"),
    "standard": (3, "$88", "8 days"),
    "premium": (3, "$140", "10 days"),
}


# --- journeys with JavaScript -----------------------------------------------------------------


def test_seller_builds_a_plan_in_the_page_and_a_buyer_sees_it(page, new_page, shot, demo_data):
    gig = Gig.objects.get(title=SOCIAL_KIT)
    log_in(page, "alice")
    open_description_step(page, SOCIAL_KIT)
    wait_for_builder_script(page)
    expect(payments_toggle(page)).not_to_be_checked()
    expect(milestones(page)).to_have_count(0)
    expect(page.locator("[data-empty]")).to_contain_text("No milestones yet.")
    expect(page.get_by_role("button", name="+ Add a milestone")).to_be_hidden()
    shot(page, "no-plan")

    # Everything below happens in the page: a reload would lose this marker.
    page.evaluate("window.__marker = 1")
    payments_toggle(page).check()
    page.get_by_role("button", name="Start from scratch").click()
    expect(milestones(page)).to_have_count(1)
    expect(field(page, 0, "name")).to_have_value("Milestone 1")
    expect(milestones(page).first.locator("[data-number]")).to_have_text("Milestone 1")
    expect(page.locator("[data-empty]")).to_be_hidden()
    for tier in TIERS:
        expect(field(page, 0, f"{tier}_included")).to_be_checked()
    add = page.get_by_role("button", name="+ Add a milestone")
    add.click()
    add.click()
    expect(milestones(page)).to_have_count(3)
    expect(milestones(page).locator("[data-number]")).to_have_text(["Milestone 1", "Milestone 2", "Milestone 3"])
    expect(field(page, 2, "name")).to_have_value("Milestone 3")
    expect(page.locator("#id_ms-TOTAL_FORMS")).to_have_value("3")
    expect(add).to_be_enabled()
    # No prices yet: the live hints say what is missing.
    expect(page.locator("[data-hints]")).to_contain_text("The Basic package must total at least $10.")
    assert page.evaluate("window.__marker") == 1
    shot(page, "three-empty-milestones")

    for i, (name, terms, description, video_call) in enumerate(KIT_PLAN):
        fill_milestone(page, i, name, terms, description, video_call)
    expect(milestones(page).nth(2).locator("tr[data-tier=basic]")).to_have_class(re.compile(r"\bexcluded\b"))
    # A fourth one, moved up and removed again in the page: the rows are renumbered each time.
    add.click()
    expect(milestones(page)).to_have_count(4)
    field(page, 3, "name").fill("Temporary")
    page.get_by_role("button", name="Move milestone 4 up").click()
    expect(field(page, 2, "name")).to_have_value("Temporary")
    expect(field(page, 3, "name")).to_have_value("Story covers")
    expect(field(page, 3, "basic_included")).not_to_be_checked()
    page.get_by_role("button", name="Remove milestone 3").click()
    expect(milestones(page)).to_have_count(3)
    expect(field(page, 2, "name")).to_have_value("Story covers")
    expect(field(page, 3, "name")).to_have_count(0)
    expect(page.locator("#id_ms-TOTAL_FORMS")).to_have_value("3")
    expect_totals(page, KIT_TOTALS)  # the live sums, before anything is saved
    expect(page.locator("[data-hints] li")).to_have_count(0)
    assert page.evaluate("window.__marker") == 1
    shot(page, "filled-live-totals")

    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Description, FAQ and milestone plan saved.")
    page.reload()
    expect(payments_toggle(page)).to_be_checked()
    expect(milestones(page)).to_have_count(3)
    for i, (name, terms, description, video_call) in enumerate(KIT_PLAN):
        expect_milestone(page, i, name, terms, description, video_call)
    expect_totals(page, KIT_TOTALS)
    shot(page, "saved-and-reloaded")

    gig.refresh_from_db()
    assert gig.milestone_payments is True
    assert gig.plan_milestone_count == 3
    assert stored_plan(gig) == [
        ("Brand audit", {"basic": (2000, 2, 1), "standard": (3000, 3, 1), "premium": (4000, 3, 2)}),
        ("Template design", {"basic": (2500, 3, 1), "standard": (4550, 4, 2), "premium": (7000, 5, 3)}),
        ("Story covers", {"standard": (1250, 1, 0), "premium": (3000, 2, 1)}),
    ]
    assert package_prices(gig) == {"basic": 4500, "standard": 8800, "premium": 14000}
    assert gig.status == Gig.Status.PUBLISHED

    # A buyer (a fresh, anonymous browser) sees the plan on the gig page.
    buyer = new_page()
    buyer.goto(gig.get_absolute_url())
    expect(buyer.get_by_role("heading", level=1)).to_have_text(SOCIAL_KIT)
    expect(buyer.get_by_test_id("package").locator(".package-price")).to_have_text(["$45", "$88", "$140"])
    plan = buyer.locator("[data-plan]")
    expect(plan.get_by_role("heading", name="Milestone plan")).to_be_visible()
    tabs = plan.get_by_role("navigation", name="Package")
    expect(tabs.locator("[data-plan-tab=basic]")).to_have_attribute("aria-current", "true")
    basic = plan.locator("[data-plan-panel=basic]")
    expect(basic).to_be_visible()
    expect(basic.get_by_test_id("plan-step").locator("h4")).to_have_text(["1. Brand audit", "2. Template design"])
    expect(basic.locator("[data-plan-total]")).to_have_text("Basic total: $45 · 5 days")
    expect(basic.get_by_test_id("plan-step").nth(1)).to_contain_text("video call included")
    shot(buyer, "buyer-basic-plan")

    buyer.evaluate("window.__marker = 1")
    tabs.locator("[data-plan-tab=premium]").click()
    premium = plan.locator("[data-plan-panel=premium]")
    expect(premium).to_be_visible()
    expect(basic).to_be_hidden()
    expect(tabs.locator("[data-plan-tab=premium]")).to_have_attribute("aria-current", "true")
    expect(tabs.locator("[data-plan-tab=basic]")).not_to_have_attribute("aria-current", "true")
    expect(premium.get_by_test_id("plan-step").locator("h4")).to_have_text(
        ["1. Brand audit", "2. Template design", "3. Story covers"]
    )
    expect(premium.get_by_test_id("plan-step").first).to_contain_text("$40 · 3 days · 2 revisions")
    expect(premium.locator("[data-plan-total]")).to_have_text("Premium total: $140 · 10 days")
    expect(buyer).to_have_url(re.compile(r"\?package=premium$"))
    assert buyer.evaluate("window.__marker") == 1  # switched in the page
    shot(buyer, "buyer-premium-plan")


def test_seller_applies_the_two_stages_template(page, shot, demo_data):
    # alice has a single gig without a plan, so this journey uses carol's.
    gig = Gig.objects.get(title=MIX_MASTER)
    log_in(page, "carol")
    open_description_step(page, MIX_MASTER)
    wait_for_builder_script(page)
    expect(milestones(page)).to_have_count(0)
    expect(payments_toggle(page)).not_to_be_checked()

    page.get_by_label("Use a template").select_option(label="Two stages")
    shot(page, "template-chosen")
    page.get_by_role("button", name="Apply template").click()  # a server round trip: nothing saved yet
    expect(page.get_by_role("status")).to_contain_text(
        "Template “Two stages” applied: review the milestones, then save."
    )
    expect(milestones(page)).to_have_count(2)
    wait_for_builder_script(page)
    expect(field(page, 0, "name")).to_have_value("First delivery")
    expect(field(page, 1, "name")).to_have_value("Final delivery")
    expect(field(page, 0, "description")).to_have_value("The first version of the work.")
    expect(field(page, 0, "video_call")).to_be_checked()
    for i in range(2):
        for tier, (price, days, revisions) in {
            "basic": ("10.00", "2", "1"),
            "standard": ("20.00", "3", "2"),
            "premium": ("40.00", "4", "3"),
        }.items():
            expect(field(page, i, f"{tier}_included")).to_be_checked()
            expect(field(page, i, f"{tier}_price")).to_have_value(price)
            expect(field(page, i, f"{tier}_delivery_days")).to_have_value(days)
            expect(field(page, i, f"{tier}_revisions")).to_have_value(revisions)
    expect_totals(
        page, {"basic": (2, "$20", "4 days"), "standard": (2, "$40", "6 days"), "premium": (2, "$80", "8 days")}
    )
    assert not GigMilestone.objects.filter(gig=gig).exists()
    shot(page, "template-applied")

    payments_toggle(page).check()
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Description, FAQ and milestone plan saved.")
    page.reload()
    expect(payments_toggle(page)).to_be_checked()
    expect(milestones(page)).to_have_count(2)
    expect(field(page, 0, "name")).to_have_value("First delivery")
    expect(field(page, 1, "name")).to_have_value("Final delivery")
    shot(page, "template-saved")

    gig.refresh_from_db()
    assert gig.milestone_payments is True
    assert [name for name, _ in stored_plan(gig)] == ["First delivery", "Final delivery"]
    assert package_prices(gig) == {"basic": 2000, "standard": 4000, "premium": 8000}


def test_builder_stops_at_five_milestones_and_the_server_refuses_six(page, shot, demo_data):
    gig = Gig.objects.get(title=BOOK_COVER)
    plan_before, prices_before = stored_plan(gig), package_prices(gig)
    log_in(page, "alice")
    open_description_step(page, BOOK_COVER)
    wait_for_builder_script(page)
    expect(payments_toggle(page)).to_be_checked()
    expect(milestones(page)).to_have_count(3)
    expect(field(page, 0, "name")).to_have_value("Concepts")

    page.evaluate("window.__marker = 1")
    add = page.get_by_role("button", name="+ Add a milestone")
    limit_note = page.locator("[data-limit-note]")
    expect(limit_note).to_have_text("")
    add.click()
    add.click()
    expect(milestones(page)).to_have_count(MAX_MILESTONES)
    expect(add).to_be_disabled()
    expect(limit_note).to_have_text(f"You have reached the limit of {MAX_MILESTONES} milestones.")
    for i in (3, 4):  # valid, so the count is the only thing wrong below
        fill_milestone(page, i, f"Extra {i + 1}", dict.fromkeys(TIERS, ("5", "1", "0")))
    expect(page.locator("[data-hints] li")).to_have_count(0)
    assert page.evaluate("window.__marker") == 1
    shot(page, "five-milestones-limit")

    # A crafted sixth milestone: copy the fifth and claim six forms.
    count = page.evaluate(
        """() => {
        const list = document.querySelector("[data-list]");
        const items = list.querySelectorAll("[data-milestone]");
        const copy = items[items.length - 1].cloneNode(true);
        copy.querySelectorAll("[name], [id], label[for]").forEach((el) => {
          for (const attr of ["name", "id", "for"]) {
            const value = el.getAttribute(attr);
            if (value) el.setAttribute(attr, value.replace(/ms-\\d+-/, "ms-" + items.length + "-"));
          }
        });
        copy.querySelector("[name$='-name']").value = "Sixth";
        list.appendChild(copy);
        document.getElementById("id_ms-TOTAL_FORMS").value = String(items.length + 1);
        return list.querySelectorAll("[data-milestone]").length;
      }"""
    )
    assert count == MAX_MILESTONES + 1
    expect(field(page, 5, "name")).to_have_value("Sixth")
    expect(field(page, 5, "basic_price")).to_have_value("5")
    page.get_by_role("button", name="Save", exact=True).click()
    # Django's "Please submit at most 5 forms." today; any wording that states the limit will do.
    alerts = page.locator("#milestones").get_by_role("alert")
    limit_error = alerts.filter(has_text=re.compile(rf"at most {MAX_MILESTONES}\b"))
    expect(limit_error).to_be_visible()
    expect(page.get_by_role("status")).to_have_count(0)  # no "saved" message
    shot(page, "six-refused")

    gig.refresh_from_db()
    assert stored_plan(gig) == plan_before
    assert GigMilestone.objects.filter(gig=gig).count() == 3
    assert gig.plan_milestone_count == 3
    assert package_prices(gig) == prices_before


# --- the same builder without JavaScript ------------------------------------------------------


def test_seller_builds_a_plan_without_javascript(new_page, shot, demo_data):
    page = new_page(java_script_enabled=False)
    gig = Gig.objects.get(title=SOCIAL_KIT)
    log_in(page, "alice")
    open_description_step(page, SOCIAL_KIT)
    expect(page.locator("[data-builder]")).not_to_have_attribute("data-enhanced", "true")
    expect(milestones(page)).to_have_count(0)

    def submit(button) -> None:
        """Every builder button posts the page and the server re-renders it."""
        with page.expect_navigation():
            button.click()

    payments_toggle(page).check()
    submit(page.get_by_role("button", name="Start from scratch"))
    expect(milestones(page)).to_have_count(1)
    expect(field(page, 0, "name")).to_have_value("Milestone 1")
    expect(payments_toggle(page)).to_be_checked()  # kept across the round trip
    for tier in TIERS:
        expect(field(page, 0, f"{tier}_included")).to_be_checked()
    shot(page, "started")
    submit(page.get_by_role("button", name="+ Add a milestone"))
    expect(milestones(page)).to_have_count(2)
    submit(page.get_by_role("button", name="+ Add a milestone"))
    expect(milestones(page)).to_have_count(3)
    expect(milestones(page).locator("[data-number]")).to_have_text(["Milestone 1", "Milestone 2", "Milestone 3"])
    expect(field(page, 2, "name")).to_have_value("Milestone 3")

    plan = {
        "Kickoff": {"basic": ("10", "1", "0"), "standard": ("20", "2", "1"), "premium": ("30", "2", "1")},
        "Drop me": {"basic": ("99", "9", "9"), "standard": ("99", "9", "9"), "premium": ("99", "9", "9")},
        "Designs": {"basic": ("15.50", "3", "1"), "standard": ("30", "4", "2"), "premium": ("60", "5", "3")},
    }
    for i, (name, terms) in enumerate(plan.items()):
        fill_milestone(page, i, name, terms)
    submit(page.get_by_role("button", name="+ Add a milestone"))  # typed values survive the round trip
    expect(milestones(page)).to_have_count(4)
    expect(field(page, 1, "name")).to_have_value("Drop me")
    expect(field(page, 2, "basic_price")).to_have_value("15.50")
    # Server-side totals of the rows as typed; the new fourth milestone has no prices yet.
    expect_totals(
        page,
        {"basic": (4, "$124.50", "13 days"), "standard": (4, "$149", "15 days"), "premium": (4, "$189", "16 days")},
    )
    fill_milestone(
        page, 3, "Handover", {"basic": ("5", "1", "0"), "standard": ("5", "1", "0"), "premium": ("10", "1", "1")}
    )
    submit(page.get_by_role("button", name="+ Add a milestone"))
    expect(milestones(page)).to_have_count(MAX_MILESTONES)
    expect(page.get_by_role("button", name="+ Add a milestone")).to_be_disabled()
    expect(page.locator("[data-limit-note]")).to_have_text(
        f"You have reached the limit of {MAX_MILESTONES} milestones."
    )
    shot(page, "five-milestones")

    submit(page.get_by_role("button", name="Remove milestone 5"))
    expect(milestones(page)).to_have_count(4)
    expect(page.get_by_role("button", name="+ Add a milestone")).to_be_enabled()
    submit(page.get_by_role("button", name="Remove milestone 2"))  # "Drop me"
    expect(milestones(page)).to_have_count(3)
    names = [field(page, i, "name") for i in range(3)]
    for locator, name in zip(names, ["Kickoff", "Designs", "Handover"], strict=True):
        expect(locator).to_have_value(name)
    shot(page, "removed")
    submit(page.get_by_role("button", name="Move milestone 3 up"))  # "Handover" before "Designs"
    for locator, name in zip(names, ["Kickoff", "Handover", "Designs"], strict=True):
        expect(locator).to_have_value(name)
    expect(field(page, 1, "premium_price")).to_have_value("10")
    expect(field(page, 2, "basic_price")).to_have_value("15.50")
    expect_totals(
        page, {"basic": (3, "$30.50", "5 days"), "standard": (3, "$55", "7 days"), "premium": (3, "$100", "8 days")}
    )
    assert not GigMilestone.objects.filter(gig=gig).exists()  # nothing saved by those buttons
    shot(page, "moved-up")

    with page.expect_navigation():
        page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Description, FAQ and milestone plan saved.")
    expect(milestones(page)).to_have_count(3)
    for locator, name in zip(names, ["Kickoff", "Handover", "Designs"], strict=True):
        expect(locator).to_have_value(name)
    shot(page, "saved")

    gig.refresh_from_db()
    assert gig.milestone_payments is True
    assert GigMilestone.objects.filter(gig=gig).count() == 3
    saved = stored_plan(gig)
    assert [name for name, _ in saved] == ["Kickoff", "Handover", "Designs"]
    assert saved[1][1] == {"basic": (500, 1, 0), "standard": (500, 1, 0), "premium": (1000, 1, 1)}
    prices = package_prices(gig)
    assert prices["basic"] == sum(terms["basic"][0] for _, terms in saved) == 1000 + 500 + 1550
    assert prices == {"basic": 3050, "standard": 5500, "premium": 10000}


# --- regressions ---------------------------------------------------------------------------------


def test_package_card_link_selects_its_plan_tab(page, shot, demo_data):
    """A package card's "See its milestones" link shows that package's plan and marks its tab,
    as the tabs themselves do."""
    gig = Gig.objects.get(title="I will design a minimalist logo for your brand")  # the "Logo design" plan
    page.goto(gig.get_absolute_url())
    page.get_by_test_id("package").filter(has_text="Identity").get_by_role("link", name="See its milestones").click()
    plan = page.locator("[data-plan]")
    expect(plan.locator("[data-plan-panel=premium]")).to_be_visible()
    expect(plan.locator("[data-plan-panel=basic]")).to_be_hidden()
    shot(page, "card-link-premium")
    tabs = plan.get_by_role("navigation", name="Package")
    # The click handler runs synchronously: no need to wait the full timeout for a known failure.
    expect(tabs.locator("[data-plan-tab=premium]")).to_have_attribute("aria-current", "true", timeout=2_000)
    expect(page.get_by_test_id("package").locator("[aria-current]")).to_have_count(0, timeout=2_000)


# Typed prices and what the server makes of them (marketplace.money.to_minor); None: refused, and
# counted as nothing in the totals (milestones.views._totals). The page script must agree on each.
TYPED_PRICES = [
    ("12,50", 1250),  # a decimal comma before the cents
    ("12,5", 1250),
    ("1,250", 125000),  # a comma then three digits groups thousands
    ("1,250.50", 125050),
    (" 12.5 ", 1250),
    ("1e3", None),  # no exponents
    ("-12", None),  # no signs
    ("1,2345", None),  # an ambiguous comma
    ("1.234,50", None),
    ("12.505", None),  # more decimals than the currency has
    ("", None),
]


def test_live_totals_read_prices_like_the_server(page, shot, demo_data):
    """The live totals must add up the typed prices the way the server will save them."""
    gig = Gig.objects.get(title=BOOK_COVER)  # Basic: Concepts $20 + Refinement $15 + Final files $10
    log_in(page, "alice")
    open_description_step(page, BOOK_COVER)
    wait_for_builder_script(page)
    expect_totals(page, {"basic": (3, "$45", "5 days")})
    for typed, minor in TYPED_PRICES:
        try:
            server_minor = to_minor(typed, gig.currency)
        except ValueError:
            server_minor = None
        assert server_minor == minor, typed
        field(page, 0, "basic_price").fill(typed)
        expected = format_money((server_minor or 0) + 1500 + 1000, gig.currency)
        expect(page.locator("[data-total=basic] [data-price]")).to_have_text(expected, timeout=2_000)
    field(page, 0, "basic_price").fill("12,50")
    expect_totals(page, {"basic": (3, "$37.50", "5 days")})
    shot(page, "comma-price")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Description, FAQ and milestone plan saved.")
    assert stored_plan(gig)[0][1]["basic"][0] == 1250
    assert package_prices(gig)["basic"] == 3750
