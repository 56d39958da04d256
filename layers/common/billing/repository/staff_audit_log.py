"""The "StaffAuditLog" table: one row per change a staff member made, inserted in the change's own transaction."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, insert, select

from billing.repository.sql import utc_now
from billing.schema import staff_audit_log


def record_staff_action(
    conn: Connection, *, actor_uid: str, actor_email: str | None, action: str, entity_type: str, entity_id: str,
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None,
) -> None:
    conn.execute(insert(staff_audit_log).values(
        id=uuid.uuid4().hex, actorUid=actor_uid, actorEmail=actor_email, action=action, entityType=entity_type,
        entityId=entity_id, before=_json_safe(before), after=_json_safe(after), createdAt=utc_now(),
    ))


def _json_safe(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """JSON as stored: amounts as their exact decimal text ("500.00"), never a float."""
    if value is None:
        return None
    return {key: str(item) if isinstance(item, Decimal) else item for key, item in value.items()}


def staff_actions_on(conn: Connection, entity_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(select(staff_audit_log).where(staff_audit_log.c.entityId == entity_id)
                        .order_by(staff_audit_log.c.createdAt, staff_audit_log.c.id)).mappings()
    return [dict(row) for row in rows]
