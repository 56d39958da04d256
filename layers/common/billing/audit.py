"""Staff changes, recorded: every change a staff member makes is written to "StaffAuditLog" in the transaction of
the change (who: the verified token's uid and email; what: an action and the invoice; when; the invoice before and
after, in the API's shape, with what was done where the invoice alone does not show it, e.g. the refund). A change
that rolls back leaves no record, and no change is made without one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection

from billing.auth import StaffMember
from billing.repository.invoices import InvoiceRecord
from billing.repository.staff_audit_log import record_staff_action, staff_actions_on
from billing.staff_views import invoice_view


def record_change(conn: Connection, staff: StaffMember, action: str, invoice: InvoiceRecord, *,
                  before: InvoiceRecord | None, after: InvoiceRecord | None,
                  done: Mapping[str, Any] | None = None) -> None:
    record_staff_action(
        conn, actor_uid=staff.uid, actor_email=staff.email, action=action, entity_type="invoice",
        entity_id=invoice.id, before=invoice_view(before) if before else None,
        after={**invoice_view(after), **(done or {})} if after else None,
    )


def record_refund_request(conn: Connection, staff: StaffMember, invoice: InvoiceRecord, refund: Mapping[str, Any]
                          ) -> None:
    """The refund Stripe made (id, amount, currency) with the invoice as it stands (its status follows Stripe's
    charge.refunded, billing/adjustments.py). A request repeated with the same Idempotency-Key is the same refund at
    Stripe: it is recorded once."""
    if any(action["action"] == "invoice.refund_requested" and (action["after"] or {}).get("refund", {}).get("id")
           == refund["id"] for action in staff_actions_on(conn, invoice.id)):
        return
    record_change(conn, staff, "invoice.refund_requested", invoice, before=invoice, after=invoice,
                  done={"refund": refund})
