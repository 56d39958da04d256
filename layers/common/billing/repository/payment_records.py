"""The "PaymentRecord" table: how each payment was made, one row per PaymentIntent."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select

from billing.repository.sql import insert_ignoring_conflict
from billing.schema import payment_record


def receipt_urls(conn: Any, payment_intent_ids: Iterable[str]) -> dict[str, str]:
    """Stripe's receipt URL of each payment whose `charge.succeeded` has been recorded with one."""
    ids = sorted(set(payment_intent_ids))
    if not ids:
        return {}
    rows = conn.execute(select(payment_record.c.paymentIntentId, payment_record.c.receiptUrl)
                        .where(payment_record.c.paymentIntentId.in_(ids), payment_record.c.receiptUrl.is_not(None)))
    return {row[0]: row[1] for row in rows}


def record_payment(conn: Any, values: Mapping[str, Any]) -> None:
    """Recorded once: Stripe retries and the reconciliation's recovery of the same event change nothing."""
    insert_ignoring_conflict(conn, payment_record, values)
