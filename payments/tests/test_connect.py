"""Seller onboarding: the services (payments.connect) and the payments settings pages, in local
mode (nothing to onboard) and in Stripe mode through the real SDK and the fake."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.urls import reverse

from gigs.tests.factories import UserFactory
from payments import connect, services
from payments.connect import connect_account_refresh, connect_onboarding_start
from payments.exceptions import ProviderUnavailable
from payments.gateways.stripe_gateway import MAX_NETWORK_RETRIES
from payments.keys import idempotency_key
from payments.models import ConnectedAccount
from payments.tests.stripe_fake import stripe_mode

pytestmark = pytest.mark.django_db

SETTINGS_URL = "/sell/payments/"
RETURN_URL = "/sell/payments/return/"
REFRESH_URL = "/sell/payments/refresh/"


@pytest.fixture
def fake(settings):
    with stripe_mode(settings) as fake:
        yield fake


@pytest.fixture
def seller(client):
    user = UserFactory()
    client.force_login(user)
    return user


def start(user) -> str:
    return connect_onboarding_start(user=user, refresh_url="https://x/refresh", return_url="https://x/return")


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_urls():
    assert reverse("seller-payments") == SETTINGS_URL
    assert reverse("seller-payments-return") == RETURN_URL
    assert reverse("seller-payments-refresh") == REFRESH_URL


@pytest.mark.parametrize("url", [SETTINGS_URL, RETURN_URL, REFRESH_URL])
def test_pages_need_a_login(client, url):
    response = client.get(url)
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


# --- local mode ---------------------------------------------------------------------------------


class TestLocalMode:
    def test_services_store_nothing(self):
        user = UserFactory()
        assert start(user) == "https://x/return"
        assert connect_account_refresh(user=user) is None
        assert not ConnectedAccount.objects.exists()

    def test_page_says_no_onboarding_is_needed(self, client, seller):
        response = client.get(SETTINGS_URL)
        assert response.status_code == 200
        html = response.content.decode()
        assert "Payments settings" in html
        assert "Payments work without onboarding" in html and "local payment provider" in html
        assert "Set up payouts with Stripe" not in html

    @pytest.mark.parametrize("method,url", [("post", SETTINGS_URL), ("get", RETURN_URL), ("get", REFRESH_URL)])
    def test_onboarding_urls_lead_back_to_the_page(self, client, seller, method, url):
        response = getattr(client, method)(url)
        assert (response.status_code, response.url) == (302, SETTINGS_URL)
        assert not ConnectedAccount.objects.exists()


# --- Stripe mode: services ----------------------------------------------------------------------


class TestOnboardingService:
    def test_first_start_creates_the_account_once_then_links(self, fake):
        user = UserFactory()
        url = start(user)

        account = ConnectedAccount.objects.get(user=user)
        assert url == fake.account_links[-1]["url"]
        assert fake.account_links[-1]["account"] == account.stripe_account_id
        assert (fake.account_links[-1]["refresh_url"], fake.account_links[-1]["return_url"]) == (
            "https://x/refresh",
            "https://x/return",
        )
        [request] = fake.posts("/v1/accounts")
        assert request.idempotency_key == idempotency_key("user", user.pk, "connect-account")
        stripe_account = fake.accounts[account.stripe_account_id]
        assert stripe_account["metadata"] == {"user_id": str(user.pk)}
        assert stripe_account["email"] == user.email
        assert not account.transfers_active

        second = start(user)
        assert second != url  # a fresh link each time...
        assert len(fake.accounts) == 1 and len(fake.posts("/v1/accounts")) == 1  # ...for the same account

    def test_each_seller_gets_their_own_account(self, fake):
        a, b = UserFactory(), UserFactory()
        start(a)
        start(b)
        assert len(fake.accounts) == 2
        assert (
            ConnectedAccount.objects.get(user=a).stripe_account_id
            != ConnectedAccount.objects.get(user=b).stripe_account_id
        )

    def test_a_crash_after_stripe_created_the_account_does_not_make_a_second(self, fake):
        user = UserFactory()
        fake.fail_next(1 + MAX_NETWORK_RETRIES, error="connection", after_processing=True)
        with pytest.raises(ProviderUnavailable):
            start(user)
        assert not ConnectedAccount.objects.exists() and len(fake.accounts) == 1

        start(user)
        assert ConnectedAccount.objects.get(user=user).stripe_account_id == next(iter(fake.accounts))
        assert len(fake.accounts) == 1

    def test_refresh_stores_what_stripe_says(self, fake):
        user = UserFactory()
        assert connect_account_refresh(user=user) is None  # never started
        start(user)
        account_id = ConnectedAccount.objects.get(user=user).stripe_account_id

        fake.update_account(account_id, details_submitted=True, capabilities={"transfers": "pending"})
        account = connect_account_refresh(user=user)
        assert account.details_submitted and not account.transfers_active

        fake.complete_onboarding(account_id)
        connect_account_refresh(user=user)
        account = ConnectedAccount.objects.get(user=user)
        assert (account.details_submitted, account.charges_enabled, account.payouts_enabled) == (True, True, True)
        assert account.transfers_active

    def test_refresh_keeps_an_account_updated_applied_while_stripe_was_read(self, fake, monkeypatch):
        """The read began before a newer account.updated was applied: what it read is older and
        must not overwrite it."""
        user = UserFactory()
        start(user)
        account_id = ConnectedAccount.objects.get(user=user).stripe_account_id
        fake.update_account(account_id, details_submitted=True, capabilities={"transfers": "pending"})
        provider = connect.gateway()
        read_before = provider.retrieve_account(account_id)  # what Stripe answers the slow read
        fake.complete_onboarding(account_id)
        newer = dict(fake.last_event("account.updated"), created=int(time.time()) + 5)

        class SlowRead:
            def retrieve_account(self, stripe_account_id):
                row, _ = services.webhook_event_store(event=newer, source="connect")
                services.webhook_event_process(event_pk=row.pk)  # a worker, meanwhile
                return read_before

        monkeypatch.setattr(connect, "gateway", SlowRead)
        account = connect_account_refresh(user=user)
        assert account.transfers_active and account.charges_enabled
        assert account.state_as_of == newer["created"]
        stored = ConnectedAccount.objects.get(user=user)
        assert (stored.transfers_active, stored.state_as_of) == (True, newer["created"])

        # An older stored state is replaced by the read, stamped with when the read began.
        monkeypatch.undo()
        ConnectedAccount.objects.filter(user=user).update(state_as_of=1_000, transfers_active=False)
        before = int(time.time())
        account = connect_account_refresh(user=user)
        assert account.transfers_active and before <= account.state_as_of <= int(time.time())

    def test_refresh_during_an_outage_changes_nothing(self, fake):
        user = UserFactory()
        start(user)
        fake.complete_onboarding(ConnectedAccount.objects.get(user=user).stripe_account_id)
        fake.fail_next(10)
        with pytest.raises(ProviderUnavailable):
            connect_account_refresh(user=user)
        assert not ConnectedAccount.objects.get(user=user).transfers_active


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_first_starts_end_with_one_account(settings):
    """Two tabs click "Set up payouts" at once: one Stripe account (same key), one row."""
    with stripe_mode(settings) as fake:
        user = UserFactory()
        barrier = threading.Barrier(2)

        def click() -> str:
            barrier.wait()
            try:
                return start(user)
            finally:
                connection.close()

        with ThreadPoolExecutor(2) as pool:
            urls = [f.result() for f in [pool.submit(click), pool.submit(click)]]  # re-raises a thread's error

        assert len(set(urls)) == 2
        assert len(fake.accounts) == 1
        assert ConnectedAccount.objects.get(user=user).stripe_account_id == next(iter(fake.accounts))


# --- Stripe mode: pages -------------------------------------------------------------------------


class TestPages:
    def test_not_started(self, fake, client, seller):
        html = client.get(SETTINGS_URL).content.decode()
        assert "Not started" in html
        assert "Set up payouts with Stripe" in html and "Continue onboarding" not in html
        assert fake.requests == []  # showing the page calls nobody

    def test_set_up_redirects_to_stripe_onboarding(self, fake, client, seller):
        response = client.post(SETTINGS_URL)

        account = ConnectedAccount.objects.get(user=seller)
        link = fake.account_links[-1]
        assert (response.status_code, response.url) == (302, link["url"])
        assert link["account"] == account.stripe_account_id
        assert link["refresh_url"] == "http://testserver" + REFRESH_URL
        assert link["return_url"] == "http://testserver" + RETURN_URL

    def test_details_pending_offers_to_continue(self, fake, client, seller):
        client.post(SETTINGS_URL)
        html = client.get(SETTINGS_URL).content.decode()
        assert "Details pending" in html and "Continue onboarding" in html
        client.post(SETTINGS_URL)
        assert len(fake.accounts) == 1 and len(fake.account_links) == 2

    def test_return_after_finishing_shows_ready(self, fake, client, seller):
        client.post(SETTINGS_URL)
        fake.complete_onboarding(ConnectedAccount.objects.get(user=seller).stripe_account_id)

        response = client.get(RETURN_URL)
        assert (response.status_code, response.url) == (302, SETTINGS_URL)
        assert messages_of(response) == ["Your Stripe account is ready: you can receive payments."]
        assert ConnectedAccount.objects.get(user=seller).transfers_active
        html = client.get(SETTINGS_URL).content.decode()
        assert "Ready to receive payments" in html
        assert "Continue onboarding" not in html and "Set up payouts with Stripe" not in html

    def test_return_before_finishing_says_what_is_missing(self, fake, client, seller):
        client.post(SETTINGS_URL)
        response = client.get(RETURN_URL)
        assert response.url == SETTINGS_URL
        assert messages_of(response) == ["Stripe still needs some details before you can receive payments."]
        assert not ConnectedAccount.objects.get(user=seller).transfers_active

    def test_refresh_hands_out_a_new_link(self, fake, client, seller):
        first = client.post(SETTINGS_URL).url
        response = client.get(REFRESH_URL)
        assert response.status_code == 302 and response.url == fake.account_links[-1]["url"] != first

    def test_refresh_never_creates_an_account(self, fake, client, seller):
        response = client.get(REFRESH_URL)
        assert response.url == SETTINGS_URL
        assert fake.requests == [] and not ConnectedAccount.objects.exists()

    def test_outage_shows_an_error_and_stores_nothing(self, fake, client, seller):
        fake.fail_next(10)
        response = client.post(SETTINGS_URL)
        assert (response.status_code, response.url) == (302, SETTINGS_URL)
        assert messages_of(response) == ["Stripe could not be reached. Try again in a minute."]
        assert not ConnectedAccount.objects.exists()

    def test_outage_on_return_keeps_the_account_as_it_was(self, fake, client, seller):
        client.post(SETTINGS_URL)
        fake.complete_onboarding(ConnectedAccount.objects.get(user=seller).stripe_account_id)
        fake.fail_next(10)
        response = client.get(RETURN_URL)
        assert response.url == SETTINGS_URL
        assert "could not check your Stripe account" in messages_of(response)[0]
        assert not ConnectedAccount.objects.get(user=seller).transfers_active

    def test_each_seller_sees_only_their_own_account(self, fake, client, seller):
        other = UserFactory()
        start(other)
        fake.complete_onboarding(ConnectedAccount.objects.get(user=other).stripe_account_id)
        connect_account_refresh(user=other)
        html = client.get(SETTINGS_URL).content.decode()
        assert "Not started" in html and "Ready to receive payments" not in html

    def test_page_query_count_is_fixed(self, fake, client, seller, django_assert_num_queries):
        client.post(SETTINGS_URL)
        with django_assert_num_queries(4):  # session, user, account, the nav's unread notifications
            assert client.get(SETTINGS_URL).status_code == 200
