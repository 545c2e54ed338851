"""Order API: place (idempotent on the checkout token), read as buyer or seller, list with a
constant number of queries, start the payment. Someone else's order is 404."""

import uuid

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token

from gigs import services as gig_services
from gigs.models import Gig
from gigs.tests.factories import GigFactory, UserFactory
from milestones.models import Order
from payments import services
from payments.exceptions import ProviderUnavailable
from payments.models import Payment
from payments.tests.factories import gig_with_plan, pay, place_order

pytestmark = pytest.mark.django_db

ORDERS = "/api/orders/"


@pytest.fixture
def gig():
    gig = gig_with_plan()
    gig_services.gig_set_requirements(gig=gig, requirements=[("Brand name?", True), ("Links?", False)])
    return Gig.objects.get(pk=gig.pk)


@pytest.fixture
def buyer(api_client):
    user = UserFactory()
    api_client.force_authenticate(user)
    return user


def required_id(gig) -> int:
    return gig.requirements.get(required=True).pk


def order_body(gig, **changes) -> dict:
    return {
        "gig": gig.slug,
        "package": "standard",
        "checkout_token": str(uuid.uuid4()),
        "answers": {str(required_id(gig)): "Acme"},
        **changes,
    }


class TestPlaceOrder:
    def test_created_then_the_same_order_for_the_same_token(self, api_client, buyer, gig):
        body = order_body(gig)
        first = api_client.post(ORDERS, body, format="json")
        assert first.status_code == 201, first.content
        data = first.json()
        order = Order.objects.get()
        assert data["id"] == order.pk and data["role"] == "buyer"
        assert data["status"] == "pending_payment" and data["gig"] == gig.slug
        assert (data["subtotal_minor"], data["service_fee_minor"], data["small_order_fee_minor"]) == (7500, 413, 300)
        assert data["total_minor"] == 8213
        assert data["seller_commission_minor"] is None and data["seller_net_minor"] is None
        assert data["escrow_minor"] == 0 and data["escrow_state"] == "awaiting payment"
        assert [(m["position"], m["name"], m["price_minor"]) for m in data["milestones"]] == [
            (1, "Concepts", 2000),
            (2, "Refinement", 3000),
            (3, "Final files", 2500),
        ]
        assert data["milestones"][1]["video_call"] is True
        assert all(m["seller_net_minor"] is None for m in data["milestones"])
        assert data["requirements"][0] == {"question": "Brand name?", "answer": "Acme", "required": True}
        assert data["payment"] is None and data["receipt_number"] is None
        assert data["url"] == f"http://testserver{reverse('order-detail', args=[order.pk])}"

        again = api_client.post(ORDERS, body, format="json")
        assert again.status_code == 200 and again.json()["id"] == order.pk
        assert Order.objects.count() == 1

    def test_amounts_in_the_input_are_ignored(self, api_client, buyer, gig):
        response = api_client.post(ORDERS, order_body(gig, total_minor=1, price_minor=1), format="json")
        assert response.status_code == 201 and response.json()["total_minor"] == 8213

    def test_refused_is_409(self, api_client, gig):
        api_client.force_authenticate(gig.seller)
        response = api_client.post(ORDERS, order_body(gig), format="json")
        assert response.status_code == 409
        assert response.json() == {"detail": "You cannot order your own gig.", "code": "order_refused"}
        assert not Order.objects.exists()

    def test_seller_cannot_receive_is_409(self, api_client, buyer, gig, monkeypatch):
        monkeypatch.setattr(services, "seller_can_receive", lambda seller: False)
        response = api_client.post(ORDERS, order_body(gig), format="json")
        assert response.status_code == 409 and response.json()["code"] == "seller_cannot_receive"
        assert not Order.objects.exists()

    def test_a_required_answer_missing_is_400_under_answers(self, api_client, buyer, gig):
        response = api_client.post(ORDERS, order_body(gig, answers={}), format="json")
        assert response.status_code == 400
        assert response.json() == {"answers": {str(required_id(gig)): ["Answer this question."]}}
        assert not Order.objects.exists()

    def test_field_errors(self, api_client, buyer, gig):
        response = api_client.post(
            ORDERS,
            {"gig": gig.slug, "package": "gold", "checkout_token": "nope", "answers": {"x": "y"}},
            format="json",
        )
        assert response.status_code == 400
        assert set(response.json()) == {"package", "checkout_token", "answers"}
        response = api_client.post(ORDERS, {**order_body(gig), "gig": "no-such-gig"}, format="json")
        assert response.status_code == 400 and response.json() == {"gig": ["No such gig."]}
        draft = GigFactory(priced=True)
        response = api_client.post(ORDERS, {**order_body(gig), "gig": draft.slug}, format="json")
        assert response.status_code == 400 and response.json() == {"gig": ["No such gig."]}
        assert not Order.objects.exists()

    def test_needs_authentication(self, api_client, gig):
        response = api_client.post(ORDERS, order_body(gig), format="json")
        assert response.status_code == 401
        assert api_client.get(ORDERS).status_code == 401

    def test_token_authentication(self, api_client, gig):
        user = UserFactory()
        token = Token.objects.create(user=user)
        api_client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        response = api_client.post(ORDERS, order_body(gig), format="json")
        assert response.status_code == 201 and Order.objects.get().buyer == user


class TestReadOrders:
    def test_detail_for_buyer_and_seller_only(self, api_client, gig):
        order = place_order(gig=gig)
        pay(order)
        url = f"{ORDERS}{order.pk}/"
        api_client.force_authenticate(order.buyer)
        data = api_client.get(url).json()
        assert data["role"] == "buyer" and data["status"] == "active"
        assert data["escrow_minor"] == 7500 and data["escrow_state"] == "held in escrow"
        assert data["payment"]["status"] == "succeeded" and "client_secret" not in data["payment"]
        assert data["receipt_number"].startswith("R-")
        assert data["seller_net_minor"] is None

        api_client.force_authenticate(order.seller)
        data = api_client.get(url).json()
        assert data["role"] == "seller"
        assert data["seller_commission_minor"] == 1500 and data["seller_net_minor"] == 6000
        assert [m["seller_net_minor"] for m in data["milestones"]] == [1600, 2400, 2000]

        api_client.force_authenticate(UserFactory())
        response = api_client.get(url)
        assert response.status_code == 404 and response.json()["code"] == "not_found"
        assert api_client.get(f"{ORDERS}{order.pk + 1000}/").status_code == 404

    def test_list_by_role(self, api_client, gig):
        buyer = UserFactory()
        mine = [place_order(buyer=buyer, gig=gig) for _ in range(2)]
        place_order(gig=gig)  # someone else's
        api_client.force_authenticate(buyer)
        data = api_client.get(ORDERS).json()
        assert data["count"] == 2 and [o["id"] for o in data["results"]] == [mine[1].pk, mine[0].pk]
        assert api_client.get(ORDERS, {"role": "buyer"}).json()["count"] == 2
        assert api_client.get(ORDERS, {"role": "seller"}).json()["count"] == 0
        assert api_client.get(ORDERS, {"role": "admin"}).status_code == 400

        api_client.force_authenticate(gig.seller)
        # A seller sees orders once they are paid: an unpaid checkout is the buyer's business.
        assert api_client.get(ORDERS, {"role": "seller"}).json()["count"] == 0
        assert api_client.get(f"{ORDERS}{mine[0].pk}/").status_code == 404
        for order in mine:
            pay(order)
        data = api_client.get(ORDERS, {"role": "seller"}).json()
        assert data["count"] == 2 and {o["role"] for o in data["results"]} == {"seller"}
        assert {o["seller_net_minor"] for o in data["results"]} == {6000}
        assert api_client.get(f"{ORDERS}{mine[0].pk}/").status_code == 200

    @pytest.mark.parametrize("role", ["buyer", "seller"])
    def test_list_query_count_does_not_grow(self, api_client, django_assert_num_queries, role):
        gig = gig_with_plan()
        buyer = UserFactory()
        api_client.force_authenticate(gig.seller if role == "seller" else buyer)
        pay(place_order(buyer=buyer, gig=gig))
        # count, orders with parties/gig/payment/receipt, their milestones, escrow balances
        with django_assert_num_queries(4):
            assert api_client.get(ORDERS, {"role": role}).json()["count"] == 1
        for i in range(6):
            order = place_order(buyer=buyer, gig=gig)
            if i % 2:
                pay(order)
        with django_assert_num_queries(4):
            data = api_client.get(ORDERS, {"role": role}).json()
        assert data["count"] == (7 if role == "buyer" else 4)  # sellers see paid orders only
        assert sum(o["escrow_minor"] for o in data["results"]) == 4 * 7500


class TestPaymentApi:
    def test_starts_the_payment_once(self, api_client, gig):
        order = place_order(gig=gig)
        api_client.force_authenticate(order.buyer)
        url = f"{ORDERS}{order.pk}/payment/"
        response = api_client.post(url)
        assert response.status_code == 200, response.content
        data = response.json()
        payment = Payment.objects.get()
        assert data["provider"] == "local" and data["status"] == "requires_payment"
        assert data["amount_minor"] == 8213 and data["currency"] == "USD"
        assert data["client_secret"] == payment.client_secret != ""
        assert data["pay_url"] == f"http://testserver{reverse('order-pay', args=[order.pk])}"
        assert api_client.post(url).json()["provider_payment_id"] == payment.provider_payment_id
        assert Payment.objects.count() == 1

    def test_buyer_only(self, api_client, gig):
        order = place_order(gig=gig)
        url = f"{ORDERS}{order.pk}/payment/"
        for user in (order.seller, UserFactory()):
            api_client.force_authenticate(user)
            assert api_client.post(url).status_code == 404
        assert not Payment.objects.exists()

    def test_not_payable_is_409(self, api_client, gig):
        order = place_order(gig=gig)
        pay(order)
        api_client.force_authenticate(order.buyer)
        response = api_client.post(f"{ORDERS}{order.pk}/payment/")
        assert response.status_code == 409
        assert response.json() == {"detail": "This order is not awaiting payment.", "code": "payment_refused"}

    def test_provider_down_is_503(self, api_client, gig, monkeypatch):
        order = place_order(gig=gig)

        def down(**kwargs):
            raise ProviderUnavailable("timeout")

        monkeypatch.setattr(services, "payment_start", down)
        api_client.force_authenticate(order.buyer)
        response = api_client.post(f"{ORDERS}{order.pk}/payment/")
        assert response.status_code == 503 and response.json()["code"] == "provider_unavailable"


def test_schema_documents_the_order_endpoints(api_client):
    response = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    paths = schema["paths"]
    assert set(paths["/api/orders/"]) >= {"get", "post"}
    assert set(paths["/api/orders/{id}/"]) >= {"get"}
    assert set(paths["/api/orders/{id}/payment/"]) >= {"post"}
    post = paths["/api/orders/"]["post"]
    assert {"201", "200", "400", "409"} <= set(post["responses"])
    params = {p["name"] for p in paths["/api/orders/"]["get"]["parameters"]}
    assert {"role", "page"} <= params
