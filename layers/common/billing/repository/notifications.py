"""The "Notification" outbox and "NotificationOptOut": rows written in the transaction of a state change, claimed
by notifier runs (FOR UPDATE SKIP LOCKED on PostgreSQL: concurrent runs never claim the same row; SQLite
serialises whole transactions), and settled by a conditional UPDATE that names the claim."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Connection, and_, bindparam, delete, or_, select, update

from billing.repository.sql import insert_ignoring_conflict, utc_now
from billing.schema import (
    NotificationStatus,
    company,
    contact,
    invoice,
    notification,
    notification_opt_out,
    proposal,
)


class NotificationRecord(NamedTuple):
    id: str
    kind: str
    event_key: str
    contact_id: str
    invoice_id: str | None
    payload: Mapping[str, Any]
    attempts: int
    claim_token: str | None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> NotificationRecord:
        return cls(id=row["id"], kind=row["kind"], event_key=row["eventKey"], contact_id=row["contactId"],
                   invoice_id=row["invoiceId"], payload=row["payload"], attempts=row["attempts"],
                   claim_token=row["claimToken"])


class Recipient(NamedTuple):
    contact_id: str
    email: str | None
    opted_out: bool


def add_notification(conn: Connection, *, kind: str, event_key: str, contact_id: str, invoice_id: str | None,
                     payload: Mapping[str, Any]) -> bool:
    """One outbox row; False when this event was already noted for this contact (the unique key)."""
    now = utc_now()
    return insert_ignoring_conflict(conn, notification, {
        "id": uuid.uuid4().hex, "kind": kind, "eventKey": event_key, "contactId": contact_id,
        "invoiceId": invoice_id, "payload": dict(payload), "status": NotificationStatus.PENDING.value,
        "attempts": 0, "nextAttemptAt": now, "createdAt": now, "updatedAt": now,
    })


def company_of_invoice(conn: Connection, invoice_id: str) -> tuple[str, str | None] | None:
    """(company id, company name) of the invoice's proposal."""
    row = conn.execute(
        select(company.c.id, company.c.name)
        .select_from(invoice.join(proposal, proposal.c.id == invoice.c.proposalId)
                     .join(company, company.c.id == proposal.c.companyId))
        .where(invoice.c.id == invoice_id)
    ).first()
    return (row[0], row[1]) if row else None


def contacts_with_email(conn: Connection, company_id: str) -> list[str]:
    """The ids of the company's contacts that have an email address, in a stable order."""
    rows = conn.execute(
        select(contact.c.id).where(contact.c.contactCompanyId == company_id, contact.c.email.is_not(None),
                                   contact.c.email != "")
        .order_by(contact.c.id)
    )
    return [row[0] for row in rows]


def recipients(conn: Connection, contact_ids: Iterable[str]) -> dict[str, Recipient]:
    """Each contact's current email and whether it opted out of non-essential mail; a deleted contact is absent."""
    ids = sorted(set(contact_ids))
    if not ids:
        return {}
    rows = conn.execute(
        select(contact.c.id, contact.c.email, notification_opt_out.c.contactId.is_not(None))
        .select_from(contact.outerjoin(notification_opt_out, notification_opt_out.c.contactId == contact.c.id))
        .where(contact.c.id.in_(ids))
    )
    return {row[0]: Recipient(row[0], row[1] or None, bool(row[2])) for row in rows}


def claim_due(conn: Connection, *, limit: int, lease: timedelta) -> list[NotificationRecord]:
    """Claim up to `limit` rows due now: pending ones whose next attempt has come, and ones whose claim expired (a
    run that died while sending). Each claim counts as an attempt, so a row that kills every run still ends
    failed. Rows another run holds locked are skipped, never waited for nor claimed twice."""
    now = utc_now()
    due = (
        select(notification.c.id)
        .where(or_(
            and_(notification.c.status == NotificationStatus.PENDING.value, notification.c.nextAttemptAt <= now),
            and_(notification.c.status == NotificationStatus.SENDING.value, notification.c.claimedUntil < now),
        ))
        .order_by(notification.c.nextAttemptAt, notification.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    token = uuid.uuid4().hex
    rows = conn.execute(
        update(notification)
        .where(notification.c.id.in_(due.scalar_subquery()))
        .values(status=NotificationStatus.SENDING.value, claimToken=token, claimedUntil=now + lease,
                attempts=notification.c.attempts + 1, updatedAt=now)
        .returning(*notification.c)
    ).mappings()
    return sorted((NotificationRecord.from_row(row) for row in rows), key=lambda record: record.id)


_SETTLE = (
    update(notification)
    .where(notification.c.id == bindparam("b_id"), notification.c.claimToken == bindparam("b_token"),
           notification.c.status == NotificationStatus.SENDING.value)
)


def settle(conn: Connection, record: NotificationRecord, status: NotificationStatus, *,
           message_id: str | None = None, error: str | None = None, next_attempt_at: datetime | None = None,
           attempt_not_made: bool = False) -> bool:
    """End this run's claim of `record`: sent, failed, skipped, or pending again (with `next_attempt_at`). False if
    the claim was no longer this run's (it expired and another run took the row)."""
    now = utc_now()
    values: dict[str, Any] = {"status": status.value, "claimToken": None, "claimedUntil": None, "updatedAt": now,
                              "lastError": error}
    if status is NotificationStatus.SENT:
        values |= {"messageId": message_id, "sentAt": now}
    if status is NotificationStatus.PENDING:
        values["nextAttemptAt"] = next_attempt_at or now
    if attempt_not_made:
        values["attempts"] = notification.c.attempts - 1
    result = conn.execute(_SETTLE.values(**values), {"b_id": record.id, "b_token": record.claim_token})
    return bool(result.rowcount)


_SETTLED = (NotificationStatus.SENT.value, NotificationStatus.SKIPPED.value, NotificationStatus.FAILED.value)


def delete_settled_before(conn: Connection, cutoff: datetime, *, limit: int) -> int:
    """Delete up to `limit` rows settled (sent, skipped or failed) before `cutoff`; never one still to deliver."""
    old = (select(notification.c.id)
           .where(notification.c.status.in_(_SETTLED), notification.c.updatedAt < cutoff)
           .limit(limit))
    return int(conn.execute(delete(notification).where(notification.c.id.in_(old.scalar_subquery()))).rowcount)
