"""The "CheckoutSession" table: every session checkout made, attached to its invoice as the current one, and when
reconciliation last asked Stripe about it."""

from __future__ import annotations

from sqlalchemy import Connection, select, update

from billing.invoice_states import InvoiceEvent
from billing.repository.invoices import InvoiceRecord, apply_invoice_event
from billing.repository.sql import insert_ignoring_conflict, utc_now
from billing.schema import checkout_session


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
) -> InvoiceRecord | None:
    """Make `session_id` the invoice's current session (InvoiceEvent.CHECKOUT_STARTED: a failed invoice is
    pending again, a new attempt to pay it has begun) and add it to the history. None if the invoice is not
    payable (the caller holds the row lock, so only a bug of ours gets there)."""
    attached = apply_invoice_event(conn, invoice_id, InvoiceEvent.CHECKOUT_STARTED,
                                   values={"stripeCheckoutSessionId": session_id, "stripeCustomerId": customer_id})
    if attached is not None:
        insert_ignoring_conflict(conn, checkout_session, {
            "id": session_id,
            "invoiceId": invoice_id,
            "contactId": contact_id,
            "amountMinor": amount_minor,
            "currency": currency,
            "idempotencyKey": idempotency_key,
            # to the microsecond on SQLite too (its default is whole seconds): the history lists attempts in order
            "createdAt": utc_now(),
        })
    return attached


def is_our_checkout_session(conn: Connection, session_id: str) -> bool:
    """Whether checkout made this session (every session it makes is recorded with the invoice it is for)."""
    return conn.scalar(select(checkout_session.c.id).where(checkout_session.c.id == session_id)) is not None

def note_reconciled(conn: Connection, session_id: str, outcome: str) -> None:
    conn.execute(update(checkout_session).where(checkout_session.c.id == session_id)
                 .values(reconciledAt=utc_now(), reconcileOutcome=outcome))
