"""`alembic upgrade head` builds exactly the tables billing.schema describes, and the portal's rows fit."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from billing.schema import metadata


def test_migrations_match_the_schema_module(db_engine) -> None:
    with db_engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    assert differences == []


def test_an_invoice_row_needs_only_the_seed_columns(db) -> None:
    db('INSERT INTO "Company" (id) VALUES (\'c\')')
    db('INSERT INTO "Proposal" (id, "companyId") VALUES (\'p\', \'c\')')
    db('INSERT INTO "Invoice" (id, "proposalId", "invoiceNumber", amount) VALUES (\'i\', \'p\', \'INV-1\', 500.00)')
    (row,) = db('SELECT status, currency, "createdAt", "updatedAt" FROM "Invoice"')
    assert row["status"] == "pending" and row["currency"] == "USD"
    assert row["createdAt"] is not None and row["updatedAt"] is not None
