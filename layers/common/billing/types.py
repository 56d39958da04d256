"""Column types that behave the same on PostgreSQL (production, tests) and SQLite (the local default).

SQLAlchemy's Numeric on SQLite goes through float, so an amount would silently stop being exact there.
`ExactDecimal` is NUMERIC on PostgreSQL and, on SQLite, text holding the canonical decimal string of the
amount. Canonical means one spelling per value ("500", "12.34"; never "500.00" or "5E+2"), so that the
conditional UPDATEs comparing `amount = :amount` in SQL match exactly when the numbers are equal.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Numeric, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from billing.money import parse_amount


def canonical_decimal(amount: Decimal) -> str:
    """The one text spelling of `amount`: no exponent, no trailing zeros ("500.00" -> "500")."""
    if not amount.is_finite():
        raise ValueError(f"not a finite amount: {amount}")
    text = format(amount.normalize(), "f")
    return "0" if text in ("-0", "0") else text


class ExactDecimal(TypeDecorator[Decimal]):
    """An exact decimal: NUMERIC where the database has it, a canonical decimal string on SQLite.

    Floats are refused on the way in and on the way out (billing.money.parse_amount)."""

    impl = Numeric
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(Text())
        return dialect.type_descriptor(Numeric(asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        amount = parse_amount(value)
        return canonical_decimal(amount) if dialect.name == "sqlite" else amount

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return parse_amount(value)
