"""Checkout and order pages: the order button on the gig page, checkout, the local card page (and
the Stripe pay page), the order page from both sides, the receipt, and both order lists with
their query counts. Provider events are applied with factories.process_inbox(), as the worker
would after commit."""

import re
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from gigs import services as gig_services
from gigs.models import Gig
from gigs.tests.factories import GigFactory, UserFactory
from milestones.models import Order, OrderMilestone
from payments import ledger, services
from payments.gateways import ProviderPayment, gateway
from payments.models import LedgerEntry, Payment, Receipt, WebhookEvent
from payments.tests.factories import gig_with_plan, pay, place_order, process_inbox

pytestmark = pytest.mark.django_db

DECLINED = "4000 0000 0000 0002"
SUCCEEDS = "4242 4242 4242 4242"
NEEDS_ACTION = "4000 0025 0000 3155"
# gig_with_plan's Standard package: $20 + $30 + $25; 5.5 % of $75 is $4.125 -> $4.13; $3 under $100.
STANDARD = {"subtotal": 7500, "service_fee": 413, "small_order_fee": 300, "total": 8213}


def body(response) -> str:
    return response.content.decode()


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def text(response) -> str:
    """The page's text without tags, whitespace collapsed, for reading amounts in context."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body(response)))


@pytest.fixture
def gig():
    gig = gig_with_plan()
    gig_services.gig_set_requirements(
        gig=gig, requirements=[("What is your brand name?", True), ("Links you like", False)]
    )
    return Gig.objects.get(pk=gig.pk)


@pytest.fixture
def buyer(client):
    user = UserFactory(username="buyer")
    client.force_login(user)
    return user


def checkout_url(gig, tier="standard") -> str:
    return reverse("order-checkout", args=[gig.slug, tier])


def answers_for(gig, brand="Acme Coffee") -> dict:
    required, optional = gig.requirements.order_by("position")
    return {f"answer_{required.pk}": brand, f"answer_{optional.pk}": ""}


def checkout_post(client, gig, *, token=None, tier="standard", **extra):
    data = {"checkout_token": str(token or uuid.uuid4()), **answers_for(gig), **extra}
    return client.post(checkout_url(gig, tier), data)


# --- gig page -----------------------------------------------------------------------------------


class TestGigPageButtons:
    def test_logged_in_buyer_gets_a_continue_link_per_package(self, client, buyer, gig):
        html = body(client.get(gig.get_absolute_url()))
        links = re.findall(r'data-testid="order-package" href="([^"]+)">Continue \(([^)]+)\)</a>', html)
        assert links == [
            (checkout_url(gig, "basic"), "$35"),
            (checkout_url(gig, "standard"), "$75"),
            (checkout_url(gig, "premium"), "$115"),
        ]

    def test_anonymous_visitor_goes_to_login_then_checkout(self, client, gig):
        html = body(client.get(gig.get_absolute_url()))
        hrefs = re.findall(r'data-testid="order-package" href="([^"]+)"', html)
        assert len(hrefs) == 3
        assert hrefs[1] == f"{reverse('login')}?next={checkout_url(gig)}"
        # Following it: log in, land on the checkout.
        user = UserFactory()
        login_page = client.get(hrefs[1])
        assert login_page.context["next"] == checkout_url(gig)
        response = client.post(
            reverse("login"), {"username": user.username, "password": "pass-word-123", "next": checkout_url(gig)}
        )
        assert response.status_code == 302 and response["Location"] == checkout_url(gig)
        assert client.get(checkout_url(gig)).status_code == 200

    def test_owner_sees_no_order_button(self, client, gig):
        client.force_login(gig.seller)
        html = body(client.get(gig.get_absolute_url()))
        assert 'data-testid="order-package"' not in html and "Continue (" not in html

    def test_nav_links_for_logged_in_users(self, client, buyer):
        html = body(client.get("/"))
        assert f'href="{reverse("my-orders")}">My orders</a>' in html
        assert f'href="{reverse("orders-received")}">Orders received</a>' in html
        client.logout()
        assert "My orders" not in body(client.get("/"))


# --- checkout -----------------------------------------------------------------------------------


class TestCheckoutPage:
    def test_needs_login(self, client, gig):
        response = client.get(checkout_url(gig))
        assert response.status_code == 302
        assert response["Location"] == f"{reverse('login')}?next={checkout_url(gig)}"

    def test_shows_package_milestones_fees_total_and_questions(self, client, buyer, gig):
        response = client.get(checkout_url(gig))
        assert response.status_code == 200
        page = text(response)
        lines = re.findall(r'<tr data-testid="quote-line">(.*?)</tr>', body(response), re.S)
        assert len(lines) == 3
        assert "1. Concepts" in lines[0] and "$20" in lines[0] and "2 days" in lines[0]
        assert "2. Refinement" in lines[1] and "$30" in lines[1] and "Included" in lines[1]  # video call
        assert "3. Final files" in lines[2] and "$25" in lines[2]
        assert "Subtotal $75" in page
        assert "Service fee $4.13" in page
        assert "Small order fee $3" in page
        assert "Total $82.13" in page
        # The seller's commission is the seller's business.
        assert "ommission" not in page and "$15" not in page
        html = body(response)
        assert "What is your brand name?" in html and "Links you like" in html
        token = re.search(r'name="checkout_token" value="([0-9a-f-]{36})"', html).group(1)
        assert uuid.UUID(token)
        # A new token for each visit (TestPlaceOrder: two tabs still give one order).
        again = re.search(r'name="checkout_token" value="([0-9a-f-]{36})"', body(client.get(checkout_url(gig))))
        assert again.group(1) != token

    def test_no_small_order_fee_from_100(self, client, buyer, gig):
        page = text(client.get(checkout_url(gig, "premium")))  # $115
        assert "Small order fee" not in page
        assert "Service fee $6.33" in page and "Total $121.33" in page  # 5.5 % of $115 = $6.325

    def test_unknown_gig_tier_and_draft_are_404(self, client, buyer, gig):
        assert client.get(reverse("order-checkout", args=["nope", "basic"])).status_code == 404
        assert client.get(checkout_url(gig, "platinum")).status_code == 404
        draft = GigFactory(priced=True)
        assert client.get(checkout_url(draft)).status_code == 404


NOT_ON_SALE = "This gig cannot be ordered: it does not exist or is not on sale right now."


def not_found_reason(response) -> str | None:
    """The message of the 404 page (templates/404.html), None when it shows none."""
    assert response.status_code == 404
    assert "Sorry, we couldn’t find that" in body(response)
    found = re.search(r'data-testid="not-found-reason"><strong>([^<]*)</strong>', body(response))
    return found.group(1) if found else None


class TestRefusedCheckoutPages:
    """Refusals that are 404s (the viewer may not see the gig, or it has no such package) show
    the site's 404 page with the reason; nothing is written."""

    def test_a_paused_gig(self, client, buyer, gig):
        gig_services.gig_pause(gig=gig)
        for response in (client.get(checkout_url(gig)), checkout_post(client, gig)):
            assert not_found_reason(response) == NOT_ON_SALE
            assert 'href="/gigs/"' in body(response)  # a way on: the catalog, in the site's layout
            assert "Explore" in text(response) and "My orders" in text(response)
        assert not Order.objects.exists()

    def test_paused_while_the_checkout_page_was_open(self, client, buyer, gig):
        token = re.search(r'name="checkout_token" value="([0-9a-f-]{36})"', body(client.get(checkout_url(gig))))
        gig_services.gig_pause(gig=gig)
        assert not_found_reason(checkout_post(client, gig, token=token.group(1))) == NOT_ON_SALE
        assert not Order.objects.exists()

    def test_a_draft_and_a_missing_gig_look_the_same(self, client, buyer):
        draft = GigFactory(priced=True)
        assert not_found_reason(client.get(checkout_url(draft))) == NOT_ON_SALE
        assert not_found_reason(client.get(reverse("order-checkout", args=["no-such-gig", "basic"]))) == NOT_ON_SALE

    def test_a_package_the_gig_does_not_have(self, client, buyer, gig):
        gig.packages.filter(tier="premium").delete()
        assert not_found_reason(client.get(checkout_url(gig, "premium"))) == "This gig has no such package."
        assert not_found_reason(checkout_post(client, gig, tier="premium")) == "This gig has no such package."
        assert not_found_reason(client.get(checkout_url(gig, "platinum"))) == "This gig has no such package."
        assert not Order.objects.exists()

    def test_someone_elses_order(self, client, buyer):
        order = place_order()
        assert not_found_reason(client.get(reverse("order-detail", args=[order.pk]))) == "No such order."
        assert not_found_reason(client.get(reverse("order-detail", args=[order.pk + 1000]))) == "No such order."

    def test_an_address_nothing_matches_shows_no_internal_name(self, client):
        response = client.get("/no/such/page/")
        assert not_found_reason(response) is None
        assert "Resolver404" not in body(response) and "Http404" not in body(response)

    def test_owner_is_sent_back_to_the_gig(self, client, gig):
        client.force_login(gig.seller)
        response = client.get(checkout_url(gig))
        assert response.status_code == 302 and response["Location"] == gig.get_absolute_url()
        assert messages_of(response) == ["You cannot order your own gig."]
        checkout_post(client, gig)
        assert not Order.objects.exists()


class TestPlaceOrder:
    def test_places_the_order_and_goes_to_the_pay_page(self, client, buyer, gig):
        response = checkout_post(client, gig)
        order = Order.objects.get()
        assert response.status_code == 302 and response["Location"] == reverse("order-pay", args=[order.pk])
        assert (order.buyer, order.seller_id, order.status) == (buyer, gig.seller_id, Order.Status.PENDING_PAYMENT)
        assert order.subtotal_minor == STANDARD["subtotal"] and order.total_minor == STANDARD["total"]
        assert [m.name for m in order.milestones.order_by("position")] == ["Concepts", "Refinement", "Final files"]
        assert order.requirements == [
            {"question": "What is your brand name?", "answer": "Acme Coffee", "required": True},
            {"question": "Links you like", "answer": "", "required": False},
        ]

    def test_a_tampered_price_is_ignored(self, client, buyer, gig):
        checkout_post(
            client, gig, price_minor="1", total_minor="1", subtotal_minor="1", service_fee_minor="0", total="0.01"
        )
        order = Order.objects.get()
        assert (order.subtotal_minor, order.service_fee_minor, order.small_order_fee_minor, order.total_minor) == (
            STANDARD["subtotal"],
            STANDARD["service_fee"],
            STANDARD["small_order_fee"],
            STANDARD["total"],
        )
        assert sum(m.price_minor for m in order.milestones.all()) == 7500

    def test_the_same_checkout_token_twice_gives_one_order(self, client, buyer, gig):
        token = uuid.uuid4()
        first = checkout_post(client, gig, token=token)
        second = checkout_post(client, gig, token=token)
        order = Order.objects.get()
        assert first["Location"] == second["Location"] == reverse("order-pay", args=[order.pk])
        assert messages_of(second) == []  # a double click: nothing to explain
        checkout_post(client, gig, tier="premium")  # another package is another order
        assert Order.objects.count() == 2

    def test_two_tabs_give_one_order_with_the_latest_answers(self, client, buyer, gig):
        tokens = [
            re.search(r'name="checkout_token" value="([0-9a-f-]{36})"', body(client.get(checkout_url(gig)))).group(1)
            for _ in range(2)
        ]
        first = checkout_post(client, gig, token=tokens[0])
        order = Order.objects.get()
        payment = services.payment_start(order=order)
        second = checkout_post(client, gig, token=tokens[1], **answers_for(gig, brand="Acme Tea"))

        assert Order.objects.get() == order
        assert first["Location"] == second["Location"] == reverse("order-pay", args=[order.pk])
        assert messages_of(second) == [
            "You already have this package waiting for payment: we kept that order, with the answers you just "
            "gave, instead of placing a second one."
        ]
        order.refresh_from_db()
        assert str(order.checkout_token) == tokens[0]
        assert order.requirements[0] == {"question": "What is your brand name?", "answer": "Acme Tea", "required": True}
        assert Payment.objects.get() == payment  # one payment, so at most one charge
        assert order.events.filter(reason__startswith="placed again").count() == 1

    def test_after_the_checkout_window_a_new_order_is_placed(self, client, buyer, gig):
        checkout_post(client, gig)
        old = Order.objects.get()
        services.payment_start(order=old)
        with time_machine.travel(old.expires_at + timedelta(seconds=1)):
            response = checkout_post(client, gig)
        new = Order.objects.exclude(pk=old.pk).get()
        assert response["Location"] == reverse("order-pay", args=[new.pk])
        old.refresh_from_db()
        assert old.status == Order.Status.EXPIRED
        # Expired as the sweep would: its intent is canceled, so it cannot be charged as well.
        assert gateway().retrieve_payment(old.payment.provider_payment_id).status == "canceled"

    def test_a_required_question_left_blank_is_shown_on_the_form(self, client, buyer, gig):
        required = gig.requirements.get(required=True)
        token = uuid.uuid4()
        response = checkout_post(client, gig, token=token, **{f"answer_{required.pk}": "   "})
        assert response.status_code == 200
        form = response.context["form"]
        assert form.errors == {f"answer_{required.pk}": ["Answer this question."]}
        html = body(response)
        assert re.search(r'role="alert"[^>]*>Answer this question\.</p>', html)
        assert f'value="{token}"' in html  # the same checkout, retried after fixing the answer
        assert not Order.objects.exists()
        checkout_post(client, gig, token=token)
        assert Order.objects.count() == 1

    def test_a_refused_order_is_shown_and_nothing_written(self, client, buyer, gig, monkeypatch):
        monkeypatch.setattr(services, "seller_can_receive", lambda seller: False)
        response = checkout_post(client, gig)
        assert response.status_code == 200
        assert response.context["form"].non_field_errors() == [
            "This seller cannot receive payments yet. Try again later."
        ]
        assert "This seller cannot receive payments yet." in body(response)
        assert not Order.objects.exists()
        # Said before the buyer fills anything in, too.
        html = body(client.get(checkout_url(gig)))
        assert 'data-testid="cannot-receive"' in html and 'form="checkout-form" disabled>Place order' in html

    def test_a_gig_paused_after_the_page_loaded_is_404(self, client, buyer, gig):
        gig_services.gig_pause(gig=gig)
        assert checkout_post(client, gig).status_code == 404
        assert not Order.objects.exists()


# --- paying -------------------------------------------------------------------------------------


@pytest.fixture
def order(gig, buyer):
    required, optional = gig.requirements.order_by("position")
    return place_order(buyer=buyer, gig=gig, answers={required.pk: "Acme Coffee", optional.pk: ""})


def pay_url(order) -> str:
    return reverse("order-pay", args=[order.pk])


def order_url(order) -> str:
    return reverse("order-detail", args=[order.pk])


class TestPayPage:
    def test_buyer_only(self, client, order):
        client.force_login(order.seller)
        assert client.get(pay_url(order)).status_code == 404
        client.force_login(UserFactory())
        assert client.get(pay_url(order)).status_code == 404
        assert client.post(pay_url(order), {"card_number": SUCCEEDS}).status_code == 404
        assert not Payment.objects.exists()
        client.logout()
        assert client.get(pay_url(order))["Location"].startswith(reverse("login"))

    def test_shows_the_total_and_the_card_form(self, client, order):
        response = client.get(pay_url(order))
        assert response.status_code == 200
        page = text(response)
        assert "Pay $82.13" in page and "Total $82.13" in page
        assert "4242 4242 4242 4242" in page and "4000 0000 0000 0002" in page and "4000 0025 0000 3155" in page
        html = body(response)
        assert 'autocomplete="cc-number"' in html and 'name="expiry"' in html and 'name="cvc"' in html
        assert "js.stripe.com" not in html
        payment = Payment.objects.get(order=order)
        assert (payment.provider, payment.amount_minor) == ("local", STANDARD["total"])
        client.get(pay_url(order))
        assert Payment.objects.count() == 1  # started once

    def test_decline_then_success(self, client, order):
        response = client.post(pay_url(order), {"card_number": DECLINED, "expiry": "12/34", "cvc": "123"})
        assert response.status_code == 200
        assert response.context["card_error"] == "Your card was declined."
        order.refresh_from_db()
        assert order.is_payable
        process_inbox()
        assert Payment.objects.get().status == Payment.Status.FAILED
        # Back on the pay page later: still payable, with the reason of the last attempt.
        response = client.get(pay_url(order))
        assert "Your last attempt did not go through: Your card was declined." in body(response)
        # The order page says so too.
        page = text(client.get(order_url(order)))
        assert "Declined" in page and "Your card was declined." in page and "Pay now" in page

        response = client.post(pay_url(order), {"card_number": SUCCEEDS})
        assert response.status_code == 302 and response["Location"] == order_url(order)
        # Paid at the provider, the inbox not run yet: the order page waits and refreshes.
        response = client.get(order_url(order))
        assert response.context["processing"] is True
        html = body(response)
        assert '<meta http-equiv="refresh" content="2">' in html and "Payment processing…" in html
        process_inbox()
        order.refresh_from_db()
        assert order.status == Order.Status.ACTIVE
        response = client.get(order_url(order))
        assert response.context["processing"] is False and 'http-equiv="refresh"' not in body(response)
        assert ledger.escrow_balance(order) == STANDARD["subtotal"]

    def test_an_invalid_card_number_is_a_field_error(self, client, order):
        response = client.post(pay_url(order), {"card_number": "42"})
        assert response.context["form"].errors == {"card_number": ["Enter the card number: 12 to 19 digits."]}
        assert not WebhookEvent.objects.exists()
        response = client.post(pay_url(order), {"card_number": "4111 1111 1111 1111"})
        assert response.context["card_error"] == "Your card number is incorrect."

    def test_a_card_that_asks_for_confirmation(self, client, order):
        response = client.post(pay_url(order), {"card_number": NEEDS_ACTION})
        assert response.status_code == 302 and response["Location"] == pay_url(order)
        response = client.get(pay_url(order))
        assert response.context["confirm_step"] is True
        html = body(response)
        assert 'value="confirm">Confirm payment</button>' in html and 'value="cancel">Cancel</button>' in html
        assert 'name="card_number"' not in html
        # Cancel: declined, the card form is back.
        response = client.post(pay_url(order), {"action": "cancel"})
        assert response.context["card_error"] == "The payment was not confirmed with your bank."
        assert 'name="card_number"' in body(response)
        # Again, and confirm this time.
        client.post(pay_url(order), {"card_number": NEEDS_ACTION})
        response = client.post(pay_url(order), {"action": "confirm"})
        assert response.status_code == 302 and response["Location"] == order_url(order)
        process_inbox()
        order.refresh_from_db()
        assert order.status == Order.Status.ACTIVE

    def test_a_second_submission_after_success_charges_nothing(self, client, order):
        client.post(pay_url(order), {"card_number": SUCCEEDS})
        # The inbox has not run: the pay page sends the buyer to the order page.
        assert client.get(pay_url(order))["Location"] == order_url(order)
        response = client.post(pay_url(order), {"card_number": SUCCEEDS})
        assert response["Location"] == order_url(order)
        process_inbox()
        assert WebhookEvent.objects.filter(type="payment_intent.succeeded").count() == 1
        assert LedgerEntry.objects.filter(account=ledger.escrow(order.pk)).count() == 1

    def test_a_paid_order_redirects_to_the_order_page(self, client, order):
        pay(order)
        response = client.get(pay_url(order))
        assert response.status_code == 302 and response["Location"] == order_url(order)
        assert messages_of(response) == ["This order is already paid."]

    def test_an_expired_order_redirects_with_a_message(self, client, order):
        Order.objects.filter(pk=order.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
        assert services.orders_expire_sweep() == 1
        response = client.get(pay_url(order))
        assert response.status_code == 302 and response["Location"] == order_url(order)
        assert "expired" in messages_of(response)[0]
        assert not Payment.objects.exists()
        assert "This order expired before it was paid." in body(client.get(order_url(order)))

    def test_stripe_mode_renders_the_payment_element(self, client, order, settings, monkeypatch):
        class FakeStripe:
            name = "stripe"
            requires_onboarding = False

            def create_payment(self, **kwargs):
                return ProviderPayment("pi_123", "pi_123_secret_abc", "requires_payment_method", 8213, "USD")

            def retrieve_payment(self, payment_id):
                return ProviderPayment("pi_123", "pi_123_secret_abc", "requires_payment_method", 8213, "USD")

        settings.PAYMENT_PROVIDER = "stripe"
        settings.STRIPE_PUBLISHABLE_KEY = "pk_test_123"
        monkeypatch.setattr(services, "gateway", FakeStripe)
        response = client.get(pay_url(order))
        html = body(response)
        assert '<script src="https://js.stripe.com/v3/"></script>' in html
        assert "js/checkout.js" in html
        assert 'data-stripe-key="pk_test_123"' in html and 'data-client-secret="pi_123_secret_abc"' in html
        assert f'data-return-url="http://testserver{order_url(order)}"' in html
        assert 'name="card_number"' not in html
        assert Payment.objects.get().provider == "stripe"


# --- the order page and the receipt -------------------------------------------------------------


class TestOrderPage:
    def test_buyer_and_seller_only(self, client, order):
        client.force_login(UserFactory())
        assert client.get(order_url(order)).status_code == 404
        assert client.get(reverse("order-receipt", args=[order.pk])).status_code == 404
        assert client.get(reverse("order-detail", args=[order.pk + 1000])).status_code == 404
        client.logout()
        assert client.get(order_url(order))["Location"].startswith(reverse("login"))

    def test_buyer_before_payment(self, client, order):
        response = client.get(order_url(order))
        page = text(response)
        assert "Awaiting payment" in page and "Pay now" in page
        states = re.findall(r'data-testid="escrow-state">([^<]+)<', body(response))
        assert states == ["awaiting payment"] * 3
        assert "Subtotal $75" in page and "Service fee $4.13" in page and "Total $82.13" in page
        assert "What is your brand name? Acme Coffee" in page and "Links you like No answer" in page
        assert "ommission" not in page and "No payment yet." in page
        assert response.context["receipt"] is None and "Receipt" not in page

    def test_buyer_after_payment(self, client, order):
        pay(order)
        response = client.get(order_url(order))
        page = text(response)
        assert "In progress" in page
        states = re.findall(r'data-testid="escrow-state">([^<]+)<', body(response))
        assert states == ["held in escrow"] * 3
        assert "Escrow: held in escrow · $75 held" in page
        assert "Succeeded" in page
        rows = re.findall(r'<tr data-testid="order-milestone">(.*?)</tr>', body(response), re.S)
        assert "In progress" in rows[0] and "Not started" in rows[1] and "Included" in rows[1]
        receipt = Receipt.objects.get(order=order)
        assert f"Receipt {receipt.number}" in page

    def test_seller_sees_amounts_after_commission(self, client, order):
        pay(order)
        client.force_login(order.seller)
        response = client.get(order_url(order))
        page = text(response)
        # 20 % of $20, $30, $25.
        rows = re.findall(r'<tr data-testid="order-milestone">(.*?)</tr>', body(response), re.S)
        assert re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", rows[0])).count("$16") == 1
        assert "−$4" in rows[0] and "$24" in rows[1] and "$20" in rows[2]
        assert "Commission (20%) −$15" in page and "You receive $60" in page
        assert "Service fee" not in page and "$82.13" not in page
        assert "buyer buyer" in page.lower()  # the buyer's public name
        assert "Escrow: held in escrow · $75 held" in page

    def test_the_seller_sees_the_order_once_it_is_paid(self, client, buyer):
        order = place_order(buyer=buyer, gig=gig_with_plan())
        client.force_login(order.seller)
        assert client.get(order_url(order)).status_code == 404
        pay(order)
        assert client.get(order_url(order)).status_code == 200

    def test_odd_amounts_round_per_milestone(self, client, buyer):
        gig = gig_with_plan()
        order = place_order(buyer=buyer, gig=gig)
        pay(order)
        OrderMilestone.objects.filter(order=order, position=0).update(price_minor=1999)
        client.force_login(order.seller)
        lines = client.get(order_url(order)).context["rows"]
        assert (lines[0]["line"].commission_minor, lines[0]["line"].net_minor) == (400, 1599)


class TestReceipt:
    def test_404_until_paid(self, client, order):
        assert client.get(reverse("order-receipt", args=[order.pk])).status_code == 404

    def test_printable_receipt_for_buyer_and_seller(self, client, order):
        pay(order)
        receipt = Receipt.objects.get(order=order)
        for user in (order.buyer, order.seller):
            client.force_login(user)
            response = client.get(reverse("order-receipt", args=[order.pk]))
            assert response.status_code == 200
            page = text(response)
            assert f"Receipt {receipt.number}" in page and re.fullmatch(r"R-\d{6}", receipt.number)
            assert timezone.localtime(receipt.issued_at).strftime("%B %-d, %Y") in page
            assert "Buyer Buyer (buyer@example.com)" in page
            assert f"Seller {order.seller.public_name}" in page
            lines = re.findall(r'data-testid="receipt-line"><td>([^<]+)</td><td class="num">([^<]+)<', body(response))
            assert lines == [("1. Concepts", "$20"), ("2. Refinement", "$30"), ("3. Final files", "$25")]
            assert "Service fee $4.13" in page and "Small order fee $3" in page and "Total paid $82.13" in page
            assert 'class="btn btn-ghost no-print"' in body(response)

    def test_receipt_numbers_are_sequential(self, buyer, gig):
        first, second = place_order(buyer=buyer, gig=gig), place_order(buyer=buyer, gig=gig, tier="premium")
        pay(second)
        pay(first)
        a, b = Receipt.objects.get(order=second), Receipt.objects.get(order=first)
        assert int(b.number[2:]) == int(a.number[2:]) + 1


def test_print_styles_hide_the_site_chrome():
    from django.contrib.staticfiles import finders

    css = Path(finders.find("css/site.css")).read_text(encoding="utf-8")
    block = css[css.index("@media print") :]
    assert ".topbar" in block and ".no-print" in block


# --- lists --------------------------------------------------------------------------------------


def orders_for(buyer, gig, count: int, paid: int = 0) -> list[Order]:
    """`count` Standard orders of `buyer` from `gig`'s seller, the first `paid` of them paid. A
    buyer has one unpaid order per gig and package (checkout returns it), so an order is placed
    on `gig` when the buyer has none unpaid there, else on another gig of the seller's with the
    same plan."""
    orders = []
    for _ in range(count):
        free = not Order.objects.filter(buyer=buyer, gig=gig, status=Order.Status.PENDING_PAYMENT).exists()
        orders.append(place_order(buyer=buyer, gig=gig if free else gig_with_plan(seller=gig.seller)))
    for o in orders[:paid]:
        pay(o)
    return orders


class TestOrderLists:
    def test_my_orders(self, client, buyer, gig):
        unpaid, paid = orders_for(buyer, gig, 2, paid=0)
        pay(paid)
        place_order(gig=gig)  # someone else's
        response = client.get(reverse("my-orders"))
        rows = response.context["rows"]
        assert [r["order"] for r in rows] == [paid, unpaid]  # newest first
        assert [r["amount_minor"] for r in rows] == [STANDARD["total"]] * 2
        assert [r["escrow_minor"] for r in rows] == [STANDARD["subtotal"], 0]
        page = text(response)
        assert "$82.13" in page and "$75" in page and "awaiting payment" in page and "Pay now" in page

    def test_orders_received_show_the_amount_after_commission(self, client, buyer, gig):
        orders_for(buyer, gig, 2, paid=1)
        client.force_login(gig.seller)
        response = client.get(reverse("orders-received"))
        rows = response.context["rows"]
        # Only the paid order: a checkout the buyer left unpaid is not the seller's business.
        assert [r["amount_minor"] for r in rows] == [6000]
        assert [r["escrow_minor"] for r in rows] == [7500]
        page = text(response)
        assert "You receive" in page and "$60" in page and "$82.13" not in page
        # The buyer has received nothing.
        client.force_login(buyer)
        assert client.get(reverse("orders-received")).context["rows"] == []

    def test_paginated(self, client, buyer, gig):
        from payments import views

        orders = orders_for(buyer, gig, 3)
        views_page_size, views.ORDER_PAGE_SIZE = views.ORDER_PAGE_SIZE, 2
        try:
            first = client.get(reverse("my-orders"))
            second = client.get(reverse("my-orders"), {"page": 2})
        finally:
            views.ORDER_PAGE_SIZE = views_page_size
        assert [r["order"] for r in first.context["rows"]] == orders[:0:-1]
        assert [r["order"] for r in second.context["rows"]] == [orders[0]]
        assert "Page 1 of 2" in text(first) and 'rel="next"' in body(first)

    def test_login_required(self, client):
        for name in ("my-orders", "orders-received"):
            assert client.get(reverse(name))["Location"].startswith(reverse("login"))

    @pytest.mark.parametrize("name,as_seller", [("my-orders", False), ("orders-received", True)])
    def test_query_count_does_not_grow(self, client, django_assert_num_queries, name, as_seller):
        gig = gig_with_plan()
        buyer = UserFactory()
        client.force_login(gig.seller if as_seller else buyer)
        orders_for(buyer, gig, 1, paid=1)
        # session, user, count, orders with parties/payment/receipt, their milestones (and
        # payouts), escrow balances, the nav's unread notifications
        with django_assert_num_queries(7):
            response = client.get(reverse(name))
        assert len(response.context["rows"]) == 1
        orders_for(buyer, gig, 6, paid=3)
        with django_assert_num_queries(7):
            response = client.get(reverse(name))
        assert len(response.context["rows"]) == (4 if as_seller else 7)  # sellers see paid orders only


def test_pay_page_when_the_provider_is_down(client, order, monkeypatch):
    from payments.exceptions import ProviderUnavailable

    def down(**kwargs):
        raise ProviderUnavailable("timeout")

    monkeypatch.setattr(services, "payment_start", down)
    response = client.get(pay_url(order))
    assert response.status_code == 503
    assert "The payment service cannot be reached right now." in body(response)
    assert "Total $82.13" in text(response)
