"""Chargebacks (issue 6): Stripe's charge.dispute.* events, signed as Stripe signs them and POSTed to
/payments/webhooks/stripe/, then processed from the inbox, through to the frozen order; funds
withdrawn and reinstated posted to the ledger; closed won (the order goes on) and lost (the held
money refunded by the card network); events out of order and twice; a milestone dispute on the
same order; the auto-release sweep and the second approval's re-check. Every test ends with the
books checked (assert_dispute_books), and the chargeback accounts are checked after each step."""

import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from disputes import services
from disputes.exceptions import DisputeClosed, DisputeNotAllowed
from disputes.models import Dispute, DisputeHold, SettlementOffer
from disputes.tests.helpers import open_dispute
from gigs.tests.factories import UserFactory
from milestones.models import Order, OrderMilestone
from payments import ledger, lifecycle
from payments.models import LedgerTransaction, Payment, Payout, Refund, WebhookEvent
from payments.tests.factories import process_inbox
from payments.tests.stripe_fake import WEBHOOK_SECRET, make_event, post_event
from payments.tests.test_lifecycle import accept, deliver, fresh, milestones_of, owed, pin_rules

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("books")]

S = OrderMilestone.Status
DS = Dispute.Status
URL = "/payments/webhooks/stripe/"
FEE = 1500
PRICES = [2000, 3000, 2500]


@pytest.fixture(autouse=True)
def _rules(settings):
    pin_rules(settings, DISPUTE_RESPONSE_DAYS=5, DISPUTE_APPROVAL_ABOVE_MINOR=10**9)
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET


class Bank:
    """Plays the card network and Stripe for one dispute on an order's charge: builds the dispute
    object with its balance transactions as Stripe reports them, signs the events and posts them
    to the webhook endpoint, then processes the inbox (what the worker does after commit)."""

    def __init__(self, order: Order, amount: int | None = None) -> None:
        self.order = order
        self.payment = Payment.objects.get(order=order)
        self.id = f"du_{uuid.uuid4().hex[:24]}"
        self.amount = order.total_minor if amount is None else amount
        self.status = "needs_response"
        self.txns: list[dict] = []
        self.client = Client()
        self.t = int(timezone.now().timestamp())

    def obj(self) -> dict:
        return {
            "id": self.id,
            "object": "dispute",
            "amount": self.amount,
            "currency": self.order.currency.lower(),
            "charge": self.payment.charge_id,
            "payment_intent": self.payment.provider_payment_id,
            "reason": "fraudulent",
            "status": self.status,
            "evidence_details": {"due_by": self.t + 7 * 86400, "has_evidence": False, "submission_count": 0},
            "balance_transactions": list(self.txns),
            "is_charge_refundable": False,
        }

    def event(self, kind: str, *, created: int | None = None) -> dict:
        event = make_event(f"charge.dispute.{kind}", self.obj())
        self.t += 1
        event["created"] = created if created is not None else self.t
        return event

    def withdraw(self) -> None:
        self.txns.append({"id": f"txn_{uuid.uuid4().hex[:12]}", "amount": -self.amount, "fee": FEE, "currency": "usd"})

    def reinstate(self) -> None:
        self.txns.append({"id": f"txn_{uuid.uuid4().hex[:12]}", "amount": self.amount, "fee": 0, "currency": "usd"})

    def send(self, event: dict) -> dict:
        response = post_event(self.client, URL, event, WEBHOOK_SECRET)
        assert response.status_code == 200, response.content
        process_inbox()
        return response.json()

    def created(self):
        return self.send(self.event("created"))

    def funds_withdrawn(self):
        self.withdraw()
        return self.send(self.event("funds_withdrawn"))

    def won(self):
        self.reinstate()
        self.send(self.event("funds_reinstated"))
        self.status = "won"
        return self.send(self.event("closed"))

    def lost(self):
        self.status = "lost"
        return self.send(self.event("closed"))

    @property
    def dispute(self) -> Dispute:
        return Dispute.objects.get(provider_dispute_id=self.id)


def chargeback_held(order: Order) -> int:
    return ledger.balance(ledger.chargeback(order.pk), order.currency)


def cash() -> int:
    return ledger.balance(ledger.PLATFORM_CASH, "USD")


def statuses(order: Order) -> list[str]:
    return [m.status for m in milestones_of(order)]


@pytest.fixture
def bank(order) -> Bank:
    return Bank(order)


class TestOpened:
    def test_a_signed_created_event_opens_a_chargeback_and_freezes_the_order(self, order, bank):
        m1, m2, m3 = milestones_of(order)
        deliver(m1)
        answer = bank.created()

        assert answer == {"received": True, "duplicate": False}
        d = bank.dispute
        assert (d.kind, d.order_id, d.milestone_id, d.status) == (Dispute.Kind.CHARGEBACK, order.pk, None, DS.OPEN)
        assert (d.provider_status, d.provider_reason, d.amount_minor) == ("needs_response", "fraudulent", bank.amount)
        assert d.provider_charge_id == bank.payment.charge_id
        assert d.evidence_due_by is not None and d.opened_by == order.buyer
        # Milestones not started are frozen too: nothing cancels or refunds them meanwhile.
        assert statuses(order) == [S.DISPUTED, S.DISPUTED, S.DISPUTED]
        assert fresh(m1).review_deadline is None
        holds = list(DisputeHold.objects.filter(dispute=d).order_by("milestone__position"))
        assert [(h.milestone_id, h.frozen_from) for h in holds] == [
            (m1.pk, S.DELIVERED),
            (m2.pk, S.LOCKED),
            (m3.pk, S.LOCKED),
        ]
        assert WebhookEvent.objects.get(type="charge.dispute.created").status == WebhookEvent.Status.PROCESSED
        # Nothing moved yet: Stripe withdraws the funds in its own event.
        assert chargeback_held(order) == 0

    def test_a_frozen_delivery_is_not_auto_released(self, order, bank, clock):
        m1 = milestones_of(order)[0]
        deliver(m1)
        bank.created()
        clock.shift(timedelta(days=30))
        assert lifecycle.auto_release_sweep() == 0
        assert fresh(m1).status == S.DISPUTED
        assert not Payout.objects.exists()

    def test_an_accepted_milestone_pending_clearance_has_its_payout_frozen(self, order, bank, clock):
        m1 = milestones_of(order)[0]
        deliver(m1)
        accept(m1)
        bank.created()
        payout = Payout.objects.get(milestone=m1)
        assert payout.frozen and payout.status == Payout.Status.PENDING_CLEARANCE
        assert statuses(order) == [S.ACCEPTED, S.DISPUTED, S.DISPUTED]
        clock.shift(timedelta(days=30))
        assert lifecycle.payouts_clear_sweep() == 0
        assert fresh(payout).status == Payout.Status.PENDING_CLEARANCE
        hold = DisputeHold.objects.get(milestone=m1)
        assert (hold.frozen_from, hold.payout_frozen) == (S.ACCEPTED, True)

    def test_a_charge_we_do_not_know_is_stored_for_later(self, bank):
        bank.payment = Payment(charge_id="ch_elsewhere", provider_payment_id="pi_elsewhere")
        bank.created()
        assert WebhookEvent.objects.get(type="charge.dispute.created").status == WebhookEvent.Status.IGNORED
        assert not Dispute.objects.exists()

    def test_an_unsigned_body_is_refused_and_nothing_stored(self, bank):
        event = bank.event("created")
        response = post_event(bank.client, URL, event, "whsec_wrong")
        assert response.status_code == 400
        assert not WebhookEvent.objects.filter(source="stripe").exists() and not Dispute.objects.exists()


class TestFunds:
    def test_funds_withdrawn_take_the_amount_and_fee_out_of_the_platform_balance(self, order, bank):
        before = cash()
        bank.created()
        bank.funds_withdrawn()

        assert chargeback_held(order) == bank.amount
        assert ledger.balance(ledger.CHARGEBACK_FEES, "USD") == FEE
        assert cash() == before - bank.amount - FEE
        [txn] = LedgerTransaction.objects.filter(kind=ledger.KIND_CHARGEBACK_FUNDS)
        assert txn.order_id == order.pk and txn.reference == f"chargeback-{bank.id}-{bank.txns[0]['id']}"
        assert ledger.escrow_balance(order) == order.subtotal_minor  # escrow untouched while it runs

    def test_reinstated_funds_come_back_and_the_fee_stays_an_expense(self, order, bank):
        before = cash()
        bank.created()
        bank.funds_withdrawn()
        bank.reinstate()
        bank.send(bank.event("funds_reinstated"))

        assert chargeback_held(order) == 0
        assert cash() == before - FEE
        assert ledger.balance(ledger.CHARGEBACK_FEES, "USD") == FEE
        assert bank.dispute.is_active  # reinstated is not the decision: closed is
        assert LedgerTransaction.objects.filter(kind=ledger.KIND_CHARGEBACK_FUNDS).count() == 2


class TestWon:
    def test_won_resumes_every_milestone_where_it_was_with_a_fresh_review_window(self, order, bank, clock):
        m1 = milestones_of(order)[0]
        deliver(m1)
        bank.created()
        bank.funds_withdrawn()
        clock.shift(timedelta(days=10))
        before = cash()
        bank.won()

        d = bank.dispute
        assert (d.status, d.resolution_action, d.provider_status) == (DS.RESOLVED, Dispute.Action.WON, "won")
        assert statuses(order) == [S.DELIVERED, S.LOCKED, S.LOCKED]
        assert fresh(m1).review_deadline == timezone.now() + timedelta(days=3)
        assert set(DisputeHold.objects.values_list("outcome", flat=True)) == {DisputeHold.Outcome.RESUMED}
        assert chargeback_held(order) == 0 and cash() == before + bank.amount
        assert ledger.escrow_balance(order) == order.subtotal_minor
        # The order goes on as before: the buyer accepts, the money is released.
        accept(fresh(m1))
        assert statuses(order) == [S.ACCEPTED, S.IN_PROGRESS, S.LOCKED]

    def test_won_unfreezes_a_payout_the_chargeback_froze(self, order, bank, clock):
        m1 = milestones_of(order)[0]
        deliver(m1)
        accept(m1)
        bank.created()
        bank.funds_withdrawn()
        bank.won()
        payout = Payout.objects.get(milestone=m1)
        assert not payout.frozen
        clock.shift(timedelta(days=8))
        assert lifecycle.payouts_clear_sweep() == 1


class TestLost:
    def test_lost_refunds_every_unreleased_milestone_through_the_chargeback(self, order, bank):
        m1 = milestones_of(order)[0]
        deliver(m1)
        bank.created()
        bank.funds_withdrawn()
        before = cash()
        bank.lost()

        d = bank.dispute
        assert (d.status, d.resolution_action, d.refund_amount_minor) == (DS.RESOLVED, Dispute.Action.LOST, 7500)
        assert statuses(order) == [S.CANCELLED] * 3
        assert fresh(order).status == Order.Status.CANCELLED
        assert ledger.escrow_balance(order) == 0
        assert chargeback_held(order) == 0 and cash() == before  # the money was gone already
        fees = order.total_minor - order.subtotal_minor  # the buyer's fees: not held, the platform's loss
        assert ledger.balance(ledger.CHARGEBACK_LOSSES, "USD") == fees
        refunds = Refund.objects.filter(order=order).order_by("amount_minor")
        assert [(r.amount_minor, r.status) for r in refunds] == [
            (2000, Refund.Status.SUCCEEDED),
            (2500, Refund.Status.SUCCEEDED),
            (3000, Refund.Status.SUCCEEDED),
        ]
        assert owed(ledger.refunds_payable(order.pk)) == 0  # nothing is sent: the bank refunded it

    def test_lost_takes_back_a_payout_pending_clearance_and_the_order_completes(self, order, bank):
        m1, m2, _ = milestones_of(order)
        deliver(m1)
        accept(m1)
        deliver(fresh(m2))
        bank.created()
        bank.funds_withdrawn()
        bank.lost()

        assert statuses(order) == [S.ACCEPTED, S.CANCELLED, S.CANCELLED]
        assert fresh(order).status == Order.Status.COMPLETED
        payout = Payout.objects.get(milestone=m1)
        assert (payout.status, payout.gross_minor, payout.amount_minor, payout.frozen) == (
            Payout.Status.CANCELLED,
            0,
            0,
            False,
        )
        assert owed(ledger.seller_pending(order.seller_id)) == 0
        assert chargeback_held(order) == 0

    def test_a_partial_chargeback_refunds_the_latest_milestones_it_covers_and_the_rest_goes_on(self, order):
        bank = Bank(order, amount=PRICES[2])  # exactly milestone 3
        m1 = milestones_of(order)[0]
        deliver(m1)
        bank.created()
        bank.funds_withdrawn()
        bank.lost()

        assert statuses(order) == [S.DELIVERED, S.LOCKED, S.CANCELLED]
        assert fresh(order).status == Order.Status.ACTIVE
        assert ledger.escrow_balance(order) == PRICES[0] + PRICES[1]
        assert ledger.balance(ledger.CHARGEBACK_LOSSES, "USD") == 0
        assert chargeback_held(order) == 0
        outcomes = dict(DisputeHold.objects.values_list("milestone__position", "outcome"))
        assert outcomes == {0: "resumed", 1: "resumed", 2: "refunded"}

    def test_closed_lost_before_funds_withdrawn_ends_in_the_same_books(self, order, bank):
        bank.created()
        bank.withdraw()
        withdrawn = bank.event("funds_withdrawn")
        bank.txns.clear()  # the closed event processed first does not list it (yet)
        bank.lost()
        assert chargeback_held(order) == -bank.amount  # settled before the withdrawal is known
        bank.send(withdrawn)
        assert chargeback_held(order) == 0
        assert statuses(order) == [S.CANCELLED] * 3


class TestOrderAndDuplicates:
    def test_funds_withdrawn_first_opens_the_chargeback_and_the_late_created_changes_nothing(self, order, bank):
        created = bank.event("created")
        bank.funds_withdrawn()
        d = bank.dispute
        assert d.provider_status == "needs_response" and statuses(order)[0] == S.DISPUTED
        assert chargeback_held(order) == bank.amount
        bank.send(created)
        assert Dispute.objects.filter(kind=Dispute.Kind.CHARGEBACK).count() == 1
        assert DisputeHold.objects.count() == 3
        assert chargeback_held(order) == bank.amount

    def test_the_same_event_delivered_twice_is_applied_once(self, order, bank):
        bank.created()
        bank.withdraw()
        event = bank.event("funds_withdrawn")
        assert bank.send(event)["duplicate"] is False
        assert bank.send(event)["duplicate"] is True
        assert LedgerTransaction.objects.filter(kind=ledger.KIND_CHARGEBACK_FUNDS).count() == 1
        assert chargeback_held(order) == bank.amount

    def test_every_event_listing_a_balance_transaction_posts_it_once(self, order, bank):
        bank.created()
        bank.funds_withdrawn()
        bank.send(bank.event("updated"))  # lists the withdrawal again
        assert LedgerTransaction.objects.filter(kind=ledger.KIND_CHARGEBACK_FUNDS).count() == 1

    def test_an_older_event_never_replaces_a_newer_status_nor_a_final_one(self, order, bank):
        bank.created()
        bank.funds_withdrawn()
        bank.status = "under_review"
        bank.send(bank.event("updated"))
        assert bank.dispute.status == DS.UNDER_REVIEW
        bank.status = "needs_response"
        bank.send(bank.event("updated", created=bank.t - 100))
        assert bank.dispute.provider_status == "under_review"
        bank.won()
        bank.status = "under_review"
        bank.send(bank.event("updated"))  # newer, but the dispute is decided
        d = bank.dispute
        assert (d.provider_status, d.status, d.resolution_action) == ("won", DS.RESOLVED, Dispute.Action.WON)
        assert statuses(order)[0] == S.IN_PROGRESS

    def test_a_closed_event_repeated_with_another_id_settles_once(self, order, bank):
        bank.created()
        bank.funds_withdrawn()
        bank.lost()
        bank.lost()
        assert Refund.objects.filter(order=order).count() == 3
        assert LedgerTransaction.objects.filter(kind=ledger.KIND_CHARGEBACK_REFUNDED).count() == 3

    def test_an_event_in_another_currency_is_marked_failed_and_changes_nothing(self, order, bank):
        event = bank.event("created")
        event["data"]["object"]["currency"] = "eur"
        bank.send(event)
        row = WebhookEvent.objects.get(type="charge.dispute.created")
        assert row.status == WebhookEvent.Status.FAILED and "EUR" in row.error
        assert not Dispute.objects.exists() and statuses(order)[0] == S.IN_PROGRESS


class TestWithAMilestoneDispute:
    def test_a_milestone_already_disputed_stays_that_disputes_to_unfreeze(self, order, bank, staff):
        m1 = milestones_of(order)[0]
        deliver(m1)
        party = open_dispute(fresh(m1))
        bank.created()
        hold = DisputeHold.objects.get(milestone=m1)
        assert (hold.frozen_from, hold.party_dispute_id) == (S.DISPUTED, party.pk)
        with pytest.raises(DisputeClosed, match="chargeback"):
            services.dispute_resolve(dispute_id=party.pk, admin=staff, action="refund", note="Refund it.")
        bank.funds_withdrawn()
        bank.won()
        assert fresh(m1).status == S.DISPUTED  # the milestone dispute still holds it
        services.dispute_resolve(dispute_id=party.pk, admin=staff, action="release", note="Good work.")
        assert fresh(m1).status == S.ACCEPTED

    def test_a_milestone_dispute_withdrawn_during_the_chargeback_hands_its_freeze_over(self, order, bank):
        m1 = milestones_of(order)[0]
        deliver(m1)
        party = open_dispute(fresh(m1))
        bank.created()
        services.dispute_withdraw(dispute_id=party.pk, user=order.buyer)
        assert fresh(m1).status == S.DISPUTED  # still held by the chargeback
        hold = DisputeHold.objects.get(milestone=m1)
        assert (hold.frozen_from, hold.party_dispute_id) == (S.DELIVERED, None)
        bank.funds_withdrawn()
        bank.won()
        assert fresh(m1).status == S.DELIVERED

    def test_a_lost_chargeback_ends_the_milestone_dispute_it_refunded(self, order, bank):
        m1 = milestones_of(order)[0]
        deliver(m1)
        party = open_dispute(fresh(m1))
        offer = services.settlement_propose(dispute_id=party.pk, user=order.seller, seller_amount_minor=1000)
        bank.created()
        bank.funds_withdrawn()
        with pytest.raises(DisputeClosed, match="chargeback"):  # no settlement while it runs
            services.settlement_accept(offer_id=offer.pk, user=order.buyer)
        bank.lost()
        party = fresh(party)
        assert (party.status, party.resolution_action) == (DS.RESOLVED, Dispute.Action.CHARGEBACK)
        assert fresh(offer).status == SettlementOffer.Status.EXPIRED  # ended with the dispute, not answered
        assert fresh(m1).status == S.CANCELLED

    def test_no_milestone_dispute_opens_on_a_held_milestone(self, order, bank):
        m1 = milestones_of(order)[0]
        deliver(m1)
        bank.created()
        assert (
            fresh(m1).status == S.DISPUTED and DisputeHold.objects.filter(dispute=bank.dispute, milestone=m1).exists()
        )
        # Refused because the chargeback holds it (not for any other reason), and nothing written.
        with pytest.raises(DisputeNotAllowed, match="Milestone 1 is disputed"):
            open_dispute(fresh(m1))
        assert not Dispute.objects.filter(kind=Dispute.Kind.MILESTONE).exists()
        assert fresh(m1).status == S.DISPUTED

    def test_party_services_refuse_a_chargeback(self, order, bank, staff):
        bank.created()
        d = bank.dispute
        with pytest.raises(DisputeClosed, match="card issuer"):
            services.dispute_withdraw(dispute_id=d.pk, user=order.buyer)
        with pytest.raises(DisputeClosed, match="card issuer"):
            services.dispute_close(dispute_id=d.pk, admin=staff, note="No.")
        assert fresh(d).status == DS.OPEN


class TestApprovalRecheck:
    """dispute_decision_approve re-checks what is at stake before money moves."""

    @pytest.fixture(autouse=True)
    def _threshold(self, settings):
        pin_rules(settings, DISPUTE_RESPONSE_DAYS=5, DISPUTE_APPROVAL_ABOVE_MINOR=1000)

    def approver(self):
        return UserFactory(is_staff=True, is_superuser=True)

    def test_approval_is_refused_once_the_payout_is_no_longer_held(self, order, staff):
        m1 = milestones_of(order)[0]
        deliver(m1)
        accept(m1)
        d = open_dispute(fresh(m1))
        services.dispute_resolve(dispute_id=d.pk, admin=staff, action="refund", note="Refund it.")
        # The payout moved on meanwhile (an operator released the hold by hand).
        Payout.objects.filter(milestone=m1).update(frozen=False)
        with pytest.raises(DisputeNotAllowed, match="no longer held by this dispute"):
            services.dispute_decision_approve(dispute_id=d.pk, admin=self.approver(), note="OK")
        d = fresh(d)
        assert d.has_pending_decision and d.approved_by is None
        assert not Refund.objects.exists()
        Payout.objects.filter(milestone=m1).update(frozen=True)  # back as it was, for the books

    def test_approval_is_refused_when_the_milestone_is_no_longer_frozen(self, order, staff):
        m1 = milestones_of(order)[0]
        deliver(m1)
        d = open_dispute(fresh(m1))
        services.dispute_resolve(dispute_id=d.pk, admin=staff, action="refund", note="Refund it.")
        OrderMilestone.objects.filter(pk=m1.pk).update(status=S.DELIVERED)
        with pytest.raises(DisputeNotAllowed, match="no longer frozen by this dispute"):
            services.dispute_decision_approve(dispute_id=d.pk, admin=self.approver(), note="OK")
        assert not Refund.objects.exists() and fresh(d).has_pending_decision

    def test_approval_is_refused_when_the_amounts_no_longer_add_up(self, order, staff):
        m1 = milestones_of(order)[0]
        deliver(m1)
        d = open_dispute(fresh(m1))
        services.dispute_resolve(dispute_id=d.pk, admin=staff, action="split", note="Half.", percent=50)
        Dispute.objects.filter(pk=d.pk).update(pending_refund_amount_minor=1500)
        with pytest.raises(DisputeNotAllowed, match="does not add up"):
            services.dispute_decision_approve(dispute_id=d.pk, admin=self.approver(), note="OK")
        assert not Payout.objects.exists() and not Refund.objects.exists()

    def test_approval_is_refused_while_a_chargeback_holds_the_milestone(self, order, staff):
        m1 = milestones_of(order)[0]
        deliver(m1)
        d = open_dispute(fresh(m1))
        services.dispute_resolve(dispute_id=d.pk, admin=staff, action="refund", note="Refund it.")
        Bank(order).created()
        with pytest.raises(DisputeClosed, match="chargeback"):
            services.dispute_decision_approve(dispute_id=d.pk, admin=self.approver(), note="OK")
        assert not Refund.objects.exists()

    def test_approval_still_moves_the_money_when_nothing_changed(self, order, staff):
        m1 = milestones_of(order)[0]
        deliver(m1)
        d = open_dispute(fresh(m1))
        services.dispute_resolve(dispute_id=d.pk, admin=staff, action="refund", note="Refund it.")
        d = services.dispute_decision_approve(dispute_id=d.pk, admin=self.approver(), note="OK")
        assert d.status == DS.RESOLVED and fresh(m1).status == S.CANCELLED


class TestBeforeThePaymentIsRecorded:
    def test_a_dispute_event_before_the_payments_success_is_rolled_back_and_applied_later(self, clock):
        from disputes.chargebacks import ChargebackNotReady
        from payments import services as payment_services
        from payments.gateways import gateway
        from payments.tests.factories import place_order

        order = place_order()
        payment = payment_services.payment_start(order=order)
        bank = Bank(order, amount=1000)  # matched by the payment intent: the charge is not known yet
        row, _ = payment_services.webhook_event_store(event=bank.event("created"), source="stripe")
        with pytest.raises(ChargebackNotReady):
            payment_services.webhook_event_process(event_pk=row.pk)
        assert WebhookEvent.objects.get(pk=row.pk).status == WebhookEvent.Status.RECEIVED  # the sweep retries it
        assert not Dispute.objects.exists()

        gateway().submit_card(payment.provider_payment_id, "4242424242424242")
        success = WebhookEvent.objects.get(type="payment_intent.succeeded")
        payment_services.webhook_event_process(event_pk=success.pk)
        assert payment_services.webhook_event_process(event_pk=row.pk).status == WebhookEvent.Status.PROCESSED
        assert Dispute.objects.get(kind=Dispute.Kind.CHARGEBACK).amount_minor == 1000
        assert statuses(Order.objects.get(pk=order.pk))[0] == S.DISPUTED


class TestPartiesSee:
    def test_the_parties_read_the_chargeback_in_the_api_and_cannot_act_on_it(self, order, bank):
        bank.created()
        d = bank.dispute
        client = Client()
        client.force_login(order.buyer)
        listed = client.get("/api/disputes/").json()["results"]
        assert [(r["id"], r["milestone"]) for r in listed] == [(d.pk, None)]
        detail = client.get(f"/api/disputes/{d.pk}/")
        assert detail.status_code == 200 and detail.json()["status"] == DS.OPEN
        withdraw = client.post(f"/api/disputes/{d.pk}/withdraw/", {}, content_type="application/json")
        assert withdraw.status_code == 409 and withdraw.json()["code"] == "dispute_closed"
        assert bank.dispute.status == DS.OPEN


def test_the_admin_decision_forms_refuse_a_chargeback(order, bank, staff):
    from django.contrib.auth.models import Permission

    staff.user_permissions.add(*Permission.objects.filter(codename__in=["view_dispute", "change_dispute"]))
    bank.created()
    client = Client()
    client.force_login(staff)
    response = client.get(f"/admin/disputes/dispute/{bank.dispute.pk}/decide/refund/", follow=True)
    assert response.status_code == 200
    assert "decided by the card issuer" in response.content.decode()
    assert bank.dispute.status == DS.OPEN
