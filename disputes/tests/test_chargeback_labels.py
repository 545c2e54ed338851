"""Stripe's chargeback reason codes and dispute statuses are shown by their labels (one map in
disputes.models) on the dispute page, in admin (test_chargebacks_admin) and in notifications; an unknown code is
humanized."""

import pytest
from django.urls import reverse

from disputes.models import (
    CHARGEBACK_REASONS,
    CHARGEBACK_STATUSES,
    chargeback_reason_label,
    chargeback_status_label,
)
from disputes.tests.test_chargebacks import Bank
from milestones.models import Notification
from payments.tests.stripe_fake import WEBHOOK_SECRET
from payments.tests.test_lifecycle import pin_rules

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("books")]

STRIPE_REASONS = [
    "bank_cannot_process",
    "check_returned",
    "credit_not_processed",
    "customer_initiated",
    "debit_not_authorized",
    "duplicate",
    "fraudulent",
    "general",
    "incorrect_account_details",
    "insufficient_funds",
    "product_not_received",
    "product_unacceptable",
    "subscription_canceled",
    "unrecognized",
]


@pytest.fixture(autouse=True)
def _rules(settings):
    pin_rules(settings, DISPUTE_RESPONSE_DAYS=5, DISPUTE_APPROVAL_ABOVE_MINOR=10**9)
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET


@pytest.mark.parametrize("code", STRIPE_REASONS)
def test_every_stripe_reason_has_a_readable_label(code):
    label = CHARGEBACK_REASONS[code]
    assert chargeback_reason_label(code) == label and "_" not in label and label[0].isupper()


def test_statuses_and_unknown_codes():
    assert chargeback_status_label("needs_response") == "Needs response"
    assert chargeback_status_label("under_review") == "Under review"
    assert chargeback_status_label("warning_needs_response") == CHARGEBACK_STATUSES["warning_needs_response"]
    # The label itself, not the map's entry read back (which a raw code in the map would pass).
    assert chargeback_status_label("warning_needs_response") == "Inquiry: needs response"
    assert chargeback_status_label("warning_under_review") == "Inquiry: under review"
    assert chargeback_status_label("warning_closed") == "Inquiry closed"
    assert (chargeback_status_label("won"), chargeback_status_label("lost")) == ("Won", "Lost")
    assert chargeback_reason_label("some_new_reason") == "Some new reason"
    assert chargeback_status_label("brand_new_status") == "Brand new status"
    assert chargeback_reason_label("") == ""


def test_the_page_and_notifications_say_it_in_words(client, order):
    bank = Bank(order)
    bank.created()
    d = bank.dispute
    label = "Fraudulent payment (not made by the cardholder)"
    assert "fraudulent)" not in d.description and label in d.description
    texts = list(Notification.objects.filter(kind="chargeback_opened").values_list("text", flat=True))
    assert texts and all(label.lower() in t and "fraudulent)" not in t for t in texts)
    client.force_login(order.buyer)
    page = client.get(reverse("dispute-detail", args=[d.pk])).content.decode()
    assert f'data-testid="chargeback-reason">{label}<' in page.replace("&#x27;", "'")
    assert "reason: fraudulent" not in page
