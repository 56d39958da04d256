"""What a warm request says to PostgreSQL: no ping on a connection just used, the transaction ended in one round
trip, and a connection that may be dead is pinged (and replaced) before a request relies on it. And how the
connection is secured: with a CA bundle, TLS verified against it or no connection at all; without one, TLS
whenever the server offers it.

What PostgreSQL receives is read where it receives it: the functions' connections go through a proxy that records
every protocol message (tests/support/postgres_proxy.py), and which backend serves them is pg_stat_activity's
answer. Nothing here looks inside the driver, so a driver upgrade that keeps the behaviour keeps these tests green.
"""

from __future__ import annotations

import os
import ssl
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from pg8000.exceptions import InterfaceError as Pg8000InterfaceError
from sqlalchemy import create_engine, event, literal, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import InterfaceError
from sqlalchemy.pool import NullPool

from billing import db as billing_db
from billing import db_pg8000
from billing.repository.listing import iso_utc
from google_double.tokens import FirebaseTokenIssuer
from harness.database import SERVER_URL, create_database, drop_database
from tests.support.container import new_container
from tests.support.postgres_proxy import PostgresProxy


@pytest.fixture
def wire(database_url: str) -> Iterator[PostgresProxy]:
    """The functions' database reached through the recording proxy, in a container started for the test."""
    with PostgresProxy() as proxy, new_container(DATABASE_URL=proxy.url(database_url)):
        yield proxy


def backend_pid() -> int:
    """The PostgreSQL backend serving the layer's pooled connection (the pool holds one)."""
    with billing_db.transaction() as conn:
        return int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())


def test_a_warm_request_sends_its_statement_and_nothing_else(world, api, wire) -> None:
    acme = world.company()
    alice = world.contact(acme)
    world.invoice(acme)
    assert api.list_invoices(alice)[0] == 200  # the container is warm: its pool holds a connection
    (connection,) = wire.sent()
    connection.messages.clear()

    assert api.list_invoices(alice)[0] == 200

    assert len(wire.sent()) == 1  # the same connection
    (begin, (listing_protocol, listing), commit) = connection.statements()
    assert begin == ("simple", "begin transaction")
    assert listing_protocol == "extended" and listing.startswith('SELECT "Invoice".id')  # the listing, no ping
    assert commit == ("simple", "commit")  # one Query message; pg8000's own commit is parse, describe, execute


def test_a_connection_idle_past_the_trusted_time_is_pinged_first(world, api, wire, monkeypatch) -> None:
    alice = world.contact(world.company())
    assert api.list_invoices(alice)[0] == 200
    monkeypatch.setattr(db_pg8000, "_TRUSTED_IDLE_SECONDS", 0.0)  # every connection has been idle too long
    (connection,) = wire.sent()
    connection.messages.clear()

    assert api.list_invoices(alice)[0] == 200

    assert connection.statements()[:2] == [("simple", "begin transaction"), ("simple", ";")]  # SQLAlchemy's ping


def test_a_connection_cut_since_its_last_request_is_replaced_and_the_request_succeeds(world, api, wire) -> None:
    acme = world.company()
    alice = world.contact(acme)
    world.invoice(acme)
    assert api.list_invoices(alice)[0] == 200
    old_backend = backend_pid()
    # The session is cut a moment after its last request (well within the time a connection is trusted without a
    # ping): the client finds the end of it on its socket.
    wire.cut()

    status, body = api.list_invoices(alice)

    assert status == 200 and len(body["invoices"]) == 1
    assert len(wire.sent()) == 2  # a new connection
    assert backend_pid() != old_backend


def test_with_a_ca_bundle_a_server_without_tls_is_refused_never_used_in_plaintext(database_url, tmp_path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text(FirebaseTokenIssuer("any").certificate_pem)  # a CA the test server's certificate is not from
    engine = billing_db.create_database_engine(database_url, ca_bundle=str(bundle))
    try:
        with pytest.raises(InterfaceError) as refused:  # the test server has no TLS
            engine.connect()
        assert isinstance(refused.value.orig, Pg8000InterfaceError) and "refuses SSL" in str(refused.value.orig)
    finally:
        engine.dispose()


@pytest.fixture
def tls_proxy():
    """PostgreSQL behind TLS with a certificate for "localhost" and 127.0.0.1 (the test server itself has none)."""
    with PostgresProxy(tls=True) as proxy:
        yield proxy


def _through(proxy: PostgresProxy, database_url: str, host: str = "localhost") -> str:
    return proxy.url(database_url, host)


def _bundle(tmp_path, pem: str) -> str:
    bundle = tmp_path / "ca.pem"
    bundle.write_text(pem)
    return str(bundle)


def _refusal(error: BaseException):
    """The certificate verification error behind `error` (SQLAlchemy or pg8000 may wrap it), or None."""
    seen: BaseException | None = error
    while seen is not None and not isinstance(seen, ssl.SSLCertVerificationError):
        seen = seen.__cause__ or seen.__context__
    return seen


def test_with_a_ca_bundle_a_server_certified_by_it_is_used_over_verified_tls(database_url, tls_proxy, tmp_path) -> None:
    engine = billing_db.create_database_engine(
        _through(tls_proxy, database_url), ca_bundle=_bundle(tmp_path, tls_proxy.ca_pem)
    )
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT 1").scalar_one() == 1
    finally:
        engine.dispose()
    tls_proxy.stop()  # its threads are joined: what it recorded is final
    # One connection, over TLS (the certificate checked: the two tests below show a wrong one refused)
    assert [connection.tls for connection in tls_proxy.connections] == [True]


def test_with_a_ca_bundle_a_certificate_from_another_ca_is_refused_before_anything_is_sent(
    database_url, tls_proxy, tmp_path
) -> None:
    engine = billing_db.create_database_engine(
        _through(tls_proxy, database_url), ca_bundle=_bundle(tmp_path, tls_proxy.other_ca_pem)
    )
    try:
        with pytest.raises(Exception) as refused:
            engine.connect()
    finally:
        engine.dispose()
    tls_proxy.stop()  # its threads are joined: what it recorded is final

    refusal = _refusal(refused.value)
    assert refusal is not None and refusal.verify_message == "unable to get local issuer certificate"
    # One connection, no TLS session, not a byte to PostgreSQL; and no second try in plaintext
    assert [(c.tls, c.bytes_to_server) for c in tls_proxy.connections] == [(False, 0)]


def test_with_a_ca_bundle_a_certificate_for_another_host_is_refused(database_url, tmp_path) -> None:
    # 127.0.0.2 reaches this machine (all of 127/8 is loopback on Linux); the certificate names only localhost and
    # 127.0.0.1, and is otherwise good: the right CA's
    with PostgresProxy(host="127.0.0.2", tls=True) as proxy:
        engine = billing_db.create_database_engine(
            _through(proxy, database_url, host="127.0.0.2"), ca_bundle=_bundle(tmp_path, proxy.ca_pem)
        )
        try:
            with pytest.raises(Exception) as refused:
                engine.connect()
        finally:
            engine.dispose()

    refusal = _refusal(refused.value)
    assert refusal is not None and "mismatch" in refusal.verify_message
    assert [(c.tls, c.bytes_to_server) for c in proxy.connections] == [(False, 0)]


def test_without_a_ca_bundle_a_server_offering_tls_is_used_over_tls(database_url, tls_proxy) -> None:
    engine = billing_db.create_database_engine(_through(tls_proxy, database_url))
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT 1").scalar_one() == 1
    finally:
        engine.dispose()
    tls_proxy.stop()
    assert [connection.tls for connection in tls_proxy.connections] == [True]  # its certificate unverified


def test_sessions_run_in_utc_whatever_the_database_default(database_url) -> None:
    url = create_database(f"tz_{os.getpid()}")
    try:
        with create_engine(SERVER_URL, isolation_level="AUTOCOMMIT").connect() as server:
            server.exec_driver_sql(f'ALTER DATABASE "{make_url(url).database}" SET timezone TO \'Asia/Kolkata\'')
        plain, ours = create_engine(url), billing_db.create_database_engine(url)
        try:
            with plain.connect() as conn:
                assert conn.exec_driver_sql("SHOW TimeZone").scalar_one() == "Asia/Kolkata"  # the database default
            with ours.connect() as conn:
                assert conn.exec_driver_sql("SHOW TimeZone").scalar_one() == "UTC"
                formatted = conn.execute(select(iso_utc(literal(datetime(2025, 1, 1, 23, 30, tzinfo=UTC)))))
                assert formatted.scalar_one() == "2025-01-01T23:30:00.000Z"
        finally:
            plain.dispose()
            ours.dispose()
    finally:
        drop_database(url)


# ----- a connection that dies as a request starts (issue 9, case 8) ---------------------------------------------


@pytest.fixture
def ended_at_checkout(database_url: str) -> Iterator[Callable[[int], list[int]]]:
    """Make the server end the session of the next `times` pooled connections the layer checks out, right after the
    pool's own check found them fine and before the request's first statement: pg_terminate_backend from another
    connection on the backend pg_stat_activity names for the layer's connections (their application_name), then
    waiting until the backend is gone (its goodbye is on the wire by then, unread)."""
    application = f"billing_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    remaining = {"times": 0}
    ended: list[int] = []

    def end_it(_dbapi_connection: object, _record: object, _proxy: object) -> None:
        if remaining["times"] <= 0:
            return
        remaining["times"] -= 1
        with admin.connect() as conn:
            (pid,) = conn.exec_driver_sql("SELECT pid FROM pg_stat_activity WHERE application_name = %s",
                                          (application,)).scalars()
            conn.exec_driver_sql("SELECT pg_terminate_backend(%s)", (pid,))
            deadline = time.monotonic() + 10
            while conn.exec_driver_sql("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)).scalar_one():
                assert time.monotonic() < deadline
                time.sleep(0.005)
        ended.append(pid)

    def arm(times: int = 1) -> list[int]:
        remaining["times"] = times
        event.listen(billing_db.engine(), "checkout", end_it)
        return ended

    with new_container(DATABASE_URL=f"{database_url}?application_name={application}"):
        yield arm
        if ended or remaining["times"]:
            event.remove(billing_db.engine(), "checkout", end_it)
    admin.dispose()


def test_a_connection_ended_just_before_the_first_statement_is_replaced_and_the_request_succeeds(
    world, api, ended_at_checkout, caplog
) -> None:
    acme = world.company()
    alice = world.contact(acme)
    world.invoice(acme)
    assert api.list_invoices(alice)[0] == 200  # warm: the pooled connection was used a moment ago (no ping)
    ended = ended_at_checkout(1)

    status, body = api.list_invoices(alice)

    assert status == 200 and len(body["invoices"]) == 1
    assert len(ended) == 1
    assert backend_pid() != ended[0]
    assert "database connection ended by the server before the first statement; replaced" in caplog.text


def test_a_webhook_whose_connection_ends_as_it_starts_is_applied_once(
    payment_not_yet_recorded, api, db, ended_at_checkout
) -> None:
    invoice_id, completed = payment_not_yet_recorded
    ended_at_checkout(1)

    assert api.deliver(completed) == (200, {"received": True, "outcome": "paid"})
    assert db('SELECT outcome FROM "StripeEvent"') == [{"outcome": "paid"}]
    assert db('SELECT status FROM "Invoice" WHERE id = :id', id=invoice_id) == [{"status": "paid"}]


def test_it_is_retried_once_only(world, api, ended_at_checkout) -> None:
    alice = world.contact(world.company())
    assert api.list_invoices(alice)[0] == 200
    ended = ended_at_checkout(2)  # the fresh connection ends too: the database is not serving

    assert api.list_invoices(alice)[0] == 503
    assert len(ended) == 2
    assert api.list_invoices(alice)[0] == 200  # and the next request is served
