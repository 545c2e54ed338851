"""Idempotency keys unique to the installation (payments.keys): the prefix, where it comes from
(the Installation row or IDEMPOTENCY_KEY_PREFIX), its cache, and what it prevents: a database
reset, or a second installation on the same Stripe account, being handed another order's
PaymentIntent or another user's connected account for the same primary key."""

import re

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, connection, transaction

from gigs.tests.factories import UserFactory
from milestones.models import Order
from payments import keys, services
from payments.connect import connect_onboarding_start
from payments.models import ConnectedAccount, Installation, LocalPaymentIntent, Payment
from payments.tests.factories import gig_with_plan, place_order
from payments.tests.stripe_fake import FakeStripe, stripe_mode
from payments.tests.test_lifecycle_stripe import onboarded_gig, process

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake(settings) -> FakeStripe:
    with stripe_mode(settings) as fake:
        yield fake


def become_installation(monkeypatch, key: str) -> None:
    """This process now speaks for another installation (its cached id replaced)."""
    monkeypatch.setattr(keys, "_installation_key", key)


def fresh_installation(monkeypatch) -> str:
    """The database starts over: no Installation row and nothing cached; the next key makes one."""
    Installation.objects.all().delete()
    monkeypatch.setattr(keys, "_installation_key", None)
    return keys.installation_id()


class TestTheKey:
    def test_is_the_installation_id_then_the_parts(self):
        key = keys.idempotency_key("order", 12, "payment")
        assert key == f"{Installation.objects.get().key}:order-12-payment"
        assert re.fullmatch(r"[A-Za-z0-9_-]{12}:order-12-payment", key)

    def test_is_the_same_on_every_call_and_read_once_per_process(self, django_assert_num_queries):
        first = keys.idempotency_key("payout", 3, "transfer")
        with django_assert_num_queries(0):
            assert keys.idempotency_key("payout", 3, "transfer") == first

    def test_two_installations_send_different_keys_for_the_same_pk(self, monkeypatch):
        become_installation(monkeypatch, "staging-aaaa")
        staging = [keys.idempotency_key("order", 7, "payment"), keys.idempotency_key("user", 7, "connect-account")]
        become_installation(monkeypatch, "laptop-bbbbb")
        laptop = [keys.idempotency_key("order", 7, "payment"), keys.idempotency_key("user", 7, "connect-account")]
        assert staging == ["staging-aaaa:order-7-payment", "staging-aaaa:user-7-connect-account"]
        assert laptop == ["laptop-bbbbb:order-7-payment", "laptop-bbbbb:user-7-connect-account"]

    def test_the_setting_overrides_the_installation_row(self, settings):
        settings.IDEMPOTENCY_KEY_PREFIX = "staging"
        assert keys.idempotency_key("order", 7, "payment") == "staging:order-7-payment"
        settings.IDEMPOTENCY_KEY_PREFIX = "dev-ann"
        assert keys.idempotency_key("order", 7, "payment") == "dev-ann:order-7-payment"

    @pytest.mark.parametrize("prefix", ["has space", "a:b", "x" * 41])
    def test_a_bad_setting_is_refused(self, settings, prefix):
        settings.IDEMPOTENCY_KEY_PREFIX = prefix
        with pytest.raises(ImproperlyConfigured):
            keys.idempotency_key("order", 7, "payment")

    def test_needs_a_part(self):
        with pytest.raises(ValueError):
            keys.idempotency_key()


class TestTheInstallationRow:
    def test_is_made_on_first_use_when_missing_and_remembered_once_committed(
        self, monkeypatch, django_capture_on_commit_callbacks
    ):
        Installation.objects.all().delete()
        monkeypatch.setattr(keys, "_installation_key", None)

        with django_capture_on_commit_callbacks(execute=True):
            made = keys.installation_id()
            # Inside the (test's) transaction: not remembered until it commits.
            assert keys._installation_key is None
            assert keys.installation_id() == made  # read back from the row
        assert Installation.objects.get().key == made and keys._installation_key == made
        assert re.fullmatch(r"[A-Za-z0-9_-]{12}", made)

    def test_a_fresh_database_gets_a_new_random_id(self, monkeypatch):
        before = keys.installation_id()
        assert fresh_installation(monkeypatch) != before

    def test_there_is_only_one(self):
        keys.installation_id()
        with pytest.raises(IntegrityError), transaction.atomic():  # the check constraint
            Installation.objects.create(pk=2, key="another-one")


def test_the_local_provider_gets_the_same_prefixed_key():
    order = place_order()
    payment = services.payment_start(order=order)
    intent = LocalPaymentIntent.objects.get(pk=payment.provider_payment_id)
    assert intent.idempotency_key == keys.idempotency_key("order", order.pk, "payment")
    assert intent.idempotency_key.startswith(f"{keys.installation_id()}:")


# --- Stripe: a database reset within Stripe's 24 h key memory -------------------------------------


def paid_order_then_reset(fake: FakeStripe, gig) -> tuple[int, int, str]:
    """Place and pay an order on Stripe, then reset the database: the rows are gone (rolled back)
    and the order id sequence starts again, while Stripe keeps the intent and its key. Returns
    the old order's (pk, total, intent id)."""
    reset = transaction.savepoint()
    order = place_order(gig=gig)
    payment = services.payment_start(order=order)
    fake.confirm_payment(payment.provider_payment_id)
    process(fake.last_event("payment_intent.succeeded"))
    assert Order.objects.get(pk=order.pk).status == Order.Status.ACTIVE
    transaction.savepoint_rollback(reset)
    with connection.cursor() as cursor:  # the next order gets the same id again
        cursor.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s, false)", [Order._meta.db_table, order.pk])
    assert not Order.objects.filter(pk=order.pk).exists()
    return order.pk, order.total_minor, payment.provider_payment_id


def test_after_a_database_reset_the_next_order_with_the_same_id_gets_a_new_payment_intent(fake, monkeypatch):
    gig = onboarded_gig(fake)
    old_pk, old_total, old_intent = paid_order_then_reset(fake, gig)
    fresh_installation(monkeypatch)

    order = place_order(gig=gig)
    assert (order.pk, order.total_minor) == (old_pk, old_total)  # same id, same amount
    payment = services.payment_start(order=order)

    assert payment.provider_payment_id != old_intent
    assert payment.status == Payment.Status.REQUIRES_PAYMENT
    intent = fake.payment_intents[payment.provider_payment_id]
    assert (intent["status"], intent["amount"]) == ("requires_payment_method", old_total)
    old_key, new_key = [r.idempotency_key for r in fake.posts("/v1/payment_intents")]
    assert old_key != new_key == keys.idempotency_key("order", order.pk, "payment")
    assert fake.payment_intents[old_intent]["status"] == "succeeded"  # the old one, untouched
    assert Order.objects.get(pk=order.pk).status == Order.Status.PENDING_PAYMENT


def test_without_a_new_installation_id_the_reset_order_would_get_the_old_paid_intent(fake):
    """What the prefix prevents (and proof that the fake replays the key): the same installation
    id, as two databases would share when keys were built from primary keys alone."""
    gig = onboarded_gig(fake)
    old_pk, _, old_intent = paid_order_then_reset(fake, gig)

    order = place_order(gig=gig)
    assert order.pk == old_pk
    payment = services.payment_start(order=order)
    assert payment.provider_payment_id == old_intent
    assert fake.payment_intents[old_intent]["status"] == "succeeded"


def test_a_fresh_installation_gives_a_user_with_the_same_id_a_new_connect_account(fake, monkeypatch):
    user = UserFactory()
    start = {"user": user, "refresh_url": "https://x/refresh", "return_url": "https://x/return"}
    connect_onboarding_start(**start)
    first = ConnectedAccount.objects.get(user=user).stripe_account_id
    ConnectedAccount.objects.all().delete()  # the database starts over; the user id comes again
    fresh_installation(monkeypatch)

    connect_onboarding_start(**start)
    second = ConnectedAccount.objects.get(user=user).stripe_account_id
    assert second != first and len(fake.accounts) == 2
    assert [r.idempotency_key.split(":", 1)[1] for r in fake.posts("/v1/accounts")] == [
        f"user-{user.pk}-connect-account"
    ] * 2


def test_the_same_installation_keeps_its_connect_account(fake):
    gig = gig_with_plan()
    start = {"user": gig.seller, "refresh_url": "https://x/refresh", "return_url": "https://x/return"}
    connect_onboarding_start(**start)
    ConnectedAccount.objects.all().delete()  # lost the row, same installation: Stripe replays the key
    connect_onboarding_start(**start)
    assert len(fake.accounts) == 1
