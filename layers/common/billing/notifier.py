"""Delivering the outbox (billing/outbox.py): claim due rows, send each, record what came of it.

A run claims a batch in one short transaction (billing.repository.notifications.claim_due: FOR UPDATE SKIP LOCKED,
so concurrent runs share the rows out and none is claimed twice), sends outside any transaction, and records each
message's outcome in a transaction of its own as soon as SES has answered:

- sent: the row is done, with SES's message id;
- SES throttled the call even after the client's own retries: the row, and the rest of the batch, go back to
  pending for a later run, the attempt not counted (backing off is not failing);
- another error: pending again after an exponential backoff (1, 2, 4 ... minutes, at most an hour), or failed
  once NOTIFICATION_MAX_ATTEMPTS attempts were made or SES refused the message for good. A failed row is logged
  and counted in the metric `NotificationFailed`, which the template's alarm watches;
- nobody to send it to (the contact was deleted, has no email, or opted out of non-essential mail): skipped.

Delivery is at least once. A message is sent twice only when a run dies (or loses the database) between SES
accepting the message and the UPDATE that records it: the claim then expires (`CLAIM_LEASE`) and a later run
sends the row again. That window is one database round trip per message, so a duplicate takes a crash or a
database failure in those milliseconds; docs/RELIABILITY.md says more.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from billing import email_content
from billing.db import transaction
from billing.email_sender import CaptureSender, EmailSender, OutgoingEmail, SendFailed, SesSender
from billing.observability import logger, surface
from billing.outbox import NON_ESSENTIAL
from billing.repository.notifications import NotificationRecord, Recipient, claim_due, recipients, settle
from billing.repository.payment_records import receipt_urls
from billing.repository.sql import utc_now
from billing.schema import NotificationKind, NotificationStatus
from billing.settings import settings

# Longer than the notifier's timeout (template.yaml): a run still alive never loses its claim to another.
CLAIM_LEASE = timedelta(minutes=5)
RETRY_BASE = timedelta(minutes=1)
RETRY_MAX = timedelta(hours=1)
THROTTLED_PAUSE = timedelta(minutes=1)
FAILED_METRIC = "NotificationFailed"


def deliver_due_notifications(sender: EmailSender | None = None) -> dict[str, int]:
    """One run: the outcomes of the rows it claimed (at most NOTIFICATION_BATCH_SIZE), counted ("sent", "retry",
    "failed", "skipped", "deferred")."""
    sender = sender or configured_sender()
    with transaction() as conn:
        claimed = claim_due(conn, limit=settings().notification_batch_size or 1, lease=CLAIM_LEASE)
        found = recipients(conn, (record.contact_id for record in claimed))
        receipts = receipt_urls(conn, filter(None, map(_payment_intent, claimed)))
    outcomes: Counter[str] = Counter()
    throttled = False
    for record in claimed:
        if throttled:  # SES asked us to slow down: leave the rest for the next run
            _settle(record, NotificationStatus.PENDING, next_attempt_in=THROTTLED_PAUSE, attempt_not_made=True)
            outcomes["deferred"] += 1
            continue
        outcome = _deliver(record, found.get(record.contact_id), sender, receipts.get(_payment_intent(record) or ""))
        throttled = outcome == "throttled"
        outcomes["deferred" if throttled else outcome] += 1
    if claimed:
        logger.info("notifications delivered", extra=dict(outcomes))
    return dict(outcomes)


def configured_sender() -> EmailSender:
    capture_dir = settings().email_capture_dir
    return CaptureSender(capture_dir) if capture_dir else SesSender(settings().ses_configuration_set)


def _payment_intent(record: NotificationRecord) -> str | None:
    """The PaymentIntent a payment-succeeded row tells about (its event key is "<invoice id>:<PaymentIntent>")."""
    if record.kind != NotificationKind.PAYMENT_SUCCEEDED:
        return None
    return record.event_key.partition(":")[2] or None


def _deliver(record: NotificationRecord, recipient: Recipient | None, sender: EmailSender,
             receipt_url: str | None = None) -> str:
    """Send one row. A receipt links Stripe's receipt when `charge.succeeded` has recorded it by now (read at send
    time: that event may arrive after the one that paid the invoice and wrote the row)."""
    if recipient is None or not recipient.email:
        _settle(record, NotificationStatus.SKIPPED, error="no_recipient")
        return "skipped"
    non_essential = record.kind in NON_ESSENTIAL
    if non_essential and recipient.opted_out:
        _settle(record, NotificationStatus.SKIPPED, error="opted_out")
        return "skipped"
    try:
        payload = {**record.payload, "receiptUrl": receipt_url} if receipt_url else record.payload
        content = email_content.render(record.kind, payload, portal_url=str(settings().portal_url),
                                       payer_name=_payer_name(record), non_essential=non_essential)
        message_id = sender.send(OutgoingEmail(str(settings().email_from_address), recipient.email, content,
                                               record.id))
    except SendFailed as error:
        return _failed_attempt(record, error)
    except (KeyError, ValueError, ArithmeticError) as error:  # a row no template can render: no retry helps
        return _failed_attempt(record, SendFailed(f"render_{type(error).__name__}", permanent=True))
    _settle(record, NotificationStatus.SENT, message_id=message_id)
    return "sent"


def _payer_name(record: NotificationRecord) -> str | None:
    name = record.payload.get("payerName")
    return name if isinstance(name, str) and name.strip() else None


def _failed_attempt(record: NotificationRecord, error: SendFailed) -> str:
    if error.throttled:
        _settle(record, NotificationStatus.PENDING, error=error.code, next_attempt_in=THROTTLED_PAUSE,
                attempt_not_made=True)
        logger.warning("email sending throttled by SES", extra={"notification_id": record.id})
        return "throttled"
    max_attempts = settings().notification_max_attempts or 1
    if error.permanent or record.attempts >= max_attempts:
        _settle(record, NotificationStatus.FAILED, error=error.code)
        # No dimension but the service's: the template's alarm watches the one metric, whatever the kind.
        surface(FAILED_METRIC, "notification failed", kind=record.kind, notification_id=record.id,
                invoice_id=record.invoice_id, attempts=record.attempts, error=error.code)
        return "failed"
    _settle(record, NotificationStatus.PENDING, error=error.code, next_attempt_in=retry_delay(record.attempts))
    logger.info("notification will be retried", extra={"notification_id": record.id, "error": error.code,
                                                        "attempts": record.attempts})
    return "retry"


def retry_delay(attempts: int) -> timedelta:
    """After the `attempts`-th failed attempt: 1, 2, 4 ... minutes, at most RETRY_MAX."""
    delay: timedelta = RETRY_BASE * 2 ** max(attempts - 1, 0)
    return min(delay, RETRY_MAX)


def _settle(record: NotificationRecord, status: NotificationStatus, *, message_id: str | None = None,
            error: str | None = None, next_attempt_in: timedelta | None = None, attempt_not_made: bool = False
            ) -> None:
    with transaction() as conn:
        still_ours = settle(conn, record, status, message_id=message_id, error=error,
                            next_attempt_at=utc_now() + next_attempt_in if next_attempt_in else None,
                            attempt_not_made=attempt_not_made)
    if not still_ours:
        logger.warning("notification claim expired before its outcome was recorded",
                       extra={"notification_id": record.id, "status": status.value})
