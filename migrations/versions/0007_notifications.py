"""Notifications: the transactional outbox ("Notification") and the contacts' opt-out of non-essential mail
("NotificationOptOut"). Both are this project's tables: nothing of the portal's is created, altered or locked (the
opt-out is a table of ours, not a column on "Contact").

Revision ID: 0007_notifications
Revises: 0006_payer_name
Create Date: 2026-11-30
"""

from datetime import datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007_notifications"
down_revision = "0006_payer_name"
branch_labels = None
depends_on = None

# Fixed here, as this revision created them: later revisions change them with migrations of their own.
_KINDS = ("invoice_issued", "payment_succeeded", "payment_failed", "refund_made")
_STATUSES = ("pending", "sending", "sent", "failed", "skipped")


def _timestamp(name: str, nullable: bool = True, default: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable,
                     server_default=sa.func.now() if default else None)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{value}'" for value in values) + ")"


def upgrade() -> None:
    op.create_table(
        "Notification",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("eventKey", sa.Text(), nullable=False),
        sa.Column("contactId", sa.Text(), nullable=False),  # no foreign key: billing/schema.py says why
        sa.Column("invoiceId", sa.Text(), nullable=True),
        sa.Column("payload", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("status", sa.Text(), nullable=False, server_default=sa.text("'pending'")),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        _timestamp("nextAttemptAt", nullable=False, default=True),
        sa.Column("claimToken", sa.Text(), nullable=True),
        _timestamp("claimedUntil"),
        sa.Column("lastError", sa.Text(), nullable=True),
        sa.Column("messageId", sa.Text(), nullable=True),
        _timestamp("sentAt"),
        _timestamp("createdAt", nullable=False, default=True),
        _timestamp("updatedAt", nullable=False, default=True),
        sa.CheckConstraint(_one_of("kind", _KINDS), name="Notification_kind_valid"),
        sa.CheckConstraint(_one_of("status", _STATUSES), name="Notification_status_valid"),
        sa.UniqueConstraint("kind", "eventKey", "contactId", name="Notification_event_recipient_key"),
    )
    op.create_index("Notification_status_nextAttemptAt_idx", "Notification", ["status", "nextAttemptAt"])
    op.create_index("Notification_invoiceId_idx", "Notification", ["invoiceId"])
    op.create_table(
        "NotificationOptOut",
        sa.Column("contactId", sa.Text(), primary_key=True),
        _timestamp("createdAt", nullable=False, default=True),
    )


def downgrade() -> None:
    op.drop_table("NotificationOptOut")
    op.drop_table("Notification")
