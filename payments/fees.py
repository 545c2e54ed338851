"""Fees in basis points and minor units, from settings.MARKETPLACE, rounded half up."""

from django.conf import settings

from milestones.order_services import OrderFees


def bps_of(amount_minor: int, bps: int) -> int:
    """`bps` basis points of an integer amount, rounded half up: bps_of(1999, 550) == 110."""
    return (amount_minor * bps + 5_000) // 10_000


def order_fees(subtotal_minor: int, currency: str) -> OrderFees:
    """The buyer's service fee and small-order fee on a subtotal, and the seller commission rate."""
    rules = settings.MARKETPLACE
    small = rules["SMALL_ORDER_FEE_MINOR"] if subtotal_minor < rules["SMALL_ORDER_THRESHOLD_MINOR"] else 0
    return OrderFees(
        service_fee_minor=bps_of(subtotal_minor, rules["BUYER_SERVICE_FEE_BPS"]),
        small_order_fee_minor=small,
        commission_bps=rules["SELLER_COMMISSION_BPS"],
    )


def seller_commission(price_minor: int, commission_bps: int) -> int:
    return bps_of(price_minor, commission_bps)
