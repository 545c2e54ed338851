"""Reads of orders and their money, scoped to who is asking: an order is visible to its buyer and
its seller only (anyone else gets NotFound, never a hint that it exists). Lists run a fixed number
of queries however many orders a page holds."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Prefetch, Q, QuerySet, Sum, prefetch_related_objects

from gigs.models import User
from marketplace.exceptions import NotFound
from milestones.models import CancellationRequest, Delivery, DeliveryFile, Order, OrderMilestone, RevisionRequest

from . import ledger
from .fees import seller_commission
from .lifecycle import asked_about_delivery, cancellable_by_agreement, cancellation_acceptable
from .models import Payment, Payout, Receipt, Refund

BUYER = "buyer"
SELLER = "seller"
# A seller sees an order once it is paid: a checkout the buyer left unpaid is the buyer's business.
UNPAID = (Order.Status.PENDING_PAYMENT, Order.Status.EXPIRED)
ROLES = (BUYER, SELLER)


def _ordered_milestones() -> Prefetch:
    # The payout (one per released milestone) rides along in the same query.
    return Prefetch("milestones", queryset=OrderMilestone.objects.select_related("payout").order_by("position"))


def _with_parties_and_money() -> QuerySet[Order]:
    # One query per page for the orders and everything one-to-one, one for their milestones.
    return Order.objects.select_related(
        # `offer`: an order placed from a custom offer links to its project (same query).
        "buyer__seller_profile",
        "seller__seller_profile",
        "gig",
        "offer",
        "payment",
        "receipt",
    ).prefetch_related(_ordered_milestones())


def order_list_for_buyer(*, buyer: User) -> QuerySet[Order]:
    """The buyer's orders, newest first."""
    return _with_parties_and_money().filter(buyer=buyer).order_by("-created_at", "-id")


def order_list_for_seller(*, seller: User) -> QuerySet[Order]:
    """Orders of the seller's gigs, newest first (with their milestones: the commission is taken
    per milestone)."""
    return _with_parties_and_money().filter(seller=seller).exclude(status__in=UNPAID).order_by("-created_at", "-id")


def order_list_for(*, user: User, role: str) -> QuerySet[Order]:
    return order_list_for_seller(seller=user) if role == SELLER else order_list_for_buyer(buyer=user)


def order_by_checkout_token(*, buyer: User, checkout_token) -> Order | None:
    """The order a checkout token already placed, if any (a retried request)."""
    return Order.objects.filter(buyer=buyer, checkout_token=checkout_token).first()


def order_get_for_party(*, user: User, pk: int) -> Order:
    """An order for its buyer or its seller; NotFound for anyone else."""
    if not user.is_authenticated:
        raise NotFound("No such order.")
    order = _with_parties_and_money().filter(Q(buyer=user) | (Q(seller=user) & ~Q(status__in=UNPAID)), pk=pk).first()
    if order is None:
        raise NotFound("No such order.")
    return order


def order_get_for_buyer(*, user: User, pk: int) -> Order:
    """An order for its buyer only (paying it); NotFound for anyone else, the seller included."""
    order = order_get_for_party(user=user, pk=pk)
    if order.buyer_id != user.pk:
        raise NotFound("No such order.")
    return order


def order_payment(order: Order) -> Payment | None:
    """The order's payment, if one was started (uses the select_related row: no query)."""
    try:
        return order.payment
    except Payment.DoesNotExist:
        return None


def order_receipt(order: Order) -> Receipt | None:
    """The order's receipt, issued when it was paid (select_related: no query)."""
    try:
        return order.receipt
    except Receipt.DoesNotExist:
        return None


# --- what each side sees of the money -------------------------------------------------------------


@dataclass(frozen=True)
class SellerLine:
    milestone: OrderMilestone
    commission_minor: int

    @property
    def net_minor(self) -> int:
        return self.milestone.price_minor - self.commission_minor


def seller_lines(order: Order) -> list[SellerLine]:
    """Each milestone with the commission taken when it is released (rounded per milestone, as
    each milestone is released on its own). Uses the prefetched milestones."""
    return [SellerLine(m, seller_commission(m.price_minor, order.commission_bps)) for m in order.milestones.all()]


def seller_net_minor(order: Order) -> int:
    """What the seller receives for the whole order once every milestone is released."""
    return sum(line.net_minor for line in seller_lines(order))


def escrow_held(orders: list[Order]) -> dict[int, int]:
    """Escrow held per order of a page, in one query."""
    return ledger.escrow_balances(orders) if orders else {}


# Escrow as the pages describe it. Funding, release and refund are ledger postings; until the
# later issues add releases and refunds, the order's status says where its money stands.
ESCROW_AWAITING = "awaiting payment"
ESCROW_HELD = "held in escrow"
ESCROW_RELEASED = "released"
ESCROW_REFUNDED = "refunded"
ESCROW_NONE = "not funded"


def escrow_state(order: Order) -> str:
    if order.status == Order.Status.PENDING_PAYMENT:
        return ESCROW_AWAITING
    if order.status == Order.Status.ACTIVE:
        return ESCROW_HELD
    if order.status == Order.Status.COMPLETED:
        return ESCROW_RELEASED
    if order.status == Order.Status.CANCELLED and order.paid_at:
        return ESCROW_REFUNDED
    return ESCROW_NONE


def milestone_escrow_state(order: Order, milestone: OrderMilestone) -> str:
    """A milestone's money: the order's state, refined by the milestone's own end state."""
    if order.paid_at is None or order.status in (Order.Status.PENDING_PAYMENT, Order.Status.EXPIRED):
        return escrow_state(order)
    if milestone.status == OrderMilestone.Status.ACCEPTED:
        return ESCROW_RELEASED
    if milestone.status == OrderMilestone.Status.CANCELLED:
        return ESCROW_REFUNDED
    if milestone.status == OrderMilestone.Status.SPLIT:
        return "split"
    return escrow_state(order)


# --- the milestone lifecycle as the order page and the API show it ------------------------------------

MS = OrderMilestone.Status
# Where a milestone can be cancelled by agreement (payments.lifecycle.cancellation_request).

# What the viewer may do now (the services decide again under their locks; the page only offers
# the forms that can succeed).
DELIVER = "deliver"
ACCEPT = "accept"
REVISE = "revise"
ASK_CANCEL = "ask_cancel"
ANSWER_CANCEL = "answer_cancel"
ACCEPT_CANCEL = "accept_cancel"  # with ANSWER_CANCEL when accepting can succeed (declining always can)
CANCEL_LATE = "cancel_late"


def milestone_payout(milestone: OrderMilestone) -> Payout | None:
    """The milestone's payout once released (select_related by the order selectors: no query)."""
    try:
        return milestone.payout
    except Payout.DoesNotExist:
        return None


def order_get_with_lifecycle(*, user: User, pk: int) -> Order:
    """order_get_for_party, with each milestone's deliveries (and their files), revision requests
    and cancellation requests prefetched, and the order's refunds in `order.refund_list`: a fixed
    number of queries however many of them there are. NotFound for anyone but the parties."""
    order = order_get_for_party(user=user, pk=pk)
    prefetch_related_objects(
        list(order.milestones.all()),
        Prefetch(
            "deliveries",
            queryset=Delivery.objects.order_by("created_at", "id").prefetch_related(
                Prefetch("files", queryset=DeliveryFile.objects.order_by("id"))
            ),
        ),
        Prefetch("revision_requests", queryset=RevisionRequest.objects.order_by("created_at", "id")),
        Prefetch("cancellation_requests", queryset=CancellationRequest.objects.order_by("created_at", "id")),
    )
    order.refund_list = list(Refund.objects.filter(order=order).order_by("created_at", "id"))
    return order


def milestone_refund(order: Order, milestone: OrderMilestone) -> Refund | None:
    """The refund that gave the milestone's price back (from order_get_with_lifecycle)."""
    return next((r for r in getattr(order, "refund_list", []) if milestone.pk in r.milestone_ids), None)


def open_cancellation_request(milestone: OrderMilestone) -> CancellationRequest | None:
    return next((r for r in milestone.cancellation_requests.all() if r.status == CancellationRequest.Status.OPEN), None)


def late_after(milestone: OrderMilestone) -> datetime | None:
    """When the buyer may cancel a milestone in progress alone (payments.lifecycle.milestone_cancel_late)."""
    if milestone.due_at is None:
        return None
    return milestone.due_at + timedelta(hours=settings.MARKETPLACE["LATE_CANCEL_HOURS"])


def milestone_actions(order: Order, milestone: OrderMilestone, *, user: User, now: datetime) -> frozenset[str]:
    """The actions `user` may take on the milestone now, mirroring the services' rules."""
    if order.status != Order.Status.ACTIVE:
        return frozenset()
    is_buyer, is_seller = user.pk == order.buyer_id, user.pk == order.seller_id
    working = milestone.status in OrderMilestone.WORKING
    actions = set()
    if is_seller and working:
        actions.add(DELIVER)
    if is_buyer and milestone.status == MS.DELIVERED:
        actions.add(ACCEPT)
        if milestone.revisions_left:
            actions.add(REVISE)
    request = open_cancellation_request(milestone)
    if (is_buyer or is_seller) and request is None and cancellable_by_agreement(milestone):
        # A delivery (no revisions left): before its review deadline, once per party.
        delivered = milestone.status == MS.DELIVERED
        if not delivered or (
            cancellation_acceptable(milestone, now)
            and not asked_about_delivery(milestone, user.pk, milestone.cancellation_requests.all())
        ):
            actions.add(ASK_CANCEL)
    # Declining is always possible; accepting only while the service would cancel the milestone
    # (payments.lifecycle.cancellation_answer): in progress, or a delivery before its deadline.
    answerable = milestone.status in OrderMilestone.WORKING or milestone.status == MS.DELIVERED
    if (is_buyer or is_seller) and request is not None and answerable and request.requested_by_id != user.pk:
        actions.add(ANSWER_CANCEL)
        if cancellation_acceptable(milestone, now):
            actions.add(ACCEPT_CANCEL)
    late = late_after(milestone)
    if is_buyer and working and late is not None and now >= late:
        actions.add(CANCEL_LATE)
    return frozenset(actions)


@dataclass(frozen=True)
class StopOffer:
    """What stopping the order would cancel and refund (payments.lifecycle.order_stop)."""

    milestones: list[OrderMilestone]
    refund_minor: int

    @property
    def positions(self) -> str:
        numbers = [str(m.position + 1) for m in self.milestones]
        return numbers[0] if len(numbers) == 1 else ", ".join(numbers[:-1]) + " and " + numbers[-1]


def order_stop_offer(order: Order, *, user: User) -> StopOffer | None:
    """For the buyer of an active order with an accepted milestone and milestones not started."""
    if user.pk != order.buyer_id or order.status != Order.Status.ACTIVE:
        return None
    milestones = list(order.milestones.all())
    not_started = [m for m in milestones if m.status == MS.LOCKED]
    if not not_started or not any(m.status == MS.ACCEPTED for m in milestones):
        return None
    return StopOffer(not_started, sum(m.price_minor for m in not_started))


@dataclass(frozen=True)
class MoneySummary:
    held_minor: int
    released_minor: int
    refunded_minor: int


def order_money_summary(order: Order) -> MoneySummary:
    """The milestones' prices by where their money is: held in escrow, released to the seller,
    refunded. Refunds are counted by amount (the order's Refund rows: cancellations, a dispute's
    refunded part of a split or of an accepted milestone still pending clearance, a lost
    chargeback), so a split milestone shows its two parts; the rest of what left escrow was
    released. Uses `order.refund_list` when order_get_with_lifecycle loaded it."""
    if order.paid_at is None:
        return MoneySummary(0, 0, 0)
    held = out = 0
    for m in order.milestones.all():
        if m.status in OrderMilestone.UNRELEASED or m.status == MS.DISPUTED:
            held += m.price_minor
        else:
            out += m.price_minor
    refunds = getattr(order, "refund_list", None)
    if refunds is None:
        refunds = list(Refund.objects.filter(order=order))
    refunded = min(sum(r.amount_minor for r in refunds), out)
    return MoneySummary(held, out - refunded, refunded)


# --- seller earnings --------------------------------------------------------------------------------

# Cleared money on its way to the seller: a transfer under way or failed and being retried. The
# earnings page counts it as available (it has cleared) and says it is in transit.
IN_TRANSIT = (Payout.Status.TRANSFERRING, Payout.Status.FAILED)


@dataclass
class EarningsTotals:
    """One currency's totals: money in escrow for the seller's active orders (before commission),
    then released money by payout status, and the commission taken on release."""

    currency: str
    in_escrow_minor: int = 0
    pending_minor: int = 0
    available_minor: int = 0
    in_transit_minor: int = 0
    transferred_minor: int = 0
    released_gross_minor: int = 0
    commission_minor: int = 0
    payouts: int = 0
    failed: int = 0


def earnings_totals_for_seller(*, seller: User) -> list[EarningsTotals]:
    """The seller's totals per currency, in two aggregate queries."""
    totals: dict[str, EarningsTotals] = {}
    rows = (
        Payout.objects.filter(seller=seller)
        .values("currency", "status")
        .annotate(
            amount=Sum("amount_minor"), gross=Sum("gross_minor"), commission=Sum("commission_minor"), n=Count("id")
        )
        .order_by()
    )
    for row in rows:
        t = totals.setdefault(row["currency"], EarningsTotals(row["currency"]))
        status = row["status"]
        if status == Payout.Status.PENDING_CLEARANCE:
            t.pending_minor += row["amount"]
        elif status == Payout.Status.TRANSFERRED:
            t.transferred_minor += row["amount"]
        else:
            t.available_minor += row["amount"]
            if status in IN_TRANSIT:
                t.in_transit_minor += row["amount"]
            if status == Payout.Status.FAILED:
                t.failed += row["n"]
        t.released_gross_minor += row["gross"]
        t.commission_minor += row["commission"]
        t.payouts += row["n"]
    held = (
        OrderMilestone.objects.filter(
            order__seller=seller,
            order__status=Order.Status.ACTIVE,
            status__in=OrderMilestone.UNRELEASED | {MS.DISPUTED},
        )
        .values("order__currency")
        .annotate(amount=Sum("price_minor"))
        .order_by()
    )
    for row in held:
        totals.setdefault(row["order__currency"], EarningsTotals(row["order__currency"])).in_escrow_minor += row[
            "amount"
        ]
    return sorted(totals.values(), key=lambda t: t.currency)


def payout_list_for_seller(*, seller: User) -> QuerySet[Payout]:
    """The seller's payouts (one per released milestone), newest first, with their order and
    milestone: one query per page."""
    return Payout.objects.filter(seller=seller).select_related("order", "milestone").order_by("-created_at", "-id")
