"""What a Checkout Session says, applied to its invoice. One function serves the webhook, the verify route,
checkout's own look at a previous session, and reconciliation.

Stripe may deliver the same session several times, concurrently and out of order, so every change is one event of
the state machine (billing/invoice_states.py), applied as one conditional UPDATE: the session must be the
invoice's current one, the payment must be exactly the invoice's amount in its currency, and the invoice must be
in a state the event may leave. A payment that cannot settle the invoice is set aside
(billing/unapplied_payments.py): released, refunded or held, never kept silently and never blocking the invoice.
"""

from __future__ import annotations

from enum import StrEnum
from functools import partial
from typing import Any, NamedTuple

from sqlalchemy import Connection

from billing import outbox, unapplied_payments
from billing.db import after_commit
from billing.invoice_states import Guard, InvoiceEvent, guards_of
from billing.money import settlement_terms
from billing.observability import count, logger
from billing.repository.invoices import InvoiceRecord, apply_invoice_event, find_invoice
from billing.repository.sql import utc_now
from billing.repository.unapplied_payments import UnappliedPaymentRecord
from billing.stripe_gateway import CheckoutSessionSnapshot


class Outcome(StrEnum):
    PAID = "paid"
    PROCESSING = "processing"
    FAILED = "failed"
    SESSION_RELEASED = "session_released"
    UNCHANGED = "unchanged"  # already in that state: a duplicate or a late, reordered event
    NOT_FINISHED = "not_finished"  # the session is still open
    UNKNOWN_INVOICE = "unknown_invoice"
    SESSION_MISMATCH = "session_mismatch"  # not the invoice's current session, and no money it could keep
    PAYMENT_NOT_APPLIED = "payment_not_applied"  # money that cannot settle the invoice: set aside


class FulfillmentResult(NamedTuple):  # immutable; cheaper to define than a dataclass
    outcome: Outcome
    invoice: InvoiceRecord | None
    unapplied: UnappliedPaymentRecord | None = None  # the payment set aside, for PAYMENT_NOT_APPLIED


# The payments an operator watches: counted when the invoice's transition commits, wherever it was applied from
# (webhook, verify, checkout's look at a previous session, reconciliation).
_PAYMENT_METRICS = {Outcome.PAID: "PaymentPaid", Outcome.FAILED: "PaymentFailed",
                    Outcome.PROCESSING: "PaymentProcessing"}

# What a session in each state does to its invoice: the state machine's event and the outcome it answers.
_SESSION_EVENTS = {
    "expired": (InvoiceEvent.SESSION_EXPIRED, Outcome.SESSION_RELEASED),
    "failed": (InvoiceEvent.PAYMENT_FAILED, Outcome.FAILED),
    "paid": (InvoiceEvent.PAYMENT_SUCCEEDED, Outcome.PAID),
    "in_flight": (InvoiceEvent.PAYMENT_PROCESSING, Outcome.PROCESSING),
}


def fulfill_checkout_session(
    conn: Connection, session: CheckoutSessionSnapshot, *, async_payment_failed: bool = False
) -> FulfillmentResult:
    """Apply what `session` says to its invoice, at most once. Safe to call any number of times."""
    invoice_id = session.invoice_id
    if not invoice_id:
        return _logged(FulfillmentResult(Outcome.UNKNOWN_INVOICE, None), session)
    state = _state_of(session, async_payment_failed)
    if state is None:
        return FulfillmentResult(Outcome.NOT_FINISHED, None)
    event, outcome = _SESSION_EVENTS[state]
    terms = settlement_terms(session.amount_total, session.currency)
    updated = None
    if terms is not None or Guard.AMOUNT_AND_CURRENCY not in guards_of(event):
        updated = apply_invoice_event(
            conn, invoice_id, event, session_id=session.id, terms=terms, values=_written_by(event, session)
        )
    if updated is not None:
        _note_for_the_payer(conn, event, updated, session)
        if outcome in _PAYMENT_METRICS:
            after_commit(conn, partial(count, _PAYMENT_METRICS[outcome]))
        return _logged(FulfillmentResult(outcome, updated), session)
    if event is InvoiceEvent.PAYMENT_FAILED:
        unapplied_payments.note_payment_failed(conn, session.payment_intent)
    return _logged(_why_unchanged(conn, invoice_id, session, event), session)


def _note_for_the_payer(conn: Connection, event: InvoiceEvent, invoice: InvoiceRecord,
                        session: CheckoutSessionSnapshot) -> None:
    """The payer's email, in this transaction: written only by the one call whose UPDATE made the change."""
    if event is InvoiceEvent.PAYMENT_SUCCEEDED:
        outbox.note_payment_succeeded(conn, invoice, payer_name=session.customer_name)
    elif event is InvoiceEvent.PAYMENT_FAILED:
        outbox.note_payment_failed(conn, invoice, session_id=session.id, payer_contact_id=session.contact_id)


def has_anything_to_apply(session: CheckoutSessionSnapshot) -> bool:
    """False for a session still open: fulfilling it would change nothing, so a caller need not open a
    transaction for it."""
    return _state_of(session, async_payment_failed=False) is not None


def _state_of(session: CheckoutSessionSnapshot, async_payment_failed: bool) -> str | None:
    if session.status == "expired":
        return "expired"
    if session.status != "complete":
        return None
    if async_payment_failed:
        return "failed"
    if session.payment_status in ("paid", "no_payment_required"):
        return "paid"
    return "in_flight"  # complete but unpaid: a delayed method (bank debit) settles later with async_payment_*


def _written_by(event: InvoiceEvent, session: CheckoutSessionSnapshot) -> dict[str, Any]:
    if event is not InvoiceEvent.PAYMENT_SUCCEEDED:
        return {}
    values: dict[str, Any] = {
        "paidAt": utc_now(),
        "paidByContactId": session.contact_id,
        "stripePaymentIntentId": session.payment_intent,
    }
    if session.customer:
        values["stripeCustomerId"] = session.customer
    return values


def _why_unchanged(
    conn: Connection, invoice_id: str, session: CheckoutSessionSnapshot, event: InvoiceEvent
) -> FulfillmentResult:
    invoice = find_invoice(conn, invoice_id)
    if invoice is None:
        return FulfillmentResult(Outcome.UNKNOWN_INVOICE, None)
    if event in (InvoiceEvent.PAYMENT_SUCCEEDED, InvoiceEvent.PAYMENT_PROCESSING):
        reason = unapplied_payments.reason_not_applicable(session, invoice)
        if reason is not None:
            invoice, record = unapplied_payments.set_aside(conn, session, invoice, reason)
            return FulfillmentResult(Outcome.PAYMENT_NOT_APPLIED, invoice, record)
    if invoice.stripe_checkout_session_id != session.id:
        return FulfillmentResult(Outcome.SESSION_MISMATCH, invoice)
    return FulfillmentResult(Outcome.UNCHANGED, invoice)


def _logged(result: FulfillmentResult, session: CheckoutSessionSnapshot) -> FulfillmentResult:
    fields = {
        "outcome": result.outcome.value,
        "checkout_session_id": session.id,
        "invoice_id": session.invoice_id,
        "session_status": session.status,
        "payment_status": session.payment_status,
    }
    if result.outcome is Outcome.UNKNOWN_INVOICE and session.payment_status == "paid":
        # Money was taken that none of our invoices records: a person must look (refund or reattach).
        logger.error("payment for an unknown invoice", extra=fields)
    elif result.outcome is not Outcome.PAYMENT_NOT_APPLIED:  # set_aside surfaced that one
        logger.info("checkout session applied", extra=fields)
    return result
