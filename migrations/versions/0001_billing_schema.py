"""The portal's tables in Prisma naming (Company, Contact, Proposal, Invoice) and ours (StripeCustomer,
CheckoutSession, StripeEvent).

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from billing.types import ExactDecimal

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _timestamp(name: str, nullable: bool = True, default: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable,
                     server_default=sa.func.now() if default else None)


def upgrade() -> None:
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
    op.create_table(
        "StripeCustomer",
        sa.Column("contactId", sa.Text(), sa.ForeignKey("Contact.id"), primary_key=True),
        sa.Column("stripeCustomerId", sa.Text(), nullable=False, unique=True),
        _timestamp("createdAt", nullable=False, default=True),
    )
    op.create_table(
        "CheckoutSession",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("invoiceId", sa.Text(), sa.ForeignKey("Invoice.id"), nullable=False),
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
    for table in ("StripeEvent", "CheckoutSession", "StripeCustomer", "Invoice", "Proposal", "Contact", "Company"):
        op.drop_table(table)
