"""The tests that run Prisma itself (`make test-prisma`): here the portal's database is built by the Prisma CLI
(`prisma migrate diff ... --script`, then `prisma db execute`), not from the committed SQL; the fixtures of
tests/prisma (the functions on that database, `portal`, `stored`) apply as they are."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.prisma.cli.prisma_cli import PORTAL_SCHEMA, database_built_by_prisma, generated_sql
from tests.prisma.portal import adopted


@pytest.fixture(scope="session")
def prismas_portal_sql(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The SQL the Prisma CLI generates now for the portal's schema (tests/prisma/portal_schema)."""
    path = tmp_path_factory.mktemp("prisma") / "portal_schema.sql"
    path.write_text(generated_sql(PORTAL_SCHEMA))
    return path


@pytest.fixture(scope="module")
def prisma_database_url(prismas_portal_sql: Path) -> Iterator[str]:
    """The portal's database as the Prisma CLI builds it, adopted with `alembic upgrade head` (in place of the
    suite's, tests/conftest.py, built from the committed SQL)."""
    with adopted(database_built_by_prisma(prismas_portal_sql)) as url:
        yield url
