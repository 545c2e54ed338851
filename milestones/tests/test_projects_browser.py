"""The projects journey in Chromium (issue 7), on seed_demo's data against the live server: a
buyer posts a project with a budget and a deadline and sketches two milestones; two sellers send
offers (one typed, one started from a gig's package); the buyer compares them side by side,
asks a question, accepts one, pays on the local provider's card page and lands on the order page
with the offered milestones in escrow. Celery runs eagerly (demo_data), so the provider's events
are applied when the card submission commits. Screenshots go to test-artifacts/screenshots/."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from milestones.models import Order
from milestones.project_models import Offer, Project
from payments import ledger
from payments.tests.test_browser import account_nav, expect_rows, log_in_here, pay_with

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TITLE = "A launch campaign for my bakery"
BOB_GIG = "I will audit your site's technical SEO"


def row(page, n: int):
    """Milestone row n (1-based) of the form's rows: a fieldset named by its legend."""
    return page.get_by_role("group", name=f"Milestone {n}", exact=True)


def test_buyer_posts_a_project_compares_two_offers_accepts_one_and_pays(page, new_page, shot, demo_data):
    today = timezone.localdate()
    start, deadline = today + timedelta(days=2), today + timedelta(days=32)

    # The buyer posts the project: from the nav, through the login page.
    page.goto("/")
    account_nav(page).get_by_role("link", name="Projects").click()
    log_in_here(page, "dave")
    expect(page.get_by_role("heading", level=1)).to_have_text("Open projects")
    page.get_by_role("link", name="Post a project").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Post a project")
    page.get_by_label("Title").fill(TITLE)
    page.get_by_label("Description").fill("Social posts and a newsletter for the opening of our second shop.")
    page.get_by_role("combobox", name="Category").select_option(label="Digital Marketing")
    expect(page.get_by_label("Budget (most)")).to_be_hidden()  # a fixed amount is the default
    page.get_by_label("A range").check()
    page.get_by_label("Budget (least, or the fixed amount)").fill("300")
    page.get_by_label("Budget (most)").fill("500")
    page.get_by_label("Start date").fill(start.isoformat())
    page.get_by_label("Deadline").fill(deadline.isoformat())
    expect(page.get_by_text("No milestones sketched.")).to_be_visible()
    page.get_by_role("button", name="+ Add a milestone").click()
    page.get_by_role("button", name="+ Add a milestone").click()
    for n, (name, share, days) in enumerate([("Campaign plan", "40", 10), ("Posts and newsletter", "60", 30)], 1):
        row(page, n).get_by_label("Name").fill(name)
        row(page, n).get_by_label("Share of the budget (%)").fill(share)
        row(page, n).get_by_label("Target date").fill((start + timedelta(days=days)).isoformat())
    expect(page.get_by_text("No milestones sketched.")).to_be_hidden()
    shot(page, "post-project")
    page.get_by_role("button", name="Post the project").click()

    project = Project.objects.get(title=TITLE)
    expect(page).to_have_url(re.compile(rf"/projects/{project.pk}/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(TITLE)
    expect(page.get_by_test_id("project-status")).to_have_text("Open for offers")
    expect(page.get_by_test_id("project-budget")).to_have_text("$300 – $500")
    expect_rows(page.get_by_test_id("sketch-row"), [["Campaign plan", "40 %"], ["Posts and newsletter", "60 %"]])
    expect(page.get_by_text("No offers yet.")).to_be_visible()
    shot(page, "project-posted")
    assert (project.budget_min_minor, project.budget_max_minor, project.deadline) == (30000, 50000, deadline)

    # Alice (Digital Marketing gigs) finds it under Projects and types her offer: two milestones.
    alice = new_page()
    alice.goto("/accounts/login/?next=/projects/")
    log_in_here(alice, "alice")
    card = alice.get_by_test_id("project-row").filter(has_text=TITLE)
    expect(card.get_by_test_id("project-budget")).to_have_text("$300 – $500")
    card.get_by_role("link", name=TITLE).click()
    expect(alice.get_by_role("heading", level=1)).to_have_text(TITLE)
    alice.get_by_role("link", name="Send an offer").click()
    expect(alice.get_by_role("heading", level=1)).to_have_text("Send an offer")
    alice.get_by_label("Message to the buyer").fill("I run launch campaigns for food shops; two steps.")
    row(alice, 1).get_by_label("Name").fill("Strategy")
    row(alice, 1).get_by_label("Price").fill("150")
    row(alice, 1).get_by_label("Delivery (days)").fill("3")
    row(alice, 1).get_by_label("Video call").check()
    alice.get_by_role("button", name="+ Add a milestone").click()
    row(alice, 2).get_by_label("Name").fill("Campaign")
    row(alice, 2).get_by_label("Price").fill("250")
    row(alice, 2).get_by_label("Delivery (days)").fill("7")
    row(alice, 2).get_by_label("Revisions").fill("2")
    expect(alice.get_by_label("Offer open for (days)")).to_have_value("7")
    shot(alice, "alice-offer-form")
    alice.get_by_role("button", name="Send the offer").click()
    expect(alice.get_by_role("status").filter(has_text="Your offer of $400 is sent")).to_be_visible()
    expect(alice.get_by_test_id("offer-status")).to_have_text("Waiting for the buyer")
    shot(alice, "alice-offer-sent")

    # Bob starts from his SEO gig's Standard package, then raises the first price.
    bob = new_page()
    bob.goto(f"/accounts/login/?next=/projects/{project.pk}/")
    log_in_here(bob, "bob")
    expect(bob.get_by_text("I run launch campaigns")).to_have_count(0)  # Alice's offer is not his to see
    bob.get_by_role("link", name="Send an offer").click()
    bob.get_by_label("One of your gigs").select_option(label=BOB_GIG)
    bob.get_by_role("button", name="Use gig").click()
    expect(bob.get_by_test_id("prefill-note")).to_contain_text("Filled from the Standard package of your gig")
    expect(row(bob, 1).get_by_label("Name")).not_to_have_value("")
    row(bob, 1).get_by_label("Price").fill("600")
    bob.get_by_label("Message to the buyer").fill("A full audit first, then the campaign.")
    shot(bob, "bob-offer-from-gig")
    bob.get_by_role("button", name="Send the offer").click()
    expect(bob.get_by_test_id("offer-status")).to_have_text("Waiting for the buyer")
    bob_offer = Offer.objects.get(seller__username="bob")
    alice_offer = Offer.objects.get(seller__username="alice")
    assert bob_offer.total_minor > 50000 and alice_offer.total_minor == 40000

    # The buyer compares the two side by side: Alice within budget and on time, Bob over budget.
    page.reload()
    cards = page.get_by_test_id("offer-card")
    expect(cards).to_have_count(2)
    alice_card = cards.filter(has_text="Alice Moreau")
    bob_card = cards.filter(has_text="Bob Okafor")
    expect(alice_card.get_by_test_id("offer-total")).to_have_text("$400")
    expect(alice_card.get_by_test_id("budget-flag")).to_have_text("within budget")
    expect(alice_card.get_by_test_id("deadline-flag")).to_have_text("by the deadline")
    expect(alice_card.get_by_test_id("offer-delivery")).to_have_text(
        (start + timedelta(days=10)).strftime("%b %-d, %Y")
    )
    expect_rows(
        alice_card.get_by_test_id("offer-milestone"), [["Strategy", "$150", "video call"], ["Campaign", "$250"]]
    )
    expect(bob_card.get_by_test_id("budget-flag")).to_contain_text("over budget by")
    shot(page, "offers-compared")

    # A question on Alice's thread, answered by her.
    page.get_by_role("link", name="Questions and details of Alice Moreau's offer").click()
    page.get_by_label("Your message").fill("Can the newsletter be in French too?")
    page.get_by_role("button", name="Send message").click()
    alice.goto(f"/projects/{project.pk}/offers/{alice_offer.pk}/")
    expect(alice.get_by_test_id("offer-message")).to_contain_text(["Can the newsletter be in French too?"])
    alice.get_by_label("Your message").fill("Yes, French and English.")
    alice.get_by_role("button", name="Send message").click()
    page.reload()
    expect(page.get_by_test_id("offer-message")).to_have_count(2)
    expect(page.get_by_test_id("offer-message").nth(1)).to_contain_text("Yes, French and English.")
    shot(page, "offer-thread")

    # Accept: the checkout with the fees, then the usual pay page. 5.5 % of $400 = $22.
    page.get_by_role("link", name="Accept this offer").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Checkout")
    expect_rows(
        page.get_by_test_id("quote-line"), [["1. Strategy", "$150", "3 days"], ["2. Campaign", "$250", "7 days"]]
    )
    expect(page.get_by_test_id("fees").get_by_role("row")).to_have_text(
        ["Subtotal $400", "Service fee $22", "Total $422"], use_inner_text=True
    )
    shot(page, "offer-checkout")
    page.get_by_role("button", name="Accept and place order").click()
    expect(page).to_have_url(re.compile(r"/orders/\d+/pay/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Pay $422")
    order = Order.objects.get(offer=alice_offer)
    shot(page, "pay-page")
    pay_with(page, "4242 4242 4242 4242", "$422")

    # The order page: Alice's two milestones held in escrow, the first one in progress.
    expect(page).to_have_url(re.compile(rf"/orders/{order.pk}/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(TITLE)
    expect(page.get_by_test_id("order-status")).to_have_text("In progress")
    expect(page.get_by_test_id("escrow-state")).to_have_text(["held in escrow"] * 2)
    expect_rows(page.get_by_test_id("order-milestone"), [["Strategy", "$150", "In progress"], ["Campaign", "$250"]])
    expect(page.get_by_test_id("escrow")).to_have_text("Escrow: held in escrow · $400 held")
    shot(page, "order-page")
    order.refresh_from_db()
    assert order.status == Order.Status.ACTIVE and ledger.escrow_balance(order) == 40000

    # Accepting closed the project to new offers; Bob's offer was not selected.
    page.goto(f"/projects/{project.pk}/")
    expect(page.get_by_test_id("project-status")).to_have_text("Offer accepted")
    expect(bob_card.get_by_test_id("offer-status")).to_have_text("Not selected")
    shot(page, "project-awarded")
    bob.reload()
    expect(bob.get_by_test_id("offer-status")).to_have_text("Not selected")
    expect(bob.get_by_role("link", name="Revise my offer")).to_have_count(0)
    project.refresh_from_db()
    assert project.status == Project.Status.AWARDED


def test_posting_a_project_and_an_offer_without_javascript(new_page, shot, demo_data):
    """Every row button posts the page and the server rebuilds the rows; refusals come back next
    to their field with nothing written."""
    today = timezone.localdate()
    start, deadline = today + timedelta(days=1), today + timedelta(days=20)
    page = new_page(java_script_enabled=False)
    page.goto("/accounts/login/?next=/projects/new/")
    log_in_here(page, "erin")
    page.get_by_label("Title").fill("Translate my app into French")
    page.get_by_label("Description").fill("About 800 strings, with context notes.")
    page.get_by_role("combobox", name="Category").select_option(label="Writing & Translation")
    page.get_by_label("Budget (least, or the fixed amount)").fill("200")  # a fixed amount: the default
    page.get_by_label("Start date").fill(start.isoformat())
    page.get_by_label("Deadline").fill(deadline.isoformat())
    page.get_by_label("Invited sellers only").check()
    page.get_by_label("Invite sellers").fill("carol")
    page.get_by_role("button", name="+ Add a milestone").click()  # a round trip to the server
    expect(row(page, 1)).to_be_visible()
    expect(page.get_by_label("Title")).to_have_value("Translate my app into French")
    page.get_by_role("button", name="+ Add a milestone").click()
    page.get_by_role("button", name="+ Add a milestone").click()
    expect(page.get_by_role("group", name=re.compile(r"^Milestone \d$"))).to_have_count(3)
    page.get_by_role("button", name="Remove milestone 3").click()
    expect(page.get_by_role("group", name=re.compile(r"^Milestone \d$"))).to_have_count(2)
    for n, (name, share) in enumerate([("First half", "50"), ("Second half", "40")], 1):
        row(page, n).get_by_label("Name").fill(name)
        row(page, n).get_by_label("Share of the budget (%)").fill(share)
        row(page, n).get_by_label("Target date").fill((start + timedelta(days=5 * n)).isoformat())
    page.get_by_role("button", name="Post the project").click()
    expect(page.get_by_role("alert").filter(has_text="The shares add up to 90 %")).to_be_visible()
    assert not Project.objects.exists()
    shot(page, "sketch-refused")
    row(page, 2).get_by_label("Share of the budget (%)").fill("50")
    page.get_by_role("button", name="Post the project").click()
    expect(page.get_by_test_id("project-status")).to_have_text("Open for offers")
    project = Project.objects.get()
    assert project.invite_only and project.budget_max_minor == 20000 and project.milestones.count() == 2

    # Carol, invited, sends a two-milestone offer without JavaScript; a price below the minimum
    # is refused next to its field first.
    carol = new_page(java_script_enabled=False)
    carol.goto(f"/accounts/login/?next=/projects/{project.pk}/offers/new/")
    log_in_here(carol, "carol")
    carol.get_by_label("Message to the buyer").fill("Native French speaker; glossary included.")
    row(carol, 1).get_by_label("Name").fill("Strings")
    row(carol, 1).get_by_label("Price").fill("2")
    row(carol, 1).get_by_label("Delivery (days)").fill("5")
    carol.get_by_role("button", name="+ Add a milestone").click()
    expect(row(carol, 1).get_by_label("Price")).to_have_value("2")
    row(carol, 2).get_by_label("Name").fill("Review")
    row(carol, 2).get_by_label("Price").fill("40")
    row(carol, 2).get_by_label("Delivery (days)").fill("2")
    carol.get_by_role("button", name="Send the offer").click()
    expect(row(carol, 1).get_by_role("alert")).to_have_text("Each milestone costs at least $5.")
    assert not Offer.objects.exists()
    shot(carol, "offer-refused")
    row(carol, 1).get_by_label("Price").fill("160")
    carol.get_by_role("button", name="Send the offer").click()
    expect(carol.get_by_test_id("offer-total")).to_have_text("$200")
    expect(carol.get_by_test_id("budget-flag")).to_have_text("within budget")
    shot(carol, "offer-sent")

    # Alice sells in this category too, but the project is invitation-only: a 404 for her.
    alice = new_page(java_script_enabled=False)
    alice.goto("/accounts/login/")
    log_in_here(alice, "alice")
    response = alice.goto(f"/projects/{project.pk}/")
    assert response.status == 404
    expect(alice.get_by_role("heading", level=1)).to_have_text("Sorry, we couldn’t find that")
