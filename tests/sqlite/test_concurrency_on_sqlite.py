"""Verify and duplicate webhook deliveries racing from several processes on SQLite: exactly one pending -> paid
transition per invoice, as on PostgreSQL (tests/test_concurrency.py). SQLite has no row locks; the layer takes
the database's write lock at the start of each transaction instead (billing.db)."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import text

from tests.doubles.stripe_double import event_payload, sign_payload
from tests.support.events import client_request, webhook_request
from tests.support.parallel import invoke_in_processes


@pytest.fixture
def transition_log(db_engine):
    statements = [
        'CREATE TABLE "_TransitionLog" ("invoiceId" text, "from" text, "to" text)',
        """CREATE TRIGGER log_transition AFTER UPDATE OF status ON "Invoice"
           WHEN OLD.status IS NOT NEW.status
           BEGIN INSERT INTO "_TransitionLog" VALUES (NEW.id, OLD.status, NEW.status); END""",
    ]
    with db_engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))
    yield
    with db_engine.begin() as conn:
        conn.execute(text("DROP TRIGGER log_transition"))
        conn.execute(text('DROP TABLE "_TransitionLog"'))


def test_verify_and_duplicate_webhooks_racing_fulfil_each_invoice_once(
    world, api, stripe_double, token_issuer, db, transition_log
) -> None:
    # Given 6 invoices, each paid by one of two contacts, none fulfilled yet
    acme = world.company()
    payers = [world.contact(acme), world.contact(acme)]
    jobs, expected_payer = [], {}
    for n in range(6):
        payer = payers[n % 2]
        invoice_id = world.invoice(acme, "250.00")
        _, created = api.checkout(payer, invoice_id)
        (completed,) = stripe_double.complete_session(created["sessionId"])
        expected_payer[invoice_id] = payer.id
        payload = event_payload(completed)
        # ... delivered three times while both contacts' dashboards call verify
        for _ in range(3):
            jobs.append(("stripe_webhook", webhook_request(payload, sign_payload(payload, api.webhook_secret))))
        for contact in payers:
            event = client_request("verify_session", token_issuer.token(contact.uid), invoiceId=invoice_id,
                                   sessionId=created["sessionId"])
            jobs.append(("verify_session", event))
    random.Random(11).shuffle(jobs)

    # When all of it runs at once in three processes against the one SQLite file
    responses = invoke_in_processes(jobs, token_issuer.certificates(), processes=3)

    # Then every call succeeded, and each invoice moved pending -> paid exactly once, paid by its payer
    assert {status for status, _ in responses} == {200}
    transitions = db('SELECT "invoiceId", "from", "to" FROM "_TransitionLog"')
    assert sorted(t["invoiceId"] for t in transitions) == sorted(expected_payer)
    assert {(t["from"], t["to"]) for t in transitions} == {("pending", "paid")}
    for row in db('SELECT id, status, "paidByContactId" FROM "Invoice"'):
        assert (row["status"], row["paidByContactId"]) == ("paid", expected_payer[row["id"]])
    webhook_outcomes = [body.get("outcome", "duplicate") for _, body in responses if "received" in body]
    assert webhook_outcomes.count("duplicate") == 12
    assert len(db('SELECT id FROM "StripeEvent"')) == 6
