"""The staff routes' logic: invoices from a schedule, who paid, the listing, edits and voids that cannot strand a
payment, refunds. Every change is audited in its own transaction (billing/audit.py)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from billing import stripe_gateway
from billing.audit import record_change
from billing.auth import StaffMember
from billing.db import transaction
from billing.errors import (
    BadRequest,
    InvoiceNotEditable,
    InvoiceNotFound,
    NothingToRefund,
    PaymentCompletedMeanwhile,
    Unprocessable,
    UnsupportedAmount,
)
from billing.fulfillment import fulfill_checkout_session
from billing.invoice_states import EDITABLE_STATUSES, InvoiceEvent, InvoiceStatus
from billing.invoices import MAX_ID_LENGTH
from billing.issuing import create_invoices_from_schedule, parse_schedule
from billing.money import check_chargeable, from_minor_units, to_minor_units
from billing.payment_history import method_summary, payment_history
from billing.repository.invoices import InvoiceRecord, apply_invoice_event, find_invoice_by_reference
from billing.repository.staff_queries import (
    ListingFilter,
    company_of_invoice,
    find_contact_by_id,
    list_invoices_for_staff,
    payments_of_invoice,
)
from billing.staff_views import invoice_view
from billing.unapplied_payments import refund_if_due

DEFAULT_PAGE = 50
MAX_PAGE = 200


def create_from_schedule(staff: StaffMember, proposal_id: str, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
    schedule = parse_schedule(body, today=datetime.now(UTC).date())
    with transaction() as conn:
        invoices, created = create_invoices_from_schedule(conn, staff, proposal_id, schedule)
    return (201 if created else 200), {"invoices": invoices, "created": created}


def _require(conn: Connection, reference: str, *, for_update: bool = False) -> InvoiceRecord:
    if not reference or len(reference) > MAX_ID_LENGTH or not reference.isprintable():
        raise InvoiceNotFound()
    found = find_invoice_by_reference(conn, reference, for_update=for_update)
    if found is None:
        raise InvoiceNotFound()
    return found


def who_paid(reference: str) -> dict[str, Any]:
    with transaction() as conn:
        record = _require(conn, reference)
        company_id = company_of_invoice(conn, record)
        payer = find_contact_by_id(conn, record.paid_by_contact_id) if record.paid_by_contact_id else None
        recorded = payments_of_invoice(conn, record)
        history = payment_history(conn, record, recorded)
    payment = None
    if record.stripe_payment_intent_id and record.paid_at is not None:
        method = recorded.methods.get(record.stripe_payment_intent_id)
        payment = {
            "contact": {"id": record.paid_by_contact_id, "email": (payer or {}).get("email"),
                        "name": (payer or {}).get("name")},
            "paidAt": invoice_view(record)["paidAt"],
            "amount": record.amount,
            "currency": record.currency,
            "paymentIntentId": record.stripe_payment_intent_id,
            "method": method_summary(method),
            "receiptUrl": method["receiptUrl"] if method else None,
        }
    return {"invoice": {**invoice_view(record), "companyId": company_id}, "payment": payment,
            "checkoutAttempts": history["attempts"], "refunds": history["refunds"], "disputes": history["disputes"]}


# ----- the listing ------------------------------------------------------------------------------------------------

def list_for_staff(query: Mapping[str, str]) -> dict[str, Any]:
    known = {"status", "company", "proposal", "dueFrom", "dueTo", "numberPrefix", "limit", "cursor"}
    unknown = sorted(set(query) - known)
    if unknown:
        raise BadRequest(f"unknown query parameters: {', '.join(unknown)}")
    limit = _limit(query.get("limit"))
    status = query.get("status")
    if status is not None and status not in set(InvoiceStatus):
        raise BadRequest(f"status must be one of {', '.join(InvoiceStatus)}")
    where = ListingFilter(
        status=status, company_id=query.get("company"), proposal_id=query.get("proposal"),
        due_from=_time(query.get("dueFrom"), "dueFrom"), due_until=_time(query.get("dueTo"), "dueTo"),
        number_prefix=query.get("numberPrefix"), after=_cursor(query.get("cursor")),
    )
    with transaction() as conn:
        rows = list_invoices_for_staff(conn, where, limit + 1)
    page = rows[:limit]
    next_cursor = _encode_cursor(page[-1][0]) if len(rows) > limit else None
    return {"invoices": [{**invoice_view(record), "companyId": company} for record, company in page],
            "nextCursor": next_cursor}


def _limit(value: str | None) -> int:
    if value is None:
        return DEFAULT_PAGE
    if not value.isdigit() or not 1 <= int(value) <= MAX_PAGE:
        raise BadRequest(f"limit must be a whole number from 1 to {MAX_PAGE}")
    return int(value)


def _time(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{name} must be a date (2026-12-31) or an ISO 8601 time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _encode_cursor(record: InvoiceRecord) -> str:
    raw = json.dumps([record.created_at.astimezone(UTC).isoformat(), record.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor(value: str | None) -> tuple[datetime, str] | None:
    """The opaque cursor: ("createdAt", id) of the last invoice of the previous page."""
    if value is None:
        return None
    try:
        created_at, invoice_id = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        return datetime.fromisoformat(created_at), str(invoice_id)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise BadRequest("cursor is not one this API gave") from None


# ----- edits and voids --------------------------------------------------------------------------------------------

def change_invoice(staff: StaffMember, reference: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """PATCH: {"status": "void"}, or any of amount, dueDate, description. The invoice's open checkout is expired
    at Stripe first, under the invoice's row lock; if it completed meanwhile, its payment is applied (committed)
    and the change refused (409)."""
    void, changes = _parse_change(body)
    after: InvoiceRecord | None = None
    with transaction() as conn:
        before = _require(conn, reference, for_update=True)
        _require_editable(before)
        if changes.get("amount") is not None:
            try:
                check_chargeable(changes["amount"], before.currency)
            except UnsupportedAmount as error:
                raise Unprocessable("change refused", [error.message]) from None
        current = _close_open_checkout(conn, before)
        if current is not None:
            event = InvoiceEvent.VOIDED if void else InvoiceEvent.EDITED
            after = apply_invoice_event(conn, current.id, event, values=changes)
            if after is None:  # the row is locked and checked above: only a bug of ours gets here
                raise InvoiceNotEditable()
            record_change(conn, staff, "invoice.voided" if void else "invoice.edited", after, before=before,
                          after=after)
    if after is None:  # raised after the commit, so that the payment applied is kept
        raise PaymentCompletedMeanwhile()
    return {"invoice": invoice_view(after)}


def _parse_change(body: Mapping[str, Any]) -> tuple[bool, dict[str, Any]]:
    allowed = {"status", "amount", "dueDate", "description"}
    if not body or set(body) - allowed:
        raise BadRequest("give status \"void\", or any of amount, dueDate, description")
    if "status" in body:
        if body["status"] != "void" or len(body) > 1:
            raise BadRequest("status can only be set to \"void\", alone")
        return True, {}
    changes: dict[str, Any] = {}
    reasons: list[str] = []
    if "amount" in body:
        amount = body["amount"]
        if isinstance(amount, bool) or not isinstance(amount, (int, Decimal)) or amount <= 0:
            reasons.append("amount must be a positive number")
        else:
            changes["amount"] = Decimal(amount)
    if "dueDate" in body:
        changes["dueDate"] = _due(body["dueDate"], reasons)
    if "description" in body:
        text = body["description"]
        if text is not None and (not isinstance(text, str) or len(text) > 500 or not text.isprintable()):
            reasons.append("description must be a text of at most 500 characters, or null")
        changes["description"] = text
    if reasons:
        raise Unprocessable("change refused", reasons)
    return False, changes


def _due(value: Any, reasons: list[str]) -> datetime | None:
    if value is None:
        return None
    try:
        due = _time(value, "dueDate") if isinstance(value, str) else None
    except BadRequest:
        due = None
    if due is None:
        reasons.append("dueDate must be a date (2026-12-31), an ISO 8601 time, or null")
    elif due.date() < datetime.now(UTC).date():
        reasons.append(f"dueDate {value} is in the past")
    return due


def _require_editable(invoice: InvoiceRecord) -> None:
    if invoice.status not in EDITABLE_STATUSES:
        raise InvoiceNotEditable(f"invoice is {invoice.status}: it cannot be changed")


def _close_open_checkout(conn: Connection, invoice: InvoiceRecord) -> InvoiceRecord | None:
    """The invoice with no checkout in progress (its session expired at Stripe and released), or None if that
    session completed meanwhile (its payment applied here, in this transaction)."""
    session_id = invoice.stripe_checkout_session_id
    if session_id is None:
        return invoice
    session = stripe_gateway.expire_checkout_session(session_id)
    if session is not None and session.status == "complete":
        result = fulfill_checkout_session(conn, session)
        refund_if_due(result.unapplied)
        if result.invoice is not None and result.invoice.status in EDITABLE_STATUSES and (
                result.invoice.stripe_checkout_session_id is None):
            return result.invoice  # a payment that could not settle it: set aside, the invoice free again
        return None
    released = apply_invoice_event(conn, invoice.id, InvoiceEvent.SESSION_EXPIRED, session_id=session_id)
    return released or invoice


# ----- refunds ----------------------------------------------------------------------------------------------------

def refund(staff: StaffMember, reference: str, body: Mapping[str, Any], idempotency_key: str | None
           ) -> dict[str, Any]:
    """A refund of the invoice's own payment through Stripe (the whole of what remains by default). The invoice then
    follows Stripe's charge.refunded as for a Dashboard refund (billing/adjustments.py)."""
    if not idempotency_key or len(idempotency_key) > 200 or not idempotency_key.isprintable():
        raise BadRequest("an Idempotency-Key header (at most 200 characters) is required")
    unknown = set(body) - {"amount", "reason"}
    if unknown:
        raise BadRequest(f"unknown fields: {', '.join(sorted(unknown))}")
    with transaction() as conn:
        record = _require(conn, reference, for_update=True)
        if record.status != InvoiceStatus.PAID or not record.stripe_payment_intent_id:
            raise NothingToRefund(f"invoice is {record.status}: only a paid invoice's payment can be refunded")
        refunded = sum(int(a["amountMinor"]) for a in payments_of_invoice(conn, record).adjustments
                       if a["kind"] == "refund" and a["paymentIntentId"] == record.stripe_payment_intent_id)
        remaining = to_minor_units(record.amount, record.currency) - refunded
        amount_minor = _refund_amount(body.get("amount"), record, remaining)
        refund_id = stripe_gateway.refund_payment_amount(
            record.stripe_payment_intent_id, amount_minor=amount_minor, reason=body.get("reason"),
            metadata={"invoiceId": record.id, "refundedBy": "staff"}, key=f"{record.id}|{idempotency_key}")
        record_change(conn, staff, "invoice.refund_requested", record, before=record, after=record)
    return {"refundId": refund_id, "amount": from_minor_units(amount_minor, record.currency),
            "currency": record.currency, "invoice": invoice_view(record)}


def _refund_amount(value: Any, record: InvoiceRecord, remaining_minor: int) -> int:
    if remaining_minor <= 0:
        raise NothingToRefund("the payment is refunded in full already")
    if value is None:
        return remaining_minor
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)) or value <= 0:
        raise Unprocessable("refund refused", ["amount must be a positive number"])
    try:
        minor = to_minor_units(Decimal(value), record.currency)
    except UnsupportedAmount as error:
        raise Unprocessable("refund refused", [error.message]) from None
    if minor > remaining_minor:
        remaining = from_minor_units(remaining_minor, record.currency)
        raise Unprocessable("refund refused", [f"at most {remaining} {record.currency} remains to refund"])
    return minor
