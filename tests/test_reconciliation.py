"""The scheduled reconciliation: Stripe's word, applied to checkouts whose webhook never came."""

from __future__ import annotations

import pytest


@pytest.fixture
def stale_checkout(world, api, db):
    """An invoice with a Checkout Session, last touched an hour ago (past the 30-minute window)."""

    def make():
        acme = world.company()
        alice = world.contact(acme)
        invoice_id = world.invoice(acme, "500.00")
        _, created = api.checkout(alice, invoice_id)
        db('UPDATE "Invoice" SET "updatedAt" = now() - interval \'1 hour\' WHERE id = :id', id=invoice_id)
        return alice, invoice_id, created["sessionId"]

    return make


def row(db, invoice_id):
    return db('SELECT * FROM "Invoice" WHERE id = :id', id=invoice_id)[0]


def test_a_paid_session_without_webhook_ends_paid(stale_checkout, functions, stripe_double, db) -> None:
    alice, invoice_id, session_id = stale_checkout()
    stripe_double.complete_session(session_id)  # the webhook is lost

    report = functions.reconcile({}, None)

    # (its lost event is younger than the window: the events list is left to a later run)
    assert report == {"examined": 1, "outcomes": {"paid": 1}, "recovered_events": {}}
    invoice = row(db, invoice_id)
    assert (invoice["status"], invoice["paidByContactId"]) == ("paid", alice.id)


def test_an_open_session_is_left_alone(stale_checkout, functions, stripe_double, db) -> None:
    _, invoice_id, session_id = stale_checkout()

    assert functions.reconcile({}, None)["outcomes"] == {"not_finished": 1}
    assert row(db, invoice_id)["stripeCheckoutSessionId"] == session_id
    assert stripe_double.sessions[session_id]["status"] == "open"


def test_a_session_stripe_expired_is_released(stale_checkout, functions, stripe_double, db) -> None:
    _, invoice_id, session_id = stale_checkout()
    stripe_double.expire(session_id)

    assert functions.reconcile({}, None)["outcomes"] == {"session_released": 1}
    assert row(db, invoice_id)["stripeCheckoutSessionId"] is None


def test_a_failed_bank_debit_is_failed_only_because_stripe_says_so(stale_checkout, functions, stripe_double, db,
                                                                   api) -> None:
    _, invoice_id, session_id = stale_checkout()
    (completed,) = stripe_double.complete_session(session_id, payment_status="unpaid")
    api.deliver(completed)
    db('UPDATE "Invoice" SET "updatedAt" = now() - interval \'1 hour\' WHERE id = :id', id=invoice_id)
    assert functions.reconcile({}, None)["outcomes"] == {"unchanged": 1}  # still processing at Stripe

    stripe_double.async_payment(session_id, succeeded=False)  # that webhook is lost too

    assert functions.reconcile({}, None)["outcomes"] == {"failed": 1}
    assert row(db, invoice_id)["status"] == "failed"


def test_recent_checkouts_are_not_examined(world, api, functions, stripe_double) -> None:
    acme = world.company()
    alice = world.contact(acme)
    api.checkout(alice, world.invoice(acme))
    requests_before = len(stripe_double.requests)

    assert functions.reconcile({}, None) == {"examined": 0, "outcomes": {}, "recovered_events": {}}
    # Stripe is asked about no session: only for its events list (which holds nothing new)
    assert [(r.method, r.path) for r in stripe_double.requests[requests_before:]] == [("GET", "/v1/events")]


def test_stripe_down_leaves_everything_for_the_next_run(stale_checkout, functions, stripe_double, db) -> None:
    _, invoice_id, session_id = stale_checkout()
    stripe_double.complete_session(session_id)
    stripe_double.fail_next(100, status=503)

    assert functions.reconcile({}, None)["outcomes"] == {"stripe_unavailable": 1}
    assert row(db, invoice_id)["status"] == "pending"
