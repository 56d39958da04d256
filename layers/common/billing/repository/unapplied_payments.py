"""The "UnappliedPayment" table: payments that could not settle their invoice, once per PaymentIntent, moved on
only by conditional writes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, case, select, update

from billing.repository.sql import dialect_insert, utc_now
from billing.schema import UnappliedStatus, unapplied_payment


class UnappliedPaymentRecord(NamedTuple):
    id: str  # the PaymentIntent
    invoice_id: str
    checkout_session_id: str | None
    contact_id: str | None
    amount_minor: int | None
    currency: str | None
    reason: str
    status: str
    refund_id: str | None
    created_at: datetime
    updated_at: datetime


def _unapplied_record(row: Mapping[Any, Any]) -> UnappliedPaymentRecord:
    return UnappliedPaymentRecord(
        id=row["id"], invoice_id=row["invoiceId"], checkout_session_id=row["checkoutSessionId"],
        contact_id=row["contactId"], amount_minor=row["amountMinor"], currency=row["currency"], reason=row["reason"],
        status=row["status"], refund_id=row["refundId"], created_at=row["createdAt"], updated_at=row["updatedAt"],
    )


def record_unapplied_payment(
    conn: Connection, *, payment_intent_id: str, invoice_id: str, checkout_session_id: str | None,
    contact_id: str | None, amount_minor: int | None, currency: str | None, reason: str, status: UnappliedStatus,
) -> UnappliedPaymentRecord:
    """Record a payment that does not settle its invoice, once per PaymentIntent. A later event about the same
    payment only moves it on from `in_flight` (its bank debit settled); whatever was decided since stays."""
    statement = dialect_insert(conn.dialect.name)(unapplied_payment).values(
        id=payment_intent_id, invoiceId=invoice_id, checkoutSessionId=checkout_session_id, contactId=contact_id,
        amountMinor=amount_minor, currency=currency, reason=reason, status=status.value,
    )
    current = unapplied_payment.c
    row = conn.execute(statement.on_conflict_do_update(
        index_elements=[current.id],
        set_={
            "status": case((current.status == UnappliedStatus.IN_FLIGHT.value, statement.excluded.status),
                           else_=current.status),
            "updatedAt": utc_now(),
        },
    ).returning(*unapplied_payment.c)).mappings().one()
    return _unapplied_record(row)


def find_unapplied_payment(conn: Connection, payment_intent_id: str, *, for_update: bool = False
                           ) -> UnappliedPaymentRecord | None:
    statement = select(unapplied_payment).where(unapplied_payment.c.id == payment_intent_id)
    row = conn.execute(statement.with_for_update() if for_update else statement).mappings().first()
    return _unapplied_record(row) if row else None


def find_unapplied_payment_of_session(conn: Connection, invoice_id: str, session_id: str
                                      ) -> UnappliedPaymentRecord | None:
    row = conn.execute(select(unapplied_payment).where(
        unapplied_payment.c.invoiceId == invoice_id, unapplied_payment.c.checkoutSessionId == session_id,
    )).mappings().first()
    return _unapplied_record(row) if row else None


def unapplied_payments_with_status(conn: Connection, statuses: Iterable[UnappliedStatus], limit: int = 100
                                   ) -> list[UnappliedPaymentRecord]:
    rows = conn.execute(
        select(unapplied_payment).where(unapplied_payment.c.status.in_([s.value for s in statuses]))
        .order_by(unapplied_payment.c.createdAt.asc()).limit(limit)
    ).mappings()
    return [_unapplied_record(row) for row in rows]


def move_unapplied_payment(
    conn: Connection, payment_intent_id: str, *, from_statuses: Iterable[UnappliedStatus], to: UnappliedStatus,
    refund_id: str | None = None,
) -> bool:
    """Move the record from one of `from_statuses` to `to` (a conditional write); False if it was not in one."""
    values: dict[str, Any] = {"status": to.value, "updatedAt": utc_now()}
    if refund_id is not None:
        values["refundId"] = refund_id
    result = conn.execute(update(unapplied_payment).where(
        unapplied_payment.c.id == payment_intent_id,
        unapplied_payment.c.status.in_([s.value for s in from_statuses]),
    ).values(**values))
    return bool(result.rowcount)
