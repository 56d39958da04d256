"""The SQLite runs are real: the functions' own engine is SQLite, amounts stay exact, writes are serialised."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from sqlalchemy import select, text, update

from billing import db as layer_db
from billing.schema import invoice

pytestmark = pytest.mark.engines("sqlite")


def test_the_functions_use_the_sqlite_database(api, world) -> None:
    alice = world.contact(world.company())

    assert api.list_invoices(alice) == (200, {"invoices": []})
    assert layer_db.engine().dialect.name == "sqlite"


def test_amounts_are_stored_as_canonical_decimal_text_and_read_back_exact(world, db) -> None:
    acme = world.company()
    invoice_ids = [world.invoice(acme, amount) for amount in ("500.00", "0.10", "12.340", "1234567890123.45")]

    rows = db('SELECT amount, typeof(amount) AS kind FROM "Invoice" ORDER BY "invoiceNumber"')
    assert [(r["amount"], r["kind"]) for r in rows] == [
        ("500", "text"), ("0.1", "text"), ("12.34", "text"), ("1234567890123.45", "text")]
    with layer_db.transaction() as conn:
        amounts = [conn.scalar(select(invoice.c.amount).where(invoice.c.id == i)) for i in invoice_ids]
    assert amounts == [Decimal("500"), Decimal("0.1"), Decimal("12.34"), Decimal("1234567890123.45")]
    assert all(isinstance(a, Decimal) for a in amounts)


def test_an_amount_compares_equal_whatever_its_spelling(world) -> None:
    invoice_id = world.invoice(world.company(), "500.00")

    with layer_db.transaction() as conn:
        matched = conn.execute(
            update(invoice).where(invoice.c.id == invoice_id, invoice.c.amount == Decimal("5E+2"))
            .values(description="matched").returning(invoice.c.description)
        ).scalar()
    assert matched == "matched"


def test_a_transaction_holds_the_write_lock_from_its_start(world) -> None:
    # Given one transaction that has only read so far
    invoice_id = world.invoice(world.company())
    second_started = threading.Event()
    order: list[str] = []

    def second_writer() -> None:
        second_started.set()
        with layer_db.create_database_engine(str(layer_db.engine().url)).begin() as conn:
            order.append("second began")
            conn.execute(text('UPDATE "Invoice" SET description = \'second\' WHERE id = :id'), {"id": invoice_id})

    with layer_db.transaction() as conn:
        conn.execute(select(invoice.c.status).where(invoice.c.id == invoice_id))
        thread = threading.Thread(target=second_writer)
        thread.start()
        second_started.wait(5)
        thread.join(0.5)  # When another transaction begins meanwhile, it waits ...
        order.append("first committing")
    thread.join(10)

    # ... until the first has committed (PostgreSQL's row lock would do the same for a conflicting write)
    assert order == ["first committing", "second began"]
