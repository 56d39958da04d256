"""The portal's columns as Prisma makes them (issue 11), without a database: a double precision "amount" read as
the decimal the portal wrote (billing/types.py), a timestamp without time zone read as the UTC it holds
(billing/db_pg8000.py), and which of the portal's tables and columns the adoption accepts (billing/adoption.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from pg8000 import converters
from sqlalchemy import DateTime, Integer
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.types import TEXT, VARCHAR, TypeEngine

from billing.adoption import PORTAL_TABLES, ColumnTypes, problems_with_portal_tables
from billing.db_pg8000 import timestamp_parser
from billing.errors import UnsupportedAmount
from billing.money import to_minor_units
from billing.types import ExactDecimal, amount_of_double

# ----- a double precision "amount" ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "amount"),
    [
        (100.1, "100.1"),  # stored as 100.099999999999994315658...
        (19.99, "19.99"),
        (1234.56, "1234.56"),
        (5.12, "5.12"),
        (5000.0, "5000"),
        (0.01, "0.01"),
        (1234567890123.45, "1234567890123.45"),  # 15 significant digits: still the decimal typed
        (0.1 + 0.2, "0.30000000000000004"),  # float arithmetic's leftover keeps its digits
    ],
)
def test_a_double_is_read_as_the_shortest_decimal_that_is_that_double(typed: float, amount: str) -> None:
    assert amount_of_double(typed) == Decimal(amount)
    assert float(amount_of_double(typed)) == typed


@pytest.mark.parametrize(
    ("typed", "currency", "minor"),
    [(100.1, "USD", 10010), (19.99, "USD", 1999), (1234.56, "USD", 123456), (5000.0, "JPY", 5000),
     (5.12, "KWD", 5120)],
)
def test_a_double_is_charged_its_exact_minor_units(typed: float, currency: str, minor: int) -> None:
    assert to_minor_units(amount_of_double(typed), currency) == minor


@pytest.mark.parametrize(("typed", "currency"), [(0.1 + 0.2, "USD"), (100.005, "USD"), (1500.5, "JPY")])
def test_a_double_that_is_no_whole_number_of_minor_units_is_refused_not_rounded(typed: float, currency: str) -> None:
    with pytest.raises(UnsupportedAmount):
        to_minor_units(amount_of_double(typed), currency)


DIALECTS = {"postgresql": postgresql.pg8000.dialect(), "sqlite": sqlite.dialect()}


@pytest.mark.parametrize(
    ("dialect", "value", "amount"),
    [
        ("postgresql", 100.1, Decimal("100.1")),  # double precision (the portal's, Prisma's Float)
        ("postgresql", 0.1 + 0.2, Decimal("0.30000000000000004")),  # not quietly 0.3, as Numeric would make it
        ("postgresql", Decimal("500.00"), Decimal("500.00")),  # NUMERIC (the project's own)
        ("sqlite", "12.34", Decimal("12.34")),  # SQLite's canonical decimal text
        ("postgresql", None, None),
    ],
)
def test_the_amount_column_reads_what_the_driver_gives_exactly(dialect: str, value: object,
                                                               amount: Decimal | None) -> None:
    column_type = ExactDecimal()
    process = column_type.result_processor(DIALECTS[dialect], None)

    assert process(value) == amount
    assert column_type.process_result_value(value, DIALECTS[dialect]) == amount
    assert amount is None or type(process(value)) is Decimal


# ----- a timestamp without time zone --------------------------------------------------------------------------

READ_ZONE_LESS = timestamp_parser(converters.timestamp_in, zone=UTC)  # timestamp (Prisma's DateTime)
READ_WITH_ZONE = timestamp_parser(converters.timestamptz_in)  # timestamptz (the project's own)
READERS = {"timestamp": READ_ZONE_LESS, "timestamptz": READ_WITH_ZONE}


@pytest.mark.parametrize(
    ("column", "text", "value"),
    [
        ("timestamp", "2026-01-15 09:30:00", datetime(2026, 1, 15, 9, 30, tzinfo=UTC)),
        ("timestamp", "2026-01-15 09:30:00.123", datetime(2026, 1, 15, 9, 30, 0, 123000, tzinfo=UTC)),
        ("timestamp", "infinity", "infinity"),  # pg8000's own answer, left as it is
        ("timestamptz", "2026-01-15 09:30:00+00", datetime(2026, 1, 15, 9, 30, tzinfo=UTC)),
        ("timestamptz", "2026-01-15 23:30:00+14", datetime(2026, 1, 15, 23, 30,
                                                             tzinfo=timezone(timedelta(hours=14)))),
        ("timestamptz", "-infinity", "-infinity"),
    ],
)
def test_timestamps_are_read_as_the_instant_they_hold(column: str, text: str, value: object) -> None:
    read = READERS[column](text)

    assert read == value
    assert not isinstance(read, datetime) or read.utcoffset() is not None  # never a naive local time


def test_a_zone_less_timestamp_is_the_same_instant_whatever_the_sessions_zone() -> None:
    # The server's zone (UTC+14 in tests/prisma) plays no part: the text is UTC as Prisma Client writes it
    assert READ_ZONE_LESS("2026-01-15 09:30:00") == READ_WITH_ZONE("2026-01-15 23:30:00+14")


# ----- which portal tables the adoption accepts ---------------------------------------------------------------


def prisma_type(column_type: TypeEngine[Any]) -> TypeEngine[Any]:
    """The type PostgreSQL reports for a column Prisma made from the seed's schema."""
    if isinstance(column_type, ExactDecimal):
        return postgresql.DOUBLE_PRECISION(precision=53)
    if isinstance(column_type, DateTime):
        return postgresql.TIMESTAMP(precision=3)
    if isinstance(column_type, Integer):
        return postgresql.INTEGER()
    return TEXT()


def projects_type(column_type: TypeEngine[Any]) -> TypeEngine[Any]:
    """The type PostgreSQL reports for a column this project's migrations made."""
    if isinstance(column_type, ExactDecimal):
        return postgresql.NUMERIC()
    if isinstance(column_type, DateTime):
        return postgresql.TIMESTAMP(timezone=True)
    return prisma_type(column_type)


def portal_built_by(kind: Any, **changes: TypeEngine[Any] | None) -> dict[str, dict[str, TypeEngine[Any]]]:
    """The portal's four tables with every column the schema declares, typed by `kind`; `changes` ("Table.column"
    = a type, or None to drop it; "Table" = None drops the table) applied."""
    tables = {table.name: {column.name: kind(column.type) for column in table.columns} for table in PORTAL_TABLES}
    for name, column_type in changes.items():
        table, _, column = name.partition(".")
        if not column:
            del tables[table]
        elif column_type is None:
            del tables[table][column]
        else:
            tables[table][column] = column_type
    return tables


@pytest.mark.parametrize(
    ("found", "dialect", "problems"),
    [
        pytest.param(portal_built_by(prisma_type), "postgresql", [], id="as Prisma built them"),
        pytest.param(portal_built_by(projects_type), "postgresql", [], id="as the migrations built them"),
        pytest.param(portal_built_by(prisma_type, **{"Contact.locale": TEXT(), "Invoice.createdById": TEXT()}),
                     "postgresql", [], id="extra columns of the portal"),
        pytest.param(portal_built_by(prisma_type, **{"Invoice.amount": VARCHAR()}), "sqlite", [],
                     id="decimal text on SQLite"),
        pytest.param(portal_built_by(prisma_type, Proposal=None), "postgresql", ['table "Proposal" is missing'],
                     id="a table missing"),
        pytest.param(portal_built_by(prisma_type, **{"Contact.firebaseUid": None, "Invoice.paidByContactId": None}),
                     "postgresql",
                     ['column "Contact"."firebaseUid" is missing', 'column "Invoice"."paidByContactId" is missing'],
                     id="columns missing"),
        pytest.param(portal_built_by(prisma_type, **{"Invoice.dueDate": TEXT()}), "postgresql",
                     ['column "Invoice"."dueDate" is TEXT, which the code cannot read as a timestamp (with or '
                      "without time zone)"], id="a time as text"),
        pytest.param(portal_built_by(prisma_type, **{"Invoice.amount": TEXT()}), "postgresql",
                     ['column "Invoice"."amount" is TEXT, which the code cannot read as an amount (NUMERIC or '
                      "double precision)"], id="an amount as text on PostgreSQL"),
        pytest.param(portal_built_by(prisma_type, **{"Invoice.week": TEXT()}), "postgresql",
                     ['column "Invoice"."week" is TEXT, which the code cannot read as an integer'],
                     id="an integer as text"),
        pytest.param(portal_built_by(prisma_type, **{"Contact.email": postgresql.INTEGER()}), "postgresql",
                     ['column "Contact"."email" is INTEGER, which the code cannot read as text'],
                     id="text as an integer"),
        pytest.param({}, "postgresql", [f'table "{table.name}" is missing' for table in PORTAL_TABLES],
                     id="no portal tables"),
    ],
)
def test_the_adoption_names_what_the_portals_tables_lack(found: ColumnTypes, dialect: str,
                                                         problems: list[str]) -> None:
    assert problems_with_portal_tables(found, dialect) == problems
