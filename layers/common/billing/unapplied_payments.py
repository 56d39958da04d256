"""Money that names one of our invoices but cannot settle it is given back, never kept.

A payment does not settle its invoice when it is for another amount or currency (the invoice was edited after
its Checkout Session was opened), when the invoice is already paid (a second payment), or when it comes through
a session that is not the invoice's current one. Fulfillment sets such a payment aside in the same transaction
as it looks at it (`set_aside`): the payment is recorded in "UnappliedPayment", the session is released, so the
invoice is payable again at its current amount, and the payment is surfaced (WARNING log, metric).

What becomes of it is MISMATCHED_PAYMENT_POLICY:
- `refund` (default): it is refunded through Stripe with an idempotency key of its own and metadata saying why,
  by the first function that holds the Stripe key: verify or checkout at once, otherwise (the webhook has no
  key) the next reconciliation run (`refund_due_payments`).
- `hold`: it waits for an operator, who lists it and refunds or accepts it (scripts/unapplied_payments.py).
A payment through a session checkout did not make (not in "CheckoutSession") is always held: this code refunds
only what it asked for. A bank debit still in flight is recorded and released, and refunded once it succeeds.
"""

from __future__ import annotations

from collections import Counter
from functools import partial
from typing import Any

from sqlalchemy import Connection

from billing import outbox, stripe_gateway
from billing.db import after_commit, transaction
from billing.errors import BillingError, PaymentProviderUnavailable
from billing.invoice_states import SETTLED_STATUSES, InvoiceEvent, sources_of, target_of
from billing.money import settlement_terms, settles_exactly
from billing.observability import count, logger, surface
from billing.repository.checkout_sessions import is_our_checkout_session
from billing.repository.invoices import InvoiceRecord, apply_invoice_event, find_invoice
from billing.repository.sql import utc_now
from billing.repository.unapplied_payments import (
    UnappliedPaymentRecord,
    find_unapplied_payment,
    move_unapplied_payment,
    record_unapplied_payment,
    unapplied_payments_with_status,
)
from billing.schema import UnappliedReason, UnappliedStatus
from billing.settings import settings
from billing.stripe_gateway import CheckoutSessionSnapshot

METRIC = "UnappliedPayment"
# What became of it: an alarm watches both (docs/OPERATIONS.md)
REFUNDED_METRIC, HELD_METRIC = "MismatchedPaymentRefunded", "MismatchedPaymentHeld"
_REFUNDABLE = (UnappliedStatus.REFUND_DUE, UnappliedStatus.HELD)


def reason_not_applicable(session: CheckoutSessionSnapshot, invoice: InvoiceRecord) -> UnappliedReason | None:
    """Why the payment of `session` (complete; taken, or a bank debit in flight) cannot settle `invoice`, or None
    when it can or there is no payment to speak of (the caller then leaves the invoice as it is)."""
    if session.status != "complete" or not session.payment_intent:
        return None
    if invoice.stripe_payment_intent_id == session.payment_intent:
        return None  # it is the invoice's payment: a repeated or late event
    taken = session.payment_status == "paid"
    current = session.id == invoice.stripe_checkout_session_id
    if invoice.status in SETTLED_STATUSES:
        return UnappliedReason.INVOICE_SETTLED if taken else None
    if not current:
        # A bank debit of a session no longer current is looked at when it succeeds (a failed one takes nothing).
        return UnappliedReason.NOT_CURRENT_SESSION if taken else None
    terms = settlement_terms(session.amount_total, session.currency)
    if settles_exactly(terms, invoice.amount, invoice.currency):
        return None
    if terms is not None and terms.amount == invoice.amount:
        return UnappliedReason.CURRENCY_MISMATCH
    return UnappliedReason.AMOUNT_MISMATCH


def set_aside(
    conn: Connection, session: CheckoutSessionSnapshot, invoice: InvoiceRecord, reason: UnappliedReason
) -> tuple[InvoiceRecord, UnappliedPaymentRecord]:
    """Record the payment, release the invoice's session if it is this one (payable again at its current amount),
    and surface it. Returns the invoice as it now is and the record."""
    assert session.payment_intent is not None
    record = record_unapplied_payment(
        conn, payment_intent_id=session.payment_intent, invoice_id=invoice.id, checkout_session_id=session.id,
        contact_id=session.contact_id, amount_minor=session.amount_total, currency=session.currency,
        reason=reason.value, status=_status_for_new(conn, session),
    )
    released = None
    if session.id == invoice.stripe_checkout_session_id and invoice.status in sources_of(
        InvoiceEvent.PAYMENT_NOT_APPLICABLE
    ):
        released = apply_invoice_event(conn, invoice.id, InvoiceEvent.PAYMENT_NOT_APPLICABLE,
                                                  session_id=session.id)
    if record.status == UnappliedStatus.HELD:
        after_commit(conn, partial(count, HELD_METRIC))
    surface(METRIC, "payment does not settle its invoice", dimensions={"reason": reason.value},
            invoice_id=invoice.id, payment_intent_id=record.id, checkout_session_id=session.id,
            unapplied_status=record.status, session_released=released is not None)
    return released or invoice, record


def _status_for_new(conn: Connection, session: CheckoutSessionSnapshot) -> UnappliedStatus:
    if session.payment_status != "paid":
        return UnappliedStatus.IN_FLIGHT
    if settings().mismatched_payment_policy == "hold" or not is_our_checkout_session(conn, session.id):
        return UnappliedStatus.HELD
    return UnappliedStatus.REFUND_DUE


def note_payment_failed(conn: Connection, payment_intent_id: str | None) -> None:
    """A bank debit set aside while in flight failed: there is nothing to give back."""
    if payment_intent_id:
        move_unapplied_payment(conn, payment_intent_id, from_statuses=(UnappliedStatus.IN_FLIGHT,),
                                          to=UnappliedStatus.PAYMENT_FAILED)


def refund_if_due(record: UnappliedPaymentRecord | None) -> UnappliedPaymentRecord | None:
    """For a function with the Stripe key, right after it set a payment aside: refund it now if the policy says
    so. Stripe being down leaves it `refund_due` for the next reconciliation run. Returns the record as it is."""
    if record is None or record.status != UnappliedStatus.REFUND_DUE:
        return record
    try:
        return refund(record.id, allowed=(UnappliedStatus.REFUND_DUE,))
    except PaymentProviderUnavailable:
        return record


def refund(payment_intent_id: str, *, allowed: tuple[UnappliedStatus, ...] = _REFUNDABLE) -> UnappliedPaymentRecord:
    """Refund the payment in full through Stripe (no lock is held while Stripe answers: the idempotency key makes
    concurrent or repeated refunds one refund) and record it."""
    with transaction() as conn:
        record = _require(conn, payment_intent_id)
    if record.status not in allowed:
        return record
    refund_id = stripe_gateway.refund_payment(
        record.id,
        reason="duplicate" if record.reason == UnappliedReason.INVOICE_SETTLED else None,
        metadata={"invoiceId": record.invoice_id, "refundedBecause": f"payment does not settle invoice: "
                                                                     f"{record.reason}"},
    )
    with transaction() as conn:
        move_unapplied_payment(conn, record.id, from_statuses=allowed, to=UnappliedStatus.REFUNDED,
                                          refund_id=refund_id)
        refunded = _require(conn, record.id)
    logger.info("unapplied payment refunded", extra={"payment_intent_id": record.id, "invoice_id": record.invoice_id,
                                                     "refund_id": refund_id})
    count(REFUNDED_METRIC)
    return refunded


def refund_due_payments(limit: int) -> Counter[str]:
    """Reconciliation's part: refund every payment the webhook set aside under the `refund` policy."""
    with transaction() as conn:
        due = unapplied_payments_with_status(conn, (UnappliedStatus.REFUND_DUE,), limit)
    outcomes: Counter[str] = Counter()
    for record in due:
        try:
            outcomes[refund(record.id, allowed=(UnappliedStatus.REFUND_DUE,)).status] += 1
        except PaymentProviderUnavailable:
            outcomes["stripe_unavailable"] += 1  # left for the next run
    return outcomes


def confirm_refunded(conn: Connection, payment_intent_id: str) -> None:
    """Stripe says the payment was refunded in full (our refund's event, or someone's in the Dashboard)."""
    move_unapplied_payment(conn, payment_intent_id, to=UnappliedStatus.REFUNDED,
                                      from_statuses=(UnappliedStatus.REFUND_DUE, UnappliedStatus.HELD))


class CannotAccept(BillingError):
    status_code = 409
    public_message = "the payment cannot settle its invoice now"


def accept(payment_intent_id: str) -> InvoiceRecord:
    """An operator's decision: a held payment settles its invoice after all (e.g. the old amount is agreed). Only
    while the invoice is still payable; its checkout in progress, if any, is closed first (as checkout does: if it
    turns out paid, the invoice is paid by it and this payment must be refunded instead)."""
    with transaction() as conn:
        record = _require(conn, payment_intent_id, for_update=True)
        if record.status != UnappliedStatus.HELD:
            raise CannotAccept(f"the payment is {record.status}, not held")
        invoice = find_invoice(conn, record.invoice_id, for_update=True)
        assert invoice is not None  # a foreign key
        if target_of(invoice.status, InvoiceEvent.PAYMENT_ACCEPTED) is None:
            raise CannotAccept(f"invoice is {invoice.status}: refund the payment instead")
        if invoice.stripe_checkout_session_id:
            invoice = _close_checkout_in_progress(conn, invoice)
        accepted = apply_invoice_event(conn, invoice.id, InvoiceEvent.PAYMENT_ACCEPTED, values={
            "paidAt": utc_now(), "paidByContactId": record.contact_id, "stripePaymentIntentId": record.id,
        })
        if accepted is None:
            raise CannotAccept("the invoice changed meanwhile; look again")
        move_unapplied_payment(conn, record.id, from_statuses=(UnappliedStatus.HELD,),
                                          to=UnappliedStatus.ACCEPTED)
        outbox.note_payment_succeeded(conn, accepted, payer_name=None)  # the payer's receipt, now it settles
    logger.warning("unapplied payment accepted by an operator",
                   extra={"payment_intent_id": record.id, "invoice_id": invoice.id, "reason": record.reason})
    return accepted


def _close_checkout_in_progress(conn: Connection, invoice: InvoiceRecord) -> InvoiceRecord:
    assert invoice.stripe_checkout_session_id is not None
    session = stripe_gateway.expire_checkout_session(invoice.stripe_checkout_session_id)
    if session is not None and session.status == "complete":
        raise CannotAccept("the invoice's current checkout was completed: let it be applied, refund this payment")
    released = apply_invoice_event(conn, invoice.id, InvoiceEvent.SESSION_EXPIRED,
                                              session_id=invoice.stripe_checkout_session_id)
    if released is None:
        raise CannotAccept("the invoice changed meanwhile; look again")
    return released


def listing(records: list[UnappliedPaymentRecord]) -> list[dict[str, Any]]:
    """Records as the operator command prints them (ids, amounts, why and what became of it; no personal data)."""
    return [{"paymentIntentId": r.id, "invoiceId": r.invoice_id, "checkoutSessionId": r.checkout_session_id,
             "contactId": r.contact_id, "amountMinor": r.amount_minor, "currency": r.currency, "reason": r.reason,
             "status": r.status, "refundId": r.refund_id, "createdAt": r.created_at.isoformat()} for r in records]


def _require(conn: Connection, payment_intent_id: str, *, for_update: bool = False) -> UnappliedPaymentRecord:
    record = find_unapplied_payment(conn, payment_intent_id, for_update=for_update)
    if record is None:
        raise LookupError(f"no unapplied payment {payment_intent_id}")
    return record
