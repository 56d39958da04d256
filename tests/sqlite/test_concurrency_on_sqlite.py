"""Verify and duplicate webhook deliveries racing from several processes on SQLite: exactly one pending -> paid
transition per invoice, as on PostgreSQL (tests/test_concurrency.py). SQLite has no row locks; the layer takes
the database's write lock at the start of each transaction instead (billing/db_sqlite.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from harness.parallel import invoke_in_processes
from tests.support.races import assert_each_invoice_paid_once, verify_and_webhook_race


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
    # Given 6 invoices, each paid by one of two contacts, none fulfilled yet, their events delivered three times
    # while both contacts' dashboards call verify
    jobs, expected_payer = verify_and_webhook_race(world, api, stripe_double, token_issuer, invoices=6,
                                                   deliveries=3, verifies_per_payer=1, seed=11)

    # When all of it runs at once in three processes against the one SQLite file
    responses = invoke_in_processes(jobs, token_issuer.certificates(), processes=3)

    # Then every call succeeded, and each invoice moved pending -> paid exactly once, paid by its payer
    webhook_outcomes = assert_each_invoice_paid_once(db, responses, expected_payer)
    assert webhook_outcomes.count("duplicate") == 12
    assert len(db('SELECT id FROM "StripeEvent"')) == 6
