"""Invoices as the staff routes and the audit log show them: the listing's fields (the seed's names), amounts
exact, times ISO 8601 UTC to the millisecond."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from billing.repository.invoices import InvoiceRecord


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def invoice_view(record: InvoiceRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "invoiceNumber": record.invoice_number,
        "proposalId": record.proposal_id,
        "amount": record.amount,
        "currency": record.currency,
        "description": record.description,
        "status": record.status,
        "dueDate": iso(record.due_date),
        "paidAt": iso(record.paid_at),
        "paidByContactId": record.paid_by_contact_id,
        "week": record.week,
        "trigger": record.trigger,
        "paymentScheduleId": record.payment_schedule_id,
        "createdAt": iso(record.created_at),
        "updatedAt": iso(record.updated_at),
    }
