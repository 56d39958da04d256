"""Scheduled (EventBridge): apply Stripe's word on checkouts left open or processing, in case a webhook was lost."""

from typing import Any

from billing.reconciliation import reconcile
from billing.settings import Need, configure

configure(Need.DATABASE, Need.STRIPE_API, Need.RECONCILIATION)


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return reconcile()
