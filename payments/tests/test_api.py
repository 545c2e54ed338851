"""Order API: place (idempotent on the checkout token), read as buyer or seller, list with a
constant number of queries, start the payment; the milestone lifecycle endpoints (every action and
refusal: someone else's = 404, the wrong state = 409 with a code, bad input = 400) and the seller's
earnings. Someone else's order is 404."""

import uuid
from datetime import timedelta

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.authtoken.models import Token

from gigs import services as gig_services
from gigs.models import Gig
from gigs.tests.factories import GigFactory, UserFactory
from milestones import lifecycle as states
from milestones.models import CancellationRequest, Delivery, Order
from payments import lifecycle, services
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
        assert data["offer"] is None and data["project"] is None
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

    def test_another_checkout_of_the_same_unpaid_package_is_200_with_that_order(self, api_client, buyer, gig):
        first = api_client.post(ORDERS, order_body(gig), format="json")
        assert first.status_code == 201
        body = order_body(gig, answers={str(required_id(gig)): "Acme Tea"})  # another token
        again = api_client.post(ORDERS, body, format="json")
        assert again.status_code == 200, again.content
        assert again.json()["id"] == first.json()["id"]
        assert again.json()["requirements"][0]["answer"] == "Acme Tea"
        assert Order.objects.count() == 1
        other = api_client.post(ORDERS, order_body(gig, package="premium"), format="json")
        assert other.status_code == 201 and Order.objects.count() == 2

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
        # One unpaid order per gig and package: the second is of another gig of the seller's.
        mine = [place_order(buyer=buyer, gig=g) for g in (gig, gig_with_plan(seller=gig.seller))]
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
            # Gigs of their own: the buyer has one unpaid order per gig and package.
            order = place_order(buyer=buyer, gig=gig_with_plan(seller=gig.seller))
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


# --- the milestone lifecycle --------------------------------------------------------------------


def _paid() -> Order:
    order = place_order(gig=gig_with_plan())
    pay(order)
    order.refresh_from_db()
    return order


def _m(order, position: int):
    return order.milestones.get(position=position)


def _action(order, position: int, name: str) -> str:
    return f"{ORDERS}{order.pk}/milestones/{_m(order, position).pk}/{name}/"


def _deliver(order, position: int = 0) -> None:
    states.milestone_deliver(milestone_id=_m(order, position).pk, seller=order.seller, message="Done.", files=[])


def _file(name="logo.png", content=b"\x89PNG data"):
    return SimpleUploadedFile(name, content, content_type="image/png")


@pytest.fixture
def paid():
    return _paid()


class TestLifecycleApi:
    def test_deliver_multipart_with_files(self, api_client, paid):
        api_client.force_authenticate(paid.seller)
        response = api_client.post(
            _action(paid, 0, "deliver"),
            {"message": "Three concepts.", "files": [_file(), _file("notes.txt", b"hello")]},
            format="multipart",
        )
        assert response.status_code == 201, response.content
        data = response.json()
        first = data["milestones"][0]
        assert first["status"] == "delivered" and first["review_deadline"] is not None
        assert first["revisions_left"] == 1 and first["payout_status"] is None
        [delivery] = first["deliveries"]
        assert delivery["message"] == "Three concepts."
        assert [(f["name"], f["size"]) for f in delivery["files"]] == [("logo.png", 9), ("notes.txt", 5)]
        file_url = delivery["files"][0]["url"]
        assert file_url == f"http://testserver{reverse('order-file', args=[paid.pk, delivery['files'][0]['id']])}"
        assert data["milestones"][1]["deliveries"] == [] and data["refunds"] == []

    def test_deliver_errors(self, api_client, paid, settings):
        api_client.force_authenticate(paid.seller)
        target = _action(paid, 0, "deliver")
        response = api_client.post(target, {"message": "x", "files": [_file("run.exe")]}, format="multipart")
        assert response.status_code == 400
        assert response.json() == {"files": ["run.exe: files of this type are not accepted."]}
        settings.MARKETPLACE = {**settings.MARKETPLACE, "UPLOAD_MAX_FILES": 1}
        response = api_client.post(target, {"message": "x", "files": [_file(), _file()]}, format="multipart")
        assert response.status_code == 400 and response.json() == {"files": ["Attach at most 1 files."]}
        response = api_client.post(target, {"message": ""}, format="multipart")
        assert response.status_code == 400 and set(response.json()) == {"message"}
        assert api_client.post(target, {"message": "json"}, format="json").status_code == 415
        assert _m(paid, 0).status == "in_progress"
        # A milestone not started: 409 with the code.
        response = api_client.post(_action(paid, 1, "deliver"), {"message": "x"}, format="multipart")
        assert response.status_code == 409
        assert response.json() == {
            "detail": "Milestone 2 is not started: nothing to deliver.",
            "code": "invalid_transition",
        }

    def test_wrong_party_or_milestone_is_404(self, api_client, paid):
        other = _paid()
        cases = [
            (paid.buyer, _action(paid, 0, "deliver")),
            (UserFactory(), _action(paid, 0, "deliver")),
            (paid.seller, f"{ORDERS}{paid.pk}/milestones/{_m(other, 0).pk}/deliver/"),
            (paid.seller, _action(paid, 0, "accept")),
            (paid.seller, _action(paid, 0, "request-revision")),
            (paid.seller, _action(paid, 0, "cancel-late")),
            (paid.seller, f"{ORDERS}{paid.pk}/stop/"),
            (other.buyer, _action(paid, 0, "cancel-request")),
        ]
        for user, url in cases:
            api_client.force_authenticate(user)
            response = api_client.post(url, {"message": "x", "reason": "x"}, format="multipart")
            assert response.status_code == 404, url
            assert response.json()["code"] == "not_found"
        assert not Delivery.objects.exists() and not CancellationRequest.objects.exists()

    def test_review_accept_and_revisions(self, api_client, paid):
        _deliver(paid)
        api_client.force_authenticate(paid.buyer)
        response = api_client.post(_action(paid, 0, "request-revision"), {"reason": "Bolder."}, format="json")
        assert response.status_code == 200
        first = response.json()["milestones"][0]
        assert first["status"] == "revision_requested" and first["revisions_left"] == 0
        assert [r["reason"] for r in first["revision_requests"]] == ["Bolder."]
        assert api_client.post(_action(paid, 0, "request-revision"), {}, format="json").json() == {
            "reason": ["This field is required."]
        }
        _deliver(paid)
        response = api_client.post(_action(paid, 0, "request-revision"), {"reason": "Again."}, format="json")
        assert response.status_code == 409 and response.json()["code"] == "revisions_exhausted"

        response = api_client.post(_action(paid, 0, "accept"))
        assert response.status_code == 200
        data = response.json()
        assert [m["status"] for m in data["milestones"]] == ["accepted", "in_progress", "locked"]
        assert data["milestones"][0]["payout_status"] == "pending_clearance"
        assert data["milestones"][0]["payout"] is None  # the seller's business
        assert data["milestones"][0]["escrow_state"] == "released"
        assert api_client.post(_action(paid, 0, "accept")).status_code == 200  # again: a no-op
        not_delivered = api_client.post(_action(paid, 1, "accept"))
        assert not_delivered.status_code == 409 and not_delivered.json()["code"] == "invalid_transition"

        api_client.force_authenticate(paid.seller)
        payout = api_client.get(f"{ORDERS}{paid.pk}/").json()["milestones"][0]["payout"]
        assert payout["status"] == "pending_clearance"
        assert (payout["gross_minor"], payout["commission_minor"], payout["amount_minor"]) == (2000, 400, 1600)

    def test_cancel_request_and_answer(self, api_client, paid):
        api_client.force_authenticate(paid.seller)
        response = api_client.post(_action(paid, 0, "cancel-request"), {"reason": "Too busy."}, format="json")
        assert response.status_code == 201
        [req] = response.json()["milestones"][0]["cancellation_requests"]
        assert (req["requested_by"], req["status"], req["reason"]) == ("seller", "open", "Too busy.")
        again = api_client.post(_action(paid, 0, "cancel-request"), {"reason": "x"}, format="json")
        assert again.status_code == 409
        answer = f"/api/cancellation-requests/{req['id']}/answer/"
        own = api_client.post(answer, {"accept": True}, format="json")
        assert own.status_code == 409 and own.json()["detail"] == "The other party answers this request."
        api_client.force_authenticate(UserFactory())
        assert api_client.post(answer, {"accept": True}, format="json").status_code == 404
        api_client.force_authenticate(paid.buyer)
        assert api_client.post(answer, {}, format="json").json() == {"accept": ["This field is required."]}
        response = api_client.post(answer, {"accept": True}, format="json")
        assert response.status_code == 200
        data = response.json()
        assert data["status"] == "cancelled"
        assert [m["status"] for m in data["milestones"]] == ["cancelled"] * 3
        assert [(r["amount_minor"], r["status"]) for r in data["refunds"]] == [(7500, "pending")]
        assert data["refunds"][0]["milestone_ids"] == sorted(m.pk for m in paid.milestones.all())
        assert (
            api_client.post("/api/cancellation-requests/999999/answer/", {"accept": True}, format="json").status_code
            == 404
        )

    def test_decline(self, api_client, paid):
        req = lifecycle.cancellation_request(milestone_id=_m(paid, 0).pk, user=paid.buyer, reason="Hmm.")
        api_client.force_authenticate(paid.seller)
        response = api_client.post(f"/api/cancellation-requests/{req.pk}/answer/", {"accept": False}, format="json")
        assert response.status_code == 200
        assert response.json()["milestones"][0]["cancellation_requests"][0]["status"] == "declined"
        assert response.json()["milestones"][0]["status"] == "in_progress"

    def test_stop_and_cancel_late(self, api_client, paid):
        api_client.force_authenticate(paid.buyer)
        early = api_client.post(f"{ORDERS}{paid.pk}/stop/")
        assert early.status_code == 409 and early.json()["code"] == "invalid_transition"
        _deliver(paid)
        lifecycle.milestone_accept(milestone_id=_m(paid, 0).pk, buyer=paid.buyer)
        response = api_client.post(f"{ORDERS}{paid.pk}/stop/")
        assert response.status_code == 200
        data = response.json()
        assert [m["status"] for m in data["milestones"]] == ["accepted", "in_progress", "cancelled"]
        assert [r["amount_minor"] for r in data["refunds"]] == [2500]

        late = _action(paid, 1, "cancel-late")
        response = api_client.post(late)
        assert response.status_code == 409 and response.json()["code"] == "invalid_transition"
        with time_machine.travel(_m(paid, 1).due_at + timedelta(days=1, minutes=1)):
            response = api_client.post(late)
        assert response.status_code == 200
        assert [r["amount_minor"] for r in response.json()["refunds"]] == [2500, 3000]
        assert response.json()["status"] == "completed"  # milestone 1 was accepted

    def test_detail_queries_do_not_grow_with_the_lifecycle(self, api_client, paid, django_assert_num_queries):
        api_client.force_authenticate(paid.seller)
        url = f"{ORDERS}{paid.pk}/"
        states.milestone_deliver(milestone_id=_m(paid, 0).pk, seller=paid.seller, message="Here.", files=[_file()])
        states.milestone_request_revision(milestone_id=_m(paid, 0).pk, buyer=paid.buyer, reason="More.")
        # order, milestones with payouts, deliveries, their files, revision and cancellation
        # requests, refunds, escrow balance
        with django_assert_num_queries(8):
            api_client.get(url)
        states.milestone_deliver(
            milestone_id=_m(paid, 0).pk, seller=paid.seller, message="Again.", files=[_file(), _file(), _file()]
        )
        lifecycle.milestone_accept(milestone_id=_m(paid, 0).pk, buyer=paid.buyer)
        lifecycle.order_stop(order_id=paid.pk, buyer=paid.buyer)
        with django_assert_num_queries(8):
            data = api_client.get(url).json()
        assert len(data["milestones"][0]["deliveries"]) == 2 and len(data["refunds"]) == 1
        assert [len(d["files"]) for d in data["milestones"][0]["deliveries"]] == [1, 3]


class TestEarningsApi:
    URL = "/api/me/earnings/"

    def test_totals_and_payouts(self, api_client, paid):
        api_client.force_authenticate(paid.seller)
        data = api_client.get(self.URL).json()
        assert data["count"] == 0 and data["results"] == []
        assert data["totals"] == [
            {
                "currency": "USD",
                "in_escrow_minor": 7500,
                "pending_minor": 0,
                "available_minor": 0,
                "in_transit_minor": 0,
                "transferred_minor": 0,
                "released_gross_minor": 0,
                "commission_minor": 0,
                "payouts": 0,
                "failed": 0,
            }
        ]
        _deliver(paid)
        lifecycle.milestone_accept(milestone_id=_m(paid, 0).pk, buyer=paid.buyer)
        data = api_client.get(self.URL).json()
        [totals] = data["totals"]
        assert (totals["in_escrow_minor"], totals["pending_minor"], totals["commission_minor"]) == (5500, 1600, 400)
        [row] = data["results"]
        assert row["order"] == paid.pk and row["milestone_position"] == 1 and row["milestone_name"] == "Concepts"
        assert (row["gross_minor"], row["commission_minor"], row["amount_minor"]) == (2000, 400, 1600)
        assert row["status"] == "pending_clearance"
        api_client.force_authenticate(paid.buyer)
        assert api_client.get(self.URL).json() == {
            "totals": [],
            "count": 0,
            "next": None,
            "previous": None,
            "results": [],
        }

    def test_needs_authentication(self, api_client):
        assert api_client.get(self.URL).status_code == 401

    def test_queries_do_not_grow(self, api_client, django_assert_num_queries):
        gig = gig_with_plan()
        api_client.force_authenticate(gig.seller)

        def released():
            order = place_order(gig=gig)
            pay(order)
            _deliver(order)
            lifecycle.milestone_accept(milestone_id=_m(order, 0).pk, buyer=order.buyer)

        released()
        # count, the page of payouts with order and milestone, payout totals, escrow totals
        with django_assert_num_queries(4):
            assert api_client.get(self.URL).json()["count"] == 1
        for _ in range(4):
            released()
        with django_assert_num_queries(4):
            data = api_client.get(self.URL).json()
        assert data["count"] == 5 and data["totals"][0]["pending_minor"] == 5 * 1600


def test_schema_documents_the_lifecycle_endpoints(api_client):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    paths = schema["paths"]
    milestone = "/api/orders/{id}/milestones/{milestone_id}/"
    for action in ("deliver", "accept", "request-revision", "cancel-request", "cancel-late"):
        assert set(paths[f"{milestone}{action}/"]) == {"post"}, action
        assert {"404", "409"} <= set(paths[f"{milestone}{action}/"]["post"]["responses"])
    assert "multipart/form-data" in paths[f"{milestone}deliver/"]["post"]["requestBody"]["content"]
    assert set(paths["/api/cancellation-requests/{request_id}/answer/"]) == {"post"}
    assert set(paths["/api/orders/{id}/stop/"]) == {"post"}
    assert set(paths["/api/me/earnings/"]) == {"get"}
    assert [p["name"] for p in paths["/api/me/earnings/"]["get"]["parameters"]] == ["page"]
    detail = schema["components"]["schemas"]["OrderDetail"]["properties"]
    assert {"refunds", "milestones"} <= set(detail)
    ms = schema["components"]["schemas"]["OrderMilestoneDetail"]["properties"]
    assert {"review_deadline", "revisions_left", "deliveries", "payout_status", "payout"} <= set(ms)
