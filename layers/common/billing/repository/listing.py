"""The invoice listing as the API answers it: the seed's field names, amounts exact in major units, timestamps
formatted by the database as ISO 8601 UTC text (`iso_utc`), earliest due first."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Text, bindparam, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from billing.repository.contacts import ONE_CONTACT_FOR_THE_UID
from billing.schema import contact, invoice, proposal


def list_contact_company_invoices(conn: Connection, firebase_uid: str) -> list[dict[str, Any]]:
    """The invoices of the company of the contact signed in as `firebase_uid`, as the listing shows them (the
    seed's field names; amounts exact, in major units; timestamps ISO 8601 in UTC), earliest due first (no due
    date last), then by invoice number. Empty when the company has none, when there is no such contact, and when
    the uid names several contacts (never the union of their companies' invoices)."""
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
    .where(contact.c.firebaseUid == bindparam("firebase_uid"), ONE_CONTACT_FOR_THE_UID)
    .order_by(invoice.c.dueDate.asc().nulls_last(), invoice.c.invoiceNumber.asc())
)
