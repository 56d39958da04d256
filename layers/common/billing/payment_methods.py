"""How each payment was made, recorded when its charge succeeds (Stripe's `charge.succeeded`, delivered to the
webhook or recovered by reconciliation from Stripe's events list): the method's summary (card brand and last four,
or the bank account's last four) and Stripe's receipt URL, in "PaymentRecord" by PaymentIntent. The payment history
and staff's "who paid" read it from there: no Stripe call, and nothing more about the payer than that summary."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection

from billing.repository.payment_records import record_payment

# The kinds of payment_method_details whose summary is a last four (cards also have a brand).
_LAST4_KINDS = ("card", "us_bank_account", "sepa_debit", "bacs_debit", "au_becs_debit", "acss_debit")


def method_summary_of(details: Mapping[str, Any]) -> dict[str, Any]:
    """payment_method_details down to its summary: the type, and for a card its brand and last four, for a bank
    debit its last four."""
    kind = details.get("type")
    summary: dict[str, Any] = {"type": kind}
    if not isinstance(kind, str) or kind not in _LAST4_KINDS:
        return summary
    specific = details.get(kind)
    if isinstance(specific, Mapping):
        summary[kind] = {key: specific[key] for key in ("brand", "last4") if isinstance(specific.get(key), str)}
    return summary


def record_charge_succeeded(conn: Connection, charge: Mapping[str, Any]) -> str:
    """The webhook's handler of `charge.succeeded`: the payment's method summary and receipt URL, recorded once
    per PaymentIntent (a later event of the same payment fills only what is still unknown)."""
    payment_intent = charge.get("payment_intent")
    if isinstance(payment_intent, Mapping):
        payment_intent = payment_intent.get("id")
    if not isinstance(payment_intent, str) or not isinstance(charge.get("id"), str):
        return "malformed"
    details = charge.get("payment_method_details")
    summary = method_summary_of(details) if isinstance(details, Mapping) else {}
    kind = summary.get("type")
    specific = summary.get(kind, {}) if isinstance(kind, str) else {}
    metadata = charge.get("metadata")
    invoice_id = metadata.get("invoiceId") if isinstance(metadata, Mapping) else None
    receipt = charge.get("receipt_url")
    record_payment(conn, {
        "paymentIntentId": payment_intent, "chargeId": charge["id"],
        "invoiceId": invoice_id if isinstance(invoice_id, str) else None,
        "methodType": kind if isinstance(kind, str) else None,
        "cardBrand": specific.get("brand"), "last4": specific.get("last4"),
        "receiptUrl": receipt if isinstance(receipt, str) else None,
    })
    return "payment_method_recorded"
