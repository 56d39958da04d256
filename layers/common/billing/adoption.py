"""Pointing the project at a database it did not create: the portal's, built by Prisma.

The portal owns "Company", "Contact", "Proposal" and "Invoice" (`PORTAL_TABLES`): the functions read them and
write only the payment columns of "Invoice". The migrations create those four tables only in a database that has
none of them (a new deployment, the local stack); in the portal's database they check what the code needs of them
(`portal_table_problems`) and never create, alter or lock them, with one exception: the indexes of
`PORTAL_INVOICE_INDEXES` (the staff listing's, 0005_staff_side), which PostgreSQL builds CONCURRENTLY (no lock
that blocks the portal's writes, no rewrite) and which the portal's Prisma schema declares too (prisma/billing.prisma
says how). The project's own tables hold no foreign key into the portal's (see `billing.schema`), so nothing else
the project creates touches the portal's tables.

Not imported by the functions: the migrations and the local tools use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Column, DateTime, Float, Integer, Numeric, String, Table, Text
from sqlalchemy.engine import Inspector
from sqlalchemy.types import TypeEngine

from billing.schema import INVOICE_STAFF_INDEXES, company, contact, invoice, metadata, proposal
from billing.types import ExactDecimal

PORTAL_TABLES: tuple[Table, ...] = (company, contact, proposal, invoice)
PROJECT_TABLES: tuple[Table, ...] = tuple(table for table in metadata.sorted_tables if table not in PORTAL_TABLES)
# The only change the project makes to a table of the portal's: these indexes on "Invoice", built CONCURRENTLY.
PORTAL_INVOICE_INDEXES = INVOICE_STAFF_INDEXES


def _quoted(*names: str) -> str:
    return ".".join(f'"{name}"' for name in names)


def tables_present(inspector: Inspector, tables: tuple[Table, ...]) -> list[Table]:
    """Which of `tables` the database has."""
    existing = set(inspector.get_table_names())
    return [table for table in tables if table.name in existing]


# What a database holds: table name -> column name -> the column's type as the database reports it.
ColumnTypes = Mapping[str, Mapping[str, TypeEngine[Any]]]


def portal_table_problems(inspector: Inspector) -> list[str]:
    """What keeps the project from using the portal's tables as the database at `inspector` has them (see
    `problems_with_portal_tables`)."""
    return problems_with_portal_tables(portal_columns(inspector), inspector.dialect.name)


def portal_columns(inspector: Inspector) -> dict[str, dict[str, TypeEngine[Any]]]:
    """The columns of the portal's tables the database has, with their types."""
    return {table.name: {column["name"]: column["type"] for column in inspector.get_columns(table.name)}
            for table in tables_present(inspector, PORTAL_TABLES)}


def problems_with_portal_tables(found: ColumnTypes, dialect: str) -> list[str]:
    """What keeps the project from using the portal's tables as they are (`found`, on a `dialect` database): each
    missing table, each missing column (every column `billing.schema` declares is read or written by the code),
    each column of a type the code cannot read. Empty when they fit. Columns of the portal's own beyond these are
    left alone."""
    problems = [f"table {_quoted(table.name)} is missing" for table in PORTAL_TABLES if table.name not in found]
    for table in PORTAL_TABLES:
        columns = found.get(table.name)
        if columns is None:
            continue
        for column in table.columns:
            if column.name not in columns:
                problems.append(f"column {_quoted(table.name, column.name)} is missing")
            elif not _readable_as(column, columns[column.name], dialect):
                problems.append(f"column {_quoted(table.name, column.name)} is {columns[column.name]}, "
                                f"which the code cannot read as {_kind(column)}")
    return problems


def _kind(column: Column[object]) -> str:
    if isinstance(column.type, ExactDecimal):
        return "an amount (NUMERIC or double precision)"
    if isinstance(column.type, DateTime):
        return "a timestamp (with or without time zone)"
    if isinstance(column.type, Integer):
        return "an integer"
    return "text"


def _readable_as(column: Column[object], found: TypeEngine[Any], dialect: str) -> bool:
    """Whether a column of the database's type `found` can stand for the schema's `column`. Prisma's choices are
    all readable: Float (double precision) for an amount, DateTime (timestamp(3), no time zone) for a time."""
    if isinstance(column.type, ExactDecimal):
        # On SQLite the project keeps amounts as decimal text (billing.types.ExactDecimal).
        return isinstance(found, (Numeric, Float)) or (dialect == "sqlite" and isinstance(found, String))
    if isinstance(column.type, DateTime):
        return isinstance(found, DateTime)
    if isinstance(column.type, Integer):
        return isinstance(found, Integer)
    if isinstance(column.type, Text):
        return isinstance(found, String)
    return True
