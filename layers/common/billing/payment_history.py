"""An invoice's payments as people read them: each checkout attempt (who started it, when, for how much, how it
ended), each payment with its method's summary and Stripe's receipt URL, refunds and disputes. Read from what
fulfilment and the webhook recorded: no Stripe call. Staff's "who paid" and the client's history show the same."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection

from billing.invoice_states import SETTLED_STATUSES
from billing.money import from_minor_units
from billing.repository.invoices import InvoiceRecord
from billing.repository.staff_queries import PaymentsOfInvoice, payments_of_invoice
from billing.staff_views import iso

# How a session ended, from the last Checkout event the inbox received for it.
_ENDED_BY_EVENT = {
    "checkout.session.expired": "expired",
    "checkout.session.async_payment_failed": "failed",
    "checkout.session.async_payment_succeeded": "paid",
    "checkout.session.completed": "completed",
}


def payment_history(conn: Connection, record: InvoiceRecord, recorded: PaymentsOfInvoice | None = None
                    ) -> dict[str, Any]:
    """Attempts, refunds and disputes of the invoice (`recorded`: what the caller already read of it)."""
    recorded = recorded or payments_of_invoice(conn, record)
    refunds = [_adjustment(a) for a in recorded.adjustments if a["kind"] == "refund"]
    disputes = [_adjustment(a) for a in recorded.adjustments if a["kind"] == "dispute"]
    return {
        "attempts": [_attempt(session, record, recorded) for session in recorded.sessions],
        "refunds": refunds,
        "disputes": disputes,
    }


def method_summary(method: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if method is None or not method["methodType"]:
        return None
    return {"type": method["methodType"], "brand": method["cardBrand"], "last4": method["last4"]}


def _attempt(session: Mapping[str, Any], record: InvoiceRecord, recorded: PaymentsOfInvoice) -> dict[str, Any]:
    set_aside = recorded.unapplied.get(session["id"])
    current = session["id"] == record.stripe_checkout_session_id
    paid_invoice = current and record.status in SETTLED_STATUSES
    # the payment the session took: the invoice's own, or one set aside (its PaymentIntent is the record's id)
    paid_with = record.stripe_payment_intent_id if paid_invoice else (set_aside["id"] if set_aside else None)
    method = recorded.methods.get(paid_with) if paid_with else None
    if paid_invoice:
        outcome = "paid"
    elif set_aside is not None:
        outcome = f"payment_not_applied:{set_aside['reason']}"
    elif current:
        outcome = "processing" if record.status == "processing" else "open"
    else:
        outcome = _ENDED_BY_EVENT.get(recorded.last_event_types.get(session["id"], ""), "closed")
    payment = None
    if paid_invoice:
        payment = {"paymentIntentId": record.stripe_payment_intent_id, "paidAt": iso(record.paid_at),
                   "paidBy": record.paid_by_contact_id, "method": method_summary(method),
                   "receiptUrl": method["receiptUrl"] if method else None}
    elif method is not None:
        payment = {"paymentIntentId": method["paymentIntentId"], "paidAt": iso(method["createdAt"]),
                   "paidBy": None, "method": method_summary(method), "receiptUrl": method["receiptUrl"]}
    return {
        "sessionId": session["id"],
        "startedBy": session["contactId"],
        "startedAt": iso(session["createdAt"]),
        "amount": from_minor_units(int(session["amountMinor"]), session["currency"]),
        "currency": session["currency"],
        "outcome": outcome,
        "payment": payment,
    }


def _adjustment(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "paymentIntentId": row["paymentIntentId"],
        "amount": from_minor_units(int(row["amountMinor"]), row["currency"]),
        "currency": row["currency"],
        "status": row["status"],
        "createdAt": iso(row["createdAt"]),
        "updatedAt": iso(row["updatedAt"]),
    }
