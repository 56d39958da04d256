"""Stripe webhook events: verified, recorded in the inbox and applied in one transaction.

Answers: 400 for a missing or bad signature (nothing recorded), 200 for everything verified — including
duplicates, event types we do not handle and events about unknown invoices (all recorded with their outcome) —
and 5xx only for transient failures of ours, so that Stripe retries exactly those.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import stripe

from billing import repository
from billing.db import transaction
from billing.errors import BadRequest
from billing.fulfillment import fulfill_checkout_session
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
    event_id, event_type, data_object = event["id"], event["type"], event["data"]["object"]
    metadata = data_object.get("metadata") if isinstance(data_object.get("metadata"), Mapping) else {}
    with transaction() as conn:
        is_new = repository.record_event_received(
            conn,
            event_id=event_id,
            event_type=event_type,
            object_id=data_object.get("id") if isinstance(data_object.get("id"), str) else None,
            invoice_id=metadata.get("invoiceId") if isinstance(metadata.get("invoiceId"), str) else None,
            payload=event,
        )
        if not is_new:
            logger.info("duplicate stripe event", extra={"event_id": event_id, "event_type": event_type})
            return {"received": True, "duplicate": True}
        outcome = _apply(conn, event_type, data_object)
        repository.record_event_outcome(conn, event_id, outcome)
    logger.info("stripe event processed", extra={"event_id": event_id, "event_type": event_type, "outcome": outcome})
    return {"received": True, "outcome": outcome}


def _verified_event(payload: bytes, signature: str | None) -> dict[str, Any]:
    try:
        verify_webhook_signature(payload, signature)
    except (stripe.SignatureVerificationError, UnicodeDecodeError):
        raise BadRequest("invalid or missing Stripe-Signature") from None
    try:
        event = json.loads(payload)
    except ValueError:
        raise BadRequest("webhook body is not JSON") from None
    if not (
        isinstance(event, dict)
        and isinstance(event.get("id"), str)
        and isinstance(event.get("type"), str)
        and isinstance(event.get("data"), dict)
        and isinstance(event["data"].get("object"), dict)
    ):
        raise BadRequest("webhook body is not a Stripe event")
    return event


def _apply(conn: Any, event_type: str, data_object: dict[str, Any]) -> str:
    if event_type not in CHECKOUT_SESSION_EVENTS:
        return "ignored"
    if not isinstance(data_object.get("id"), str):
        return "malformed"
    session = CheckoutSessionSnapshot.from_dict(data_object)
    result = fulfill_checkout_session(
        conn, session, async_payment_failed=event_type == "checkout.session.async_payment_failed"
    )
    return result.outcome.value
