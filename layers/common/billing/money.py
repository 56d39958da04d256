"""Exact money: Decimal major units in the database, integer minor units at Stripe.

Stripe's rules (https://docs.stripe.com/currencies): zero-decimal currencies are sent as-is (JPY 500 -> 500);
three-decimal currencies are sent in thousandths but the last digit must be 0 (KWD 12.340 -> 12340);
ISK is sent with two decimals but must be a whole amount. Amounts that cannot be represented are refused,
never rounded: rounding a bill is a decision for a person, not for this code.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import NamedTuple

from billing.errors import UnsupportedAmount

ZERO_DECIMAL_CURRENCIES = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"}
)
THREE_DECIMAL_CURRENCIES = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})
WHOLE_AMOUNT_TWO_DECIMAL_CURRENCIES = frozenset({"ISK"})


def minor_unit_exponent(currency: str) -> int:
    code = normalize_currency(currency)
    if code in ZERO_DECIMAL_CURRENCIES:
        return 0
    if code in THREE_DECIMAL_CURRENCIES:
        return 3
    return 2


# What normalize_currency strips around a code. SQL's trim() strips exactly this (spaces), so the one SQL spelling
# of the rule, `upper(trim(currency))` (repository.sql.normalized_currency), agrees with it on every stored value.
CURRENCY_PADDING = " "


def normalize_currency(currency: str) -> str:
    """The one spelling of a currency code: "usd", "USD" and " usd " are all "USD"."""
    code = (currency or "").strip(CURRENCY_PADDING).upper()
    if len(code) != 3 or not code.isalpha() or not code.isascii():
        raise UnsupportedAmount(f"not an ISO 4217 currency code: {currency!r}")
    return code


class SettlementTerms(NamedTuple):
    """What a payment settles: an amount in major units and a normalised currency code."""

    amount: Decimal
    currency: str


def settlement_terms(amount_minor: int | None, currency: str | None) -> SettlementTerms | None:
    """The terms of a payment of `amount_minor` (Stripe's integer amount) in `currency`; None if unreadable."""
    if amount_minor is None or not currency:
        return None
    try:
        code = normalize_currency(currency)
        return SettlementTerms(from_minor_units(amount_minor, code), code)
    except UnsupportedAmount:
        return None


def settles_exactly(terms: SettlementTerms | None, amount: Decimal, currency: str) -> bool:
    """The one rule for "this payment pays this invoice": exactly its amount, in its currency. The conditional
    UPDATE that records a payment states the same rule in SQL (repository.invoices, Guard.AMOUNT_AND_CURRENCY):
    `amount = terms.amount AND upper(trim(currency)) = terms.currency`."""
    if terms is None:
        return False
    try:
        return terms == (amount, normalize_currency(currency))
    except UnsupportedAmount:
        return False


def to_minor_units(amount: Decimal, currency: str) -> int:
    """Major units -> Stripe's integer amount, refusing anything that would need rounding."""
    code = normalize_currency(currency)
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise UnsupportedAmount(f"amount must be a finite Decimal, got {amount!r}")
    if amount <= 0:
        raise UnsupportedAmount("amount must be positive")
    scaled = amount.scaleb(minor_unit_exponent(code))
    if scaled != scaled.to_integral_value():
        raise UnsupportedAmount(f"{amount} {code} has more decimals than {code} allows")
    minor = int(scaled)
    if code in THREE_DECIMAL_CURRENCIES and minor % 10:
        raise UnsupportedAmount(f"{amount} {code}: Stripe requires the last of three decimals to be 0")
    if code in WHOLE_AMOUNT_TWO_DECIMAL_CURRENCIES and minor % 100:
        raise UnsupportedAmount(f"{amount} {code}: Stripe accepts only whole amounts of {code}")
    return minor


def from_minor_units(minor: int, currency: str) -> Decimal:
    """Stripe's integer amount -> exact major units (Decimal)."""
    if isinstance(minor, bool) or not isinstance(minor, int):
        raise UnsupportedAmount(f"minor-unit amount must be an integer, got {minor!r}")
    return Decimal(minor).scaleb(-minor_unit_exponent(currency))


def parse_amount(value: object) -> Decimal:
    """A Decimal from a database value or a decimal string; floats are refused (they are not exact)."""
    if isinstance(value, float):
        raise UnsupportedAmount("float amounts are not exact; store amounts as NUMERIC")
    try:
        return Decimal(str(value)) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise UnsupportedAmount(f"not an amount: {value!r}") from None


# The symbols a reader knows without the code; every other currency is written with its code ("KWD 1,234.560"),
# as Intl.NumberFormat writes it in English (portal/format.js): display only.
_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}


def format_amount(amount: Decimal, currency: str) -> str:
    """An amount as a person reads it, with its currency's decimals: $500.00, ¥150,000, KWD 1,234.560. Exact: an
    amount with more decimals than its currency has is shown with all of them, never rounded."""
    code, value = normalize_currency(currency), parse_amount(amount)
    exponent = value.normalize().as_tuple().exponent
    decimals = max(minor_unit_exponent(code), -exponent if isinstance(exponent, int) else 0)
    text = f"{value:,.{decimals}f}"
    symbol = _SYMBOLS.get(code)
    if text.startswith("-"):
        return f"-{symbol}{text[1:]}" if symbol else f"-{code} {text[1:]}"
    return f"{symbol}{text}" if symbol else f"{code} {text}"


# Stripe's minimum charge amounts (https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts), in major
# units, for the currencies it lists; and its maximum, 99,999,999 in minor units, for every currency.
MINIMUM_CHARGE = {
    "USD": Decimal("0.50"), "AED": Decimal("2.00"), "AUD": Decimal("0.50"), "BGN": Decimal("1.00"),
    "BRL": Decimal("0.50"), "CAD": Decimal("0.50"), "CHF": Decimal("0.50"), "CZK": Decimal("15.00"),
    "DKK": Decimal("2.50"), "EUR": Decimal("0.50"), "GBP": Decimal("0.30"), "HKD": Decimal("4.00"),
    "HUF": Decimal("175.00"), "INR": Decimal("0.50"), "JPY": Decimal("50"), "MXN": Decimal("10"),
    "MYR": Decimal("2"), "NOK": Decimal("3.00"), "NZD": Decimal("0.50"), "PLN": Decimal("2.00"),
    "RON": Decimal("2.00"), "SEK": Decimal("3.00"), "SGD": Decimal("0.50"), "THB": Decimal("10"),
}
MAXIMUM_CHARGE_MINOR = 99_999_999


def check_chargeable(amount: Decimal, currency: str) -> int:
    """The minor units of an amount Stripe can charge in `currency`: exact (to_minor_units), and between Stripe's
    minimum for the currency and its maximum. UnsupportedAmount says why not."""
    minor = to_minor_units(amount, currency)
    code = normalize_currency(currency)
    minimum = MINIMUM_CHARGE.get(code)
    if minimum is not None and amount < minimum:
        raise UnsupportedAmount(f"{amount} {code} is below Stripe's minimum charge of {minimum} {code}")
    if minor > MAXIMUM_CHARGE_MINOR:
        raise UnsupportedAmount(f"{amount} {code} is above Stripe's maximum charge")
    return minor
