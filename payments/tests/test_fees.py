"""Fees: basis points rounded half up, the small-order fee under the threshold only, settings read at
call time, and what an order stores (subtotal + fees = total)."""

from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gigs.models import Package
from gigs.tests.factories import GigFactory
from payments.fees import bps_of, order_fees, seller_commission
from payments.tests.factories import gig_with_plan, place_order

DEFAULTS = {
    "BUYER_SERVICE_FEE_BPS": 550,
    "SMALL_ORDER_FEE_MINOR": 300,
    "SMALL_ORDER_THRESHOLD_MINOR": 10_000,
    "SELLER_COMMISSION_BPS": 2000,
}


@pytest.fixture(autouse=True)
def _fee_rules(settings):
    """Pin the documented defaults so an environment override cannot change what these tests mean."""
    settings.MARKETPLACE = {**settings.MARKETPLACE, **DEFAULTS}


class TestBasisPoints:
    @pytest.mark.parametrize(
        ("amount", "bps", "fee"),
        [
            (1999, 550, 110),  # 109.945
            (7500, 550, 413),  # 412.5: half rounds up
            (3500, 550, 193),  # 192.5
            (1, 5000, 1),  # 0.5
            (3, 5000, 2),  # 1.5
            (4999, 1, 0),  # 0.4999
            (5000, 1, 1),  # 0.5
            (5001, 1, 1),
            (14999, 1, 1),  # 1.4999
            (0, 550, 0),
            (10_000, 0, 0),
            (10_000, 10_000, 10_000),
            (10**15 + 5000, 1, 10**11 + 1),  # exact on large amounts: integers, no float
        ],
    )
    def test_rounds_half_up(self, amount, bps, fee):
        assert bps_of(amount, bps) == fee
        assert isinstance(bps_of(amount, bps), int)

    @settings(max_examples=200, database=None)
    @given(amount=st.integers(0, 10**15), bps=st.integers(0, 10_000))
    def test_matches_decimal_half_up(self, amount, bps):
        exact = (Decimal(amount) * bps / 10_000).quantize(Decimal(1), rounding=ROUND_HALF_UP)
        assert bps_of(amount, bps) == int(exact)

    def test_seller_commission_is_bps_of_the_price(self):
        assert seller_commission(7500, 2000) == 1500
        assert seller_commission(1999, 2000) == 400  # 399.8
        assert seller_commission(2, 2500) == 1  # 0.5


class TestOrderFees:
    @pytest.mark.parametrize(
        ("subtotal", "service", "small"),
        [
            (500, 28, 300),  # 27.5
            (9_999, 550, 300),  # 549.945; one cent under $100
            (10_000, 550, 0),  # exactly $100: no small-order fee
            (10_001, 550, 0),
            (250_000, 13_750, 0),
        ],
    )
    def test_service_fee_and_small_order_fee_under_the_threshold_only(self, subtotal, service, small):
        fees = order_fees(subtotal, "USD")
        assert (fees.service_fee_minor, fees.small_order_fee_minor, fees.commission_bps) == (service, small, 2000)

    def test_settings_overrides_are_read_at_call_time(self, settings):
        settings.MARKETPLACE = {
            **settings.MARKETPLACE,
            "BUYER_SERVICE_FEE_BPS": 300,
            "SMALL_ORDER_FEE_MINOR": 199,
            "SMALL_ORDER_THRESHOLD_MINOR": 5_000,
            "SELLER_COMMISSION_BPS": 1_500,
        }
        under, at = order_fees(4_999, "USD"), order_fees(5_000, "USD")
        assert (under.service_fee_minor, under.small_order_fee_minor, under.commission_bps) == (150, 199, 1_500)
        assert (at.service_fee_minor, at.small_order_fee_minor, at.commission_bps) == (150, 0, 1_500)

    def test_no_fees_configured(self, settings):
        settings.MARKETPLACE = {**settings.MARKETPLACE, "BUYER_SERVICE_FEE_BPS": 0, "SMALL_ORDER_FEE_MINOR": 0}
        fees = order_fees(1_000, "USD")
        assert (fees.service_fee_minor, fees.small_order_fee_minor) == (0, 0)


@pytest.mark.django_db
class TestFeesOnTheOrder:
    @pytest.mark.parametrize(
        ("tier", "subtotal", "service", "small"),
        [
            ("basic", 3_500, 193, 300),
            ("standard", 7_500, 413, 300),
            ("premium", 11_500, 633, 0),
        ],
    )
    def test_order_stores_its_fees_and_total(self, tier, subtotal, service, small):
        order = place_order(gig=gig_with_plan(), tier=tier)
        assert order.subtotal_minor == subtotal == sum(m.price_minor for m in order.milestones.all())
        assert (order.service_fee_minor, order.small_order_fee_minor) == (service, small)
        assert order.buyer_fees_minor == service + small
        assert order.total_minor == subtotal + service + small
        assert order.commission_bps == 2000

    @pytest.mark.parametrize(("price", "small"), [(9_999, 300), (10_000, 0)])
    def test_small_order_boundary_at_exactly_100_dollars(self, price, small):
        gig = GigFactory(published=True)  # plain packages: the order is the package
        Package.objects.filter(gig=gig, tier=Package.Tier.BASIC).update(price_minor=price)
        order = place_order(gig=gig, tier="basic")
        assert order.subtotal_minor == price
        assert order.small_order_fee_minor == small
        assert order.total_minor == price + 550 + small

    def test_order_keeps_the_fees_of_the_moment_it_was_placed(self, settings):
        gig = gig_with_plan()
        settings.MARKETPLACE = {**settings.MARKETPLACE, "BUYER_SERVICE_FEE_BPS": 1_000, "SELLER_COMMISSION_BPS": 1_000}
        order = place_order(gig=gig, tier="standard")
        assert (order.service_fee_minor, order.small_order_fee_minor, order.total_minor) == (750, 300, 8_550)
        assert order.commission_bps == 1_000

        settings.MARKETPLACE = {**settings.MARKETPLACE, **DEFAULTS}
        order.refresh_from_db()
        assert (order.service_fee_minor, order.total_minor, order.commission_bps) == (750, 8_550, 1_000)
