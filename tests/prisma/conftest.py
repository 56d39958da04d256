"""Fixtures of the tests on a database Prisma built: the portal's tables as Prisma makes them (double precision
"amount", timestamp(3) without time zone, "updatedAt" without a default), adopted with `alembic upgrade head`,
in a server whose default time zone is 14 hours from UTC.

The functions (imported once per process, as everywhere in the suite) read DATABASE_URL again for each module
here and open a new engine, as a new container would start; the suite's own database is theirs again afterwards.
Shared fixtures are used by name only (`functions`, `stripe_double`, `api`, `db`); the portal's rows are written
by `PortalRows`, as the portal's Prisma Client writes them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, delete, text

from billing import db as layer_db
from billing import settings as layer_settings
from billing.db import create_database_engine
from billing.schema import metadata
from tests.prisma.portal import PortalRows, Query, alembic_upgrade_head, create_portal_database, drop_database


@pytest.fixture(scope="module")
def portal_database_url() -> Iterator[str]:
    """A database Prisma built for the portal, then adopted with the README's `alembic upgrade head`."""
    url = create_portal_database(f"billing_prisma_{uuid.uuid4().hex[:12]}")
    adopted = alembic_upgrade_head(url)
    assert adopted.returncode == 0, adopted.stderr
    yield url
    drop_database(url)


@pytest.fixture(scope="module", autouse=True)
def layer_on_the_portal_database(portal_database_url: str, service_environment: None,
                                 functions: object) -> Iterator[None]:
    previous = os.environ["DATABASE_URL"]
    os.environ["DATABASE_URL"] = portal_database_url
    layer_settings.configure()
    layer_db.dispose()
    yield
    os.environ["DATABASE_URL"] = previous
    layer_settings.configure()
    layer_db.dispose()


@pytest.fixture(scope="module")
def db_engine(portal_database_url: str) -> Iterator[Engine]:
    """The layer's kind of engine (sessions in UTC): what the tests read is what the functions read."""
    engine = create_database_engine(portal_database_url)
    yield engine
    engine.dispose()


@pytest.fixture(autouse=True)
def clean_state(db_engine: Engine, stripe_double: object) -> Iterator[None]:
    with db_engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(delete(table))
    stripe_double.reset()  # type: ignore[attr-defined]
    yield


@pytest.fixture
def portal(db_engine: Engine) -> PortalRows:
    return PortalRows(db_engine)


@pytest.fixture(scope="module")
def server_zone_engine(portal_database_url: str) -> Iterator[Engine]:
    """A plain engine, its sessions in the server's default zone (UTC+14), as any other client of the database:
    what a timestamp column holds, read as it is stored (a zone-less one as a naive datetime)."""
    engine = create_engine(portal_database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def stored(server_zone_engine: Engine) -> Query:
    """Rows as stored, read by another client of the database (server_zone_engine)."""

    def query(sql: str, **params: object) -> list[dict[str, Any]]:
        with server_zone_engine.connect() as conn:
            return [dict(row) for row in conn.execute(text(sql), params).mappings()]

    return query
