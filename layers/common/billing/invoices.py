"""Who is asking, and which invoices they may see.

The chain of the seed: Firebase uid -> Contact -> its company ("contactCompanyId", never anything the client
sends) -> invoices of that company's proposals.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from billing import repository
from billing.db import transaction
from billing.errors import InvoiceNotFound, NoContact
from billing.repository import ContactRecord, InvoiceRecord

# Ids are short text (cuid/uuid); longer input cannot name an invoice and is answered 404 without a query.
MAX_ID_LENGTH = 128


def require_contact(conn: Connection, firebase_uid: str) -> ContactRecord:
    contact = repository.find_contact(conn, firebase_uid)
    if contact is None or not contact.company_id:
        raise NoContact()
    return contact


def require_company_invoice(
    conn: Connection, contact: ContactRecord, invoice_id: str, *, for_update: bool = False
) -> InvoiceRecord:
    """The invoice if the contact's company owns it; InvoiceNotFound otherwise, whether or not it exists."""
    if not invoice_id or len(invoice_id) > MAX_ID_LENGTH or not invoice_id.isprintable():
        raise InvoiceNotFound()
    assert contact.company_id is not None
    invoice = repository.find_company_invoice(conn, invoice_id, contact.company_id, for_update=for_update)
    if invoice is None:
        raise InvoiceNotFound()
    return invoice


def list_invoices(firebase_uid: str) -> dict[str, Any]:
    with transaction() as conn:
        contact = require_contact(conn, firebase_uid)
        assert contact.company_id is not None
        invoices = repository.list_company_invoices(conn, contact.company_id)
    return {"invoices": [invoice_view(invoice) for invoice in invoices]}


def invoice_view(invoice: InvoiceRecord) -> dict[str, Any]:
    """The seed's field names; amounts in major units, timestamps ISO 8601 UTC."""
    return {
        "id": invoice.id,
        "invoiceNumber": invoice.invoice_number,
        "proposalId": invoice.proposal_id,
        "amount": invoice.amount,
        "currency": invoice.currency,
        "description": invoice.description,
        "status": invoice.status,
        "dueDate": iso_timestamp(invoice.due_date),
        "paidAt": iso_timestamp(invoice.paid_at),
        "paidByContactId": invoice.paid_by_contact_id,
        "week": invoice.week,
        "trigger": invoice.trigger,
        "paymentScheduleId": invoice.payment_schedule_id,
        "createdAt": iso_timestamp(invoice.created_at),
        "updatedAt": iso_timestamp(invoice.updated_at),
    }


def iso_timestamp(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:  # a Prisma-made column is timestamp without time zone, holding UTC
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
