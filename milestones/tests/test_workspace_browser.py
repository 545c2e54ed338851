"""A browser journey through the order workspace (real Chromium, pytest-django's live server):
the seller plans the first milestone with two tasks (one assigned to a team member), ticks one
done (progress 50 %), writes a shared note and a team note; the buyer then sees the progress and
the shared note only, and posts a message. Screenshots go to test-artifacts/screenshots/."""

import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from gigs.tests.factories import UserFactory
from milestones import workspace as ws
from payments.tests.factories import gig_with_plan, pay, place_order

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "workspace-pass-2026"


def with_password(user):
    user.set_password(PASSWORD)
    user.save(update_fields=["password"])
    return user


def log_in(page, username: str) -> None:
    page.goto("/")
    page.get_by_role("navigation", name="Account").get_by_role("link", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("navigation", name="Account").get_by_role("link", name=username)).to_be_visible()


def test_seller_plans_and_buyer_follows(new_page, shot):
    gig = gig_with_plan()
    seller = with_password(gig.seller)
    buyer = with_password(UserFactory(username="buyer"))
    order = place_order(buyer=buyer, gig=gig)
    pay(order)
    helper = UserFactory(username="helper")
    row = ws.team_invite(seller=seller, identifier=helper.username)
    ws.team_accept(member=helper, team_member_id=row.pk)
    workspace_url = reverse("order-workspace", args=[order.pk])

    # The seller plans the first milestone.
    page = new_page()
    log_in(page, seller.username)
    page.goto(workspace_url)
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Workspace: {order.gig_title}")
    concepts = page.get_by_role("region", name="1. Concepts")
    expect(concepts.get_by_test_id("progress-value")).to_have_text("0%")
    shot(page, "empty-workspace")

    concepts.get_by_label(re.compile(r"^Task")).fill("Sketch three concepts")
    concepts.get_by_label("Assign to", exact=True).select_option(label=helper.public_name)
    concepts.get_by_role("button", name="Add task").click()
    expect(page.get_by_role("status")).to_contain_text("Task “Sketch three concepts” added.")
    concepts = page.get_by_role("region", name="1. Concepts")
    sketch = concepts.get_by_test_id("task").filter(has_text="Sketch three concepts")
    expect(sketch.get_by_test_id("assignee")).to_have_text(helper.public_name)

    concepts.get_by_label(re.compile(r"^Task")).fill("Pick a palette")
    concepts.get_by_role("button", name="Add task").click()
    concepts = page.get_by_role("region", name="1. Concepts")
    expect(concepts.get_by_test_id("task")).to_have_count(2)

    concepts.get_by_role("button", name="Mark done “Pick a palette”").click()
    expect(page.get_by_role("status")).to_contain_text("Task done.")
    concepts = page.get_by_role("region", name="1. Concepts")
    expect(concepts.get_by_test_id("progress-value")).to_have_text("50%")
    expect(concepts.get_by_role("button", name="Mark not done “Pick a palette”")).to_be_visible()

    concepts.get_by_label(re.compile(r"^Note\b")).fill("First concepts arrive on Friday.")
    concepts.get_by_label("Shared with the buyer").check()
    concepts.get_by_role("button", name="Add note").click()
    expect(page.get_by_role("status")).to_contain_text("Note added.")
    concepts = page.get_by_role("region", name="1. Concepts")
    concepts.get_by_label(re.compile(r"^Note\b")).fill("Helper: keep the palette warm.")
    concepts.get_by_label("Seller's team only").check()
    concepts.get_by_role("button", name="Add note").click()
    concepts = page.get_by_role("region", name="1. Concepts")
    expect(concepts.get_by_test_id("note")).to_have_count(2)
    shot(page, "seller-planned")

    # The buyer follows along and writes to the seller.
    page = new_page()
    log_in(page, buyer.username)
    page.goto(workspace_url)
    concepts = page.get_by_role("region", name="1. Concepts")
    expect(concepts.get_by_test_id("progress-value")).to_have_text("50%")
    expect(concepts.get_by_text("Sketch three concepts")).to_be_visible()
    expect(concepts.get_by_role("button", name=re.compile("Mark"))).to_have_count(0)
    expect(concepts.get_by_test_id("note")).to_have_count(1)
    expect(concepts.get_by_test_id("note")).to_contain_text("First concepts arrive on Friday.")
    expect(page.get_by_text("Helper: keep the palette warm.")).to_have_count(0)

    page.get_by_label("Message", exact=True).fill("Looking forward to them!")
    page.get_by_role("button", name="Send message").click()
    expect(page.get_by_role("status")).to_contain_text("Message sent.")
    message = page.get_by_test_id("message")
    expect(message).to_have_count(1)
    expect(message).to_contain_text("Looking forward to them!")
    expect(message).to_contain_text("Buyer")
    shot(page, "buyer-view")


def test_team_invitation_and_dashboard_without_javascript(new_page, shot):
    gig = gig_with_plan()
    seller = with_password(gig.seller)
    helper = with_password(UserFactory(username="helper"))
    order = place_order(gig=gig)
    pay(order)

    page = new_page(java_script_enabled=False)
    log_in(page, seller.username)
    page.goto(reverse("team"))
    page.get_by_label("Username or email").fill(helper.email)
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_role("status")).to_contain_text("Invited helper.")
    expect(page.get_by_test_id("team-member")).to_contain_text("Invitation sent")
    page.get_by_label("Username or email").fill(seller.username)
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_role("alert")).to_contain_text("You cannot invite yourself.")
    shot(page, "seller-team")

    page = new_page(java_script_enabled=False)
    log_in(page, helper.username)
    page.goto(reverse("team"))
    page.get_by_test_id("membership").get_by_role("button", name=re.compile("^Accept")).click()
    expect(page.get_by_role("status")).to_contain_text("You joined the team.")
    page.get_by_role("link", name="Dashboard").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    shot(page, "helper-dashboard")
    page.get_by_test_id("active-order").get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Workspace: {order.gig_title}")
    expect(page.locator(".order-meta")).to_contain_text("you are in the seller's team")
    expect(page.get_by_text("$")).to_have_count(0)
