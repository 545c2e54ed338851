"""Unit tests of marketplace.money: parsing typed amounts into minor units, and formatting them."""

from decimal import Decimal

import pytest

from marketplace.money import exponent, format_money, to_major, to_minor


class TestToMinor:
    @pytest.mark.parametrize(
        ("amount", "currency", "expected"),
        [
            ("12.50", "USD", 1250),
            ("12.5", "USD", 1250),
            ("12", "USD", 1200),
            ("0.01", "USD", 1),
            (" 12.50 ", "USD", 1250),
            ("1,234.50", "USD", 123450),
            ("12.500", "USD", 1250),  # trailing zeros are not extra precision
            (12, "USD", 1200),
            (Decimal("9.99"), "EUR", 999),
            ("12.50", "usd", 1250),  # currency codes are case-insensitive
            ("100", "JPY", 100),
            ("1.234", "KWD", 1234),
        ],
    )
    def test_parses_major_units(self, amount, currency, expected):
        assert to_minor(amount, currency) == expected
        assert isinstance(to_minor(amount, currency), int)

    @pytest.mark.parametrize(
        ("amount", "currency"),
        [
            ("12.505", "USD"),  # refused rather than silently rounded
            ("0.001", "USD"),
            ("100.5", "JPY"),  # yen has no minor unit
            ("1.2345", "KWD"),
        ],
    )
    def test_refuses_more_decimals_than_the_currency_has(self, amount, currency):
        with pytest.raises(ValueError, match="decimal places"):
            to_minor(amount, currency)

    @pytest.mark.parametrize("amount", ["abc", "", "  ", "12,50.x", "$12", "NaN", "nan", "sNaN", "inf", "-Infinity"])
    def test_refuses_what_is_not_a_finite_number(self, amount):
        with pytest.raises(ValueError, match="Enter a number"):
            to_minor(amount, "USD")


class TestToMajor:
    @pytest.mark.parametrize(
        ("amount_minor", "currency", "expected"),
        [
            (1250, "USD", Decimal("12.50")),
            (1, "USD", Decimal("0.01")),
            (0, "USD", Decimal("0")),
            (100, "JPY", Decimal("100")),
            (1234, "KWD", Decimal("1.234")),
        ],
    )
    def test_converts_minor_to_major(self, amount_minor, currency, expected):
        assert to_major(amount_minor, currency) == expected

    @pytest.mark.parametrize(("amount", "currency"), [("12.50", "USD"), ("0.07", "GBP"), ("4500", "JPY")])
    def test_round_trips_with_to_minor(self, amount, currency):
        assert to_major(to_minor(amount, currency), currency) == Decimal(amount)

    def test_exponents(self):
        assert exponent("USD") == 2
        assert exponent("jpy") == 0
        assert exponent("BHD") == 3
        assert exponent("XYZ") == 2  # unknown currencies default to 2 decimals


class TestFormatMoney:
    @pytest.mark.parametrize(
        ("amount_minor", "currency", "expected"),
        [
            (1250, "USD", "$12.50"),
            (1205, "USD", "$12.05"),
            (1500, "USD", "$15"),  # whole amounts drop the cents
            (1, "USD", "$0.01"),
            (0, "USD", "$0"),
            (123450, "USD", "$1,234.50"),
            (123400, "USD", "$1,234"),
            (123456789, "USD", "$1,234,567.89"),
            (4500, "EUR", "€45"),
            (999, "GBP", "£9.99"),
            (4500, "JPY", "¥4,500"),
            (1250, "usd", "$12.50"),
            (1250, "CHF", "12.50 CHF"),  # no symbol known: the code goes after
            (150000, "chf", "1,500 CHF"),
            (1234, "KWD", "1.234 KWD"),
        ],
    )
    def test_formats(self, amount_minor, currency, expected):
        assert format_money(amount_minor, currency) == expected

    def test_none_is_blank(self):
        assert format_money(None, "USD") == ""


def test_long_input_is_refused_not_rounded():
    with pytest.raises(ValueError):
        to_minor("12345678901234567890123456.785", "USD")
    assert to_minor("99999999999999.99", "USD") == 9999999999999999


def test_negative_amounts_put_the_sign_first():
    assert format_money(-1250, "USD") == "-$12.50"
