"""No foreign key from our tables into the portal's.

The portal's deletes of contacts and invoices never fail because of our rows, and our records of payments
outlive them (billing/schema.py says why). Revisions 0001 to 0003 once created such foreign keys
("StripeCustomer"."contactId"; "invoiceId" of "CheckoutSession", "PaymentAdjustment", "UnappliedPayment");
databases built since have none, and this revision drops those of the databases built before. Only our tables are
altered (on PostgreSQL, dropping a foreign key also takes a short lock on the table it references: there, a table
this project made itself, as the portal's own databases never had these keys).

Revision ID: 0004_portal_adoption
Revises: 0003_money_safety
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

from billing.adoption import PORTAL_TABLES, PROJECT_TABLES, tables_present

revision = "0004_portal_adoption"
down_revision = "0003_money_safety"
branch_labels = None
depends_on = None

# SQLite keeps these foreign keys without names: batch mode names them by this convention to drop them.
_SQLITE_NAMES = {"fk": "fk_%(table_name)s_%(column_0_name)s"}


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    portal = {table.name for table in PORTAL_TABLES}
    for table in tables_present(inspector, PROJECT_TABLES):
        into_the_portal = [fk for fk in inspector.get_foreign_keys(table.name) if fk["referred_table"] in portal]
        if not into_the_portal:
            continue
        with op.batch_alter_table(table.name, naming_convention=_SQLITE_NAMES) as batch:
            for fk in into_the_portal:
                name = fk["name"] or _SQLITE_NAMES["fk"] % {"table_name": table.name,
                                                             "column_0_name": fk["constrained_columns"][0]}
                batch.drop_constraint(name, type_="foreignkey")


def downgrade() -> None:
    """The foreign keys are not put back: that would make the portal's deletes fail again."""
