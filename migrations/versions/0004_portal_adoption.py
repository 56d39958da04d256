"""No foreign key from our tables into the portal's.

The portal's deletes of contacts and invoices never fail because of our rows, and our records of payments
outlive them (billing/schema.py says why). Revisions 0001 to 0003 once created such foreign keys
("StripeCustomer"."contactId"; "invoiceId" of "CheckoutSession", "PaymentAdjustment", "UnappliedPayment");
databases built since have none, and this revision drops those of the databases built before.

On PostgreSQL, dropping a foreign key takes an ACCESS EXCLUSIVE lock on the table it references too (its
triggers live there): on a portal's database that an earlier version was pointed at, "Contact" and "Invoice".
Queued behind any open transaction of the portal on those tables, that request would stall every later query of
the portal on them for as long as it waits. So it waits at most `LOCK_TIMEOUT`; past that the upgrade stops, its
transaction rolls back (nothing changed) and the operator is told to run it again.

Revision ID: 0004_portal_adoption
Revises: 0003_money_safety
Create Date: 2026-11-30
"""

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op
from alembic.util import CommandError

from billing.adoption import PORTAL_TABLES, PROJECT_TABLES, tables_present

revision = "0004_portal_adoption"
down_revision = "0003_money_safety"
branch_labels = None
depends_on = None

# SQLite keeps these foreign keys without names: batch mode names them by this convention to drop them.
_SQLITE_NAMES = {"fk": "fk_%(table_name)s_%(column_0_name)s"}
# The longest the portal's queries on "Contact" or "Invoice" may queue behind this upgrade's lock request.
LOCK_TIMEOUT = "2s"
_LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE for a lock_timeout that expired


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    portal = {table.name for table in PORTAL_TABLES}
    for table in tables_present(inspector, PROJECT_TABLES):
        into_the_portal = [fk for fk in inspector.get_foreign_keys(table.name) if fk["referred_table"] in portal]
        if not into_the_portal:
            continue
        referenced = ", ".join(sorted({f'"{fk["referred_table"]}"' for fk in into_the_portal}))
        # (batch mode runs its statements as the inner block ends: the lock wait is bounded around all of it)
        with _short_lock_wait(bind, referenced), op.batch_alter_table(table.name,
                                                                      naming_convention=_SQLITE_NAMES) as batch:
            for fk in into_the_portal:
                name = fk["name"] or _SQLITE_NAMES["fk"] % {"table_name": table.name,
                                                             "column_0_name": fk["constrained_columns"][0]}
                batch.drop_constraint(name, type_="foreignkey")


@contextmanager
def _short_lock_wait(bind: sa.Connection, portal_tables: str) -> Iterator[None]:
    """On PostgreSQL, wait at most LOCK_TIMEOUT for the locks the statements inside take (for this transaction
    only, and put back after them); a lock not granted in time fails the upgrade with what to do."""
    if bind.dialect.name != "postgresql":  # SQLite: one writer at a time, no lock on another table to wait for
        yield
        return
    previous = bind.execute(sa.text("SELECT current_setting('lock_timeout')")).scalar_one()
    bind.execute(sa.text("SELECT set_config('lock_timeout', :value, true)"), {"value": LOCK_TIMEOUT})
    try:
        yield
    except sa.exc.DBAPIError as error:
        if _sqlstate(error) != _LOCK_NOT_AVAILABLE:
            raise
        raise CommandError(
            f"dropping this project's old foreign keys into the portal's {portal_tables} needs a short exclusive "
            f"lock there, and another transaction held a lock there for more than {LOCK_TIMEOUT}: the upgrade "
            "stopped so as not to stall the portal, and nothing was changed. Run `alembic upgrade head` again (at a "
            f"quieter time if it keeps happening; pg_locks and pg_stat_activity show what holds {portal_tables})."
        ) from None
    bind.execute(sa.text("SELECT set_config('lock_timeout', :value, true)"), {"value": previous})


def _sqlstate(error: sa.exc.DBAPIError) -> str | None:
    """The SQLSTATE of a database error: psycopg's `pgcode`, or pg8000's field "C" of its error's first argument."""
    orig = error.orig
    code = getattr(orig, "pgcode", None) or getattr(orig, "sqlstate", None)
    if code is None and orig is not None and orig.args and isinstance(orig.args[0], dict):
        code = orig.args[0].get("C")
    return code if isinstance(code, str) else None


def downgrade() -> None:
    """The foreign keys are not put back: that would make the portal's deletes fail again."""
