"""Scheduled (EventBridge): apply Stripe's word on checkouts left open or processing, in case a webhook was lost."""

from typing import Any

from billing.reconciliation import reconcile
from billing.settings import Need, configure
from billing.snapstart import register_runtime_hooks

configure(Need.DATABASE, Need.STRIPE_API, Need.RECONCILIATION)
register_runtime_hooks()


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return reconcile()
