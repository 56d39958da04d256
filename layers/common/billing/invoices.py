"""Who is asking, and which invoices they may see.

The chain of the seed: Firebase uid -> Contact -> its company ("contactCompanyId", never anything the client
sends) -> invoices of that company's proposals.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import Connection

from billing.db import transaction
from billing.errors import AmbiguousContact, InvoiceNotFound, NoContact
from billing.observability import surface
from billing.repository.contacts import ContactRecord, find_contact_and_company_invoice, find_contacts
from billing.repository.invoices import InvoiceRecord
from billing.repository.listing import list_contact_company_invoices
from billing.repository.notifications import company_of_invoice, recipients

# Ids are short text (cuid/uuid); longer input cannot name an invoice and is answered 404 without a query.
MAX_ID_LENGTH = 128


def require_contact(conn: Connection, firebase_uid: str) -> ContactRecord:
    contacts = find_contacts(conn, firebase_uid)
    if len(contacts) > 1:
        # Ids only: the uid, emails and names stay out of the log.
        surface("AmbiguousContact", "firebase uid matches several contacts",
                contact_ids=sorted(contact.id for contact in contacts))
        raise AmbiguousContact()
    if not contacts or not contacts[0].company_id:
        raise NoContact()
    return contacts[0]


def require_contact_and_company_invoice(
    conn: Connection, firebase_uid: str, invoice_id: str, *, for_update: bool = False
) -> tuple[ContactRecord, InvoiceRecord]:
    """The caller's contact and the invoice if the contact's company owns it. NoContact for a caller who is no
    company's contact; otherwise InvoiceNotFound, whether or not the invoice exists. One statement when both are
    found; a refusal costs a second."""
    if invoice_id and len(invoice_id) <= MAX_ID_LENGTH and invoice_id.isprintable():
        found = find_contact_and_company_invoice(conn, firebase_uid, invoice_id, for_update=for_update)
        if found is not None:
            return found
    require_contact(conn, firebase_uid)
    raise InvoiceNotFound()


def list_invoices(firebase_uid: str) -> dict[str, Any]:
    with transaction() as conn:
        invoices = list_contact_company_invoices(conn, firebase_uid)
        if not invoices:  # none to show, or no contact to show them to
            require_contact(conn, firebase_uid)
    return {"invoices": invoices}


class InvoiceDocument(NamedTuple):
    """What an invoice's PDF shows (functions/invoice_pdf renders it; nothing here knows PDF)."""

    company_name: str | None
    invoice_number: str
    description: str | None
    trigger: str | None
    amount: Decimal
    currency: str
    due_date: datetime | None
    status: str
    paid_at: datetime | None
    payer: str | None  # the paying contact's email address, for a paid invoice


def invoice_document(firebase_uid: str, invoice_id: str) -> InvoiceDocument:
    """The caller's company's invoice, for its document: InvoiceNotFound for another company's, as everywhere."""
    with transaction() as conn:
        _, invoice = require_contact_and_company_invoice(conn, firebase_uid, invoice_id)
        company = company_of_invoice(conn, invoice.id)
        payer_id = invoice.paid_by_contact_id
        payer = recipients(conn, [payer_id]).get(payer_id) if payer_id else None
    return InvoiceDocument(
        company_name=company[1] if company else None, invoice_number=invoice.invoice_number,
        description=invoice.description, trigger=invoice.trigger, amount=invoice.amount, currency=invoice.currency,
        due_date=invoice.due_date, status=invoice.status, paid_at=invoice.paid_at,
        payer=payer.email if payer else None,
    )


def invoice_payments(firebase_uid: str, invoice_id: str) -> dict[str, Any]:
    """The payment history of one of the caller's company's invoices (404 for any other, as everywhere)."""
    from billing.payment_history import payment_history

    with transaction() as conn:
        _, invoice = require_contact_and_company_invoice(conn, firebase_uid, invoice_id)
        history = payment_history(conn, invoice)
    return {"invoiceId": invoice.id, "invoiceNumber": invoice.invoice_number, "status": invoice.status, **history}
