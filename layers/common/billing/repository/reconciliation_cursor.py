"""The "ReconciliationCursor" table: where the walk through Stripe's events list resumes."""

from __future__ import annotations

from sqlalchemy import Connection, case, select

from billing.repository.sql import dialect_insert, utc_now
from billing.schema import reconciliation_cursor

_EVENTS_CURSOR = "stripe_events"


def events_cursor(conn: Connection) -> int | None:
    """Where the walk through Stripe's events list resumes (Unix seconds, Stripe's clock); None before the first."""
    value = conn.scalar(select(reconciliation_cursor.c.createdFrom).where(reconciliation_cursor.c.id == _EVENTS_CURSOR))
    return int(value) if value is not None else None


def advance_events_cursor(conn: Connection, created_from: int) -> None:
    """Move the cursor forward to `created_from`, never back (two runs may finish in any order)."""
    statement = dialect_insert(conn.dialect.name)(reconciliation_cursor).values(
        id=_EVENTS_CURSOR, createdFrom=created_from)
    current = reconciliation_cursor.c
    conn.execute(statement.on_conflict_do_update(
        index_elements=[current.id],
        set_={
            "createdFrom": case((statement.excluded.createdFrom > current.createdFrom, statement.excluded.createdFrom),
                                else_=current.createdFrom),
            "updatedAt": utc_now(),
        },
    ))
