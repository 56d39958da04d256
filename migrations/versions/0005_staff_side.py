"""The staff side: the audit log, invoice numbers, how each payment was made, `void`, the staff listing's indexes.

- "StaffAuditLog": every change a staff member made, written in the transaction of the change.
- "InvoiceNumberCounter": the last INV-YYYY-NNN number allocated per year (locked while allocating).
- "PaymentRecord": the payment method's summary and the receipt URL of each payment, recorded at fulfilment.
- "Invoice"."status" may be `void`: where this project created "Invoice" (its CHECK constraint
  "Invoice_status_valid" is there), the constraint is replaced (on PostgreSQL added NOT VALID, then validated,
  which scans without blocking writes). A portal's "Invoice" has no such constraint and is not altered.
- The staff listing's indexes on "Invoice" (billing/adoption.py's PORTAL_INVOICE_INDEXES), the one change the
  project makes to a portal's table: on PostgreSQL built CONCURRENTLY (outside the migration's transaction, no lock
  that blocks the portal's reads or writes), and IF NOT EXISTS, so a portal whose Prisma schema declares them
  already (prisma/billing.prisma says how) keeps its own.

Revision ID: 0005_staff_side
Revises: 0004_portal_adoption
Create Date: 2026-11-30
"""

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import op
from alembic.util import CommandError
from sqlalchemy.dialects import postgresql

from billing.adoption import PORTAL_INVOICE_INDEXES

revision = "0005_staff_side"
down_revision = "0004_portal_adoption"
branch_labels = None
depends_on = None

# Fixed here, as this revision wrote them: later revisions change them with migrations of their own.
_STATUSES_BEFORE = ("pending", "processing", "paid", "failed", "refunded")
_STATUSES = (*_STATUSES_BEFORE, "void")
_STATUS_CHECK = "Invoice_status_valid"


def _timestamp(name: str, nullable: bool = True, default: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable,
                     server_default=sa.func.now() if default else None)


def _one_of(values: tuple[str, ...]) -> str:
    return "status IN (" + ", ".join(f"'{value}'" for value in values) + ")"


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    _create_our_tables()
    _allow_void()
    _create_the_staff_listing_indexes()


def _create_our_tables() -> None:
    op.create_table(
        "StaffAuditLog",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("actorUid", sa.Text(), nullable=False),
        sa.Column("actorEmail", sa.Text(), nullable=True),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("entityType", sa.Text(), nullable=False),
        sa.Column("entityId", sa.Text(), nullable=False),
        sa.Column("before", _json(), nullable=True),
        sa.Column("after", _json(), nullable=True),
        _timestamp("createdAt", nullable=False, default=True),
    )
    op.create_index("StaffAuditLog_entityId_idx", "StaffAuditLog", ["entityId"])
    op.create_index("StaffAuditLog_createdAt_idx", "StaffAuditLog", ["createdAt"])
    op.create_table(
        "InvoiceNumberCounter",
        sa.Column("year", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("lastNumber", sa.Integer(), nullable=False),
        _timestamp("updatedAt", nullable=False, default=True),
    )
    op.create_table(
        "PaymentRecord",
        sa.Column("paymentIntentId", sa.Text(), primary_key=True),
        sa.Column("invoiceId", sa.Text(), nullable=True),
        sa.Column("chargeId", sa.Text(), nullable=True),
        sa.Column("methodType", sa.Text(), nullable=True),
        sa.Column("cardBrand", sa.Text(), nullable=True),
        sa.Column("last4", sa.Text(), nullable=True),
        sa.Column("receiptUrl", sa.Text(), nullable=True),
        _timestamp("createdAt", nullable=False, default=True),
    )
    op.create_index("PaymentRecord_invoiceId_idx", "PaymentRecord", ["invoiceId"])


def _has_status_check(bind: sa.Connection) -> bool:
    return any(check.get("name") == _STATUS_CHECK for check in sa.inspect(bind).get_check_constraints("Invoice"))


def _allow_void() -> None:
    bind = op.get_bind()
    if not _has_status_check(bind):
        return  # the portal's "Invoice": its status is free text, and it is not altered
    if bind.dialect.name == "postgresql":
        op.execute(f'ALTER TABLE "Invoice" DROP CONSTRAINT "{_STATUS_CHECK}", '
                   f'ADD CONSTRAINT "{_STATUS_CHECK}" CHECK ({_one_of(_STATUSES)}) NOT VALID')
        op.execute(f'ALTER TABLE "Invoice" VALIDATE CONSTRAINT "{_STATUS_CHECK}"')
        return
    with op.batch_alter_table("Invoice", recreate="always") as table:  # SQLite rebuilds the table
        table.drop_constraint(_STATUS_CHECK, type_="check")
        table.create_check_constraint(_STATUS_CHECK, _one_of(_STATUSES))


def _create_the_staff_listing_indexes() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        for index in PORTAL_INVOICE_INDEXES:
            op.execute(_create_index_sql(index, bind.dialect, concurrently=False))
        return
    context = op.get_context()
    if bind.in_transaction() and getattr(context, "_transaction", None) is None:
        # A transaction the caller began: CREATE INDEX CONCURRENTLY cannot run inside it, and a plain CREATE INDEX
        # would block the portal's writes to "Invoice" while it builds.
        raise CommandError('0005_staff_side builds indexes on "Invoice" CONCURRENTLY, which PostgreSQL cannot do '
                           "inside a transaction the caller began: run it on a connection of its own.")
    with context.autocommit_block():
        # Alembic reads the isolation level before switching to autocommit, and pg8000 opens a transaction for that
        # query: it is ended here (it holds nothing), or PostgreSQL would see the CONCURRENTLY inside it.
        op.execute("COMMIT")
        for index in PORTAL_INVOICE_INDEXES:
            op.execute(_create_index_sql(index, bind.dialect, concurrently=True))


def _create_index_sql(index: sa.Index, dialect: sa.Dialect, *, concurrently: bool) -> str:
    columns = ", ".join(str(sa.literal_column(expression) if isinstance(expression, str) else
                            expression.compile(dialect=dialect)).replace('"Invoice".', "")
                        for expression in index.expressions)
    return (f'CREATE INDEX {"CONCURRENTLY " if concurrently else ""}IF NOT EXISTS "{index.name}" '
            f'ON "Invoice" ({columns})')


def downgrade() -> None:
    """Our tables and indexes go; `void` invoices stay (they are the record of what staff did), so the old
    constraint is put back only when none exists."""
    bind = op.get_bind()
    for index in PORTAL_INVOICE_INDEXES:
        op.drop_index(str(index.name), "Invoice", if_exists=True)
    no_void = bind.execute(sa.text("SELECT count(*) FROM \"Invoice\" WHERE status = 'void'")).scalar() == 0
    if _has_status_check(bind) and no_void:
        with op.batch_alter_table("Invoice") as table:
            table.drop_constraint(_STATUS_CHECK, type_="check")
            table.create_check_constraint(_STATUS_CHECK, _one_of(_STATUSES_BEFORE))
    for table_name in ("PaymentRecord", "InvoiceNumberCounter", "StaffAuditLog"):
        op.drop_table(table_name)
