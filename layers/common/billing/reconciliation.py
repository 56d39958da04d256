"""Reconciliation: payments whose webhook never came still end up recorded.

A scheduled run picks invoices whose checkout has been open or processing for longer than a window, asks Stripe
for each session and applies it with the same fulfillment as the webhook. It changes nothing Stripe has not
confirmed: an open session stays open, and a bank debit is failed only if its PaymentIntent says it failed.
Safe beside the webhook and beside another run: every transition is a conditional write.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from billing import repository, stripe_gateway
from billing.db import transaction
from billing.errors import PaymentProviderUnavailable
from billing.fulfillment import fulfill_checkout_session
from billing.observability import logger
from billing.repository import InvoiceRecord, utc_now
from billing.settings import settings
from billing.webhook import retry_events_awaiting_payment

# Stripe retries a delivery for three days; an event about a payment we never record is not ours.
_ADJUSTMENT_RETRY_WINDOW = timedelta(days=7)
# PaymentIntent states that mean a delayed payment (bank debit) will not succeed.
_FAILED_PAYMENT_INTENT_STATUSES = ("requires_payment_method", "canceled")


def reconcile() -> dict[str, Any]:
    config = settings()
    assert config.reconcile_after_minutes and config.reconcile_batch_size
    cutoff = utc_now() - timedelta(minutes=config.reconcile_after_minutes)
    with transaction() as conn:
        candidates = repository.reconciliation_candidates(
            conn, not_updated_since=cutoff, limit=config.reconcile_batch_size
        )
    outcomes: Counter[str] = Counter()
    for invoice in candidates:
        try:
            outcomes[_reconcile_invoice(invoice)] += 1
        except PaymentProviderUnavailable:
            outcomes["stripe_unavailable"] += 1  # left for the next run
    # Refunds and disputes that overtook their payment: the payments above may just have been recorded.
    late_adjustments = retry_events_awaiting_payment(
        received_since=utc_now() - _ADJUSTMENT_RETRY_WINDOW, limit=config.reconcile_batch_size
    )
    outcomes.update({f"event_{outcome}": count for outcome, count in late_adjustments.items()})
    report = {"examined": len(candidates), "outcomes": dict(outcomes)}
    logger.info("reconciliation finished", extra=report)
    return report


def _reconcile_invoice(invoice: InvoiceRecord) -> str:
    assert invoice.stripe_checkout_session_id is not None
    session = stripe_gateway.retrieve_checkout_session(invoice.stripe_checkout_session_id)
    if session is None or session.invoice_id != invoice.id:
        logger.warning("stored checkout session unknown to Stripe", extra={"invoice_id": invoice.id})
        return "session_not_found"
    async_payment_failed = False
    if session.status == "complete" and session.payment_status == "unpaid" and session.payment_intent:
        status = stripe_gateway.retrieve_payment_intent_status(session.payment_intent)
        async_payment_failed = status in _FAILED_PAYMENT_INTENT_STATUSES
    with transaction() as conn:
        return fulfill_checkout_session(conn, session, async_payment_failed=async_payment_failed).outcome.value
