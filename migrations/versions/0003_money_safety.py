"""Money that does not settle an invoice, and what reconciliation remembers.

- "UnappliedPayment": payments that name an invoice but cannot settle it (wrong amount or currency, a second
  payment, a stale session), refunded or held for an operator.
- "PaymentAdjustment": refunds and disputes are recorded against the payment they adjust ("paymentIntentId");
  "invoiceId" only when that payment is the invoice's own, so it becomes nullable.
- "CheckoutSession": when reconciliation last examined a session, and with what outcome (fair batches).
- "ReconciliationCursor": where the walk through Stripe's events list resumes.

Revision ID: 0003_money_safety
Revises: 0002
Create Date: 2026-11-30
"""

from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = "0003_money_safety"
down_revision = "0002"
branch_labels = None
depends_on = None

# Fixed here, as this revision created them: later revisions change them with migrations of their own.
_UNAPPLIED_REASONS = ("amount_mismatch", "currency_mismatch", "invoice_settled", "not_current_session")
_UNAPPLIED_STATUSES = ("in_flight", "refund_due", "held", "refunded", "accepted", "payment_failed")


def _timestamp(name: str, nullable: bool = True, default: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable,
                     server_default=sa.func.now() if default else None)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{value}'" for value in values) + ")"


def upgrade() -> None:
    op.create_table(
        "UnappliedPayment",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("invoiceId", sa.Text(), nullable=False),  # no foreign key: billing/schema.py says why
        sa.Column("checkoutSessionId", sa.Text(), nullable=True),
        sa.Column("contactId", sa.Text(), nullable=True),
        sa.Column("amountMinor", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("refundId", sa.Text(), nullable=True),
        _timestamp("createdAt", nullable=False, default=True),
        _timestamp("updatedAt", nullable=False, default=True),
        sa.CheckConstraint(_one_of("reason", _UNAPPLIED_REASONS), name="UnappliedPayment_reason_valid"),
        sa.CheckConstraint(_one_of("status", _UNAPPLIED_STATUSES), name="UnappliedPayment_status_valid"),
    )
    op.create_index("UnappliedPayment_invoiceId_idx", "UnappliedPayment", ["invoiceId"])
    op.create_index("UnappliedPayment_checkoutSessionId_idx", "UnappliedPayment", ["checkoutSessionId"])
    op.create_index("UnappliedPayment_status_idx", "UnappliedPayment", ["status"])
    op.create_table(
        "ReconciliationCursor",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("createdFrom", sa.BigInteger(), nullable=False),
        _timestamp("updatedAt", nullable=False, default=True),
    )
    with op.batch_alter_table("PaymentAdjustment") as table:  # SQLite rebuilds the table; PostgreSQL alters it
        table.add_column(sa.Column("paymentIntentId", sa.Text(), nullable=True))
        table.alter_column("invoiceId", existing_type=sa.Text(), nullable=True)
        table.create_index("PaymentAdjustment_paymentIntentId_idx", ["paymentIntentId"])
    with op.batch_alter_table("CheckoutSession") as table:
        table.add_column(_timestamp("reconciledAt"))
        table.add_column(sa.Column("reconcileOutcome", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("CheckoutSession") as table:
        table.drop_column("reconcileOutcome")
        table.drop_column("reconciledAt")
    op.execute('DELETE FROM "PaymentAdjustment" WHERE "invoiceId" IS NULL')  # adjustments of no invoice's payment
    with op.batch_alter_table("PaymentAdjustment") as table:
        table.drop_index("PaymentAdjustment_paymentIntentId_idx")
        table.alter_column("invoiceId", existing_type=sa.Text(), nullable=False)
        table.drop_column("paymentIntentId")
    op.drop_table("ReconciliationCursor")
    op.drop_table("UnappliedPayment")
