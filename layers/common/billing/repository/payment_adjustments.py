"""The "PaymentAdjustment" table: refunds and disputes recorded per payment, never moved backwards by a late
event."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, case

from billing.repository.sql import dialect_insert, utc_now
from billing.schema import payment_adjustment


def record_adjustment(
    conn: Connection, *, adjustment_id: str, payment_intent_id: str | None, invoice_id: str | None, kind: str,
    amount_minor: int, currency: str, status: str,
) -> None:
    """Upsert a refund (per charge: its cumulative refunded amount) or a dispute of the payment
    `payment_intent_id`; `invoice_id` only when that payment is the invoice's own. Events arrive out of order,
    so the stored amount never decreases and a closed dispute keeps its final status."""
    _upsert_adjustment(conn, {
        "id": adjustment_id, "invoiceId": invoice_id, "paymentIntentId": payment_intent_id, "kind": kind,
        "amountMinor": amount_minor, "currency": currency, "status": status,
    })


# A dispute that reached one of these is closed; a late "created" event must not reopen it.
_CLOSED_DISPUTE_STATUSES = ("won", "lost", "warning_closed", "prevented")


def _upsert_adjustment(conn: Connection, values: Mapping[str, Any]) -> None:
    statement = dialect_insert(conn.dialect.name)(payment_adjustment).values(**values)
    excluded, current = statement.excluded, payment_adjustment.c
    conn.execute(statement.on_conflict_do_update(
        index_elements=[current.id],
        set_={
            "amountMinor": case((excluded.amountMinor > current.amountMinor, excluded.amountMinor),
                                else_=current.amountMinor),
            # The status goes with the amount: an older, smaller refund event does not relabel a full refund.
            "status": case(
                (current.status.in_(_CLOSED_DISPUTE_STATUSES), current.status),
                (excluded.amountMinor < current.amountMinor, current.status),
                else_=excluded.status,
            ),
            "updatedAt": utc_now(),
        },
    ))
