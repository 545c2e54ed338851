"""Disputes about the whole order through the pages, the API and the admin: the order page's and
the open page's entry (only when allowed), the open form, the dispute page with the held
milestones and the party forms, evidence shown under its own post (and older files without a
link placed by time), the API (milestone omitted = the whole order; kind, held, null milestone),
and an admin split through the intermediate form with the books checked."""

import re
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from disputes import services
from disputes.models import Dispute, DisputeEvidence, DisputeHold, DisputeMessage
from disputes.tests.helpers import assert_dispute_books, open_dispute, open_order_dispute
from gigs.tests.factories import UserFactory
from milestones.models import Order, OrderMilestone
from payments.models import Payout, Refund
from payments.tests.test_lifecycle import accept, deliver, fresh, milestones_of

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("books")]

S = OrderMilestone.Status
DS = Dispute.Status
TOTAL = 7500


def text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


def as_(client, user):
    client.force_login(user)
    return client


def upload(name="proof.png"):
    return SimpleUploadedFile(name, b"\x89PNG proof", content_type="image/png")


def open_data(**kw) -> dict:
    return {
        "reason": "quality",
        "description": "None of it is usable.",
        "outcome_wanted": "full_refund",
        "amount_wanted": "",
        **kw,
    }


@pytest.fixture
def delivered_order(order) -> Order:
    deliver(milestones_of(order)[0])
    return order


class TestEntries:
    def test_the_order_page_offers_it_only_when_allowed(self, client, delivered_order):
        order = delivered_order
        url = reverse("order-detail", args=[order.pk])
        page = as_(client, order.buyer).get(url)
        assert 'data-testid="open-order-dispute"' in page.content.decode()
        assert reverse("order-dispute-open", args=[order.pk]) in page.content.decode()
        open_dispute(milestones_of(order)[0])
        assert 'data-testid="open-order-dispute"' not in client.get(url).content.decode()

    def test_the_milestone_open_page_links_to_it_only_when_allowed(self, client, order):
        m1, m2, _ = milestones_of(order)
        page = as_(client, order.seller).get(reverse("dispute-open", args=[m1.pk]))
        assert 'data-testid="whole-order-entry"' in page.content.decode()
        open_dispute(m1)
        # Another milestone's open page: a milestone dispute is active, so not the whole order.
        page = client.get(reverse("dispute-open", args=[m2.pk]))
        assert 'data-testid="whole-order-entry"' not in page.content.decode()


class TestOpenPage:
    def test_the_form_lists_what_it_holds_and_opens_it(self, client, delivered_order):
        order = delivered_order
        url = reverse("order-dispute-open", args=[order.pk])
        page = as_(client, order.buyer).get(url)
        assert page.status_code == 200 and "$75" in text(page)
        assert text(page).count("Milestone ") >= 3
        done = client.post(url, open_data(files=[upload("all.png")]))
        d = Dispute.objects.get(kind=Dispute.Kind.ORDER)
        assert done.status_code == 302 and done.url == reverse("dispute-detail", args=[d.pk])
        assert [m.status for m in milestones_of(order)] == [S.DISPUTED] * 3
        # Again: the open dispute opens instead of a form.
        again = client.get(url)
        assert again.status_code == 302 and again.url == reverse("dispute-detail", args=[d.pk])

    def test_bad_input_comes_back_and_writes_nothing(self, client, delivered_order):
        url = reverse("order-dispute-open", args=[delivered_order.pk])
        page = as_(client, delivered_order.buyer).post(url, open_data(description=""))
        assert page.status_code == 200 and page.context["form"].errors
        too_much = client.post(url, open_data(outcome_wanted="partial_refund", amount_wanted="80"))
        assert too_much.status_code == 200 and "amount_wanted" in too_much.context["form"].errors
        assert not Dispute.objects.exists() and not DisputeHold.objects.exists()
        assert milestones_of(delivered_order)[0].status == S.DELIVERED

    def test_a_refusal_says_why_and_strangers_get_404(self, client, delivered_order):
        url = reverse("order-dispute-open", args=[delivered_order.pk])
        open_dispute(milestones_of(delivered_order)[0])
        page = as_(client, delivered_order.buyer).get(url)
        assert 'data-testid="not-disputable"' in page.content.decode() and "milestone 1" in text(page)
        posted = client.post(url, open_data())
        assert posted.status_code == 200 and posted.context["form"].non_field_errors()
        assert Dispute.objects.count() == 1
        assert as_(client, UserFactory()).get(url).status_code == 404
        assert client.post(url, open_data()).status_code == 404


class TestDisputePage:
    def test_it_shows_the_held_milestones_and_every_party_form(self, client, delivered_order):
        order = delivered_order
        d = open_order_dispute(order)
        page = as_(client, order.seller).get(reverse("dispute-detail", args=[d.pk]))
        html = page.content.decode()
        assert page.status_code == 200 and "the whole order" in text(page)
        assert html.count('data-testid="dispute-hold"') == 3 and "$75" in text(page)
        for form in ("respond-form", "message-form", "offer-form"):
            assert f'data-testid="{form}"' in html
        assert 'data-testid="withdraw-form"' not in html  # the buyer opened it
        assert 'data-testid="withdraw-form"' in as_(client, order.buyer).get(page.wsgi_request.path).content.decode()

    def test_an_offer_over_the_whole_order_is_accepted_from_the_page(self, client, delivered_order):
        order = delivered_order
        d = open_order_dispute(order)
        r = as_(client, order.seller).post(reverse("dispute-offer", args=[d.pk]), {"seller_amount": "50"})
        assert r.status_code == 302
        offer = d.offers.get()
        assert offer.seller_amount_minor == 5000
        page = as_(client, order.buyer).get(reverse("dispute-detail", args=[d.pk]))
        assert "$25" in text(page)  # refunded if accepted: 7500 - 5000
        r = client.post(reverse("dispute-offer-answer", args=[d.pk, offer.pk]), {"answer": "accept"})
        assert r.status_code == 302 and fresh(d).status == DS.RESOLVED
        assert [m.status for m in milestones_of(order)] == [S.ACCEPTED, S.ACCEPTED, S.CANCELLED]
        assert 'data-testid="dispute-outcome"' in client.get(reverse("dispute-detail", args=[d.pk])).content.decode()
        assert_dispute_books()

    def test_withdrawn_from_the_page_every_milestone_goes_on(self, client, delivered_order):
        d = open_order_dispute(delivered_order)
        r = as_(client, delivered_order.buyer).post(reverse("dispute-withdraw", args=[d.pk]), {"note": ""})
        assert r.status_code == 302 and fresh(d).status == DS.WITHDRAWN
        assert [m.status for m in milestones_of(delivered_order)] == [S.DELIVERED, S.LOCKED, S.LOCKED]

    def test_view_dispute_on_a_held_milestone_goes_to_the_order_dispute(self, client, delivered_order):
        d = open_order_dispute(delivered_order)
        m3 = milestones_of(delivered_order)[2]
        r = as_(client, delivered_order.buyer).get(reverse("milestone-dispute", args=[m3.pk]))
        assert r.status_code == 302 and r.url == reverse("dispute-detail", args=[d.pk])


class TestEvidenceUnderItsPost:
    def test_each_file_shows_under_its_own_post_and_old_rows_by_time(self, client, delivered_order, clock):
        order = delivered_order
        d = open_order_dispute(order, files=[upload("opening.png")])
        services.dispute_message_post(dispute_id=d.pk, user=order.buyer, body="First.", files=[upload("first.png")])
        # The clock stands still: every post has the same time, so placing by time (the old way)
        # would put every file of the buyer under the opening. The link puts each under its post.
        services.dispute_message_post(dispute_id=d.pk, user=order.buyer, body="Second.", files=[upload("second.png")])
        services.dispute_respond(dispute_id=d.pk, user=order.seller, statement="No.", files=[upload("answer.png")])
        clock.shift(timedelta(minutes=5))
        services.dispute_message_post(dispute_id=d.pk, user=order.buyer, body="Third.")
        # A file stored before the link existed: placed under the same person's nearest post.
        old = DisputeEvidence.objects.create(
            dispute=d, uploaded_by=order.buyer, file=upload("old.png"), name="old.png", size=3
        )
        assert old.post == "" and old.message_id is None
        page = as_(client, order.buyer).get(reverse("dispute-detail", args=[d.pk]))
        posts = {p["text"]: [f.name for f in p["files"]] for p in page.context["posts"]}
        assert posts["Nothing delivered so far is usable."] == ["opening.png"]
        assert posts["First."] == ["first.png"]
        assert posts["Second."] == ["second.png"]
        assert posts["No."] == ["answer.png"]
        assert posts["Third."] == ["old.png"]
        assert page.context["other_files"] == []
        second = DisputeMessage.objects.get(body="Second.")
        assert DisputeEvidence.objects.get(name="second.png").message == second


class TestApi:
    def test_opening_the_whole_order_and_reading_it(self, api_client, delivered_order):
        order = delivered_order
        api_client.force_authenticate(order.buyer)
        body = {"order": order.pk, "reason": "quality", "description": "All of it.", "outcome_wanted": "full_refund"}
        r = api_client.post("/api/disputes/", body, format="json")
        assert r.status_code == 201, r.json()
        data = r.json()
        assert (data["kind"], data["milestone"], data["amount_at_stake_minor"], data["held_minor"]) == (
            "order",
            None,
            TOTAL,
            TOTAL,
        )
        assert [h["milestone"]["position"] for h in data["held"]] == [1, 2, 3]
        assert [h["frozen_from"] for h in data["held"]] == [S.DELIVERED, S.LOCKED, S.LOCKED]
        listed = api_client.get("/api/disputes/").json()["results"][0]
        assert (listed["kind"], listed["milestone"]) == ("order", None)
        # A second one, and a milestone dispute on what it holds: 409 with the code.
        again = api_client.post("/api/disputes/", body, format="json")
        assert again.status_code == 409 and again.json()["code"] == "dispute_already_open"
        m1 = milestones_of(order)[0]
        one = api_client.post("/api/disputes/", {**body, "milestone": m1.pk}, format="json")
        assert one.status_code == 409 and one.json()["code"] == "dispute_already_open"
        assert Dispute.objects.count() == 1

    def test_an_offer_and_its_refund_over_the_whole_order(self, api_client, delivered_order):
        d = open_order_dispute(delivered_order)
        api_client.force_authenticate(delivered_order.seller)
        r = api_client.post(f"/api/disputes/{d.pk}/offers/", {"seller_amount_minor": 6000}, format="json")
        assert r.status_code == 201, r.json()
        detail = api_client.get(f"/api/disputes/{d.pk}/").json()
        assert detail["offers"][0]["refund_minor"] == 1500
        too_much = api_client.post(f"/api/disputes/{d.pk}/offers/", {"seller_amount_minor": TOTAL + 1}, format="json")
        assert too_much.status_code == 400

    def test_strangers_get_404_and_nothing_is_written(self, api_client, delivered_order):
        api_client.force_authenticate(UserFactory())
        body = {"order": delivered_order.pk, "reason": "quality", "description": "x", "outcome_wanted": "full_refund"}
        r = api_client.post("/api/disputes/", body, format="json")
        assert r.status_code == 404 and not Dispute.objects.exists()

    def test_the_schema_allows_a_null_milestone_and_documents_the_actions(self, api_client):
        schema = api_client.get("/api/schema/", {"format": "json"}).json()
        dispute = schema["components"]["schemas"]["Dispute"]["properties"]
        assert dispute["milestone"]["nullable"] is True
        assert "kind" in dispute and "`settled`" in dispute["resolution_action"]["description"]
        opening = schema["components"]["schemas"]["DisputeOpenRequest"]["properties"]["milestone"]
        assert opening["nullable"] is True
        assert "milestone" not in schema["components"]["schemas"]["DisputeOpenRequest"].get("required", [])


class TestAdmin:
    def test_a_split_of_an_order_dispute_through_the_admin_form(self, admin_client, admin_user, clock):
        from payments.tests.test_lifecycle import paid_order

        order = paid_order()
        m1 = milestones_of(order)[0]
        deliver(m1)
        accept(fresh(m1))  # its payout pending clearance: held too
        d = open_order_dispute(order)
        url = reverse("admin:disputes_dispute_decide", args=[d.pk, "split"])
        form = admin_client.get(url)
        assert form.status_code == 200 and "$75" in text(form) and "earliest first" in text(form)
        change = admin_client.get(reverse("admin:disputes_dispute_change", args=[d.pk]))
        assert change.status_code == 200 and "whole order (order dispute" in change.content.decode()
        done = admin_client.post(url, {"percent": "40", "note": "The first part was fine."})
        assert done.status_code == 302
        d = fresh(d)
        assert (d.status, d.seller_amount_minor, d.refund_amount_minor, d.resolved_by) == (
            DS.RESOLVED,
            3000,
            4500,
            admin_user,
        )
        # 3000 earliest first: milestone 1 keeps its 2000, milestone 2 gets 1000 of 3000, 3 none.
        assert [m.status for m in milestones_of(order)] == [S.ACCEPTED, S.SPLIT, S.CANCELLED]
        assert sorted(Payout.objects.values_list("gross_minor", flat=True)) == [1000, 2000]
        assert sorted(Refund.objects.values_list("amount_minor", flat=True)) == [2000, 2500]
        assert fresh(order).status == Order.Status.COMPLETED
        assert_dispute_books()


def test_my_disputes_lists_an_order_dispute_with_what_it_held(client, delivered_order):
    open_order_dispute(delivered_order)
    page = as_(client, delivered_order.seller).get(reverse("my-disputes"))
    assert page.status_code == 200 and "the whole order" in text(page) and "$75" in text(page)


def test_the_open_page_of_a_held_milestone_goes_to_the_order_dispute(client, order):
    m1 = milestones_of(order)[0]
    deliver(m1)
    accept(fresh(m1))  # held through its payout: the milestone itself stays accepted
    d = open_order_dispute(order)
    for m in milestones_of(order):
        r = as_(client, order.buyer).get(reverse("dispute-open", args=[m.pk]))
        assert r.status_code == 302 and r.url == reverse("dispute-detail", args=[d.pk])
    assert Dispute.objects.count() == 1


def test_a_payout_an_order_dispute_refunded_in_part_is_not_offered_again(client, order, staff):
    """The open page says why before the form is filled: the service refuses a milestone whose
    payout an order dispute already refunded in part (its gross is below its price)."""
    m1, m2, _ = milestones_of(order)
    deliver(m1)
    accept(m1)
    deliver(fresh(m2))
    d = open_order_dispute(order)
    services.dispute_resolve(
        dispute_id=d.pk, admin=staff, action=Dispute.Action.SPLIT, note="Half of the first.", seller_amount_minor=1000
    )
    assert fresh(m1).status == S.ACCEPTED and Payout.objects.get(milestone=m1).gross_minor == 1000
    page = as_(client, order.buyer).get(reverse("dispute-open", args=[m1.pk]))
    assert "already refunded in part" in text(page)
    assert 'name="description"' not in page.content.decode()


def test_the_whole_order_page_leaves_out_a_payout_refunded_in_part(client, order, staff):
    """What the whole-order form says it would hold is what the service holds: not a payout a
    milestone dispute already refunded in part."""
    m1, m2, m3 = milestones_of(order)
    deliver(m1)
    accept(m1)
    d = open_dispute(fresh(m1))
    services.dispute_resolve(
        dispute_id=d.pk, admin=staff, action=Dispute.Action.SPLIT, note="Part of it.", seller_amount_minor=1500
    )
    page = as_(client, order.buyer).get(reverse("order-dispute-open", args=[order.pk]))
    assert [m.pk for m in page.context["within"]] == [m2.pk, m3.pk]
    assert page.context["total"] == m2.price_minor + m3.price_minor
    whole = open_order_dispute(order)
    assert whole.amount_minor == page.context["total"]
