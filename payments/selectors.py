"""Reads of orders and their money, scoped to who is asking: an order is visible to its buyer and
its seller only (anyone else gets NotFound, never a hint that it exists). Lists run a fixed number
of queries however many orders a page holds."""

from dataclasses import dataclass

from django.db.models import Prefetch, Q, QuerySet

from gigs.models import User
from marketplace.exceptions import NotFound
from milestones.models import Order, OrderMilestone

from . import ledger
from .fees import seller_commission
from .models import Payment, Receipt

BUYER = "buyer"
SELLER = "seller"
# A seller sees an order once it is paid: a checkout the buyer left unpaid is the buyer's business.
UNPAID = (Order.Status.PENDING_PAYMENT, Order.Status.EXPIRED)
ROLES = (BUYER, SELLER)


def _ordered_milestones() -> Prefetch:
    return Prefetch("milestones", queryset=OrderMilestone.objects.order_by("position"))


def _with_parties_and_money() -> QuerySet[Order]:
    # One query per page for the orders and everything one-to-one, one for their milestones.
    return Order.objects.select_related(
        "buyer__seller_profile", "seller__seller_profile", "gig", "payment", "receipt"
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
