"""What a warm request says to PostgreSQL: no ping on a connection just used, the transaction ended in one round
trip, and a connection that may be dead is pinged (and replaced) before a request relies on it.

The spy records what pg8000 sends (it wraps pg8000's two ways of sending a statement and changes nothing)."""

from __future__ import annotations

import pytest
from pg8000.core import CoreConnection

from billing import db as billing_db


@pytest.fixture
def sent(monkeypatch) -> list[tuple[str, str]]:
    """(protocol, statement) of everything pg8000 sends: "simple" is one round trip, "extended" three."""
    seen: list[tuple[str, str]] = []
    simple, extended = CoreConnection.execute_simple, CoreConnection.execute_unnamed

    def spy_simple(self, statement, *args, **kwargs):
        seen.append(("simple", statement))
        return simple(self, statement, *args, **kwargs)

    def spy_extended(self, statement, *args, **kwargs):
        seen.append(("extended", " ".join(statement.split())[:40]))
        return extended(self, statement, *args, **kwargs)

    monkeypatch.setattr(CoreConnection, "execute_simple", spy_simple)
    monkeypatch.setattr(CoreConnection, "execute_unnamed", spy_extended)
    return seen


def test_a_warm_request_sends_its_statement_and_nothing_else(world, api, sent) -> None:
    acme = world.company()
    alice = world.contact(acme)
    world.invoice(acme)
    assert api.list_invoices(alice)[0] == 200  # the container is warm: its pool holds a connection
    sent.clear()

    assert api.list_invoices(alice)[0] == 200

    assert sent == [
        ("simple", "begin transaction"),
        ("extended", 'SELECT "Invoice".id, "Invoice"."proposal'),
        ("simple", "commit"),  # one round trip; pg8000's own commit takes three
    ]


def test_a_connection_idle_past_the_trusted_time_is_pinged_first(world, api, sent, monkeypatch) -> None:
    alice = world.contact(world.company())
    assert api.list_invoices(alice)[0] == 200
    monkeypatch.setattr(billing_db, "_TRUSTED_IDLE_SECONDS", 0.0)  # every connection has been idle too long
    sent.clear()

    assert api.list_invoices(alice)[0] == 200

    assert sent[:2] == [("simple", "begin transaction"), ("simple", ";")]  # SQLAlchemy's ping on PostgreSQL


def test_a_connection_cut_since_its_last_request_is_replaced_and_the_request_succeeds(world, api, db) -> None:
    acme = world.company()
    alice = world.contact(acme)
    world.invoice(acme)
    assert api.list_invoices(alice)[0] == 200
    with billing_db.transaction() as conn:
        old_backend = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    # The pooled connection's socket is cut at our end a moment after its last request (well within the time a
    # connection is trusted without a ping): reads see its end, writes fail.
    (record,) = list(billing_db.engine().pool._pool.queue)  # type: ignore[attr-defined]
    record.dbapi_connection._usock.shutdown(2)  # SHUT_RDWR

    status, body = api.list_invoices(alice)

    assert status == 200 and len(body["invoices"]) == 1
    with billing_db.transaction() as conn:
        assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() != old_backend
    db("SELECT pg_terminate_backend(:pid)", pid=old_backend)
