"""The verify-versus-webhook race, run on PostgreSQL and SQLite (tests/test_concurrency.py): invoices paid at Stripe
but not yet fulfilled, their completed events delivered several times and both payers' dashboards calling verify,
all shuffled into one list of jobs for harness/parallel.py; and a trigger logging every status change, so that a
test sees transitions, not just the final state."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, text

from harness.events import client_request, webhook_request
from stripe_double.events import event_payload, sign_payload


def verify_and_webhook_race(
    world, api, stripe_double, token_issuer, *, invoices: int, deliveries: int, verifies_per_payer: int, seed: int
) -> tuple[list[tuple[str, dict[str, Any]]], dict[str, str]]:
    """(shuffled jobs, invoice id -> the contact who paid it), with two payers taking turns."""
    acme = world.company()
    payers = [world.contact(acme), world.contact(acme)]
    jobs, expected_payer = [], {}
    for n in range(invoices):
        payer = payers[n % 2]
        invoice_id = world.invoice(acme, "250.00")
        _, created = api.checkout(payer, invoice_id)
        (completed,) = stripe_double.complete_session(created["sessionId"])
        expected_payer[invoice_id] = payer.id
        payload = event_payload(completed)
        for _ in range(deliveries):
            jobs.append(("stripe_webhook", webhook_request(payload, sign_payload(payload, api.webhook_secret))))
        for contact in payers * verifies_per_payer:
            event = client_request("verify_session", token_issuer.token(contact.uid), invoiceId=invoice_id,
                                   sessionId=created["sessionId"])
            jobs.append(("verify_session", event))
    random.Random(seed).shuffle(jobs)
    return jobs, expected_payer


def assert_each_invoice_paid_once(db, responses: list[tuple[int, Any]], expected_payer: dict[str, str]) -> list[str]:
    """Every call answered 200 and each invoice moved pending -> paid exactly once (the `_TransitionLog` the test
    installed), paid by its payer. Returns the webhook outcomes ("duplicate" for a repeated delivery)."""
    assert {status for status, _ in responses} == {200}
    transitions = db('SELECT "invoiceId", "from", "to" FROM "_TransitionLog"')
    assert sorted(t["invoiceId"] for t in transitions) == sorted(expected_payer)
    assert {(t["from"], t["to"]) for t in transitions} == {("pending", "paid")}
    for row in db('SELECT id, status, "paidByContactId" FROM "Invoice"'):
        assert (row["status"], row["paidByContactId"]) == ("paid", expected_payer[row["id"]])
    return [body.get("outcome", "duplicate") for _, body in responses if "received" in body]


_TRANSITION_LOG = {
    "postgresql": (
        [
            'CREATE TABLE "_TransitionLog" ("invoiceId" text, "from" text, "to" text)',
            """CREATE FUNCTION _log_transition() RETURNS trigger AS $$ BEGIN
                 IF NEW.status IS DISTINCT FROM OLD.status THEN
                   INSERT INTO "_TransitionLog" VALUES (NEW.id, OLD.status, NEW.status);
                 END IF; RETURN NEW; END $$ LANGUAGE plpgsql""",
            'CREATE TRIGGER log_transition AFTER UPDATE ON "Invoice" FOR EACH ROW EXECUTE FUNCTION _log_transition()',
        ],
        ['DROP TRIGGER log_transition ON "Invoice"', "DROP FUNCTION _log_transition()", 'DROP TABLE "_TransitionLog"'],
    ),
    "sqlite": (
        [
            'CREATE TABLE "_TransitionLog" ("invoiceId" text, "from" text, "to" text)',
            """CREATE TRIGGER log_transition AFTER UPDATE OF status ON "Invoice"
               WHEN OLD.status IS NOT NEW.status
               BEGIN INSERT INTO "_TransitionLog" VALUES (NEW.id, OLD.status, NEW.status); END""",
        ],
        ["DROP TRIGGER log_transition", 'DROP TABLE "_TransitionLog"'],
    ),
}


@contextmanager
def transition_log(engine: Engine) -> Iterator[None]:
    """While inside, every status change of an invoice is a row of "_TransitionLog" (invoiceId, from, to)."""
    create, drop = _TRANSITION_LOG[engine.dialect.name]
    with engine.begin() as conn:
        for statement in create:
            conn.execute(text(statement))
    try:
        yield
    finally:
        with engine.begin() as conn:
            for statement in drop:
                conn.execute(text(statement))
