"""Who paid, by name: "PaymentRecord"."payerName", the name the payer gave at Checkout (the charge's
`billing_details.name`, recorded with the method's summary when the charge succeeds). The portal's Contact has no name
column the project may rely on; this is the only name of a payer the project keeps.

Revision ID: 0006_payer_name
Revises: 0005_staff_side
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_payer_name"
down_revision = "0005_staff_side"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("PaymentRecord", sa.Column("payerName", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("PaymentRecord") as batch:
        batch.drop_column("payerName")
