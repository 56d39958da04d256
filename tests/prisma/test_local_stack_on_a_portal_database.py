"""`make seed` and `make dev` pointed (DATABASE_URL) at a portal's database: no demo rows among real ones unless
asked, every NOT NULL column written by the seed itself, and a database that does not exist named with the
`createdb` to run."""

from __future__ import annotations

import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from harness.database import ROOT
from local import seed
from tests.conftest import Database
from tests.prisma.portal import PortalRows, Query
from tests.support.dev_stack import stack_environment

pytestmark = pytest.mark.engines("prisma")


def run_seed(url: str, state_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "local.seed", *args], cwd=ROOT, capture_output=True, text=True,
                          env=stack_environment(state_dir, url), timeout=120, check=False)


def demo_rows(stored: Query) -> int:
    return sum(len(stored(f'SELECT id FROM "{table}" WHERE id LIKE :demo', demo=f"{prefix}%"))
               for table, prefix in zip(("Company", "Proposal", "Contact", "Invoice"), seed.DEMO_ID_PREFIXES,
                                        strict=True))


@pytest.fixture
def missing_database_url(database: Database) -> str:
    return make_url(database.url).set(database=f"billing_missing_{uuid.uuid4().hex[:8]}").render_as_string(
        hide_password=False)


def test_the_seed_inserts_no_demo_rows_into_a_database_holding_real_ones(
        portal: PortalRows, database: Database, stored: Query, tmp_path: Path
) -> None:
    portal.invoice(portal.company("A real customer"))

    result = run_seed(database.url, tmp_path)

    assert result.returncode == 1
    assert result.stderr.strip() == (
        'seed: the database holds rows that are not demo data (in "Company", "Proposal", "Invoice"): no demo rows '
        "inserted. To insert them beside those rows all the same: ARGS=--insert-demo-rows")
    assert demo_rows(stored) == 0


def test_asked_explicitly_it_seeds_and_writes_every_not_null_column_itself(
        portal: PortalRows, database: Database, stored: Query, tmp_path: Path
) -> None:
    portal.company("A real customer")

    result = run_seed(database.url, tmp_path, "--insert-demo-rows")

    assert result.returncode == 0, result.stderr
    assert demo_rows(stored) == len(seed.COMPANIES) + len(seed.PROPOSALS) + len(seed.CONTACTS) + len(seed.INVOICES)
    now = datetime.now(UTC).replace(tzinfo=None)
    for table in ("Company", "Proposal", "Contact", "Invoice"):  # Prisma gives "updatedAt" no default; the
        for row in stored(f'SELECT "createdAt", "updatedAt" FROM "{table}" WHERE id LIKE \'%\\_demo\\_%\''):
            # Contact's "createdAt" has none either. Both in UTC, not in the server's zone (UTC+14)
            assert abs(row["createdAt"] - now) < timedelta(minutes=1) and row["updatedAt"] == row["createdAt"]
    (usd,) = stored("""SELECT amount, currency, status FROM "Invoice" WHERE id = 'inv_demo_usd'""")
    assert usd == {"amount": 500.0, "currency": "USD", "status": "pending"}


def test_again_on_demo_rows_alone_it_resets_them_without_being_asked(
        database: Database, stored: Query, tmp_path: Path
) -> None:
    assert run_seed(database.url, tmp_path, "--insert-demo-rows").returncode == 0

    again = run_seed(database.url, tmp_path)

    assert again.returncode == 0, again.stderr
    assert len(stored('SELECT id FROM "Invoice"')) == len(seed.INVOICES)


def test_a_not_null_column_of_the_portals_own_is_named_and_nothing_written(
        database: Database, stored: Query, db_engine: Engine, tmp_path: Path
) -> None:
    with db_engine.begin() as conn:
        conn.exec_driver_sql('ALTER TABLE "Contact" ADD COLUMN "locale" text NOT NULL')
    try:
        result = run_seed(database.url, tmp_path, "--insert-demo-rows")
    finally:
        with db_engine.begin() as conn:
            conn.exec_driver_sql('ALTER TABLE "Contact" DROP COLUMN "locale"')

    assert result.returncode == 1
    assert result.stderr.strip() == ('seed: NOT NULL columns without a default that the seed cannot fill: '
                                     '"Contact"."locale"; nothing was written')
    assert demo_rows(stored) == 0


def test_make_seed_names_the_createdb_for_a_database_that_does_not_exist(
        missing_database_url: str, tmp_path: Path
) -> None:
    result = run_seed(missing_database_url, tmp_path)

    name = make_url(missing_database_url).database
    assert result.returncode == 1
    assert result.stderr.strip() == (f"database '{name}' does not exist on 127.0.0.1:5432; create it with: "
                                     f"createdb -h 127.0.0.1 -p 5432 -U postgres {name}")


def test_make_dev_names_the_createdb_too_and_starts_nothing(missing_database_url: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "local.dev", "--api-port", "0", "--stripe-port", "0", "--no-portal"], cwd=ROOT,
        env=stack_environment(tmp_path, missing_database_url), capture_output=True, text=True,
        timeout=120, check=False)

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (message,) = result.stderr.strip().splitlines()
    assert message.endswith(f"createdb -h 127.0.0.1 -p 5432 -U postgres {make_url(missing_database_url).database}")
    assert not (tmp_path / "stack.json").exists()


@pytest.fixture
def dev_stack_output(portal: PortalRows, database: Database, tmp_path: Path) -> Iterator[str]:
    """`make dev` on the portal's database holding a real row: what it printed until its banner."""
    portal.company("A real customer")
    dev = subprocess.Popen(
        [sys.executable, "-m", "local.dev", "--api-port", "0", "--stripe-port", "0", "--no-portal"], cwd=ROOT,
        env=stack_environment(tmp_path, database.url), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, process_group=0)
    lines = []
    try:
        assert dev.stdout is not None
        for line in dev.stdout:
            lines.append(line)
            if "The whole flow, checked" in line or dev.poll() is not None:
                break
        yield "".join(lines)
    finally:
        dev.send_signal(signal.SIGINT)
        dev.wait(timeout=60)


def test_make_dev_runs_without_demo_rows_and_says_so(dev_stack_output: str, stored: Query) -> None:
    assert "dev  the database holds rows that are not demo data" in dev_stack_output
    assert "(migrated to head, no demo data inserted" in dev_stack_output
    assert demo_rows(stored) == 0
