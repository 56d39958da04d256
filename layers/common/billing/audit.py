"""Staff changes, recorded: every change a staff member makes is written to "StaffAuditLog" in the transaction of
the change (who: the verified token's uid and email; what: an action and the invoice; when; the invoice before and
after, in the API's shape). A change that rolls back leaves no record, and no change is made without one."""

from __future__ import annotations

from sqlalchemy import Connection

from billing.auth import StaffMember
from billing.repository.invoices import InvoiceRecord
from billing.repository.staff_audit_log import record_staff_action
from billing.staff_views import invoice_view


def record_change(conn: Connection, staff: StaffMember, action: str, invoice: InvoiceRecord, *,
                  before: InvoiceRecord | None, after: InvoiceRecord | None) -> None:
    record_staff_action(
        conn, actor_uid=staff.uid, actor_email=staff.email, action=action, entity_type="invoice",
        entity_id=invoice.id, before=invoice_view(before) if before else None,
        after=invoice_view(after) if after else None,
    )
