"""Column types that behave the same on PostgreSQL (production, tests) and SQLite (the local default).

SQLAlchemy's Numeric on SQLite goes through float, so an amount would silently stop being exact there.
`ExactDecimal` is NUMERIC on PostgreSQL and, on SQLite, text holding the canonical decimal string of the
amount. Canonical means one spelling per value ("500", "12.34"; never "500.00" or "5E+2"), so that the
conditional UPDATEs comparing `amount = :amount` in SQL match exactly when the numbers are equal.

In the portal's database Prisma makes `amount Float` a double precision column: see `amount_of_double`.
"""

from __future__ import annotations

from collections.abc import Callable
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


def amount_of_double(value: float) -> Decimal:
    """The amount a double precision column holds, as the portal wrote it: the shortest decimal that reads back as
    this double (Python's repr, and what JavaScript, hence Prisma Client, prints). 100.1 is stored as
    100.099999999999994315658...; its shortest decimal is 100.1, so it is read as Decimal("100.1"), exactly what a
    person typed for any amount of up to 15 significant digits. A double left by float arithmetic keeps every
    digit it needs (0.1 + 0.2 is 0.30000000000000004) and money.to_minor_units refuses it: never rounded."""
    return Decimal(repr(value))


class ExactDecimal(TypeDecorator[Decimal]):
    """An exact decimal: NUMERIC where the database has it, a canonical decimal string on SQLite; a double precision
    column of the portal's (Prisma's `Float`) is read with `amount_of_double`.

    Floats are refused on the way in (billing.money.parse_amount)."""

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

    def result_processor(self, dialect: Dialect, coltype: Any) -> Callable[[Any], Decimal | None]:
        # The driver's own value, not Numeric's conversion of it: from a double precision column Numeric would make
        # a Decimal rounded to 10 places (100.1000000000, and 0.30000000000000004 quietly 0.3).
        def process(value: Any) -> Decimal | None:
            return self.process_result_value(value, dialect)

        return process

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return amount_of_double(value) if isinstance(value, float) else parse_amount(value)
