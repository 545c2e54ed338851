"""Orders (milestones.order_services): the quote of a package, placing an order as a snapshot of the
plan, refusals, double submission, and the order's lifecycle transitions with their event rows.

Fees come from the `fees_for` argument (payments owns them): these tests pass a fixed one, so the
milestones app is tested without importing payments."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import transaction

from gigs.models import Gig, GigRequirement, Package
from gigs.services import gig_pause
from gigs.tests.factories import GigFactory, UserFactory
from marketplace.exceptions import ValidationFailed
from milestones import order_services
from milestones.exceptions import InvalidTransition, OrderRefused
from milestones.models import Order, OrderEvent, OrderMilestone
from milestones.order_services import OrderFees, OrderLine, order_activate, order_expire, order_place, order_quote
from milestones.services import MilestoneInput, MilestoneTerms, plan_replace

pytestmark = pytest.mark.django_db

BASIC, STANDARD, PREMIUM = Package.TIER_ORDER
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _rules(settings):
    """Pin the limits these tests rely on (plan rules, checkout window)."""
    settings.MARKETPLACE = {
        **settings.MARKETPLACE,
        "MILESTONES_MIN": 2,
        "MILESTONES_MAX": 5,
        "MILESTONE_MIN_PRICE_MINOR": 500,
        "BASIC_MIN_TOTAL_MINOR": 1000,
        "CHECKOUT_EXPIRY_MINUTES": 30,
    }


def fixed_fees(subtotal: int, currency: str) -> OrderFees:
    return OrderFees(service_fee_minor=subtotal // 10, small_order_fee_minor=300, commission_bps=2000)


# The plan: Refinement is not in Basic, Extras only in Premium. (price, days, revisions) per tier.
PLAN = [
    ("Concepts", "Three first ideas.", False, {BASIC: (1000, 1, 0), STANDARD: (2000, 2, 1), PREMIUM: (3000, 2, 2)}),
    ("Refinement", "The chosen idea, refined.", True, {STANDARD: (3000, 3, 2), PREMIUM: (4500, 4, 2)}),
    ("Final files", "Every format.", False, {BASIC: (1500, 2, 1), STANDARD: (2500, 2, 1), PREMIUM: (4000, 3, 2)}),
    ("Extras", "Social media kit.", False, {PREMIUM: (1000, 1, 0)}),
]
EXPECTED_LINES = {
    BASIC: [
        OrderLine("Concepts", "Three first ideas.", 1000, 1, 0, False),
        OrderLine("Final files", "Every format.", 1500, 2, 1, False),
    ],
    STANDARD: [
        OrderLine("Concepts", "Three first ideas.", 2000, 2, 1, False),
        OrderLine("Refinement", "The chosen idea, refined.", 3000, 3, 2, True),
        OrderLine("Final files", "Every format.", 2500, 2, 1, False),
    ],
    PREMIUM: [
        OrderLine("Concepts", "Three first ideas.", 3000, 2, 2, False),
        OrderLine("Refinement", "The chosen idea, refined.", 4500, 4, 2, True),
        OrderLine("Final files", "Every format.", 4000, 3, 2, False),
        OrderLine("Extras", "Social media kit.", 1000, 1, 0, False),
    ],
}


def plan_inputs(plan=PLAN) -> list[MilestoneInput]:
    return [
        MilestoneInput(
            name=name,
            description=description,
            video_call=video_call,
            packages={tier: MilestoneTerms(*terms) for tier, terms in packages.items()},
        )
        for name, description, video_call, packages in plan
    ]


def gig_with_plan(**factory) -> Gig:
    gig = GigFactory(published=True, milestone_payments=True, **factory)
    plan_replace(gig=gig, milestones=plan_inputs(), milestone_payments=True)
    return Gig.objects.get(pk=gig.pk)


@pytest.fixture
def gig() -> Gig:
    return gig_with_plan()


@pytest.fixture
def buyer():
    return UserFactory()


def place(buyer, gig, tier=STANDARD, *, token=None, answers=None) -> tuple[Order, bool]:
    if answers is None:
        answers = {r.pk: "An answer." for r in gig.requirements.all()}
    return order_place(
        buyer=buyer,
        gig=gig,
        tier=tier,
        checkout_token=token or uuid.uuid4(),
        answers=answers,
        fees_for=fixed_fees,
    )


def snapshot(order: Order) -> tuple[dict, list[dict]]:
    row = Order.objects.filter(pk=order.pk).values().get()
    milestones = list(OrderMilestone.objects.filter(order=order).order_by("position").values())
    return row, milestones


def nothing_written() -> bool:
    return not (Order.objects.exists() or OrderMilestone.objects.exists() or OrderEvent.objects.exists())


# --- quote --------------------------------------------------------------------------------------


class TestQuote:
    @pytest.mark.parametrize("tier", Package.TIER_ORDER)
    def test_each_tier_gets_only_its_milestones_in_order_with_its_terms(self, gig, tier):
        quote = order_quote(gig=gig, tier=tier)
        assert quote.lines == EXPECTED_LINES[tier]
        assert quote.subtotal_minor == sum(line.price_minor for line in EXPECTED_LINES[tier])
        assert quote.package.tier == tier
        # The package price is the plan's sum for that tier (kept by plan_replace).
        assert quote.package.price_minor == quote.subtotal_minor

    def test_a_gig_sold_as_plain_packages_is_one_milestone_equal_to_the_package(self):
        gig = GigFactory(published=True)
        package = gig.packages.get(tier=STANDARD)
        quote = order_quote(gig=gig, tier=STANDARD)
        assert quote.lines == [
            OrderLine(
                package.name, package.description, package.price_minor, package.delivery_days, package.revisions, False
            )
        ]

    def test_a_plan_kept_with_milestone_payments_off_is_not_sold(self):
        gig = GigFactory(published=True)
        plan_replace(gig=gig, milestones=plan_inputs(), milestone_payments=False)
        package = gig.packages.get(tier=PREMIUM)
        [line] = order_quote(gig=Gig.objects.get(pk=gig.pk), tier=PREMIUM).lines
        assert (line.name, line.price_minor, line.delivery_days) == (
            package.name,
            package.price_minor,
            package.delivery_days,
        )

    def test_no_such_package(self, gig):
        with pytest.raises(OrderRefused) as exc:
            order_quote(gig=gig, tier="platinum")
        assert exc.value.code == "order_refused"
        assert exc.value.field == "package"


# --- place --------------------------------------------------------------------------------------


class TestPlace:
    @pytest.mark.parametrize("tier", Package.TIER_ORDER)
    def test_snapshot_of_the_plan_for_each_tier(self, gig, buyer, tier):
        GigRequirement.objects.create(gig=gig, question="Your brand name?", required=True, position=0)
        GigRequirement.objects.create(gig=gig, question="Colours you like?", required=False, position=1)
        brand = gig.requirements.get(position=0)
        with time_machine.travel(NOW, tick=False):
            order, created = place(buyer, gig, tier, answers={brand.pk: "  Acme  "})
        assert created
        lines = EXPECTED_LINES[tier]
        subtotal = sum(line.price_minor for line in lines)
        package = gig.packages.get(tier=tier)
        order.refresh_from_db()
        assert order.status == Order.Status.PENDING_PAYMENT and order.is_payable
        assert (order.buyer, order.seller_id, order.gig) == (buyer, gig.seller_id, gig)
        assert (order.gig_title, order.package_tier, order.package_name) == (gig.title, tier, package.name)
        assert order.milestone_payments is True
        assert order.currency == gig.currency
        assert order.subtotal_minor == subtotal
        assert (order.service_fee_minor, order.small_order_fee_minor) == (subtotal // 10, 300)
        assert order.total_minor == subtotal + subtotal // 10 + 300
        assert order.commission_bps == 2000
        assert order.requirements == [
            {"question": "Your brand name?", "answer": "Acme", "required": True},
            {"question": "Colours you like?", "answer": "", "required": False},
        ]
        assert order.created_at == NOW
        assert order.expires_at == NOW + timedelta(minutes=30)
        assert order.paid_at is None
        copied = [
            OrderLine(m.name, m.description, m.price_minor, m.delivery_days, m.revisions, m.video_call)
            for m in order.milestones.order_by("position")
        ]
        assert copied == lines
        assert list(order.milestones.order_by("position").values_list("position", "status")) == [
            (i, OrderMilestone.Status.LOCKED) for i in range(len(lines))
        ]
        [event] = OrderEvent.objects.filter(order=order)
        assert (event.actor, event.from_status, event.to_status, event.reason, event.milestone) == (
            buyer,
            "",
            Order.Status.PENDING_PAYMENT,
            "placed",
            None,
        )

    def test_a_gig_sold_as_plain_packages_gives_one_milestone_equal_to_the_package(self, buyer):
        gig = GigFactory(published=True)
        package = gig.packages.get(tier=BASIC)
        order, _ = place(buyer, gig, BASIC)
        assert order.milestone_payments is False
        assert order.subtotal_minor == package.price_minor
        [m] = order.milestones.all()
        assert (m.position, m.name, m.description, m.price_minor, m.delivery_days, m.revisions, m.video_call) == (
            0,
            package.name,
            package.description,
            package.price_minor,
            package.delivery_days,
            package.revisions,
            False,
        )

    def test_editing_the_gig_after_ordering_changes_nothing_in_the_order(self, gig, buyer):
        GigRequirement.objects.create(gig=gig, question="Your brand name?", required=True)
        order, _ = place(buyer, gig, PREMIUM)
        before = snapshot(order)

        plan_replace(
            gig=gig,
            milestones=[
                MilestoneInput(
                    name="Everything at once",
                    packages={BASIC: MilestoneTerms(9000, 9, 9), STANDARD: MilestoneTerms(9500, 9, 9)},
                ),
                MilestoneInput(name="Bonus", packages={PREMIUM: MilestoneTerms(99_000, 30, 0)}),
            ],
            milestone_payments=False,
        )
        Gig.objects.filter(pk=gig.pk).update(title="A completely different gig now", currency="EUR")
        Package.objects.filter(gig=gig).update(name="Renamed", price_minor=123_400, delivery_days=99)
        GigRequirement.objects.filter(gig=gig).update(question="Changed question?")
        gig_pause(gig=gig)

        assert snapshot(order) == before
        assert order.events.count() == 1

    def test_the_same_checkout_token_gives_back_the_same_order(self, gig, buyer):
        token = uuid.uuid4()
        first, created = place(buyer, gig, STANDARD, token=token)
        # A double click, a second tab, a retried request: even if the gig changed meanwhile.
        plan_replace(gig=gig, milestones=plan_inputs(PLAN[:3]), milestone_payments=True)
        again, created_again = place(buyer, gig, PREMIUM, token=token)
        assert created and not created_again
        assert again.pk == first.pk
        assert again.package_tier == STANDARD
        assert Order.objects.count() == 1
        assert OrderMilestone.objects.count() == 3
        assert OrderEvent.objects.count() == 1

    def test_the_token_is_per_buyer(self, gig, buyer):
        token = uuid.uuid4()
        mine, _ = place(buyer, gig, token=token)
        theirs, created = place(UserFactory(), gig, token=token)
        assert created and theirs.pk != mine.pk


class TestRefused:
    def test_own_gig(self, gig):
        with pytest.raises(OrderRefused, match="your own gig") as exc:
            place(gig.seller, gig)
        assert exc.value.code == "order_refused"
        assert nothing_written()

    def test_draft_gig(self, buyer):
        gig = GigFactory(priced=True)
        assert gig.status == Gig.Status.DRAFT
        with pytest.raises(OrderRefused, match="not on sale") as exc:
            place(buyer, gig, BASIC)
        assert exc.value.code == "order_refused"
        assert nothing_written()

    def test_paused_gig(self, gig, buyer):
        gig = gig_pause(gig=gig)
        with pytest.raises(OrderRefused, match="not on sale") as exc:
            place(buyer, gig)
        assert exc.value.code == "order_refused"
        assert nothing_written()

    @pytest.mark.parametrize("tier", [PREMIUM, "platinum", ""])
    def test_missing_package(self, buyer, tier):
        gig = GigFactory(published=True)
        Package.objects.filter(gig=gig, tier=PREMIUM).delete()
        with pytest.raises(OrderRefused) as exc:
            place(buyer, Gig.objects.get(pk=gig.pk), tier)
        assert (exc.value.code, exc.value.field) == ("order_refused", "package")
        assert nothing_written()

    def test_missing_required_answer(self, gig, buyer):
        required = GigRequirement.objects.create(gig=gig, question="Your brand name?", required=True)
        optional = GigRequirement.objects.create(gig=gig, question="Anything else?", required=False)
        for answers in ({}, {required.pk: "   "}, {optional.pk: "Only the optional one"}):
            with pytest.raises(ValidationFailed) as exc:
                place(buyer, gig, answers=answers)
            assert exc.value.code == "invalid"
            assert exc.value.errors == {f"requirements.{required.pk}": ["Answer this question."]}
        assert nothing_written()

    def test_answer_too_long(self, gig, buyer):
        question = GigRequirement.objects.create(gig=gig, question="Tell us everything", required=False)
        with pytest.raises(ValidationFailed) as exc:
            place(buyer, gig, answers={question.pk: "x" * 2001})
        assert list(exc.value.errors) == [f"requirements.{question.pk}"]
        assert nothing_written()
        order, _ = place(buyer, gig, answers={question.pk: "x" * 2000})
        assert order.requirements[0]["answer"] == "x" * 2000


# --- lifecycle ----------------------------------------------------------------------------------


def activate(order: Order, reason: str = "paid: pi_1") -> tuple[Order, bool]:
    with transaction.atomic():
        return order_activate(order_id=order.pk, reason=reason)


def expire(order: Order) -> tuple[Order, bool]:
    with transaction.atomic():
        return order_expire(order_id=order.pk)


def transitions(order: Order) -> list[tuple]:
    return list(
        OrderEvent.objects.filter(order=order)
        .order_by("id")
        .values_list("milestone__position", "from_status", "to_status", "reason")
    )


class TestActivate:
    def test_pending_order_becomes_active_and_its_first_milestone_starts(self, gig, buyer):
        order, _ = place(buyer, gig, STANDARD)
        paid = NOW + timedelta(minutes=5)
        with time_machine.travel(paid, tick=False):
            order, changed = activate(order)
        assert changed
        order.refresh_from_db()
        assert order.status == Order.Status.ACTIVE and not order.is_payable
        assert order.paid_at == paid
        first, second, third = order.milestones.order_by("position")
        assert (first.status, first.started_at, first.due_at) == (
            OrderMilestone.Status.IN_PROGRESS,
            paid,
            paid + timedelta(days=2),
        )
        assert [(m.status, m.started_at, m.due_at) for m in (second, third)] == [
            (OrderMilestone.Status.LOCKED, None, None)
        ] * 2
        assert transitions(order) == [
            (None, "", "pending_payment", "placed"),
            (None, "pending_payment", "active", "paid: pi_1"),
            (0, "locked", "in_progress", "order paid"),
        ]
        assert OrderEvent.objects.filter(order=order, to_status="active").get().actor is None

    def test_already_active_is_a_no_op(self, gig, buyer):
        order, _ = place(buyer, gig)
        activate(order)
        before = snapshot(order)
        order, changed = activate(order, reason="paid again")
        assert not changed
        assert snapshot(order) == before
        assert len(transitions(order)) == 3

    def test_an_expired_order_paid_late_becomes_active(self, gig, buyer):
        order, _ = place(buyer, gig)
        with time_machine.travel(order.expires_at + timedelta(minutes=1), tick=False):
            expire(order)
            order, changed = activate(order, reason="paid late")
        assert changed and order.status == Order.Status.ACTIVE
        assert [t[1:3] for t in transitions(order)] == [
            ("", "pending_payment"),
            ("pending_payment", "expired"),
            ("expired", "active"),
            ("locked", "in_progress"),
        ]

    @pytest.mark.parametrize("status", [Order.Status.CANCELLED, Order.Status.COMPLETED])
    def test_a_finished_order_is_left_as_it_is(self, gig, buyer, status):
        order, _ = place(buyer, gig)
        Order.objects.filter(pk=order.pk).update(status=status)
        order, changed = activate(order)
        assert not changed
        assert order.status == status
        assert not order.milestones.exclude(status=OrderMilestone.Status.LOCKED).exists()
        assert len(transitions(order)) == 1


class TestExpire:
    def test_not_due_yet_is_a_no_op(self, gig, buyer):
        order, _ = place(buyer, gig)
        with time_machine.travel(order.expires_at - timedelta(seconds=1), tick=False):
            order, changed = expire(order)
        assert not changed and order.status == Order.Status.PENDING_PAYMENT
        assert len(transitions(order)) == 1

    def test_due_unpaid_order_expires_once(self, gig, buyer):
        order, _ = place(buyer, gig)
        with time_machine.travel(order.expires_at, tick=False):
            order, changed = expire(order)
            assert changed and order.status == Order.Status.EXPIRED
            assert not order.is_payable
            _, changed_again = expire(order)
            assert not changed_again
        order.refresh_from_db()
        assert order.status == Order.Status.EXPIRED
        assert transitions(order) == [
            (None, "", "pending_payment", "placed"),
            (None, "pending_payment", "expired", "not paid in time"),
        ]
        assert not order.milestones.exclude(status=OrderMilestone.Status.LOCKED).exists()

    def test_a_paid_order_never_expires(self, gig, buyer):
        order, _ = place(buyer, gig)
        activate(order)
        with time_machine.travel(order.expires_at + timedelta(days=1), tick=False):
            order, changed = expire(order)
        assert not changed and order.status == Order.Status.ACTIVE


class TestTransitionMap:
    """The allowed-transitions map, through the one function that applies it."""

    ALL = list(Order.Status)

    @pytest.mark.parametrize("source", ALL)
    @pytest.mark.parametrize("target", ALL)
    def test_every_pair(self, gig, buyer, source, target):
        order, _ = place(buyer, gig)
        Order.objects.filter(pk=order.pk).update(status=source)
        with transaction.atomic():
            order = Order.objects.select_for_update().get(pk=order.pk)
            if source == target:
                assert order_services._change_status(order, target, actor=None, reason="again") is False
                assert OrderEvent.objects.filter(order=order).count() == 1
            elif target in Order.TRANSITIONS[source]:
                assert order_services._change_status(order, target, actor=buyer, reason="why") is True
                event = OrderEvent.objects.filter(order=order).latest("id")
                assert (event.from_status, event.to_status, event.actor, event.reason) == (source, target, buyer, "why")
            else:
                with pytest.raises(InvalidTransition) as exc:
                    order_services._change_status(order, target, actor=None, reason="nope")
                assert exc.value.code == "invalid_transition"
                assert OrderEvent.objects.filter(order=order).count() == 1

    def test_the_map(self):
        s = Order.Status
        allowed = {(a, b) for a, targets in Order.TRANSITIONS.items() for b in targets}
        assert allowed == {
            (s.PENDING_PAYMENT, s.ACTIVE),
            (s.PENDING_PAYMENT, s.EXPIRED),
            (s.PENDING_PAYMENT, s.CANCELLED),
            (s.EXPIRED, s.ACTIVE),  # a payment that succeeds after the window still funds it
            (s.ACTIVE, s.COMPLETED),
            (s.ACTIVE, s.CANCELLED),
        }
