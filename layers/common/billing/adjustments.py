"""Refunds and disputes: what happens to a payment after the money arrived.

An invoice's status changes only through its own payment: the charge's PaymentIntent must be the one recorded on
the invoice when it was paid ("stripePaymentIntentId"; the refund transition's guard says so in SQL). Whose
payment a charge or dispute concerns:

- the invoice's own: recorded on the invoice; a full refund moves it paid -> refunded;
- a payment set aside as unapplied (billing/unapplied_payments.py: our own automatic refund, or someone's in the
  Dashboard): recorded against that payment, the record marked refunded;
- another payment whose metadata names an invoice that was paid by a different one: recorded against that payment
  (no invoice), answered 2xx and surfaced (outcome `adjustment_of_other_payment`, WARNING, metric), the invoice
  untouched;
- a payment that names an invoice not paid yet: Stripe does not keep events in order, so its payment may not be
  recorded yet. Such events end `awaiting_payment` (`AWAITING_PAYMENT_OUTCOMES`), and reconciliation applies them
  again once the payment is recorded (`webhook.retry_events_awaiting_payment`), when the classes above decide.

A charge carries its PaymentIntent's metadata (Stripe copies it); a dispute carries none. A dispute of a payment
we hold no record of (neither an invoice's nor an unapplied one) therefore ends `unknown_invoice` at the webhook,
which holds no Stripe key; reconciliation, which does, applies it again with its PaymentIntent expanded
(`with_payment_intent_expanded`), and the classes above decide from that PaymentIntent's metadata.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any, NamedTuple, TypeGuard

from sqlalchemy import Connection

from billing import outbox, unapplied_payments
from billing.errors import UnsupportedAmount
from billing.invoice_states import InvoiceEvent
from billing.money import normalize_currency
from billing.observability import logger, surface
from billing.repository.invoices import InvoiceRecord, apply_invoice_event, find_invoice, find_invoice_by_payment_intent
from billing.repository.payment_adjustments import record_adjustment
from billing.repository.unapplied_payments import find_unapplied_payment
from billing.stripe_gateway import retrieve_payment_intent

AWAITING_PAYMENT_OUTCOMES = ("unknown_invoice", "awaiting_payment")
OTHER_PAYMENT_METRIC = "AdjustmentOfOtherPayment"


class _Whose(Enum):
    INVOICES_OWN = "invoices_own"
    UNAPPLIED = "unapplied"  # a payment set aside: it never settled its invoice
    OTHER = "other"  # names an invoice paid by another payment
    NOT_YET_KNOWN = "not_yet_known"  # names an invoice not paid yet: its payment may still be recorded
    NO_INVOICE = "no_invoice"


class _Payment(NamedTuple):
    whose: _Whose
    payment_intent: str | None
    invoice: InvoiceRecord | None  # the invoice it is the payment of, or the one its metadata names


def apply_charge_refunded(conn: Connection, charge: Mapping[str, Any]) -> str:
    payment = _payment_of(conn, charge)
    charge_id, amount, refunded = charge.get("id"), charge.get("amount"), charge.get("amount_refunded")
    if not isinstance(charge_id, str) or not _is_int(amount) or not _is_int(refunded):
        return "unknown_invoice"
    if payment.whose in (_Whose.NOT_YET_KNOWN, _Whose.NO_INVOICE):
        return "awaiting_payment" if payment.whose is _Whose.NOT_YET_KNOWN else "unknown_invoice"
    fully_refunded = bool(charge.get("refunded")) or refunded >= amount
    _record(conn, payment, adjustment_id=charge_id, kind="refund", amount_minor=refunded,
            currency=charge.get("currency"), status="full" if fully_refunded else "partial")
    if payment.whose is _Whose.UNAPPLIED:
        if fully_refunded:
            unapplied_payments.confirm_refunded(conn, str(payment.payment_intent))
        return "unapplied_payment_refunded" if fully_refunded else "unapplied_payment_partially_refunded"
    if payment.whose is _Whose.OTHER:
        return _surfaced_other(payment, charge_id, "refund")
    assert payment.invoice is not None
    outbox.note_refund(conn, payment.invoice, charge_id=charge_id, refunded_minor=refunded,
                       currency=_currency(charge.get("currency"), payment.invoice), full=fully_refunded)
    if not fully_refunded:
        return "partially_refunded"
    refunded_invoice = apply_invoice_event(conn, payment.invoice.id, InvoiceEvent.REFUNDED_IN_FULL,
                                                      payment_intent_id=payment.payment_intent)
    logger.info("invoice refunded", extra={"invoice_id": payment.invoice.id, "changed": refunded_invoice is not None})
    return "refunded" if refunded_invoice else "unchanged"


def apply_dispute(conn: Connection, dispute: Mapping[str, Any]) -> str:
    payment = _payment_of(conn, dispute)
    dispute_id, amount, status = dispute.get("id"), dispute.get("amount"), dispute.get("status")
    if not isinstance(dispute_id, str) or not _is_int(amount) or not isinstance(status, str):
        return "unknown_invoice"
    if payment.whose in (_Whose.NOT_YET_KNOWN, _Whose.NO_INVOICE):
        return "awaiting_payment" if payment.whose is _Whose.NOT_YET_KNOWN else "unknown_invoice"
    _record(conn, payment, adjustment_id=dispute_id, kind="dispute", amount_minor=amount,
            currency=dispute.get("currency"), status=status)
    if payment.whose is _Whose.OTHER:
        return _surfaced_other(payment, dispute_id, "dispute")
    # A dispute needs a person (evidence, or accepting the loss): it is recorded and logged, the status stays.
    logger.warning("payment disputed", extra={"invoice_id": payment.invoice.id if payment.invoice else None,
                                              "payment_intent_id": payment.payment_intent,
                                              "unapplied_payment": payment.whose is _Whose.UNAPPLIED,
                                              "dispute_status": status})
    return "unapplied_payment_disputed" if payment.whose is _Whose.UNAPPLIED else "dispute_recorded"


def with_payment_intent_expanded(adjusted: Mapping[str, Any]) -> dict[str, Any] | None:
    """The dispute (or charge) with its `payment_intent` expanded, as Stripe's `expand[]=payment_intent` answers:
    the PaymentIntent's metadata names the invoice it was made for. None if it names no PaymentIntent Stripe
    knows. Asks Stripe (PaymentProviderUnavailable when it cannot answer): call it outside any transaction."""
    payment_intent = adjusted.get("payment_intent")
    intent = retrieve_payment_intent(payment_intent) if isinstance(payment_intent, str) else None
    if intent is None:
        return None
    return {**adjusted, "payment_intent": {"id": intent["id"], "metadata": intent.get("metadata") or {}}}


def _payment_of(conn: Connection, adjusted: Mapping[str, Any]) -> _Payment:
    """Whose payment a charge or dispute concerns (module docstring)."""
    given = adjusted.get("payment_intent")
    expanded: Mapping[str, Any] = given if isinstance(given, Mapping) else {}  # `with_payment_intent_expanded`
    payment_intent = expanded.get("id") if expanded else given
    if not isinstance(payment_intent, str):
        payment_intent = None
    if payment_intent is not None:
        paid = find_invoice_by_payment_intent(conn, payment_intent)
        if paid is not None:
            return _Payment(_Whose.INVOICES_OWN, payment_intent, paid)
        if find_unapplied_payment(conn, payment_intent) is not None:
            return _Payment(_Whose.UNAPPLIED, payment_intent, None)
    invoice_id = _invoice_named(adjusted.get("metadata")) or _invoice_named(expanded.get("metadata"))
    named = find_invoice(conn, invoice_id) if invoice_id is not None else None
    if named is None:
        return _Payment(_Whose.NO_INVOICE, payment_intent, None)
    if payment_intent is not None and named.stripe_payment_intent_id not in (None, payment_intent):
        return _Payment(_Whose.OTHER, payment_intent, named)
    return _Payment(_Whose.NOT_YET_KNOWN, payment_intent, named)


def _invoice_named(metadata: Any) -> str | None:
    invoice_id = metadata.get("invoiceId") if isinstance(metadata, Mapping) else None
    return invoice_id if isinstance(invoice_id, str) else None


def _record(conn: Connection, payment: _Payment, *, adjustment_id: str, kind: str, amount_minor: int,
            currency: Any, status: str) -> None:
    invoice = payment.invoice
    own = payment.whose is _Whose.INVOICES_OWN and invoice is not None
    record_adjustment(
        conn, adjustment_id=adjustment_id, payment_intent_id=payment.payment_intent,
        invoice_id=invoice.id if own and invoice else None, kind=kind, amount_minor=amount_minor,
        currency=_currency(currency, invoice), status=status,
    )


def _currency(value: Any, invoice: InvoiceRecord | None) -> str:
    for candidate in (value, invoice.currency if invoice else None):
        if isinstance(candidate, str):
            try:
                return normalize_currency(candidate)
            except UnsupportedAmount:
                continue
    return str(value or "")


def _surfaced_other(payment: _Payment, adjustment_id: str, kind: str) -> str:
    assert payment.invoice is not None
    surface(OTHER_PAYMENT_METRIC, "adjustment of a payment that is not its invoice's", dimensions={"kind": kind},
            adjustment_id=adjustment_id, payment_intent_id=payment.payment_intent,
            named_invoice_id=payment.invoice.id)
    return "adjustment_of_other_payment"


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)
