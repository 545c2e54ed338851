"""The lifecycle's money in Stripe mode, through the real SDK and the stateful fake
(payments/tests/stripe_fake.py): transfers to the seller's connected account funded by the
order's charge, refunds on the payment intent, and what happens when a step fails halfway:
a crash between Stripe's answer and our commit, answers lost on the way back, and retries after
Stripe forgot an idempotency key (it keeps them 24 hours). Every test ends with the books checked.
"""

from datetime import timedelta

import pytest

from milestones.models import Order
from payments import ledger, lifecycle, services
from payments.connect import connect_onboarding_start
from payments.exceptions import ProviderUnavailable
from payments.gateways import gateway
from payments.gateways.stripe_gateway import MAX_NETWORK_RETRIES
from payments.keys import idempotency_key
from payments.models import ConnectedAccount, LedgerTransaction, Payment, Payout, Refund
from payments.tests.factories import gig_with_plan, place_order
from payments.tests.stripe_fake import FakeStripe, stripe_mode
from payments.tests.test_lifecycle import (
    NOW,
    accept,
    assert_books,
    clock,  # noqa: F401 - a fixture, found by name
    deliver,
    fresh,
    milestones_of,
    pin_rules,
)

pytestmark = pytest.mark.django_db

K = LedgerTransaction.Kind
ALL_LOST = 1 + MAX_NETWORK_RETRIES  # the request and each of the SDK's own retries


@pytest.fixture(autouse=True)
def _rules(settings):
    pin_rules(settings)


@pytest.fixture(autouse=True)
def _books(db):
    yield
    assert_books()


@pytest.fixture
def fake(settings) -> FakeStripe:
    with stripe_mode(settings) as fake:
        yield fake


def process(event: dict, source: str = "stripe") -> None:
    row, _ = services.webhook_event_store(event=event, source=source)
    services.webhook_event_process(event_pk=row.pk)


def onboarded_gig(fake: FakeStripe):
    """A gig whose seller onboarded: a connected account with transfers active."""
    gig = gig_with_plan()
    connect_onboarding_start(user=gig.seller, refresh_url="https://x/refresh", return_url="https://x/return")
    account = ConnectedAccount.objects.get(user=gig.seller)
    fake.complete_onboarding(account.stripe_account_id)
    process(fake.last_event("account.updated"), source="connect")
    assert fresh(account).transfers_active
    return gig


@pytest.fixture
def order(fake, clock) -> Order:  # noqa: F811 - the imported fixture
    """Paid on Stripe's page; the success webhook processed."""
    order = place_order(gig=onboarded_gig(fake))
    payment = services.payment_start(order=order)
    fake.confirm_payment(payment.provider_payment_id)
    process(fake.last_event("payment_intent.succeeded"))
    order.refresh_from_db()
    assert order.status == Order.Status.ACTIVE
    return order


def account_of(order: Order) -> str:
    return ConnectedAccount.objects.get(user_id=order.seller_id).stripe_account_id


def charge_of(order: Order) -> str:
    return Payment.objects.get(order=order).charge_id


@pytest.fixture
def available(order, clock) -> Payout:  # noqa: F811
    """Milestone 1 delivered, accepted and cleared: its payout waits for the transfer."""
    m1 = milestones_of(order)[0]
    deliver(m1)
    accept(m1)
    clock.shift(timedelta(days=7))
    assert lifecycle.payouts_clear_sweep() == 1
    return Payout.objects.get(milestone=m1)


def paid_to(fake: FakeStripe, destination: str) -> int:
    return sum(t["amount"] - t["amount_reversed"] for t in fake.transfers.values() if t["destination"] == destination)


# --- transfers ---------------------------------------------------------------------------------


def test_a_transfer_goes_to_the_sellers_account_funded_by_the_orders_charge(fake, order, available):
    assert lifecycle.payouts_transfer_drain() == 1

    [transfer] = fake.transfers.values()
    assert (transfer["amount"], transfer["currency"], transfer["destination"]) == (1600, "usd", account_of(order))
    assert transfer["source_transaction"] == charge_of(order)
    assert (
        transfer["source_transaction"]
        == fake.payment_intents[Payment.objects.get(order=order).provider_payment_id]["latest_charge"]
    )
    assert transfer["transfer_group"] == f"order-{order.pk}"
    [request] = fake.posts("/v1/transfers")
    assert request.idempotency_key == idempotency_key("payout", available.pk, "transfer")
    payout = fresh(available)
    assert (payout.status, payout.transfer_id) == (Payout.Status.TRANSFERRED, transfer["id"])

    assert lifecycle.payouts_transfer_drain() == 0
    assert len(fake.posts("/v1/transfers")) == 1


def test_every_milestone_of_the_order_is_transferred_from_its_one_charge(fake, order, clock):  # noqa: F811
    for m in milestones_of(order):
        deliver(fresh(m))
        accept(m)
    clock.shift(timedelta(days=7))
    assert lifecycle.payouts_clear_sweep() == 3
    assert lifecycle.payouts_transfer_drain() == 3

    assert paid_to(fake, account_of(order)) == 1600 + 2400 + 2000
    assert {t["source_transaction"] for t in fake.transfers.values()} == {charge_of(order)}
    assert fresh(order).status == Order.Status.COMPLETED


def test_a_seller_whose_transfers_were_paused_is_paid_once_they_are_active_again(fake, order, available, clock):  # noqa: F811
    account = account_of(order)
    fake.update_account(account, capabilities={"transfers": "inactive"})
    process(fake.last_event("account.updated"), source="connect")

    assert lifecycle.payouts_transfer_drain() == 0
    payout = fresh(available)
    assert payout.status == Payout.Status.FAILED and "no account" in payout.last_error
    assert fake.posts("/v1/transfers") == []

    fake.update_account(account, capabilities={"transfers": "active"})
    process(fake.last_event("account.updated"), source="connect")
    clock.move_to(payout.next_attempt_at)
    assert lifecycle.payouts_transfer_drain() == 1
    assert paid_to(fake, account) == 1600


def test_a_crash_after_stripe_made_the_transfer_is_retried_with_the_same_key(
    fake,
    order,
    available,
    clock,  # noqa: F811
    monkeypatch,
):
    """Step 2 succeeded at Stripe, step 3 (our commit) did not happen: the payout is stuck in
    `transferring`; the drain retries it after 10 minutes with the same key, Stripe replays the
    same transfer, and the seller is paid once."""
    real_post = ledger.post
    crashes = []

    def post(**kwargs):
        if kwargs["reference"] == f"payout-{available.pk}-transferred" and not crashes:
            crashes.append(kwargs["reference"])
            raise RuntimeError("the worker died before the commit")
        return real_post(**kwargs)

    monkeypatch.setattr(ledger, "post", post)
    with pytest.raises(RuntimeError):
        lifecycle.payouts_transfer_drain()
    assert fresh(available).status == Payout.Status.TRANSFERRING
    assert len(fake.transfers) == 1
    assert not LedgerTransaction.objects.filter(kind=K.PAYOUT_TRANSFERRED).exists()

    clock.shift(timedelta(minutes=10))
    assert lifecycle.payouts_transfer_drain() == 1

    # The retry first looks in the order's transfer group for a transfer carrying the payout's
    # key (Stripe may have forgotten the key by now), finds the one already made, sends nothing.
    [post] = fake.posts("/v1/transfers")
    assert post.idempotency_key == idempotency_key("payout", available.pk, "transfer")
    [lookup] = [r for r in fake.requests if r.method == "get" and r.path == "/v1/transfers"]
    assert lookup.params["transfer_group"] == f"order-{order.pk}"
    [transfer] = fake.transfers.values()
    assert transfer["metadata"]["key"] == post.idempotency_key
    assert fresh(available).transfer_id == transfer["id"]
    assert paid_to(fake, account_of(order)) == 1600
    assert LedgerTransaction.objects.filter(kind=K.PAYOUT_TRANSFERRED).count() == 1


def test_a_retry_looks_up_its_own_key_not_another_installations_transfer(fake, order, available, clock, monkeypatch):  # noqa: F811
    """Another installation on the same Stripe account transferred its payout of the same id in
    the same transfer group (`order-<id>`). Our retry, after Stripe forgot the keys, looks the
    group up by the prefixed key in the metadata: the other transfer is not ours."""
    from payments import keys

    ours = idempotency_key("payout", available.pk, "transfer")
    monkeypatch.setattr(keys, "_installation_key", "other-instal")
    theirs = gateway().create_transfer(
        amount_minor=1600,
        currency="USD",
        destination=account_of(order),
        source_transaction=charge_of(order),
        transfer_group=f"order-{order.pk}",
        idempotency_key=idempotency_key("payout", available.pk, "transfer"),
    )
    monkeypatch.undo()
    assert fake.transfers[theirs]["metadata"]["key"] == f"other-instal:payout-{available.pk}-transfer" != ours

    fake.fail_next(ALL_LOST, error="connection")  # our first attempt never reaches Stripe
    assert lifecycle.payouts_transfer_drain() == 0
    fake.forget_idempotency_keys()
    clock.move_to(fresh(available).next_attempt_at)
    assert lifecycle.payouts_transfer_drain() == 1

    payout = fresh(available)
    assert payout.transfer_id != theirs
    assert fake.transfers[payout.transfer_id]["metadata"]["key"] == ours
    assert [r.idempotency_key for r in fake.posts("/v1/transfers")][-1] == ours


def test_answers_lost_on_the_way_back_then_a_retry_pays_once(fake, order, available, clock):  # noqa: F811
    fake.fail_next(ALL_LOST, error="connection", after_processing=True)
    assert lifecycle.payouts_transfer_drain() == 0

    payout = fresh(available)
    assert payout.status == Payout.Status.FAILED and payout.next_attempt_at == NOW + timedelta(days=7, minutes=1)
    assert len(fake.transfers) == 1  # Stripe made it; we did not hear back

    clock.move_to(payout.next_attempt_at)
    assert lifecycle.payouts_transfer_drain() == 1
    [transfer] = fake.transfers.values()
    assert fresh(payout).transfer_id == transfer["id"]
    assert paid_to(fake, account_of(order)) == 1600


def test_a_transient_failure_is_retried_by_the_sdk_within_the_call(fake, order, available):
    fake.fail_next(1, error="api_error", after_processing=True)
    assert lifecycle.payouts_transfer_drain() == 1
    assert len(fake.transfers) == 1 and len(fake.posts("/v1/transfers")) == 2


def test_a_retry_after_stripe_forgot_the_key_does_not_pay_twice(fake, order, available, clock):  # noqa: F811
    """DESIGN.md section 6: "Stripe may forget keys after 24 h: older retries look the object up
    first". Stripe made the transfer but every answer was lost; Stripe then stays unreachable for
    a day (the payout is flagged for reconciliation and retried with backoff). When it is back
    the key is forgotten: the retry must find the transfer (e.g. by transfer_group / metadata)
    instead of sending a second one."""
    fake.fail_next(ALL_LOST, error="connection", after_processing=True)
    assert lifecycle.payouts_transfer_drain() == 0
    assert len(fake.transfers) == 1

    fake.fail_next(10_000, error="connection")  # down for a day
    for _ in range(30):
        clock.move_to(fresh(available).next_attempt_at)
        assert lifecycle.payouts_transfer_drain() == 0
        if fresh(available).needs_reconciliation:
            break
    assert fresh(available).needs_reconciliation
    fake.recover()
    fake.forget_idempotency_keys()

    clock.move_to(fresh(available).next_attempt_at)
    lifecycle.payouts_transfer_drain()

    assert paid_to(fake, account_of(order)) == 1600, f"the seller was paid {len(fake.transfers)} times"
    assert len(fake.transfers) == 1


# --- refunds -----------------------------------------------------------------------------------


@pytest.fixture
def refund(order) -> Refund:
    """Milestone 1 accepted, then the buyer stops the order: milestone 3 (25.00) is refunded."""
    m1 = milestones_of(order)[0]
    deliver(m1)
    accept(m1)
    return lifecycle.order_stop(order_id=order.pk, buyer=order.buyer)


def test_a_refund_is_made_on_the_payment_intent_with_the_refunds_key(fake, order, refund):
    lifecycle.refund_send(refund_id=refund.pk)

    [request] = fake.posts("/v1/refunds")
    payment = Payment.objects.get(order=order)
    assert request.params == {
        "payment_intent": payment.provider_payment_id,
        "amount": "2500",
        "metadata": {"key": refund.idempotency_key},
    }
    # A first send looks nothing up; only retries do.
    assert not [r for r in fake.requests if r.method == "get" and r.path == "/v1/refunds"]
    assert request.idempotency_key == refund.idempotency_key
    [stripe_refund] = fake.refunds.values()
    assert (stripe_refund["amount"], stripe_refund["charge"]) == (2500, payment.charge_id)
    refund = fresh(refund)
    assert (refund.status, refund.provider_refund_id) == (Refund.Status.SUCCEEDED, stripe_refund["id"])
    assert fake.charges[payment.charge_id]["amount_refunded"] == 2500

    lifecycle.refund_send(refund_id=refund.pk)  # again: nothing sent
    assert len(fake.posts("/v1/refunds")) == 1


def test_an_outage_leaves_the_refund_pending_and_the_retry_refunds_once(fake, order, refund):
    fake.fail_next(ALL_LOST, error="connection", after_processing=True)
    with pytest.raises(ProviderUnavailable):
        lifecycle.refund_send(refund_id=refund.pk)  # the task retries on this
    assert fresh(refund).status == Refund.Status.PENDING and fresh(refund).attempts == 1
    assert len(fake.refunds) == 1

    lifecycle.refund_send(refund_id=refund.pk)
    assert len(fake.refunds) == 1
    assert fresh(refund).status == Refund.Status.SUCCEEDED


def test_stripes_charge_refunded_before_our_refund_is_recorded_is_not_counted_twice(fake, order, refund, monkeypatch):
    """The fake emits charge.refunded as it makes the refund; the webhook is processed before
    refund_send records the refund (payments.services._apply_charge_refunded counts the refund as
    ours through pending_own_refunds)."""
    provider = gateway()
    real = provider.create_refund

    def create_refund(**kwargs):
        refund_id = real(**kwargs)
        process(fake.last_event("charge.refunded"))
        return refund_id

    monkeypatch.setattr(provider, "create_refund", create_refund)
    lifecycle.refund_send(refund_id=refund.pk)

    payment = Payment.objects.get(order=order)
    assert payment.refunded_minor == 2500 == fake.charges[payment.charge_id]["amount_refunded"]
    assert not LedgerTransaction.objects.filter(kind=K.PAYMENT_REFUNDED).exists()
    process(fake.last_event("charge.refunded"))  # redelivered: a duplicate
    assert Payment.objects.get(order=order).refunded_minor == 2500


def test_a_refund_retried_after_stripe_forgot_the_key_does_not_refund_twice(fake, order, refund, clock):  # noqa: F811
    """The same rule for refunds: the first request refunded at Stripe but the answer was lost;
    retried after the key expired, it must find that refund rather than refund again."""
    fake.fail_next(ALL_LOST, error="connection", after_processing=True)
    with pytest.raises(ProviderUnavailable):
        lifecycle.refund_send(refund_id=refund.pk)
    clock.shift(timedelta(hours=25))
    fake.forget_idempotency_keys()

    lifecycle.refund_send(refund_id=refund.pk)

    charge = fake.charges[charge_of(order)]
    assert charge["amount_refunded"] == 2500, f"Stripe refunded {charge['amount_refunded']} for a 2500 refund"
