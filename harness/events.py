"""Requests as API Gateway delivers them, built from the committed samples in events/ (the files that
`sam local invoke -e` takes), so the tests and the samples cannot drift apart."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def sample(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / "events" / f"{name}.json").read_text())
    return event


def client_request(name: str, token: str | None, **path_parameters: str) -> dict[str, Any]:
    """A sample client event with our token and path parameters (rawPath rebuilt from the route key)."""
    event = copy.deepcopy(sample(name))
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
