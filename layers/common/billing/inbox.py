"""What the webhook inbox ("StripeEvent") keeps, and for how long.

A Stripe event carries far more than this service reads: a completed Checkout Session holds the payer's name,
email, address and phone (`customer_details`), a charge its `billing_details`. The inbox keeps only the fields the
code reads (`stored_payload`: fulfillment, refunds, disputes, the payment record and the inbox's own columns), so
reprocessing a stored event gives the outcome the live one gave; of the payer, only the name on a succeeded charge
(staff's "who paid", billing/payment_methods.py) is kept.

The scheduled retention run (`apply_retention`, StripeEventRetentionFunction, daily) deletes processed events
received more than STRIPE_EVENT_RETENTION_DAYS ago, and brings rows stored whole before this whitelist existed
down to it. An event whose processing failed is kept until it is processed (it is an operator's to-do, and holds
only whitelisted fields): each run logs how many such old ones there are.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection

from billing.db import transaction
from billing.observability import logger
from billing.payment_methods import method_summary_of
from billing.repository.sql import utc_now
from billing.repository.stripe_events import (
    count_unprocessed_events_received_before,
    delete_processed_events_received_before,
    events_holding_any_field,
    replace_event_payload,
)
from billing.settings import settings

# The event's own fields kept: `livemode` and `account` say whose and which mode's event it is.
_EVENT_FIELDS = ("id", "object", "type", "api_version", "created", "livemode", "account")
# Per kind of event (Stripe names events after their object), the object's fields the code reads.
_OBJECT_FIELDS_BY_EVENT_PREFIX = (
    ("checkout.session.", ("id", "object", "status", "payment_status", "amount_total", "currency",
                           "payment_intent", "customer", "expires_at", "metadata")),
    ("charge.dispute.", ("id", "object", "amount", "currency", "status", "payment_intent", "metadata")),
    # how a payment was made (billing/payment_methods.py): the method's summary only, the receipt URL, and of the
    # billing details only the payer's name
    ("charge.succeeded", ("id", "object", "amount", "currency", "payment_intent", "metadata",
                          "payment_method_details", "receipt_url", "billing_details")),
    ("charge.", ("id", "object", "amount", "amount_refunded", "refunded", "currency", "payment_intent",
                 "metadata")),
)
_OTHER_OBJECT_FIELDS = ("id", "object")  # events acknowledged as ignored
_METADATA_KEYS = ("invoiceId", "invoiceNumber", "proposalId", "contactId")  # what checkout puts there
_EXPANDABLE_FIELDS = ("payment_intent", "customer")  # an expanded object is kept as its id
# Fields every event Stripe sends has and no stored payload keeps: a row holding them was stored whole.
STRIPE_ENVELOPE_FIELDS = ("pending_webhooks", "request")

_BATCH = 500
_MAX_BATCHES_PER_RUN = 40  # a run ends well within its timeout; whatever is left waits for the next one


def stored_payload(event: Mapping[str, Any]) -> dict[str, Any]:
    """The event as the inbox keeps it: the whitelisted fields only."""
    kept = {field: event[field] for field in _EVENT_FIELDS if field in event}
    data = event.get("data")
    data_object = data.get("object") if isinstance(data, Mapping) else None
    if isinstance(data_object, Mapping):
        kept["data"] = {"object": _stored_object(str(event.get("type") or ""), data_object)}
    return kept


def _stored_object(event_type: str, data_object: Mapping[str, Any]) -> dict[str, Any]:
    fields = next((f for prefix, f in _OBJECT_FIELDS_BY_EVENT_PREFIX if event_type.startswith(prefix)),
                  _OTHER_OBJECT_FIELDS)
    kept = {field: data_object[field] for field in fields if field in data_object}
    for field in _EXPANDABLE_FIELDS:
        if isinstance(kept.get(field), Mapping):
            kept[field] = kept[field].get("id")
    if isinstance(kept.get("payment_method_details"), Mapping):
        kept["payment_method_details"] = method_summary_of(kept["payment_method_details"])
    if isinstance(kept.get("billing_details"), Mapping):
        kept["billing_details"] = {"name": kept["billing_details"].get("name")}
    if isinstance(kept.get("metadata"), Mapping):
        kept["metadata"] = {key: kept["metadata"][key] for key in _METADATA_KEYS if key in kept["metadata"]}
    return kept


def in_batches(delete: Callable[[Connection, int], int]) -> int:
    """Run `delete` (which deletes at most `limit` rows and says how many) batch after batch, each in its own
    transaction, until a batch comes back short or the run's share is done; how many rows went in all."""
    deleted = 0
    for _ in range(_MAX_BATCHES_PER_RUN):
        with transaction() as conn:
            batch = delete(conn, _BATCH)
        deleted += batch
        if batch < _BATCH:
            break
    return deleted


def apply_retention() -> dict[str, int]:
    """Delete processed events past the retention period, then whitelist rows stored whole. Returns counts."""
    retention_days = settings().event_retention_days
    assert retention_days
    cutoff = utc_now() - timedelta(days=retention_days)
    deleted = in_batches(lambda conn, limit: delete_processed_events_received_before(conn, cutoff, limit=limit))
    whitelisted = 0
    for _ in range(_MAX_BATCHES_PER_RUN):
        with transaction() as conn:
            stored_whole = events_holding_any_field(conn, STRIPE_ENVELOPE_FIELDS, limit=_BATCH)
            for event_id, payload in stored_whole:
                replace_event_payload(conn, event_id, stored_payload(payload))
        whitelisted += len(stored_whole)
        if len(stored_whole) < _BATCH:
            break
    with transaction() as conn:
        failed_and_old = count_unprocessed_events_received_before(conn, cutoff)
    report = {"deleted": deleted, "whitelisted": whitelisted, "failed_kept": failed_and_old}
    log = logger.warning if failed_and_old else logger.info
    log("stripe event retention applied", extra={**report, "retention_days": retention_days})
    return report
