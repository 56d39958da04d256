"""The README's `alembic upgrade head` makes a database ready, whichever it is: the portal's (Prisma built its
tables), an empty one, one migrated by an earlier version of this project; and a second run changes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.util import CommandError
from sqlalchemy import create_engine, inspect, text

from billing.adoption import PORTAL_INVOICE_INDEXES, PORTAL_TABLES, PROJECT_TABLES, tables_present
from billing.schema import metadata
from harness.database import ROOT, drop_database
from tests.prisma.portal import (
    PORTAL_SCHEMA_SQL,
    PORTAL_TABLE_NAMES,
    alembic_head,
    alembic_upgrade_head,
    create_database,
    run_script,
    schema_dump,
    table_names,
    without_the_staff_indexes,
)

HEAD = alembic_head()
SCHEMA_AT_0003 = Path(__file__).with_name("fixtures") / "schema_at_0003.sql"


@pytest.fixture
def new_database() -> Iterator[str]:
    """An empty database; each test builds in it what it needs."""
    url = create_database(f"billing_adopt_{uuid.uuid4().hex[:12]}")
    yield url
    drop_database(url)


def scalar(url: str, sql: str) -> object:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).scalar()
    finally:
        engine.dispose()


def differences_from_the_schema(url: str) -> list[object]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(compare_metadata(MigrationContext.configure(conn), metadata))
    finally:
        engine.dispose()


def test_on_the_portals_database_it_creates_only_the_projects_tables(new_database: str) -> None:
    run_script(new_database, PORTAL_SCHEMA_SQL.read_text())
    portal_before = schema_dump(new_database, *PORTAL_TABLE_NAMES)

    adopted = alembic_upgrade_head(new_database)

    assert adopted.returncode == 0, adopted.stderr
    assert ('The portal\'s tables "Company", "Contact", "Proposal", "Invoice" are in place with the columns this '
            "project needs: adopted as they are") in adopted.stderr
    assert f"-> {HEAD}," in adopted.stderr
    assert table_names(new_database) == {*PORTAL_TABLE_NAMES, *(t.name for t in PROJECT_TABLES), "alembic_version"}
    # not one constraint, trigger or index but the staff listing's indexes on "Invoice", built concurrently
    portal_after = schema_dump(new_database, *PORTAL_TABLE_NAMES)
    assert without_the_staff_indexes(portal_after) == portal_before
    for index in PORTAL_INVOICE_INDEXES:
        assert f'CREATE INDEX "{index.name}" ON public."Invoice"' in portal_after
    assert scalar(new_database, "SELECT version_num FROM alembic_version") == HEAD


def test_a_second_run_changes_nothing(new_database: str) -> None:
    run_script(new_database, PORTAL_SCHEMA_SQL.read_text())
    assert alembic_upgrade_head(new_database).returncode == 0
    everything_before = schema_dump(new_database)

    again = alembic_upgrade_head(new_database)

    assert again.returncode == 0, again.stderr
    assert "Running upgrade" not in again.stderr
    assert schema_dump(new_database) == everything_before


def test_the_adoption_takes_no_lock_on_the_portals_tables(new_database: str) -> None:
    run_script(new_database, PORTAL_SCHEMA_SQL.read_text())
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["configure_logger"] = False
    engine = create_engine(new_database)
    portal = [f'"{name}"' for name in PORTAL_TABLE_NAMES]
    try:
        with engine.connect() as conn, conn.begin():
            config.attributes["connection"] = conn
            # in the transaction of `conn`, still open: its locks are still held. (0005_staff_side builds its
            # indexes on "Invoice" CONCURRENTLY, outside any transaction: it refuses to run inside the caller's, below.)
            command.upgrade(config, "0004_portal_adoption")
            held = conn.execute(text(
                "SELECT DISTINCT relation::regclass::text FROM pg_locks "
                "WHERE pid = pg_backend_pid() AND relation = ANY(CAST(:tables AS regclass[]))"
            ), {"tables": portal}).scalars().all()
            ours = conn.execute(text("SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() "
                                     "AND relation = CAST('\"CheckoutSession\"' AS regclass)")).scalar()
    finally:
        engine.dispose()

    assert ours  # the locks of the migration's transaction are the ones looked at
    assert held == []


def test_the_staff_indexes_are_not_built_inside_a_transaction_the_caller_holds(new_database: str) -> None:
    run_script(new_database, PORTAL_SCHEMA_SQL.read_text())
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["configure_logger"] = False
    engine = create_engine(new_database)
    try:
        with engine.connect() as conn, conn.begin():
            config.attributes["connection"] = conn
            with pytest.raises(CommandError, match="CONCURRENTLY"):
                command.upgrade(config, "head")
    finally:
        engine.dispose()
    assert "CREATE INDEX \"Invoice_createdAt_id_idx\"" not in schema_dump(new_database, "Invoice")


def test_missing_columns_are_named_and_nothing_is_changed(new_database: str) -> None:
    run_script(new_database, PORTAL_SCHEMA_SQL.read_text()
               + 'ALTER TABLE "Contact" DROP COLUMN "firebaseUid";'
               + 'ALTER TABLE "Invoice" DROP COLUMN "paidByContactId";'
               + 'ALTER TABLE "Invoice" ALTER COLUMN "dueDate" TYPE text;')

    refused = alembic_upgrade_head(new_database)

    assert refused.returncode != 0
    assert 'column "Contact"."firebaseUid" is missing' in refused.stderr
    assert 'column "Invoice"."paidByContactId" is missing' in refused.stderr
    assert 'column "Invoice"."dueDate" is TEXT, which the code cannot read as a timestamp' in refused.stderr
    assert "Traceback" not in refused.stderr
    assert table_names(new_database) == set(PORTAL_TABLE_NAMES)  # not even alembic_version


def test_a_database_with_only_some_of_the_portals_tables_is_refused(new_database: str) -> None:
    run_script(new_database, 'CREATE TABLE "Company" (id text PRIMARY KEY, name text NOT NULL)')

    refused = alembic_upgrade_head(new_database)

    assert refused.returncode != 0
    assert 'table "Contact" is missing' in refused.stderr and 'table "Invoice" is missing' in refused.stderr
    assert table_names(new_database) == {"Company"}


def test_a_table_of_the_projects_name_that_is_not_the_projects_is_refused(new_database: str) -> None:
    run_script(new_database, PORTAL_SCHEMA_SQL.read_text() + 'CREATE TABLE "StripeEvent" (id text PRIMARY KEY);')

    refused = alembic_upgrade_head(new_database)

    assert refused.returncode != 0
    assert 'the database already has "StripeEvent", which this project would create' in refused.stderr


def test_on_an_empty_database_it_creates_everything(new_database: str) -> None:
    created = alembic_upgrade_head(new_database)

    assert created.returncode == 0, created.stderr
    assert "adopted" not in created.stderr
    assert differences_from_the_schema(new_database) == []
    checks = scalar(new_database, "SELECT count(*) FROM pg_constraint WHERE contype = 'c' "
                                  "AND conrelid = CAST('\"Invoice\"' AS regclass)")
    assert checks == 2  # Invoice_amount_positive, Invoice_status_valid: on the portal's tables only where made here


def test_a_database_migrated_to_0003_upgrades_and_loses_its_foreign_keys_into_the_portals_tables(
        new_database: str) -> None:
    run_script(new_database, SCHEMA_AT_0003.read_text() + """
        SELECT pg_catalog.set_config('search_path', 'public', false);
        INSERT INTO alembic_version VALUES ('0003_money_safety');
        INSERT INTO "Company" (id) VALUES ('co'); INSERT INTO "Proposal" (id, "companyId") VALUES ('pr', 'co');
        INSERT INTO "Contact" (id, "contactCompanyId") VALUES ('ct', 'co');
        INSERT INTO "Invoice" (id, "proposalId", "invoiceNumber", amount) VALUES ('inv', 'pr', 'INV-1', 500);
        INSERT INTO "StripeCustomer" ("contactId", "stripeCustomerId") VALUES ('ct', 'cus_1');
        INSERT INTO "CheckoutSession" (id, "invoiceId", "contactId", "amountMinor", currency, "idempotencyKey")
            VALUES ('cs_1', 'inv', 'ct', 50000, 'USD', 'key-1');
    """)
    engine = create_engine(new_database)
    with engine.connect() as conn:
        keys_before = {t.name: inspect(conn).get_foreign_keys(t.name) for t in tables_present(inspect(conn),
                                                                                             PROJECT_TABLES)}
    engine.dispose()
    assert any(keys_before.values())  # the fixture is the schema of that time

    upgraded = alembic_upgrade_head(new_database)

    assert upgraded.returncode == 0, upgraded.stderr
    assert "0003_money_safety -> 0004_portal_adoption" in upgraded.stderr and f"-> {HEAD}," in upgraded.stderr
    assert scalar(new_database, "SELECT version_num FROM alembic_version") == HEAD
    assert differences_from_the_schema(new_database) == []
    portal = {table.name for table in PORTAL_TABLES}
    engine = create_engine(new_database)
    with engine.begin() as conn:
        assert not [fk for t in PROJECT_TABLES for fk in inspect(conn).get_foreign_keys(t.name)
                    if fk["referred_table"] in portal]
        assert conn.execute(text('SELECT "invoiceId" FROM "CheckoutSession"')).scalar() == "inv"
        conn.execute(text("""DELETE FROM "Contact" WHERE id = 'ct'"""))  # the portal's delete, refused before
    engine.dispose()


def test_the_upgrade_never_waits_long_for_a_lock_on_the_portals_tables_and_succeeds_when_run_again(
        new_database: str) -> None:
    """Found: dropping a foreign key takes an ACCESS EXCLUSIVE lock on the table it references, here the portal's
    "Contact" and "Invoice". Behind a portal transaction still open on "Contact", the upgrade waited without end,
    and every query of the portal on "Contact" queued behind it."""
    run_script(new_database, SCHEMA_AT_0003.read_text() + """
        SELECT pg_catalog.set_config('search_path', 'public', false);
        INSERT INTO alembic_version VALUES ('0003_money_safety');""")  # an earlier version's database
    schema_before = schema_dump(new_database)
    assert "StripeCustomer_contactId_fkey" in schema_before  # a foreign key into "Contact" to drop
    portal = create_engine(new_database)
    try:
        # Given a transaction of the portal that has read "Contact" and is still open (it holds ACCESS SHARE)
        with portal.connect() as holder:
            holder.begin()
            holder.execute(text('SELECT count(*) FROM "Contact"'))

            # When the operator upgrades meanwhile (a wait without end would be a timeout of the subprocess)
            refused = alembic_upgrade_head(new_database)

            # Then it stops by itself while the lock is still held, says why and what to do, and changed nothing
            assert holder.execute(text("SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() "
                                       """AND relation = CAST('"Contact"' AS regclass)""")).scalar() == 1
            holder.rollback()
    finally:
        portal.dispose()
    assert refused.returncode != 0
    assert "Traceback" not in refused.stderr
    assert 'foreign keys into the portal\'s "Contact"' in refused.stderr
    assert "nothing was changed. Run `alembic upgrade head` again" in refused.stderr
    assert scalar(new_database, "SELECT version_num FROM alembic_version") == "0003_money_safety"
    assert schema_dump(new_database) == schema_before  # its foreign keys included

    # And run again once the portal's transaction has ended, it succeeds
    retried = alembic_upgrade_head(new_database)

    assert retried.returncode == 0, retried.stderr
    assert scalar(new_database, "SELECT version_num FROM alembic_version") == HEAD
    assert differences_from_the_schema(new_database) == []
