"""POST /api/client/billing/{invoiceId}/checkout."""

from __future__ import annotations

import pytest

from tests.conftest import PORTAL_URL

# The embedded default of `make dev` must not drift from PostgreSQL: every test here runs on both.
pytestmark = pytest.mark.engines("postgresql", "sqlite")


def session_creations(double) -> list:
    return [r for r in double.requests if r.method == "POST" and r.path == "/v1/checkout/sessions"]


def test_creates_an_embedded_session_for_the_invoice(world, api, stripe_double, db) -> None:
    # Given Alice's pending 500.00 USD invoice
    acme = world.company()
    alice = world.contact(acme, email="alice@acme.test")
    invoice_id = world.invoice(acme, "500.00")

    # When she starts a checkout
    status, body = api.checkout(alice, invoice_id)

    # Then she gets an embedded session's client secret, and the invoice remembers the session
    assert status == 200
    assert set(body) == {"clientSecret", "sessionId"}
    assert body["sessionId"].startswith("cs_test_")
    assert body["clientSecret"] == stripe_double.sessions[body["sessionId"]]["client_secret"]
    (invoice,) = db('SELECT * FROM "Invoice"')
    assert invoice["stripeCheckoutSessionId"] == body["sessionId"]
    assert invoice["status"] == "pending"

    (request,) = session_creations(stripe_double)
    params = request.params
    assert params["ui_mode"] == "embedded_page"
    assert params["mode"] == "payment"
    (item,) = params["line_items"]
    assert item["quantity"] == "1"
    assert item["price_data"]["currency"] == "usd"
    assert item["price_data"]["unit_amount"] == "50000"
    assert item["price_data"]["product_data"]["name"].startswith("Invoice INV-")
    assert params["return_url"] == (
        f"{PORTAL_URL}/dashboard?session_id={{CHECKOUT_SESSION_ID}}&invoice_id={invoice_id}"
    )
    expected_metadata = {
        "invoiceId": invoice_id,
        "invoiceNumber": invoice["invoiceNumber"],
        "proposalId": acme.proposal_id,
        "contactId": alice.id,
    }
    assert params["metadata"] == expected_metadata
    assert params["payment_intent_data"]["metadata"] == expected_metadata
    assert params["customer"].startswith("cus_")
    assert request.idempotency_key
    assert stripe_double.customers[params["customer"]]["email"] == "alice@acme.test"


@pytest.mark.parametrize(("amount", "currency", "unit_amount"), [("1500", "JPY", "1500"), ("12.340", "KWD", "12340")])
def test_unit_amount_is_in_the_currencys_minor_units(world, api, stripe_double, amount, currency, unit_amount) -> None:
    acme = world.company()
    alice = world.contact(acme)
    invoice_id = world.invoice(acme, amount, currency)

    assert api.checkout(alice, invoice_id)[0] == 200

    price_data = session_creations(stripe_double)[0].params["line_items"][0]["price_data"]
    assert price_data["currency"] == currency.lower()
    assert price_data["unit_amount"] == unit_amount


def test_an_amount_the_currency_cannot_carry_is_refused_without_calling_stripe(world, api, stripe_double) -> None:
    acme = world.company()
    alice = world.contact(acme)
    invoice_id = world.invoice(acme, "12.345", "KWD")

    status, body = api.checkout(alice, invoice_id)

    assert status == 422
    assert "error" in body
    assert stripe_double.requests == []


def test_the_open_session_is_reused_for_the_same_payer(world, api, stripe_double) -> None:
    acme = world.company()
    alice = world.contact(acme)
    invoice_id = world.invoice(acme)

    first = api.checkout(alice, invoice_id)
    second = api.checkout(alice, invoice_id)

    assert first == second
    assert len(session_creations(stripe_double)) == 1


def test_another_payer_gets_a_new_session_and_the_old_one_is_expired_first(world, api, stripe_double, db) -> None:
    acme = world.company()
    alice, bob = world.contact(acme), world.contact(acme)
    invoice_id = world.invoice(acme)

    _, first = api.checkout(alice, invoice_id)
    status, second = api.checkout(bob, invoice_id)

    assert status == 200
    assert second["sessionId"] != first["sessionId"]
    assert stripe_double.sessions[first["sessionId"]]["status"] == "expired"
    assert [s["status"] for s in stripe_double.sessions.values()].count("open") == 1
    assert stripe_double.sessions[second["sessionId"]]["metadata"]["contactId"] == bob.id
    assert db('SELECT "stripeCheckoutSessionId" FROM "Invoice"')[0]["stripeCheckoutSessionId"] == second["sessionId"]


def test_the_stripe_customer_is_made_once_per_contact(world, api, stripe_double, db) -> None:
    acme = world.company()
    alice = world.contact(acme)
    first, second = world.invoice(acme), world.invoice(acme)

    api.checkout(alice, first)
    api.checkout(alice, second)

    assert len(stripe_double.customers) == 1
    customers = {r["stripeCustomerId"] for r in db('SELECT "stripeCustomerId" FROM "Invoice"')}
    assert customers == set(stripe_double.customers)


@pytest.mark.parametrize("status", ["paid", "processing", "refunded"])
def test_an_invoice_that_is_not_payable_is_409_without_calling_stripe(world, api, stripe_double, status) -> None:
    acme = world.company()
    alice = world.contact(acme)
    invoice_id = world.invoice(acme, status=status)

    assert api.checkout(alice, invoice_id) == (409, {"error": f"invoice is {status}"})
    assert stripe_double.requests == []


def test_a_session_that_completed_unnoticed_is_fulfilled_instead_of_replaced(world, api, stripe_double, db) -> None:
    # Given Alice paid, but neither the webhook nor verify has run yet
    acme = world.company()
    alice = world.contact(acme)
    invoice_id = world.invoice(acme)
    _, created = api.checkout(alice, invoice_id)
    stripe_double.complete_session(created["sessionId"])

    # When she (or a colleague) asks for a checkout again
    status, _ = api.checkout(alice, invoice_id)

    # Then nobody is charged twice: the invoice is paid and no new session exists
    assert status == 409
    assert db('SELECT status, "paidByContactId" FROM "Invoice"')[0] == {"status": "paid", "paidByContactId": alice.id}
    assert len(session_creations(stripe_double)) == 1


@pytest.mark.parametrize(("failure", "failures"), [(500, 2), (429, 1)])  # a server error; a rate limit
def test_stripe_errors_are_retried_with_the_same_idempotency_key(world, api, stripe_double, failure, failures) -> None:
    acme = world.company()
    alice = world.contact(acme)
    invoice_id = world.invoice(acme)
    stripe_double.fail_next(failures, status=failure, path_prefix="/v1/checkout/sessions")

    status, body = api.checkout(alice, invoice_id)

    assert status == 200
    attempts = session_creations(stripe_double)
    assert len(attempts) == failures + 1
    assert len({a.idempotency_key for a in attempts}) == 1
    assert list(stripe_double.sessions) == [body["sessionId"]]


@pytest.mark.parametrize("failure", [500, 503, 429])
def test_stripe_staying_down_is_502_and_changes_nothing(world, api, stripe_double, db, failure) -> None:
    acme = world.company()
    alice = world.contact(acme)
    invoice_id = world.invoice(acme)
    stripe_double.fail_next(10, status=failure)

    status, body = api.checkout(alice, invoice_id)

    assert status == 502
    assert body == {"error": "payment provider unavailable, nothing was changed; try again"}
    (invoice,) = db('SELECT status, "stripeCheckoutSessionId" FROM "Invoice"')
    assert invoice == {"status": "pending", "stripeCheckoutSessionId": None}
    assert stripe_double.sessions == {}


def test_after_a_session_expires_a_new_one_is_made(world, api, stripe_double) -> None:
    acme = world.company()
    alice = world.contact(acme)
    invoice_id = world.invoice(acme)
    _, first = api.checkout(alice, invoice_id)
    (expired,) = stripe_double.expire(first["sessionId"])
    assert api.deliver(expired)[0] == 200

    status, second = api.checkout(alice, invoice_id)

    assert status == 200
    assert second["sessionId"] != first["sessionId"]
    assert len(session_creations(stripe_double)) == 2
