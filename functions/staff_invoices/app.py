"""The staff routes (/api/admin/...), one function: staff traffic is small, so one SnapStart version and one cold
start serve all of them. Routes are told apart by the HTTP API's routeKey through the layer's own edge (the same
error mapping as the client routes; Powertools' router would cost its import for nothing the edge lacks)."""

from collections.abc import Callable
from typing import Any

from billing.auth import StaffMember, authenticated_staff
from billing.errors import BadRequest
from billing.http import ApiRequest, endpoint, json_body, path_parameter
from billing.settings import Need, configure
from billing.snapstart import register_runtime_hooks
from billing.staff_invoices import change_invoice, create_from_schedule, list_for_staff, refund, who_paid

configure(Need.DATABASE, Need.FIREBASE, Need.STRIPE_API)
register_runtime_hooks()

StaffRoute = Callable[[StaffMember, ApiRequest], tuple[int, dict[str, Any]]]

ROUTES: dict[str, StaffRoute] = {
    "POST /api/admin/proposals/{proposalId}/invoices":
        lambda staff, request: create_from_schedule(staff, path_parameter(request, "proposalId"), json_body(request)),
    "GET /api/admin/invoices": lambda staff, request: (200, list_for_staff(request.query)),
    "GET /api/admin/invoices/{invoiceRef}":
        lambda staff, request: (200, who_paid(path_parameter(request, "invoiceRef"))),
    "PATCH /api/admin/invoices/{invoiceRef}":
        lambda staff, request: (200, change_invoice(staff, path_parameter(request, "invoiceRef"), json_body(request))),
    "POST /api/admin/invoices/{invoiceRef}/refund":
        lambda staff, request: (200, refund(staff, path_parameter(request, "invoiceRef"), json_body(request),
                                            request.headers.get("idempotency-key"))),
}


@endpoint
def lambda_handler(request: ApiRequest) -> tuple[int, dict[str, Any]]:
    staff = authenticated_staff(request.headers)
    route = ROUTES.get(request.route_key)
    if route is None:
        raise BadRequest("no such staff route")
    return route(staff, request)
