"""GET /api/client/billing/{invoiceId}/payments — the payments of one of the caller's company's invoices."""

from typing import Any

from billing.auth import authenticated_uid
from billing.http import ApiRequest, endpoint, path_parameter
from billing.invoices import invoice_payments
from billing.settings import Need, configure
from billing.snapstart import register_runtime_hooks

configure(Need.DATABASE, Need.FIREBASE)
register_runtime_hooks()


@endpoint
def lambda_handler(request: ApiRequest) -> tuple[int, dict[str, Any]]:
    return 200, invoice_payments(authenticated_uid(request.headers), path_parameter(request, "invoiceId"))
