"""Browser journeys through the catalog and the gig editor: real Chromium driven by Playwright
against pytest-django's live server. Screenshots of each step go to test-artifacts/screenshots/."""

import re
import uuid

import pytest
from django.utils.text import slugify
from playwright.sync_api import expect

from gigs.models import Gig
from gigs.selectors import gig_list_public

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LOGO_GIG = "I will design a minimalist logo for your brand"


def _count_text(n: int) -> str:
    return f"{n} gig{'' if n == 1 else 's'}"


def test_visitor_searches_filters_and_opens_a_gig_with_three_packages(page, shot, demo_data, mailoutbox):
    assert len(mailoutbox) == 12  # each demo seller was told, by the eager task

    page.goto("/")
    expect(page.get_by_role("heading", name="Hire in milestones. Pay safely in escrow.")).to_be_visible()
    shot(page, "home")

    page.locator("#top-q").fill("logo")
    page.locator("form.topsearch").get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"/gigs/\?q=logo$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("All gigs matching “logo”")
    matching = gig_list_public(q="logo").count()
    assert matching >= 1
    expect(page.get_by_test_id("result-count")).to_have_text(_count_text(matching))
    cards = page.get_by_test_id("gig-card")
    expect(cards).to_have_count(matching)
    expect(cards.filter(has_text=LOGO_GIG)).to_be_visible()
    shot(page, "search-logo")

    filters = page.locator("form#filters")
    expect(filters.get_by_label("Search")).to_have_value("logo")  # the query is kept
    filters.get_by_label("Category").select_option(label="Graphics & Design")
    filters.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"[?&]category=graphics-design(&|$)"))
    expect(page).to_have_url(re.compile(r"[?&]q=logo(&|$)"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Graphics & Design matching “logo”")
    in_category = gig_list_public(q="logo", category="graphics-design").count()
    expect(page.get_by_test_id("result-count")).to_have_text(_count_text(in_category))
    expect(cards.locator(".tag")).to_have_text(["Graphics & Design"] * in_category)
    expect(filters.get_by_label("Category")).to_have_value("graphics-design")
    shot(page, "filter-category")

    cards.filter(has_text=LOGO_GIG).get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(LOGO_GIG)
    packages = page.get_by_test_id("package")
    expect(packages).to_have_count(3)
    assert [packages.nth(i).get_attribute("data-tier") for i in range(3)] == ["basic", "standard", "premium"]
    expect(packages.locator("h3")).to_have_text(["Basic", "Standard", "Premium"])
    expect(packages.locator(".package-price")).to_have_text(["$45", "$90", "$180"])
    expect(packages.locator(".package-name")).to_have_text(["Starter", "Brand", "Identity"])
    shot(page, "gig-detail")


def test_new_seller_signs_up_creates_publishes_and_finds_their_gig(page, shot, demo_data, mailoutbox):
    token = uuid.uuid4().hex[:8]
    username = f"seller{token}"
    email = f"{username}@example.com"
    title = f"I will write browser tests for your shop {token}"
    mailoutbox.clear()

    # Sign up from the "Join" link.
    page.goto("/")
    page.get_by_role("link", name="Join").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Join "))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Display name").fill("Tess Tester")
    page.locator("#id_password1").fill("Milestones-and-escrow-2026")
    page.locator("#id_password2").fill("Milestones-and-escrow-2026")
    shot(page, "signup")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("status")).to_contain_text(f"Welcome, {username}!")
    expect(page.get_by_role("navigation", name="Account").get_by_role("link", name=username)).to_be_visible()
    shot(page, "signed-up")

    # Step 1: overview.
    page.get_by_role("link", name="My gigs").click()
    page.get_by_role("link", name="Create a new gig").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Create a gig")
    page.get_by_label("Title").fill(title)
    page.get_by_label("Category").select_option(label="Programming & Tech")
    shot(page, "overview")
    page.get_by_role("button", name="Save & continue").click()
    expect(page).to_have_url(re.compile(r"/sell/gigs/\d+/edit/pricing/$"))
    expect(page.get_by_role("status")).to_contain_text("Draft saved. Now set your packages.")
    expect(page.locator(".status")).to_have_text("Draft")

    # Step 2: pricing, three packages side by side.
    for tier, name, price, days, revisions in [
        ("basic", "Smoke", "35", "2", "1"),
        ("standard", "Checkout", "72.50", "5", "2"),
        ("premium", "Full suite", "150", "10", "3"),
    ]:
        package = page.locator(f'fieldset[data-tier="{tier}"]')  # labels read "Basic name", ...
        package.get_by_label("name").fill(name)
        package.get_by_label("description").fill(f"{name} tests of your shop, in CI.")
        package.get_by_label("price").fill(price)
        package.get_by_label("delivery days").fill(days)
        package.get_by_label("revisions").fill(revisions)
    shot(page, "pricing")
    page.get_by_role("button", name="Save & continue").click()
    expect(page).to_have_url(re.compile(r"/sell/gigs/\d+/edit/description/$"))
    expect(page.get_by_role("status")).to_contain_text("Packages saved.")
    # Not publishable yet: the description is missing.
    expect(page.locator(".problems")).to_contain_text("Write a description of at least")
    expect(page.get_by_role("button", name="Publish gig")).to_have_count(0)

    # Step 3: description and one FAQ.
    page.get_by_label("Description").fill(
        "I write Playwright journeys for your shop: sign-up, search, checkout. They run in CI on every push."
    )
    page.get_by_label("Question").fill("Which browsers?")
    page.get_by_label("Answer").fill("Chromium by default; Firefox and WebKit on request.")
    # Sold as plain packages: milestone payments (on by default) would need a 2-5 milestone plan.
    milestone_payments = page.get_by_role("checkbox", name=re.compile(r"^Milestone payments"))
    expect(milestone_payments).to_be_checked()
    milestone_payments.uncheck()
    expect(milestone_payments).not_to_be_checked()
    shot(page, "description")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Description, FAQ and milestone plan saved.")
    expect(milestone_payments).not_to_be_checked()
    expect(page.locator(".publish-box")).to_contain_text("Everything is ready.")
    shot(page, "ready")

    # Publish: the gig page shows it live with its packages.
    page.get_by_role("button", name="Publish gig").click()
    expect(page).to_have_url(re.compile(rf"/gigs/{slugify(title)}/$"))
    expect(page.get_by_role("status")).to_contain_text(f"“{title}” is live.")
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    expect(page.locator(".banner")).to_have_count(0)  # no "only you can see it" banner
    packages = page.get_by_test_id("package")
    expect(packages.locator(".package-price")).to_have_text(["$35", "$72.50", "$150"])
    expect(page.locator("dl.faq")).to_contain_text("Which browsers?")
    expect(page.locator("[data-plan]")).to_have_count(0)  # no milestone plan offered
    shot(page, "published")
    gig = Gig.objects.get(seller__username=username)
    assert gig.status == Gig.Status.PUBLISHED
    assert gig.milestone_payments is False
    assert [(m.to, m.subject) for m in mailoutbox] == [([email], f"Your gig is live: {title}")]

    # Anyone can now find it with the search box.
    page.locator("#top-q").fill(f"browser tests {token}")
    page.locator("form.topsearch").get_by_role("button", name="Search").click()
    expect(page.get_by_test_id("result-count")).to_have_text("1 gig")
    card = page.get_by_test_id("gig-card")
    expect(card.locator(".card-title")).to_have_text(title)
    expect(card.locator(".card-seller")).to_have_text("Tess Tester")
    expect(card.locator(".price")).to_have_text("$35")
    shot(page, "found-in-search")
