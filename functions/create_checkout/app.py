"""POST /api/client/billing/{invoiceId}/checkout — a Checkout Session (new or reused) for an invoice."""

from typing import Any

from billing.auth import authenticated_uid
from billing.checkout import start_checkout
from billing.http import ApiRequest, endpoint, path_parameter
from billing.settings import Need, configure
from billing.snapstart import register_runtime_hooks

configure(Need.DATABASE, Need.FIREBASE, Need.STRIPE_API, Need.PORTAL)
register_runtime_hooks()


@endpoint
def lambda_handler(request: ApiRequest) -> tuple[int, dict[str, Any]]:
    return 200, start_checkout(authenticated_uid(request.headers), path_parameter(request, "invoiceId"))
