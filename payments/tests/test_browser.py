"""Browser journeys through checkout and the local provider's card page: real Chromium driven by
Playwright against the live server, on seed_demo's data. Celery tasks run eagerly (demo_data), so
the local provider's events are applied when the card submission commits, as a worker would.
Screenshots of each step go to test-artifacts/screenshots/."""

import re

import pytest
from playwright.sync_api import expect

from gigs.models import Gig
from milestones.models import Order
from payments import ledger
from payments.models import Receipt

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "demo-pass-2026"
LOGO = "I will design a minimalist logo for your brand"  # alice's, with the "Logo design" plan
QUESTION = "What is the project about, and who is it for?"


def account_nav(page):
    return page.get_by_role("navigation", name="Account")


def log_in_here(page, username: str) -> None:
    """On the login page (reached from a link): log in and follow `next`."""
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(account_nav(page).get_by_role("link", name=username)).to_be_visible()


def package(page, name: str):
    return page.get_by_test_id("package").filter(has=page.get_by_text(name, exact=True))


def pay_with(page, card: str, total: str) -> None:
    page.get_by_label("Card number").fill(card)
    page.get_by_label("Expiry (MM/YY)").fill("12/34")
    page.get_by_label("CVC").fill("123")
    page.get_by_role("button", name=f"Pay {total}").click()


def expect_rows(locator, rows: list[list[str]]) -> None:
    """Each row contains its expected texts, in order."""
    expect(locator).to_have_count(len(rows))
    for i, texts in enumerate(rows):
        for text in texts:
            expect(locator.nth(i)).to_contain_text(text)


def test_buyer_orders_pays_after_a_decline_and_gets_a_receipt(page, new_page, shot, demo_data):
    gig = Gig.objects.get(title=LOGO)
    page.goto(gig.get_absolute_url())
    standard = package(page, "Brand")
    expect(standard.get_by_role("link", name="Continue ($90)")).to_be_visible()
    shot(page, "gig-page")

    # Not logged in yet: the button goes through the login page to the checkout.
    standard.get_by_role("link", name="Continue ($90)").click()
    log_in_here(page, "dave")
    expect(page).to_have_url(re.compile(rf"/orders/checkout/{gig.slug}/standard/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Checkout")
    expect(page.get_by_role("heading", name="Standard package: Brand")).to_be_visible()
    expect_rows(
        page.get_by_test_id("quote-line"),
        [
            ["1. Concepts", "$30", "3 days", "2", "—"],
            ["2. Refinement", "$35", "2 days", "2", "Included"],
            ["3. Final files", "$25", "1 day", "1", "—"],
        ],
    )
    fees = page.get_by_test_id("fees")
    expect(fees.get_by_role("row")).to_have_text(
        ["Subtotal $90", "Service fee $4.95", "Small order fee $3", "Total $97.95"], use_inner_text=True
    )
    expect(page.get_by_text("ommission")).to_have_count(0)
    shot(page, "checkout")

    # Placing it without the required answer: the error is next to the question, no order.
    page.get_by_role("button", name="Place order").click()
    expect(page.get_by_role("alert").filter(has_text="Answer this question.")).to_be_visible()
    assert not Order.objects.exists()
    shot(page, "missing-answer")
    page.get_by_label(QUESTION).fill("A coffee roastery in Lyon; young urban customers.")
    page.get_by_role("button", name="Place order").click()

    expect(page).to_have_url(re.compile(r"/orders/\d+/pay/$"))
    order = Order.objects.get()
    assert (order.buyer.username, order.package_tier, order.total_minor) == ("dave", "standard", 9795)
    expect(page.get_by_role("heading", level=1)).to_have_text("Pay $97.95")
    expect(page.get_by_text("4242 4242 4242 4242")).to_be_visible()
    shot(page, "pay-page")

    pay_with(page, "4000 0000 0000 0002", "$97.95")
    expect(page.get_by_test_id("card-error")).to_have_text("Your card was declined.")
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING_PAYMENT and order.is_payable
    shot(page, "declined")

    pay_with(page, "4242 4242 4242 4242", "$97.95")
    expect(page).to_have_url(re.compile(rf"/orders/{order.pk}/$"))
    expect(page.get_by_test_id("order-status")).to_have_text("In progress")
    expect(page.get_by_test_id("escrow-state")).to_have_text(["held in escrow"] * 3)
    expect_rows(
        page.get_by_test_id("order-milestone"),
        [["Concepts", "$30", "In progress"], ["Refinement", "$35", "Not started"], ["Final files", "$25"]],
    )
    expect(page.get_by_test_id("escrow")).to_have_text("Escrow: held in escrow · $90 held")
    expect(page.get_by_test_id("payment-status")).to_have_text("Succeeded")
    expect(page.get_by_test_id("total")).to_have_text("$97.95")
    expect(page.get_by_text("A coffee roastery in Lyon")).to_be_visible()
    shot(page, "order-page")
    order.refresh_from_db()
    assert order.status == Order.Status.ACTIVE and ledger.escrow_balance(order) == 9000

    receipt = Receipt.objects.get(order=order)
    page.get_by_role("link", name=f"Receipt {receipt.number}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Receipt {receipt.number}")
    expect(page.get_by_test_id("receipt-line")).to_have_count(3)
    expect(page.get_by_test_id("total")).to_have_text("$97.95")
    shot(page, "receipt")
    page.emulate_media(media="print")
    expect(page.locator(".topbar")).to_be_hidden()
    expect(page.get_by_role("button", name="Print")).to_be_hidden()
    shot(page, "receipt-print")

    # A second attempt: another order of the same package, paid with the declined card. The
    # decline is shown, nothing is charged, and that order stays payable; the first is untouched.
    page.emulate_media(media="screen")
    page.goto(gig.get_absolute_url())
    package(page, "Brand").get_by_role("link", name="Continue ($90)").click()
    page.get_by_label(QUESTION).fill("A second brand.")
    page.get_by_role("button", name="Place order").click()
    expect(page).to_have_url(re.compile(r"/orders/\d+/pay/$"))
    second = Order.objects.exclude(pk=order.pk).get()
    pay_with(page, "4000 0000 0000 0002", "$97.95")
    expect(page.get_by_test_id("card-error")).to_have_text("Your card was declined.")
    expect(page.get_by_role("button", name="Pay $97.95")).to_be_enabled()
    second.refresh_from_db()
    assert second.status == Order.Status.PENDING_PAYMENT and ledger.escrow_balance(second) == 0
    assert ledger.escrow_balance(order) == 9000 and ledger.trial_balance() == {"USD": 0}
    shot(page, "second-order-declined")

    # The buyer's list, and the seller's side: the amounts after the 20 % commission.
    account_nav(page).get_by_role("link", name="My orders").click()
    expect_rows(
        page.get_by_test_id("order-row"),
        [[LOGO, "Awaiting payment", "$97.95"], [LOGO, "In progress", "$97.95", "$90"]],
    )
    seller = new_page()
    seller.goto("/accounts/login/?next=/sell/orders/")
    log_in_here(seller, "alice")
    expect(seller.get_by_role("heading", level=1)).to_have_text("Orders received")
    expect_rows(seller.get_by_test_id("order-row"), [[LOGO, "Dave Miller", "In progress", "$72", "$90"]])
    seller.get_by_role("link", name=re.compile(LOGO)).click()
    expect(seller.get_by_test_id("seller-net")).to_have_text("$72")
    expect(seller.get_by_text("Service fee")).to_have_count(0)
    shot(seller, "seller-order-page")


def test_a_card_that_asks_for_confirmation(page, shot, demo_data):
    gig = Gig.objects.get(title=LOGO)
    page.goto("/accounts/login/")
    log_in_here(page, "dave")
    page.goto(gig.get_absolute_url())
    package(page, "Starter").get_by_role("link", name="Continue ($45)").click()
    expect(page.get_by_test_id("total")).to_have_text("$50.48")  # $45 + $2.48 + $3
    page.get_by_label(QUESTION).fill("A new bakery.")
    page.get_by_role("button", name="Place order").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Pay $50.48")

    pay_with(page, "4000 0025 0000 3155", "$50.48")
    step = page.get_by_test_id("confirm-step")
    expect(step.get_by_role("heading")).to_have_text("Confirm your payment")
    expect(step.get_by_role("button", name="Confirm payment")).to_be_visible()
    shot(page, "confirm-step")
    step.get_by_role("button", name="Cancel").click()
    expect(page.get_by_test_id("card-error")).to_have_text("The payment was not confirmed with your bank.")
    assert Order.objects.get().is_payable
    shot(page, "not-confirmed")

    pay_with(page, "4000 0025 0000 3155", "$50.48")
    page.get_by_test_id("confirm-step").get_by_role("button", name="Confirm payment").click()
    expect(page).to_have_url(re.compile(r"/orders/\d+/$"))
    expect(page.get_by_test_id("escrow-state")).to_have_text(["held in escrow"] * 3)
    expect(page.get_by_test_id("escrow")).to_have_text("Escrow: held in escrow · $45 held")
    shot(page, "confirmed")
    assert Order.objects.get().status == Order.Status.ACTIVE
