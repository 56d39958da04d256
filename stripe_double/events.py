"""Webhook deliveries as Stripe makes them: the event's JSON body and its `Stripe-Signature`."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any


def event_payload(event: Mapping[str, Any]) -> bytes:
    """The webhook body Stripe would POST for ``event`` (pretty-printed UTF-8 JSON)."""
    return json.dumps(event, indent=2).encode("utf-8")


def sign_payload(payload: bytes | str, secret: str, timestamp: int | None = None) -> str:
    """A real ``Stripe-Signature`` header: ``t=<ts>,v1=<HMAC-SHA256("<ts>.<payload>")>``."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    body = payload.encode("utf-8") if isinstance(payload, str) else payload
    signature = hmac.new(secret.encode("utf-8"), f"{ts}.".encode("ascii") + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={signature}"


def webhook_request(
    event: Mapping[str, Any], secret: str, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """Body and headers of the webhook delivery Stripe would make for ``event``."""
    body = event_payload(event)
    return body, delivery_headers(body, secret, timestamp)


def delivery_headers(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """The headers of one delivery attempt of ``body``: Stripe signs each attempt anew, so a retry hours later
    still passes the receiver's 300 s tolerance."""
    return {
        "Content-Type": "application/json; charset=utf-8",
        "Stripe-Signature": sign_payload(body, secret, timestamp),
        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
    }
