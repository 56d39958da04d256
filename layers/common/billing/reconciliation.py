"""Reconciliation: what the webhook missed still ends up recorded, and money set aside is given back.

A scheduled run does four things, each safe beside the webhook and beside another run (every change is a
conditional write, every event goes through the inbox):

1. Checkouts open or processing for longer than a window: it asks Stripe for each session and applies it with the
   webhook's fulfillment. It changes nothing Stripe has not confirmed: an open session stays open, a bank debit is
   failed only if its PaymentIntent says so. Each session examined is marked, and the next run starts with those
   examined longest ago, so invoices that stay as they are never hold the others back.
2. Stripe's events list (GET /v1/events) for every type the webhook handles, from a cursor kept in the database
   (at most Stripe's 30 days back) to the same window's age (the webhook's time to deliver them first): each event
   the inbox does not hold as processed is applied through the same inbox as a delivery (deduplicated by event
   id), so a refund, dispute or checkout event that was never delivered is applied all the same.
3. Refunds and disputes that overtook their payment, applied again now that the payment may be recorded.
4. Payments set aside under the `refund` policy (the webhook holds no Stripe key to refund them itself).
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta
from typing import Any

from billing import stripe_gateway, unapplied_payments
from billing.db import transaction
from billing.errors import BillingError, PaymentProviderUnavailable
from billing.fulfillment import fulfill_checkout_session
from billing.observability import count, log_keys, logger
from billing.repository.checkout_sessions import note_reconciled
from billing.repository.invoices import InvoiceRecord, reconciliation_candidates
from billing.repository.reconciliation_cursor import advance_events_cursor, events_cursor
from billing.repository.sql import utc_now
from billing.repository.stripe_events import processed_event_ids
from billing.settings import settings
from billing.webhook import HANDLED_EVENT_TYPES, process_event, retry_events_awaiting_payment

REPAIR_METRIC = "ReconciliationRepair"
# Session outcomes that changed an invoice the webhook should have changed first; every missed event applied is
# one too, unless a delivery got there first or it failed (and stays for the next walk).
_REPAIRS = frozenset({"paid", "processing", "failed", "session_released", "payment_not_applied"})
_NOT_REPAIRS = frozenset({"duplicate", "error", "stripe_unavailable"})

# Stripe retries a delivery for three days; an event about a payment we never record is not ours.
_ADJUSTMENT_RETRY_WINDOW = timedelta(days=7)
# PaymentIntent states that mean a delayed payment (bank debit) will not succeed.
_FAILED_PAYMENT_INTENT_STATUSES = ("requires_payment_method", "canceled")
# Stripe keeps events for 30 days; a cursor older than that (or none) starts there.
_EVENTS_HISTORY_SECONDS = 30 * 24 * 3600
# Each walk starts this far before the newest event the last one saw: Stripe's list may show an event a moment
# after its `created` time. Events the inbox holds already cost one query per page of 100.
_EVENTS_OVERLAP_SECONDS = 15 * 60


def reconcile() -> dict[str, Any]:
    config = settings()
    assert config.reconcile_after_minutes and config.reconcile_batch_size
    cutoff = utc_now() - timedelta(minutes=config.reconcile_after_minutes)
    with transaction() as conn:
        candidates = reconciliation_candidates(
            conn, not_updated_since=cutoff, limit=config.reconcile_batch_size
        )
    outcomes: Counter[str] = Counter()
    for invoice in candidates:
        with log_keys(invoiceId=invoice.id, sessionId=invoice.stripe_checkout_session_id):
            try:
                outcomes[_reconcile_invoice(invoice)] += 1
            except PaymentProviderUnavailable:
                outcomes["stripe_unavailable"] += 1  # left for the next run
    report: dict[str, Any] = {"examined": len(candidates), "outcomes": outcomes}
    try:
        report["recovered_events"] = dict(recover_missed_events(older_than_seconds=60 * config.reconcile_after_minutes))
    except PaymentProviderUnavailable:
        report["recovered_events"] = {"stripe_unavailable": 1}  # the cursor stays: the next run walks again
    # Refunds and disputes that overtook their payment: the payments above may just have been recorded.
    late_adjustments = retry_events_awaiting_payment(
        received_since=utc_now() - _ADJUSTMENT_RETRY_WINDOW, limit=config.reconcile_batch_size
    )
    outcomes.update({f"event_{outcome}": count for outcome, count in late_adjustments.items()})
    refunds = unapplied_payments.refund_due_payments(config.reconcile_batch_size)
    if refunds:
        report["unapplied_payments"] = dict(refunds)
    report["outcomes"] = dict(outcomes)
    repairs = sum(n for outcome, n in outcomes.items() if outcome in _REPAIRS)
    repairs += sum(n for outcome, n in report["recovered_events"].items() if outcome not in _NOT_REPAIRS)
    if repairs:
        count(REPAIR_METRIC, repairs)  # each one a webhook that was lost or late: an alarm watches it
    logger.info("reconciliation finished", extra={**report, "repairs": repairs})
    return report


def _reconcile_invoice(invoice: InvoiceRecord) -> str:
    session_id = invoice.stripe_checkout_session_id
    assert session_id is not None
    session = stripe_gateway.retrieve_checkout_session(session_id)
    if session is None or session.invoice_id != invoice.id:
        logger.warning("stored checkout session unknown to Stripe", extra={"invoice_id": invoice.id})
        outcome = "session_not_found"
        with transaction() as conn:
            note_reconciled(conn, session_id, outcome)
        return outcome
    async_payment_failed = False
    if session.status == "complete" and session.payment_status == "unpaid" and session.payment_intent:
        status = stripe_gateway.retrieve_payment_intent_status(session.payment_intent)
        async_payment_failed = status in _FAILED_PAYMENT_INTENT_STATUSES
    with transaction() as conn:
        outcome = fulfill_checkout_session(conn, session, async_payment_failed=async_payment_failed).outcome.value
        note_reconciled(conn, session_id, outcome)
    return outcome


def recover_missed_events(*, older_than_seconds: int) -> Counter[str]:
    """Walk Stripe's events list of every handled type from the cursor to `older_than_seconds` ago and apply,
    through the inbox, each event it does not hold as processed. The cursor moves only after a complete walk."""
    now = int(time.time())
    with transaction() as conn:
        cursor = events_cursor(conn)
    created_from = max(cursor or 0, now - _EVENTS_HISTORY_SECONDS)
    created_until = now - older_than_seconds
    outcomes: Counter[str] = Counter()
    newest_seen: int | None = None
    starting_after: str | None = None
    while created_from <= created_until:
        page = stripe_gateway.list_events(types=HANDLED_EVENT_TYPES, created_from=created_from,
                                          created_until=created_until, starting_after=starting_after)
        with transaction() as conn:
            known = processed_event_ids(conn, [event["id"] for event in page.events])
        for event in page.events:
            newest_seen = max(newest_seen or 0, int(event.get("created") or 0))
            if event["id"] not in known:
                outcomes[_applied(event)] += 1
        if not page.has_more or not page.events:
            break
        starting_after = page.events[-1]["id"]
    # The next walk starts a little before the newest event this one saw (Stripe's clock, not ours); an event that
    # failed (kept in the inbox with its error) must be listed again by it.
    if newest_seen is not None and not outcomes["error"]:
        with transaction() as conn:
            advance_events_cursor(conn, newest_seen - _EVENTS_OVERLAP_SECONDS)
    if outcomes:
        logger.info("missed stripe events applied", extra={"outcomes": dict(outcomes)})
    return outcomes


def _applied(event: dict[str, Any]) -> str:
    try:
        return process_event(event) or "duplicate"  # a delivery may have got there first
    except BillingError:  # recorded with its error by process_event; the next walk tries again
        return "error"
