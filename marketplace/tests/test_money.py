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

    @pytest.mark.parametrize(
        "amount",
        ["abc", "", "  ", ".", "12,50.x", "$12", "NaN", "nan", "sNaN", "inf", "-Infinity", "1 234", "١٢", "12_000"],
    )
    def test_refuses_what_is_not_a_finite_number(self, amount):
        with pytest.raises(ValueError, match="Enter a number"):
            to_minor(amount, "USD")


class TestCommas:
    """A comma followed by exactly three digits groups thousands; a comma then one or two digits at
    the end (no dot) is a decimal comma; any other comma is ambiguous and refused."""

    @pytest.mark.parametrize(
        ("amount", "expected"),
        [
            ("1,250", 125000),
            ("1,250.50", 125050),
            ("12,345,678.9", 1234567890),
            ("1,234.", 123400),
            ("12,505", 1250500),  # three digits after the comma: thousands, not 12.505
            ("12,50", 1250),
            ("12,5", 1250),
            ("0,99", 99),
            ("1234,5", 123450),
        ],
    )
    def test_thousands_and_decimal_commas(self, amount, expected):
        assert to_minor(amount, "USD") == expected

    @pytest.mark.parametrize(
        "amount", ["1,2345", "1234,567", "1.234,50", "12,50.5", "1,23,456", ",50", "1,", "1,000,", "1,,000", ","]
    )
    def test_refuses_ambiguous_commas(self, amount):
        with pytest.raises(ValueError, match="Use a comma only"):
            to_minor(amount, "USD")

    def test_the_currency_decides_whether_a_decimal_comma_fits(self):
        assert to_minor("1,250", "JPY") == 1250
        assert to_minor("1,250", "KWD") == 1250000  # three digits: thousands, even with three decimals
        with pytest.raises(ValueError, match="0 decimal places"):
            to_minor("12,5", "JPY")


class TestRefusedForms:
    @pytest.mark.parametrize("amount", ["1e3", "1E3", "1e+20", "1E-2", "1.5e3", "-1e3", "1,000e2"])
    def test_refuses_exponents_with_a_clear_error(self, amount):
        with pytest.raises(ValueError, match="without an exponent"):
            to_minor(amount, "USD")

    @pytest.mark.parametrize("amount", ["-12", "+12", "-0.50", "-1,250"])
    def test_refuses_signs(self, amount):
        with pytest.raises(ValueError, match="without a sign"):
            to_minor(amount, "USD")

    @pytest.mark.parametrize("amount", [-12, Decimal("-1"), Decimal("NaN"), Decimal("Infinity"), True])
    def test_refuses_negative_or_odd_values(self, amount):
        with pytest.raises(ValueError, match="Enter a number"):
            to_minor(amount, "USD")

    @pytest.mark.parametrize("amount", ["12345678901234567890", "1,000,000,000,000,000", Decimal("1E+20")])
    def test_refuses_amounts_too_large(self, amount):
        with pytest.raises(ValueError, match="too large"):
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
