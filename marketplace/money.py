"""Money helpers. Amounts are integers in the currency's minor unit; never floats."""

import re
from decimal import ROUND_HALF_UP, Decimal, localcontext

# Far above any price (10^15 minor units); refusing longer input keeps arithmetic exact.
MAX_DIGITS = 15

# Minor-unit exponent per ISO 4217 currency; anything not listed has 2.
_EXPONENTS = {"JPY": 0, "KRW": 0, "BHD": 3, "KWD": 3}
_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}


def exponent(currency: str) -> int:
    return _EXPONENTS.get(currency.upper(), 2)


# The forms a typed amount may take; static/js/milestone-builder.js accepts exactly the same ones.
# ASCII digits only ("\d" would also take other scripts' digits, which the page script refuses).
_PLAIN = re.compile(r"(?P<whole>[0-9]*)(?:\.(?P<frac>[0-9]*))?")  # "1250", "12.50", ".5", "12."
_GROUPED = re.compile(r"(?P<whole>[0-9]{1,3}(?:,[0-9]{3})+)(?:\.(?P<frac>[0-9]*))?")  # "1,250", "1,250.50"
_DECIMAL_COMMA = re.compile(r"(?P<whole>[0-9]+),(?P<frac>[0-9]{1,2})")  # "12,50", "12,5"
_EXPONENT = re.compile(r"[+-]?[0-9.,]*[0-9][0-9.,]*[eE][+-]?[0-9]*")
_SPACE = " \t\n\r\f\v"  # what JavaScript's trim() removes too (ASCII whitespace)

NOT_A_NUMBER = "Enter a number."
AMBIGUOUS_COMMA = "Use a comma only to group thousands (1,250.50) or as the decimal mark before the cents (12,50)."


def _match(text: str) -> re.Match | None:
    match = _PLAIN.fullmatch(text) or _GROUPED.fullmatch(text) or _DECIMAL_COMMA.fullmatch(text)
    return match if match is not None and (match["whole"] or match["frac"]) else None


def _parse(text: str) -> Decimal:
    """A typed amount as a Decimal, or ValueError with a message for the person who typed it."""
    text = text.strip(_SPACE)
    match = _match(text)
    if match is None:
        if _EXPONENT.fullmatch(text):
            raise ValueError("Write the amount in plain digits, without an exponent (1000, not 1e3).")
        if text[:1] in ("+", "-") and _match(text[1:]):
            raise ValueError("Enter the amount without a sign.")
        if "," in text and re.fullmatch(r"[0-9.,]+", text):
            raise ValueError(AMBIGUOUS_COMMA)
        raise ValueError(NOT_A_NUMBER)
    return Decimal(f"{match['whole'].replace(',', '') or '0'}.{match['frac'] or '0'}")


def to_minor(amount: str | int | Decimal, currency: str) -> int:
    """Parse a major-unit amount typed by a person ("12.50") into minor units (1250).

    Text may group thousands with commas ("1,250.50": a comma followed by exactly three digits)
    or use a decimal comma before the cents ("12,50" = 12.50: a comma then one or two digits at
    the end, with no dot); "." is otherwise the decimal mark. No sign, no exponent ("1e3"), no
    other comma ("1,2345", "1.234,50"). Raises ValueError, with a message to show, for anything
    else and for more decimals than the currency has, so "12.505 USD" is refused rather than
    silently rounded.
    """
    if isinstance(amount, bool):
        raise ValueError(NOT_A_NUMBER)
    value = Decimal(amount) if isinstance(amount, int | Decimal) else _parse(str(amount))
    if not value.is_finite() or value.is_signed():
        raise ValueError(NOT_A_NUMBER)
    if value.adjusted() >= MAX_DIGITS:
        raise ValueError("That amount is too large.")
    with localcontext() as ctx:
        ctx.prec = 2 * MAX_DIGITS + len(value.as_tuple().digits)  # exact: no rounding of long input
        scaled = value.scaleb(exponent(currency))
    if scaled != scaled.to_integral_value():
        raise ValueError(f"Use at most {exponent(currency)} decimal places.")
    return int(scaled)


def to_major(amount_minor: int, currency: str) -> Decimal:
    return Decimal(amount_minor).scaleb(-exponent(currency))


def format_money(amount_minor: int | None, currency: str) -> str:
    """`format_money(1250, "USD")` -> "$12.50"; whole amounts drop the cents: "$15"."""
    if amount_minor is None:
        return ""
    if amount_minor < 0:
        return "-" + format_money(-amount_minor, currency)
    major = to_major(amount_minor, currency)
    places = exponent(currency)
    if major == major.to_integral_value():
        text = f"{int(major):,}"
    else:
        text = f"{major.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):,}"
    symbol = _SYMBOLS.get(currency.upper())
    return f"{symbol}{text}" if symbol else f"{text} {currency.upper()}"
