"""The webhook inbox keeps what the code reads and no longer than STRIPE_EVENT_RETENTION_DAYS: the scheduled
StripeEventRetentionFunction (loaded from template.yaml, invoked with its events/ sample) deletes processed events
past the retention, keeps failed ones for an operator, and brings rows stored whole before the whitelist existed
down to it — after which a stored event still reprocesses to the same outcome."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, insert, select

from billing.schema import stripe_event
from harness.events import sample

# The embedded default of `make dev` must not drift from PostgreSQL: every test here runs on both.
pytestmark = pytest.mark.engines("postgresql", "sqlite")


def store(engine: Engine, event: dict, *, days_ago: float, processed: bool = True, outcome: str = "paid") -> None:
    received = datetime.now(UTC) - timedelta(days=days_ago)
    with engine.begin() as conn:
        conn.execute(insert(stripe_event).values(
            id=event["id"], type=event["type"], objectId=event["data"]["object"].get("id"), invoiceId=None,
            payload=event, receivedAt=received, processedAt=received if processed else None,
            outcome=outcome if processed else "error: OperationalError",
        ))


def stored(engine: Engine) -> dict[str, dict]:
    with engine.begin() as conn:
        return {row.id: row.payload for row in conn.execute(select(stripe_event.c.id, stripe_event.c.payload))}


def whole_event(event_id: str, **object_fields) -> dict:
    """An event as Stripe sends it (and as the inbox kept it before the whitelist): the payer's details too."""
    return {
        "id": event_id, "object": "event", "api_version": "2026-10-28.endive", "created": 1_767_268_790,
        "livemode": False, "pending_webhooks": 1, "request": {"id": None, "idempotency_key": None},
        "type": "checkout.session.completed",
        "data": {"object": {
            "id": "cs_test_" + event_id, "object": "checkout.session", "status": "complete",
            "payment_status": "paid", "amount_total": 50000, "currency": "usd", "client_secret": "cs_secret_x",
            "customer_details": {"email": "payer@example.test", "name": "A Payer", "phone": "+100"},
            "customer_email": "payer@example.test", **object_fields,
        }},
    }


def run_retention(functions) -> dict:
    return functions.stripe_event_retention(sample("stripe_event_retention"), None)


def test_processed_events_past_the_retention_are_deleted_and_failed_ones_kept(db_engine, functions) -> None:
    store(db_engine, whole_event("evt_old"), days_ago=91)
    store(db_engine, whole_event("evt_old_failed"), days_ago=91, processed=False)
    store(db_engine, whole_event("evt_recent"), days_ago=89)

    report = run_retention(functions)  # STRIPE_EVENT_RETENTION_DAYS=90

    assert report == {"deleted": 1, "whitelisted": 2, "failed_kept": 1, "notifications_deleted": 0}
    assert sorted(stored(db_engine)) == ["evt_old_failed", "evt_recent"]


def test_rows_stored_whole_are_brought_down_to_the_fields_the_code_reads(db_engine, functions) -> None:
    store(db_engine, whole_event("evt_whole", metadata={"invoiceId": "inv_1", "payerNote": "call me"}), days_ago=2)

    assert run_retention(functions)["whitelisted"] == 1

    kept = stored(db_engine)["evt_whole"]
    assert "payer@example.test" not in json.dumps(kept) and "client_secret" not in json.dumps(kept)
    assert kept == {
        "id": "evt_whole", "object": "event", "api_version": "2026-10-28.endive", "created": 1_767_268_790,
        "livemode": False, "type": "checkout.session.completed",
        "data": {"object": {"id": "cs_test_evt_whole", "object": "checkout.session", "status": "complete",
                            "payment_status": "paid", "amount_total": 50000, "currency": "usd",
                            "metadata": {"invoiceId": "inv_1"}}},
    }
    assert run_retention(functions) == {"deleted": 0, "whitelisted": 0, "failed_kept": 0,
                                       "notifications_deleted": 0}  # nothing left to do


def test_a_failed_event_stored_whole_reprocesses_to_the_same_outcome_once_whitelisted(
    payment_not_yet_recorded, db_engine, functions, db
) -> None:
    from billing.webhook import reprocess_stored_event

    invoice_id, completed = payment_not_yet_recorded
    assert completed["data"]["object"]["customer_details"]["email"]
    store(db_engine, completed, days_ago=1, processed=False)  # stored whole by the code before the whitelist

    assert run_retention(functions)["whitelisted"] == 1
    assert "customer_details" not in stored(db_engine)[completed["id"]]["data"]["object"]

    assert reprocess_stored_event(completed["id"]) == "paid"
    assert db('SELECT status FROM "Invoice" WHERE id = :id', id=invoice_id)[0]["status"] == "paid"


@pytest.mark.parametrize("kind", ["refund", "dispute"])
def test_refunds_and_disputes_keep_what_adjustments_read(kind) -> None:
    from billing.inbox import stored_payload

    charge_fields = {"amount": 500, "currency": "usd", "payment_intent": {"id": "pi_1", "customer": "cus_1"},
                     "metadata": {"invoiceId": "inv_1"}, "billing_details": {"email": "payer@example.test"}}
    event = {"id": "evt_1", "type": "charge.refunded" if kind == "refund" else "charge.dispute.closed",
             "data": {"object": {"id": "ch_1", "object": "charge", "amount_refunded": 500, "refunded": True,
                                 "status": "won", "evidence": {"customer_email_address": "payer@example.test"},
                                 **charge_fields}}}

    kept = stored_payload(event)["data"]["object"]

    assert "payer@example.test" not in json.dumps(kept)
    assert kept["payment_intent"] == "pi_1"  # an expanded object is kept as its id
    expected = {"amount_refunded", "refunded"} if kind == "refund" else {"status"}
    assert expected <= set(kept) and {"amount", "currency", "metadata", "id"} <= set(kept)


def test_a_charge_succeeded_keeps_of_the_billing_details_only_the_payers_name() -> None:
    from billing.inbox import stored_payload

    billing = {"name": "A Payer", "email": "payer@example.test", "phone": "+100",
               "address": {"line1": "1 Main St", "city": "Springfield"}}
    event = {"id": "evt_1", "type": "charge.succeeded",
             "data": {"object": {"id": "ch_1", "object": "charge", "payment_intent": "pi_1", "receipt_url": "u",
                                 "billing_details": billing, "payment_method_details": {"type": "card"}}}}

    kept = stored_payload(event)["data"]["object"]

    assert kept["billing_details"] == {"name": "A Payer"}  # who paid, for staff (billing/payment_methods.py)
    assert "payer@example.test" not in json.dumps(kept) and "Main St" not in json.dumps(kept)
