"""Verify and duplicate webhook deliveries racing from several processes: exactly one pending -> paid transition
per invoice, with the right payer."""

from __future__ import annotations

import pytest

from harness.events import client_request
from harness.parallel import invoke_in_processes
from tests.support.races import assert_each_invoice_paid_once, verify_and_webhook_race


@pytest.fixture
def transition_log(db_engine):
    """A trigger recording every status change, so the test sees transitions, not just the final state."""
    from sqlalchemy import text

    statements = [
        'CREATE TABLE "_TransitionLog" ("invoiceId" text, "from" text, "to" text)',
        """CREATE FUNCTION _log_transition() RETURNS trigger AS $$ BEGIN
             IF NEW.status IS DISTINCT FROM OLD.status THEN
               INSERT INTO "_TransitionLog" VALUES (NEW.id, OLD.status, NEW.status);
             END IF; RETURN NEW; END $$ LANGUAGE plpgsql""",
        'CREATE TRIGGER log_transition AFTER UPDATE ON "Invoice" FOR EACH ROW EXECUTE FUNCTION _log_transition()',
    ]
    with db_engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))
    yield
    with db_engine.begin() as conn:
        conn.execute(text('DROP TRIGGER log_transition ON "Invoice"'))
        conn.execute(text("DROP FUNCTION _log_transition()"))
        conn.execute(text('DROP TABLE "_TransitionLog"'))


def test_verify_and_duplicate_webhooks_racing_fulfil_each_invoice_once(
    world, api, stripe_double, token_issuer, db, transition_log
) -> None:
    # Given 12 invoices, each paid by one of two contacts, none fulfilled yet, their events delivered three times
    # (Stripe retries) while both contacts' dashboards call verify twice
    jobs, expected_payer = verify_and_webhook_race(world, api, stripe_double, token_issuer, invoices=12,
                                                   deliveries=3, verifies_per_payer=2, seed=7)

    # When all of it runs at once in four processes
    responses = invoke_in_processes(jobs, token_issuer.certificates())

    # Then every call succeeded, and each invoice moved pending -> paid exactly once, paid by its payer
    webhook_outcomes = assert_each_invoice_paid_once(db, responses, expected_payer)
    assert len(webhook_outcomes) == 36
    assert webhook_outcomes.count("duplicate") == 24
    assert len(db('SELECT id FROM "StripeEvent"')) == 12


def test_concurrent_checkouts_for_one_invoice_make_one_session(world, api, stripe_double, token_issuer, db) -> None:
    acme = world.company()
    alice = world.contact(acme)
    invoice_id = world.invoice(acme)
    event = client_request("create_checkout", token_issuer.token(alice.uid), invoiceId=invoice_id)

    responses = invoke_in_processes([("create_checkout", event)] * 8, token_issuer.certificates())

    assert {status for status, _ in responses} == {200}
    assert len({body["sessionId"] for _, body in responses}) == 1
    assert len(stripe_double.sessions) == 1
