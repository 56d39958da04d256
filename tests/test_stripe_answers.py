"""Stripe's answers read honestly (issue 9, case 6).

- The Idempotency-Key of a creation is derived from every parameter sent: a parameter edited between two attempts
  (an invoice's description, within Stripe's 24-hour key window) makes a new key, never Stripe's
  `idempotency_error`; if that error still comes, it is logged as what it is.
- `Stripe-Should-Retry: false` is honoured, and a call makes at most three HTTP attempts in all.
- Events of the other mode (livemode) and of connected accounts (Connect) are acknowledged and never applied.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import stripe

from stripe_double.double import StripeDouble
from tests.support.faults import failing_updates
from tests.support.observed import emitted_metrics, warnings_logged

# The embedded default of `make dev` must not drift from PostgreSQL: every test here runs on both.
pytestmark = pytest.mark.engines("postgresql", "sqlite")


def session_creations(double) -> list:
    return [r for r in double.requests if r.method == "POST" and r.path == "/v1/checkout/sessions"]


def invoice_row(db, invoice_id):
    return db('SELECT * FROM "Invoice" WHERE id = :id', id=invoice_id)[0]


@pytest.fixture
def attach_fails(db_engine):
    """Every UPDATE of "Invoice" fails while on: a checkout whose session Stripe made is then rolled back."""
    with failing_updates(db_engine, "Invoice") as fault:
        yield fault


@pytest.fixture
def known_payer(world, api):
    """Alice, whose Stripe customer exists already (only the session creation is exercised), and a new invoice."""
    acme = world.company()
    alice = world.contact(acme)
    api.checkout(alice, world.invoice(acme))
    return alice, world.invoice(acme)


@pytest.fixture
def no_retry_pause(monkeypatch):
    from billing import stripe_gateway

    monkeypatch.setattr(stripe_gateway, "_RETRY_DELAYS", (0.0, 0.0))


# ----- idempotency keys -------------------------------------------------------------------------------------


def test_a_description_edited_after_a_failed_attempt_makes_a_new_key_not_an_idempotency_error(
    world, api, stripe_double, db, attach_fails
) -> None:
    """Found: the key left out the description, so the edited attempt reused the key with other parameters and
    was answered 502 ("stripe unavailable") for the 24 hours Stripe keeps keys."""
    # Given a checkout whose session Stripe made but whose commit failed (the invoice is as it was)
    acme = world.company()
    alice = world.contact(acme)
    invoice_id = world.invoice(acme, description="Phase 1")
    api.checkout(alice, world.invoice(acme))  # the customer exists: only the session creation is exercised
    attach_fails.on()
    assert api.checkout(alice, invoice_id)[0] == 500  # the database refused the write: nothing committed
    attach_fails.off()

    # When the portal edits the description (a raw edit: "updatedAt" unchanged) and the payer tries again
    world.edit_invoice(invoice_id, description="Phase 1, revised")
    status, body = api.checkout(alice, invoice_id)

    # Then it is a new request with a new key, answered with a new session
    assert status == 200
    attempts = [r for r in session_creations(stripe_double) if r.params["metadata"]["invoiceId"] == invoice_id]
    assert [a.params["line_items"][0]["price_data"]["product_data"]["description"] for a in attempts] == [
        "Phase 1", "Phase 1, revised"]
    assert len({a.idempotency_key for a in attempts}) == 2
    assert invoice_row(db, invoice_id)["stripeCheckoutSessionId"] == body["sessionId"]


def test_the_same_attempt_retried_keeps_its_key_and_replays_the_session(
    world, api, stripe_double, db, attach_fails
) -> None:
    acme = world.company()
    alice = world.contact(acme)
    invoice_id = world.invoice(acme)
    attach_fails.on()
    assert api.checkout(alice, invoice_id)[0] == 500  # the database refused the write: nothing committed
    attach_fails.off()

    status, body = api.checkout(alice, invoice_id)

    assert status == 200
    first, second = [r for r in session_creations(stripe_double) if r.params["metadata"]["invoiceId"] == invoice_id]
    assert first.idempotency_key == second.idempotency_key and second.replayed
    assert [s["id"] for s in stripe_double.sessions.values() if s["metadata"]["invoiceId"] == invoice_id] == [
        body["sessionId"]]


def test_an_idempotency_error_is_logged_as_what_it_is(world, api, stripe_double, db, attach_fails, caplog) -> None:
    # Given Stripe remembers this attempt's key as used with other parameters
    acme = world.company()
    alice = world.contact(acme)
    invoice_id = world.invoice(acme)
    attach_fails.on()
    api.checkout(alice, invoice_id)
    attach_fails.off()
    stripe_double.remember_other_params(session_creations(stripe_double)[-1].idempotency_key)
    caplog.clear()

    status, _ = api.checkout(alice, invoice_id)

    assert status == 502
    assert len(session_creations(stripe_double)) == 2  # not retried: the same key would be refused again
    errors = [r for r in caplog.records if r.levelname == "ERROR" and r.name == "billing"]
    assert [(r.getMessage(), getattr(r, "stripe_error", None)) for r in errors] == [
        ("stripe refused an idempotency key reused with other parameters", "idempotency_error")]
    assert not [w for w in warnings_logged(caplog) if w[0] == "stripe unavailable"]


# ----- retries ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("failure", "should_retry"), [(500, None), (503, True), (429, True), (429, None), (409, None)])
def test_a_call_makes_at_most_three_http_attempts(known_payer, api, stripe_double, no_retry_pause, failure,
                                                  should_retry) -> None:
    """Found: the SDK's two retries and our two retries of a 429 multiplied to nine attempts."""
    alice, invoice_id = known_payer
    stripe_double.fail_next(20, status=failure, path_prefix="/v1/checkout/sessions", method="POST",
                            should_retry=should_retry)

    assert api.checkout(alice, invoice_id)[0] == 502
    attempts = [r for r in session_creations(stripe_double) if r.injected]
    assert len(attempts) == 3 and len({a.idempotency_key for a in attempts}) == 1


@pytest.mark.parametrize("failure", [500, 503, 429, 409])
def test_stripe_should_retry_false_is_honoured(known_payer, api, stripe_double, no_retry_pause, failure) -> None:
    alice, invoice_id = known_payer
    stripe_double.fail_next(1, status=failure, path_prefix="/v1/checkout/sessions", method="POST",
                            should_retry=False)

    assert api.checkout(alice, invoice_id)[0] == 502
    assert len([r for r in session_creations(stripe_double) if r.params["metadata"]["invoiceId"] == invoice_id]) == 1


def test_dropped_connections_count_against_the_same_three_attempts(known_payer, api, stripe_double,
                                                                   no_retry_pause) -> None:
    alice, invoice_id = known_payer
    stripe_double.drop_next(10, path_prefix="/v1/checkout/sessions")

    assert api.checkout(alice, invoice_id)[0] == 502
    assert len([r for r in session_creations(stripe_double) if r.injected == "drop"]) == 3


# ----- events that are not this deployment's --------------------------------------------------------------------


@pytest.fixture(scope="module")
def live_stripe() -> Iterator[StripeDouble]:
    """Stripe in live mode (the tests' deployment is a test-mode one)."""
    with StripeDouble(livemode=True) as double:
        yield double


def _session_naming(double: StripeDouble, key: str, invoice_id: str, contact_id: str, **options: str) -> str:
    client = stripe.StripeClient(key, base_addresses={"api": double.url})
    metadata = {"invoiceId": invoice_id, "contactId": contact_id}
    session = client.v1.checkout.sessions.create(params={
        "mode": "payment", "ui_mode": "embedded_page", "return_url": "https://portal.example.test/done",
        "line_items": [{"quantity": 1, "price_data": {"currency": "usd", "unit_amount": 50_000,
                                                       "product_data": {"name": "Invoice"}}}],
        "metadata": metadata, "payment_intent_data": {"metadata": metadata}}, options=options)  # type: ignore[arg-type]
    return str(session.id)


@pytest.fixture
def pending_invoice(world, api):
    acme = world.company()
    alice = world.contact(acme)
    invoice_id = world.invoice(acme, "500.00")
    return alice, invoice_id


def test_an_event_of_the_other_mode_is_acknowledged_and_not_applied(
    pending_invoice, api, live_stripe, db, capsys, caplog
) -> None:
    alice, invoice_id = pending_invoice
    (completed,) = live_stripe.complete_session(_session_naming(live_stripe, "sk_live_other", invoice_id, alice.id))
    assert completed["livemode"] is True
    capsys.readouterr()

    assert api.deliver(completed) == (200, {"received": True, "outcome": "livemode_mismatch"})

    assert invoice_row(db, invoice_id)["status"] == "pending"
    assert db('SELECT outcome FROM "StripeEvent"') == [{"outcome": "livemode_mismatch"}]
    assert db('SELECT * FROM "UnappliedPayment"') == []
    assert [w[1]["event_id"] for w in warnings_logged(caplog)] == [completed["id"]]
    assert {"name": "ForeignStripeEvent", "unit": "Count", "outcome": "livemode_mismatch",
            "service": "billing"} in emitted_metrics(capsys.readouterr().out)


def test_an_event_without_a_mode_is_not_applied(pending_invoice, api, stripe_double, db) -> None:
    alice, invoice_id = pending_invoice
    _, created = api.checkout(alice, invoice_id)
    (completed,) = stripe_double.complete_session(created["sessionId"])
    del completed["livemode"]

    assert api.deliver(completed)[1]["outcome"] == "livemode_mismatch"
    assert invoice_row(db, invoice_id)["status"] == "pending"


def test_an_event_of_a_connected_account_is_acknowledged_and_not_applied(
    pending_invoice, api, stripe_double, db, capsys
) -> None:
    alice, invoice_id = pending_invoice
    session_id = _session_naming(stripe_double, "sk_test_platform", invoice_id, alice.id, stripe_account="acct_1Other")
    (completed,) = stripe_double.complete_session(session_id)
    (refunded,) = stripe_double.refund(completed["data"]["object"]["payment_intent"])
    assert completed["account"] == refunded["account"] == "acct_1Other"
    capsys.readouterr()

    assert api.deliver(completed) == (200, {"received": True, "outcome": "connect_account_event"})
    assert api.deliver(refunded) == (200, {"received": True, "outcome": "connect_account_event"})

    assert invoice_row(db, invoice_id)["status"] == "pending"
    assert db('SELECT * FROM "PaymentAdjustment"') == [] and db('SELECT * FROM "UnappliedPayment"') == []
    metrics = emitted_metrics(capsys.readouterr().out)
    assert [m["outcome"] for m in metrics if m["name"] == "ForeignStripeEvent"] == ["connect_account_event"] * 2


def test_reconciliation_reads_the_platforms_own_events_only(pending_invoice, stripe_double, functions, db) -> None:
    alice, invoice_id = pending_invoice
    session_id = _session_naming(stripe_double, "sk_test_platform", invoice_id, alice.id, stripe_account="acct_1Other")
    stripe_double.complete_session(session_id)
    stripe_double.backdate_events(3600)  # old enough for reconciliation to read

    assert functions.reconcile({}, None)["recovered_events"] == {}
    assert invoice_row(db, invoice_id)["status"] == "pending"
