"""The portal's tables in Prisma naming (Company, Contact, Proposal, Invoice) and ours (StripeCustomer,
CheckoutSession, StripeEvent).

The portal's four tables are created only in a database that has none of them. In the portal's own database
(built by Prisma) they are adopted as they are: checked for the columns the code needs (billing/adoption.py),
never created, altered or locked; a database holding some of them but not all is refused, as is one already
holding a table of ours. Our tables hold no foreign key into the portal's (billing/schema.py says why); those
that earlier versions of this revision created are dropped by 0004_portal_adoption.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import logging
from datetime import datetime

import sqlalchemy as sa
from alembic import op
from alembic.util import CommandError
from sqlalchemy.dialects import postgresql

from billing.adoption import PORTAL_TABLES, PROJECT_TABLES, portal_table_problems, tables_present
from billing.types import ExactDecimal

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _timestamp(name: str, nullable: bool = True, default: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable,
                     server_default=sa.func.now() if default else None)


log = logging.getLogger("alembic.adoption")


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    ours = tables_present(inspector, PROJECT_TABLES)
    if ours:
        names = ", ".join(f'"{table.name}"' for table in ours)
        raise CommandError(f"the database already has {names}, which this project would create, but no record of "
                           "this project's migrations (alembic_version): another application's tables? Nothing "
                           "was changed.")
    if tables_present(inspector, PORTAL_TABLES):
        _adopt_the_portals_tables(inspector)
    else:
        _create_the_portals_tables()
    _create_our_tables()


def _adopt_the_portals_tables(inspector: sa.Inspector) -> None:
    problems = portal_table_problems(inspector)
    if problems:
        raise CommandError("the portal's tables lack what this project needs: " + "; ".join(problems)
                           + ". Nothing was changed.")
    names = ", ".join(f'"{table.name}"' for table in PORTAL_TABLES)
    log.info("The portal's tables %s are in place with the columns this project needs: adopted as they are "
             "(not created, altered or locked); creating this project's tables only", names)


def _create_the_portals_tables() -> None:
    op.create_table(
        "Company",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("name", sa.Text(), nullable=True),
    )
    op.create_table(
        "Contact",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("firebaseUid", sa.Text(), nullable=True, unique=True),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("contactCompanyId", sa.Text(), sa.ForeignKey("Company.id"), nullable=True),
    )
    op.create_table(
        "Proposal",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("companyId", sa.Text(), sa.ForeignKey("Company.id"), nullable=False),
    )
    op.create_index("Proposal_companyId_idx", "Proposal", ["companyId"])
    op.create_table(
        "Invoice",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("proposalId", sa.Text(), sa.ForeignKey("Proposal.id"), nullable=False),
        sa.Column("invoiceNumber", sa.Text(), nullable=False, unique=True),
        # NUMERIC on PostgreSQL; a canonical decimal string on SQLite (whose Numeric is a float).
        sa.Column("amount", ExactDecimal(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False, server_default=sa.text("'USD'")),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("paymentScheduleId", sa.Text(), nullable=True),
        sa.Column("week", sa.Integer(), nullable=True),
        sa.Column("trigger", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False, server_default=sa.text("'pending'")),
        sa.Column("stripeCheckoutSessionId", sa.Text(), nullable=True, unique=True),
        sa.Column("stripePaymentIntentId", sa.Text(), nullable=True, unique=True),
        sa.Column("stripeCustomerId", sa.Text(), nullable=True),
        sa.Column("paidByContactId", sa.Text(), nullable=True),
        _timestamp("dueDate"),
        _timestamp("paidAt"),
        _timestamp("createdAt", nullable=False, default=True),
        _timestamp("updatedAt", nullable=False, default=True),
        sa.CheckConstraint("amount > 0", name="Invoice_amount_positive"),
        sa.CheckConstraint(
            "status IN ('pending', 'processing', 'paid', 'failed', 'refunded')", name="Invoice_status_valid"
        ),
    )
    op.create_index("Invoice_proposalId_idx", "Invoice", ["proposalId"])
    op.create_index("Invoice_status_idx", "Invoice", ["status"])
    op.create_index("Invoice_dueDate_idx", "Invoice", ["dueDate"])


def _create_our_tables() -> None:
    op.create_table(
        "StripeCustomer",
        sa.Column("contactId", sa.Text(), primary_key=True),
        sa.Column("stripeCustomerId", sa.Text(), nullable=False, unique=True),
        _timestamp("createdAt", nullable=False, default=True),
    )
    op.create_table(
        "CheckoutSession",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("invoiceId", sa.Text(), nullable=False),
        sa.Column("contactId", sa.Text(), nullable=False),
        sa.Column("amountMinor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("idempotencyKey", sa.Text(), nullable=False, unique=True),
        _timestamp("createdAt", nullable=False, default=True),
    )
    op.create_index("CheckoutSession_invoiceId_idx", "CheckoutSession", ["invoiceId"])
    op.create_table(
        "StripeEvent",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("objectId", sa.Text(), nullable=True),
        sa.Column("invoiceId", sa.Text(), nullable=True),
        sa.Column("payload", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        _timestamp("receivedAt", nullable=False, default=True),
        _timestamp("processedAt"),
        sa.Column("outcome", sa.Text(), nullable=True),
    )
    op.create_index("StripeEvent_invoiceId_idx", "StripeEvent", ["invoiceId"])


def downgrade() -> None:
    """Drops our tables only. The portal's stay, whoever made them: they hold the portal's data, and an upgrade
    adopts them again."""
    for table in ("StripeEvent", "CheckoutSession", "StripeCustomer"):
        op.drop_table(table)
