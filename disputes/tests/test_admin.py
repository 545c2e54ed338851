"""The dispute admin: the list, the read-only page, and the decisions driven with the client."""

import re
from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from disputes import services
from disputes.models import Dispute, DisputeEvent, SettlementOffer
from disputes.tests.helpers import assert_dispute_books, open_dispute, open_order_dispute
from milestones import lifecycle as states
from milestones.models import OrderMilestone
from payments.models import Payout, Refund
from payments.tests.test_lifecycle import deliver, fresh, milestones_of, paid_order

pytestmark = pytest.mark.django_db

S = OrderMilestone.Status


def decide_url(d: Dispute, decision: str) -> str:
    return reverse("admin:disputes_dispute_decide", args=[d.pk, decision])


def texts(response) -> list[str]:
    return [m.message for m in get_messages(response.wsgi_request)]


def test_list_filters_and_page(admin_client, dispute):
    url = reverse("admin:disputes_dispute_changelist")
    page = admin_client.get(url)
    assert page.context["cl"].result_count == 1
    assert "$20" in page.content.decode()
    assert admin_client.get(url, {"overdue": "yes"}).context["cl"].result_count == 0
    assert admin_client.get(url, {"status": "awaiting_response"}).context["cl"].result_count == 1
    assert admin_client.get(url, {"q": str(dispute.order_id)}).context["cl"].result_count == 1
    change = admin_client.get(reverse("admin:disputes_dispute_change", args=[dispute.pk]))
    body = change.content.decode()
    assert change.status_code == 200 and b'name="_save"' not in change.content
    assert decide_url(dispute, "split") in body and f"escrow:{dispute.order_id}" in body
    assert not admin.site._registry[Dispute].has_change_permission(change.wsgi_request, dispute)


def test_split_through_the_intermediate_form(admin_client, admin_user, dispute):
    form = admin_client.get(decide_url(dispute, "split"))
    assert form.status_code == 200 and "note" in form.context["form"].fields
    # No note: the form comes back, nothing moves.
    again = admin_client.post(decide_url(dispute, "split"), {"percent": "25"})
    assert again.status_code == 200 and again.context["form"].errors
    done = admin_client.post(decide_url(dispute, "split"), {"percent": "25", "note": "A quarter was usable."})
    assert done.status_code == 302
    d = fresh(dispute)
    assert (d.status, d.seller_amount_minor, d.refund_amount_minor, d.resolved_by) == (
        Dispute.Status.RESOLVED,
        500,
        1500,
        admin_user,
    )
    assert fresh(d.milestone).status == S.SPLIT
    event = DisputeEvent.objects.get(dispute=d, action="split", actor=admin_user)
    assert event.note == "A quarter was usable."
    assert Payout.objects.get().gross_minor == 500 and Refund.objects.get().amount_minor == 1500
    assert_dispute_books()


@pytest.mark.parametrize(("decision", "status"), [("release", S.ACCEPTED), ("refund", S.CANCELLED)])
def test_release_and_refund(admin_client, dispute, decision, status):
    response = admin_client.post(decide_url(dispute, decision), {"note": "Decided."})
    assert response.status_code == 302
    assert fresh(dispute.milestone).status == status
    assert_dispute_books()


def test_errors_are_shown_and_nothing_moves(admin_client, dispute):
    response = admin_client.post(decide_url(dispute, "split"), {"seller_amount": "999999", "note": "Too much"})
    assert response.status_code == 200
    assert response.context["form"].errors["seller_amount"] == ["At most $20, the amount at stake."]
    assert fresh(dispute).status == Dispute.Status.AWAITING_RESPONSE
    admin_client.post(decide_url(dispute, "refund"), {"note": "Decided."})
    response = admin_client.post(decide_url(dispute, "release"), {"note": "Again."})
    assert response.status_code == 302 and any("resolved" in t for t in texts(response))
    assert Payout.objects.count() == 0 and Refund.objects.count() == 1
    assert_dispute_books()


def test_request_info_and_close(admin_client, dispute):
    assert admin_client.post(decide_url(dispute, "request_info"), {"note": "Send the brief."}).status_code == 302
    assert fresh(dispute).messages.get().body == "Send the brief."
    assert admin_client.post(decide_url(dispute, "close"), {"note": "Sorted out."}).status_code == 302
    d = fresh(dispute)
    assert (d.status, d.resolution_action) == (Dispute.Status.RESOLVED, Dispute.Action.CLOSED)
    assert fresh(d.milestone).status == S.DELIVERED


def test_the_list_action_opens_one_dispute(admin_client, dispute):
    url = reverse("admin:disputes_dispute_changelist")
    response = admin_client.post(url, {"action": "decide_action", "_selected_action": [dispute.pk]})
    assert response.status_code == 302
    assert response.url == reverse("admin:disputes_dispute_change", args=[dispute.pk])


def test_the_list_costs_the_same_queries_at_one_and_at_many_rows(admin_client, dispute):
    url = reverse("admin:disputes_dispute_changelist")
    admin_client.get(url)
    with CaptureQueriesContext(connection) as one:
        admin_client.get(url)
    for _ in range(3):
        order = paid_order()
        open_dispute(milestones_of(order)[0])
    open_order_dispute(paid_order())  # a whole-order dispute too (no milestone)
    with CaptureQueriesContext(connection) as many:
        assert admin_client.get(url).context["cl"].result_count == 5
    assert len(many) == len(one), [q["sql"] for q in many.captured_queries]


def test_the_page_shows_the_plan_deliveries_revisions_and_linked_evidence(admin_client, clock):
    """Issue 6: the dispute page shows the order, the milestone plan, deliveries and revisions,
    both statements and evidence; the evidence files open through the private file view."""
    order = paid_order()
    m1 = milestones_of(order)[0]
    deliver(m1, files=[SimpleUploadedFile("draft-1.png", b"png", content_type="image/png")])
    clock.shift(timedelta(hours=1))
    states.milestone_request_revision(milestone_id=m1.pk, buyer=order.buyer, reason="Use the brand colours.")
    clock.shift(timedelta(hours=1))
    deliver(m1)
    d = open_dispute(fresh(m1), files=[SimpleUploadedFile("brief.pdf", b"%PDF", content_type="application/pdf")])
    services_respond(d, "The colours are the brand's.")
    body = admin_client.get(reverse("admin:disputes_dispute_change", args=[d.pk])).content.decode()
    for m in milestones_of(order):
        assert m.name in body  # the whole plan, not only the disputed milestone
    assert "Here it is." in body and "draft-1.png" in body  # deliveries with their files
    assert "Use the brand colours." in body  # the revision request
    assert d.description in body and "The colours are the brand&#x27;s." in body  # both statements
    ev = d.evidence.get()
    url = reverse("dispute-evidence", args=[d.pk, ev.pk])
    assert f'href="{url}"' in body
    download = admin_client.get(url)
    assert download.status_code == 200 and b"".join(download.streaming_content) == b"%PDF"


def services_respond(d: Dispute, statement: str) -> None:
    services.dispute_respond(dispute_id=d.pk, user=d.order.seller, statement=statement)


def test_the_page_costs_the_same_queries_with_more_deliveries(admin_client, admin_user, clock):
    order = paid_order()
    m1 = milestones_of(order)[0]
    deliver(m1)
    d = open_dispute(fresh(m1))
    url = reverse("admin:disputes_dispute_change", args=[d.pk])
    admin_client.get(url)
    with CaptureQueriesContext(connection) as one:
        page = admin_client.get(url).content.decode()
    assert page.count("Here it is.") == 1  # one delivery
    services.dispute_close(dispute_id=d.pk, admin=admin_user, note="Go on.")
    clock.shift(timedelta(hours=1))
    states.milestone_request_revision(milestone_id=m1.pk, buyer=order.buyer, reason="Again.")
    clock.shift(timedelta(hours=1))
    deliver(m1)
    d2 = open_dispute(fresh(m1))
    url = reverse("admin:disputes_dispute_change", args=[d2.pk])
    with CaptureQueriesContext(connection) as many:
        page = admin_client.get(url).content.decode()
    # More rows than the one case: two deliveries, a revision request and the earlier dispute.
    assert page.count("Here it is.") == 2 and "Again." in page
    assert len(many) == len(one), [q["sql"] for q in many.captured_queries]


def test_a_split_amount_is_typed_in_the_disputes_currency(admin_client, dispute):
    form = admin_client.get(decide_url(dispute, "split")).content.decode()
    assert "In USD" in form and "minor units" not in form and 'inputmode="decimal"' in form
    done = admin_client.post(decide_url(dispute, "split"), {"seller_amount": "12.50", "note": "Most of it."})
    assert done.status_code == 302
    d = fresh(dispute)
    assert (d.status, d.seller_amount_minor, d.refund_amount_minor) == (Dispute.Status.RESOLVED, 1250, 750)
    assert_dispute_books()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"seller_amount": "12.505"}, "seller_amount", "Use at most 2 decimal places."),
        ({"seller_amount": "twelve"}, "seller_amount", "Enter a number."),
        ({"seller_amount": "-5"}, "seller_amount", "Enter the amount without a sign."),
        ({"seller_amount": "20.01"}, "seller_amount", "At most $20, the amount at stake."),
        ({"seller_amount": "12", "percent": "50"}, None, "Give an amount or a percentage for the seller, not both."),
        ({}, None, "Give an amount or a percentage for the seller."),
        ({"percent": "101"}, "percent", None),
    ],
)
def test_a_bad_split_is_a_form_error_and_nothing_changes(admin_client, dispute, data, field, message):
    response = admin_client.post(decide_url(dispute, "split"), {**data, "note": "A split."})
    assert response.status_code == 200
    errors = response.context["form"].errors
    key = field or "__all__"
    assert key in errors and (message is None or errors[key] == [message]), errors
    assert message is None or message in response.content.decode().replace("&#x27;", "'")
    d = fresh(dispute)
    assert (d.status, d.seller_amount_minor, d.resolution_action) == (Dispute.Status.AWAITING_RESPONSE, None, "")
    assert not DisputeEvent.objects.filter(dispute=d, to_status=Dispute.Status.RESOLVED).exists()
    assert Payout.objects.count() == 0 and Refund.objects.count() == 0


def test_release_and_refund_ignore_the_split_fields(admin_client, dispute):
    response = admin_client.post(decide_url(dispute, "release"), {"seller_amount": "oops", "note": "All good."})
    assert response.status_code == 302 and fresh(dispute).seller_amount_minor == 2000


def cells(body: str, name: str) -> list[str]:
    """The read-only cells of an inline's column."""
    return re.findall(rf'<td class="field-{name}">\s*<p>(.*?)</p>', body)


def test_the_page_shows_money_and_statuses_by_their_labels(admin_client, admin_user, dispute):
    order = dispute.order
    services.settlement_propose(dispute_id=dispute.pk, user=order.buyer, seller_amount_minor=500)
    services.dispute_resolve(
        dispute_id=dispute.pk, admin=admin_user, action="split", note="Split.", seller_amount_minor=1500
    )
    body = admin_client.get(reverse("admin:disputes_dispute_change", args=[dispute.pk])).content.decode()
    assert '<div class="readonly">$15</div>' in body  # to the seller
    assert '<div class="readonly">$5</div>' in body  # refunded
    assert "$5" in cells(body, "to_the_seller") and "$15" in cells(body, "refunded")  # the offer inline
    assert SettlementOffer.objects.get().status == SettlementOffer.Status.EXPIRED
    assert "Awaiting response" in cells(body, "from_status_label")  # the events' statuses
    assert "Resolved" in cells(body, "to_status_label") and "awaiting_response" not in cells(body, "to_status_label")
    events = admin_client.get(reverse("admin:disputes_disputeevent_changelist")).content.decode()
    assert "Awaiting response" in events and ">awaiting_response<" not in events
    offers = admin_client.get(reverse("admin:disputes_settlementoffer_changelist")).content.decode()
    assert ">$5<" in offers and ">500<" not in offers


def test_the_list_has_the_columns_that_fit(admin_client, dispute):
    cl = admin_client.get(reverse("admin:disputes_dispute_changelist")).context["cl"]
    assert list(cl.list_display)[1:] == [
        "id",
        "kind",
        "order_link",
        "status",
        "at_stake",
        "age",
        "overdue",
        "opened_by",
    ]
