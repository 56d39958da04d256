from decimal import Decimal

import pytest

from billing.errors import UnsupportedAmount
from billing.money import from_minor_units, to_minor_units


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("500.00", "USD", 50000),
        ("500", "usd", 50000),
        ("0.01", "EUR", 1),
        ("19.99", "GBP", 1999),
        ("1500", "JPY", 1500),  # zero-decimal: not multiplied
        ("1500.00", "JPY", 1500),
        ("12.340", "KWD", 12340),  # three decimals, last one 0
        ("12.34", "KWD", 12340),
        ("1000", "ISK", 100000),  # two-decimal representation of a whole amount
        ("92233720368547758.07", "USD", 9223372036854775807),
    ],
)
def test_to_minor_units_follows_stripe_rules(amount: str, currency: str, minor: int) -> None:
    assert to_minor_units(Decimal(amount), currency) == minor


@pytest.mark.parametrize(
    ("amount", "currency"),
    [
        ("500.005", "USD"),  # would need rounding
        ("1500.5", "JPY"),
        ("12.345", "KWD"),  # Stripe requires the last decimal to be 0
        ("1000.50", "ISK"),
        ("0", "USD"),
        ("-5", "USD"),
        ("NaN", "USD"),
        ("Infinity", "USD"),
        ("5", "US"),
        ("5", "U$D"),
    ],
)
def test_amounts_a_currency_cannot_carry_are_refused_not_rounded(amount: str, currency: str) -> None:
    with pytest.raises(UnsupportedAmount):
        to_minor_units(Decimal(amount), currency)


def test_float_amounts_are_refused() -> None:
    with pytest.raises(UnsupportedAmount):
        to_minor_units(500.0, "USD")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("minor", "currency", "amount"),
    [(50000, "usd", "500.00"), (1500, "jpy", "1500"), (12340, "kwd", "12.340"), (1, "eur", "0.01")],
)
def test_from_minor_units_is_exact(minor: int, currency: str, amount: str) -> None:
    result = from_minor_units(minor, currency)
    assert result == Decimal(amount)
    assert isinstance(result, Decimal)


def test_round_trip_is_identity_for_every_cent() -> None:
    for cents in range(1, 100_001, 37):
        assert to_minor_units(from_minor_units(cents, "USD"), "USD") == cents
