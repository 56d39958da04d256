"""Refunds and disputes recorded per invoice ("PaymentAdjustment").

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "PaymentAdjustment",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("invoiceId", sa.Text(), nullable=False),  # no foreign key: billing/schema.py says why
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("amountMinor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("createdAt", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updatedAt", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("kind IN ('refund', 'dispute')", name="PaymentAdjustment_kind_valid"),
    )
    op.create_index("PaymentAdjustment_invoiceId_idx", "PaymentAdjustment", ["invoiceId"])


def downgrade() -> None:
    op.drop_table("PaymentAdjustment")
