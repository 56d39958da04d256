"""What the staff routes and the client's payment history read: the staff listing (keyset-paginated, newest first)
and everything recorded about one invoice's payments (checkout attempts, how each payment was made, refunds,
disputes, payments set aside)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, tuple_

from billing.repository.invoices import InvoiceRecord
from billing.schema import (
    checkout_session,
    contact,
    invoice,
    payment_adjustment,
    payment_record,
    proposal,
    stripe_event,
    unapplied_payment,
)


@dataclass(frozen=True)
class ListingFilter:
    status: str | None = None
    company_id: str | None = None
    proposal_id: str | None = None
    due_from: datetime | None = None
    due_until: datetime | None = None  # exclusive
    number_prefix: str | None = None
    after: tuple[datetime, str] | None = None  # the keyset cursor: ("createdAt", id) of the last row shown


def list_invoices_for_staff(conn: Connection, where: ListingFilter, limit: int) -> list[tuple[InvoiceRecord, str]]:
    """Up to `limit` invoices matching `where`, newest first ("createdAt" then id, descending), with their company."""
    conditions: list[Any] = []
    if where.status:
        conditions.append(invoice.c.status == where.status)
    if where.proposal_id:
        conditions.append(invoice.c.proposalId == where.proposal_id)
    if where.company_id:
        conditions.append(proposal.c.companyId == where.company_id)
    if where.due_from:
        conditions.append(invoice.c.dueDate >= where.due_from)
    if where.due_until:
        conditions.append(invoice.c.dueDate < where.due_until)
    if where.number_prefix:
        escaped = where.number_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions.append(invoice.c.invoiceNumber.like(escaped + "%", escape="\\"))
    if where.after:
        conditions.append(tuple_(invoice.c.createdAt, invoice.c.id) < tuple_(*where.after))
    rows = conn.execute(
        select(invoice, proposal.c.companyId.label("proposal.companyId"))
        .select_from(invoice.join(proposal, proposal.c.id == invoice.c.proposalId))
        .where(*conditions)
        .order_by(invoice.c.createdAt.desc(), invoice.c.id.desc())
        .limit(limit)
    ).mappings()
    return [(InvoiceRecord.from_row(row), row["proposal.companyId"]) for row in rows]


def company_of_invoice(conn: Connection, record: InvoiceRecord) -> str | None:
    found: str | None = conn.scalar(select(proposal.c.companyId).where(proposal.c.id == record.proposal_id))
    return found


def find_contact_by_id(conn: Connection, contact_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(contact.c.id, contact.c.email).where(contact.c.id == contact_id)).mappings().first()
    return dict(row) if row else None


Row = Mapping[Any, Any]


@dataclass(frozen=True)
class PaymentsOfInvoice:
    """Everything recorded about an invoice's payments, in the order it happened."""

    sessions: Sequence[Row]  # "CheckoutSession" rows, oldest first
    methods: dict[str, Row]  # "PaymentRecord" rows by PaymentIntent
    adjustments: Sequence[Row]  # "PaymentAdjustment" rows (refunds and disputes), oldest first
    unapplied: dict[str, Row]  # "UnappliedPayment" rows by session
    last_event_types: dict[str, str]  # the latest Stripe event type received per session


def payments_of_invoice(conn: Connection, record: InvoiceRecord) -> PaymentsOfInvoice:
    sessions = list(conn.execute(select(checkout_session).where(checkout_session.c.invoiceId == record.id)
                                 .order_by(checkout_session.c.createdAt, checkout_session.c.id)).mappings())
    methods = list(conn.execute(select(payment_record).where(payment_record.c.invoiceId == record.id)).mappings())
    intents = [m["paymentIntentId"] for m in methods] + ([record.stripe_payment_intent_id]
                                                         if record.stripe_payment_intent_id else [])
    adjustments = list(conn.execute(
        select(payment_adjustment)
        .where((payment_adjustment.c.invoiceId == record.id) | payment_adjustment.c.paymentIntentId.in_(intents))
        .order_by(payment_adjustment.c.createdAt, payment_adjustment.c.id)).mappings())
    unapplied = list(conn.execute(select(unapplied_payment).where(unapplied_payment.c.invoiceId == record.id))
                     .mappings())
    events = conn.execute(select(stripe_event.c.objectId, stripe_event.c.type)
                          .where(stripe_event.c.invoiceId == record.id, stripe_event.c.type.like("checkout.session.%"))
                          .order_by(stripe_event.c.receivedAt)).all()
    return PaymentsOfInvoice(
        sessions=sessions,
        methods={m["paymentIntentId"]: m for m in methods},
        adjustments=adjustments,
        unapplied={u["checkoutSessionId"]: u for u in unapplied if u["checkoutSessionId"]},
        last_event_types={str(object_id): str(event_type) for object_id, event_type in events if object_id},
    )
