"""The milestone lifecycle on the order page: each action's small POST form (deliver, accept,
request a revision, ask to cancel and answer, cancel when the seller is late, stop the order), each
refusal (someone else's order or milestone = 404, the wrong state = a message, bad input = a form
error; nothing changed), money per milestone, delivery file downloads, and the seller's earnings
page with its query counts. States are reached through the real services."""

import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from gigs.tests.factories import UserFactory
from milestones import lifecycle as states
from milestones.models import CancellationRequest, Delivery, DeliveryFile, Notification, Order, OrderMilestone
from payments import lifecycle, selectors, views
from payments.models import Payout, Refund
from payments.tests.factories import gig_with_plan, pay, place_order

pytestmark = pytest.mark.django_db

S = OrderMilestone.Status
# gig_with_plan's Standard package: Concepts $20 (1 revision), Refinement $30, Final files $25;
# the seller's commission is 20 %.


def body(response) -> str:
    return response.content.decode()


def text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body(response)))


def said(response) -> str:
    """The message the response's request added (the last one stored)."""
    return [str(m) for m in get_messages(response.wsgi_request)][-1]


def panels(response) -> list[str]:
    """The text of each milestone panel of the order page."""
    html = body(response)
    return [
        re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", p))
        for p in re.findall(r'data-testid="milestone-panel">(.*?)</section>', html, re.S)
    ]


def upload(name="logo.png", content=b"\x89PNG fake image", content_type="image/png"):
    return SimpleUploadedFile(name, content, content_type=content_type)


@pytest.fixture
def order() -> Order:
    order = place_order(gig=gig_with_plan())
    pay(order)
    order.refresh_from_db()
    return order


def ms(order: Order, position: int) -> OrderMilestone:
    return OrderMilestone.objects.get(order=order, position=position)


def url(name: str, order: Order, milestone: OrderMilestone | None = None) -> str:
    return reverse(name, args=[order.pk] if milestone is None else [order.pk, milestone.pk])


def order_url(order: Order) -> str:
    return reverse("order-detail", args=[order.pk])


def deliver(order: Order, position: int = 0, files=()) -> Delivery:
    return states.milestone_deliver(
        milestone_id=ms(order, position).pk, seller=order.seller, message="Three concepts.", files=list(files)
    )


def accept(order: Order, position: int = 0) -> None:
    lifecycle.milestone_accept(milestone_id=ms(order, position).pk, buyer=order.buyer)


def fresh_status(obj) -> str:
    return type(obj).objects.values_list("status", flat=True).get(pk=obj.pk)


def as_user(client, user):
    client.force_login(user)
    return client


# --- deliver ------------------------------------------------------------------------------------


class TestDeliver:
    def test_only_the_seller_sees_the_form_on_the_milestone_in_progress(self, client, order):
        page = as_user(client, order.seller).get(order_url(order))
        html = body(page)
        assert html.count('data-testid="deliver-form"') == 1
        assert 'enctype="multipart/form-data"' in html and 'name="files"' in html and "multiple" in html
        assert url("milestone-deliver", order, ms(order, 0)) in html
        assert len(panels(page)) == 1  # milestones not started have no panel
        assert "Deliver milestone 1" in panels(page)[0]
        assert 'data-testid="deliver-form"' not in body(as_user(client, order.buyer).get(order_url(order)))

    def test_deliver_with_files(self, client, order):
        as_user(client, order.seller)
        response = client.post(
            url("milestone-deliver", order, ms(order, 0)),
            {
                "message": "Three logo concepts.",
                "files": [upload(), upload("brief.pdf", b"%PDF-1.4", "application/pdf")],
            },
        )
        assert response.status_code == 302 and response["Location"] == order_url(order) + "#milestone-1"
        m = ms(order, 0)
        assert m.status == S.DELIVERED and m.review_deadline is not None
        delivery = Delivery.objects.get(milestone=m)
        assert delivery.message == "Three logo concepts."
        assert sorted(f.name for f in delivery.files.all()) == ["brief.pdf", "logo.png"]
        page = client.get(order_url(order))
        assert said(response).startswith("Milestone 1 delivered. The buyer has until")
        panel = panels(page)[0]
        deadline = timezone.localtime(m.review_deadline).strftime("%b %-d, %H:%M")
        assert f"Accepted automatically on {deadline} unless the buyer answers first." in panel
        assert "Delivery 1" in panel and "Three logo concepts." in panel and "logo.png" in panel
        assert 'data-testid="deliver-form"' not in body(page)
        files = {f.name: f for f in delivery.files.all()}
        assert reverse("order-file", args=[order.pk, files["logo.png"].pk]) in body(page)
        assert "/media/" not in body(page)

    def test_a_message_is_required(self, client, order):
        as_user(client, order.seller)
        response = client.post(url("milestone-deliver", order, ms(order, 0)), {"message": "  ", "files": [upload()]})
        assert response.status_code == 200
        html = body(response)
        assert re.search(r'<p class="error" role="alert">This field is required.</p>', html)
        assert ms(order, 0).status == S.IN_PROGRESS and not Delivery.objects.exists()

    @pytest.mark.parametrize(
        "rules,files,error",
        [
            ({}, [upload("setup.exe", b"MZ")], "setup.exe: files of this type are not accepted."),
            ({"UPLOAD_MAX_FILES": 2}, [upload(f"{i}.png") for i in range(3)], "Attach at most 2 files."),
            ({"UPLOAD_MAX_BYTES": 1024 * 1024}, [upload("big.zip", b"x" * (1024 * 1024 + 1))], "big.zip: a file"),
        ],
        ids=["type", "count", "size"],
    )
    def test_upload_limits_keep_the_message_and_save_nothing(self, client, order, settings, rules, files, error):
        settings.MARKETPLACE = {**settings.MARKETPLACE, **rules}
        as_user(client, order.seller)
        response = client.post(
            url("milestone-deliver", order, ms(order, 0)), {"message": "Kept when refused.", "files": files}
        )
        assert response.status_code == 200
        errors = re.findall(r'<p class="error" role="alert">([^<]+)</p>', body(response))
        assert any(e.startswith(error) for e in errors), errors
        assert "Kept when refused." in body(response)  # the seller does not type it again
        assert ms(order, 0).status == S.IN_PROGRESS
        assert not Delivery.objects.exists() and not DeliveryFile.objects.exists()
        media = settings.MEDIA_ROOT
        assert not any(p.is_file() for p in media.rglob("*")) if media.exists() else True

    def test_wrong_party_or_milestone_is_404(self, client, order):
        other = place_order(gig=gig_with_plan())
        pay(other)
        target = url("milestone-deliver", order, ms(order, 0))
        data = {"message": "Nope."}
        for user in (order.buyer, UserFactory(), other.seller):
            assert as_user(client, user).post(target, data).status_code == 404
        # A milestone of another order under this order's URL.
        as_user(client, order.seller)
        foreign = reverse("milestone-deliver", args=[order.pk, ms(other, 0).pk])
        assert client.post(foreign, data).status_code == 404
        assert not Delivery.objects.exists()
        assert client.get(target).status_code == 405
        client.logout()
        assert client.post(target, data)["Location"].startswith(reverse("login"))

    def test_a_milestone_not_in_progress_is_refused_with_a_message(self, client, order):
        deliver(order)
        as_user(client, order.seller)
        response = client.post(url("milestone-deliver", order, ms(order, 0)), {"message": "Again?"})
        assert response.status_code == 302
        assert said(response) == "Milestone 1 is delivered: nothing to deliver."
        locked = client.post(url("milestone-deliver", order, ms(order, 1)), {"message": "Too early."})
        assert said(locked) == "Milestone 2 is not started: nothing to deliver."
        assert Delivery.objects.count() == 1


# --- review: accept or request a revision ------------------------------------------------------


class TestReview:
    def test_buyer_sees_accept_and_revision_with_revisions_left(self, client, order):
        deliver(order)
        page = as_user(client, order.buyer).get(order_url(order))
        html = body(page)
        assert url("milestone-accept", order, ms(order, 0)) in html
        assert url("milestone-request-revision", order, ms(order, 0)) in html
        panel = panels(page)[0]
        assert "Accepting releases $20 from escrow to the seller and starts the next milestone." in panel
        assert "1 revision left." in panel and "1 of 1 left" in panel
        assert "unless you accept it or ask for a revision first" in panel
        seller = body(as_user(client, order.seller).get(order_url(order)))
        assert url("milestone-accept", order, ms(order, 0)) not in seller
        assert url("milestone-request-revision", order, ms(order, 0)) not in seller

    def test_request_a_revision(self, client, order):
        deliver(order)
        as_user(client, order.buyer)
        response = client.post(
            url("milestone-request-revision", order, ms(order, 0)), {"reason": "Bolder colours, please."}
        )
        assert response.status_code == 302
        assert said(response) == "Revision requested for milestone 1. The seller will deliver it again."
        m = ms(order, 0)
        assert (m.status, m.revisions_used, m.review_deadline) == (S.REVISION_REQUESTED, 1, None)
        seller_page = as_user(client, order.seller).get(order_url(order))
        panel = panels(seller_page)[0]
        assert "Revision requested" in panel and "Bolder colours, please." in panel
        assert "Deliver the revision" in panel and "0 of 1 left" in panel

    def test_a_reason_is_required(self, client, order):
        deliver(order)
        response = as_user(client, order.buyer).post(
            url("milestone-request-revision", order, ms(order, 0)), {"reason": ""}
        )
        assert response.status_code == 200
        assert '<p class="error" role="alert">This field is required.</p>' in body(response)
        assert ms(order, 0).status == S.DELIVERED

    def test_no_revisions_left(self, client, order):
        deliver(order)
        states.milestone_request_revision(milestone_id=ms(order, 0).pk, buyer=order.buyer, reason="More.")
        deliver(order)
        page = as_user(client, order.buyer).get(order_url(order))
        html = body(page)
        assert url("milestone-request-revision", order, ms(order, 0)) not in html
        assert (
            "No revisions are left for this milestone. You can accept it, ask the seller to cancel it, or open a "
            "dispute." in text(page)
        )
        assert "0 of 1 left" in panels(page)[0]
        assert "Delivery 1" in panels(page)[0] and "Delivery 2" in panels(page)[0]
        # A stale form posted anyway: refused, nothing changed.
        response = client.post(url("milestone-request-revision", order, ms(order, 0)), {"reason": "Once more."})
        assert response.status_code == 302
        assert (
            said(response)
            == "No revisions are left for this milestone: accept it, ask the seller to cancel it by agreement, "
            "or open a dispute."
        )
        # ... and the page offers that request.
        assert url("milestone-cancel-request", order, ms(order, 0)) in body(client.get(order_url(order)))
        m = ms(order, 0)
        assert (m.status, m.revisions_used) == (S.DELIVERED, 1)

    def test_accept_releases_and_starts_the_next(self, client, order):
        deliver(order)
        as_user(client, order.buyer)
        response = client.post(url("milestone-accept", order, ms(order, 0)))
        assert response.status_code == 302
        assert said(response) == "Milestone 1 accepted: its money is released to the seller."
        assert (ms(order, 0).status, ms(order, 1).status) == (S.ACCEPTED, S.IN_PROGRESS)
        payout = Payout.objects.get()
        assert (payout.amount_minor, payout.commission_minor, payout.status) == (1600, 400, "pending_clearance")

        buyer_page = client.get(order_url(order))
        states_ = re.findall(r'data-testid="escrow-state">([^<]+)<', body(buyer_page))
        assert states_ == ["released", "held in escrow", "held in escrow"]
        assert 'data-testid="payout-state"' not in body(buyer_page)  # the seller's business
        assert "Released to the seller: $20" in text(buyer_page)
        seller_page = as_user(client, order.seller).get(order_url(order))
        clears = timezone.localtime(payout.clears_at).strftime("%b %-d")
        # In the milestones table and in the milestone's panel.
        assert set(re.findall(r'data-testid="payout-state">([^<]+)<', body(seller_page))) == {
            f"pending clearance until {clears}"
        }
        assert [p.split(" ")[2] for p in panels(seller_page)] == ["1:", "2:"]  # milestone 2 has begun

        # Accepting again changes nothing more.
        again = as_user(client, order.buyer).post(url("milestone-accept", order, ms(order, 0)))
        assert again.status_code == 302 and Payout.objects.count() == 1

    def test_wrong_party_is_404_and_wrong_state_a_message(self, client, order):
        target = url("milestone-accept", order, ms(order, 0))
        assert as_user(client, order.seller).post(target).status_code == 404
        assert as_user(client, UserFactory()).post(target).status_code == 404
        response = as_user(client, order.buyer).post(target)  # not delivered yet
        assert said(response) == "Milestone 1 is not waiting for your review."
        assert ms(order, 0).status == S.IN_PROGRESS and not Payout.objects.exists()
        revision = client.post(url("milestone-request-revision", order, ms(order, 0)), {"reason": "x"})
        assert said(revision) == "Milestone 1 is not waiting for your review."
        assert (
            as_user(client, order.seller)
            .post(url("milestone-request-revision", order, ms(order, 0)), {"reason": "x"})
            .status_code
            == 404
        )


# --- stop the order ------------------------------------------------------------------------------


class TestStop:
    def test_offered_after_an_accepted_milestone_with_what_is_refunded(self, client, order):
        as_user(client, order.buyer)
        assert 'data-testid="stop-order"' not in body(client.get(order_url(order)))
        deliver(order)
        accept(order)
        page = client.get(order_url(order))
        html = body(page)
        assert 'data-testid="stop-order"' in html
        # Milestone 2 started when 1 was accepted: only 3 is left to stop.
        assert "milestone 3 has not started. Stopping cancels it and refunds $25 to your card." in text(page)
        assert "I understand: milestone 3 is cancelled and $25 is refunded to me. This cannot be undone." in text(page)
        assert 'data-testid="stop-order"' not in body(as_user(client, order.seller).get(order_url(order)))

    def test_needs_the_confirmation(self, client, order):
        deliver(order)
        accept(order)
        as_user(client, order.buyer)
        response = client.post(url("order-stop", order))
        assert response.status_code == 200
        assert '<p class="error" role="alert">Tick the box to confirm.</p>' in body(response)
        assert not Refund.objects.exists() and ms(order, 2).status == S.LOCKED

    def test_stop(self, client, order):
        deliver(order)
        accept(order)
        deliver(order, 1)
        as_user(client, order.buyer)
        response = client.post(url("order-stop", order), {"confirm": "on"})
        assert response.status_code == 302
        assert said(response) == "Order stopped: $25 is refunded to you."
        refund = Refund.objects.get()
        assert (refund.amount_minor, refund.milestone_ids) == (2500, [ms(order, 2).pk])
        assert ms(order, 1).status == S.DELIVERED and ms(order, 2).status == S.CANCELLED
        page = client.get(order_url(order))
        assert re.findall(r'data-testid="escrow-state">([^<]+)<', body(page)) == [
            "released",
            "held in escrow",
            "refunded",
        ]
        assert set(re.findall(r'data-testid="refund-state">([^<]+)<', body(page))) == {"refund pending"}
        assert "Refunded to you: $25" in text(page)

    def test_refusals(self, client, order):
        as_user(client, order.buyer)
        early = client.post(url("order-stop", order), {"confirm": "on"})
        assert said(early) == "You can stop the order once a milestone has been accepted."
        deliver(order)
        accept(order)
        assert as_user(client, order.seller).post(url("order-stop", order), {"confirm": "on"}).status_code == 404
        assert as_user(client, UserFactory()).post(url("order-stop", order), {"confirm": "on"}).status_code == 404
        assert not Refund.objects.exists()


# --- cancellation by agreement -----------------------------------------------------------------


class TestCancellationRequest:
    def ask(self, client, order, user, reason="The brief changed."):
        return as_user(client, user).post(url("milestone-cancel-request", order, ms(order, 0)), {"reason": reason})

    def test_either_party_may_ask(self, client, order):
        for user in (order.buyer, order.seller):
            html = body(as_user(client, user).get(order_url(order)))
            assert 'data-testid="cancel-request-form"' in html and "Ask to cancel this milestone" in html
        response = self.ask(client, order, order.buyer)
        req = CancellationRequest.objects.get()
        assert response.status_code == 302
        expires = timezone.localtime(req.expires_at).strftime("%b %-d, %H:%M")
        assert (
            said(response)
            == f"Cancellation of milestone 1 requested. If the seller does not answer by {expires}, it is accepted."
        )
        own = body(client.get(order_url(order)))
        assert "Waiting for the seller's answer." in re.sub(r"\s+", " ", own)
        assert 'data-testid="cancel-request-form"' not in own
        seller_page = as_user(client, order.seller).get(order_url(order))
        html = body(seller_page)
        assert reverse("cancellation-answer", args=[order.pk, req.pk]) in html
        assert re.search(rf'data-testid="auto-accept-at">{re.escape(expires)}<', html)
        assert "Accept the cancellation" in html and "Decline" in html
        assert "The buyer asked to cancel this milestone" in text(seller_page)

    def test_a_reason_is_required_and_one_request_at_a_time(self, client, order):
        response = self.ask(client, order, order.seller, reason=" ")
        assert response.status_code == 200
        assert '<p class="error" role="alert">This field is required.</p>' in body(response)
        assert '<details class="ms-more" open>' in body(response)
        self.ask(client, order, order.seller)
        second = self.ask(client, order, order.buyer)
        assert said(second) == "A cancellation request for this milestone is already waiting for an answer."
        assert CancellationRequest.objects.count() == 1

    def test_accepting_cancels_and_refunds_the_rest(self, client, order):
        self.ask(client, order, order.buyer)
        req = CancellationRequest.objects.get()
        response = as_user(client, order.seller).post(
            reverse("cancellation-answer", args=[order.pk, req.pk]), {"answer": "accept"}
        )
        assert said(response) == "Cancellation accepted: milestone 1 is cancelled and refunded."
        order.refresh_from_db()
        assert order.status == Order.Status.CANCELLED
        assert [m.status for m in order.milestones.order_by("position")] == [S.CANCELLED] * 3
        assert Refund.objects.get().amount_minor == 7500
        page = client.get(order_url(order))
        assert re.findall(r'data-testid="escrow-state">([^<]+)<', body(page)) == ["refunded"] * 3
        assert "The buyer asked to cancel this milestone" in text(page) and "accepted" in panels(page)[0]

    def test_declining(self, client, order):
        self.ask(client, order, order.seller)
        req = CancellationRequest.objects.get()
        response = as_user(client, order.buyer).post(
            reverse("cancellation-answer", args=[order.pk, req.pk]), {"answer": "decline"}
        )
        assert said(response) == "Cancellation declined: milestone 1 goes on."
        req.refresh_from_db()
        assert req.status == CancellationRequest.Status.DECLINED and ms(order, 0).status == S.IN_PROGRESS
        assert 'data-testid="cancel-request-form"' in body(client.get(order_url(order)))  # may ask again

    def test_refusals(self, client, order):
        self.ask(client, order, order.buyer)
        req = CancellationRequest.objects.get()
        target = reverse("cancellation-answer", args=[order.pk, req.pk])
        own = as_user(client, order.buyer).post(target, {"answer": "accept"})
        assert said(own) == "The other party answers this request."
        assert as_user(client, UserFactory()).post(target, {"answer": "accept"}).status_code == 404
        other = place_order(gig=gig_with_plan())
        pay(other)
        # The request under another order's URL, by that order's seller.
        foreign = reverse("cancellation-answer", args=[other.pk, req.pk])
        assert as_user(client, other.seller).post(foreign, {"answer": "accept"}).status_code == 404
        nonsense = as_user(client, order.seller).post(target, {"answer": "maybe"})
        assert said(nonsense) == "Choose Accept or Decline."
        req.refresh_from_db()
        assert req.status == CancellationRequest.Status.OPEN and not Refund.objects.exists()
        assert self.ask(client, order, UserFactory()).status_code == 404

    def test_a_delivery_closes_the_request_made_while_the_work_went_on(self, client, order):
        self.ask(client, order, order.buyer)
        deliver(order)
        req = CancellationRequest.objects.get()
        assert req.status == CancellationRequest.Status.WITHDRAWN
        html = body(as_user(client, order.seller).get(order_url(order)))
        assert 'data-testid="cancellation-request"' not in html and 'value="decline"' not in html
        # A stale form posted anyway: refused, nothing refunded.
        for answer in ("accept", "decline"):
            response = client.post(reverse("cancellation-answer", args=[order.pk, req.pk]), {"answer": answer})
            assert said(response) == "This request was closed without an answer: the milestone moved on meanwhile."
        assert fresh_status(req) == CancellationRequest.Status.WITHDRAWN and not Refund.objects.exists()
        buyer_page = as_user(client, order.buyer).get(order_url(order))
        assert "closed without an answer" in panels(buyer_page)[0]
        told = Notification.objects.get(user=order.buyer, kind="delivered").text
        assert told.startswith("Milestone 1 of order #") and "(the request to cancel it is closed)" in told


def no_revisions_left(order: Order) -> OrderMilestone:
    """Milestone 1 (one revision) delivered, revised and delivered again."""
    deliver(order)
    states.milestone_request_revision(milestone_id=ms(order, 0).pk, buyer=order.buyer, reason="More.")
    deliver(order)
    m = ms(order, 0)
    assert (m.status, m.revisions_left) == (S.DELIVERED, 0)
    return m


def when(value) -> str:
    return timezone.localtime(value).strftime("%b %-d, %H:%M")


class TestCancellingADelivery:
    """A delivered milestone with no revisions left: the page, the selector and the service agree
    that the other party may accept (a refund) or decline, until the review deadline; silence
    releases the money."""

    def test_the_buyer_asks_and_the_seller_may_accept(self, client, order):
        m = no_revisions_left(order)
        deadline = when(m.review_deadline)
        page = as_user(client, order.buyer).get(order_url(order))
        assert 'data-testid="cancel-request-form"' in body(page)
        assert (
            f"The seller has until the review deadline, {deadline}, to answer; without an answer the request lapses "
            "and the milestone is accepted automatically." in panels(page)[0]
        )
        response = client.post(url("milestone-cancel-request", order, m), {"reason": "Not what I asked for."})
        req = CancellationRequest.objects.get()
        assert (req.status, req.expires_at) == (CancellationRequest.Status.OPEN, m.review_deadline)
        assert said(response) == (
            f"Cancellation of milestone 1 requested. The seller has until {deadline} (the review deadline) to "
            "answer; without an answer the milestone is accepted automatically."
        )

        own = client.get(order_url(order))
        assert (
            "If the seller accepts, this milestone is cancelled and $20 (with the milestones not started) is "
            f"refunded to you. Without an answer by {deadline} (the review deadline), the request lapses and the "
            "milestone is accepted automatically, its money released to the seller." in panels(own)[0]
        )
        assert 'data-testid="cancel-request-form"' not in body(own)
        assert "accept" in selectors_actions(order, m, order.buyer)

        seller_page = as_user(client, order.seller).get(order_url(order))
        html = body(seller_page)
        assert "Accept the cancellation" in html and 'value="decline"' in html
        assert re.search(rf'data-testid="auto-accept-at">{re.escape(deadline)}<', html)
        assert (
            "Accepting cancels this delivered milestone and the ones not started, and refunds their price to the "
            "buyer." in panels(seller_page)[0]
        )
        assert {"answer_cancel", "accept_cancel"} <= selectors_actions(order, m, order.seller)
        response = client.post(reverse("cancellation-answer", args=[order.pk, req.pk]), {"answer": "accept"})
        assert said(response) == "Cancellation accepted: milestone 1 is cancelled and refunded."
        assert [m.status for m in order.milestones.order_by("position")] == [S.CANCELLED] * 3
        assert Refund.objects.get().amount_minor == 7500

    def test_declined_the_buyer_is_not_offered_a_second_request(self, client, order):
        m = no_revisions_left(order)
        lifecycle.cancellation_request(milestone_id=m.pk, user=order.buyer, reason="Not what I asked for.")
        req = CancellationRequest.objects.get()
        as_user(client, order.seller).post(
            reverse("cancellation-answer", args=[order.pk, req.pk]), {"answer": "decline"}
        )
        assert 'data-testid="cancel-request-form"' in body(client.get(order_url(order)))  # the seller may still ask

        page = as_user(client, order.buyer).get(order_url(order))
        assert 'data-testid="cancel-request-form"' not in body(page)
        assert "The buyer asked to cancel this milestone" in panels(page)[0] and "declined" in panels(page)[0]
        again = client.post(url("milestone-cancel-request", order, m), {"reason": "Please."})
        assert said(again) == "You already asked to cancel this delivery."
        assert CancellationRequest.objects.count() == 1

    def test_past_the_review_deadline_only_declining_is_offered(self, client, order):
        m = no_revisions_left(order)
        lifecycle.cancellation_request(milestone_id=m.pk, user=order.buyer, reason="Not what I asked for.")
        with time_machine.travel(m.review_deadline + timedelta(seconds=1)):  # the sweeps have not run yet
            html = body(as_user(client, order.seller).get(order_url(order)))
            assert "Accept the cancellation" not in html and 'value="decline"' in html
            assert "accept_cancel" not in selectors_actions(order, m, order.seller)
            lifecycle.cancellation_requests_expire_sweep()
            assert 'data-testid="cancel-request-form"' not in body(client.get(order_url(order)))
            assert 'data-testid="cancel-request-form"' not in body(as_user(client, order.buyer).get(order_url(order)))
            lifecycle.auto_release_sweep()
        assert ms(order, 0).status == S.ACCEPTED and not Refund.objects.exists()
        assert "closed without an answer" in panels(client.get(order_url(order)))[0]


def selectors_actions(order: Order, m: OrderMilestone, user) -> frozenset[str]:
    full = selectors.order_get_with_lifecycle(user=user, pk=order.pk)
    milestone = next(x for x in full.milestones.all() if x.pk == m.pk)
    return selectors.milestone_actions(full, milestone, user=user, now=timezone.now())


# --- the seller is late ------------------------------------------------------------------------


class TestCancelLate:
    def test_offered_a_day_after_the_due_date(self, client, order):
        m = ms(order, 0)
        as_user(client, order.buyer)
        assert 'data-testid="cancel-late-form"' not in body(client.get(order_url(order)))
        response = client.post(url("milestone-cancel-late", order, m), {"confirm": "on"})
        assert said(response) == "You can cancel alone only when the seller is a day past the due date."
        with time_machine.travel(m.due_at + timedelta(hours=24, minutes=1)):
            page = client.get(order_url(order))
            assert 'data-testid="cancel-late-form"' in body(page)
            assert "I understand: this milestone and the ones after it are cancelled and $75 is refunded to me." in (
                text(page)
            )
            assert 'data-testid="cancel-late-form"' not in body(as_user(client, order.seller).get(order_url(order)))
            assert (
                as_user(client, order.seller)
                .post(url("milestone-cancel-late", order, m), {"confirm": "on"})
                .status_code
                == 404
            )
            as_user(client, order.buyer)
            unconfirmed = client.post(url("milestone-cancel-late", order, m))
            assert '<p class="error" role="alert">Tick the box to confirm.</p>' in body(unconfirmed)
            assert not Refund.objects.exists()
            done = client.post(url("milestone-cancel-late", order, m), {"confirm": "on"})
        assert said(done) == "Milestone 1 cancelled: $75 is refunded to you."
        assert Refund.objects.get().amount_minor == 7500
        order.refresh_from_db()
        assert order.status == Order.Status.CANCELLED


# --- delivery files -----------------------------------------------------------------------------


class TestDeliveryFiles:
    def test_only_the_parties_download_as_an_attachment(self, client, order):
        delivery = deliver(order, files=[upload("concepts.svg", b"<svg><script>alert(1)</script></svg>")])
        f = delivery.files.get()
        target = reverse("order-file", args=[order.pk, f.pk])
        for user in (order.buyer, order.seller):
            response = as_user(client, user).get(target)
            assert response.status_code == 200
            assert b"".join(response.streaming_content) == b"<svg><script>alert(1)</script></svg>"
            assert response["Content-Disposition"] == 'attachment; filename="concepts.svg"'
            assert response["Cache-Control"] == "private, no-store"
        assert as_user(client, UserFactory()).get(target).status_code == 404
        client.logout()
        assert client.get(target)["Location"].startswith(reverse("login"))

    def test_a_file_of_another_order_or_missing_is_404(self, client, order):
        other = place_order(gig=gig_with_plan())
        pay(other)
        theirs = deliver(other, files=[upload()]).files.get()
        as_user(client, order.buyer)
        assert client.get(reverse("order-file", args=[order.pk, theirs.pk])).status_code == 404
        assert client.get(reverse("order-file", args=[order.pk, theirs.pk + 100])).status_code == 404
        mine = deliver(order, files=[upload()]).files.get()
        mine.file.storage.delete(mine.file.name)
        assert client.get(reverse("order-file", args=[order.pk, mine.pk])).status_code == 404


def test_order_page_queries_do_not_grow_with_deliveries(client, order, django_assert_num_queries):
    deliver(order, files=[upload()])
    as_user(client, order.buyer)
    client.get(order_url(order))
    # session, user, order with parties, milestones with payouts, deliveries, files, revision
    # requests, cancellation requests, refunds, escrow balance, the nav's unread notifications
    with django_assert_num_queries(11):
        client.get(order_url(order))
    states.milestone_request_revision(milestone_id=ms(order, 0).pk, buyer=order.buyer, reason="More.")
    deliver(order, files=[upload(f"{i}.png") for i in range(4)])
    accept(order)
    req = lifecycle.cancellation_request(milestone_id=ms(order, 1).pk, user=order.buyer, reason="Changed plans.")
    lifecycle.cancellation_answer(request_id=req.pk, user=order.seller, accept=False)
    deliver(order, 1, files=[upload()])
    with django_assert_num_queries(11):
        response = client.get(order_url(order))
    assert body(response).count('data-testid="delivery"') == 3


# --- earnings -----------------------------------------------------------------------------------


def earnings(client):
    return client.get(reverse("seller-earnings"))


class TestEarnings:
    def test_money_moves_from_escrow_to_transferred(self, client, order):
        as_user(client, order.seller)
        page = earnings(client)
        assert re.search(r'data-testid="in-escrow">\$75<', body(page))
        assert "Nothing released yet." in text(page)

        deliver(order)
        accept(order)
        page = earnings(client)
        html = body(page)
        assert re.search(r'data-testid="in-escrow">\$55<', html)
        assert re.search(r'data-testid="pending-clearance">\$16<', html)
        assert re.search(r'data-testid="available">\$0<', html)
        assert "Released so far: $20 for 1 milestone; commission taken: <strong>$4</strong>." in html
        rows = re.findall(r'<tr data-testid="payout-row">(.*?)</tr>', html, re.S)
        row = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", rows[0]))
        assert f"#{order.pk}" in row and "1. Concepts" in row and "$20" in row and "−$4" in row and "$16" in row
        assert "Pending clearance" in row

        payout = Payout.objects.get()
        lifecycle.payouts_clear_sweep(now=payout.clears_at)
        assert re.search(r'data-testid="available">\$16<', body(earnings(client)))
        lifecycle.payout_transfer(payout_id=payout.pk)
        html = body(earnings(client))
        assert re.search(r'data-testid="transferred">\$16<', html) and re.search(r'data-testid="available">\$0<', html)

    def test_failed_transfers_count_as_available_in_transit(self, client, order, monkeypatch):
        deliver(order)
        accept(order)
        payout = Payout.objects.get()
        lifecycle.payouts_clear_sweep(now=payout.clears_at)
        monkeypatch.setattr(lifecycle, "gateway", lambda: SimpleNamespace(seller_destination=lambda _: None))
        assert lifecycle.payout_transfer(payout_id=payout.pk).status == Payout.Status.FAILED
        page = earnings(as_user(client, order.seller))
        assert re.search(r'data-testid="available">\$16<', body(page))
        assert "$16 on its way to your account; a transfer failed and is retried automatically" in text(page)

    def test_only_your_own(self, client, order):
        deliver(order)
        accept(order)
        page = earnings(as_user(client, UserFactory()))
        assert 'data-testid="earnings-totals"' not in body(page) and "Nothing released yet." in text(page)
        assert earnings(as_user(client, order.buyer)).context["payouts"] == []
        client.logout()
        assert earnings(client)["Location"].startswith(reverse("login"))

    def test_stripe_mode_links_the_express_dashboard(self, client, order, monkeypatch):
        as_user(client, order.seller)
        assert 'data-testid="stripe-dashboard"' not in body(earnings(client))
        monkeypatch.setattr(views, "gateway", lambda: SimpleNamespace(requires_onboarding=True))
        html = body(earnings(client))
        assert re.search(
            r'<a [^>]*href="https://connect.stripe.com/express_login"[^>]*data-testid="stripe-dashboard">'
            r"Open your Stripe Express dashboard",
            html,
        )

    def test_paginated_and_constant_queries(self, client, django_assert_num_queries, monkeypatch):
        gig = gig_with_plan()
        client.force_login(gig.seller)

        def released(count: int) -> None:
            for _ in range(count):
                o = place_order(gig=gig)
                pay(o)
                deliver(o)
                accept(o)

        released(1)
        earnings(client)
        # session, user, payout totals, escrow totals, count, the page of payouts, nav unread
        with django_assert_num_queries(7):
            response = earnings(client)
        assert len(response.context["payouts"]) == 1
        released(4)
        monkeypatch.setattr(views, "EARNINGS_PAGE_SIZE", 3)
        with django_assert_num_queries(7):
            response = earnings(client)
        assert len(response.context["payouts"]) == 3
        assert "Page 1 of 2" in text(response)
        assert re.search(r'data-testid="pending-clearance">\$80<', body(response))  # 5 x $16
        second = client.get(reverse("seller-earnings"), {"page": 2})
        assert len(second.context["payouts"]) == 2


# --- service bugs found while building the pages, fixed ---


def test_a_revision_request_does_not_make_an_on_time_seller_late(client, order):
    m = ms(order, 0)  # Concepts: due 2 days after the start, 3 days to review
    with time_machine.travel(m.due_at - timedelta(hours=12)):
        deliver(order)  # on time
    with time_machine.travel(m.due_at + timedelta(hours=30)):  # the buyer reviews on the 3rd day
        states.milestone_request_revision(milestone_id=m.pk, buyer=order.buyer, reason="Bolder.")
        as_user(client, order.buyer)
        page = client.get(order_url(order))
        response = client.post(url("milestone-cancel-late", order, m), {"confirm": "on"})
    assert 'data-testid="cancel-late-form"' not in body(page)
    assert response.status_code == 302 and not Refund.objects.exists()
    assert ms(order, 0).status == S.REVISION_REQUESTED


def test_with_no_revisions_left_the_buyer_can_ask_to_cancel(order):
    m = ms(order, 0)
    deliver(order)
    states.milestone_request_revision(milestone_id=m.pk, buyer=order.buyer, reason="More.")
    deliver(order)
    assert ms(order, 0).revisions_left == 0
    lifecycle.cancellation_request(milestone_id=m.pk, user=order.buyer, reason="Not what I asked for.")
    assert CancellationRequest.objects.filter(milestone=m, status=CancellationRequest.Status.OPEN).exists()


def test_cancelling_a_milestone_closes_its_open_request(order):
    m = ms(order, 0)
    lifecycle.cancellation_request(milestone_id=m.pk, user=order.seller, reason="Overbooked.")
    with time_machine.travel(m.due_at + timedelta(hours=25)):
        lifecycle.milestone_cancel_late(milestone_id=m.pk, buyer=order.buyer)
    assert not CancellationRequest.objects.filter(status=CancellationRequest.Status.OPEN).exists()


def test_a_request_left_open_on_a_cancelled_milestone_is_not_offered(client, order):
    m = ms(order, 0)
    lifecycle.cancellation_request(milestone_id=m.pk, user=order.seller, reason="Overbooked.")
    with time_machine.travel(m.due_at + timedelta(hours=25)):
        lifecycle.milestone_cancel_late(milestone_id=m.pk, buyer=order.buyer)
    for user in (order.buyer, order.seller):
        html = body(as_user(client, user).get(order_url(order)))
        assert 'data-testid="cancellation-request"' not in html and 'value="decline"' not in html


def test_the_payout_notification_links_the_earnings_page(order):
    deliver(order)
    accept(order)
    payout = Payout.objects.get()
    lifecycle.payouts_clear_sweep(now=payout.clears_at)
    lifecycle.payout_transfer(payout_id=payout.pk)
    sent = Notification.objects.get(user=order.seller, kind="payout_transferred")
    assert sent.url == reverse("seller-earnings") == "/sell/earnings/"
