"""A signed webhook body read as a Stripe event (billing/webhook.py's parse_event), and what the inbox keeps of it
(billing/inbox.py's stored_payload): tables, no database. The signature check itself needs the settings and runs in
tests/test_webhook.py."""

from __future__ import annotations

import json
from typing import Any

import pytest

from billing.errors import BadRequest
from billing.inbox import stored_payload
from billing.webhook import MAX_EVENT_DEPTH, parse_event

EVENT = {"id": "evt_1", "object": "event", "type": "checkout.session.completed", "livemode": False,
         "data": {"object": {"id": "cs_test_1", "object": "checkout.session"}}}


def body(value: Any) -> bytes:
    return json.dumps(value).encode()


def nested(depth: int) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(json.dumps(EVENT))
    node = event["data"]["object"]
    for _ in range(depth - 3):  # the event, data and object are three levels already
        node["child"] = {}
        node = node["child"]
    return event


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"not json", "webhook body is not JSON"),
        (b"", "webhook body is not JSON"),
        (body([EVENT]), "not a Stripe event"),
        (body({**EVENT, "id": 7}), "not a Stripe event"),
        (body({**EVENT, "type": None}), "not a Stripe event"),
        (body({**EVENT, "data": []}), "not a Stripe event"),
        (body({**EVENT, "data": {"object": "cs_test_1"}}), "not a Stripe event"),
        (body(nested(MAX_EVENT_DEPTH + 1)), "nested too deeply"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),  # deeper than the parser recurses
    ],
    ids=["not JSON", "empty", "a list", "id not text", "no type", "data not an object", "object not an object",
         "one level too deep", "deeper than the parser"],
)
def test_what_is_not_a_stripe_event_is_a_bad_request(payload: bytes, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        parse_event(payload)


@pytest.mark.parametrize(
    ("payload", "event"),
    [
        (body(EVENT), EVENT),
        (body(nested(MAX_EVENT_DEPTH)), nested(MAX_EVENT_DEPTH)),  # the limit itself is accepted
        # What PostgreSQL text cannot hold becomes U+FFFD, so that every verified event can be recorded
        (body(EVENT).replace(b'"cs_test_1"', b'"cs\\u0000x"'), {**EVENT, "data": {"object": {
            "id": "cs\ufffdx", "object": "checkout.session"}}}),
        (body(EVENT).replace(b'"cs_test_1"', b'"cs\\ud800x"'), {**EVENT, "data": {"object": {
            "id": "cs\ufffd\ufffd\ufffdx", "object": "checkout.session"}}}),  # one per byte of its UTF-8 form
        (body(EVENT).replace(b'"cs_test_1"', b'"caf\\u00e9"'), {**EVENT, "data": {"object": {
            "id": "café", "object": "checkout.session"}}}),
    ],
    ids=["an event", "at the depth limit", "a NUL", "a lone surrogate", "an escaped character"],
)
def test_an_event_is_read_as_sent_but_for_what_text_cannot_hold(payload: bytes, event: dict[str, Any]) -> None:
    assert parse_event(payload) == event


SESSION_EVENT = {
    **EVENT, "api_version": "2026-10-28.endive", "created": 1, "account": None, "pending_webhooks": 1,
    "request": {"id": "req_1"},
    "data": {"object": {
        "id": "cs_test_1", "object": "checkout.session", "status": "complete", "payment_status": "paid",
        "amount_total": 50000, "currency": "usd", "payment_intent": {"id": "pi_1", "amount": 50000},
        "customer": "cus_1", "expires_at": 2, "client_secret": "cs_test_1_secret_x",
        "customer_details": {"email": "payer@example.test", "name": "A Payer"},
        "metadata": {"invoiceId": "inv_1", "contactId": "ct_1", "note": "call me on 555"},
    }},
}


@pytest.mark.parametrize(
    ("event", "kept"),
    [
        (SESSION_EVENT, {
            "id": "evt_1", "object": "event", "type": "checkout.session.completed", "api_version": "2026-10-28.endive",
            "created": 1, "livemode": False, "account": None,
            "data": {"object": {
                "id": "cs_test_1", "object": "checkout.session", "status": "complete", "payment_status": "paid",
                "amount_total": 50000, "currency": "usd", "payment_intent": "pi_1", "customer": "cus_1",
                "expires_at": 2, "metadata": {"invoiceId": "inv_1", "contactId": "ct_1"},
            }},
        }),
        ({"id": "evt_2", "type": "charge.refunded", "data": {"object": {
            "id": "ch_1", "object": "charge", "amount": 5, "amount_refunded": 5, "refunded": True, "currency": "usd",
            "payment_intent": "pi_1", "billing_details": {"email": "payer@example.test"}, "metadata": {}}}},
         {"id": "evt_2", "type": "charge.refunded", "data": {"object": {
             "id": "ch_1", "object": "charge", "amount": 5, "amount_refunded": 5, "refunded": True, "currency": "usd",
             "payment_intent": "pi_1", "metadata": {}}}}),
        ({"id": "evt_3", "type": "charge.dispute.created", "data": {"object": {
            "id": "dp_1", "object": "dispute", "amount": 5, "currency": "usd", "status": "needs_response",
            "payment_intent": "pi_1", "evidence": {"customer_name": "A Payer"}, "metadata": {}}}},
         {"id": "evt_3", "type": "charge.dispute.created", "data": {"object": {
             "id": "dp_1", "object": "dispute", "amount": 5, "currency": "usd", "status": "needs_response",
             "payment_intent": "pi_1", "metadata": {}}}}),
        ({"id": "evt_4", "type": "customer.created", "data": {"object": {"id": "cus_1", "object": "customer",
                                                                          "email": "payer@example.test"}}},
         {"id": "evt_4", "type": "customer.created", "data": {"object": {"id": "cus_1", "object": "customer"}}}),
        ({"id": "evt_5", "type": "charge.refunded", "data": "not an object"},
         {"id": "evt_5", "type": "charge.refunded"}),
    ],
    ids=["a completed session", "a refund", "a dispute", "an event not handled", "a malformed one"],
)
def test_the_inbox_keeps_the_fields_the_code_reads_and_nothing_about_the_payer(event: dict[str, Any],
                                                                              kept: dict[str, Any]) -> None:
    assert stored_payload(event) == kept
