"""seed_demo_orders: demo orders through the real services, once."""

import io

import pytest
from django.core.management import call_command

from milestones.models import Order, OrderMilestone
from payments import ledger
from payments.models import Payout

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _eager(monkeypatch):
    from marketplace.celery import app

    monkeypatch.setitem(app.conf, "task_always_eager", True)


def test_demo_orders_show_a_delivery_to_review_and_a_released_milestone():
    call_command("seed_demo", stdout=io.StringIO())
    call_command("seed_demo_orders", stdout=io.StringIO())
    dave = Order.objects.get(buyer__username="dave")
    erin = Order.objects.get(buyer__username="erin")
    assert dave.status == erin.status == Order.Status.ACTIVE
    assert [m.status for m in dave.milestones.order_by("position")][:2] == ["delivered", "locked"]
    assert [m.status for m in erin.milestones.order_by("position")][:2] == ["accepted", "in_progress"]
    assert Payout.objects.get().status == Payout.Status.PENDING_CLEARANCE
    assert ledger.escrow_balance(dave) == dave.subtotal_minor
    assert ledger.trial_balance() == {"USD": 0}

    call_command("seed_demo_orders", stdout=io.StringIO())  # again: nothing new
    assert Order.objects.count() == 2 and OrderMilestone.objects.filter(status="accepted").count() == 1


def test_skipped_in_stripe_mode(settings):
    settings.PAYMENT_PROVIDER = "stripe"
    out = io.StringIO()
    call_command("seed_demo_orders", stdout=out)
    assert "skipped" in out.getvalue() and not Order.objects.exists()
