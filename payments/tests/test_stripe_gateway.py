"""StripeGateway driven through the real `stripe` SDK against the stateful fake at its HTTP layer:
what each call sends (parameters, idempotency keys), what it returns, how outages surface; then
the fake's own rules (refunds, transfers, reversals, idempotency), which later transfer and
refund work relies on."""

import json
import time

import pytest
import stripe

from payments.exceptions import InvalidSignature, ProviderUnavailable
from payments.gateways.base import AccountState
from payments.gateways.stripe_gateway import MAX_NETWORK_RETRIES, StripeGateway
from payments.tests.stripe_fake import API_KEY, FakeStripe, make_event, signature_header


@pytest.fixture
def fake() -> FakeStripe:
    return FakeStripe()


@pytest.fixture
def gw(fake) -> StripeGateway:
    return StripeGateway(secret_key=API_KEY, http_client=fake)


@pytest.fixture
def sdk(fake) -> stripe.StripeClient:
    """The bare SDK on the fake, for the calls the gateway does not make yet (refunds, transfers)."""
    return stripe.StripeClient(API_KEY, http_client=fake)


def new_payment(gw, *, key="order-1-payment", amount=7500, currency="USD", order_id=1):
    return gw.create_payment(
        amount_minor=amount,
        currency=currency,
        order_id=order_id,
        transfer_group=f"order-{order_id}",
        idempotency_key=key,
    )


# --- payment intents --------------------------------------------------------------------------


class TestCreatePayment:
    def test_sends_the_intent_with_the_callers_idempotency_key(self, gw, fake):
        payment = new_payment(gw, key="order-7-payment", amount=7913, currency="EUR", order_id=7)

        [request] = fake.posts("/v1/payment_intents")
        assert request.idempotency_key == "order-7-payment"
        assert request.params == {
            "amount": "7913",
            "currency": "eur",
            "transfer_group": "order-7",
            "metadata": {"order_id": "7"},
            "automatic_payment_methods": {"enabled": "true"},
        }
        intent = fake.payment_intents[payment.id]
        assert (payment.amount_minor, payment.currency, payment.status) == (7913, "EUR", "requires_payment_method")
        assert payment.client_secret == intent["client_secret"] and payment.client_secret.startswith(payment.id)
        assert payment.charge_id == ""

    def test_same_key_and_arguments_return_the_same_intent(self, gw, fake):
        first = new_payment(gw)
        again = new_payment(gw)
        assert again == first
        assert len(fake.payment_intents) == 1

    def test_same_key_with_other_arguments_is_refused(self, gw, fake):
        new_payment(gw, amount=7500)
        with pytest.raises(stripe.IdempotencyError):
            new_payment(gw, amount=8000)
        assert [i["amount"] for i in fake.payment_intents.values()] == [7500]

    def test_other_keys_make_other_intents(self, gw, fake):
        a = new_payment(gw, key="order-1-payment", order_id=1)
        b = new_payment(gw, key="order-2-payment", order_id=2)
        assert a.id != b.id and len(fake.payment_intents) == 2


class TestRetrieveAndCancel:
    def test_retrieve_shows_the_charge_once_paid(self, gw, fake):
        payment = new_payment(gw)
        assert gw.retrieve_payment(payment.id).status == "requires_payment_method"
        intent = fake.confirm_payment(payment.id)

        paid = gw.retrieve_payment(payment.id)
        assert paid.status == "succeeded"
        assert paid.charge_id == intent["latest_charge"] and paid.charge_id.startswith("ch_")
        assert (paid.amount_minor, paid.currency) == (7500, "USD")

    def test_retrieve_unknown_intent_is_an_error_not_an_outage(self, gw):
        with pytest.raises(stripe.InvalidRequestError) as exc:
            gw.retrieve_payment("pi_missing")
        assert exc.value.code == "resource_missing"

    def test_cancel_with_key_and_again(self, gw, fake):
        payment = new_payment(gw)
        canceled = gw.cancel_payment(payment.id, idempotency_key="order-1-cancel")
        assert canceled.status == "canceled"
        assert fake.payment_intents[payment.id]["status"] == "canceled"
        assert fake.posts(f"/v1/payment_intents/{payment.id}/cancel")[0].idempotency_key == "order-1-cancel"
        # A retry (same key) and a later call (other key) both end on the canceled intent.
        assert gw.cancel_payment(payment.id, idempotency_key="order-1-cancel").status == "canceled"
        assert gw.cancel_payment(payment.id, idempotency_key="other").status == "canceled"
        with pytest.raises(ValueError):
            fake.confirm_payment(payment.id)  # a canceled intent can no longer be paid

    def test_cancel_of_a_paid_intent_returns_it_paid(self, gw, fake):
        payment = new_payment(gw)
        intent = fake.confirm_payment(payment.id)
        result = gw.cancel_payment(payment.id, idempotency_key="order-1-cancel")
        assert (result.status, result.charge_id) == ("succeeded", intent["latest_charge"])
        assert fake.payment_intents[payment.id]["status"] == "succeeded"


# --- Connect ------------------------------------------------------------------------------------


class TestAccounts:
    def test_create_account_is_platform_controlled_express_with_transfers(self, gw, fake):
        state = gw.create_account(user_id=42, email="seller@example.com", idempotency_key="user-42-connect-account")

        [request] = fake.posts("/v1/accounts")
        assert request.idempotency_key == "user-42-connect-account"
        assert request.params == {
            "controller": {
                "fees": {"payer": "application"},
                "losses": {"payments": "application"},
                "stripe_dashboard": {"type": "express"},
                "requirement_collection": "stripe",
            },
            "capabilities": {"transfers": {"requested": "true"}, "card_payments": {"requested": "true"}},
            "metadata": {"user_id": "42"},
            "email": "seller@example.com",
        }
        assert state == AccountState(state.id, False, False, False, False)
        assert fake.accounts[state.id]["capabilities"] == {"transfers": "inactive", "card_payments": "inactive"}

    def test_same_key_returns_the_same_account(self, gw, fake):
        a = gw.create_account(user_id=1, email="a@example.com", idempotency_key="user-1-connect-account")
        b = gw.create_account(user_id=1, email="a@example.com", idempotency_key="user-1-connect-account")
        assert a.id == b.id and len(fake.accounts) == 1

    def test_each_account_link_is_fresh_onboarding(self, gw, fake):
        account = gw.create_account(user_id=1, email="a@example.com", idempotency_key="k")
        urls = [
            gw.create_account_link(account_id=account.id, refresh_url="https://x/refresh", return_url="https://x/back")
            for _ in range(2)
        ]
        assert urls[0] != urls[1]
        assert [link["url"] for link in fake.account_links] == urls
        request = fake.posts("/v1/account_links")[0]
        assert request.params == {
            "account": account.id,
            "refresh_url": "https://x/refresh",
            "return_url": "https://x/back",
            "type": "account_onboarding",
        }

    def test_link_for_unknown_account_is_an_error(self, gw):
        with pytest.raises(stripe.InvalidRequestError):
            gw.create_account_link(account_id="acct_missing", refresh_url="https://x/r", return_url="https://x/b")

    def test_retrieve_follows_the_transfers_capability(self, gw, fake):
        account_id = gw.create_account(user_id=1, email="a@example.com", idempotency_key="k").id

        fake.update_account(account_id, details_submitted=True, capabilities={"transfers": "pending"})
        state = gw.retrieve_account(account_id)
        assert state.details_submitted and not state.transfers_active

        fake.complete_onboarding(account_id)
        assert gw.retrieve_account(account_id) == AccountState(account_id, True, True, True, True)

        fake.update_account(account_id, capabilities={"transfers": "inactive"})  # Stripe wants more details
        assert not gw.retrieve_account(account_id).transfers_active


# --- outages ------------------------------------------------------------------------------------


class TestOutages:
    @pytest.mark.parametrize("error", ["api_error", "connection"])
    def test_persistent_failure_is_provider_unavailable_after_the_sdks_retries(self, gw, fake, error):
        fake.fail_next(10, error=error)
        with pytest.raises(ProviderUnavailable):
            new_payment(gw)
        requests = fake.posts("/v1/payment_intents")
        assert len(requests) == 1 + MAX_NETWORK_RETRIES
        assert {r.idempotency_key for r in requests} == {"order-1-payment"}
        assert fake.payment_intents == {}

    def test_rate_limit_is_provider_unavailable(self, gw, fake):
        account_id = gw.create_account(user_id=1, email="", idempotency_key="k").id
        fake.fail_next(1, error="rate_limit")
        with pytest.raises(ProviderUnavailable):
            gw.retrieve_account(account_id)

    @pytest.mark.parametrize(
        "call",
        [
            lambda gw: gw.retrieve_payment("pi_x"),
            lambda gw: gw.cancel_payment("pi_x", idempotency_key="k"),
            lambda gw: gw.create_account(user_id=1, email="", idempotency_key="k"),
            lambda gw: gw.create_account_link(account_id="acct_x", refresh_url="https://x", return_url="https://x"),
            lambda gw: gw.retrieve_account("acct_x"),
        ],
    )
    def test_every_call_maps_outages(self, gw, fake, call):
        fake.fail_next(10)
        with pytest.raises(ProviderUnavailable):
            call(gw)

    def test_a_transient_failure_is_retried_by_the_sdk_with_the_same_key(self, gw, fake):
        fake.fail_next(1)
        payment = new_payment(gw)
        assert list(fake.payment_intents) == [payment.id]
        assert [r.idempotency_key for r in fake.posts("/v1/payment_intents")] == ["order-1-payment"] * 2

    def test_a_lost_answer_then_a_retry_creates_nothing_twice(self, gw, fake):
        # Stripe made the intent but every answer was lost: the caller sees an outage...
        fake.fail_next(1 + MAX_NETWORK_RETRIES, error="connection", after_processing=True)
        with pytest.raises(ProviderUnavailable):
            new_payment(gw)
        assert len(fake.payment_intents) == 1
        # ... and its later retry (a Celery retry, a second click) gets that same intent.
        payment = new_payment(gw)
        assert list(fake.payment_intents) == [payment.id]

    def test_a_wrong_api_key_is_not_an_outage(self, fake):
        with pytest.raises(stripe.AuthenticationError):
            new_payment(StripeGateway(secret_key="sk_test_wrong", http_client=fake))


# --- webhook verification -----------------------------------------------------------------------

SECRET = "whsec_unit"


class TestConstructEvent:
    def event_body(self) -> str:
        return json.dumps(make_event("payment_intent.succeeded", {"id": "pi_1", "object": "payment_intent"}))

    def test_valid_signature_returns_the_event_as_sent(self, gw):
        body = self.event_body()
        event = gw.construct_event(body.encode(), signature_header(body, SECRET), SECRET)
        assert event == json.loads(body) and type(event) is dict

    @pytest.mark.parametrize(
        "header",
        [
            "",
            "garbage",
            "t=1,v1=deadbeef",
            signature_header("{}", SECRET),  # another body's signature
            signature_header("x", "whsec_other"),
        ],
    )
    def test_bad_or_missing_signature(self, gw, header):
        with pytest.raises(InvalidSignature):
            gw.construct_event(self.event_body().encode(), header, SECRET)

    def test_timestamps_older_than_the_tolerance_are_refused(self, gw, settings):
        body = self.event_body()
        fresh = signature_header(body, SECRET, timestamp=int(time.time()) - 250)
        assert gw.construct_event(body.encode(), fresh, SECRET)["id"]
        with pytest.raises(InvalidSignature):
            gw.construct_event(body.encode(), signature_header(body, SECRET, int(time.time()) - 301), SECRET)
        settings.WEBHOOK_TOLERANCE_SECONDS = 100
        with pytest.raises(InvalidSignature):
            gw.construct_event(body.encode(), fresh, SECRET)

    def test_an_unset_secret_refuses_everything(self, gw):
        body = self.event_body()
        with pytest.raises(InvalidSignature):
            gw.construct_event(body.encode(), signature_header(body, ""), "")

    @pytest.mark.parametrize("body", ["not json", "[1, 2]", '{"object": "event"}', '{"id": ""}'])
    def test_a_signed_body_that_is_no_event_is_refused(self, gw, body):
        with pytest.raises(InvalidSignature):
            gw.construct_event(body.encode(), signature_header(body, SECRET), SECRET)

    def test_needs_no_network(self, fake, gw):
        body = self.event_body()
        gw.construct_event(body.encode(), signature_header(body, SECRET), SECRET)
        assert fake.requests == []


# --- the fake's own rules -----------------------------------------------------------------------


def paid_charge(sdk, fake, amount=7500, currency="usd") -> str:
    intent = sdk.v1.payment_intents.create({"amount": amount, "currency": currency})
    return fake.confirm_payment(intent.id)["latest_charge"]


def onboarded_account(sdk, fake) -> str:
    account = sdk.v1.accounts.create({"capabilities": {"transfers": {"requested": True}}})
    fake.complete_onboarding(account.id)
    return account.id


class TestFakeRefunds:
    def test_refunds_never_exceed_the_charge(self, sdk, fake):
        charge_id = paid_charge(sdk, fake, 7500)
        intent_id = fake.charges[charge_id]["payment_intent"]
        first = sdk.v1.refunds.create({"payment_intent": intent_id, "amount": 5000})
        assert (first.amount, first.charge) == (5000, charge_id)

        with pytest.raises(stripe.InvalidRequestError) as exc:
            sdk.v1.refunds.create({"charge": charge_id, "amount": 2501})
        assert (exc.value.code, exc.value.param) == ("amount_too_large", "amount")
        assert fake.charges[charge_id]["amount_refunded"] == 5000

        rest = sdk.v1.refunds.create({"charge": charge_id})  # no amount: what is left
        assert rest.amount == 2500
        assert fake.charges[charge_id]["refunded"] is True
        assert fake.last_event("charge.refunded")["data"]["object"]["amount_refunded"] == 7500
        with pytest.raises(stripe.InvalidRequestError) as exc:
            sdk.v1.refunds.create({"charge": charge_id, "amount": 1})
        assert exc.value.code == "charge_already_refunded"

    def test_an_unpaid_intent_has_nothing_to_refund(self, sdk):
        intent = sdk.v1.payment_intents.create({"amount": 1000, "currency": "usd"})
        with pytest.raises(stripe.InvalidRequestError) as exc:
            sdk.v1.refunds.create({"payment_intent": intent.id})
        assert exc.value.code == "charge_not_refundable"

    def test_a_retried_refund_refunds_once(self, sdk, fake):
        charge_id = paid_charge(sdk, fake, 7500)
        options = {"idempotency_key": "refund-1"}
        a = sdk.v1.refunds.create({"charge": charge_id, "amount": 1000}, options)
        b = sdk.v1.refunds.create({"charge": charge_id, "amount": 1000}, options)
        assert a.id == b.id and fake.charges[charge_id]["amount_refunded"] == 1000
        with pytest.raises(stripe.IdempotencyError):
            sdk.v1.refunds.create({"charge": charge_id, "amount": 2000}, options)
        listed = sdk.v1.refunds.list({"charge": charge_id})
        assert [r.id for r in listed.data] == [a.id]

    def test_keys_forgotten_after_24h_act_again(self, sdk, fake):
        charge_id = paid_charge(sdk, fake, 7500)
        options = {"idempotency_key": "refund-1"}
        sdk.v1.refunds.create({"charge": charge_id, "amount": 1000}, options)
        fake.forget_idempotency_keys()
        sdk.v1.refunds.create({"charge": charge_id, "amount": 1000}, options)
        assert fake.charges[charge_id]["amount_refunded"] == 2000


class TestFakeTransfers:
    def test_destination_needs_transfers_active(self, sdk, fake):
        charge_id = paid_charge(sdk, fake)
        account = sdk.v1.accounts.create({"capabilities": {"transfers": {"requested": True}}})
        params = {"amount": 1000, "currency": "usd", "destination": account.id, "source_transaction": charge_id}
        with pytest.raises(stripe.InvalidRequestError) as exc:
            sdk.v1.transfers.create(params)
        assert exc.value.code == "insufficient_capabilities_for_transfer"
        fake.complete_onboarding(account.id)
        assert sdk.v1.transfers.create(params).amount == 1000

    def test_transfers_are_capped_by_what_the_source_charge_has_left(self, sdk, fake):
        charge_id = paid_charge(sdk, fake, 7500)
        destination = onboarded_account(sdk, fake)

        def transfer(amount):
            return sdk.v1.transfers.create(
                {
                    "amount": amount,
                    "currency": "usd",
                    "destination": destination,
                    "source_transaction": charge_id,
                    "transfer_group": "order-1",
                }
            )

        first = transfer(5000)
        with pytest.raises(stripe.InvalidRequestError) as exc:
            transfer(2501)
        assert exc.value.code == "amount_too_large"
        sdk.v1.refunds.create({"charge": charge_id, "amount": 500})  # refunded money cannot be transferred
        with pytest.raises(stripe.InvalidRequestError):
            transfer(2001)
        last = transfer(2000)
        assert [t.id for t in sdk.v1.transfers.list({"transfer_group": "order-1"}).data] == [last.id, first.id]

    def test_source_charge_currency_must_match(self, sdk, fake):
        charge_id = paid_charge(sdk, fake, 7500, "usd")
        destination = onboarded_account(sdk, fake)
        with pytest.raises(stripe.InvalidRequestError):
            sdk.v1.transfers.create(
                {"amount": 100, "currency": "eur", "destination": destination, "source_transaction": charge_id}
            )

    def test_reversals_never_exceed_the_transfer(self, sdk, fake):
        charge_id = paid_charge(sdk, fake, 7500)
        destination = onboarded_account(sdk, fake)
        transfer = sdk.v1.transfers.create(
            {"amount": 5000, "currency": "usd", "destination": destination, "source_transaction": charge_id}
        )
        reversal = sdk.v1.transfers.reversals.create(transfer.id, {"amount": 2000})
        assert (reversal.amount, reversal.transfer) == (2000, transfer.id)
        with pytest.raises(stripe.InvalidRequestError) as exc:
            sdk.v1.transfers.reversals.create(transfer.id, {"amount": 3001})
        assert exc.value.code == "amount_too_large"
        assert sdk.v1.transfers.reversals.create(transfer.id).amount == 3000
        reversed_transfer = sdk.v1.transfers.retrieve(transfer.id)
        assert (reversed_transfer.amount_reversed, reversed_transfer.reversed) == (5000, True)
        with pytest.raises(stripe.InvalidRequestError) as exc:
            sdk.v1.transfers.reversals.create(transfer.id, {"amount": 1})
        assert exc.value.code == "transfer_already_reversed"


class TestFakeRequests:
    def test_unknown_parameters_are_refused(self, sdk):
        with pytest.raises(stripe.InvalidRequestError) as exc:
            sdk.v1.payment_intents.create({"amount": 100, "currency": "usd", "transfer_grup": "x"})
        assert (exc.value.code, exc.value.param) == ("parameter_unknown", "transfer_grup")

    def test_idempotency_keys_are_scoped_per_connected_account(self, sdk, fake):
        sdk.v1.payment_intents.create({"amount": 100, "currency": "usd"}, {"idempotency_key": "k"})
        sdk.v1.payment_intents.create(
            {"amount": 200, "currency": "usd"}, {"idempotency_key": "k", "stripe_account": "acct_other"}
        )
        assert sorted(i["amount"] for i in fake.payment_intents.values()) == [100, 200]

    def test_an_error_answer_is_replayed_until_the_key_changes(self, sdk, fake):
        charge_id = paid_charge(sdk, fake)
        account = sdk.v1.accounts.create({"capabilities": {"transfers": {"requested": True}}})
        params = {"amount": 1000, "currency": "usd", "destination": account.id, "source_transaction": charge_id}
        options = {"idempotency_key": "milestone-1-transfer"}
        with pytest.raises(stripe.InvalidRequestError):
            sdk.v1.transfers.create(params, options)
        fake.complete_onboarding(account.id)
        with pytest.raises(stripe.InvalidRequestError) as exc:  # the stored answer, not a new attempt
            sdk.v1.transfers.create(params, options)
        assert exc.value.code == "insufficient_capabilities_for_transfer"
        assert sdk.v1.transfers.create(params, {"idempotency_key": "milestone-1-transfer-2"}).amount == 1000

    def test_a_request_that_failed_validation_does_not_use_up_its_key(self, sdk, fake):
        options = {"idempotency_key": "k"}
        with pytest.raises(stripe.InvalidRequestError):
            sdk.v1.payment_intents.create({"amount": "many", "currency": "usd"}, options)
        assert sdk.v1.payment_intents.create({"amount": 100, "currency": "usd"}, options).amount == 100
