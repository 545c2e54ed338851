"""Money helpers. Amounts are integers in the currency's minor unit; never floats."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext

# Far above any price (10^15 minor units); refusing longer input keeps arithmetic exact.
MAX_DIGITS = 15

# Minor-unit exponent per ISO 4217 currency; anything not listed has 2.
_EXPONENTS = {"JPY": 0, "KRW": 0, "BHD": 3, "KWD": 3}
_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}


def exponent(currency: str) -> int:
    return _EXPONENTS.get(currency.upper(), 2)


def to_minor(amount: str | int | Decimal, currency: str) -> int:
    """Parse a major-unit amount typed by a person ("12.50") into minor units (1250).

    Raises ValueError for anything that is not a finite number with at most the currency's
    number of decimals, so "12.505 USD" is refused rather than silently rounded.
    """
    try:
        value = Decimal(str(amount).strip().replace(",", ""))
    except InvalidOperation as exc:
        raise ValueError("Enter a number.") from exc
    if not value.is_finite():
        raise ValueError("Enter a number.")
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
