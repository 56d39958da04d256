"""Requests as API Gateway delivers them, built from the committed samples in events/ (the files that
`sam local invoke -e` takes), so the tests and the samples cannot drift apart."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]


def sample(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / "events" / f"{name}.json").read_text())
    return event


def client_request(name: str, token: str | None, **path_parameters: str) -> dict[str, Any]:
    """A sample client event with our token and path parameters (rawPath rebuilt from the route key)."""
    return client_request_from(copy.deepcopy(sample(name)), token, **path_parameters)


def client_request_from(event: dict[str, Any], token: str | None, **path_parameters: str) -> dict[str, Any]:
    headers = {k: v for k, v in event.get("headers", {}).items() if k != "authorization"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    event["headers"] = headers
    event["requestContext"].pop("authorizer", None)
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
        path = event["routeKey"].split(" ", 1)[1]
        for key, value in path_parameters.items():
            path = path.replace("{" + key + "}", value)
        event["rawPath"] = path
        event["requestContext"]["http"]["path"] = path
    return event


def staff_request(route_key: str, token: str | None, *, body: Any = None, query: dict[str, str] | None = None,
                  headers: dict[str, str] | None = None, **path_parameters: str) -> dict[str, Any]:
    """A request to a staff route, built from the staff sample (events/staff_invoices.json) with its route key."""
    event = copy.deepcopy(sample("staff_invoices"))
    event["routeKey"] = event["requestContext"]["routeKey"] = route_key
    event["requestContext"]["http"]["method"] = route_key.split(" ", 1)[0]
    event["rawPath"] = event["requestContext"]["http"]["path"] = route_key.split(" ", 1)[1]
    event = client_request_from(event, token, **path_parameters)
    event["headers"].update(headers or {})
    event.pop("queryStringParameters", None)
    event["rawQueryString"] = ""
    if query:
        event["queryStringParameters"] = dict(query)
        event["rawQueryString"] = urlencode(query)
    if body is not None:
        event["body"] = body if isinstance(body, str) else json.dumps(body)
        event["headers"]["content-type"] = "application/json"
    return event


def webhook_request(payload: bytes, signature: str | None, *, base64_encoded: bool = False) -> dict[str, Any]:
    event = copy.deepcopy(sample("stripe_webhook"))
    headers = {k: v for k, v in event.get("headers", {}).items() if k != "stripe-signature"}
    if signature is not None:
        headers["stripe-signature"] = signature
    event["headers"] = headers
    event["isBase64Encoded"] = base64_encoded
    event["body"] = base64.b64encode(payload).decode() if base64_encoded else payload.decode("utf-8")
    return event


def decode(response: dict[str, Any]) -> tuple[int, Any]:
    assert response["headers"]["content-type"] == "application/json"
    return response["statusCode"], json.loads(response["body"])
