"""Stripe webhook events: verified, recorded in the inbox and applied in one transaction.

Answers: 400 for a missing or bad signature (nothing recorded), 200 for everything verified — including
duplicates, event types we do not handle and events about unknown invoices (all recorded with their outcome) —
and 5xx only for failures of ours, so that Stripe retries exactly those.

Events handled: the four checkout.session events (fulfillment), charge.refunded and charge.dispute.created /
charge.dispute.closed (adjustments).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import stripe

from billing import repository
from billing.adjustments import (
    ADJUSTMENT_EVENT_TYPES,
    AWAITING_PAYMENT_OUTCOMES,
    apply_charge_refunded,
    apply_dispute,
)
from billing.db import transaction
from billing.errors import BadRequest, BillingError, ServiceUnavailable
from billing.fulfillment import fulfill_checkout_session
from billing.inbox import stored_payload
from billing.observability import logger
from billing.stripe_gateway import CheckoutSessionSnapshot, verify_webhook_signature

CHECKOUT_SESSION_EVENTS = frozenset({
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
})


def handle_stripe_webhook(payload: bytes, signature: str | None) -> dict[str, Any]:
    event = _verified_event(payload, signature)
    outcome = process_event(event)
    if outcome is None:
        return {"received": True, "duplicate": True}
    return {"received": True, "outcome": outcome}


def process_event(event: dict[str, Any]) -> str | None:
    """Record and apply one verified event in a single transaction; None if it was processed before.

    On failure the effect is rolled back, the event is kept in the inbox with its error (so it is visible and
    can be reprocessed), and ServiceUnavailable makes the webhook answer 503 so that Stripe retries."""
    record = _inbox_fields(event)
    try:
        with transaction() as conn:
            if not repository.claim_event(conn, **record):
                logger.info("duplicate stripe event", extra={"event_id": event["id"], "event_type": event["type"]})
                return None
            outcome = _apply(conn, event["type"], event["data"]["object"])
            repository.record_event_outcome(conn, event["id"], outcome)
    except Exception as error:
        _record_failure(record, error)
        if isinstance(error, BillingError):
            raise
        raise ServiceUnavailable() from error
    logger.info("stripe event processed",
                extra={"event_id": event["id"], "event_type": event["type"], "outcome": outcome})
    return outcome


def reprocess_stored_event(event_id: str) -> str | None:
    """Apply a stored event again (an operator's command, e.g. after fixing the cause of a failure).
    Returns its outcome, or None if it had been processed already."""
    with transaction() as conn:
        stored = repository.find_stored_event(conn, event_id)
    if stored is None:
        raise LookupError(f"no stored event {event_id}")
    return process_event(stored.payload)


def retry_events_awaiting_payment(*, received_since: datetime, limit: int) -> Counter[str]:
    """Apply again the refund and dispute events that arrived before their payment was recorded.
    Each is re-applied under its inbox row's lock, and only while its outcome still says it is waiting."""
    with transaction() as conn:
        waiting = repository.events_with_outcome(
            conn, event_types=ADJUSTMENT_EVENT_TYPES, outcomes=AWAITING_PAYMENT_OUTCOMES,
            received_since=received_since, limit=limit,
        )
    outcomes: Counter[str] = Counter()
    for stored in waiting:
        with transaction() as conn:
            if repository.lock_event_outcome(conn, stored.id) not in AWAITING_PAYMENT_OUTCOMES:
                continue  # another run got there first
            outcome = _apply(conn, stored.type, stored.payload["data"]["object"])
            repository.record_event_outcome(conn, stored.id, outcome)
        outcomes[outcome] += 1
    return outcomes


def _inbox_fields(event: dict[str, Any]) -> dict[str, Any]:
    data_object = event["data"]["object"]
    metadata = data_object.get("metadata") if isinstance(data_object.get("metadata"), Mapping) else {}
    return {
        "event_id": event["id"],
        "event_type": event["type"],
        "object_id": data_object.get("id") if isinstance(data_object.get("id"), str) else None,
        "invoice_id": metadata.get("invoiceId") if isinstance(metadata.get("invoiceId"), str) else None,
        "payload": stored_payload(event),  # the fields the code reads: no client_secret, no payer's details
    }


def _record_failure(record: dict[str, Any], error: Exception) -> None:
    logger.exception("stripe event failed", extra={"event_id": record["event_id"], "event_type": record["event_type"]})
    try:
        with transaction() as conn:
            repository.record_event_failure(conn, **record, error=type(error).__name__)
    except Exception:  # the database itself is down: Stripe's retry will bring the event back
        logger.exception("could not record the failed event", extra={"event_id": record["event_id"]})


def _verified_event(payload: bytes, signature: str | None) -> dict[str, Any]:
    try:
        verify_webhook_signature(payload, signature)
    except (stripe.SignatureVerificationError, UnicodeDecodeError):
        raise BadRequest("invalid or missing Stripe-Signature") from None
    try:
        event = json.loads(payload)
    except ValueError:
        raise BadRequest("webhook body is not JSON") from None
    # The payload is valid UTF-8 (the signature check decoded it), so a NUL or a lone surrogate can only come
    # from a \u escape: without one, there is nothing to replace.
    if b"\\u" in payload:
        event = _storable(event)
    if not (
        isinstance(event, dict)
        and isinstance(event.get("id"), str)
        and isinstance(event.get("type"), str)
        and isinstance(event.get("data"), dict)
        and isinstance(event["data"].get("object"), dict)
    ):
        raise BadRequest("webhook body is not a Stripe event")
    return event


def _storable(value: Any) -> Any:
    """The parsed event with the two things JSON allows and PostgreSQL text cannot hold (NUL, unpaired
    surrogates) replaced by U+FFFD, so that every verified event can be recorded and answered."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd").encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    if isinstance(value, list):
        return [_storable(item) for item in value]
    if isinstance(value, dict):
        return {_storable(key): _storable(item) for key, item in value.items()}
    return value


def _apply(conn: Any, event_type: str, data_object: dict[str, Any]) -> str:
    if event_type == "charge.refunded":
        return apply_charge_refunded(conn, data_object)
    if event_type in ("charge.dispute.created", "charge.dispute.closed"):
        return apply_dispute(conn, data_object)
    if event_type not in CHECKOUT_SESSION_EVENTS:
        return "ignored"
    if not isinstance(data_object.get("id"), str):
        return "malformed"
    session = CheckoutSessionSnapshot.from_dict(data_object)
    result = fulfill_checkout_session(
        conn, session, async_payment_failed=event_type == "checkout.session.async_payment_failed"
    )
    return result.outcome.value
