"""Who is asking: the "Contact" a Firebase uid names (with its "StripeCustomer"), and that contact with one of its
company's invoices in one statement. A uid must name exactly one contact: a portal database may lack the unique
constraint on "firebaseUid", so the warm paths' statements check it themselves."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, func, select

from billing.repository.invoices import InvoiceRecord
from billing.repository.sql import insert_ignoring_conflict
from billing.schema import contact, invoice, proposal, stripe_customer


class ContactRecord(NamedTuple):
    id: str
    company_id: str | None
    email: str | None
    stripe_customer_id: str | None

def find_contacts(conn: Connection, firebase_uid: str) -> list[ContactRecord]:
    """The contacts signed in as `firebase_uid`: one, or none, or (in a portal database without a unique
    constraint on "firebaseUid") two, which is as many as it takes to know the uid is ambiguous."""
    rows = conn.execute(
        select(*_CONTACT_COLUMNS).select_from(_CONTACT_WITH_CUSTOMER).where(contact.c.firebaseUid == firebase_uid)
        .limit(2)
    ).mappings()
    return [_contact_record(row) for row in rows]

def find_contact_and_company_invoice(
    conn: Connection, firebase_uid: str, invoice_id: str, *, for_update: bool = False
) -> tuple[ContactRecord, InvoiceRecord] | None:
    """The contact signed in as `firebase_uid` and the invoice `invoice_id` if the contact's company owns it, in
    one statement; None both when the invoice does not exist and when it is another company's (and when there is
    no such contact, or several). `for_update` locks the invoice row only."""
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
# A portal database may lack the unique constraint on "firebaseUid": a uid must name exactly one contact, checked
# inside the warm paths' one statement (an uncorrelated subquery, evaluated once) rather than by another query.
_other_contact = contact.alias("uidContact")
ONE_CONTACT_FOR_THE_UID = select(func.count()).select_from(_other_contact).where(
    _other_contact.c.firebaseUid == bindparam("firebase_uid")
).scalar_subquery() == 1

_CONTACT_AND_COMPANY_INVOICE = (
    select(*_CONTACT_COLUMNS, invoice)
    .select_from(
        _CONTACT_WITH_CUSTOMER
        .join(proposal, proposal.c.companyId == contact.c.contactCompanyId)
        .join(invoice, invoice.c.proposalId == proposal.c.id)
    )
    .where(contact.c.firebaseUid == bindparam("firebase_uid"), invoice.c.id == bindparam("invoice_id"),
           ONE_CONTACT_FOR_THE_UID)
)
_CONTACT_AND_COMPANY_INVOICE_FOR_UPDATE = _CONTACT_AND_COMPANY_INVOICE.with_for_update(of=invoice)


def _contact_record(row: Mapping[Any, Any]) -> ContactRecord:
    return ContactRecord(id=row["contact.id"], company_id=row["contact.companyId"], email=row["contact.email"],
                         stripe_customer_id=row["contact.stripeCustomerId"])

def save_stripe_customer(conn: Connection, contact_id: str, stripe_customer_id: str) -> None:
    insert_ignoring_conflict(conn, stripe_customer, {"contactId": contact_id, "stripeCustomerId": stripe_customer_id})
