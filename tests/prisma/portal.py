"""The portal's database as a Prisma portal builds it, for the tests.

`tests/prisma/portal_schema.sql` is what the Prisma CLI generates for `tests/prisma/portal_schema/schema.prisma`
(`prisma migrate diff --from-empty --to-schema-datamodel ... --script`; tests/prisma/cli checks it is still that),
committed so that these tests need no npm. Every database here has a default time zone 14 hours from UTC: a
timestamp written or read in the server's zone instead of UTC would be half a day off.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url

from harness.database import ROOT, create_empty_database, drop_database

HERE = Path(__file__).resolve().parent
PORTAL_SCHEMA_SQL = HERE / "portal_schema.sql"
SERVER_TIME_ZONE = "Pacific/Kiritimati"  # UTC+14
PORTAL_TABLE_NAMES = ("Company", "Contact", "Proposal", "Invoice")


def create_database(name: str, schema_sql: str | None = None) -> str:
    """A new database (default time zone SERVER_TIME_ZONE), with `schema_sql` run in it; its URL."""
    url = create_empty_database(name, time_zone=SERVER_TIME_ZONE)
    if schema_sql is not None:
        run_script(url, schema_sql)
    return url


def create_portal_database(name: str) -> str:
    """A database built from the SQL Prisma generates for the portal's schema, as a portal has it before this
    project is pointed at it."""
    return create_database(name, PORTAL_SCHEMA_SQL.read_text())


@contextmanager
def adopted(url: str) -> Iterator[str]:
    """The database at `url` after the README's `alembic upgrade head`; dropped afterwards (and if that fails)."""
    try:
        upgrade = alembic_upgrade_head(url)
        assert upgrade.returncode == 0, upgrade.stderr
        yield url
    finally:
        drop_database(url)


def run_script(url: str, sql: str) -> None:
    """Run a script of several statements as psql would (PostgreSQL's simple query protocol), in one transaction."""
    engine = create_engine(url)
    raw = engine.raw_connection()
    try:
        raw.driver_connection.execute_simple(f"BEGIN; {sql}; COMMIT;")  # type: ignore[union-attr]
    finally:
        raw.close()
        engine.dispose()


def alembic_upgrade_head(url: str) -> subprocess.CompletedProcess[str]:
    """The README's migration command, `DATABASE_URL=... alembic upgrade head`, run as a user runs it."""
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def table_names(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def alembic_head() -> str:
    """The revision `alembic upgrade head` brings a database to."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    return str(ScriptDirectory.from_config(Config(str(ROOT / "alembic.ini"))).get_current_head())


def libpq_url(url: str) -> str:
    """The URL as libpq and node-postgres take it (no SQLAlchemy driver name)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def schema_dump(url: str, *tables: str) -> str:
    """`pg_dump --schema-only` of the database (or of `tables` only), without the random key of its \\restrict
    lines (pg_dump 15.14 and later), so that two dumps of the same schema are equal."""
    names = [argument for table in tables for argument in ("-t", f'public."{table}"')]
    dump = subprocess.run(["pg_dump", "--schema-only", "--no-owner", "--no-privileges", *names, libpq_url(url)],
                          capture_output=True, text=True, timeout=60, check=True).stdout
    return re.sub(r"^\\(un)?restrict .*$", "", dump, flags=re.MULTILINE)


def without_the_staff_indexes(dump: str) -> str:
    """A schema dump without the indexes 0005_staff_side builds on the portal's "Invoice" (billing/adoption.py's
    PORTAL_INVOICE_INDEXES, the one change the adoption makes to a portal table), and the names of those it held."""
    from billing.adoption import PORTAL_INVOICE_INDEXES

    names = {str(index.name) for index in PORTAL_INVOICE_INDEXES}
    blocks = dump.split("\n--\n-- Name: ")
    kept = [block for block in blocks if block.split(";", 1)[0] not in names]
    return "\n--\n-- Name: ".join(kept)


# A query the tests run: SQL and its parameters in, rows as dicts out (the `db` and `stored` fixtures).
Query = Callable[..., list[dict[str, Any]]]

_numbers = itertools.count(1)


def prisma_now() -> datetime:
    """A time as Prisma Client writes it into a `timestamp(3)` column: UTC, to the millisecond, without a zone."""
    now = datetime.now(UTC).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


@dataclass(frozen=True)
class PortalCompany:
    id: str
    proposal_id: str


@dataclass(frozen=True)
class PortalContact:
    id: str
    uid: str  # the Firebase uid (tests/support/api.py signs its tokens for contact.uid)
    company_id: str


class PortalRows:
    """Rows written the way the portal's Prisma Client writes them: every column its schema requires, times in
    UTC without a zone (Prisma's convention), amounts as JavaScript numbers (doubles)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _insert(self, table: str, **values: object) -> None:
        columns = ", ".join(f'"{name}"' for name in values)
        placeholders = ", ".join(f":{name}" for name in values)
        with self.engine.begin() as conn:
            conn.execute(text(f'INSERT INTO "{table}" ({columns}) VALUES ({placeholders})'), values)

    def company(self, name: str = "Acme") -> PortalCompany:
        n, now = next(_numbers), prisma_now()
        company = PortalCompany(f"cmpco{n:08d}", f"cmppr{n:08d}")
        self._insert("Company", id=company.id, name=name, createdAt=now, updatedAt=now)
        self._insert("Proposal", id=company.proposal_id, companyId=company.id, title="Website", createdAt=now,
                     updatedAt=now)
        return company

    def contact(self, company: PortalCompany) -> PortalContact:
        n, now = next(_numbers), prisma_now()
        contact = PortalContact(f"cmpct{n:08d}", f"firebase-uid-{n}", company.id)
        self._insert("Contact", id=contact.id, firebaseUid=contact.uid, email=f"contact{n}@example.test",
                     firstName="Test", contactCompanyId=company.id, createdAt=now, updatedAt=now)
        return contact

    def invoice(self, company: PortalCompany, amount: str = "500.00", currency: str = "USD",
                due: datetime | None = None) -> str:
        n, now = next(_numbers), prisma_now()
        invoice_id = f"cmpin{n:08d}"
        self._insert("Invoice", id=invoice_id, proposalId=company.proposal_id, invoiceNumber=f"INV-2026-{n:04d}",
                     amount=float(amount), currency=currency, description="Phase 1", status="pending",
                     dueDate=due, createdAt=now, updatedAt=now)
        return invoice_id
