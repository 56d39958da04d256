"""The invoice state machine, driven by Checkout Sessions. One function serves the webhook, the verify route,
checkout's own look at a previous session, and reconciliation.

Stripe may deliver the same session several times, concurrently and out of order, so every transition is one
conditional UPDATE whose WHERE clause names its precondition: the session must be the invoice's current one,
the amount and currency must match, and the invoice must be in a state the transition may leave. `paid` is
final here, so `paidAt`, `paidByContactId` and `stripePaymentIntentId` are written exactly once.

    pending --complete/paid--> paid            pending --complete/unpaid (bank debit)--> processing
    processing --async succeeded--> paid        pending|processing --async failed--> failed (payable again)
    failed --new checkout--> pending            pending|failed --session expired--> session released
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, NamedTuple

from sqlalchemy import Connection

from billing import repository
from billing.errors import UnsupportedAmount
from billing.money import from_minor_units
from billing.observability import logger
from billing.repository import InvoiceRecord, utc_now
from billing.stripe_gateway import CheckoutSessionSnapshot


class Outcome(StrEnum):
    PAID = "paid"
    PROCESSING = "processing"
    FAILED = "failed"
    SESSION_RELEASED = "session_released"
    UNCHANGED = "unchanged"  # already in that state: a duplicate or a late, reordered event
    NOT_FINISHED = "not_finished"  # the session is still open
    UNKNOWN_INVOICE = "unknown_invoice"
    SESSION_MISMATCH = "session_mismatch"  # not the invoice's current session
    AMOUNT_MISMATCH = "amount_mismatch"


class FulfillmentResult(NamedTuple):  # immutable; cheaper to define than a dataclass
    outcome: Outcome
    invoice: InvoiceRecord | None


def fulfill_checkout_session(
    conn: Connection, session: CheckoutSessionSnapshot, *, async_payment_failed: bool = False
) -> FulfillmentResult:
    """Apply what `session` says to its invoice, at most once. Safe to call any number of times."""
    invoice_id = session.invoice_id
    if not invoice_id:
        return _logged(FulfillmentResult(Outcome.UNKNOWN_INVOICE, None), session)

    transition = _transition_for(session, async_payment_failed)
    if transition is None:
        return FulfillmentResult(Outcome.NOT_FINISHED, None)
    outcome, from_statuses, values, check_amount = transition

    amount = _session_amount(session) if check_amount else None
    if check_amount and amount is None:
        updated = None
    else:
        updated = repository.transition_invoice(
            conn,
            invoice_id=invoice_id,
            session_id=session.id,
            from_statuses=from_statuses,
            values=values,
            amount=amount,
            currency=session.currency if check_amount else None,
        )
    if updated is not None:
        return _logged(FulfillmentResult(outcome, updated), session)
    return _logged(_why_unchanged(conn, invoice_id, session, amount), session)


def has_anything_to_apply(session: CheckoutSessionSnapshot) -> bool:
    """False for a session still open: fulfilling it would change nothing, so a caller need not open a
    transaction for it."""
    return _transition_for(session, async_payment_failed=False) is not None


def _transition_for(
    session: CheckoutSessionSnapshot, async_payment_failed: bool
) -> tuple[Outcome, tuple[str, ...], dict[str, Any], bool] | None:
    if session.status == "expired":
        return Outcome.SESSION_RELEASED, ("pending", "failed"), {"stripeCheckoutSessionId": None}, False
    if session.status != "complete":
        return None
    if async_payment_failed:
        # The session stays "complete" at Stripe forever, so it is released: the next checkout makes a new one.
        return Outcome.FAILED, ("pending", "processing"), {"status": "failed", "stripeCheckoutSessionId": None}, False
    if session.payment_status in ("paid", "no_payment_required"):
        values: dict[str, Any] = {
            "status": "paid",
            "paidAt": utc_now(),
            "paidByContactId": session.contact_id,
            "stripePaymentIntentId": session.payment_intent,
        }
        if session.customer:
            values["stripeCustomerId"] = session.customer
        return Outcome.PAID, ("pending", "processing", "failed"), values, True
    # complete but unpaid: a delayed method (bank debit) that settles later with an async_payment_* event.
    return Outcome.PROCESSING, ("pending", "failed"), {"status": "processing"}, True


def _session_amount(session: CheckoutSessionSnapshot) -> Any:
    if session.amount_total is None or not session.currency:
        return None
    try:
        return from_minor_units(session.amount_total, session.currency)
    except UnsupportedAmount:
        return None


def _why_unchanged(
    conn: Connection, invoice_id: str, session: CheckoutSessionSnapshot, amount: Any
) -> FulfillmentResult:
    invoice = repository.find_invoice(conn, invoice_id)
    if invoice is None:
        return FulfillmentResult(Outcome.UNKNOWN_INVOICE, None)
    if invoice.stripe_checkout_session_id != session.id:
        return FulfillmentResult(Outcome.SESSION_MISMATCH, invoice)
    amount_matches = amount is not None and amount == invoice.amount and (
        (session.currency or "").upper() == invoice.currency.upper()
    )
    if session.status == "complete" and not amount_matches:
        return FulfillmentResult(Outcome.AMOUNT_MISMATCH, invoice)
    return FulfillmentResult(Outcome.UNCHANGED, invoice)


def _logged(result: FulfillmentResult, session: CheckoutSessionSnapshot) -> FulfillmentResult:
    fields = {
        "outcome": result.outcome.value,
        "checkout_session_id": session.id,
        "invoice_id": session.invoice_id,
        "session_status": session.status,
        "payment_status": session.payment_status,
    }
    money_taken = session.payment_status == "paid"
    if result.outcome in (Outcome.AMOUNT_MISMATCH, Outcome.SESSION_MISMATCH, Outcome.UNKNOWN_INVOICE) and money_taken:
        # Money was taken that no invoice records: a person must look (refund or reattach).
        logger.error("payment not applied to an invoice", extra=fields)
    else:
        logger.info("checkout session applied", extra=fields)
    return result
