"""Stripe events: verified, recorded in the inbox and applied in one transaction.

Answers: 400 for a missing or bad signature, or a body that is not a Stripe event (nothing recorded); 200 for
everything verified — including duplicates, event types we do not handle, events of the other mode (test/live)
or of a connected account, and events about unknown invoices (all recorded with their outcome) — and 5xx only
for failures of ours, so that Stripe retries exactly those.

`EVENT_HANDLERS` is the one list of the events this service handles: dispatch reads it, reconciliation asks
Stripe's events list for exactly these types, and the tests check that the template's webhook subscription and
the README name the same ones. Reconciliation feeds the events it recovers through `process_event` too, so a
missed event and a delivered one take the same path and the inbox dedupes them by id.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import partial
from typing import Any

import stripe
from sqlalchemy import Connection

from billing.adjustments import (
    AWAITING_PAYMENT_OUTCOMES,
    apply_charge_refunded,
    apply_dispute,
    with_payment_intent_expanded,
)
from billing.db import transaction
from billing.errors import BadRequest, BillingError, PaymentProviderUnavailable, ServiceUnavailable
from billing.fulfillment import fulfill_checkout_session
from billing.inbox import stored_payload
from billing.observability import count, log_keys, logger, surface
from billing.payment_methods import record_charge_succeeded
from billing.repository.stripe_events import (
    claim_event,
    events_with_outcome,
    find_stored_event,
    lock_event_outcome,
    record_event_failure,
    record_event_outcome,
)
from billing.settings import settings
from billing.stripe_gateway import CheckoutSessionSnapshot, verify_webhook_signature

EventHandler = Callable[[Connection, dict[str, Any]], str]


def _checkout_session_event(conn: Connection, data_object: dict[str, Any], *, async_payment_failed: bool = False
                            ) -> str:
    if not isinstance(data_object.get("id"), str):
        return "malformed"
    session = CheckoutSessionSnapshot.from_dict(data_object)
    return fulfill_checkout_session(conn, session, async_payment_failed=async_payment_failed).outcome.value


# Event type -> handler of its data.object, returning the outcome recorded in the inbox.
EVENT_HANDLERS: Mapping[str, EventHandler] = {
    "checkout.session.completed": _checkout_session_event,
    "checkout.session.async_payment_succeeded": _checkout_session_event,
    "checkout.session.async_payment_failed": partial(_checkout_session_event, async_payment_failed=True),
    "checkout.session.expired": _checkout_session_event,
    "charge.succeeded": record_charge_succeeded,
    "charge.refunded": apply_charge_refunded,
    "charge.dispute.created": apply_dispute,
    "charge.dispute.closed": apply_dispute,
}
HANDLED_EVENT_TYPES = tuple(EVENT_HANDLERS)
# Refunds and disputes may overtake their payment: reconciliation applies them again once it is recorded.
ADJUSTMENT_EVENT_TYPES = tuple(t for t, h in EVENT_HANDLERS.items() if h in (apply_charge_refunded, apply_dispute))
FOREIGN_EVENT_METRIC = "ForeignStripeEvent"
EVENT_METRIC = "WebhookEvent"  # every verified delivery, by outcome
SIGNATURE_FAILURE_METRIC = "WebhookSignatureFailure"
# Stripe's events nest a dozen levels at most (an event, its object, an expanded object, its lists); a signed body
# nested deeper is no Stripe event, and storing or walking it would only cost us (or overflow the parser's stack).
MAX_EVENT_DEPTH = 64
_TOO_DEEP = "webhook body is nested too deeply"


def handle_stripe_webhook(payload: bytes, signature: str | None) -> dict[str, Any]:
    event = _verified_event(payload, signature)
    try:
        outcome = process_event(event)
    except Exception:
        count(EVENT_METRIC, outcome="error")
        raise
    count(EVENT_METRIC, outcome=_metric_outcome(outcome))
    if outcome is None:
        return {"received": True, "duplicate": True}
    return {"received": True, "outcome": outcome}


def _metric_outcome(outcome: str | None) -> str:
    """A dimension of few values: "duplicate" for a delivery processed before, "error" for any failure recorded."""
    if outcome is None:
        return "duplicate"
    return "error" if outcome.startswith("error") else outcome


def process_event(event: dict[str, Any]) -> str | None:
    """Record and apply one verified event in a single transaction; None if it was processed before.

    On failure the effect is rolled back, the event is kept in the inbox with its error (so it is visible and
    can be reprocessed), and ServiceUnavailable makes the webhook answer 503 so that Stripe retries."""
    record = _inbox_fields(event)
    session_id = record["object_id"] if str(record["object_id"]).startswith("cs_") else None
    with log_keys(eventId=event["id"], invoiceId=record["invoice_id"], sessionId=session_id):
        return _process(event, record)


def _process(event: dict[str, Any], record: dict[str, Any]) -> str | None:
    try:
        with transaction() as conn:
            if not claim_event(conn, **record):
                logger.info("duplicate stripe event", extra={"event_id": event["id"], "event_type": event["type"]})
                return None
            outcome = _apply(conn, event)
            record_event_outcome(conn, event["id"], outcome)
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
        stored = find_stored_event(conn, event_id)
    if stored is None:
        raise LookupError(f"no stored event {event_id}")
    return process_event(stored.payload)


def retry_events_awaiting_payment(*, received_since: datetime, limit: int) -> Counter[str]:
    """Apply again the refund and dispute events that arrived before their payment was recorded. A dispute whose
    payment is still unknown here is applied once more with its PaymentIntent as Stripe has it (its metadata names
    the invoice: billing/adjustments.py); Stripe is asked only then, and outside any transaction."""
    with transaction() as conn:
        waiting = events_with_outcome(
            conn, event_types=ADJUSTMENT_EVENT_TYPES, outcomes=AWAITING_PAYMENT_OUTCOMES,
            received_since=received_since, limit=limit,
        )
    outcomes: Counter[str] = Counter()
    for stored in waiting:
        outcome = _apply_again(stored.id, stored.payload)
        if outcome in AWAITING_PAYMENT_OUTCOMES and EVENT_HANDLERS[stored.type] is apply_dispute:
            try:
                expanded = with_payment_intent_expanded(stored.payload["data"]["object"])
            except PaymentProviderUnavailable:
                expanded = None  # asked again by the next run
            if expanded is not None:
                outcome = _apply_again(stored.id, {**stored.payload, "data": {"object": expanded}})
        if outcome is not None:
            outcomes[outcome] += 1
    return outcomes


def _apply_again(event_id: str, event: dict[str, Any]) -> str | None:
    """Apply a stored event under its inbox row's lock, only while its outcome still says it is waiting; its new
    outcome, or None if another run got there first."""
    with transaction() as conn:
        if lock_event_outcome(conn, event_id) not in AWAITING_PAYMENT_OUTCOMES:
            return None
        outcome = _apply(conn, event)
        record_event_outcome(conn, event_id, outcome)
    return outcome


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
            record_event_failure(conn, **record, error=type(error).__name__)
    except Exception:  # the database itself is down: Stripe's retry will bring the event back
        logger.exception("could not record the failed event", extra={"event_id": record["event_id"]})


def _verified_event(payload: bytes, signature: str | None) -> dict[str, Any]:
    try:
        verify_webhook_signature(payload, signature)
    except (stripe.SignatureVerificationError, UnicodeDecodeError):
        count(SIGNATURE_FAILURE_METRIC)
        raise BadRequest("invalid or missing Stripe-Signature") from None
    return parse_event(payload)


def parse_event(payload: bytes) -> dict[str, Any]:
    """A signed body (valid UTF-8: the signature check decoded it) as a Stripe event; BadRequest for anything that
    is not one: not JSON, nested deeper than any event Stripe sends, or without an id, a type and an object."""
    try:
        event = json.loads(payload)
    except ValueError:
        raise BadRequest("webhook body is not JSON") from None
    except RecursionError:  # deeper than the parser recurses
        raise BadRequest(_TOO_DEEP) from None
    # Fewer brackets than the limit cannot nest deeper than it: a real event is not walked for its depth.
    if payload.count(b"{") + payload.count(b"[") > MAX_EVENT_DEPTH and _deeper_than(event, MAX_EVENT_DEPTH):
        raise BadRequest(_TOO_DEEP)
    # The payload is valid UTF-8, so a NUL or a lone surrogate can only come from a \u escape: without one, there
    # is nothing to replace.
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


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether JSON `value` nests more than `limit` containers deep (iteratively: no recursion to overflow)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


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


def _apply(conn: Connection, event: dict[str, Any]) -> str:
    handler = EVENT_HANDLERS.get(event["type"])
    if handler is None:
        return "ignored"
    foreign = _foreign(event)
    if foreign is not None:
        return foreign
    return handler(conn, event["data"]["object"])


def _foreign(event: dict[str, Any]) -> str | None:
    """An event this deployment must acknowledge but never apply: one of the other mode (a test event reaching a
    live deployment, or the reverse), or one of a connected account (this integration has none: a Connect
    endpoint's events are about other businesses' payments). Recorded with its own outcome and surfaced."""
    account = event.get("account")
    if account is not None:
        outcome = "connect_account_event"
    elif event.get("livemode") is not (settings().stripe_mode == "live"):
        outcome = "livemode_mismatch"
    else:
        return None
    surface(FOREIGN_EVENT_METRIC, "stripe event not for this deployment", dimensions={"outcome": outcome},
            event_id=event["id"], event_type=event["type"], livemode=event.get("livemode"))
    return outcome
