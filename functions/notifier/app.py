"""Scheduled (EventBridge, every minute): deliver the notifications the state changes wrote to the outbox, through
Amazon SES. Scheduled rather than invoked by the routes, so that no payment route waits on email or on a Lambda
invoke, and so that a row SES could not take is retried on the next run with nothing else to trigger it."""

from typing import Any

from billing.notifier import deliver_due_notifications
from billing.observability import logger
from billing.settings import Need, configure
from billing.snapstart import register_runtime_hooks

configure(Need.DATABASE, Need.PORTAL, Need.NOTIFICATIONS)
register_runtime_hooks()


@logger.inject_lambda_context  # the request id and the cold start flag on every log line
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return deliver_due_notifications()
