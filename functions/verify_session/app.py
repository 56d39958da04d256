"""GET /api/client/billing/{invoiceId}/verify/{sessionId} — fallback when the webhook is late: ask Stripe and
fulfil if the session is paid."""

from typing import Any

from billing.auth import authenticated_uid
from billing.checkout import verify_checkout
from billing.http import ApiRequest, endpoint, path_parameter
from billing.settings import Need, configure
from billing.snapstart import register_runtime_hooks

configure(Need.DATABASE, Need.FIREBASE, Need.STRIPE_API)
register_runtime_hooks()


@endpoint
def lambda_handler(request: ApiRequest) -> tuple[int, dict[str, Any]]:
    uid = authenticated_uid(request.headers)
    return 200, verify_checkout(uid, path_parameter(request, "invoiceId"), path_parameter(request, "sessionId"))
