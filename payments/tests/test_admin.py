"""Admin for orders and money: every page renders, everything is read-only (money and status
move only through the services), and the order list does not grow its queries with the rows."""

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from milestones.models import Order
from payments.admin import OrderWithMoneyAdmin
from payments.models import LedgerTransaction, Payment, Receipt, WebhookEvent
from payments.tests.factories import pay, place_order

pytestmark = pytest.mark.django_db

MONEY_MODELS = [Order, Payment, LedgerTransaction, WebhookEvent, Receipt]


def admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def paid_order():
    order = place_order()
    pay(order, "4000000000000002")  # a decline first, then the success
    pay(order)
    order.refresh_from_db()
    return order


def test_order_admin_shows_the_payment_and_escrow():
    assert isinstance(admin.site._registry[Order], OrderWithMoneyAdmin)


@pytest.mark.parametrize("model", MONEY_MODELS, ids=lambda m: m._meta.model_name)
def test_changelist_and_change_pages_render(admin_client, paid_order, model):
    response = admin_client.get(admin_url(model, "changelist"))
    assert response.status_code == 200
    assert response.context["cl"].result_count >= 1
    obj = response.context["cl"].result_list[0]
    response = admin_client.get(admin_url(model, "change", obj.pk))
    assert response.status_code == 200
    # View-only: no form to save, no add or delete.
    assert response.context["has_change_permission"] is False
    assert b'name="_save"' not in response.content
    assert admin_client.get(admin_url(model, "add")).status_code == 403
    assert admin_client.post(admin_url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403


def test_order_page_shows_money_milestones_payment_history_and_ledger(admin_client, paid_order):
    body = admin_client.get(admin_url(Order, "change", paid_order.pk)).content.decode()
    for text in ("$75", "$4.13", "$3", "$82.13", "Held in escrow", "Concepts", "Final files", "pi_local_"):
        assert text in body, text
    assert f"escrow:{paid_order.pk} -7500 USD" in body  # the funding posting
    assert "pending_payment" in body and "active" in body  # the history


def test_orders_cannot_be_edited(admin_client, paid_order):
    url = admin_url(Order, "change", paid_order.pk)
    response = admin_client.post(url, {"status": "cancelled", "total_minor": 1})
    assert response.status_code == 403
    paid_order.refresh_from_db()
    assert (paid_order.status, paid_order.total_minor) == (Order.Status.ACTIVE, 8213)


def test_order_search_and_filter(admin_client, paid_order):
    other = place_order()
    url = admin_url(Order, "changelist")
    found = admin_client.get(url, {"q": paid_order.buyer.username}).context["cl"].result_list
    assert list(found) == [paid_order]
    active = admin_client.get(url, {"status__exact": "active"}).context["cl"].result_list
    assert list(active) == [paid_order]
    assert other in admin_client.get(url, {"status__exact": "pending_payment"}).context["cl"].result_list


def test_order_changelist_queries_do_not_grow(admin_client):
    place_order()
    url = admin_url(Order, "changelist")
    admin_client.get(url)
    with CaptureQueriesContext(connection) as one:
        admin_client.get(url)
    for _ in range(5):
        place_order()
    with CaptureQueriesContext(connection) as many:
        admin_client.get(url)
    assert len(many) == len(one), [q["sql"] for q in many.captured_queries]
