"""A dispute in a real browser (Chromium via Playwright, against the live server, on seed_demo's
data): dave has bought alice's logo gig (Standard, $90 in three milestones of $30) and alice has
delivered milestone 1. Dave opens a dispute on it from the order page (a partial refund, with a
description and an evidence file); alice downloads the file and answers with a statement; the
admin logs in at /admin/, opens the dispute and resolves it with a split ($12 to the seller, $18
refunded: under DISPUTE_APPROVAL_ABOVE_MINOR, so no second admin); dave's dispute page shows the
refund and alice's earnings show her share pending clearance. Celery tasks run eagerly
(demo_data). Screenshots of each step go to test-artifacts/screenshots/."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from disputes.models import Dispute
from gigs.models import Gig, User
from milestones import lifecycle as states
from milestones.models import Order, OrderMilestone
from payments import ledger
from payments.models import Payout, Refund
from payments.tests.factories import pay, place_order
from payments.tests.test_browser import LOGO, account_nav
from payments.tests.test_lifecycle_browser import flash, log_in, panel

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PNG = b"\x89PNG\r\n\x1a\n the delivered logo next to the brief"
ADMIN_PASSWORD = "admin-pass-2026"  # seed_demo's admin (README)


@pytest.fixture
def order(demo_data, settings) -> Order:
    settings.MARKETPLACE = {**settings.MARKETPLACE, "DISPUTE_APPROVAL_ABOVE_MINOR": 50000}
    gig = Gig.objects.get(title=LOGO)
    dave = User.objects.get(username="dave")
    order = place_order(
        buyer=dave, gig=gig, tier="standard", answers={r.pk: "A coffee roastery." for r in gig.requirements.all()}
    )
    pay(order)
    first = OrderMilestone.objects.get(order=order, position=0)
    states.milestone_deliver(milestone_id=first.pk, seller=order.seller, message="Three concepts.", files=[])
    order.refresh_from_db()
    assert order.status == Order.Status.ACTIVE
    return order


def test_open_answer_split_in_admin_refund_and_earnings(new_page, shot, order):
    order_url = f"/orders/{order.pk}/"

    # 1. The buyer opens a dispute on the delivered milestone, from the order page.
    buyer = new_page()
    log_in(buyer, "dave", order_url)
    first = panel(buyer, 1, "Concepts")
    expect(first.get_by_test_id("milestone-status")).to_have_text("Delivered")
    first.get_by_role("link", name="Open a dispute").click()
    expect(buyer.get_by_role("heading", level=1)).to_have_text("Open a dispute on milestone 1")
    amount = buyer.get_by_label("Amount to refund")
    expect(amount).to_be_hidden()  # only for a partial refund (static/js/dispute-open.js)
    buyer.get_by_label("Reason").select_option(label="Work not as described")
    buyer.get_by_label("What went wrong?").fill("The concepts use none of the colours in our brief.")
    buyer.get_by_label("Partial refund").check()
    expect(amount).to_be_visible()
    amount.fill("18")
    buyer.get_by_label("Evidence files").set_input_files(
        files=[{"name": "brief-vs-logo.png", "mimeType": "image/png", "buffer": PNG}]
    )
    shot(buyer, "buyer-open-form")
    buyer.get_by_role("button", name="Open the dispute").click()
    expect(flash(buyer)).to_contain_text("Dispute opened: milestone 1 is on hold. The seller has until")
    expect(buyer.get_by_test_id("dispute-status")).to_have_text("Awaiting response")
    expect(buyer.get_by_test_id("outcome-wanted")).to_have_text("Partial refund: $18")
    expect(buyer.get_by_test_id("at-stake")).to_have_text("$30")
    expect(buyer.get_by_role("link", name="brief-vs-logo.png")).to_be_visible()
    expect(buyer.get_by_role("button", name="Withdraw the dispute")).to_be_visible()
    shot(buyer, "buyer-dispute-open")
    dispute = Dispute.objects.get()
    assert OrderMilestone.objects.get(pk=dispute.milestone_id).status == OrderMilestone.Status.DISPUTED

    # 2. The seller finds it in "Disputes", downloads the evidence and answers.
    seller = new_page()
    log_in(seller, "alice", order_url)
    expect(panel(seller, 1, "Concepts").get_by_test_id("milestone-status")).to_have_text("Disputed")
    account_nav(seller).get_by_role("link", name="Disputes").click()
    expect(seller.get_by_role("heading", level=1)).to_have_text("My disputes")
    rows = seller.get_by_test_id("dispute-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("answer by")
    rows.first.get_by_role("link").click()
    expect(seller.get_by_test_id("dispute-stage")).to_contain_text("The buyer opened this dispute. Answer by")
    with seller.expect_download() as download:
        seller.get_by_role("link", name="brief-vs-logo.png").click()
    assert download.value.suggested_filename == "brief-vs-logo.png"
    assert Path(download.value.path()).read_bytes() == PNG
    seller.get_by_label("Your answer").fill("The brief asked for warm tones; two of the three concepts use them.")
    seller.get_by_role("button", name="Post your answer").click()
    expect(flash(seller)).to_contain_text("Your answer is posted: the platform reviews the dispute now.")
    expect(seller.get_by_test_id("dispute-status")).to_have_text("Under review")
    expect(seller.get_by_test_id("dispute-post")).to_have_count(2)
    expect(seller.get_by_test_id("dispute-post").nth(1)).to_contain_text("You answered")
    shot(seller, "seller-answered")

    # 3. The admin resolves it in Django admin with a split.
    admin = new_page()
    admin.goto("/admin/")
    admin.get_by_label("Username").fill("admin")
    admin.get_by_label("Password").fill(ADMIN_PASSWORD)
    admin.get_by_role("button", name="Log in").click()
    admin.locator('a[href="/admin/disputes/dispute/"]').first.click()
    admin.get_by_role("link", name=str(dispute.pk), exact=True).click()
    expect(admin.get_by_text("The brief asked for warm tones").first).to_be_visible()
    shot(admin, "admin-dispute")
    admin.get_by_role("link", name="Split", exact=True).click()
    expect(admin.get_by_role("heading", level=1, name="Split").first).to_be_visible()
    admin.get_by_label("Note").fill("Two concepts follow the brief: $12 to the seller, the rest refunded.")
    admin.get_by_label("Amount to the seller").fill("12")  # dollars, as prices are typed
    admin.get_by_role("button", name="Split").click()
    expect(admin.locator(".messagelist")).to_contain_text(f"Dispute {dispute.pk}: split done.")
    shot(admin, "admin-resolved")

    # 4. The buyer sees the refund.
    buyer.reload()
    expect(buyer.get_by_test_id("dispute-status")).to_have_text("Resolved")
    expect(buyer.get_by_test_id("resolution-action")).to_have_text("Split")
    expect(buyer.get_by_test_id("refund-amount")).to_contain_text("$18")
    expect(buyer.get_by_test_id("seller-amount")).to_have_text("$12")
    expect(buyer.get_by_test_id("resolution-note")).to_contain_text("Two concepts follow the brief")
    expect(buyer.get_by_role("button", name="Withdraw the dispute")).to_have_count(0)
    expect(buyer.get_by_test_id("message-form")).to_have_count(0)
    shot(buyer, "buyer-refund")
    refund = Refund.objects.get(order=order)
    assert refund.amount_minor == 1800 and dispute.milestone_id in refund.milestone_ids
    expect(buyer.get_by_test_id("refund-state")).to_have_text(
        "(refund sent)" if refund.status == Refund.Status.SUCCEEDED else "(refund pending)"
    )

    # 5. The seller sees their share pending clearance, on the dispute page and in the earnings.
    seller.reload()
    expect(seller.get_by_test_id("seller-payout")).to_contain_text(
        re.compile(r"you receive \$9\.60 after commission, pending clearance until \w{3} \d+")
    )
    expect(seller.get_by_test_id("refund-amount")).to_contain_text("$18")
    account_nav(seller).get_by_role("link", name="Earnings").click()
    expect(seller.get_by_role("heading", level=1)).to_have_text("Earnings")
    expect(seller.get_by_test_id("pending-clearance")).to_have_text("$9.60")  # $12 less 20 %
    payout_rows = seller.get_by_test_id("payout-row")
    expect(payout_rows).to_have_count(1)
    expect(payout_rows.first).to_contain_text("Pending clearance")
    shot(seller, "seller-earnings")

    payout = Payout.objects.get()
    assert (payout.gross_minor, payout.amount_minor, payout.status) == (1200, 960, Payout.Status.PENDING_CLEARANCE)
    assert OrderMilestone.objects.get(pk=dispute.milestone_id).status == OrderMilestone.Status.SPLIT
    assert ledger.trial_balance() == {"USD": 0}
