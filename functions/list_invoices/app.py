"""GET /api/client/billing — the caller's company's invoices."""

from typing import Any

from billing.auth import authenticated_uid
from billing.http import ApiRequest, endpoint
from billing.invoices import list_invoices
from billing.settings import Need, configure
from billing.snapstart import register_runtime_hooks

configure(Need.DATABASE, Need.FIREBASE)
register_runtime_hooks()


@endpoint
def lambda_handler(request: ApiRequest) -> tuple[int, dict[str, Any]]:
    return 200, list_invoices(authenticated_uid(request.headers))
