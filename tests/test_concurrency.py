"""Verify and duplicate webhook deliveries racing from several processes: exactly one pending -> paid transition
per invoice, with the right payer, on PostgreSQL (row locks, conditional UPDATEs) and on SQLite (which has no row
locks: the layer takes the database's write lock at the start of each transaction, billing/db_sqlite.py)."""

from __future__ import annotations

import pytest

from harness.events import client_request
from harness.parallel import invoke_in_processes
from tests.support.races import run_verify_and_webhook_race

# The race's size per engine: SQLite serialises every transaction, so it gets a smaller one.
RACES = {
    "postgresql": {"invoices": 12, "deliveries": 3, "verifies_per_payer": 2, "seed": 7, "processes": 4},
    "sqlite": {"invoices": 6, "deliveries": 3, "verifies_per_payer": 1, "seed": 11, "processes": 3},
}


@pytest.mark.engines("postgresql", "sqlite")
def test_verify_and_duplicate_webhooks_racing_fulfil_each_invoice_once(
    world, api, stripe_double, token_issuer, db, db_engine, database
) -> None:
    race = RACES[database.name]
    # Given invoices, each paid by one of two contacts, none fulfilled yet, their events delivered three times
    # (Stripe retries) while both contacts' dashboards call verify, all at once in several processes:
    # every call succeeded, and each invoice moved pending -> paid exactly once, paid by its payer
    webhook_outcomes, _ = run_verify_and_webhook_race(world, api, stripe_double, token_issuer, db, db_engine, race)
    assert len(webhook_outcomes) == race["invoices"] * race["deliveries"]
    assert webhook_outcomes.count("duplicate") == race["invoices"] * (race["deliveries"] - 1)
    assert len(db('SELECT id FROM "StripeEvent"')) == race["invoices"]


def test_concurrent_checkouts_for_one_invoice_make_one_session(world, api, stripe_double, token_issuer, db) -> None:
    acme = world.company()
    alice = world.contact(acme)
    invoice_id = world.invoice(acme)
    event = client_request("create_checkout", token_issuer.token(alice.uid), invoiceId=invoice_id)

    responses = invoke_in_processes([("create_checkout", event)] * 8, token_issuer.certificates())

    assert {status for status, _ in responses} == {200}
    assert len({body["sessionId"] for _, body in responses}) == 1
    assert len(stripe_double.sessions) == 1
