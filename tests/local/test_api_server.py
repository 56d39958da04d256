"""The local HTTP API: template.yaml's routes, requests turned into the HTTP API v2 events of events/, the
functions' real handlers behind them, and what API Gateway answers itself."""

from __future__ import annotations

import io
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from harness.events import sample
from local.api_server import LocalHttpApi, cors_from_template, http_api_event, lambda_result_to_http, serve
from local.runtime import FunctionHost
from local.template import Route, function_url_routes, http_routes
from stripe_double.events import event_payload, sign_payload
from tests.conftest import PORTAL_URL


@pytest.fixture(scope="module")
def local_api() -> LocalHttpApi:
    """The handlers imported from template.yaml once per module (a warm container), as `make dev` serves them."""
    routes = http_routes()
    return LocalHttpApi(FunctionHost(sorted({r.function for r in routes})), routes,
                        cors_from_template({"PORTAL_URL": PORTAL_URL}), log=io.StringIO())


def request(api: LocalHttpApi, method: str, path: str, token: str | None = None, body: bytes = b"",
            headers: list[tuple[str, str]] | None = None) -> tuple[int, dict[str, str], Any]:
    sent = list(headers or [])
    if token:
        sent.append(("Authorization", f"Bearer {token}"))
    response = api.respond(method, path, sent, body)
    return response.status, dict(response.headers), json.loads(response.body) if response.body else None


def test_the_routes_are_the_templates() -> None:
    assert {(r.route_key, r.function, r.authorized) for r in http_routes()} == {
        ("GET /api/client/billing", "ListInvoicesFunction", True),
        ("POST /api/client/billing/{invoiceId}/checkout", "CreateCheckoutFunction", True),
        ("GET /api/client/billing/{invoiceId}/verify/{sessionId}", "VerifySessionFunction", True),
        ("GET /api/client/billing/{invoiceId}/pdf", "InvoicePdfFunction", True),
        ("GET /api/client/billing/{invoiceId}/payments", "PaymentHistoryFunction", True),
        ("POST /api/admin/proposals/{proposalId}/invoices", "StaffInvoicesFunction", True),
        ("GET /api/admin/invoices", "StaffInvoicesFunction", True),
        ("GET /api/admin/invoices/{invoiceRef}", "StaffInvoicesFunction", True),
        ("PATCH /api/admin/invoices/{invoiceRef}", "StaffInvoicesFunction", True),
        ("POST /api/admin/invoices/{invoiceRef}/refund", "StaffInvoicesFunction", True),
        ("POST /api/webhook/stripe", "StripeWebhookFunction", False),
    }
    assert [r.path for r in function_url_routes()] == ["/api/webhook/stripe"]


@pytest.mark.parametrize("name", ["list_invoices", "create_checkout", "verify_session", "stripe_webhook",
                                  "payment_history", "staff_invoices"])
def test_events_have_the_shape_of_the_committed_samples(name) -> None:
    expected = sample(name)
    route = next(r for r in http_routes() if r.route_key == expected["routeKey"])
    headers = [(k, v) for k, v in expected["headers"].items()]
    body = (expected.get("body") or "").encode()

    event = http_api_event(route, expected.get("pathParameters") or {}, expected["requestContext"]["http"]["method"],
                           expected["rawPath"], expected["rawQueryString"], headers, body, "203.0.113.10")

    assert set(event) == set(expected)
    assert set(event["requestContext"]) == set(expected["requestContext"]) - {"authorizer"}
    assert set(event["requestContext"]["http"]) == set(expected["requestContext"]["http"])
    for key in ("routeKey", "rawPath", "isBase64Encoded"):
        assert event[key] == expected[key]
    assert event["headers"] == expected["headers"]
    assert event.get("pathParameters") == expected.get("pathParameters")
    assert event.get("body") == expected.get("body")
    assert event.get("queryStringParameters") == expected.get("queryStringParameters")


def test_a_request_reaches_the_function_and_its_answer_the_client(local_api, world, api) -> None:
    acme = world.company()
    alice = world.contact(acme)
    invoice_id = world.invoice(acme, "500.00")

    status, headers, body = request(local_api, "GET", "/api/client/billing", api.token(alice))

    assert (status, body) == api.list_invoices(alice)
    assert body["invoices"][0]["id"] == invoice_id
    assert headers["content-type"] == "application/json"


def test_path_parameters_are_passed(local_api, world, api, stripe_double) -> None:
    acme = world.company()
    alice = world.contact(acme)
    invoice_id = world.invoice(acme)

    status, _, created = request(local_api, "POST", f"/api/client/billing/{invoice_id}/checkout", api.token(alice))
    assert status == 200
    status, _, verified = request(local_api, "GET", f"/api/client/billing/{invoice_id}/verify/{created['sessionId']}",
                                  api.token(alice))

    assert (status, verified["status"]) == (200, "pending")


def test_without_an_authorization_header_the_authorizer_answers_401(local_api) -> None:
    assert request(local_api, "GET", "/api/client/billing")[::2] == (401, {"message": "Unauthorized"})


def test_the_webhook_route_has_no_authorizer_and_gets_the_exact_bytes(local_api, world, api, stripe_double, db) -> None:
    acme = world.company()
    alice = world.contact(acme)
    invoice_id = world.invoice(acme)
    _, created = api.checkout(alice, invoice_id)
    (completed,) = stripe_double.complete_session(created["sessionId"])
    payload = event_payload(completed)

    status, _, body = request(local_api, "POST", "/api/webhook/stripe", body=payload, headers=[
        ("Content-Type", "application/json; charset=utf-8"),
        ("Stripe-Signature", sign_payload(payload, api.webhook_secret))])

    assert (status, body) == (200, {"received": True, "outcome": "paid"})
    assert db('SELECT status FROM "Invoice"')[0]["status"] == "paid"


def test_a_binary_body_arrives_base64_encoded(local_api, api) -> None:
    payload = b"\xff\xfe not text"
    status, _, _ = request(local_api, "POST", "/api/webhook/stripe", body=payload, headers=[
        ("Content-Type", "application/octet-stream"), ("Stripe-Signature", sign_payload(payload, api.webhook_secret))])
    route = next(r for r in http_routes() if r.path == "/api/webhook/stripe")

    event = http_api_event(route, {}, "POST", route.path, "", [("content-type", "application/octet-stream")],
                           payload, "127.0.0.1")

    assert status == 400  # the function decoded it and refused it: not a Stripe event
    assert event["isBase64Encoded"] is True


@pytest.mark.parametrize(("method", "path"), [("GET", "/nowhere"), ("DELETE", "/api/client/billing"),
                                              ("GET", "/api/client/billing/a/b/c")])
def test_unknown_routes_are_404(local_api, method, path) -> None:
    assert request(local_api, method, path, "token")[::2] == (404, {"message": "Not Found"})


def test_cors_answers_the_portals_origin_only(local_api) -> None:
    preflight = [("Origin", PORTAL_URL), ("Access-Control-Request-Method", "POST")]
    status, headers, _ = request(local_api, "OPTIONS", "/api/client/billing/x/checkout", headers=preflight)
    assert status == 204
    assert headers["access-control-allow-origin"] == PORTAL_URL
    assert "authorization" in headers["access-control-allow-headers"]

    _, headers, _ = request(local_api, "OPTIONS", "/api/client/billing", headers=[
        ("Origin", "https://evil.example"), ("Access-Control-Request-Method", "GET")])
    assert "access-control-allow-origin" not in headers
    _, headers, _ = request(local_api, "GET", "/api/client/billing", headers=[("Origin", PORTAL_URL)])
    assert headers["access-control-allow-origin"] == PORTAL_URL


def test_handler_results_are_mapped_like_payload_format_2() -> None:
    plain = lambda_result_to_http({"invoices": []})
    assert (plain.status, json.loads(plain.body)) == (200, {"invoices": []})
    full = lambda_result_to_http({"statusCode": 409, "headers": {"X-A": "1"}, "body": "{}", "cookies": ["a=b"]})
    assert (full.status, full.headers) == (409, [("x-a", "1"), ("set-cookie", "a=b")])


@pytest.fixture
def served(local_api) -> Iterator[str]:
    server = serve(local_api, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_over_real_http_and_the_log_names_no_token(served, local_api, world, api) -> None:
    acme = world.company()
    alice = world.contact(acme)
    token = api.token(alice)
    local_api.log = io.StringIO()

    http_request = urllib.request.Request(f"{served}/api/client/billing", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(http_request, timeout=30) as response:
        assert (response.status, json.loads(response.read())) == (200, {"invoices": []})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{served}/api/client/billing", timeout=30)

    assert refused.value.code == 401
    assert "GET /api/client/billing -> ListInvoicesFunction 200" in local_api.log.getvalue()
    assert token not in local_api.log.getvalue()


def test_route_matching_prefers_literal_segments() -> None:
    routes = [Route("GET", "/items/{id}", "ById", False), Route("GET", "/items/new", "New", False)]
    api = LocalHttpApi(FunctionHost([]), routes, log=io.StringIO())
    route, _ = api.route_for("GET", "/items/new")
    assert route is not None and route.function == "New"
    assert api.route_for("GET", "/items/42") == (routes[0], {"id": "42"})
