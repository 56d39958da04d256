"""Data access: every SQL statement the functions run is here, behind small typed functions.

State changes are single conditional UPDATEs (the WHERE clause states the transition's precondition), so
concurrent writers cannot both win: PostgreSQL re-checks the WHERE clause of a row another transaction just
changed, and the loser's UPDATE matches no row.

The statements of the warm paths are built once, with bound parameters, and only executed per request: building
a SQLAlchemy statement and computing its cache key costs more (30 to 80 µs) than a round trip to the database.
Records are NamedTuples: as immutable as frozen dataclasses, and defining one costs a cold start a fraction of
what a dataclass costs (its generated methods are compiled at import, ~0.6 ms each).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import Connection, Text, bindparam, case, delete, func, or_, select, text, update
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.dml import Update
from sqlalchemy.sql.functions import FunctionElement

from billing.schema import (
    checkout_session,
    contact,
    invoice,
    payment_adjustment,
    proposal,
    stripe_customer,
    stripe_event,
)


class ContactRecord(NamedTuple):
    id: str
    company_id: str | None
    email: str | None
    stripe_customer_id: str | None


class InvoiceRecord(NamedTuple):
    id: str
    proposal_id: str
    invoice_number: str
    amount: Decimal
    currency: str
    description: str | None
    payment_schedule_id: str | None
    week: int | None
    trigger: str | None
    status: str
    stripe_checkout_session_id: str | None
    stripe_payment_intent_id: str | None
    stripe_customer_id: str | None
    paid_by_contact_id: str | None
    due_date: datetime | None
    paid_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> InvoiceRecord:
        return cls(
            id=row["id"],
            proposal_id=row["proposalId"],
            invoice_number=row["invoiceNumber"],
            amount=row["amount"],
            currency=row["currency"],
            description=row["description"],
            payment_schedule_id=row["paymentScheduleId"],
            week=row["week"],
            trigger=row["trigger"],
            status=row["status"],
            stripe_checkout_session_id=row["stripeCheckoutSessionId"],
            stripe_payment_intent_id=row["stripePaymentIntentId"],
            stripe_customer_id=row["stripeCustomerId"],
            paid_by_contact_id=row["paidByContactId"],
            due_date=row["dueDate"],
            paid_at=row["paidAt"],
            created_at=row["createdAt"],
            updated_at=row["updatedAt"],
        )


def utc_now() -> datetime:
    return datetime.now(UTC)


def find_contact(conn: Connection, firebase_uid: str) -> ContactRecord | None:
    row = conn.execute(
        select(*_CONTACT_COLUMNS).select_from(_CONTACT_WITH_CUSTOMER).where(contact.c.firebaseUid == firebase_uid)
    ).mappings().first()
    return _contact_record(row) if row else None


def list_contact_company_invoices(conn: Connection, firebase_uid: str) -> list[dict[str, Any]]:
    """The invoices of the company of the contact signed in as `firebase_uid`, as the listing shows them (the
    seed's field names; amounts exact, in major units; timestamps ISO 8601 in UTC), earliest due first (no due
    date last), then by invoice number. Empty both when the company has none and when there is no such contact."""
    rows = conn.execute(_CONTACT_COMPANY_INVOICES, {"firebase_uid": firebase_uid})
    return [dict(zip(_LISTING_FIELDS, row, strict=True)) for row in rows]  # Row._asdict takes ~3x as long


class iso_utc(FunctionElement[str]):
    """A timestamp as the API writes it, ISO 8601 in UTC to the millisecond ("2026-01-31T09:30:00.000Z"), formatted
    by the database: a listing then reads text instead of parsing timestamps only to format them again."""

    type = Text()
    inherit_cache = True


@compiles(iso_utc, "postgresql")
def _iso_utc_on_postgresql(element: iso_utc, compiler: Any, **kw: Any) -> str:
    # to_char truncates to the millisecond, as Python's isoformat(timespec="milliseconds") does
    return f"""to_char({compiler.process(element.clauses, **kw)} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')"""


@compiles(iso_utc, "sqlite")
def _iso_utc_on_sqlite(element: iso_utc, compiler: Any, **kw: Any) -> str:
    # SQLite keeps these columns as UTC text; %f is seconds with milliseconds (rounded, not truncated)
    return f"strftime('%Y-%m-%dT%H:%M:%fZ', {compiler.process(element.clauses, **kw)})"


def find_contact_and_company_invoice(
    conn: Connection, firebase_uid: str, invoice_id: str, *, for_update: bool = False
) -> tuple[ContactRecord, InvoiceRecord] | None:
    """The contact signed in as `firebase_uid` and the invoice `invoice_id` if the contact's company owns it, in
    one statement; None both when the invoice does not exist and when it is another company's (and when there is
    no such contact). `for_update` locks the invoice row only."""
    statement = _CONTACT_AND_COMPANY_INVOICE_FOR_UPDATE if for_update else _CONTACT_AND_COMPANY_INVOICE
    row = conn.execute(statement, {"firebase_uid": firebase_uid, "invoice_id": invoice_id}).mappings().first()
    return (_contact_record(row), InvoiceRecord.from_row(row)) if row else None


# The contact's columns under names no Invoice column has (both tables have "id" and "stripeCustomerId").
_CONTACT_COLUMNS = (
    contact.c.id.label("contact.id"),
    contact.c.contactCompanyId.label("contact.companyId"),
    contact.c.email.label("contact.email"),
    stripe_customer.c.stripeCustomerId.label("contact.stripeCustomerId"),
)
_CONTACT_WITH_CUSTOMER = contact.outerjoin(stripe_customer, stripe_customer.c.contactId == contact.c.id)
_LISTING = {
    "id": invoice.c.id,
    "invoiceNumber": invoice.c.invoiceNumber,
    "proposalId": invoice.c.proposalId,
    "amount": invoice.c.amount,
    "currency": invoice.c.currency,
    "description": invoice.c.description,
    "status": invoice.c.status,
    "dueDate": iso_utc(invoice.c.dueDate),
    "paidAt": iso_utc(invoice.c.paidAt),
    "paidByContactId": invoice.c.paidByContactId,
    "week": invoice.c.week,
    "trigger": invoice.c.trigger,
    "paymentScheduleId": invoice.c.paymentScheduleId,
    "createdAt": iso_utc(invoice.c.createdAt),
    "updatedAt": iso_utc(invoice.c.updatedAt),
}
_LISTING_FIELDS = tuple(_LISTING)
_CONTACT_COMPANY_INVOICES = (
    select(*(column.label(field) for field, column in _LISTING.items()))
    .select_from(
        invoice
        .join(proposal, proposal.c.id == invoice.c.proposalId)
        .join(contact, contact.c.contactCompanyId == proposal.c.companyId)
    )
    .where(contact.c.firebaseUid == bindparam("firebase_uid"))
    .order_by(invoice.c.dueDate.asc().nulls_last(), invoice.c.invoiceNumber.asc())
)
_CONTACT_AND_COMPANY_INVOICE = (
    select(*_CONTACT_COLUMNS, invoice)
    .select_from(
        _CONTACT_WITH_CUSTOMER
        .join(proposal, proposal.c.companyId == contact.c.contactCompanyId)
        .join(invoice, invoice.c.proposalId == proposal.c.id)
    )
    .where(contact.c.firebaseUid == bindparam("firebase_uid"), invoice.c.id == bindparam("invoice_id"))
)
_CONTACT_AND_COMPANY_INVOICE_FOR_UPDATE = _CONTACT_AND_COMPANY_INVOICE.with_for_update(of=invoice)


def _contact_record(row: Mapping[Any, Any]) -> ContactRecord:
    return ContactRecord(id=row["contact.id"], company_id=row["contact.companyId"], email=row["contact.email"],
                         stripe_customer_id=row["contact.stripeCustomerId"])


def find_invoice(conn: Connection, invoice_id: str) -> InvoiceRecord | None:
    row = conn.execute(select(invoice).where(invoice.c.id == invoice_id)).mappings().first()
    return InvoiceRecord.from_row(row) if row else None


def count_checkout_sessions(conn: Connection, invoice_id: str) -> int:
    return int(conn.scalar(
        select(func.count()).select_from(checkout_session).where(checkout_session.c.invoiceId == invoice_id)
    ) or 0)


def save_stripe_customer(conn: Connection, contact_id: str, stripe_customer_id: str) -> None:
    insert_ignoring_conflict(conn, stripe_customer, {"contactId": contact_id, "stripeCustomerId": stripe_customer_id})


def attach_checkout_session(
    conn: Connection,
    *,
    invoice_id: str,
    session_id: str,
    contact_id: str,
    customer_id: str,
    amount_minor: int,
    currency: str,
    idempotency_key: str,
) -> None:
    """Make `session_id` the invoice's current session and add it to the history (caller holds the row lock).
    A failed invoice is pending again: a new attempt to pay it has begun."""
    conn.execute(_ATTACH_SESSION, {"b_invoice_id": invoice_id, "stripeCheckoutSessionId": session_id,
                                   "stripeCustomerId": customer_id, "status": "pending", "updatedAt": utc_now()})
    insert_ignoring_conflict(conn, checkout_session, {
        "id": session_id,
        "invoiceId": invoice_id,
        "contactId": contact_id,
        "amountMinor": amount_minor,
        "currency": currency,
        "idempotencyKey": idempotency_key,
    })


# Bound parameters of the WHERE clauses are named b_*: a parameter named after a column is a SET value.
_ATTACH_SESSION = update(invoice).where(invoice.c.id == bindparam("b_invoice_id"))


def find_invoice_by_payment_intent(conn: Connection, payment_intent_id: str) -> InvoiceRecord | None:
    row = conn.execute(select(invoice).where(invoice.c.stripePaymentIntentId == payment_intent_id)).mappings().first()
    return InvoiceRecord.from_row(row) if row else None


def reconciliation_candidates(conn: Connection, *, not_updated_since: datetime, limit: int) -> list[InvoiceRecord]:
    """Invoices whose checkout has been open or processing since before `not_updated_since`, oldest first."""
    rows = conn.execute(
        select(invoice)
        .where(
            invoice.c.status.in_(["pending", "processing"]),
            invoice.c.stripeCheckoutSessionId.is_not(None),
            invoice.c.updatedAt < not_updated_since,
        )
        .order_by(invoice.c.updatedAt.asc())
        .limit(limit)
    ).mappings()
    return [InvoiceRecord.from_row(row) for row in rows]


def transition_invoice(
    conn: Connection,
    *,
    invoice_id: str,
    session_id: str | None,
    from_statuses: Iterable[str],
    values: Mapping[str, Any],
    amount: Decimal | None = None,
    currency: str | None = None,
) -> InvoiceRecord | None:
    """Apply `values` only if the invoice is in one of `from_statuses`, `session_id` (when given) is its current
    session and (when given) amount and currency match. Returns the updated invoice, or None if nothing matched."""
    checks_amount = amount is not None and currency is not None
    parameters = {"b_invoice_id": invoice_id, "b_from_statuses": list(from_statuses), **values, "updatedAt": utc_now()}
    if session_id is not None:
        parameters["b_session_id"] = session_id
    if checks_amount:
        parameters |= {"b_amount": amount, "b_currency": (currency or "").upper()}
    row = conn.execute(_transition_statement(session_id is not None, checks_amount), parameters).mappings().first()
    return InvoiceRecord.from_row(row) if row else None


@cache
def _transition_statement(checks_session: bool, checks_amount: bool) -> Update:
    statement = update(invoice).where(
        invoice.c.id == bindparam("b_invoice_id"),
        invoice.c.status.in_(bindparam("b_from_statuses", expanding=True)),
    )
    if checks_session:
        statement = statement.where(invoice.c.stripeCheckoutSessionId == bindparam("b_session_id"))
    if checks_amount:
        statement = statement.where(
            invoice.c.amount == bindparam("b_amount", type_=invoice.c.amount.type),
            func.upper(invoice.c.currency) == bindparam("b_currency"),
        )
    return statement.returning(*invoice.c)


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


def record_adjustment(
    conn: Connection, *, adjustment_id: str, invoice_id: str, kind: str, amount_minor: int, currency: str,
    status: str,
) -> None:
    """Upsert a refund (per charge: its cumulative refunded amount) or a dispute. Events arrive out of order, so
    the stored amount never decreases and a closed dispute keeps its final status."""
    _upsert_adjustment(conn, {
        "id": adjustment_id, "invoiceId": invoice_id, "kind": kind, "amountMinor": amount_minor,
        "currency": currency, "status": status,
    })


# A dispute that reached one of these is closed; a late "created" event must not reopen it.
_CLOSED_DISPUTE_STATUSES = ("won", "lost", "warning_closed", "prevented")


def _upsert_adjustment(conn: Connection, values: Mapping[str, Any]) -> None:
    statement = _dialect_insert(conn.dialect.name)(payment_adjustment).values(**values)
    excluded, current = statement.excluded, payment_adjustment.c
    conn.execute(statement.on_conflict_do_update(
        index_elements=[current.id],
        set_={
            "amountMinor": case((excluded.amountMinor > current.amountMinor, excluded.amountMinor),
                                else_=current.amountMinor),
            # The status goes with the amount: an older, smaller refund event does not relabel a full refund.
            "status": case(
                (current.status.in_(_CLOSED_DISPUTE_STATUSES), current.status),
                (excluded.amountMinor < current.amountMinor, current.status),
                else_=excluded.status,
            ),
            "updatedAt": utc_now(),
        },
    ))


def adjustments_for(conn: Connection, invoice_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(payment_adjustment).where(payment_adjustment.c.invoiceId == invoice_id)
        .order_by(payment_adjustment.c.createdAt)
    ).mappings()
    return [dict(row) for row in rows]


def insert_ignoring_conflict(conn: Connection, table: Any, values: Mapping[str, Any]) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING; True if a row was inserted."""
    result = conn.execute(_insert_ignoring_conflict(conn.dialect.name, table), dict(values))
    return bool(result.rowcount)


@cache
def _insert_ignoring_conflict(dialect_name: str, table: Any) -> Any:
    """Its columns are the keys of the values it is executed with."""
    return _dialect_insert(dialect_name)(table).on_conflict_do_nothing()


def _dialect_insert(dialect_name: str) -> Any:
    """The INSERT construct with ON CONFLICT for the connection's database. Imported here, not at the top: a
    function on Lambda only ever talks to PostgreSQL, and each dialect package costs its import time."""
    if dialect_name == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert
    from sqlalchemy.dialects import postgresql

    return postgresql.insert


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
