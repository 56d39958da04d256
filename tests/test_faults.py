"""Faults injected where they really happen: PostgreSQL drops or refuses connections, fails inside a transaction;
Stripe times out, drops connections or stays down. Each time nothing is half-done, and the retry succeeds."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from harness.database import SERVER_URL
from tests.support.faults import failing_updates


def session_creations(double) -> list:
    return [r for r in double.requests if r.method == "POST" and r.path == "/v1/checkout/sessions"]


@pytest.fixture
def admin_engine(database_url: str) -> Iterator[Engine]:
    """Connections outside every pool the functions and the other fixtures use; opened per statement, so the
    termination of "every other backend" never hits one of its own."""
    engine = create_engine(database_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    yield engine
    engine.dispose()


@pytest.fixture
def terminate_connections(admin_engine: Engine, db_engine: Engine):
    """Kill every connection to the test database but the admin one, as a failover or an idle timeout would."""

    def terminate() -> int:
        with admin_engine.connect() as conn:
            killed = conn.execute(text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )).scalar_one()
            # pg_terminate_backend only signals: wait until the backends have said goodbye and closed their
            # sockets, as they have by the time a container that sat idle through a failover is invoked again.
            deadline = time.monotonic() + 10
            while conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
            )).scalar_one() and time.monotonic() < deadline:
                time.sleep(0.01)
        db_engine.dispose()  # the fixtures' own pool held some of them
        return int(killed)

    return terminate


@pytest.fixture
def database_outage(database_url: str, db_engine: Engine) -> Iterator[object]:
    """The database refuses new connections and drops the open ones (a failover in progress). Run from the
    server's maintenance database: a database cannot close itself."""
    server = create_engine(SERVER_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    name = make_url(database_url).database

    class Outage:
        def begin(self) -> None:
            with server.connect() as conn:
                conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
                conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"),
                             {"name": name})
            db_engine.dispose()

        def end(self) -> None:
            with server.connect() as conn:
                conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))

    outage = Outage()
    yield outage
    outage.end()
    server.dispose()


@pytest.fixture
def inbox_write_fault(db_engine: Engine) -> Iterator[object]:
    """Every UPDATE of "StripeEvent" fails while on: the failure comes *after* the invoice's transition ran in the
    same transaction (recording the outcome is the last write), so a partial commit would show."""
    with failing_updates(db_engine, "StripeEvent") as fault:
        yield fault


def invoice(db, invoice_id):
    return db('SELECT * FROM "Invoice" WHERE id = :id', id=invoice_id)[0]


# ----- PostgreSQL ---------------------------------------------------------------------------------------


def test_a_connection_dropped_between_invocations_is_replaced_transparently(
    open_checkout, api, stripe_double, db, terminate_connections
) -> None:
    # Given every function has a warm, pooled connection
    alice, invoice_id, session_id = open_checkout
    assert api.list_invoices(alice)[0] == 200
    assert api.verify(alice, invoice_id, session_id)[0] == 200
    (completed,) = stripe_double.complete_session(session_id)

    # When the database drops them all while the containers are idle
    assert terminate_connections() >= 1

    # Then the next invocation of each succeeds at once, on a fresh connection
    assert api.list_invoices(alice)[0] == 200
    assert api.deliver(completed) == (200, {"received": True, "outcome": "paid"})
    assert invoice(db, invoice_id)["status"] == "paid"
    terminate_connections()
    assert api.verify(alice, invoice_id, session_id)[1]["status"] == "paid"


def test_a_database_outage_during_a_webhook_is_5xx_and_stripes_retry_succeeds(
    open_checkout, api, stripe_double, db, database_outage
) -> None:
    alice, invoice_id, session_id = open_checkout
    (completed,) = stripe_double.complete_session(session_id)
    database_outage.begin()

    status, body = api.deliver(completed)

    assert status == 503 and set(body) == {"error"}
    database_outage.end()
    assert invoice(db, invoice_id)["status"] == "pending"
    assert db('SELECT id FROM "StripeEvent"') == []  # could not even be recorded: Stripe's retry brings it back

    assert api.deliver(completed) == (200, {"received": True, "outcome": "paid"})
    assert (invoice(db, invoice_id)["status"], invoice(db, invoice_id)["paidByContactId"]) == ("paid", alice.id)
    assert db('SELECT outcome FROM "StripeEvent"') == [{"outcome": "paid"}]


def test_a_database_outage_refuses_checkout_before_stripe_is_called(
    world, api, stripe_double, db, database_outage
) -> None:
    """pg8000 reports connect-time FATALs (55000 "not accepting connections", 57P03 "starting up") as
    ProgrammingError: found here answered 500; billing/db.py now treats them as transient (503)."""
    acme = world.company()
    alice = world.contact(acme)
    invoice_id = world.invoice(acme)
    database_outage.begin()

    statuses = [api.checkout(alice, invoice_id)[0], api.list_invoices(alice)[0]]

    database_outage.end()
    assert statuses == [503, 503]
    assert stripe_double.requests == []
    assert api.checkout(alice, invoice_id)[0] == 200


def test_a_failure_after_the_transition_rolls_back_everything_and_the_retry_succeeds(
    open_checkout, api, stripe_double, db, inbox_write_fault
) -> None:
    alice, invoice_id, session_id = open_checkout
    (completed,) = stripe_double.complete_session(session_id)
    inbox_write_fault.on()

    status, _ = api.deliver(completed)

    assert status == 503
    row = invoice(db, invoice_id)
    assert (row["status"], row["paidAt"], row["paidByContactId"], row["stripePaymentIntentId"]) == (
        "pending", None, None, None)
    inbox_write_fault.off()
    assert api.deliver(completed) == (200, {"received": True, "outcome": "paid"})
    assert invoice(db, invoice_id)["paidByContactId"] == alice.id


# ----- Stripe ---------------------------------------------------------------------------------------------


def test_a_stripe_timeout_is_retried_with_the_same_idempotency_key_and_makes_one_session(
    world, api, stripe_double, db
) -> None:
    # Given Stripe creates the session but the answer never arrives in time (read timeout: 6 s)
    acme = world.company()
    alice = world.contact(acme)
    invoice_id = world.invoice(acme)
    api.checkout(alice, world.invoice(acme))  # the customer exists; only the session creation is exercised
    stripe_double.hang_next(1, seconds=10, path_prefix="/v1/checkout/sessions", method="POST")

    status, body = api.checkout(alice, invoice_id)

    # Then the SDK retried with the same key, Stripe replayed its first answer, and one session exists
    assert status == 200
    attempts = [r for r in session_creations(stripe_double) if r.params["metadata"]["invoiceId"] == invoice_id]
    assert len(attempts) == 2
    assert len({a.idempotency_key for a in attempts}) == 1
    assert attempts[1].replayed
    sessions = [s for s in stripe_double.sessions.values() if s["metadata"]["invoiceId"] == invoice_id]
    assert [s["id"] for s in sessions] == [body["sessionId"]]
    assert invoice(db, invoice_id)["stripeCheckoutSessionId"] == body["sessionId"]


def test_dropped_connections_are_retried_and_make_one_session(world, api, stripe_double) -> None:
    acme = world.company()
    alice = world.contact(acme)
    invoice_id = world.invoice(acme)
    stripe_double.drop_next(2, path_prefix="/v1/checkout/sessions")

    status, body = api.checkout(alice, invoice_id)

    assert status == 200
    assert list(stripe_double.sessions) == [body["sessionId"]]
    assert len({a.idempotency_key for a in session_creations(stripe_double)}) == 1


def test_stripe_staying_unreachable_is_502_changes_nothing_and_the_next_try_makes_one_session(
    world, api, stripe_double, db
) -> None:
    acme = world.company()
    alice = world.contact(acme)
    invoice_id = world.invoice(acme)
    api.checkout(alice, world.invoice(acme))  # the customer exists
    before = invoice(db, invoice_id)
    stripe_double.drop_next(3, path_prefix="/v1/checkout/sessions")  # the first try and both SDK retries

    status, body = api.checkout(alice, invoice_id)

    assert (status, body) == (502, {"error": "payment provider unavailable, nothing was changed; try again"})
    assert invoice(db, invoice_id) == before
    assert db('SELECT id FROM "CheckoutSession" WHERE "invoiceId" = :id', id=invoice_id) == []

    status, body = api.checkout(alice, invoice_id)
    assert status == 200
    assert [s["id"] for s in stripe_double.sessions.values() if s["metadata"]["invoiceId"] == invoice_id] == [
        body["sessionId"]]


def test_stripe_down_during_verify_is_502_and_the_invoice_is_untouched(open_checkout, api, stripe_double, db) -> None:
    alice, invoice_id, session_id = open_checkout
    stripe_double.complete_session(session_id)
    before = invoice(db, invoice_id)
    stripe_double.fail_next(3, status=503)

    assert api.verify(alice, invoice_id, session_id)[0] == 502
    assert invoice(db, invoice_id) == before
    assert api.verify(alice, invoice_id, session_id)[1]["status"] == "paid"
