"""The HTTP edge of every function (billing/http.py): HTTP API events in, JSON out, and the one place errors become
responses. Tables, no database: a route here is a plain function."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

import pytest

from billing.errors import (
    BadRequest,
    BillingError,
    InvoiceNotFound,
    InvoiceNotPayable,
    NotAuthenticated,
    PaymentProviderUnavailable,
    ServiceUnavailable,
)
from billing.http import MAX_BODY_BYTES, ApiRequest, endpoint, json_response, path_parameter
from local.runtime import LambdaContext

CONTEXT = LambdaContext("UnitFunction", memory_limit_in_mb=512, timeout_seconds=28)


def event(**fields: Any) -> dict[str, Any]:
    return {"version": "2.0", "routeKey": "POST /x", "headers": {"Content-Type": "application/json"}, **fields}


@pytest.mark.parametrize(
    ("fields", "request_read"),
    [
        ({}, ApiRequest({"content-type": "application/json"}, {}, b"")),
        ({"body": '{"a": "é"}'}, ApiRequest({"content-type": "application/json"}, {}, '{"a": "é"}'.encode())),
        ({"body": base64.b64encode(b"\x00\xff").decode(), "isBase64Encoded": True},
         ApiRequest({"content-type": "application/json"}, {}, b"\x00\xff")),
        ({"headers": {"Stripe-Signature": "t=1,v1=x", "X-Many": 2}},
         ApiRequest({"stripe-signature": "t=1,v1=x", "x-many": "2"}, {}, b"")),
        ({"headers": None, "pathParameters": {"invoiceId": "inv_1"}}, ApiRequest({}, {"invoiceId": "inv_1"}, b"")),
        ({"body": "x" * MAX_BODY_BYTES}, ApiRequest({"content-type": "application/json"}, {}, b"x" * MAX_BODY_BYTES)),
        ({"queryStringParameters": {"status": "paid", "limit": 5}},
         ApiRequest({"content-type": "application/json"}, {}, b"", {"status": "paid", "limit": "5"})),
    ],
    ids=["no body", "text", "base64", "header names lower-cased", "path parameters", "at the size limit", "query"],
)
def test_an_http_api_event_is_read(fields: dict[str, Any], request_read: ApiRequest) -> None:
    # the route key tells the routes of one function apart (the staff function's)
    assert ApiRequest.from_event(event(**fields)) == request_read._replace(route_key="POST /x")


@pytest.mark.parametrize(
    ("raw", "status", "message"),
    [
        ("not an event", 400, "malformed request"),
        (event(body={"json": "object"}), 400, "malformed request body"),
        (event(body="!!!", isBase64Encoded=True), 400, "not valid base64"),
        (event(body="\ud800"), 400, "not valid UTF-8"),  # a lone surrogate no byte stands for
        (event(body="x" * (MAX_BODY_BYTES + 1)), 413, "too large"),
        (event(body=base64.b64encode(b"x" * (MAX_BODY_BYTES + 1)).decode(), isBase64Encoded=True), 413, "too large"),
        (event(body="x" * (MAX_BODY_BYTES * 2)), 413, "too large"),  # refused before decoding
    ],
    ids=["not a mapping", "body not text", "bad base64", "not UTF-8", "over the limit", "over it once decoded",
         "far over it"],
)
def test_what_cannot_be_a_request_is_answered_by_the_edge(raw: Any, status: int, message: str) -> None:
    response = endpoint(lambda request: (200, {"served": True}))(raw, CONTEXT)
    assert response["statusCode"] == status
    assert message in json.loads(response["body"])["error"]


@pytest.mark.parametrize(
    ("raised", "status", "body"),
    [
        (BadRequest("missing path parameter invoiceId"), 400, {"error": "missing path parameter invoiceId"}),
        (NotAuthenticated(), 401, {"error": "missing, invalid or expired ID token"}),
        (InvoiceNotFound(), 404, {"error": "invoice not found"}),
        (InvoiceNotPayable("invoice is paid"), 409, {"error": "invoice is paid"}),
        (PaymentProviderUnavailable(), 502, {"error": "payment provider unavailable, nothing was changed; try again"}),
        (ServiceUnavailable(), 503, {"error": "service temporarily unavailable; try again"}),
        (BillingError(), 500, {"error": "internal error"}),
        (KeyError("secret detail"), 500, {"error": "internal error"}),  # never the detail of a bug
    ],
)
def test_errors_become_responses_in_one_place(raised: Exception, status: int, body: dict[str, str]) -> None:
    def route(request: ApiRequest) -> tuple[int, dict[str, Any]]:
        raise raised

    response = endpoint(route)(event(), CONTEXT)
    assert (response["statusCode"], json.loads(response["body"])) == (status, body)
    assert response["headers"] == {"content-type": "application/json", "cache-control": "no-store"}


@pytest.mark.parametrize(
    ("parameters", "name", "value"),
    [({"invoiceId": "inv_1"}, "invoiceId", "inv_1"), ({}, "invoiceId", None), ({"invoiceId": ""}, "invoiceId", None)],
)
def test_a_path_parameter_is_there_or_the_request_is_bad(parameters: dict[str, str], name: str,
                                                         value: str | None) -> None:
    request = ApiRequest({}, parameters, b"")
    if value is None:
        with pytest.raises(BadRequest, match=f"missing path parameter {name}"):
            path_parameter(request, name)
    else:
        assert path_parameter(request, name) == value


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({"amount": Decimal("500.00")}, '{"amount":500}'),
        ({"amount": Decimal("12.34")}, '{"amount":12.34}'),
        ({"amount": Decimal("1234.560")}, '{"amount":1234.56}'),
        ({"amount": Decimal("150000")}, '{"amount":150000}'),
        ({"amount": Decimal("92233720368547758.07")}, None),  # no double carries it: refused, never rounded
        ({"amount": Decimal("0.1")}, '{"amount":0.1}'),
        ({"paidAt": None, "status": "paid"}, '{"paidAt":null,"status":"paid"}'),
        ({"when": object()}, None),
    ],
    ids=["whole", "cents", "trailing zero", "zero-decimal", "beyond a double", "a tenth", "plain values",
         "not serializable"],
)
def test_json_encoding_of_answers(body: dict[str, Any], text: str | None) -> None:
    if text is None:
        with pytest.raises((ValueError, TypeError)):
            json_response(200, body)
    else:
        assert json_response(200, body)["body"] == text
