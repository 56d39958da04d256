"""GET /api/client/billing — the caller's company's invoices."""

from billing.auth import authenticated_uid
from billing.http import ApiRequest, endpoint
from billing.invoices import list_invoices
from billing.settings import Need, configure

configure(Need.DATABASE, Need.FIREBASE)


@endpoint
def lambda_handler(request: ApiRequest) -> tuple[int, dict]:
    return 200, list_invoices(authenticated_uid(request.headers))
