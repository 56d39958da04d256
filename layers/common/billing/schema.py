"""Table definitions (SQLAlchemy Core), mirroring the migrations.

The portal's tables keep Prisma's naming ("Invoice", "paidByContactId", ...) so these functions can be pointed
at the portal's database (billing/adoption.py): there, they are the portal's, built by Prisma, and may differ in
what the code does not depend on (a double precision "amount", timestamps without time zone, columns of the
portal's own). The tables after them are ours; `prisma/billing.prisma` describes them for the portal's Prisma
schema. `tests/test_migrations.py` checks that `alembic upgrade head` produces exactly this metadata.

Foreign keys: none from our tables into the portal's. The portal deletes its contacts and invoices when it
decides to, and its deletes never fail because of ours; what our rows record happened at Stripe (a customer made,
a session opened, money taken, refunded or disputed) and stays readable after the contact or invoice it names is
gone, under the portal's id, kept as a plain indexed column. Nothing of ours locks or adds triggers to the
portal's tables either (a foreign key does both to the table it references). The code keeps the references
sound instead: a row naming an invoice or a contact is written only in the transaction that read it (but the
inbox's "invoiceId", which notes what a Stripe event named).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

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
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from billing.invoice_states import InvoiceStatus
from billing.types import ExactDecimal

metadata = MetaData()


class UnappliedReason(StrEnum):
    """Why a payment that names an invoice does not settle it."""

    AMOUNT_MISMATCH = "amount_mismatch"  # e.g. the invoice was edited after its session was opened
    CURRENCY_MISMATCH = "currency_mismatch"
    INVOICE_SETTLED = "invoice_settled"  # a second payment of an invoice already paid (or refunded)
    NOT_CURRENT_SESSION = "not_current_session"  # a session that is not (or no longer) the invoice's current one


class NotificationKind(StrEnum):
    """What a notification tells (billing/outbox.py says when each is written, and to whom)."""

    INVOICE_ISSUED = "invoice_issued"
    PAYMENT_SUCCEEDED = "payment_succeeded"
    PAYMENT_FAILED = "payment_failed"  # a bank debit failed: the invoice is payable again
    REFUND_MADE = "refund_made"


class NotificationStatus(StrEnum):
    PENDING = "pending"  # waiting for its next attempt ("nextAttemptAt")
    SENDING = "sending"  # claimed by a notifier run until "claimedUntil"
    SENT = "sent"
    FAILED = "failed"  # given up after NOTIFICATION_MAX_ATTEMPTS attempts, or refused by SES for good: alarmed
    SKIPPED = "skipped"  # nobody to send it to: the contact is gone, has no email, or opted out


class UnappliedStatus(StrEnum):
    """What becomes of such a payment. `refund_due` is refunded by the next function holding the Stripe key
    (verify, checkout, reconciliation); `held` waits for an operator (scripts/unapplied_payments.py)."""

    IN_FLIGHT = "in_flight"  # a bank debit not settled yet: nothing to refund until it succeeds
    REFUND_DUE = "refund_due"
    HELD = "held"
    REFUNDED = "refunded"
    ACCEPTED = "accepted"  # an operator applied it to its invoice
    PAYMENT_FAILED = "payment_failed"  # the bank debit failed: no money to give back


def _one_of(column: str, values: type[StrEnum]) -> str:
    """A CHECK constraint's text: the column holds one of the enum's values."""
    return f"{column} IN (" + ", ".join(f"'{value}'" for value in values) + ")"



def _timestamp(name: str, nullable: bool = True, default: bool = False) -> Column[datetime]:
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
    CheckConstraint(_one_of("status", InvoiceStatus), name="Invoice_status_valid"),
    Index("Invoice_proposalId_idx", "proposalId"),
    Index("Invoice_status_idx", "status"),
    Index("Invoice_dueDate_idx", "dueDate"),
)

# 0005_staff_side: the staff listing (newest first, keyset on ("createdAt", id)), filtered by status or proposal
# (a company's invoices are its proposals' invoices). On the portal's database these are the only indexes the
# project adds to a table of the portal's, built CONCURRENTLY (billing/adoption.py's PORTAL_INVOICE_INDEXES).
INVOICE_STAFF_INDEXES = (
    Index("Invoice_createdAt_id_idx", invoice.c.createdAt.desc(), invoice.c.id.desc()),
    Index("Invoice_status_createdAt_id_idx", invoice.c.status, invoice.c.createdAt.desc(), invoice.c.id.desc()),
    Index("Invoice_proposalId_createdAt_id_idx", invoice.c.proposalId, invoice.c.createdAt.desc(),
          invoice.c.id.desc()),
)

# The Stripe customer made for a contact, so later checkouts reuse it.
stripe_customer = Table(
    "StripeCustomer",
    metadata,
    Column("contactId", Text, primary_key=True),  # the portal's contact (no foreign key: see above)
    Column("stripeCustomerId", Text, nullable=False, unique=True),
    _timestamp("createdAt", nullable=False, default=True),
)

# Every Checkout Session ever created for an invoice: the history behind "stripeCheckoutSessionId" (which holds
# only the current one), with the idempotency key it was created with (checkout derives it from the invoice as of
# its last change and every parameter sent) and the payer it was made for.
checkout_session = Table(
    "CheckoutSession",
    metadata,
    Column("id", Text, primary_key=True),
    Column("invoiceId", Text, nullable=False),
    Column("contactId", Text, nullable=False),
    Column("amountMinor", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("idempotencyKey", Text, nullable=False, unique=True),
    _timestamp("createdAt", nullable=False, default=True),
    # When reconciliation last asked Stripe about it, and what came of it: the next run starts with the sessions
    # examined longest ago, so one that cannot be applied never holds the others back.
    _timestamp("reconciledAt"),
    Column("reconcileOutcome", Text, nullable=True),
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

# Refunds and disputes, one row per Stripe charge (refunds; amountMinor is the charge's cumulative amount
# refunded) or per dispute, recorded against the payment they adjust: "invoiceId" is set when that payment is the
# invoice's own (its "stripePaymentIntentId"), NULL for any other payment (one that never settled an invoice).
payment_adjustment = Table(
    "PaymentAdjustment",
    metadata,
    Column("id", Text, primary_key=True),  # ch_... for refunds, dp_... for disputes
    Column("invoiceId", Text, nullable=True),
    Column("paymentIntentId", Text, nullable=True),
    Column("kind", Text, nullable=False),
    Column("amountMinor", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("status", Text, nullable=False),
    _timestamp("createdAt", nullable=False, default=True),
    _timestamp("updatedAt", nullable=False, default=True),
    CheckConstraint("kind IN ('refund', 'dispute')", name="PaymentAdjustment_kind_valid"),
    Index("PaymentAdjustment_invoiceId_idx", "invoiceId"),
    Index("PaymentAdjustment_paymentIntentId_idx", "paymentIntentId"),
)

# Payments that name one of our invoices but cannot settle it (billing/unapplied_payments.py), one row per
# PaymentIntent: refunded automatically, or held for an operator, never kept silently.
unapplied_payment = Table(
    "UnappliedPayment",
    metadata,
    Column("id", Text, primary_key=True),  # the PaymentIntent, pi_...
    Column("invoiceId", Text, nullable=False),
    Column("checkoutSessionId", Text, nullable=True),
    Column("contactId", Text, nullable=True),  # the payer the session names
    Column("amountMinor", BigInteger, nullable=True),
    Column("currency", Text, nullable=True),
    Column("reason", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("refundId", Text, nullable=True),
    _timestamp("createdAt", nullable=False, default=True),
    _timestamp("updatedAt", nullable=False, default=True),
    CheckConstraint(_one_of("reason", UnappliedReason), name="UnappliedPayment_reason_valid"),
    CheckConstraint(_one_of("status", UnappliedStatus), name="UnappliedPayment_status_valid"),
    Index("UnappliedPayment_invoiceId_idx", "invoiceId"),
    Index("UnappliedPayment_checkoutSessionId_idx", "checkoutSessionId"),
    Index("UnappliedPayment_status_idx", "status"),
)

# Every change a staff member made (billing/audit.py), written in the transaction of the change itself: who (the
# Firebase uid and email of the verified token), what (an action and the object it changed), when, and the object
# before and after (JSON, in the API's shape). Only ever inserted.
staff_audit_log = Table(
    "StaffAuditLog",
    metadata,
    Column("id", Text, primary_key=True),
    Column("actorUid", Text, nullable=False),
    Column("actorEmail", Text, nullable=True),
    Column("action", Text, nullable=False),
    Column("entityType", Text, nullable=False),
    Column("entityId", Text, nullable=False),
    Column("before", JSON().with_variant(JSONB(), "postgresql"), nullable=True),
    Column("after", JSON().with_variant(JSONB(), "postgresql"), nullable=True),
    _timestamp("createdAt", nullable=False, default=True),
    Index("StaffAuditLog_entityId_idx", "entityId"),
    Index("StaffAuditLog_createdAt_idx", "createdAt"),
)

# The last invoice number allocated per year (INV-YYYY-NNN): its row is locked by the transaction that allocates
# (billing/repository/invoice_numbers.py), so numbers are unique and without gaps across processes, and a
# transaction rolled back gives its numbers back.
invoice_number_counter = Table(
    "InvoiceNumberCounter",
    metadata,
    Column("year", Integer, primary_key=True, autoincrement=False),
    Column("lastNumber", Integer, nullable=False),
    _timestamp("updatedAt", nullable=False, default=True),
)

# How each payment was made, recorded at fulfilment from its PaymentIntent's latest charge, so that the payment
# history and "who paid" need no Stripe call: the method's summary (card brand and last four, or the bank
# account's last four) and Stripe's receipt URL. One row per PaymentIntent.
payment_record = Table(
    "PaymentRecord",
    metadata,
    Column("paymentIntentId", Text, primary_key=True),
    Column("invoiceId", Text, nullable=True),
    Column("chargeId", Text, nullable=True),
    Column("methodType", Text, nullable=True),  # card, us_bank_account, ...
    Column("cardBrand", Text, nullable=True),
    Column("last4", Text, nullable=True),
    Column("receiptUrl", Text, nullable=True),
    _timestamp("createdAt", nullable=False, default=True),
    # The name the payer gave at Checkout (the charge's billing_details.name; 0006_payer_name): personal data, kept
    # for staff's "who paid" only and never logged
    Column("payerName", Text, nullable=True),
    Index("PaymentRecord_invoiceId_idx", "invoiceId"),
)

# Where reconciliation's walk through Stripe's events list (GET /v1/events) resumes: the `created` time (Stripe's
# clock, Unix seconds) from which the next walk asks for events.
reconciliation_cursor = Table(
    "ReconciliationCursor",
    metadata,
    Column("id", Text, primary_key=True),  # "stripe_events"
    Column("createdFrom", BigInteger, nullable=False),
    _timestamp("updatedAt", nullable=False, default=True),
)

# The transactional outbox (billing/outbox.py, billing/notifier.py): one row per notification, written in the
# transaction of the state change it tells about, delivered by the notifier. ("kind", "eventKey", "contactId") is
# unique: the same event told to the same contact twice is one row, however often the change is reported.
notification = Table(
    "Notification",
    metadata,
    Column("id", Text, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("eventKey", Text, nullable=False),  # what identifies the event: an invoice, a session, a refund
    Column("contactId", Text, nullable=False),  # the recipient (the portal's contact; its email is read at sending)
    Column("invoiceId", Text, nullable=True),
    Column("payload", JSON().with_variant(JSONB(), "postgresql"), nullable=False),  # the facts the message shows
    Column("status", Text, nullable=False, server_default=text("'pending'")),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    _timestamp("nextAttemptAt", nullable=False, default=True),
    Column("claimToken", Text, nullable=True),
    _timestamp("claimedUntil"),
    Column("lastError", Text, nullable=True),  # an error code, never a message that could carry an address
    Column("messageId", Text, nullable=True),  # SES's, once sent
    _timestamp("sentAt"),
    _timestamp("createdAt", nullable=False, default=True),
    _timestamp("updatedAt", nullable=False, default=True),
    CheckConstraint(_one_of("kind", NotificationKind), name="Notification_kind_valid"),
    CheckConstraint(_one_of("status", NotificationStatus), name="Notification_status_valid"),
    UniqueConstraint("kind", "eventKey", "contactId", name="Notification_event_recipient_key"),
    Index("Notification_status_nextAttemptAt_idx", "status", "nextAttemptAt"),
    Index("Notification_invoiceId_idx", "invoiceId"),
)

# Contacts who want no non-essential mail (billing/outbox.py: NON_ESSENTIAL). A table of ours, not a column on the
# portal's "Contact": the portal inserts a row to opt a contact out and deletes it to opt back in.
notification_opt_out = Table(
    "NotificationOptOut",
    metadata,
    Column("contactId", Text, primary_key=True),
    _timestamp("createdAt", nullable=False, default=True),
)
