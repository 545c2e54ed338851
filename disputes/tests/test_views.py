"""The parties' dispute pages through the test client: the order page's links, opening a dispute
(the form, its errors, which change nothing), the dispute page for each party and stage (answer,
thread with files, offers accepted and declined, withdrawal, the outcome), "My disputes" with
constant queries, the evidence files (parties and staff only, as attachments, never under
MEDIA_URL), and a 404 for anyone else on every page, form and file."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from disputes import services
from disputes.models import Dispute, DisputeEvidence, DisputeMessage, SettlementOffer
from disputes.tests.helpers import open_dispute, open_order_dispute
from gigs.tests.factories import UserFactory
from milestones.models import Order, OrderMilestone
from payments.models import Payout, Refund
from payments.tests.test_lifecycle import accept, deliver, fresh, milestones_of, paid_order

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("books")]

S = OrderMilestone.Status
DS = Dispute.Status


def body(response) -> str:
    return response.content.decode()


def text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body(response)))


def said(response) -> str:
    return [str(m) for m in get_messages(response.wsgi_request)][-1]


def upload(name="proof.png", content=b"\x89PNG proof"):
    return SimpleUploadedFile(name, content, content_type="image/png")


def as_(client, user):
    client.force_login(user)
    return client


def page_url(d: Dispute, tail: str = "") -> str:
    return reverse("dispute-detail", args=[d.pk]) + tail


def open_url(m: OrderMilestone) -> str:
    return reverse("dispute-open", args=[m.pk])


def open_data(**kw) -> dict:
    return {
        "reason": "not_as_described",
        "description": "Not the logo we agreed on.",
        "outcome_wanted": "full_refund",
        "amount_wanted": "",
        **kw,
    }


def snapshot() -> tuple:
    """Everything a refused step must leave as it was."""
    return (
        list(Dispute.objects.values_list("pk", "status", "response", "amount_wanted_minor").order_by("pk")),
        DisputeEvidence.objects.count(),
        DisputeMessage.objects.count(),
        list(SettlementOffer.objects.values_list("pk", "status").order_by("pk")),
        list(OrderMilestone.objects.values_list("pk", "status").order_by("pk")),
        Refund.objects.count(),
        Payout.objects.count(),
    )


@pytest.fixture
def dispute(delivered) -> Dispute:
    return open_dispute(delivered, files=[upload("opening.png")])


# --- the order page -----------------------------------------------------------------------------


class TestOrderPage:
    def order_page(self, client, order, user):
        return as_(client, user).get(reverse("order-detail", args=[order.pk]))

    def test_disputable_milestones_offer_to_open_one(self, client, order, delivered):
        for user in (order.buyer, order.seller):
            html = body(self.order_page(client, order, user))
            assert html.count('data-testid="open-dispute"') == 1  # the one started milestone
            assert f'href="{open_url(delivered)}"' in html
            assert 'data-testid="view-dispute"' not in html

    def test_a_disputed_milestone_links_to_its_dispute(self, client, order, dispute):
        html = body(self.order_page(client, order, order.seller))
        assert 'data-testid="open-dispute"' not in html
        target = reverse("milestone-dispute", args=[dispute.milestone_id])
        assert f'href="{target}"' in html
        response = client.get(target)
        assert response.status_code == 302 and response["Location"] == page_url(dispute)

    def test_accepted_pending_clearance_is_disputable_until_it_clears(self, client, order, delivered):
        accept(delivered)
        html = body(self.order_page(client, order, order.buyer))
        assert f'href="{open_url(delivered)}"' in html and "while its money is pending clearance" in html
        Payout.objects.filter(milestone=delivered).update(status=Payout.Status.AVAILABLE)
        html = body(self.order_page(client, order, order.buyer))
        assert f'href="{open_url(delivered)}"' not in html  # milestone 2, in progress, still is
        assert f'href="{open_url(milestones_of(order)[1])}"' in html
        page = client.get(open_url(delivered))
        assert page.status_code == 200 and 'data-testid="dispute-open-form"' not in body(page)
        assert "has cleared: it can no longer be disputed" in text(page)

    def test_the_milestone_link_is_404_without_a_dispute_or_for_strangers(self, client, order, dispute):
        other = milestones_of(order)[1]
        as_(client, order.buyer)
        assert client.get(reverse("milestone-dispute", args=[other.pk])).status_code == 404
        as_(client, UserFactory())
        assert client.get(reverse("milestone-dispute", args=[dispute.milestone_id])).status_code == 404


# --- opening ------------------------------------------------------------------------------------


class TestOpen:
    def test_the_form(self, client, order, delivered):
        page = as_(client, order.buyer).get(open_url(delivered))
        assert page.status_code == 200
        html, words = body(page), text(page)
        assert "Open a dispute on milestone 1" in words and "$20" in words
        assert '<label for="id_reason">Reason' in html
        assert '<label for="id_description">What went wrong?' in html
        assert "<legend>Outcome you want" in html and 'value="partial_refund"' in html
        assert '<label for="id_amount_wanted">Amount to refund' in html and "up to $20" in words
        assert 'type="file" name="files"' in html and "multiple" in html
        assert 'enctype="multipart/form-data"' in html

    def test_the_buyer_opens_with_evidence(self, client, order, delivered):
        response = as_(client, order.buyer).post(
            open_url(delivered), open_data(files=[upload("a.png"), upload("b.pdf", b"%PDF")])
        )
        d = Dispute.objects.get()
        assert response.status_code == 302 and response["Location"] == page_url(d)
        assert "Dispute opened: milestone 1 is on hold. The seller has until" in said(response)
        assert (d.status, d.opened_by, d.reason, d.outcome_wanted) == (
            DS.AWAITING_RESPONSE,
            order.buyer,
            "not_as_described",
            "full_refund",
        )
        assert d.amount_wanted_minor is None
        assert sorted(d.evidence.values_list("name", flat=True)) == ["a.png", "b.pdf"]
        assert fresh(delivered).status == S.DISPUTED

    def test_a_partial_refund_amount_is_parsed_like_any_price(self, client, order, delivered):
        as_(client, order.seller).post(
            open_url(delivered), open_data(outcome_wanted="partial_refund", amount_wanted="12.50")
        )
        d = Dispute.objects.get()
        assert (d.opened_by, d.outcome_wanted, d.amount_wanted_minor) == (order.seller, "partial_refund", 1250)

    def test_an_amount_with_another_outcome_is_ignored(self, client, order, delivered):
        as_(client, order.buyer).post(open_url(delivered), open_data(outcome_wanted="redo", amount_wanted="5"))
        assert Dispute.objects.get().amount_wanted_minor is None

    @pytest.mark.parametrize(
        "data,field,message",
        [
            ({"reason": ""}, "reason", "Choose a reason."),
            ({"reason": "bored"}, "reason", "Select a valid choice."),
            ({"description": "  "}, "description", "Describe the problem."),
            ({"outcome_wanted": ""}, "outcome_wanted", "Choose the outcome you want."),
            ({"outcome_wanted": "partial_refund"}, "amount_wanted", "Say how much you want refunded."),
            ({"outcome_wanted": "partial_refund", "amount_wanted": "12.505"}, "amount_wanted", "at most 2 decimal"),
            ({"outcome_wanted": "partial_refund", "amount_wanted": "-3"}, "amount_wanted", "without a sign"),
            ({"outcome_wanted": "partial_refund", "amount_wanted": "20.01"}, "amount_wanted", "At most $20."),
            ({"files": [upload("virus.exe")]}, "files", "virus.exe: files of this type are not accepted."),
        ],
    )
    def test_bad_input_is_shown_and_changes_nothing(self, client, order, delivered, data, field, message):
        before = snapshot()
        response = as_(client, order.buyer).post(open_url(delivered), open_data(**data))
        assert response.status_code == 200
        errors = response.context["form"].errors
        assert field in errors and message in " ".join(errors[field]), errors
        assert 'role="alert"' in body(response)
        assert snapshot() == before
        assert fresh(delivered).status == S.DELIVERED

    def test_a_refusal_from_the_service_is_shown_on_the_form(self, client, order, delivered):
        # The milestone is accepted and its money already transferred while the form was open.
        accept(delivered)
        Payout.objects.filter(milestone=delivered).update(status=Payout.Status.TRANSFERRED)
        before = snapshot()
        response = as_(client, order.buyer).post(open_url(delivered), open_data())
        assert response.status_code == 200
        assert "can no longer be disputed" in " ".join(response.context["form"].non_field_errors())
        assert snapshot() == before

    def test_an_open_dispute_is_shown_instead_of_a_second_form(self, client, order, dispute):
        response = as_(client, order.seller).get(open_url(dispute.milestone))
        assert response.status_code == 302 and response["Location"] == page_url(dispute)
        before = snapshot()
        as_(client, order.seller).post(open_url(dispute.milestone), open_data())
        assert snapshot() == before

    def test_a_locked_milestone_cannot_be_disputed(self, client, order):
        locked = milestones_of(order)[1]
        page = as_(client, order.buyer).get(open_url(locked))
        assert "Milestone 2 is not started" in text(page)
        assert 'data-testid="dispute-open-form"' not in body(page)
        before = snapshot()
        response = client.post(open_url(locked), open_data())
        assert "Milestone 2 is not started" in " ".join(response.context["form"].non_field_errors())
        assert snapshot() == before

    def test_strangers_get_404_and_anonymous_users_log_in(self, client, order, delivered):
        as_(client, UserFactory())
        assert client.get(open_url(delivered)).status_code == 404
        assert client.post(open_url(delivered), open_data()).status_code == 404
        assert client.get(reverse("dispute-open", args=[delivered.pk + 1000])).status_code == 404
        client.logout()
        assert client.get(open_url(delivered))["Location"].startswith(reverse("login"))
        assert not Dispute.objects.exists()


# --- the dispute page ---------------------------------------------------------------------------


class TestPage:
    def test_what_the_opener_sees(self, client, order, dispute):
        response = as_(client, order.buyer).get(page_url(dispute))
        assert response.status_code == 200
        words, ctx = text(response), response.context
        assert f"Dispute #{dispute.pk}: milestone 1, Concepts" in words
        assert "Awaiting response" in words and "Work not as described" in words and "Full refund" in words
        assert "At stake $20" in words
        assert "Waiting for the seller's answer until" in words
        assert "You opened the dispute" in words and "The logo is not what we agreed." in words
        assert ctx["respond_form"] is None  # the other party answers
        assert ctx["message_form"] is not None and ctx["offer_form"] is not None
        assert ctx["withdraw_form"] is not None
        ev = dispute.evidence.get()
        assert f'href="{reverse("dispute-evidence", args=[dispute.pk, ev.pk])}"' in body(response)

    def test_what_the_other_party_sees(self, client, order, dispute):
        response = as_(client, order.seller).get(page_url(dispute))
        words, ctx = text(response), response.context
        assert "The buyer opened this dispute. Answer by" in words
        assert f"The buyer ({order.buyer.public_name}) opened the dispute" in words
        assert ctx["respond_form"] is not None and ctx["withdraw_form"] is None
        assert '<label for="respond-statement">Your answer' in body(response)

    def test_the_other_party_answers_with_evidence(self, client, order, dispute, clock):
        clock.shift(timedelta(hours=2))
        response = as_(client, order.seller).post(
            page_url(dispute, "respond/"), {"statement": "I delivered what we agreed.", "files": [upload("chat.png")]}
        )
        assert response.status_code == 302 and response["Location"] == page_url(dispute)
        assert said(response) == "Your answer is posted: the platform reviews the dispute now."
        d = fresh(dispute)
        assert (d.status, d.response) == (DS.UNDER_REVIEW, "I delivered what we agreed.")
        page = client.get(page_url(dispute))
        assert page.context["respond_form"] is None
        posts = page.context["posts"]
        assert [(p["kind"], p["who"], [f.name for f in p["files"]]) for p in posts] == [
            ("opened", f"The buyer ({order.buyer.public_name})", ["opening.png"]),
            ("response", "You", ["chat.png"]),
        ]
        assert "The platform is reviewing this dispute" in text(page)

    def test_an_empty_answer_is_an_error_and_changes_nothing(self, client, order, dispute):
        before = snapshot()
        response = as_(client, order.seller).post(page_url(dispute, "respond/"), {"statement": " "})
        assert response.status_code == 200
        assert response.context["respond_form"].errors["statement"] == ["Write your answer."]
        assert snapshot() == before

    def test_the_opener_cannot_answer(self, client, order, dispute):
        before = snapshot()
        response = as_(client, order.buyer).post(page_url(dispute, "respond/"), {"statement": "Me too."})
        assert response.status_code == 302 and said(response) == "The other party answers this dispute."
        assert snapshot() == before

    def test_after_the_response_window_the_form_is_gone_and_a_post_is_refused(self, client, order, dispute, clock):
        clock.shift(timedelta(days=5, minutes=1))
        page = as_(client, order.seller).get(page_url(dispute))
        assert page.context["respond_form"] is None and "The time to answer is over" in text(page)
        before = snapshot()
        response = client.post(page_url(dispute, "respond/"), {"statement": "Late."})
        assert said(response) == "The time to answer is over: the dispute is with the platform now."
        assert snapshot() == before

    def test_the_thread_with_files(self, client, order, dispute, clock):
        clock.shift(timedelta(minutes=5))
        response = as_(client, order.seller).post(
            page_url(dispute, "messages/"), {"body": "Here is the brief.", "files": [upload("brief.pdf", b"%PDF")]}
        )
        assert response.status_code == 302 and said(response) == "Message posted."
        clock.shift(timedelta(minutes=5))
        as_(client, order.buyer).post(page_url(dispute, "messages/"), {"body": "Thanks."})
        page = client.get(page_url(dispute))
        posts = [(p["kind"], p["who"], p["text"], [f.name for f in p["files"]]) for p in page.context["posts"]]
        assert posts[1:] == [
            ("message", f"The seller ({order.seller.public_name})", "Here is the brief.", ["brief.pdf"]),
            ("message", "You", "Thanks.", []),
        ]
        assert page.context["other_files"] == []
        assert body(page).count('data-testid="dispute-post"') == 3

    def test_an_empty_message_is_an_error_and_a_bad_file_changes_nothing(self, client, order, dispute):
        before = snapshot()
        response = as_(client, order.buyer).post(page_url(dispute, "messages/"), {"body": ""})
        assert response.context["message_form"].errors["body"] == ["Write a message."]
        response = client.post(page_url(dispute, "messages/"), {"body": "See this.", "files": [upload("x.exe")]})
        assert response.status_code == 200
        assert response.context["message_form"].errors["files"] == ["x.exe: files of this type are not accepted."]
        assert snapshot() == before

    def test_staff_read_the_page_and_write_to_the_thread(self, client, order, dispute):
        agent = UserFactory(is_staff=True)
        agent.user_permissions.add(Permission.objects.get(codename="view_dispute"))
        page = as_(client, agent).get(page_url(dispute))
        assert page.status_code == 200
        ctx = page.context
        assert ctx["offer_form"] is None and ctx["withdraw_form"] is None and ctx["respond_form"] is None
        client.post(page_url(dispute, "messages/"), {"body": "Please both send the brief."})
        page = client.get(page_url(dispute))
        assert page.context["posts"][-1]["who"] == "You"
        as_(client, order.buyer)
        assert "The platform" in [p["who"] for p in client.get(page_url(dispute)).context["posts"]]

    def test_staff_without_the_permission_are_strangers(self, client, dispute):
        as_(client, UserFactory(is_staff=True))
        assert client.get(page_url(dispute)).status_code == 404

    def test_a_withdrawn_dispute_has_no_forms(self, client, order, dispute):
        response = as_(client, order.buyer).post(page_url(dispute, "withdraw/"), {"note": "We talked."})
        assert said(response) == "Dispute withdrawn: the milestone goes on where it was."
        assert fresh(dispute).status == DS.WITHDRAWN and fresh(dispute.milestone).status == S.DELIVERED
        page = client.get(page_url(dispute))
        ctx = page.context
        assert all(ctx[f] is None for f in ("respond_form", "message_form", "offer_form", "withdraw_form"))
        assert "This dispute was withdrawn" in text(page)

    def test_only_the_opener_withdraws(self, client, order, dispute):
        before = snapshot()
        response = as_(client, order.seller).post(page_url(dispute, "withdraw/"), {})
        assert said(response) == "Only the party who opened the dispute can withdraw it."
        assert snapshot() == before


class TestOffers:
    def test_propose_then_the_other_party_declines(self, client, order, dispute):
        response = as_(client, order.seller).post(page_url(dispute, "offers/"), {"seller_amount": "15"})
        assert said(response) == (
            "Offer sent: $15 to the seller, $5 refunded to the buyer. The other party accepts or declines it."
        )
        offer = SettlementOffer.objects.get()
        assert (offer.seller_amount_minor, offer.proposed_by) == (1500, order.seller)
        seller_view = client.get(page_url(dispute))
        assert seller_view.context["offer_rows"][0]["answerable"] is False
        buyer_view = as_(client, order.buyer).get(page_url(dispute))
        assert buyer_view.context["offer_rows"][0]["answerable"] is True
        assert "Accepting resolves the dispute: $15 is released to the seller and $5 refunded" in text(buyer_view)
        answer = reverse("dispute-offer-answer", args=[dispute.pk, offer.pk])
        response = client.post(answer, {"answer": "decline"})
        assert said(response) == "Offer declined. The dispute goes on."
        assert fresh(offer).status == SettlementOffer.Status.DECLINED and fresh(dispute).is_active

    def test_accepting_resolves_and_shows_the_outcome(self, client, order, dispute):
        as_(client, order.buyer).post(page_url(dispute, "offers/"), {"seller_amount": "12.50"})
        offer = SettlementOffer.objects.get()
        as_(client, order.seller)
        before = snapshot()
        refused = client.post(reverse("dispute-offer-answer", args=[dispute.pk, offer.pk]), {"answer": "maybe"})
        assert said(refused) == "Choose Accept or Decline." and snapshot() == before
        response = client.post(reverse("dispute-offer-answer", args=[dispute.pk, offer.pk]), {"answer": "accept"})
        assert said(response) == (
            "Settlement accepted: $12.50 to the seller, $7.50 refunded to the buyer. The dispute is resolved."
        )
        d = fresh(dispute)
        assert (d.status, d.resolution_action, d.seller_amount_minor, d.refund_amount_minor) == (
            DS.RESOLVED,
            "settled",
            1250,
            750,
        )
        seller_page = client.get(page_url(dispute))
        words = text(seller_page)
        assert "Settled by the parties" in words and "To the seller $12.50" in words
        assert "you receive $10 after commission, pending clearance until" in words
        assert seller_page.context["message_form"] is None and seller_page.context["offer_form"] is None
        buyer_page = as_(client, order.buyer).get(page_url(dispute))
        assert "Refunded to you $7.50" in text(buyer_page)
        assert buyer_page.context["refund"] is not None

    def test_the_proposer_cannot_accept_and_bad_amounts_change_nothing(self, client, order, dispute):
        as_(client, order.buyer).post(page_url(dispute, "offers/"), {"seller_amount": "5"})
        offer = SettlementOffer.objects.get()
        before = snapshot()
        response = client.post(reverse("dispute-offer-answer", args=[dispute.pk, offer.pk]), {"answer": "accept"})
        assert said(response) == "The other party accepts your offer."
        for amount, message in [("", "Enter the amount"), ("abc", "Enter a number."), ("20.01", "Between 0 and $20.")]:
            response = client.post(page_url(dispute, "offers/"), {"seller_amount": amount})
            assert response.status_code == 200
            assert message in " ".join(response.context["offer_form"].errors["seller_amount"])
        assert snapshot() == before

    def test_an_offer_of_another_dispute_is_404(self, client, order, dispute):
        other = paid_order()
        m = milestones_of(other)[0]
        deliver(m)
        theirs = open_dispute(m)
        offer = services.settlement_propose(dispute_id=theirs.pk, user=other.seller, seller_amount_minor=100)
        before = snapshot()
        as_(client, order.buyer)
        assert (
            client.post(reverse("dispute-offer-answer", args=[dispute.pk, offer.pk]), {"answer": "accept"}).status_code
            == 404
        )
        assert snapshot() == before


class TestResolvedByAnAdmin:
    def test_a_split_shows_the_refund_to_the_buyer_and_the_share_to_the_seller(self, client, order, dispute, staff):
        services.dispute_resolve(
            dispute_id=dispute.pk, admin=staff, action="split", seller_amount_minor=800, note="Half done, roughly."
        )
        buyer = as_(client, order.buyer).get(page_url(dispute))
        words = text(buyer)
        assert "Resolved" in words and "Decision Split" in words
        assert "To the seller $8" in words and "Refunded to you $12" in words
        assert "Note Half done, roughly." in words and "by the platform" in words
        assert buyer.context["refund"].amount_minor == 1200
        seller = as_(client, order.seller).get(page_url(dispute))
        assert "Refunded to the buyer $12" in text(seller)
        assert "you receive $6.40 after commission, pending clearance until" in text(seller)

    def test_the_order_page_counts_a_split_as_released_and_refunded(self, client, order, dispute, staff):
        services.dispute_resolve(
            dispute_id=dispute.pk, admin=staff, action="split", seller_amount_minor=800, note="Half done, roughly."
        )
        page = as_(client, order.buyer).get(reverse("order-detail", args=[order.pk]))
        summary = re.search(r'data-testid="money-summary">(.*?)</p>', body(page), re.S).group(1)
        summary = re.sub(r"<[^>]+>", "", summary)
        assert summary == "Released to the seller: $8 · Refunded to you: $12"


# --- everyone else ------------------------------------------------------------------------------


class TestStrangers:
    def test_every_page_form_and_file_is_404(self, client, order, dispute):
        offer = services.settlement_propose(dispute_id=dispute.pk, user=order.seller, seller_amount_minor=1000)
        ev = dispute.evidence.get()
        before = snapshot()
        for stranger in (UserFactory(), UserFactory(is_staff=True)):
            as_(client, stranger)
            assert client.get(page_url(dispute)).status_code == 404
            assert client.get(reverse("dispute-evidence", args=[dispute.pk, ev.pk])).status_code == 404
            assert client.get(reverse("milestone-dispute", args=[dispute.milestone_id])).status_code == 404
            posts = [
                ("respond/", {"statement": "Me."}),
                ("messages/", {"body": "Hello."}),
                ("offers/", {"seller_amount": "1"}),
                ("withdraw/", {}),
                (f"offers/{offer.pk}/answer/", {"answer": "accept"}),
            ]
            for tail, data in posts:
                assert client.post(page_url(dispute, tail), data).status_code == 404, tail
            assert client.get(reverse("my-disputes")).context["rows"] == []
        assert snapshot() == before

    def test_a_missing_dispute_is_404_and_anonymous_users_log_in(self, client, order, dispute):
        as_(client, order.buyer)
        assert client.get(reverse("dispute-detail", args=[dispute.pk + 1000])).status_code == 404
        client.logout()
        for target in (page_url(dispute), reverse("my-disputes")):
            assert client.get(target)["Location"].startswith(reverse("login"))

    def test_reads_are_get_only_and_writes_post_only(self, client, order, dispute):
        as_(client, order.buyer)
        assert client.post(page_url(dispute)).status_code == 405
        assert client.get(page_url(dispute, "messages/")).status_code == 405


# --- evidence files -----------------------------------------------------------------------------


class TestEvidence:
    def test_the_parties_and_staff_download_it_as_an_attachment(self, client, order, dispute):
        ev = dispute.evidence.get()
        target = reverse("dispute-evidence", args=[dispute.pk, ev.pk])
        agent = UserFactory(is_staff=True)
        agent.user_permissions.add(Permission.objects.get(codename="view_dispute"))
        for user in (order.buyer, order.seller, agent):
            response = as_(client, user).get(target)
            assert response.status_code == 200
            assert b"".join(response.streaming_content) == b"\x89PNG proof"
            assert response["Content-Disposition"] == 'attachment; filename="opening.png"'
            assert response["Cache-Control"] == "private, no-store"

    def test_a_file_of_another_dispute_or_missing_is_404(self, client, order, dispute):
        other = paid_order()
        m = milestones_of(other)[0]
        deliver(m)
        theirs = open_dispute(m, files=[upload("theirs.png")]).evidence.get()
        as_(client, order.buyer)
        assert client.get(reverse("dispute-evidence", args=[dispute.pk, theirs.pk])).status_code == 404
        mine = dispute.evidence.get()
        mine.file.storage.delete(mine.file.name)
        assert client.get(reverse("dispute-evidence", args=[dispute.pk, mine.pk])).status_code == 404

    def test_it_is_not_served_under_media_url(self, client, order, dispute, settings):
        ev = dispute.evidence.get()
        assert ev.file.storage.exists(ev.file.name)
        as_(client, order.buyer)
        assert client.get(settings.MEDIA_URL + ev.file.name).status_code == 404
        assert client.get(ev.file.url).status_code == 404
        assert settings.MEDIA_URL not in body(client.get(page_url(dispute)))


# --- My disputes --------------------------------------------------------------------------------


def disputed_orders(buyer, n: int) -> list[Dispute]:
    out = []
    for _ in range(n):
        order = paid_order(buyer=buyer)
        m = milestones_of(order)[0]
        deliver(m)
        out.append(open_dispute(m))
    return out


class TestMyDisputes:
    def test_lists_both_roles_newest_first(self, client, order, dispute):
        mine = disputed_orders(order.seller, 1)[0]  # the seller bought something too
        response = as_(client, order.seller).get(reverse("my-disputes"))
        assert [r["dispute"] for r in response.context["rows"]] == [mine, dispute]
        assert [r["role"] for r in response.context["rows"]] == ["buyer", "seller"]
        words = text(response)
        assert "My disputes" in words and "answer by" in words and "$20" in words
        assert f'href="{page_url(dispute)}"' in body(response)
        assert as_(client, UserFactory()).get(reverse("my-disputes")).context["rows"] == []

    def test_the_account_navigation_links_to_it(self, client, order):
        html = body(as_(client, order.buyer).get(reverse("my-orders")))
        assert f'<a href="{reverse("my-disputes")}">Disputes</a>' in html

    def test_query_count_does_not_grow(self, client, django_assert_num_queries, clock):
        buyer = UserFactory()
        disputed_orders(buyer, 1)
        as_(client, buyer)
        # session, user, count, disputes with orders/parties/profiles/milestones, the nav's unread
        # notifications
        with django_assert_num_queries(5):
            response = client.get(reverse("my-disputes"))
        assert len(response.context["rows"]) == 1
        disputed_orders(buyer, 6)
        open_order_dispute(paid_order(buyer=buyer))  # a whole-order dispute too (no milestone)
        with django_assert_num_queries(5):
            response = client.get(reverse("my-disputes"))
        assert len(response.context["rows"]) == 8


def test_the_dispute_page_queries_do_not_grow_with_the_thread(client, order, dispute, django_assert_num_queries):
    as_(client, order.buyer)
    client.get(page_url(dispute))
    # session, user, dispute with order/parties/milestone, messages, evidence, offers, the nav's
    # unread notifications
    with django_assert_num_queries(7):
        client.get(page_url(dispute))
    for i in range(4):
        services.dispute_message_post(dispute_id=dispute.pk, user=order.seller, body=f"{i}", files=[upload(f"{i}.png")])
        services.settlement_propose(dispute_id=dispute.pk, user=order.buyer, seller_amount_minor=100 * i)
    with django_assert_num_queries(7):
        response = client.get(page_url(dispute))
    assert body(response).count('data-testid="dispute-post"') == 5
    assert len(response.context["offer_rows"]) == 4
    assert Order.objects.count() == 1


def test_a_chargeback_without_a_milestone_renders_without_forms(client, order):
    """A chargeback concerns the whole order (no milestone) and is decided by the card network."""
    d = Dispute.objects.create(
        kind="chargeback",
        order=order,
        milestone=None,
        opened_by=order.buyer,
        reason=Dispute.Reason.OTHER,
        description="The cardholder disputed the charge.",
        outcome_wanted=Dispute.Outcome.FULL_REFUND,
        status=DS.UNDER_REVIEW,
        provider_dispute_id="du_pages_test",
    )
    for user in (order.buyer, order.seller):
        page = as_(client, user).get(page_url(d))
        assert page.status_code == 200
        assert "A chargeback: the buyer disputed the card payment with their bank." in text(page)
        assert f"Dispute #{d.pk}" in text(page) and "At stake" not in text(page)
        ctx = page.context
        assert all(ctx[f] is None for f in ("respond_form", "message_form", "offer_form", "withdraw_form"))
        rows = client.get(reverse("my-disputes")).context["rows"]
        assert [r["dispute"] for r in rows] == [d]
    as_(client, UserFactory())
    assert client.get(page_url(d)).status_code == 404
