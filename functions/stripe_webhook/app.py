"""POST /api/webhook/stripe (HTTP API route and Function URL) — Stripe events; the signature authenticates."""

from typing import Any

from billing.http import ApiRequest, endpoint
from billing.settings import Need, configure
from billing.snapstart import register_runtime_hooks
from billing.webhook import handle_stripe_webhook

configure(Need.DATABASE, Need.STRIPE_WEBHOOK)
register_runtime_hooks()


@endpoint
def lambda_handler(request: ApiRequest) -> tuple[int, dict[str, Any]]:
    return 200, handle_stripe_webhook(request.body, request.headers.get("stripe-signature"))
