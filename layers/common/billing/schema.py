"""Table definitions (SQLAlchemy Core), mirroring the migrations.

The portal's tables keep Prisma's naming ("Invoice", "paidByContactId", ...) so these functions can be pointed
at the portal's database. The three tables after them are ours. `tests/test_migrations.py` checks that
`alembic upgrade head` produces exactly this metadata.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from billing.types import ExactDecimal

metadata = MetaData()

INVOICE_STATUSES = ("pending", "processing", "paid", "failed", "refunded")

# An invoice can start a checkout only in these states; "paid", "processing" and "refunded" are not payable.
PAYABLE_STATUSES = ("pending", "failed")


def _timestamp(name: str, nullable: bool = True, default: bool = False) -> Column:
    return Column(
        name,
        DateTime(timezone=True),
        nullable=nullable,
        server_default=func.now() if default else None,
    )


company = Table(
    "Company",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=True),
)

contact = Table(
    "Contact",
    metadata,
    Column("id", Text, primary_key=True),
    Column("firebaseUid", Text, nullable=True, unique=True),
    Column("email", Text, nullable=True),
    Column("contactCompanyId", Text, ForeignKey("Company.id"), nullable=True),
)

proposal = Table(
    "Proposal",
    metadata,
    Column("id", Text, primary_key=True),
    Column("companyId", Text, ForeignKey("Company.id"), nullable=False),
    Index("Proposal_companyId_idx", "companyId"),
)

invoice = Table(
    "Invoice",
    metadata,
    Column("id", Text, primary_key=True),
    Column("proposalId", Text, ForeignKey("Proposal.id"), nullable=False),
    Column("invoiceNumber", Text, nullable=False, unique=True),
    # Exact decimal in major units (the seed's Prisma Float is not exact); scale is free so that
    # three-decimal currencies fit, and money.to_minor_units refuses what a currency cannot carry.
    Column("amount", ExactDecimal, nullable=False),
    Column("currency", Text, nullable=False, server_default=text("'USD'")),
    Column("description", Text, nullable=True),
    Column("paymentScheduleId", Text, nullable=True),
    Column("week", Integer, nullable=True),
    Column("trigger", Text, nullable=True),
    Column("status", Text, nullable=False, server_default=text("'pending'")),
    Column("stripeCheckoutSessionId", Text, nullable=True, unique=True),
    Column("stripePaymentIntentId", Text, nullable=True, unique=True),
    Column("stripeCustomerId", Text, nullable=True),
    Column("paidByContactId", Text, nullable=True),
    _timestamp("dueDate"),
    _timestamp("paidAt"),
    _timestamp("createdAt", nullable=False, default=True),
    _timestamp("updatedAt", nullable=False, default=True),
    CheckConstraint("amount > 0", name="Invoice_amount_positive"),
    CheckConstraint(
        "status IN (" + ", ".join(f"'{s}'" for s in INVOICE_STATUSES) + ")", name="Invoice_status_valid"
    ),
    Index("Invoice_proposalId_idx", "proposalId"),
    Index("Invoice_status_idx", "status"),
    Index("Invoice_dueDate_idx", "dueDate"),
)

# The Stripe customer made for a contact, so later checkouts reuse it.
stripe_customer = Table(
    "StripeCustomer",
    metadata,
    Column("contactId", Text, ForeignKey("Contact.id"), primary_key=True),
    Column("stripeCustomerId", Text, nullable=False, unique=True),
    _timestamp("createdAt", nullable=False, default=True),
)

# Every Checkout Session ever created for an invoice: the history behind "stripeCheckoutSessionId" (which holds
# only the current one), and the attempt counter behind each creation's idempotency key.
checkout_session = Table(
    "CheckoutSession",
    metadata,
    Column("id", Text, primary_key=True),
    Column("invoiceId", Text, ForeignKey("Invoice.id"), nullable=False),
    Column("contactId", Text, nullable=False),
    Column("amountMinor", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("idempotencyKey", Text, nullable=False, unique=True),
    _timestamp("createdAt", nullable=False, default=True),
    Index("CheckoutSession_invoiceId_idx", "invoiceId"),
)

# The webhook inbox: every verified Stripe event, recorded in the same transaction as its effect.
stripe_event = Table(
    "StripeEvent",
    metadata,
    Column("id", Text, primary_key=True),
    Column("type", Text, nullable=False),
    Column("objectId", Text, nullable=True),
    Column("invoiceId", Text, nullable=True),
    Column("payload", JSON().with_variant(JSONB(), "postgresql"), nullable=False),
    _timestamp("receivedAt", nullable=False, default=True),
    _timestamp("processedAt"),
    Column("outcome", Text, nullable=True),
    Index("StripeEvent_invoiceId_idx", "invoiceId"),
)

# Refunds and disputes of an invoice's payment, one row per Stripe charge (refunds; amountMinor is the charge's
# cumulative amount refunded) or per dispute, so a partial refund or a dispute is on record next to the invoice.
payment_adjustment = Table(
    "PaymentAdjustment",
    metadata,
    Column("id", Text, primary_key=True),  # ch_... for refunds, dp_... for disputes
    Column("invoiceId", Text, ForeignKey("Invoice.id"), nullable=False),
    Column("kind", Text, nullable=False),
    Column("amountMinor", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("status", Text, nullable=False),
    _timestamp("createdAt", nullable=False, default=True),
    _timestamp("updatedAt", nullable=False, default=True),
    CheckConstraint("kind IN ('refund', 'dispute')", name="PaymentAdjustment_kind_valid"),
    Index("PaymentAdjustment_invoiceId_idx", "invoiceId"),
)
