"""The double-entry ledger: the PostgreSQL triggers (balanced at commit, append-only), the checks and
idempotency of payments.ledger.post, and property tests that drive random sequences of payments,
declines, refunds and redeliveries through the real services and check every money invariant."""

import uuid
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from hypothesis import HealthCheck, Phase, example, given, settings, target
from hypothesis import event as hypothesis_event
from hypothesis import strategies as st

from milestones.models import Order
from payments import ledger, services
from payments.gateways import gateway
from payments.gateways.local import CARD_DECLINED, CARD_NEEDS_ACTION, CARD_SUCCEEDS
from payments.models import LedgerEntry, LedgerTransaction, Payment, WebhookEvent
from payments.tests.factories import gig_with_plan, place_order, process_inbox

pytestmark = pytest.mark.django_db


def raw_transaction(reference: str | None = None) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO payments_ledgertransaction (kind, reference, order_id, memo, created_at) "
            "VALUES ('order_funded', %s, NULL, '', now()) RETURNING id",
            [reference or f"raw-{uuid.uuid4().hex}"],
        )
        return cursor.fetchone()[0]


def raw_entries(txn_id: int, *legs: tuple[str, int, str]) -> None:
    with connection.cursor() as cursor:
        for account, amount, currency in legs:
            cursor.execute(
                "INSERT INTO payments_ledgerentry (transaction_id, account, amount_minor, currency) "
                "VALUES (%s, %s, %s, %s)",
                [txn_id, account, amount, currency],
            )


def check_constraints_now() -> None:
    """Fire the deferred trigger for what this transaction inserted so far (the test's outer
    transaction never commits, so this is how a non-transactional test sees the commit check)."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def post_sample(reference: str = "sample") -> LedgerTransaction:
    txn, _ = ledger.post(
        kind=LedgerTransaction.Kind.ORDER_FUNDED,
        reference=reference,
        legs=[(ledger.PLATFORM_CASH, 1055), ("escrow:1", -1000), (ledger.PLATFORM_REVENUE, -55)],
        currency="USD",
    )
    return txn


# --- the database triggers ----------------------------------------------------------------------


class TestBalancedAtCommit:
    def test_an_unbalanced_transaction_is_refused_when_checked(self):
        with pytest.raises(IntegrityError, match="does not balance"), transaction.atomic():
            txn = raw_transaction()
            raw_entries(txn, ("platform_cash", 1000, "USD"), ("escrow:1", -999, "USD"))
            check_constraints_now()
        assert not LedgerEntry.objects.exists()

    def test_the_check_is_deferred_so_legs_may_arrive_in_separate_statements(self):
        with transaction.atomic():
            txn = raw_transaction()
            raw_entries(txn, ("platform_cash", 1000, "USD"))  # unbalanced for now: no error yet
            raw_entries(txn, ("escrow:1", -1000, "USD"))
            check_constraints_now()
        assert ledger.trial_balance() == {"USD": 0}

    def test_balance_is_per_currency(self):
        with pytest.raises(IntegrityError, match="does not balance"), transaction.atomic():
            txn = raw_transaction()
            raw_entries(txn, ("platform_cash", 1000, "USD"), ("escrow:1", -1000, "EUR"))
            check_constraints_now()

    def test_a_single_leg_is_refused(self):
        with pytest.raises(IntegrityError), transaction.atomic():
            raw_entries(raw_transaction(), ("platform_cash", 1, "USD"))
            check_constraints_now()

    def test_a_zero_leg_is_refused_by_its_check_constraint(self):
        with pytest.raises(IntegrityError), transaction.atomic():
            raw_entries(raw_transaction(), ("platform_cash", 0, "USD"))

    def test_a_leg_added_after_a_check_is_checked_again(self):
        """The trigger skips legs a previous check of the same transaction already summed
        (migration 0007); a leg inserted after that check is not one of them."""
        with pytest.raises(IntegrityError, match="does not balance"), transaction.atomic():
            txn = raw_transaction()
            raw_entries(txn, ("platform_cash", 1000, "USD"), ("escrow:1", -1000, "USD"))
            check_constraints_now()  # balanced: passes, and remembers this transaction
            raw_entries(txn, ("platform_revenue", 5, "USD"))
            check_constraints_now()

    def test_one_unbalanced_transaction_among_many_fails_the_commit(self):
        with pytest.raises(IntegrityError, match="does not balance"), transaction.atomic():
            ids = [raw_transaction() for _ in range(5)]
            for i, txn in enumerate(ids):
                raw_entries(txn, ("platform_cash", 100, "USD"), ("escrow:1", -100 + (i == 3), "USD"))
            check_constraints_now()

    def test_legs_of_transactions_interleaved_are_each_checked(self):
        with pytest.raises(IntegrityError, match="does not balance"), transaction.atomic():
            a, b = raw_transaction(), raw_transaction()
            raw_entries(a, ("platform_cash", 100, "USD"))
            raw_entries(b, ("platform_cash", 100, "USD"))
            raw_entries(a, ("escrow:1", -100, "USD"))
            raw_entries(b, ("escrow:2", -99, "USD"))
            check_constraints_now()

    def test_ledger_post_passes_the_database_check(self):
        check_constraints_now()  # from here on each statement is checked as it ends
        post_sample()
        assert ledger.trial_balance() == {"USD": 0}


class TestAppendOnly:
    @pytest.mark.parametrize(
        "sql",
        [
            "UPDATE payments_ledgerentry SET amount_minor = amount_minor + 1",
            "UPDATE payments_ledgerentry SET account = 'somewhere_else'",
            "DELETE FROM payments_ledgerentry",
            "UPDATE payments_ledgertransaction SET memo = 'edited'",
            "DELETE FROM payments_ledgertransaction",
        ],
    )
    def test_raw_update_and_delete_are_refused(self, sql):
        post_sample()
        with pytest.raises(IntegrityError, match="append-only"), transaction.atomic(), connection.cursor() as c:
            c.execute(sql)
        assert LedgerEntry.objects.count() == 3
        assert sorted(LedgerEntry.objects.values_list("amount_minor", flat=True)) == [-1000, -55, 1055]
        assert LedgerTransaction.objects.get().memo == ""

    def test_orm_update_and_delete_are_refused(self):
        txn = post_sample()
        entry = txn.entries.first()
        for attempt in (
            lambda: LedgerEntry.objects.filter(pk=entry.pk).update(amount_minor=1),
            lambda: entry.delete(),
            lambda: LedgerTransaction.objects.filter(pk=txn.pk).update(memo="x"),
        ):
            with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
                attempt()
        assert LedgerEntry.objects.count() == 3

    def test_inserting_more_balanced_postings_is_allowed(self):
        post_sample("one")
        post_sample("two")
        check_constraints_now()
        assert LedgerTransaction.objects.count() == 2
        assert ledger.balance(ledger.PLATFORM_CASH, "USD") == 2110


@pytest.mark.django_db(transaction=True)
class TestReallyCommitted:
    """Autocommit: each outer atomic() really commits, so the deferred trigger fires at COMMIT."""

    def test_an_unbalanced_transaction_fails_at_commit_and_leaves_nothing(self):
        with pytest.raises(IntegrityError, match="does not balance"), transaction.atomic():
            txn = raw_transaction("unbalanced")
            raw_entries(txn, ("platform_cash", 1000, "USD"), ("escrow:1", -900, "USD"))
            # Still inside the transaction: the inserts themselves succeeded.
            assert LedgerEntry.objects.filter(transaction_id=txn).count() == 2
        assert not LedgerTransaction.objects.filter(reference="unbalanced").exists()
        assert not LedgerEntry.objects.exists()

    def test_a_balanced_posting_commits_and_the_test_flush_still_empties_the_tables(self):
        post_sample()
        assert LedgerEntry.objects.count() == 3
        # Django's flush between transactional tests is a TRUNCATE: row triggers do not fire.
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE payments_ledgerentry, payments_ledgertransaction")
        assert not LedgerEntry.objects.exists()
        assert not LedgerTransaction.objects.exists()


# --- ledger.post --------------------------------------------------------------------------------


class TestPost:
    @pytest.mark.parametrize(
        "legs",
        [
            [],
            [("a", 0), ("b", 0)],
            [("a", 100)],
            [("a", 100), ("b", -99)],
            [("a", 100), ("b", -50), ("c", -49)],
        ],
    )
    def test_refuses_unbalanced_legs(self, legs):
        with pytest.raises(ledger.Unbalanced):
            ledger.post(kind="order_funded", reference="r", legs=legs, currency="USD")
        assert not LedgerTransaction.objects.exists()

    @pytest.mark.parametrize(
        "legs",
        [
            [("a", 100.0), ("b", -100.0)],
            [("a", 0.5), ("b", 0.5), ("c", -1.0)],
            [("a", Decimal("1.5")), ("b", Decimal("-1.5"))],
            [("a", True), ("b", -1)],
            [("a", "100"), ("b", -100)],
        ],
    )
    def test_refuses_amounts_that_are_not_integers(self, legs):
        with pytest.raises((ledger.Unbalanced, TypeError)):
            ledger.post(kind="order_funded", reference="r", legs=legs, currency="USD")
        assert not LedgerTransaction.objects.exists()

    def test_drops_zero_legs_and_posts_the_rest(self):
        txn, created = ledger.post(
            kind="order_funded", reference="r", legs=[("a", 100), ("zero", 0), ("b", -100)], currency="EUR"
        )
        assert created
        assert sorted(txn.entries.values_list("account", "amount_minor", "currency")) == [
            ("a", 100, "EUR"),
            ("b", -100, "EUR"),
        ]

    def test_is_idempotent_on_its_reference(self):
        first, created = ledger.post(kind="order_funded", reference="r", legs=[("a", 100), ("b", -100)], currency="USD")
        assert created
        # Same reference, other legs: the first posting stands and nothing else is written.
        again, created_again = ledger.post(
            kind="order_funded", reference="r", legs=[("a", 999), ("b", -999)], currency="USD"
        )
        assert (again.pk, created_again) == (first.pk, False)
        assert LedgerTransaction.objects.count() == 1
        assert ledger.balance("a", "USD") == 100

    def test_balances_and_escrow_helpers(self):
        order = place_order()
        ledger.post(
            kind="order_funded",
            reference="f",
            order=order,
            legs=[(ledger.PLATFORM_CASH, 500), (ledger.escrow(order.pk), -500)],
            currency=order.currency,
        )
        assert ledger.balance(ledger.escrow(order.pk), order.currency) == -500
        assert ledger.escrow_balance(order) == 500
        assert ledger.escrow_balances([order]) == {order.pk: 500}
        assert ledger.trial_balance() == {order.currency: 0}


# --- property tests through the real services ---------------------------------------------------


@dataclass
class Expected:
    """What the ledger must say about one order, from the model of what happened."""

    order: Order
    funded: bool = False
    refunded: int = 0  # cumulative, capped at the total


# Success is listed twice so that most examples fund something to refund.
CARDS = ["succeeds", "succeeds", "declined", "action_approved", "action_failed"]

TIERS = ["basic", "standard", "premium"]
orders_to_place = st.lists(st.tuples(st.sampled_from(["USD", "EUR"]), st.sampled_from(TIERS)), min_size=1, max_size=3)
pay_op = st.tuples(st.just("pay"), st.integers(0, 2), st.sampled_from(CARDS))
# Cumulative refunded totals around the orders' subtotals and totals (about $30 to $120).
refund_op = st.tuples(st.just("refund"), st.integers(0, 2), st.integers(1, 15_000))
redeliver_op = st.tuples(st.just("redeliver"), st.integers(0, 50), st.booleans())
operations = st.lists(st.one_of(pay_op, refund_op, redeliver_op), min_size=1, max_size=10)


def _pay(order: Order, card: str) -> None:
    payment = services.payment_start(order=order)
    local = gateway()
    if card == "succeeds":
        local.submit_card(payment.provider_payment_id, CARD_SUCCEEDS)
    elif card == "declined":
        local.submit_card(payment.provider_payment_id, CARD_DECLINED)
    else:
        local.submit_card(payment.provider_payment_id, CARD_NEEDS_ACTION)
        local.confirm_action(payment.provider_payment_id, approve=card == "action_approved")
    process_inbox()


def _refund_event(payment: Payment, amount_refunded: int) -> dict:
    """Stripe's charge.refunded: amount_refunded is the charge's cumulative refunded total."""
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "object": "event",
        "type": "charge.refunded",
        "data": {
            "object": {
                "id": payment.charge_id or f"ch_{uuid.uuid4().hex[:12]}",
                "object": "charge",
                "amount": payment.amount_minor,
                "amount_refunded": amount_refunded,
                "currency": payment.currency.lower(),
                "payment_intent": payment.provider_payment_id,
            }
        },
    }


def _deliver(event: dict) -> None:
    row, _ = services.webhook_event_store(event=event, source="stripe")
    services.webhook_event_process(event_pk=row.pk)


def _expect_refund(expected: list[Expected], event: dict) -> None:
    """The model: a refund counts only on a paid order, and only its growth (out-of-order events
    carry smaller cumulative totals and change nothing); it never exceeds what was paid."""
    if event["type"] != "charge.refunded":
        return
    charge = event["data"]["object"]
    for e in expected:
        if e.funded and Payment.objects.get(order=e.order).provider_payment_id == charge["payment_intent"]:
            e.refunded = max(e.refunded, min(charge["amount_refunded"], e.order.total_minor))


def _assert_invariants(expected: list[Expected]) -> None:
    assert all(total == 0 for total in ledger.trial_balance().values()), ledger.trial_balance()
    for currency in ("USD", "EUR"):
        mine = [e for e in expected if e.order.currency == currency]
        paid = [e for e in mine if e.funded]
        cash = sum(e.order.total_minor for e in paid) - sum(e.refunded for e in paid)
        assert ledger.balance(ledger.PLATFORM_CASH, currency) == cash
        revenue = sum(e.order.buyer_fees_minor - max(0, e.refunded - e.order.subtotal_minor) for e in paid)
        assert -ledger.balance(ledger.PLATFORM_REVENUE, currency) == revenue
    escrow = ledger.escrow_balances([e.order for e in expected])
    for e in expected:
        held = ledger.escrow_balance(e.order)
        assert held >= 0
        assert held == escrow[e.order.pk]
        assert held == (e.order.subtotal_minor - min(e.refunded, e.order.subtotal_minor) if e.funded else 0)
        funded = LedgerTransaction.objects.filter(order=e.order, kind=LedgerTransaction.Kind.ORDER_FUNDED).count()
        assert funded == (1 if e.funded else 0)
        order = Order.objects.get(pk=e.order.pk)
        assert order.status == (Order.Status.ACTIVE if e.funded else Order.Status.PENDING_PAYMENT)
        payment = Payment.objects.filter(order=order).first()
        assert (payment is not None and payment.status == Payment.Status.SUCCEEDED) == e.funded
        if payment is not None:
            assert payment.refunded_minor == e.refunded


@pytest.fixture
def gigs_by_currency():
    return {"USD": gig_with_plan(), "EUR": gig_with_plan(currency="EUR")}


@settings(
    max_examples=30,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate, Phase.target, Phase.shrink],  # no "explain": slow on a database
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(orders=orders_to_place, ops=operations)
# Always run: standard is $75 + $4.13 fee + $3 small-order fee = $82.13. A declined card then a
# success, refunds that grow into the fees and past the total, one arriving late, redeliveries.
@example(
    orders=[("USD", "standard"), ("EUR", "basic")],
    ops=[
        ("pay", 0, "declined"),
        ("refund", 0, 500),
        ("pay", 0, "succeeds"),
        ("refund", 0, 2_000),
        ("refund", 0, 1_000),
        ("refund", 0, 7_800),
        ("redeliver", 1, False),
        ("refund", 0, 99_999),
        ("pay", 1, "action_failed"),
        ("pay", 1, "action_approved"),
        ("redeliver", 0, True),
        ("redeliver", 5, False),
    ],
)
def test_random_postings_keep_every_ledger_invariant(gigs_by_currency, orders, ops):
    """Each example runs in a savepoint that is rolled back, so examples never see each other."""
    with transaction.atomic():
        check_constraints_now()  # the database trigger checks every posting as it is written
        expected = [Expected(place_order(gig=gigs_by_currency[cur], tier=tier)) for cur, tier in orders]
        delivered: list[dict] = []
        for op in ops:
            kind = op[0]
            if kind == "pay":
                e = expected[op[1] % len(expected)]
                if e.funded:
                    continue
                _pay(e.order, op[2])
                e.funded = op[2] in ("succeeds", "action_approved")
            elif kind == "refund":
                e = expected[op[1] % len(expected)]
                payment = Payment.objects.filter(order=e.order).first()
                if payment is None:
                    continue
                event = _refund_event(payment, op[2])
                _deliver(event)
                delivered.append(event)
                _expect_refund(expected, event)
            elif kind == "redeliver":
                events = delivered + [row.payload for row in WebhookEvent.objects.filter(source="local")]
                if not events:
                    continue
                event = events[op[1] % len(events)]
                if op[2]:
                    _deliver(event)  # a duplicate: recognised by its id, changes nothing
                else:
                    # The same news in another event (Stripe may send several): applied at most
                    # once in effect, since processing compares with what was already applied.
                    _deliver({**event, "id": f"evt_{uuid.uuid4().hex}"})
                    _expect_refund(expected, event)
            _assert_invariants(expected)
        paid = [e for e in expected if e.funded]
        target(float(len(paid) + sum(bool(e.refunded) for e in paid)), label="paid and refunded orders")
        hypothesis_event(f"paid orders: {min(len(paid), 2)}+, refunded: {min(sum(bool(e.refunded) for e in paid), 1)}+")
        transaction.set_rollback(True)


@settings(max_examples=40, deadline=None, database=None)
@given(amounts=st.lists(st.integers(-(10**12), 10**12).filter(bool), min_size=1, max_size=5), balance=st.booleans())
def test_post_writes_exactly_the_balanced_postings(amounts, balance):
    legs = [(f"account:{i}", amount) for i, amount in enumerate(amounts)]
    if balance and sum(amounts):
        legs.append(("balancing", -sum(amounts)))
    balanced = sum(amount for _, amount in legs) == 0
    with transaction.atomic():
        check_constraints_now()
        if balanced:
            txn, created = ledger.post(kind="order_funded", reference="prop", legs=legs, currency="USD")
            assert created
            assert sorted(txn.entries.values_list("account", "amount_minor")) == sorted(legs)
            assert ledger.trial_balance() == {"USD": 0}
        else:
            with pytest.raises(ledger.Unbalanced):
                ledger.post(kind="order_funded", reference="prop", legs=legs, currency="USD")
            assert not LedgerTransaction.objects.exists()
        transaction.set_rollback(True)
