"""Scheduled (EventBridge): apply Stripe's word on checkouts left open or processing and on events never delivered
(Stripe's events list), and refund payments set aside because they could not settle their invoice."""

from typing import Any

from billing.observability import logger
from billing.reconciliation import reconcile
from billing.settings import Need, configure
from billing.snapstart import register_runtime_hooks

configure(Need.DATABASE, Need.STRIPE_API, Need.RECONCILIATION)
register_runtime_hooks()


@logger.inject_lambda_context(clear_state=True)  # the request id and the cold start flag on every log line
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return reconcile()
