"""Refunds and disputes: what happens to a paid invoice after the money arrived.

The invoice is found through the charge's PaymentIntent (stored on the invoice when it was paid), falling back
to the invoice id that checkout put in the PaymentIntent's metadata (Stripe copies it onto the charge).

Stripe does not keep events in order: a refund or dispute can arrive before the payment it concerns is recorded.
Such events end with an outcome in `AWAITING_PAYMENT_OUTCOMES`, and reconciliation applies them again once the
payment is recorded (`webhook.retry_events_awaiting_payment`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeGuard

from sqlalchemy import Connection

from billing import repository
from billing.observability import logger
from billing.repository import InvoiceRecord

ADJUSTMENT_EVENT_TYPES = ("charge.refunded", "charge.dispute.created", "charge.dispute.closed")
AWAITING_PAYMENT_OUTCOMES = ("unknown_invoice", "awaiting_payment")


def apply_charge_refunded(conn: Connection, charge: Mapping[str, Any]) -> str:
    invoice = _invoice_of(conn, charge.get("payment_intent"), charge.get("metadata"))
    charge_id, amount, refunded = charge.get("id"), charge.get("amount"), charge.get("amount_refunded")
    if invoice is None or not isinstance(charge_id, str) or not _is_int(amount) or not _is_int(refunded):
        return "unknown_invoice"
    fully_refunded = bool(charge.get("refunded")) or refunded >= amount
    repository.record_adjustment(
        conn, adjustment_id=charge_id, invoice_id=invoice.id, kind="refund", amount_minor=refunded,
        currency=str(charge.get("currency") or invoice.currency).upper(),
        status="full" if fully_refunded else "partial",
    )
    if not fully_refunded:
        return "partially_refunded"
    if invoice.status not in ("paid", "refunded"):
        return "awaiting_payment"  # the payment's own event has not been applied yet
    refunded_invoice = repository.transition_invoice(
        conn, invoice_id=invoice.id, session_id=None, from_statuses=("paid",), values={"status": "refunded"}
    )
    logger.info("invoice refunded", extra={"invoice_id": invoice.id, "changed": refunded_invoice is not None})
    return "refunded" if refunded_invoice else "unchanged"


def apply_dispute(conn: Connection, dispute: Mapping[str, Any]) -> str:
    invoice = _invoice_of(conn, dispute.get("payment_intent"), dispute.get("metadata"))
    dispute_id, amount, status = dispute.get("id"), dispute.get("amount"), dispute.get("status")
    if invoice is None or not isinstance(dispute_id, str) or not _is_int(amount) or not isinstance(status, str):
        return "unknown_invoice"
    repository.record_adjustment(
        conn, adjustment_id=dispute_id, invoice_id=invoice.id, kind="dispute", amount_minor=amount,
        currency=str(dispute.get("currency") or invoice.currency).upper(), status=status,
    )
    # A dispute needs a person (evidence, or accepting the loss): it is recorded and logged, the status stays.
    logger.warning("payment disputed", extra={"invoice_id": invoice.id, "dispute_status": status})
    return "dispute_recorded"


def _invoice_of(conn: Connection, payment_intent: Any, metadata: Any) -> InvoiceRecord | None:
    if isinstance(payment_intent, Mapping):
        payment_intent = payment_intent.get("id")
    if isinstance(payment_intent, str):
        invoice = repository.find_invoice_by_payment_intent(conn, payment_intent)
        if invoice is not None:
            return invoice
    invoice_id = metadata.get("invoiceId") if isinstance(metadata, Mapping) else None
    return repository.find_invoice(conn, invoice_id) if isinstance(invoice_id, str) else None


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)
