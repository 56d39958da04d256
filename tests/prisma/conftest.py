"""Fixtures of the tests on the portal's database as Prisma builds it: double precision "amount", timestamp(3)
without time zone, "updatedAt" without a default, in a server whose default time zone is 14 hours from UTC.

A module marked `pytest.mark.engines("prisma")` gets that database from the suite's `database` fixture
(tests/conftest.py: `prisma_database_url`, adopted with `alembic upgrade head`), the functions and `db`/`db_engine`
on it; the portal's rows are written by `PortalRows`, as the portal's Prisma Client writes them.
`engines("prisma_cli")` is the same database built by the Prisma CLI itself (`prisma_cli_database_url`, npm: `-m
prisma`, make test-prisma).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text

from tests.conftest import Database
from tests.prisma.cli.prisma_cli import PORTAL_SCHEMA, database_built_by_prisma, generated_sql
from tests.prisma.portal import PortalRows, Query, adopted


@pytest.fixture(scope="session")
def prismas_portal_sql(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The SQL the Prisma CLI generates now for the portal's schema (tests/prisma/portal_schema)."""
    path = tmp_path_factory.mktemp("prisma") / "portal_schema.sql"
    path.write_text(generated_sql(PORTAL_SCHEMA))
    return path


@pytest.fixture(scope="module")
def prisma_cli_database_url(prismas_portal_sql: Path) -> Iterator[str]:
    """The portal's database as the Prisma CLI builds it (`prisma migrate diff ... --script`, then `prisma db
    execute`), adopted with `alembic upgrade head`: the database of `engines("prisma_cli")`."""
    with adopted(database_built_by_prisma(prismas_portal_sql)) as url:
        yield url


@pytest.fixture
def portal(db_engine: Engine) -> PortalRows:
    return PortalRows(db_engine)


@pytest.fixture(scope="module")
def server_zone_engine(database: Database) -> Iterator[Engine]:
    """A plain engine, its sessions in the server's default zone (UTC+14), as any other client of the database:
    what a timestamp column holds, read as it is stored (a zone-less one as a naive datetime)."""
    engine = create_engine(database.url)
    yield engine
    engine.dispose()


@pytest.fixture
def stored(server_zone_engine: Engine) -> Query:
    """Rows as stored, read by another client of the database (server_zone_engine)."""

    def query(sql: str, **params: object) -> list[dict[str, Any]]:
        with server_zone_engine.connect() as conn:
            return [dict(row) for row in conn.execute(text(sql), params).mappings()]

    return query
