"""The milestone lifecycle in a real browser (Chromium via Playwright, against the live server, on
seed_demo's data): dave has bought alice's logo gig (Standard, $90 in three milestones) and paid
it. The seller delivers milestone 1 with a file (with JavaScript off: the forms need none), the
buyer downloads it and asks for a revision, the seller delivers again, the buyer accepts; the
order page then shows milestone 1 released and milestone 2 in progress, and the seller's earnings
show the amount pending clearance. Celery tasks run eagerly (demo_data). Screenshots of each step
go to test-artifacts/screenshots/."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from gigs.models import Gig, User
from milestones.models import Delivery, Order, OrderMilestone
from payments import ledger
from payments.models import Payout
from payments.tests.factories import pay, place_order
from payments.tests.test_browser import LOGO, account_nav, log_in_here

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PDF = b"%PDF-1.4\n% three logo concepts\n"


def panel(page, number: int, name: str):
    return page.get_by_test_id("milestone-panel").filter(
        has=page.get_by_role("heading", name=f"Milestone {number}: {name}")
    )


def log_in(page, username: str, next_url: str) -> None:
    page.goto(f"/accounts/login/?next={next_url}")
    log_in_here(page, username)
    expect(page).to_have_url(re.compile(re.escape(next_url) + "$"))


def flash(page):
    return page.locator(".messages")


@pytest.fixture
def order(demo_data) -> Order:
    gig = Gig.objects.get(title=LOGO)
    dave = User.objects.get(username="dave")
    order = place_order(
        buyer=dave, gig=gig, tier="standard", answers={r.pk: "A coffee roastery." for r in gig.requirements.all()}
    )
    pay(order)
    order.refresh_from_db()
    assert order.status == Order.Status.ACTIVE
    return order


def test_deliver_revise_deliver_accept_and_earnings(new_page, shot, order):
    order_url = f"/orders/{order.pk}/"
    seller = new_page(java_script_enabled=False)
    log_in(seller, "alice", order_url)
    first = panel(seller, 1, "Concepts")
    expect(first.get_by_test_id("milestone-status")).to_have_text("In progress")
    expect(seller.get_by_test_id("milestone-panel")).to_have_count(1)  # milestones 2 and 3 not started
    shot(seller, "seller-order-in-progress")

    # 1. The seller delivers milestone 1 with a file.
    first.get_by_label("Message to the buyer").fill("Three logo concepts: a bean, a cup, a roaster.")
    first.get_by_label("Files", exact=True).set_input_files(
        files=[{"name": "concepts.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    first.get_by_role("button", name="Deliver").click()
    expect(flash(seller)).to_contain_text("Milestone 1 delivered. The buyer has until")
    first = panel(seller, 1, "Concepts")
    expect(first.get_by_test_id("milestone-status")).to_have_text("Delivered")
    expect(first.get_by_test_id("review-deadline")).to_contain_text("Accepted automatically on")
    expect(first.get_by_test_id("delivery")).to_have_count(1)
    expect(first.get_by_role("link", name="concepts.pdf")).to_be_visible()
    expect(first.get_by_role("button", name="Deliver")).to_have_count(0)
    shot(seller, "seller-delivered")

    # 2. The buyer downloads the file and asks for a revision.
    buyer = new_page()
    log_in(buyer, "dave", order_url)
    first = panel(buyer, 1, "Concepts")
    expect(first.get_by_test_id("review-deadline")).to_contain_text("unless you accept it or ask for a revision first")
    expect(first.get_by_test_id("revisions-note")).to_have_text("2 revisions left.")
    with buyer.expect_download() as download:
        first.get_by_role("link", name="concepts.pdf").click()
    assert download.value.suggested_filename == "concepts.pdf"
    assert Path(download.value.path()).read_bytes() == PDF
    shot(buyer, "buyer-review")
    first.get_by_label("What should change?").fill("Warmer colours, and a bolder bean.")
    first.get_by_role("button", name="Request a revision").click()
    expect(flash(buyer)).to_contain_text("Revision requested for milestone 1.")
    first = panel(buyer, 1, "Concepts")
    expect(first.get_by_test_id("milestone-status")).to_have_text("Revision requested")
    expect(first.get_by_test_id("revisions-left")).to_have_text("1 of 2 left")
    shot(buyer, "buyer-asked-for-a-revision")

    # 3. The seller sees the request and delivers again.
    seller.reload()
    first = panel(seller, 1, "Concepts")
    expect(first.get_by_test_id("revision-request")).to_contain_text("Warmer colours, and a bolder bean.")
    expect(first.get_by_role("heading", name="Deliver the revision")).to_be_visible()
    first.get_by_label("Message to the buyer").fill("Warmer palette, bolder bean.")
    first.get_by_label("Files", exact=True).set_input_files(
        files=[{"name": "concepts-v2.pdf", "mimeType": "application/pdf", "buffer": PDF + b"v2"}]
    )
    first.get_by_role("button", name="Deliver").click()
    expect(flash(seller)).to_contain_text("Milestone 1 delivered.")
    expect(panel(seller, 1, "Concepts").get_by_test_id("delivery")).to_have_count(2)
    shot(seller, "seller-delivered-again")

    # 4. The buyer accepts: milestone 1 released, milestone 2 in progress.
    buyer.reload()
    first = panel(buyer, 1, "Concepts")
    expect(first.get_by_test_id("delivery")).to_have_count(2)
    expect(first.get_by_test_id("revision-request")).to_have_count(1)
    expect(
        first.get_by_text("Accepting releases $30 from escrow to the seller and starts the next milestone.")
    ).to_be_visible()
    first.get_by_role("button", name="Accept", exact=True).click()
    expect(flash(buyer)).to_contain_text("Milestone 1 accepted: its money is released to the seller.")
    expect(buyer.get_by_test_id("escrow-state")).to_have_text(["released", "held in escrow", "held in escrow"])
    rows = buyer.get_by_test_id("order-milestone")
    expect(rows.nth(0)).to_contain_text("Accepted")
    expect(rows.nth(1)).to_contain_text("In progress")
    expect(panel(buyer, 2, "Refinement").get_by_test_id("milestone-status")).to_have_text("In progress")
    expect(buyer.get_by_test_id("escrow")).to_have_text("Escrow: held in escrow · $60 held")
    expect(buyer.get_by_test_id("money-summary")).to_have_text("Released to the seller: $30")
    expect(buyer.get_by_test_id("stop-order")).to_contain_text("milestone 3 has not started")
    shot(buyer, "buyer-accepted")

    m1, m2 = OrderMilestone.objects.filter(order=order).order_by("position")[:2]
    assert (m1.status, m2.status) == (OrderMilestone.Status.ACCEPTED, OrderMilestone.Status.IN_PROGRESS)
    assert Delivery.objects.filter(milestone=m1).count() == 2
    assert ledger.escrow_balance(order) == 6000 and ledger.trial_balance() == {"USD": 0}

    # The buyer's notifications: the deliveries and the acceptance, newest first.
    expect(account_nav(buyer).get_by_test_id("unread-count")).to_be_visible()
    account_nav(buyer).get_by_role("link", name=re.compile(r"^Notifications")).click()
    expect(buyer.get_by_role("heading", level=1)).to_have_text("Notifications")
    expect(buyer.get_by_test_id("notification").first).to_contain_text(f"order #{order.pk}")
    expect(buyer.get_by_test_id("notification").filter(has_text="was delivered")).to_have_count(2)
    shot(buyer, "buyer-notifications")
    buyer.get_by_role("button", name="Mark all read").click()
    expect(account_nav(buyer).get_by_test_id("unread-count")).to_have_count(0)

    # 5. The seller's side: released on the order page, pending clearance in the earnings.
    seller.reload()
    expect(seller.get_by_test_id("payout-state").first).to_contain_text("pending clearance until")
    shot(seller, "seller-order-released")
    account_nav(seller).get_by_role("link", name="Earnings").click()
    expect(seller.get_by_role("heading", level=1)).to_have_text("Earnings")
    expect(seller.get_by_test_id("pending-clearance")).to_have_text("$24")  # $30 less 20 %
    expect(seller.get_by_test_id("in-escrow")).to_have_text("$60")
    expect(seller.get_by_test_id("available")).to_have_text("$0")
    expect(seller.get_by_test_id("commission")).to_contain_text("commission taken: $6")
    payout_rows = seller.get_by_test_id("payout-row")
    expect(payout_rows).to_have_count(1)
    expect(payout_rows.first).to_contain_text("1. Concepts")
    expect(payout_rows.first).to_contain_text("Pending clearance")
    shot(seller, "seller-earnings")
    payout = Payout.objects.get()
    assert (payout.amount_minor, payout.status) == (2400, Payout.Status.PENDING_CLEARANCE)
