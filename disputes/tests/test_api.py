"""Dispute API: each endpoint through the API client, strangers 404 on every read and write, field
errors 400, state refusals 409 with the DomainError's code, a settlement accepted with the books
checked, and constant queries for the list."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from disputes.models import Dispute, SettlementOffer
from disputes.tests.helpers import assert_dispute_books, open_dispute, open_order_dispute
from gigs.tests.factories import UserFactory
from milestones.models import OrderMilestone
from payments.models import Payout, Refund
from payments.tests.test_lifecycle import NOW, PRICES, deliver, fresh, milestones_of, paid_order

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("books")]

S = OrderMilestone.Status
DS = Dispute.Status


def url(d=None, tail: str = "") -> str:
    return "/api/disputes/" if d is None else f"/api/disputes/{d.pk}/{tail}"


def as_(api_client, user):
    api_client.force_authenticate(user)
    return api_client


def open_body(order, m, **kw) -> dict:
    return {
        "order": order.pk,
        "milestone": m.pk,
        "reason": "not_as_described",
        "description": "Not the logo we agreed.",
        "outcome_wanted": "full_refund",
        **kw,
    }


class TestOpen:
    def test_the_buyer_opens_with_evidence(self, api_client, order, delivered):
        body = open_body(order, delivered, files=[SimpleUploadedFile("proof.png", b"\x89PNG")])
        response = as_(api_client, order.buyer).post(url(), body, format="multipart")
        assert response.status_code == 201, response.json()
        data = response.json()
        assert data["status"] == DS.AWAITING_RESPONSE and data["role"] == "buyer" and data["opened_by"] == "buyer"
        assert data["milestone"]["id"] == delivered.pk and data["milestone"]["price_minor"] == PRICES[0]
        assert data["response_due_at"].startswith((NOW + timedelta(days=5)).strftime("%Y-%m-%d"))
        assert [e["name"] for e in data["evidence"]] == ["proof.png"]
        assert data["messages"] == [] and data["offers"] == []
        assert fresh(delivered).status == S.DISPUTED

    def test_the_seller_opens_with_json(self, api_client, order, delivered):
        body = open_body(order, delivered, outcome_wanted="partial_refund", amount_wanted_minor=500)
        response = as_(api_client, order.seller).post(url(), body, format="json")
        assert response.status_code == 201
        assert response.json()["amount_wanted_minor"] == 500 and response.json()["role"] == "seller"

    def test_bad_input_is_400_with_field_errors(self, api_client, order, delivered):
        body = open_body(order, delivered, reason="boredom", amount_wanted_minor="500", description="")
        response = as_(api_client, order.buyer).post(url(), body, format="json")
        assert response.status_code == 400
        assert set(response.json()) == {"reason", "amount_wanted_minor", "description"}
        # The service's own rules come back as field errors too.
        body = open_body(order, delivered, outcome_wanted="partial_refund", amount_wanted_minor=PRICES[0] + 1)
        response = api_client.post(url(), body, format="json")
        assert response.status_code == 400 and "amount_wanted_minor" in response.json()
        assert fresh(delivered).status == S.DELIVERED and not Dispute.objects.exists()

    def test_wrong_state_is_409(self, api_client, order, delivered):
        locked = milestones_of(order)[1]
        response = as_(api_client, order.buyer).post(url(), open_body(order, locked), format="json")
        assert response.status_code == 409 and response.json()["code"] == "dispute_not_allowed"
        assert api_client.post(url(), open_body(order, delivered), format="json").status_code == 201
        response = api_client.post(url(), open_body(order, delivered), format="json")
        assert response.status_code == 409 and response.json()["code"] == "dispute_already_open"

    def test_someone_elses_order_or_milestone_is_404(self, api_client, order, delivered):
        response = as_(api_client, UserFactory()).post(url(), open_body(order, delivered), format="json")
        assert response.status_code == 404
        other = paid_order()
        m_other = milestones_of(other)[0]
        response = as_(api_client, order.buyer).post(url(), open_body(order, m_other), format="json")
        assert response.status_code == 404
        assert not Dispute.objects.exists()

    def test_anonymous_is_refused(self, api_client, order, delivered):
        assert api_client.post(url(), open_body(order, delivered), format="json").status_code in (401, 403)
        assert api_client.get(url()).status_code in (401, 403)


class TestRead:
    def test_list_shows_my_disputes_as_either_party(self, api_client, order, dispute):
        for user in (order.buyer, order.seller):
            data = as_(api_client, user).get(url()).json()
            assert data["count"] == 1 and data["results"][0]["id"] == dispute.pk
        assert as_(api_client, UserFactory()).get(url()).json()["count"] == 0

    def test_detail_for_the_parties_only(self, api_client, order, dispute):
        data = as_(api_client, order.seller).get(url(dispute)).json()
        assert data["id"] == dispute.pk and data["role"] == "seller" and data["description"]
        assert as_(api_client, UserFactory()).get(url(dispute)).status_code == 404
        assert as_(api_client, order.buyer).get("/api/disputes/999999/").status_code == 404

    def test_list_queries_are_constant(self, api_client, django_assert_num_queries, clock):
        buyer = UserFactory()

        def dispute_one():
            o = paid_order(buyer=buyer)
            m = milestones_of(o)[0]
            deliver(m)
            open_dispute(fresh(m))

        dispute_one()
        as_(api_client, buyer)
        with django_assert_num_queries(2) as one:
            assert len(api_client.get(url()).json()["results"]) == 1
        for _ in range(18):
            dispute_one()
        open_order_dispute(paid_order(buyer=buyer))  # a whole-order dispute too (no milestone)
        with django_assert_num_queries(len(one.captured_queries)):
            assert len(api_client.get(url()).json()["results"]) == 20


class TestWrites:
    def test_the_other_party_responds_and_it_goes_to_review(self, api_client, order, dispute):
        body = {"statement": "It matches the brief.", "files": [SimpleUploadedFile("brief.pdf", b"%PDF")]}
        response = as_(api_client, order.seller).post(url(dispute, "respond/"), body, format="multipart")
        assert response.status_code == 200, response.json()
        data = response.json()
        assert data["status"] == DS.UNDER_REVIEW and data["response"] == "It matches the brief."
        assert [(e["name"], e["uploaded_by"]) for e in data["evidence"]] == [("brief.pdf", "seller")]

    def test_respond_refusals(self, api_client, order, dispute, clock):
        response = as_(api_client, order.buyer).post(url(dispute, "respond/"), {"statement": "me"}, format="json")
        assert response.status_code == 409 and response.json()["code"] == "dispute_closed"
        as_(api_client, order.seller)
        assert api_client.post(url(dispute, "respond/"), {}, format="json").json() == {
            "statement": ["This field is required."]
        }
        clock.move_to(NOW + timedelta(days=6))
        response = api_client.post(url(dispute, "respond/"), {"statement": "Late."}, format="json")
        assert response.status_code == 409 and response.json()["code"] == "response_window_over"

    def test_messages(self, api_client, order, dispute):
        response = as_(api_client, order.seller).post(url(dispute, "messages/"), {"body": "Hello"}, format="json")
        assert response.status_code == 201
        assert [(m["author"], m["body"]) for m in response.json()["messages"]] == [("seller", "Hello")]
        assert api_client.post(url(dispute, "messages/"), {"body": " "}, format="json").status_code == 400

    def test_propose_and_accept_resolves_with_the_books_balanced(self, api_client, order, delivered, dispute):
        response = as_(api_client, order.seller).post(
            url(dispute, "offers/"), {"seller_amount_minor": 1200}, format="json"
        )
        assert response.status_code == 201
        offer = response.json()["offers"][0]
        assert offer["status"] == "open" and offer["refund_minor"] == PRICES[0] - 1200
        # The proposer cannot accept their own offer.
        response = api_client.post(url(dispute, f"offers/{offer['id']}/accept/"))
        assert response.status_code == 409 and response.json()["code"] == "settlement_refused"
        response = as_(api_client, order.buyer).post(url(dispute, f"offers/{offer['id']}/accept/"))
        assert response.status_code == 200
        data = response.json()
        assert data["status"] == DS.RESOLVED and data["resolution_action"] == "settled"
        assert (data["seller_amount_minor"], data["refund_amount_minor"]) == (1200, PRICES[0] - 1200)
        assert Payout.objects.get(milestone=delivered).gross_minor == 1200
        assert Refund.objects.get(order=order).amount_minor == PRICES[0] - 1200
        assert_dispute_books()
        # Again: a no-op; then the dispute is closed to new offers.
        assert api_client.post(url(dispute, f"offers/{offer['id']}/accept/")).status_code == 200
        response = api_client.post(url(dispute, "offers/"), {"seller_amount_minor": 0}, format="json")
        assert response.status_code == 409 and response.json()["code"] == "dispute_closed"

    def test_offer_amounts_are_strict_integers(self, api_client, order, dispute):
        as_(api_client, order.buyer)
        for bad in ("100", 10.5, True, -1, None):
            response = api_client.post(url(dispute, "offers/"), {"seller_amount_minor": bad}, format="json")
            assert response.status_code == 400 and "seller_amount_minor" in response.json(), bad
        response = api_client.post(url(dispute, "offers/"), {"seller_amount_minor": PRICES[0] + 1}, format="json")
        assert response.status_code == 400 and "seller_amount_minor" in response.json()
        assert not SettlementOffer.objects.exists()

    def test_decline(self, api_client, order, dispute):
        as_(api_client, order.buyer).post(url(dispute, "offers/"), {"seller_amount_minor": 500}, format="json")
        offer = SettlementOffer.objects.get()
        response = api_client.post(url(dispute, f"offers/{offer.pk}/decline/"))
        assert response.status_code == 409 and response.json()["code"] == "settlement_refused"
        response = as_(api_client, order.seller).post(url(dispute, f"offers/{offer.pk}/decline/"))
        assert response.status_code == 200 and response.json()["offers"][0]["status"] == "declined"
        assert response.json()["status"] == DS.AWAITING_RESPONSE
        # Accepting a declined offer is refused.
        response = api_client.post(url(dispute, f"offers/{offer.pk}/accept/"))
        assert response.status_code == 409 and response.json()["code"] == "settlement_refused"

    def test_an_offer_of_another_dispute_is_404(self, api_client, order, dispute, clock):
        other_order = paid_order(buyer=order.buyer)
        m = milestones_of(other_order)[0]
        other = open_dispute(m, by="seller")
        as_(api_client, other_order.seller).post(url(other, "offers/"), {"seller_amount_minor": 1}, format="json")
        offer = SettlementOffer.objects.get()
        response = as_(api_client, order.buyer).post(url(dispute, f"offers/{offer.pk}/accept/"))
        assert response.status_code == 404
        assert fresh(offer).status == SettlementOffer.Status.OPEN

    def test_withdraw(self, api_client, order, delivered, dispute):
        response = as_(api_client, order.seller).post(url(dispute, "withdraw/"), {}, format="json")
        assert response.status_code == 409 and response.json()["code"] == "dispute_closed"
        response = as_(api_client, order.buyer).post(url(dispute, "withdraw/"), {"note": "Sorted."}, format="json")
        assert response.status_code == 200 and response.json()["status"] == DS.WITHDRAWN
        assert fresh(delivered).status == S.DELIVERED
        response = api_client.post(url(dispute, "messages/"), {"body": "Hi"}, format="json")
        assert response.status_code == 409 and response.json()["code"] == "dispute_closed"


WRITES = [
    ("respond/", {"statement": "x"}),
    ("messages/", {"body": "x"}),
    ("offers/", {"seller_amount_minor": 1}),
    ("offers/{offer}/accept/", {}),
    ("offers/{offer}/decline/", {}),
    ("withdraw/", {}),
]


@pytest.mark.parametrize(("tail", "body"), WRITES, ids=[w[0] for w in WRITES])
def test_a_stranger_gets_404_on_every_write(api_client, order, dispute, tail, body):
    offer = SettlementOffer.objects.create(dispute=dispute, proposed_by=order.seller, seller_amount_minor=1)
    before = list(Dispute.objects.values_list("status", "response", "resolution_action"))
    response = as_(api_client, UserFactory()).post(url(dispute, tail.format(offer=offer.pk)), body, format="json")
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert list(Dispute.objects.values_list("status", "response", "resolution_action")) == before
    assert fresh(offer).status == SettlementOffer.Status.OPEN and dispute.messages.count() == 0


def test_the_schema_documents_the_dispute_endpoints(api_client):
    paths = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()["paths"]
    assert {
        "/api/disputes/",
        "/api/disputes/{id}/",
        "/api/disputes/{id}/respond/",
        "/api/disputes/{id}/messages/",
        "/api/disputes/{id}/offers/",
        "/api/disputes/{id}/offers/{offer_id}/accept/",
        "/api/disputes/{id}/offers/{offer_id}/decline/",
        "/api/disputes/{id}/withdraw/",
    } <= set(paths)
    assert {"get", "post"} <= set(paths["/api/disputes/"])
