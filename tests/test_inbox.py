"""The webhook inbox: every verified event recorded with its outcome; failures visible, retried, reprocessable."""

from __future__ import annotations

import pytest

from tests.support.faults import failing_updates


@pytest.fixture
def database_fault(db_engine):
    """Make every UPDATE of "Invoice" fail inside the database while the fault is on."""
    with failing_updates(db_engine, "Invoice") as fault:
        yield fault


def test_a_failure_during_fulfillment_rolls_back_answers_5xx_and_the_retry_succeeds(
    payment_not_yet_recorded, api, db, database_fault
) -> None:
    invoice_id, completed = payment_not_yet_recorded
    database_fault.on()

    status, _ = api.deliver(completed)

    assert status == 503
    assert db('SELECT status FROM "Invoice" WHERE id = :id', id=invoice_id)[0]["status"] == "pending"
    (event,) = db('SELECT * FROM "StripeEvent"')
    assert event["processedAt"] is None
    assert event["outcome"].startswith("error: ")

    database_fault.off()
    assert api.deliver(completed) == (200, {"received": True, "outcome": "paid"})
    assert db('SELECT status FROM "Invoice" WHERE id = :id', id=invoice_id)[0]["status"] == "paid"
    assert db('SELECT outcome FROM "StripeEvent"') == [{"outcome": "paid"}]


def test_a_stored_event_can_be_reprocessed_by_command(payment_not_yet_recorded, api, db, database_fault) -> None:
    from billing.webhook import reprocess_stored_event

    invoice_id, completed = payment_not_yet_recorded
    database_fault.on()
    assert api.deliver(completed)[0] == 503
    database_fault.off()

    assert reprocess_stored_event(completed["id"]) == "paid"
    assert reprocess_stored_event(completed["id"]) is None  # processed now: a no-op
    assert db('SELECT status FROM "Invoice" WHERE id = :id', id=invoice_id)[0]["status"] == "paid"


def test_every_verified_event_is_recorded_with_its_outcome(payment_not_yet_recorded, api, db) -> None:
    _, completed = payment_not_yet_recorded
    api.deliver(completed)
    api.deliver({"id": "evt_other", "object": "event", "type": "invoice.created", "data": {"object": {"id": "in_1"}}})

    rows = {r["id"]: r for r in db('SELECT * FROM "StripeEvent"')}
    assert rows[completed["id"]]["outcome"] == "paid"
    assert rows[completed["id"]]["type"] == "checkout.session.completed"
    assert rows[completed["id"]]["objectId"] == completed["data"]["object"]["id"]
    stored = rows[completed["id"]]["payload"]
    session = completed["data"]["object"]
    assert session["customer_details"]["email"] and session["client_secret"]  # in what Stripe sent ...
    # ... but the inbox keeps only the fields the code reads: no client secret (it lets a browser pay), no payer
    assert stored == {
        **{field: completed[field] for field in ("id", "object", "type", "api_version", "created", "livemode")},
        "data": {"object": {field: session[field] for field in (
            "id", "object", "status", "payment_status", "amount_total", "currency", "payment_intent", "customer",
            "expires_at", "metadata")}},
    }
    assert rows["evt_other"]["outcome"] == "ignored"
    assert all(r["processedAt"] is not None for r in rows.values())


def test_the_inbox_command_lists_failures_and_reprocesses_them(payment_not_yet_recorded, api, db, database_fault,
                                                               database_url) -> None:
    import json
    import os
    import subprocess
    import sys

    invoice_id, completed = payment_not_yet_recorded
    database_fault.on()
    api.deliver(completed)
    database_fault.off()
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONPATH": os.pathsep.join(["layers/common", "."])}

    def run(*args: str) -> list[dict]:
        stdout = subprocess.run([sys.executable, "scripts/stripe_events.py", *args], env=env, check=True,
                                capture_output=True, text=True).stdout
        lines = [json.loads(line) for line in stdout.splitlines()]
        return [line for line in lines if "level" not in line]  # the command's answers, not the log lines

    (failed,) = run("failed")
    assert failed["id"] == completed["id"] and failed["outcome"].startswith("error: ")
    assert run("reprocess", completed["id"]) == [{"id": completed["id"], "outcome": "paid"}]
    assert run("failed") == []
    assert db('SELECT status FROM "Invoice" WHERE id = :id', id=invoice_id)[0]["status"] == "paid"
