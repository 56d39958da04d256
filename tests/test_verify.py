"""GET /api/client/billing/{invoiceId}/verify/{sessionId}: the fallback when the webhook is late."""

from __future__ import annotations

import pytest

# The embedded default of `make dev` must not drift from PostgreSQL: every test here runs on both.
pytestmark = pytest.mark.engines("postgresql", "sqlite")


def _checkout(world, api):
    acme = world.company()
    alice = world.contact(acme)
    invoice_id = world.invoice(acme, "500.00")
    _, created = api.checkout(alice, invoice_id)
    return acme, alice, invoice_id, created["sessionId"]


def test_an_unpaid_session_changes_nothing(world, api, db) -> None:
    _, alice, invoice_id, session_id = _checkout(world, api)

    status, body = api.verify(alice, invoice_id, session_id)

    assert status == 200
    assert body == {"success": False, "status": "pending", "contactId": None, "amount": 500}
    assert db('SELECT status FROM "Invoice"')[0]["status"] == "pending"


def test_a_paid_session_marks_the_invoice_paid_by_the_contact_who_paid(world, api, stripe_double, db) -> None:
    # Given Alice paid, and the webhook has not arrived
    acme, alice, invoice_id, session_id = _checkout(world, api)
    stripe_double.complete_session(session_id)
    colleague = world.contact(acme)

    # When a colleague's dashboard calls verify
    status, body = api.verify(colleague, invoice_id, session_id)

    # Then the invoice is paid, by Alice (the session's payer), not by whoever verified
    assert status == 200
    assert body == {"success": True, "status": "paid", "contactId": alice.id, "amount": 500}
    (invoice,) = db('SELECT * FROM "Invoice"')
    assert invoice["status"] == "paid"
    assert invoice["paidByContactId"] == alice.id
    assert invoice["paidAt"] is not None
    assert invoice["stripePaymentIntentId"] == stripe_double.sessions[session_id]["payment_intent"]


def test_verifying_again_is_idempotent_and_asks_stripe_no_more(world, api, stripe_double, db) -> None:
    _, alice, invoice_id, session_id = _checkout(world, api)
    stripe_double.complete_session(session_id)
    first = api.verify(alice, invoice_id, session_id)
    paid_at = db('SELECT "paidAt" FROM "Invoice"')[0]["paidAt"]
    requests_before = len(stripe_double.requests)

    second = api.verify(alice, invoice_id, session_id)

    assert first == second
    assert db('SELECT "paidAt" FROM "Invoice"')[0]["paidAt"] == paid_at
    assert len(stripe_double.requests) == requests_before


def test_a_bank_debit_in_flight_is_processing(world, api, stripe_double) -> None:
    _, alice, invoice_id, session_id = _checkout(world, api)
    stripe_double.complete_session(session_id, payment_status="unpaid")

    assert api.verify(alice, invoice_id, session_id) == (
        200, {"success": False, "status": "processing", "contactId": None, "amount": 500})


def test_a_session_of_another_invoice_is_404_and_changes_nothing(world, api, stripe_double, db) -> None:
    acme, alice, invoice_id, _ = _checkout(world, api)
    other_invoice = world.invoice(acme, "500.00")
    _, other = api.checkout(alice, other_invoice)
    stripe_double.complete_session(other["sessionId"])

    status, body = api.verify(alice, invoice_id, other["sessionId"])

    assert (status, body) == (404, {"error": "checkout session not found for this invoice"})
    assert {r["status"] for r in db('SELECT status FROM "Invoice"')} == {"pending"}


def test_unknown_and_malformed_session_ids_are_404(world, api) -> None:
    _, alice, invoice_id, _ = _checkout(world, api)
    for session_id in ["cs_test_unknown", "pi_123", "cs_test_" + "a" * 400, "cs_test_' OR 1=1 --"]:
        assert api.verify(alice, invoice_id, session_id)[0] == 404


def test_a_session_whose_amount_differs_from_the_invoice_is_not_fulfilled(world, api, stripe_double, db) -> None:
    # Given the invoice was edited to a new amount after the session was made, and the old amount was paid
    _, alice, invoice_id, session_id = _checkout(world, api)
    db('UPDATE "Invoice" SET amount = 650.00 WHERE id = :id', id=invoice_id)
    stripe_double.complete_session(session_id)

    status, body = api.verify(alice, invoice_id, session_id)

    assert status == 200
    assert body["success"] is False
    assert db('SELECT status FROM "Invoice"')[0]["status"] == "pending"


def test_stripe_down_is_502_and_changes_nothing(world, api, stripe_double, db) -> None:
    _, alice, invoice_id, session_id = _checkout(world, api)
    stripe_double.complete_session(session_id)
    stripe_double.fail_next(10, status=500)

    assert api.verify(alice, invoice_id, session_id)[0] == 502
    assert db('SELECT status FROM "Invoice"')[0]["status"] == "pending"
