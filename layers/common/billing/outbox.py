"""What the state changes write for the notifier: one outbox row per (event, recipient), in the transaction of the
change itself. A rolled-back payment leaves no row, a committed one cannot lose its row, and a change reported
twice (Stripe's duplicate deliveries, verify racing the webhook) writes nothing the second time: the transition's
conditional UPDATE matches once, and the row's unique key ("kind", "eventKey", "contactId") holds even if a
caller asked twice. Nothing here sends: billing/notifier.py delivers the rows, so no payment route waits on email.

When, and to whom:
- invoice issued: to each contact of the invoice's company that has an email (`note_invoice_issued`, called by
  billing/issuing.py's `issue_invoice` inside the transaction that creates the invoice);
- payment succeeded: to the payer (the contact the Checkout Session names), with the receipt;
- bank debit failed: to the payer; the invoice is payable again;
- refund made (each refund of the invoice's own payment, partial or full): to the payer.

Essential mail (receipts, a failed debit, a refund: money moved or must move) is always sent; mail in
`NON_ESSENTIAL` is not sent to a contact with a row in "NotificationOptOut" (checked when sending, so an opt-out
applies to rows already written).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Connection

from billing.inbox import in_batches
from billing.money import from_minor_units, normalize_currency
from billing.repository.invoices import InvoiceRecord, find_invoice
from billing.repository.notifications import (
    add_notification,
    company_of_invoice,
    contacts_with_email,
    delete_settled_before,
)
from billing.repository.sql import utc_now
from billing.schema import NotificationKind
from billing.settings import settings

NON_ESSENTIAL = frozenset({NotificationKind.INVOICE_ISSUED})


def note_invoice_issued(conn: Connection, invoice_id: str) -> int:
    """Outbox rows telling every contact (with an email) of the invoice's company that it was issued; call it in the
    transaction that creates the invoice. Returns how many rows were written (none the second time)."""
    invoice = find_invoice(conn, invoice_id)
    company = company_of_invoice(conn, invoice_id)
    if invoice is None or company is None:
        return 0
    payload = _facts(invoice, company[1])
    return sum(_add(conn, NotificationKind.INVOICE_ISSUED, invoice.id, contact_id, invoice, payload)
               for contact_id in contacts_with_email(conn, company[0]))


def note_payment_succeeded(conn: Connection, invoice: InvoiceRecord, *, payer_name: str | None) -> None:
    """`invoice` as its payment just made it: paid, with its payer and PaymentIntent."""
    if not invoice.paid_by_contact_id:
        return
    payload = _facts(invoice, _company_name(conn, invoice.id)) | {
        "paidAt": invoice.paid_at.isoformat() if invoice.paid_at else None,
        "payerName": payer_name,
    }
    _add(conn, NotificationKind.PAYMENT_SUCCEEDED, f"{invoice.id}:{invoice.stripe_payment_intent_id}",
         invoice.paid_by_contact_id, invoice, payload)


def note_payment_failed(conn: Connection, invoice: InvoiceRecord, *, session_id: str, payer_contact_id: str | None
                        ) -> None:
    """The bank debit of `session_id` failed; `invoice` is payable again."""
    if payer_contact_id:
        _add(conn, NotificationKind.PAYMENT_FAILED, session_id, payer_contact_id, invoice,
             _facts(invoice, _company_name(conn, invoice.id)))


def note_refund(conn: Connection, invoice: InvoiceRecord, *, charge_id: str, refunded_minor: int, currency: str,
                full: bool) -> None:
    """A refund of the invoice's own payment: `refunded_minor` is the charge's cumulative amount refunded, so each
    new refund of the charge is a new event and a redelivered one is the same."""
    if not invoice.paid_by_contact_id:
        return
    code = normalize_currency(currency)
    payload = _facts(invoice, _company_name(conn, invoice.id)) | {
        "refundedAmount": str(from_minor_units(refunded_minor, code)), "refundedCurrency": code, "fullRefund": full,
    }
    _add(conn, NotificationKind.REFUND_MADE, f"{charge_id}:{refunded_minor}", invoice.paid_by_contact_id, invoice,
         payload)


def _add(conn: Connection, kind: NotificationKind, event_key: str, contact_id: str, invoice: InvoiceRecord,
         payload: dict[str, Any]) -> bool:
    return add_notification(conn, kind=kind.value, event_key=event_key, contact_id=contact_id,
                            invoice_id=invoice.id, payload=payload)


def _company_name(conn: Connection, invoice_id: str) -> str | None:
    company = company_of_invoice(conn, invoice_id)
    return company[1] if company else None


def _facts(invoice: InvoiceRecord, company_name: str | None) -> dict[str, Any]:
    """What every message about the invoice shows, as of the change (the message tells what happened then). No
    secret and no Stripe id but the invoice's own: a session's client_secret never reaches this table."""
    return {
        "invoiceId": invoice.id,
        "invoiceNumber": invoice.invoice_number,
        "amount": str(invoice.amount),
        "currency": invoice.currency,
        "description": invoice.description,
        "trigger": invoice.trigger,
        "dueDate": invoice.due_date.isoformat() if invoice.due_date else None,
        "companyName": company_name,
    }


def apply_notification_retention() -> int:
    """The scheduled retention run's part for the outbox: rows settled more than NOTIFICATION_RETENTION_DAYS ago
    are deleted (they hold the payer's name given at Checkout). Nothing is sent twice for it: every row is written
    only by the state change it tells about, which happens once; the row's unique key is a second guard only while
    a change could still be reported again. Returns how many rows went."""
    cutoff = utc_now() - timedelta(days=settings().notification_retention_days)
    return in_batches(lambda conn, limit: delete_settled_before(conn, cutoff, limit=limit))
