"""Exact money (billing/money.py, billing/types.py): Stripe's minor units per currency, the one currency spelling,
the one rule for a payment settling an invoice, amounts read from the database, SQLite's text spelling."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.errors import UnsupportedAmount
from billing.money import (
    SettlementTerms,
    format_amount,
    from_minor_units,
    normalize_currency,
    parse_amount,
    settlement_terms,
    settles_exactly,
    to_minor_units,
)
from billing.types import canonical_decimal


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


@pytest.mark.parametrize(
    ("spelling", "code"),
    [("usd", "USD"), ("USD", "USD"), (" usd ", "USD"), ("Jpy", "JPY"), ("kwd ", "KWD")],
)
def test_one_spelling_per_currency(spelling: str, code: str) -> None:
    assert normalize_currency(spelling) == code


# The last: full-width digits.
@pytest.mark.parametrize("spelling", ["", "US", "USDD", "U$D", "usd\t", "ÜSD", "\uff11\uff12\uff13"])
def test_what_is_no_currency_code_is_refused(spelling: str) -> None:
    with pytest.raises(UnsupportedAmount):
        normalize_currency(spelling)


@pytest.mark.parametrize(
    ("minor", "currency", "terms"),
    [
        (50000, "usd", SettlementTerms(Decimal("500"), "USD")),
        (150000, "jpy", SettlementTerms(Decimal("150000"), "JPY")),
        (12340, "KWD", SettlementTerms(Decimal("12.34"), "KWD")),
        (None, "usd", None),
        (50000, None, None),
        (50000, "", None),
        (50000, "dollars", None),
        (True, "usd", None),
    ],
)
def test_settlement_terms_of_a_payment(minor: int | None, currency: str | None, terms: SettlementTerms | None) -> None:
    assert settlement_terms(minor, currency) == terms


@pytest.mark.parametrize(
    ("terms", "amount", "currency", "settles"),
    [
        (SettlementTerms(Decimal("500"), "USD"), "500.00", "USD", True),
        (SettlementTerms(Decimal("500"), "USD"), "500", " usd ", True),
        (SettlementTerms(Decimal("500"), "USD"), "600.00", "USD", False),  # the invoice was edited
        (SettlementTerms(Decimal("500"), "USD"), "500.00", "EUR", False),
        (SettlementTerms(Decimal("500"), "USD"), "500.00", "??", False),
        (None, "500.00", "USD", False),
    ],
)
def test_the_one_rule_for_a_payment_settling_an_invoice(
    terms: SettlementTerms | None, amount: str, currency: str, settles: bool
) -> None:
    assert settles_exactly(terms, Decimal(amount), currency) is settles


@pytest.mark.parametrize(
    ("value", "amount"),
    [("500.00", Decimal("500.00")), (Decimal("12.34"), Decimal("12.34")), (7, Decimal(7)), ("1E+2", Decimal(100))],
)
def test_amounts_read_from_the_database_are_exact(value: object, amount: Decimal) -> None:
    assert parse_amount(value) == amount


@pytest.mark.parametrize("value", [500.0, "five", None])
def test_floats_and_non_amounts_are_refused(value: object) -> None:
    with pytest.raises(UnsupportedAmount):
        parse_amount(value)


@pytest.mark.parametrize(
    ("amount", "text"),
    [("500.00", "500"), ("5E+2", "500"), ("12.340", "12.34"), ("0.10", "0.1"), ("-0", "0"), ("0.000", "0"),
     ("1234567890123.45", "1234567890123.45")],
)
def test_sqlite_keeps_one_text_spelling_per_amount(amount: str, text: str) -> None:
    assert canonical_decimal(Decimal(amount)) == text


def test_no_text_spelling_for_what_is_not_a_number() -> None:
    with pytest.raises(ValueError):
        canonical_decimal(Decimal("NaN"))


@pytest.mark.parametrize(("amount", "currency", "shown"), [
    ("500", "usd", "$500.00"),
    ("1250.5", "USD", "$1,250.50"),
    ("150000", "JPY", "¥150,000"),  # no decimals
    ("1234.56", "KWD", "KWD 1,234.560"),  # three
    ("12.5", "EUR", "€12.50"),
    ("0.001", "USD", "$0.001"),  # more decimals than the currency has: shown, never rounded
    ("1000000", "XOF", "XOF 1,000,000"),
])
def test_amounts_are_shown_with_their_currencys_decimals(amount: str, currency: str, shown: str) -> None:
    assert format_amount(Decimal(amount), currency) == shown
