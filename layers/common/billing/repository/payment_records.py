"""The "PaymentRecord" table: how each payment was made, one row per PaymentIntent."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from billing.repository.sql import insert_ignoring_conflict
from billing.schema import payment_record


def record_payment(conn: Any, values: Mapping[str, Any]) -> None:
    """Recorded once: Stripe retries and the reconciliation's recovery of the same event change nothing."""
    insert_ignoring_conflict(conn, payment_record, values)
