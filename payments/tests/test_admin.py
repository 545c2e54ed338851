"""Admin for orders and money: every page renders, everything is read-only (money and status
move only through the services), and the lists do not grow their queries with the rows; payouts
(filters, search, "Retry transfer now" through payments.lifecycle.payout_transfer), refunds, and the
order page's deliveries, requests, payouts and refunds. Also, for the whole project: every model
of gigs, milestones, payments and disputes has an admin, and all their pages render; the ledger
can never be changed or deleted through admin."""

from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.admin.utils import quote as admin_quote
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from disputes import chargebacks
from disputes import services as dispute_services
from gigs import services as gig_services
from gigs.tests.factories import GigFaqFactory, UserFactory
from milestones import lifecycle as states
from milestones import workspace
from milestones.models import Order
from payments import lifecycle
from payments.admin import OrderWithMoneyAdmin
from payments.models import (
    ConnectedAccount,
    LedgerEntry,
    LedgerTransaction,
    LocalPaymentIntent,
    LocalRefund,
    LocalTransfer,
    Payment,
    Payout,
    Receipt,
    Refund,
    WebhookEvent,
)
from payments.tests.factories import pay, place_order, process_inbox

pytestmark = pytest.mark.django_db

MONEY_MODELS = [Order, Payment, LedgerTransaction, WebhookEvent, Receipt]


def admin_url(model, view: str, *args) -> str:
    # Primary keys are quoted as admin quotes them in its own links: a string pk such as the local
    # provider's "pi_local_12ab..." would otherwise be read back with "_12" as an escape.
    return reverse(
        f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=[admin_quote(a) for a in args]
    )


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


# --- the milestone lifecycle: payouts, refunds, deliveries and requests ---------------------------


def _m(order, position):
    return order.milestones.get(position=position)


def _released(order) -> Payout:
    """Milestone 1 delivered with a file, a revision asked, delivered again and accepted."""
    m = _m(order, 0)
    states.milestone_deliver(
        milestone_id=m.pk, seller=order.seller, message="First <b>try</b>.", files=[SimpleUploadedFile("a.png", b"x")]
    )
    states.milestone_request_revision(milestone_id=m.pk, buyer=order.buyer, reason="Bolder colours.")
    states.milestone_deliver(milestone_id=m.pk, seller=order.seller, message="Second try.", files=[])
    lifecycle.milestone_accept(milestone_id=m.pk, buyer=order.buyer)
    return Payout.objects.get(milestone=m)


@pytest.fixture
def released(paid_order) -> Payout:
    return _released(paid_order)


@pytest.fixture
def refund(paid_order, released) -> Refund:
    return lifecycle.order_stop(order_id=paid_order.pk, buyer=paid_order.buyer)


@pytest.mark.parametrize("model", [Payout, Refund], ids=["payout", "refund"])
def test_payout_and_refund_pages_are_read_only(admin_client, refund, model):
    response = admin_client.get(admin_url(model, "changelist"))
    assert response.status_code == 200 and response.context["cl"].result_count == 1
    obj = response.context["cl"].result_list[0]
    response = admin_client.get(admin_url(model, "change", obj.pk))
    assert response.status_code == 200 and response.context["has_change_permission"] is False
    assert b'name="_save"' not in response.content
    assert admin_client.get(admin_url(model, "add")).status_code == 403
    assert admin_client.post(admin_url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    assert admin_client.post(admin_url(model, "change", obj.pk), {"status": "transferred"}).status_code == 403
    obj.refresh_from_db()
    assert obj.status in ("pending_clearance", "pending")


def test_payout_filters_and_search(admin_client, released):
    other = place_order()
    pay(other)
    url = admin_url(Payout, "changelist")
    assert list(admin_client.get(url, {"q": released.seller.username}).context["cl"].result_list) == [released]
    assert list(admin_client.get(url, {"q": str(released.order_id)}).context["cl"].result_list) == [released]
    assert admin_client.get(url, {"q": other.seller.username}).context["cl"].result_count == 0
    assert admin_client.get(url, {"needs_reconciliation__exact": "1"}).context["cl"].result_count == 0
    Payout.objects.filter(pk=released.pk).update(needs_reconciliation=True)
    flagged = admin_client.get(url, {"needs_reconciliation__exact": "1"}).context["cl"].result_list
    assert list(flagged) == [released]
    assert admin_client.get(url, {"status__exact": "pending_clearance"}).context["cl"].result_count == 1


def test_order_page_shows_deliveries_requests_payouts_and_refunds(admin_client, paid_order, refund):
    lifecycle.cancellation_request(milestone_id=_m(paid_order, 1).pk, user=paid_order.seller, reason="Away <i>ill</i>.")
    body = admin_client.get(admin_url(Order, "change", paid_order.pk)).content.decode()
    for text in (
        "Deliveries and requests",
        "First &lt;b&gt;try&lt;/b&gt;.",  # escaped
        "a.png (1 B)",
        "Second try.",
        "no files",
        "Bolder colours.",
        "asked by the seller",
        "Away &lt;i&gt;ill&lt;/i&gt;.",
        "Waiting for an answer",
        "Pending clearance",
        "$16",  # the payout
        "the buyer stopped the order",  # the refund
        "$25",
    ):
        assert text in body, text
    assert "<b>try</b>" not in body


def test_retry_transfer_now(admin_client, released, monkeypatch):
    url = admin_url(Payout, "changelist")

    def retry(*payouts):
        return admin_client.post(
            url, {"action": "retry_transfer", "_selected_action": [p.pk for p in payouts]}, follow=True
        )

    said = [str(m) for m in retry(released).context["messages"]]
    assert said == [f"Payout {released.pk} not sent: pending clearance until {released.clears_at:%Y-%m-%d %H:%M}."]

    lifecycle.payouts_clear_sweep(now=released.clears_at)
    broken = type("Broken", (), {"seller_destination": lambda self, seller_id: None})()
    monkeypatch.setattr(lifecycle, "gateway", lambda: broken)
    said = [str(m) for m in retry(released).context["messages"]]
    assert said == [f"Payout {released.pk} failed again: The seller has no account that can receive transfers."]
    released.refresh_from_db()
    assert released.status == Payout.Status.FAILED and released.attempts == 1
    # "Retry now" skips the backoff: it tries again at once (and fails again here).
    said = [str(m) for m in retry(released).context["messages"]]
    assert said == [f"Payout {released.pk} failed again: The seller has no account that can receive transfers."]
    released.refresh_from_db()
    assert released.attempts == 2

    monkeypatch.undo()
    Payout.objects.filter(pk=released.pk).update(next_attempt_at=released.next_attempt_at - timedelta(hours=1))
    response = retry(released)
    released.refresh_from_db()
    assert released.status == Payout.Status.TRANSFERRED and released.transfer_id.startswith("tr_local_")
    assert [str(m) for m in response.context["messages"]] == [
        f"Transferred: payout {released.pk} ({released.transfer_id})."
    ]
    assert [str(m) for m in retry(released).context["messages"]] == [
        f"Payout {released.pk} not sent: already transferred."
    ]


def test_retry_transfer_now_retries_a_failed_payout_at_once(admin_client, released, monkeypatch):
    lifecycle.payouts_clear_sweep(now=released.clears_at)
    broken = type("Broken", (), {"seller_destination": lambda self, seller_id: None})()
    monkeypatch.setattr(lifecycle, "gateway", lambda: broken)
    lifecycle.payout_transfer(payout_id=released.pk)
    monkeypatch.undo()  # the seller's account works again; an admin retries at once
    admin_client.post(admin_url(Payout, "changelist"), {"action": "retry_transfer", "_selected_action": [released.pk]})
    released.refresh_from_db()
    assert released.status == Payout.Status.TRANSFERRED


def test_retry_needs_the_change_payout_permission(client, released):
    from django.contrib.auth.models import Permission

    from gigs.tests.factories import UserFactory

    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_payout"))
    client.force_login(staff)
    response = client.get(admin_url(Payout, "changelist"))
    assert response.status_code == 200 and b"retry_transfer" not in response.content
    staff.user_permissions.add(Permission.objects.get(codename="change_payout"))
    assert b"retry_transfer" in client.get(admin_url(Payout, "changelist")).content


@pytest.mark.parametrize("model", [Payout, Refund], ids=["payout", "refund"])
def test_payout_and_refund_changelist_queries_do_not_grow(admin_client, model):
    def one_more():
        order = place_order()
        pay(order)
        _released(order)
        lifecycle.order_stop(order_id=order.pk, buyer=order.buyer)

    one_more()
    url = admin_url(model, "changelist")
    admin_client.get(url)
    with CaptureQueriesContext(connection) as one:
        admin_client.get(url)
    for _ in range(3):
        one_more()
    with CaptureQueriesContext(connection) as many:
        assert admin_client.get(url).context["cl"].result_count == 4
    assert len(many) == len(one), [q["sql"] for q in many.captured_queries]


# --- every model of the project's apps has an admin, and its pages render --------------------------

PROJECT_APPS = ["gigs", "milestones", "payments", "disputes"]
PROJECT_MODELS = [m for app in PROJECT_APPS for m in apps.get_app_config(app).get_models()]
REGISTERED = [m for m in PROJECT_MODELS if admin.site.is_registered(m)]


def label(model) -> str:
    return model._meta.label_lower


@pytest.mark.parametrize("model", PROJECT_MODELS, ids=label)
def test_every_model_has_an_admin(model):
    """A model added later without an admin (inlines alone do not count) fails here."""
    assert admin.site.is_registered(model), f"register {model._meta.label} in {model._meta.app_label}/admin.py"


@pytest.fixture
def every_row(paid_order):
    """At least one row of every model: an order paid, milestone 1 delivered with a file,
    revised, accepted, cleared and transferred; milestone 2 with a task, a note, a cancellation
    request and a message thread with a file from the seller's team; then the order stopped and
    refunded. Plus a gig's checkout questions, an FAQ and a connected account."""
    order = paid_order
    payout = _released(order)
    second = _m(order, 1)
    member = UserFactory()
    invitation = workspace.team_invite(seller=order.seller, identifier=member.username)
    workspace.team_accept(member=member, team_member_id=invitation.pk)
    task = workspace.task_add(
        user=order.seller, order_id=order.pk, milestone_id=second.pk, title="Sketch", assignee_id=member.pk
    )
    workspace.task_add(user=member, order_id=order.pk, milestone_id=second.pk, title="Ink", parent_id=task.pk)
    workspace.note_add(user=member, order_id=order.pk, milestone_id=second.pk, body="Buyer prefers blue.")
    workspace.message_post(
        user=member, order_id=order.pk, body="A draft.", files=[SimpleUploadedFile("draft.pdf", b"%PDF-1.4")]
    )
    lifecycle.cancellation_request(milestone_id=second.pk, user=order.seller, reason="Away.")
    lifecycle.payouts_clear_sweep(now=payout.clears_at)
    lifecycle.payout_transfer(payout_id=payout.pk)
    refund = lifecycle.order_stop(order_id=order.pk, buyer=order.buyer)
    lifecycle.refund_send(refund_id=refund.pk)  # what the task queued after commit does
    gig_services.gig_set_requirements(gig=order.gig, requirements=[("Your brand name?", True)])
    GigFaqFactory(gig=order.gig)
    ConnectedAccount.objects.create(user=order.seller, stripe_account_id="acct_admin_test", transfers_active=True)
    # A dispute on milestone 2 (still in progress) with a message, evidence and an offer.
    dispute = dispute_services.dispute_open(
        milestone_id=second.pk,
        user=order.buyer,
        reason="late",
        description="No news for a week.",
        outcome_wanted="full_refund",
        files=[SimpleUploadedFile("chat.png", b"\x89PNG")],
    )
    dispute_services.dispute_message_post(dispute_id=dispute.pk, user=order.seller, body="Working on it.")
    dispute_services.settlement_propose(dispute_id=dispute.pk, user=order.seller, seller_amount_minor=100)
    # A chargeback on the order (the local provider's simulation: it holds milestone 2) with
    # evidence submitted.
    chargebacks.chargeback_simulate(order_id=order.pk)
    process_inbox()
    chargeback = order.disputes.get(kind="chargeback")
    chargebacks.chargeback_evidence_submit(
        dispute_id=chargeback.pk, admin=UserFactory(is_staff=True), evidence={"uncategorized_text": "Delivered."}
    )
    # A buyer project (issue 7) with a sketch, an invitation and a brief file, and an offer on it,
    # revised once, with a message on its thread.
    from milestones import project_services
    from milestones.project_services import ProjectMilestoneInput
    from milestones.tests.factories import PLAN, post_project, seller_in, send_offer

    start = timezone.localdate() + timedelta(days=1)
    project = post_project(
        category=order.gig.category,
        invited=[UserFactory()],
        milestones=[
            ProjectMilestoneInput("Design", 4000, start + timedelta(days=5)),
            ProjectMilestoneInput("Build", 6000, start + timedelta(days=20)),
        ],
        attachments=[SimpleUploadedFile("brief.pdf", b"%PDF-1.4")],
    )
    offer = send_offer(project=project, seller=seller_in(order.gig.category))
    project_services.offer_revise(seller=offer.seller, offer_id=offer.pk, message="Revised.", milestones=PLAN[:2])
    project_services.offer_message_post(user=project.buyer, offer_id=offer.pk, body="When can you start?")
    return order


def test_every_row_covers_the_local_provider_and_the_ledger(every_row):
    assert LocalPaymentIntent.objects.exists() and LocalTransfer.objects.exists() and LocalRefund.objects.exists()
    assert LedgerEntry.objects.filter(transaction__order=every_row).exists()


@pytest.mark.parametrize("model", REGISTERED, ids=label)
def test_changelist_and_change_page_render(admin_client, admin_user, every_row, model):
    model_admin = admin.site._registry[model]
    response = admin_client.get(admin_url(model, "changelist"))
    assert response.status_code == 200
    assert response.context["cl"].result_count >= 1, f"every_row makes no {model._meta.label}"
    obj = model.objects.order_by("pk").last()
    assert admin_client.get(admin_url(model, "change", obj.pk)).status_code == 200
    # Adding is switched off where only services create rows; then the page says so.
    request = RequestFactory().get("/")
    request.user = admin_user
    expected = 200 if model_admin.has_add_permission(request) else 403
    assert admin_client.get(admin_url(model, "add")).status_code == expected


def test_changelist_searches_and_filters_render(admin_client, every_row):
    """Each list's search (with a number, for the "=order id" lookups) and every filter choice."""
    for model in REGISTERED:
        url = admin_url(model, "changelist")
        assert admin_client.get(url, {"q": str(every_row.pk)}).status_code == 200, model
        assert admin_client.get(url, {"q": "no such thing"}).status_code == 200, model
        cl = admin_client.get(url).context["cl"]
        for spec in cl.filter_specs:
            for choice in spec.choices(cl):
                assert admin_client.get(url + choice["query_string"]).status_code == 200, (model, choice)


def test_ledger_entries_are_listed_with_their_transaction(admin_client, paid_order):
    url = admin_url(LedgerEntry, "changelist")
    found = admin_client.get(url, {"q": f"escrow:{paid_order.pk}"}).context["cl"].result_list
    assert found and {e.account for e in found} == {f"escrow:{paid_order.pk}"}
    body = admin_client.get(url, {"q": f"escrow:{paid_order.pk}"}).content.decode()
    assert "-$75" in body and "order_funded" in body


# --- the ledger is never changed or deleted through admin ------------------------------------------


def ledger_state() -> list:
    return [
        *LedgerTransaction.objects.order_by("pk").values_list("pk", "kind", "reference", "memo", "order_id"),
        *LedgerEntry.objects.order_by("pk").values_list("pk", "transaction_id", "account", "amount_minor", "currency"),
    ]


@pytest.mark.parametrize("model", [LedgerTransaction, LedgerEntry], ids=label)
def test_ledger_rows_cannot_be_changed_or_deleted(admin_client, admin_user, paid_order, model):
    before = ledger_state()
    obj = model.objects.order_by("pk").first()
    change = admin_url(model, "change", obj.pk)
    edits = {
        "memo": "edited",
        "reference": "edited",
        "account": "platform_cash",
        "amount_minor": "1",
        "currency": "EUR",
    }
    assert admin_client.post(change, edits).status_code == 403
    assert admin_client.post(admin_url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    assert admin_client.get(admin_url(model, "delete", obj.pk)).status_code == 403
    # Nor in bulk from the list: no delete action is offered, and posting it does nothing.
    changelist = admin_url(model, "changelist")
    admin_client.post(changelist, {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"})
    assert admin_client.post(admin_url(model, "add"), edits).status_code == 403
    assert ledger_state() == before

    page = admin_client.get(change)
    assert page.status_code == 200 and page.context["has_change_permission"] is False
    assert b'name="_save"' not in page.content
    model_admin = admin.site._registry[model]
    request = RequestFactory().get(changelist)
    request.user = admin_user
    assert not model_admin.has_change_permission(request, obj)
    assert not model_admin.has_delete_permission(request, obj)
    assert "delete_selected" not in model_admin.get_actions(request)
