"""The core payment flow tests again, against SQLite — the database `make dev` uses by default — so that the
embedded default cannot drift from PostgreSQL.

Each module here re-exports the tests of a PostgreSQL test module unchanged; the fixtures below point the
functions' layer at a fresh SQLite file migrated with `alembic upgrade head` (through the layer's own
`billing.settings.configure` and `billing.db.dispose`, as a new container would start), and give the tests'
own helpers (`db`, `world`, the per-test cleanup) the same database.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine, delete, insert

from billing import db as layer_db
from billing import settings as layer_settings
from billing.db import create_database_engine
from billing.schema import invoice, metadata
from harness.database import migrate
from harness.world import World, _numbers


@pytest.fixture(scope="module")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'billing.sqlite3'}"
    migrate(url)
    return url


@pytest.fixture(scope="module", autouse=True)
def layer_on_sqlite(sqlite_url: str, service_environment: None, functions: object) -> Iterator[None]:
    """The functions (already imported) read DATABASE_URL again and open a new engine: SQLite for this module,
    PostgreSQL again afterwards for the modules that follow in this process."""
    previous = os.environ["DATABASE_URL"]
    os.environ["DATABASE_URL"] = sqlite_url
    layer_settings.configure()
    layer_db.dispose()
    yield
    os.environ["DATABASE_URL"] = previous
    layer_settings.configure()
    layer_db.dispose()


@pytest.fixture(scope="module")
def db_engine(sqlite_url: str) -> Iterator[Engine]:
    engine = create_database_engine(sqlite_url)
    yield engine
    engine.dispose()


@pytest.fixture(autouse=True)
def clean_state(db_engine: Engine, stripe_double) -> Iterator[None]:
    with db_engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(delete(table))
    stripe_double.reset()
    yield


class SqliteWorld(World):
    """World, with the invoice written through the schema's column types: SQLite has no timestamptz to cast to
    and its driver no Decimal, so the plain SQL of World.invoice cannot run there. Same columns, same values."""

    def invoice(
        self, company, amount: str = "500.00", currency: str = "USD", status: str | None = None,
        due: str | None = None, description: str | None = "Phase 1",
    ) -> str:
        n = next(_numbers)
        invoice_id = f"inv_{n}"
        with self.engine.begin() as conn:
            conn.execute(insert(invoice).values(
                id=invoice_id, proposalId=company.proposal_id, invoiceNumber=f"INV-2025-{n:04d}",
                amount=Decimal(amount), currency=currency, description=description,
                dueDate=datetime.fromisoformat(due).astimezone(UTC) if due else None,
            ))
        if status:
            self._insert('UPDATE "Invoice" SET status = :status WHERE id = :id', status=status, id=invoice_id)
        return invoice_id


@pytest.fixture
def world(db_engine: Engine) -> World:
    return SqliteWorld(db_engine)
