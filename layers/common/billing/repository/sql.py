"""What every table's statements are built from: the time, an INSERT that yields to an existing row, and the
rules written differently per database (the INSERT with ON CONFLICT of each dialect, the currency normalisation in
SQL)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, func
from sqlalchemy.sql.elements import ColumnElement


def utc_now() -> datetime:
    return datetime.now(UTC)

def normalized_currency(column: ColumnElement[str]) -> ColumnElement[str]:
    """billing.money.normalize_currency in SQL: the padding it strips (CURRENCY_PADDING, spaces, which is what
    trim() strips), then upper case. The one place the rule is written for the database."""
    return func.upper(func.trim(column))

def insert_ignoring_conflict(conn: Connection, table: Any, values: Mapping[str, Any]) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING; True if a row was inserted."""
    result = conn.execute(_insert_ignoring_conflict(conn.dialect.name, table), dict(values))
    return bool(result.rowcount)


@cache
def _insert_ignoring_conflict(dialect_name: str, table: Any) -> Any:
    """Its columns are the keys of the values it is executed with."""
    return dialect_insert(dialect_name)(table).on_conflict_do_nothing()


def dialect_insert(dialect_name: str) -> Any:
    """The INSERT construct with ON CONFLICT for the connection's database. Imported here, not at the top: a
    function on Lambda only ever talks to PostgreSQL, and each dialect package costs its import time."""
    if dialect_name == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert
    from sqlalchemy.dialects import postgresql

    return postgresql.insert
