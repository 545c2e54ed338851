"""Settlement offers still open when their dispute ends (an admin's decision, an approved one, an
accepted settlement, a close, a withdrawal) expire with it, in the same transaction and with an
event; accepting or declining one afterwards is refused with a 409 (settlement_refused)."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from disputes import services
from disputes.exceptions import SettlementRefused
from disputes.models import Dispute, DisputeEvent, SettlementOffer
from disputes.tests.helpers import open_dispute, open_order_dispute
from gigs.tests.factories import UserFactory
from payments.tests.test_lifecycle import pin_rules

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("books")]

DS = Dispute.Status
OS = SettlementOffer.Status


def offer_by(d: Dispute, user, amount: int = 500) -> SettlementOffer:
    return services.settlement_propose(dispute_id=d.pk, user=user, seller_amount_minor=amount)


def assert_expired(d: Dispute, *offers: SettlementOffer) -> None:
    for offer in offers:
        offer.refresh_from_db()
        assert offer.status == OS.EXPIRED and offer.answered_at is not None
        assert offer.get_status_display() == "Not answered"
    event = DisputeEvent.objects.get(dispute=d, action="settlement offers expired")
    assert str(len(offers)) in event.note


def assert_refused(d: Dispute, offer: SettlementOffer, other) -> None:
    with pytest.raises(SettlementRefused, match="can no longer be accepted") as exc:
        services.settlement_accept(offer_id=offer.pk, user=other)
    assert (exc.value.code, exc.value.http_status) == ("settlement_refused", 409)
    with pytest.raises(SettlementRefused, match="can no longer be declined"):
        services.settlement_decline(offer_id=offer.pk, user=other)
    offer.refresh_from_db()
    assert offer.status == OS.EXPIRED


@pytest.mark.parametrize("action", ["release", "refund", "split"])
def test_an_admin_decision_expires_the_open_offers(order, delivered, staff, action):
    d = open_dispute(delivered)
    buyers, sellers = offer_by(d, order.buyer, 400), offer_by(d, order.seller, 1600)
    services.dispute_resolve(
        dispute_id=d.pk, admin=staff, action=action, note="Decided.", percent=50 if action == "split" else None
    )
    assert_expired(d, buyers, sellers)
    assert_refused(d, buyers, order.seller)
    assert_refused(d, sellers, order.buyer)


def test_an_approved_decision_expires_them(settings, order, delivered):
    pin_rules(settings, DISPUTE_RESPONSE_DAYS=5, DISPUTE_APPROVAL_ABOVE_MINOR=1999)
    first, second = (UserFactory(is_staff=True) for _ in range(2))
    for admin in (first, second):
        admin.groups.add(Group.objects.get(name="Dispute agents"))
    d = open_dispute(delivered)
    offer = offer_by(d, order.buyer)
    services.dispute_resolve(dispute_id=d.pk, admin=first, action="refund", note="Nothing usable.")
    offer.refresh_from_db()
    assert offer.status == OS.OPEN  # only proposed: the dispute goes on
    services.dispute_decision_approve(dispute_id=d.pk, admin=second, note="Agreed.")
    assert_expired(d, offer)
    assert_refused(d, offer, order.seller)


def test_accepting_one_offer_expires_the_other(order, delivered):
    d = open_dispute(delivered)
    buyers, sellers = offer_by(d, order.buyer, 400), offer_by(d, order.seller, 1600)
    services.settlement_accept(offer_id=buyers.pk, user=order.seller)
    buyers.refresh_from_db()
    assert buyers.status == OS.ACCEPTED
    assert_expired(d, sellers)
    assert_refused(d, sellers, order.buyer)


def test_closing_and_withdrawing_expire_them(order, delivered, staff):
    d = open_dispute(delivered)
    offer = offer_by(d, order.seller)
    services.dispute_close(dispute_id=d.pk, admin=staff, note="Sorted out.")
    assert_expired(d, offer)
    assert_refused(d, offer, order.buyer)


def test_withdrawing_an_order_dispute_expires_them(order):
    d = open_order_dispute(order)
    offer = offer_by(d, order.seller if d.opened_by_id == order.buyer_id else order.buyer)
    services.dispute_withdraw(dispute_id=d.pk, user=d.opened_by)
    assert_expired(d, offer)
    other = order.buyer if offer.proposed_by_id == order.seller_id else order.seller
    assert_refused(d, offer, other)


def test_the_api_shows_them_expired_and_refuses_with_409(api_client, order, delivered, staff):
    d = open_dispute(delivered)
    offer = offer_by(d, order.seller)
    services.dispute_resolve(dispute_id=d.pk, admin=staff, action="refund", note="Decided.")
    api_client.force_authenticate(order.buyer)
    body = api_client.get(f"/api/disputes/{d.pk}/").json()
    assert [o["status"] for o in body["offers"]] == ["expired"]
    for answer in ("accept", "decline"):
        response = api_client.post(f"/api/disputes/{d.pk}/offers/{offer.pk}/{answer}/")
        assert response.status_code == 409 and response.json()["code"] == "settlement_refused", answer


def test_the_page_shows_them_not_answered_without_buttons(client, order, delivered, staff):
    d = open_dispute(delivered)
    offer_by(d, order.seller)
    services.dispute_resolve(dispute_id=d.pk, admin=staff, action="refund", note="Decided.")
    client.force_login(order.buyer)
    page = client.get(reverse("dispute-detail", args=[d.pk])).content.decode()
    assert "dispute-offer-expired" in page and ">Not answered<" in page
    assert "Accept this offer" not in page
