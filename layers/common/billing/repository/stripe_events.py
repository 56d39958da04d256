"""The "StripeEvent" table, the webhook inbox: every verified event claimed once, its outcome, its failures, the
events reconciliation applies again, and the retention run's deletes and rewrites."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, delete, func, or_, select, text, update

from billing.repository.sql import insert_ignoring_conflict, utc_now
from billing.schema import stripe_event


class StoredEvent(NamedTuple):
    id: str
    type: str
    invoice_id: str | None
    payload: dict[str, Any]
    received_at: datetime
    processed_at: datetime | None
    outcome: str | None


def claim_event(
    conn: Connection, *, event_id: str, event_type: str, object_id: str | None, invoice_id: str | None,
    payload: Mapping[str, Any],
) -> bool:
    """Put the event in the inbox and claim it for processing. False if it was processed already (a duplicate).

    A concurrent duplicate waits on the primary key until the first transaction ends, then sees the row; an
    event whose earlier processing failed (recorded, processedAt NULL) is claimed again under a row lock."""
    values = {"id": event_id, "type": event_type, "objectId": object_id, "invoiceId": invoice_id,
              "payload": dict(payload)}
    if insert_ignoring_conflict(conn, stripe_event, values):
        return True
    processed_at = conn.execute(
        select(stripe_event.c.processedAt).where(stripe_event.c.id == event_id).with_for_update()
    ).scalar_one_or_none()
    return processed_at is None


def record_event_outcome(conn: Connection, event_id: str, outcome: str) -> None:
    conn.execute(_RECORD_OUTCOME, {"b_event_id": event_id, "outcome": outcome, "processedAt": utc_now()})


_RECORD_OUTCOME = update(stripe_event).where(stripe_event.c.id == bindparam("b_event_id"))


def record_event_failure(
    conn: Connection, *, event_id: str, event_type: str, object_id: str | None, invoice_id: str | None,
    payload: Mapping[str, Any], error: str,
) -> None:
    """Keep a failed event visible (processedAt stays NULL, so Stripe's retry or a reprocess claims it)."""
    outcome = f"error: {error}"
    if not insert_ignoring_conflict(conn, stripe_event, {
        "id": event_id, "type": event_type, "objectId": object_id, "invoiceId": invoice_id,
        "payload": dict(payload), "outcome": outcome,
    }):
        conn.execute(update(stripe_event).where(stripe_event.c.id == event_id, stripe_event.c.processedAt.is_(None))
                     .values(outcome=outcome))


def find_stored_event(conn: Connection, event_id: str) -> StoredEvent | None:
    row = conn.execute(select(stripe_event).where(stripe_event.c.id == event_id)).mappings().first()
    return _stored_event(row) if row else None


def unprocessed_events(conn: Connection, limit: int = 100) -> list[StoredEvent]:
    rows = conn.execute(
        select(stripe_event).where(stripe_event.c.processedAt.is_(None))
        .order_by(stripe_event.c.receivedAt.asc()).limit(limit)
    ).mappings()
    return [_stored_event(row) for row in rows]


def events_with_outcome(
    conn: Connection, *, event_types: Iterable[str], outcomes: Iterable[str], received_since: datetime, limit: int
) -> list[StoredEvent]:
    rows = conn.execute(
        select(stripe_event)
        .where(
            stripe_event.c.type.in_(list(event_types)),
            stripe_event.c.outcome.in_(list(outcomes)),
            stripe_event.c.receivedAt >= received_since,
        )
        .order_by(stripe_event.c.receivedAt.asc())
        .limit(limit)
    ).mappings()
    return [_stored_event(row) for row in rows]


def lock_event_outcome(conn: Connection, event_id: str) -> str | None:
    return conn.execute(
        select(stripe_event.c.outcome).where(stripe_event.c.id == event_id).with_for_update()
    ).scalar_one_or_none()


def _stored_event(row: Mapping[Any, Any]) -> StoredEvent:
    return StoredEvent(id=row["id"], type=row["type"], invoice_id=row["invoiceId"], payload=row["payload"],
                       received_at=row["receivedAt"], processed_at=row["processedAt"], outcome=row["outcome"])

def processed_event_ids(conn: Connection, event_ids: Iterable[str]) -> set[str]:
    """Which of `event_ids` the inbox holds as processed (one statement for a page of Stripe's events list)."""
    ids = list(event_ids)
    if not ids:
        return set()
    rows = conn.execute(select(stripe_event.c.id).where(stripe_event.c.id.in_(ids),
                                                        stripe_event.c.processedAt.is_not(None)))
    return {row[0] for row in rows}

def delete_processed_events_received_before(conn: Connection, cutoff: datetime, *, limit: int) -> int:
    """Delete up to `limit` processed inbox rows received before `cutoff`; the number deleted."""
    oldest = (select(stripe_event.c.id)
              .where(stripe_event.c.receivedAt < cutoff, stripe_event.c.processedAt.is_not(None))
              .order_by(stripe_event.c.receivedAt.asc()).limit(limit))
    return int(conn.execute(delete(stripe_event).where(stripe_event.c.id.in_(oldest.scalar_subquery()))).rowcount)


def count_unprocessed_events_received_before(conn: Connection, cutoff: datetime) -> int:
    return int(conn.scalar(select(func.count()).select_from(stripe_event).where(
        stripe_event.c.receivedAt < cutoff, stripe_event.c.processedAt.is_(None))) or 0)


def events_holding_any_field(conn: Connection, fields: Iterable[str], *, limit: int) -> list[tuple[str, Any]]:
    """(id, payload) of up to `limit` inbox rows whose payload has any of these top-level fields."""
    names = list(fields)
    condition: Any
    if conn.dialect.name == "postgresql":
        condition = text("payload ?| CAST(:fields AS text[])").bindparams(fields=names)
    else:  # SQLite: json_type is NULL only where the path is missing
        condition = or_(*(func.json_type(stripe_event.c.payload, f"$.{name}").is_not(None) for name in names))
    rows = conn.execute(select(stripe_event.c.id, stripe_event.c.payload).where(condition).limit(limit))
    return [(row.id, row.payload) for row in rows]


def replace_event_payload(conn: Connection, event_id: str, payload: Mapping[str, Any]) -> None:
    conn.execute(update(stripe_event).where(stripe_event.c.id == event_id).values(payload=dict(payload)))
