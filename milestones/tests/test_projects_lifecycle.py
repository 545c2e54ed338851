"""An order placed from a custom offer (issue 7) runs the gig orders' lifecycle and money: paid
through payments.services.checkout_accept_offer and the local card page, its first milestone
starts, the seller delivers, the buyer accepts (escrow -> seller pending less the order's
commission), the next one starts, a delivery left unanswered is released by the auto-release
sweep, clearance and the transfer pay the seller, and the order completes; the order lists, the
seller's earnings and the orders API show it. The books are checked after every test with the
payments lifecycle suite's `assert_books` (the ledger balances and agrees with every row)."""

import uuid
from datetime import timedelta

import pytest
from django.urls import reverse

from milestones.models import Order, OrderMilestone
from milestones.project_selectors import OfferMilestoneInput as M
from payments import ledger, lifecycle
from payments import services as payments
from payments.models import LedgerTransaction, Payout
from payments.tests.factories import pay
from payments.tests.test_lifecycle import (
    NOW,
    assert_books,
    clock,
    deliver,
    fresh,
    legs,
    milestones_of,
    owed,
    pin_rules,
    transferred_once,
)

from .factories import post_project, send_offer

pytestmark = pytest.mark.django_db
__all__ = ["clock"]  # time stands still at payments.tests.test_lifecycle.NOW until a test moves it

S = OrderMilestone.Status
K = LedgerTransaction.Kind
PLAN = [
    M("Discovery", "Workshop and brief.", 10000, 2, 1, True),
    M("Build", "The site, built.", 15000, 3, 2, False),
]


@pytest.fixture(autouse=True)
def _rules(settings):
    pin_rules(settings, MILESTONES_MIN=2, MILESTONES_MAX=5, MILESTONE_MIN_PRICE_MINOR=500)


@pytest.fixture(autouse=True)
def _books(db):
    yield
    assert_books()


@pytest.fixture
def order(clock) -> Order:
    """An offer of two milestones ($100 + $150) accepted and paid on the local provider."""
    project = post_project(budget_min_minor=20000, budget_max_minor=30000)
    offer = send_offer(project=project, plan=PLAN)
    placed, created = payments.checkout_accept_offer(
        buyer=project.buyer, offer_id=offer.pk, checkout_token=uuid.uuid4()
    )
    assert created and placed.gig is None and placed.offer_id == offer.pk
    pay(placed)
    return fresh(placed)


def test_paid_the_offers_milestones_are_in_escrow_and_the_first_starts(order):
    assert order.status == Order.Status.ACTIVE and order.paid_at == NOW
    m1, m2 = milestones_of(order)
    assert (m1.status, m1.due_at, m2.status) == (S.IN_PROGRESS, NOW + timedelta(days=2), S.LOCKED)
    assert ledger.escrow_balance(order) == 25000
    # The buyer paid the offer's total and the platform's fees, as for a gig order.
    assert order.total_minor == 25000 + order.service_fee_minor + order.small_order_fee_minor
    assert LedgerTransaction.objects.filter(order=order, kind=K.ORDER_FUNDED).count() == 1


def test_delivered_accepted_auto_released_cleared_and_transferred(order, clock, settings):
    m1, m2 = milestones_of(order)
    commission = [10000 * order.commission_bps // 10000, 15000 * order.commission_bps // 10000]

    # Milestone 1: delivered, accepted by the buyer; its price leaves escrow less the commission.
    deliver(m1)
    clock.shift(timedelta(hours=6))
    lifecycle.milestone_accept(milestone_id=m1.pk, buyer=order.buyer)
    assert legs(f"milestone-{m1.pk}-released") == {
        ledger.escrow(order.pk): 10000,
        ledger.seller_pending(order.seller_id): -(10000 - commission[0]),
        ledger.PLATFORM_REVENUE: -commission[0],
    }
    m2 = fresh(m2)
    assert m2.status == S.IN_PROGRESS and m2.due_at == NOW + timedelta(hours=6, days=3)

    # Milestone 2: delivered, the buyer says nothing; the review window ends, the sweep releases it.
    deliver(m2)
    m2 = fresh(m2)
    assert m2.review_deadline == NOW + timedelta(hours=6, days=settings.MARKETPLACE["REVIEW_DAYS"])
    clock.move_to(m2.review_deadline - timedelta(seconds=1))
    assert lifecycle.auto_release_sweep() == 0
    clock.move_to(m2.review_deadline)
    assert lifecycle.auto_release_sweep() == 1
    m2 = fresh(m2)
    assert (m2.status, m2.auto_accepted) == (S.ACCEPTED, True)
    order = fresh(order)
    assert order.status == Order.Status.COMPLETED
    assert ledger.escrow_balance(order) == 0
    assert owed(ledger.seller_pending(order.seller_id)) == 25000 - sum(commission)

    # Clearance, then the transfers to the seller.
    clock.shift(timedelta(days=settings.MARKETPLACE["CLEARANCE_DAYS"]))
    assert lifecycle.payouts_clear_sweep() == 2
    for payout in Payout.objects.filter(order=order):
        lifecycle.payout_transfer(payout_id=payout.pk)
        transferred_once(payout)
    assert owed(ledger.seller_pending(order.seller_id)) == 0
    assert owed(ledger.seller_available(order.seller_id)) == 0
    assert [p.amount_minor for p in Payout.objects.filter(order=order).order_by("pk")] == [
        10000 - commission[0],
        15000 - commission[1],
    ]


def test_the_order_lists_earnings_and_api_show_the_offer_order(order, client, api_client):
    m1, _ = milestones_of(order)
    deliver(m1)
    lifecycle.milestone_accept(milestone_id=m1.pk, buyer=order.buyer)

    client.force_login(order.seller)
    for name in ("orders-received", "seller-earnings"):
        page = client.get(reverse(name))
        assert page.status_code == 200, name
        assert order.gig_title in page.content.decode(), name

    api_client.force_authenticate(order.seller)
    listing = api_client.get("/api/orders/?role=seller")
    assert listing.status_code == 200
    [row] = listing.json()["results"]
    assert (row["id"], row["gig"], row["package_tier"], row["seller_net_minor"]) == (
        order.pk,
        None,
        "custom",
        25000 - 25000 * order.commission_bps // 10000,
    )
    assert (row["offer"], row["project"]) == (order.offer_id, order.offer.project_id)
    detail = api_client.get(f"/api/orders/{order.pk}/").json()
    assert [m["status"] for m in detail["milestones"]] == [S.ACCEPTED, S.IN_PROGRESS]
    assert (detail["offer"], detail["project"]) == (order.offer_id, order.offer.project_id)


def test_the_order_pages_name_the_custom_offer_once_and_link_to_its_project(order, client):
    """Not "Custom offer package: Custom offer": the offer and a way back to its project."""
    project_url = reverse("project-detail", args=[order.offer.project_id])
    for user in (order.buyer, order.seller):
        client.force_login(user)
        page = client.get(reverse("order-detail", args=[order.pk])).content.decode()
        assert "package: " not in page
        assert f'A custom offer on the project <a href="{project_url}">{order.gig_title}</a>' in page
        receipt = client.get(reverse("order-receipt", args=[order.pk])).content.decode()
        assert f"{order.gig_title} — Custom offer</caption>" in receipt
    client.force_login(order.buyer)
    listing = client.get(reverse("my-orders")).content.decode()
    assert "Custom offer: Custom offer" not in listing and '<small class="muted">Custom offer</small>' in listing


def test_the_pay_page_of_an_offer_order(clock, client):
    project = post_project(budget_min_minor=20000, budget_max_minor=30000)
    offer = send_offer(project=project, plan=PLAN)
    order, _ = payments.checkout_accept_offer(buyer=project.buyer, offer_id=offer.pk, checkout_token=uuid.uuid4())
    client.force_login(project.buyer)
    page = client.get(reverse("order-pay", args=[order.pk])).content.decode()
    assert '<span class="muted">Custom offer</span>' in page and "package: " not in page
    # Unpaid past its window: expired, and the buyer is told how to buy it again (not "place a new order").
    clock.move_to(order.expires_at + timedelta(seconds=1))
    payments.orders_expire_sweep()
    page = client.get(reverse("order-pay", args=[order.pk]), follow=True).content.decode()
    assert "accept it again from the project page" in page
    assert "Place a new order" not in page


def test_the_sellers_project_page_leads_to_the_order_once_it_is_paid(clock, client):
    project = post_project(budget_min_minor=20000, budget_max_minor=30000)
    offer = send_offer(project=project, plan=PLAN)
    order, _ = payments.checkout_accept_offer(buyer=project.buyer, offer_id=offer.pk, checkout_token=uuid.uuid4())
    client.force_login(offer.seller)
    url = reverse("project-detail", args=[project.pk])
    page = client.get(url).content.decode()
    assert "The buyer accepted your offer: its order waits for the buyer's payment." in page
    assert reverse("order-detail", args=[order.pk]) not in page  # not theirs to see until paid
    pay(order)
    page = client.get(url).content.decode()
    assert f'<a href="{reverse("order-detail", args=[order.pk])}">order #{order.pk}</a> is paid and under way' in page
