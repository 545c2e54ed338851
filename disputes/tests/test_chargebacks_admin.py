"""Chargebacks in admin and in demos: in Stripe mode (the real SDK against payments.tests.stripe_fake)
a chargeback arrives by signed webhooks, shows in the dispute list and page, and an admin submits
its evidence to Stripe from the page (the fake records the request, its key and the evidence);
with the local provider, the simulate_chargeback command and the admin actions open and decide
chargebacks for demos, through the same inbox. Every test ends with the books checked."""

import re

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import formats, timezone

from disputes.chargebacks import evidence_key
from disputes.models import Dispute, DisputeEvent, DisputeEvidenceSubmission, DisputeHold
from disputes.tests.helpers import open_dispute
from gigs.tests.factories import UserFactory
from milestones.models import Order, OrderMilestone
from payments import ledger, services
from payments.models import Payment, WebhookEvent
from payments.tests.factories import place_order, process_inbox
from payments.tests.stripe_fake import WEBHOOK_SECRET, FakeStripe, post_event, stripe_mode
from payments.tests.test_lifecycle import deliver, fresh, milestones_of, pin_rules
from payments.tests.test_lifecycle_stripe import onboarded_gig

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("books")]

S = OrderMilestone.Status
DS = Dispute.Status
URL = "/payments/webhooks/stripe/"
EVIDENCE = {
    "product_description": "A logo in three milestones: sketches, drafts, final files.",
    "customer_name": "Dave Buyer",
    "customer_email_address": "dave@example.com",
    "uncategorized_text": "The buyer accepted milestone 1 and wrote that the sketches were great.",
}


@pytest.fixture(autouse=True)
def _rules(settings):
    pin_rules(settings, DISPUTE_RESPONSE_DAYS=5, DISPUTE_APPROVAL_ABOVE_MINOR=10**9)


def admin_client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def superuser():
    return UserFactory(is_staff=True, is_superuser=True)


# --- Stripe mode --------------------------------------------------------------------------------


@pytest.fixture
def fake(settings) -> FakeStripe:
    with stripe_mode(settings) as fake:
        yield fake


@pytest.fixture
def stripe_order(fake, clock) -> Order:
    order = place_order(gig=onboarded_gig(fake))
    payment = services.payment_start(order=order)
    fake.confirm_payment(payment.provider_payment_id)
    post_event(Client(), URL, fake.last_event("payment_intent.succeeded"), WEBHOOK_SECRET)
    process_inbox()
    order.refresh_from_db()
    assert order.status == Order.Status.ACTIVE
    return order


def deliver_events(fake: FakeStripe, *types: str) -> None:
    """Sign and POST the fake's latest event of each type, then process the inbox."""
    client = Client()
    for event_type in types:
        assert post_event(client, URL, fake.last_event(event_type), WEBHOOK_SECRET).status_code == 200
    process_inbox()


@pytest.fixture
def stripe_chargeback(fake, stripe_order) -> Dispute:
    deliver(milestones_of(stripe_order)[0])
    charge = Payment.objects.get(order=stripe_order).charge_id
    fake.create_dispute(charge)
    deliver_events(fake, "charge.dispute.created", "charge.dispute.funds_withdrawn")
    return Dispute.objects.get(kind=Dispute.Kind.CHARGEBACK)


class TestStripeAdmin:
    def test_the_chargeback_is_listed_with_its_kind_and_filterable(self, superuser, stripe_chargeback):
        client = admin_client_for(superuser)
        page = client.get(reverse("admin:disputes_dispute_changelist"), {"kind": "chargeback"})
        assert page.status_code == 200
        assert [d.pk for d in page.context["cl"].result_list] == [stripe_chargeback.pk]
        assert '<td class="field-kind">Chargeback</td>' in page.content.decode()
        assert ">Needs response</a>" in page.content.decode()  # the provider-status filter, by its label
        assert (
            client.get(reverse("admin:disputes_dispute_changelist"), {"kind": "milestone"}).context["cl"].result_count
            == 0
        )

    def test_the_page_shows_the_providers_status_amount_due_date_holds_and_the_evidence_button(
        self, superuser, stripe_chargeback
    ):
        d = stripe_chargeback
        html = admin_client_for(superuser).get(reverse("admin:disputes_dispute_change", args=[d.pk])).content.decode()
        assert d.provider_dispute_id in html and "Needs response" in html
        assert "Fraudulent payment (not made by the cardholder)" in html
        assert "$82.13" in html  # the whole charge (7500 + 5.5 % + $3)
        assert "Submit evidence to Stripe" in html
        assert reverse("admin:disputes_dispute_evidence", args=[d.pk]) in html
        assert "milestones held (order dispute or chargeback)" in html.lower()
        assert "Simulate" not in html  # Stripe mode: nothing is simulated
        assert d.evidence_due_by is not None
        # The due date itself is on the page, as the admin renders a read-only datetime.
        shown = formats.localize(timezone.template_localtime(d.evidence_due_by))
        assert re.search(r'class="[^"]*field-evidence_due_by[^"]*".*?' + re.escape(shown), html, re.S), shown

    def test_an_admin_submits_evidence_to_stripe_through_the_sdk(self, superuser, fake, stripe_chargeback):
        d = stripe_chargeback
        url = reverse("admin:disputes_dispute_evidence", args=[d.pk])
        client = admin_client_for(superuser)
        assert "Submit evidence to Stripe" in client.get(url).content.decode()
        response = client.post(url, EVIDENCE)
        assert response.status_code == 302

        [request] = fake.posts(f"/v1/disputes/{d.provider_dispute_id}")
        assert request.params == {"evidence": EVIDENCE, "submit": "true"}
        assert request.idempotency_key == evidence_key(d, 1)
        remote = fake.disputes[d.provider_dispute_id]
        assert remote["status"] == "under_review" and remote["evidence"]["customer_name"] == "Dave Buyer"
        d = fresh(d)
        assert d.evidence_submitted_at is not None and d.status == DS.UNDER_REVIEW
        [sub] = DisputeEvidenceSubmission.objects.all()
        assert (sub.submitted_by, sub.evidence, sub.provider_status) == (superuser, EVIDENCE, "under_review")
        assert DisputeEvent.objects.filter(dispute=d, action="evidence submitted", actor=superuser).exists()

        # Stripe's charge.dispute.updated follows; the page no longer offers a submission.
        deliver_events(fake, "charge.dispute.updated")
        assert fresh(d).provider_status == "under_review"
        page = client.get(reverse("admin:disputes_dispute_change", args=[d.pk])).content.decode()
        assert "Submit evidence to Stripe" not in page
        again = client.post(url, EVIDENCE, follow=True)
        assert "submitted already" in again.content.decode()
        assert len(fake.posts(f"/v1/disputes/{d.provider_dispute_id}")) == 1

    def test_an_empty_form_is_refused_and_nothing_is_sent(self, superuser, fake, stripe_chargeback):
        url = reverse("admin:disputes_dispute_evidence", args=[stripe_chargeback.pk])
        response = admin_client_for(superuser).post(url, {"customer_name": "  "})
        assert response.status_code == 200
        assert "Fill in at least one evidence field." in response.content.decode()
        assert fake.posts(f"/v1/disputes/{stripe_chargeback.provider_dispute_id}") == []

    def test_a_stripe_refusal_is_shown_and_nothing_recorded(self, superuser, fake, stripe_chargeback):
        d = stripe_chargeback
        fake.disputes[d.provider_dispute_id]["status"] = "lost"  # decided at Stripe meanwhile
        response = admin_client_for(superuser).post(
            reverse("admin:disputes_dispute_evidence", args=[d.pk]), EVIDENCE, follow=True
        )
        assert response.status_code == 200
        assert "can no longer be updated" in response.content.decode()
        assert not DisputeEvidenceSubmission.objects.exists() and fresh(d).evidence_submitted_at is None
        # The closing event brings the decision in: lost, everything held refunded.
        fake.close_dispute(d.provider_dispute_id, "lost")
        deliver_events(fake, "charge.dispute.closed")
        assert fresh(d).resolution_action == Dispute.Action.LOST
        assert [m.status for m in milestones_of(d.order)] == [S.CANCELLED] * 3

    def test_won_at_stripe_resumes_the_order(self, fake, stripe_chargeback):
        d = stripe_chargeback
        fake.close_dispute(d.provider_dispute_id, "won")
        deliver_events(fake, "charge.dispute.funds_reinstated", "charge.dispute.closed")
        assert fresh(d).resolution_action == Dispute.Action.WON
        assert ledger.balance(ledger.chargeback(d.order_id), "USD") == 0
        assert milestones_of(d.order)[0].status == S.DELIVERED

    def test_agents_without_change_dispute_cannot_submit(self, fake, stripe_chargeback):
        viewer = UserFactory(is_staff=True)
        viewer.user_permissions.add(Permission.objects.get(codename="view_dispute"))
        client = admin_client_for(viewer)
        assert client.get(reverse("admin:disputes_dispute_change", args=[stripe_chargeback.pk])).status_code == 200
        assert (
            client.post(reverse("admin:disputes_dispute_evidence", args=[stripe_chargeback.pk]), EVIDENCE).status_code
            == 403
        )
        assert fake.posts(f"/v1/disputes/{stripe_chargeback.provider_dispute_id}") == []

    def test_a_dispute_agent_submits_evidence(self, fake, stripe_chargeback):
        agent = UserFactory(is_staff=True)
        agent.groups.add(Group.objects.get(name="Dispute agents"))
        url = reverse("admin:disputes_dispute_evidence", args=[stripe_chargeback.pk])
        assert admin_client_for(agent).post(url, EVIDENCE).status_code == 302
        assert len(fake.posts(f"/v1/disputes/{stripe_chargeback.provider_dispute_id}")) == 1


# --- local provider: demos ----------------------------------------------------------------------


def local_events() -> list[str]:
    return list(
        WebhookEvent.objects.filter(source="local", type__startswith="charge.dispute.")
        .order_by("pk")
        .values_list("type", flat=True)
    )


class TestLocalSimulation:
    def test_the_command_opens_a_chargeback_then_decides_it_lost(self, order):
        deliver(milestones_of(order)[0])
        call_command("simulate_chargeback", order.pk)
        d = Dispute.objects.get(kind=Dispute.Kind.CHARGEBACK)
        assert (d.order_id, d.status, d.amount_minor) == (order.pk, DS.OPEN, order.total_minor)
        assert local_events() == ["charge.dispute.created", "charge.dispute.funds_withdrawn"]
        assert set(WebhookEvent.objects.values_list("status", flat=True)) == {WebhookEvent.Status.PROCESSED}
        assert [m.status for m in milestones_of(order)] == [S.DISPUTED, S.DISPUTED, S.DISPUTED]
        assert ledger.balance(ledger.chargeback(order.pk), "USD") == order.total_minor

        call_command("simulate_chargeback", order.pk, outcome="lost")
        d = fresh(d)
        assert (d.status, d.resolution_action) == (DS.RESOLVED, Dispute.Action.LOST)
        assert local_events()[-1] == "charge.dispute.closed"
        assert fresh(order).status == Order.Status.CANCELLED
        assert ledger.balance(ledger.chargeback(order.pk), "USD") == 0

    def test_the_command_opens_and_decides_won_in_one_go_and_a_partial_amount(self, order):
        call_command("simulate_chargeback", order.pk, outcome="won", amount=2500)
        d = Dispute.objects.get(kind=Dispute.Kind.CHARGEBACK)
        assert (d.resolution_action, d.amount_minor) == (Dispute.Action.WON, 2500)
        assert local_events() == [
            "charge.dispute.created",
            "charge.dispute.funds_withdrawn",
            "charge.dispute.funds_reinstated",
            "charge.dispute.closed",
        ]
        assert milestones_of(order)[0].status == S.IN_PROGRESS
        assert ledger.balance(ledger.CHARGEBACK_FEES, "USD") == 1500

    def test_the_command_again_without_an_outcome_says_how_to_decide_and_changes_nothing(self, order):
        call_command("simulate_chargeback", order.pk)
        before = local_events()
        with pytest.raises(CommandError, match=r"open: decide it with --outcome won\|lost\."):
            call_command("simulate_chargeback", order.pk)
        assert local_events() == before and Dispute.objects.filter(kind=Dispute.Kind.CHARGEBACK).count() == 1

    def test_the_command_refuses_an_unpaid_order_and_stripe_mode(self, settings):
        unpaid = place_order()
        with pytest.raises(CommandError, match="no successful payment"):
            call_command("simulate_chargeback", unpaid.pk)
        with stripe_mode(settings), pytest.raises(CommandError, match="local payment provider only"):
            call_command("simulate_chargeback", unpaid.pk)

    def test_admin_actions_simulate_a_chargeback_on_a_disputes_order_and_its_decision(self, superuser, order):
        m1 = milestones_of(order)[0]
        deliver(m1)
        party = open_dispute(fresh(m1))
        client = admin_client_for(superuser)
        changelist = reverse("admin:disputes_dispute_changelist")
        response = client.post(
            changelist, {"action": "simulate_chargeback_action", "_selected_action": [party.pk]}, follow=True
        )
        assert response.status_code == 200
        process_inbox()  # what the worker does with the events the local provider emitted
        d = Dispute.objects.get(kind=Dispute.Kind.CHARGEBACK)
        assert DisputeHold.objects.get(dispute=d, milestone=m1).party_dispute == party
        page = client.get(reverse("admin:disputes_dispute_change", args=[d.pk])).content.decode()
        assert "Simulate: the issuer decides won" in page and "Submit evidence (local provider)" in page

        # Evidence goes to the local provider, which records it as Stripe would.
        client.post(reverse("admin:disputes_dispute_evidence", args=[d.pk]), EVIDENCE)
        assert local_events()[-1] == "charge.dispute.updated"
        process_inbox()
        assert fresh(d).provider_status == "under_review"

        client.post(reverse("admin:disputes_dispute_simulate", args=[d.pk, "won"]))
        process_inbox()
        d = fresh(d)
        assert (d.status, d.resolution_action) == (DS.RESOLVED, Dispute.Action.WON)
        assert fresh(m1).status == S.DISPUTED  # the milestone dispute still holds it
        assert fresh(party).is_active

    def test_the_lost_action_on_the_changelist(self, superuser, order):
        call_command("simulate_chargeback", order.pk)
        d = Dispute.objects.get(kind=Dispute.Kind.CHARGEBACK)
        admin_client_for(superuser).post(
            reverse("admin:disputes_dispute_changelist"), {"action": "simulate_lost_action", "_selected_action": [d.pk]}
        )
        process_inbox()
        assert fresh(d).resolution_action == Dispute.Action.LOST

    def test_simulation_actions_are_not_offered_in_stripe_mode(self, settings, superuser, order):
        with stripe_mode(settings):
            response = admin_client_for(superuser).get(reverse("admin:disputes_dispute_changelist"))
        actions = [value for value, _ in response.context["action_form"].fields["action"].choices]
        assert "decide_action" in actions and "simulate_chargeback_action" not in actions


class TestEvidenceKeys:
    def test_a_submission_whose_answer_was_lost_is_retried_with_the_same_key_and_sent_once(
        self, superuser, fake, stripe_chargeback
    ):
        from disputes.chargebacks import chargeback_evidence_submit
        from payments.exceptions import ProviderUnavailable

        d = stripe_chargeback
        fake.fail_next(3, error="connection", after_processing=True)  # the request and the SDK's retries
        with pytest.raises(ProviderUnavailable):
            chargeback_evidence_submit(dispute_id=d.pk, admin=superuser, evidence=EVIDENCE)
        assert fresh(d).evidence_submitted_at is None  # nothing recorded: we do not know it went through
        assert fake.disputes[d.provider_dispute_id]["evidence_details"]["submission_count"] == 1

        sub = chargeback_evidence_submit(dispute_id=d.pk, admin=superuser, evidence=EVIDENCE)
        assert sub.provider_status == "under_review" and fresh(d).evidence_submitted_at is not None
        keys = {r.idempotency_key for r in fake.posts(f"/v1/disputes/{d.provider_dispute_id}")}
        assert keys == {evidence_key(d, 1)}
        assert fake.disputes[d.provider_dispute_id]["evidence_details"]["submission_count"] == 1

    def test_the_local_provider_answers_the_same_key_without_a_second_submission(self, order):
        from payments.gateways import gateway

        call_command("simulate_chargeback", order.pk)
        ref = Dispute.objects.get(kind=Dispute.Kind.CHARGEBACK).provider_dispute_id
        first = gateway().submit_dispute_evidence(ref, {"uncategorized_text": "Delivered."}, idempotency_key="k-1")
        again = gateway().submit_dispute_evidence(ref, {"uncategorized_text": "Delivered."}, idempotency_key="k-1")
        assert first == again == "under_review"
        assert local_events().count("charge.dispute.updated") == 1
        process_inbox()
