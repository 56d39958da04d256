"""Scheduled (EventBridge, daily): processed Stripe events past STRIPE_EVENT_RETENTION_DAYS leave the inbox, and
rows stored whole before the inbox kept only what the code reads are brought down to it; settled notifications past
NOTIFICATION_RETENTION_DAYS (default 30) leave the outbox."""

from typing import Any

from billing.inbox import apply_retention
from billing.observability import logger
from billing.outbox import apply_notification_retention
from billing.settings import Need, configure
from billing.snapstart import register_runtime_hooks

configure(Need.DATABASE, Need.EVENT_RETENTION)
register_runtime_hooks()


@logger.inject_lambda_context(clear_state=True)  # the request id and the cold start flag on every log line
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {**apply_retention(), "notifications_deleted": apply_notification_retention()}
