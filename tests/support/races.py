"""The verify-versus-webhook race, run on PostgreSQL and SQLite (tests/test_concurrency.py): invoices paid at Stripe
but not yet fulfilled, their completed events delivered several times and both payers' dashboards calling verify,
all shuffled into one list of jobs for harness/parallel.py."""

from __future__ import annotations

import random
from typing import Any

from harness.events import client_request, webhook_request
from harness.parallel import invoke_in_processes
from harness.transitions import transition_log
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
    """Every call answered 200 and each invoice moved pending -> paid exactly once (the `_TransitionLog` of
    harness.transitions), paid by its payer. Returns the webhook outcomes ("duplicate" for a repeated delivery)."""
    assert {status for status, _ in responses} == {200}
    transitions = db('SELECT "invoiceId", "from", "to" FROM "_TransitionLog"')
    assert sorted(t["invoiceId"] for t in transitions) == sorted(expected_payer)
    assert {(t["from"], t["to"]) for t in transitions} == {("pending", "paid")}
    for row in db('SELECT id, status, "paidByContactId" FROM "Invoice"'):
        assert (row["status"], row["paidByContactId"]) == ("paid", expected_payer[row["id"]])
    return [body.get("outcome", "duplicate") for _, body in responses if "received" in body]


def run_verify_and_webhook_race(world, api, stripe_double, token_issuer, db, db_engine, race: dict[str, int]
                                ) -> tuple[list[str], dict[str, str]]:
    """The race of `verify_and_webhook_race` (sized by `race`) run in `race["processes"]` processes, checked with
    `assert_each_invoice_paid_once`. Returns (the webhook outcomes, invoice id -> the contact who paid it)."""
    jobs, expected_payer = verify_and_webhook_race(world, api, stripe_double, token_issuer, invoices=race["invoices"],
                                                   deliveries=race["deliveries"],
                                                   verifies_per_payer=race["verifies_per_payer"], seed=race["seed"])
    with transition_log(db_engine):
        responses = invoke_in_processes(jobs, token_issuer.certificates(), processes=race["processes"])
        return assert_each_invoice_paid_once(db, responses, expected_payer), expected_payer
