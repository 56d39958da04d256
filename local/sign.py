"""Stripe-Signature headers made now with the local webhook secret (STRIPE_WEBHOOK_SECRET, else the running stack's,
else the local default; never printed).

A hand-made event POSTed to the local webhook route with curl:

    body='{"id":"evt_local_1","object":"event","type":"customer.created","data":{"object":{"id":"cus_1"}}}'
    curl -s localhost:3001/api/webhook/stripe -H "Stripe-Signature: $(python -m local.sign "$body")" -d "$body"

A sample API Gateway event re-signed in place (Stripe accepts a signature for 300 s, so a committed one is stale;
`sam local invoke StripeWebhookFunction -e events/stripe_webhook.json` wants a fresh one):

    python -m local.sign --event events/stripe_webhook.json          (make sign ARGS="--event events/...")
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from local.stack import stack_setting
from stripe_double.events import sign_payload

SIGNATURE_HEADER = "stripe-signature"  # HTTP API v2 lower-cases header names


def signed_event(event: dict[str, Any], secret: str) -> dict[str, Any]:
    """An API Gateway event whose Stripe-Signature is made now for its exact body (Stripe allows 300 s)."""
    if event.get("isBase64Encoded"):
        raise ValueError("sign the decoded body: base64-encoded events are not supported")
    # The header keeps its place (a committed sample's diff shows the signature alone changing).
    headers = {k: v for k, v in (event.get("headers") or {}).items()
               if k.lower() != SIGNATURE_HEADER or k == SIGNATURE_HEADER}
    headers[SIGNATURE_HEADER] = sign_payload((event.get("body") or "").encode("utf-8"), secret)
    return {**event, "headers": headers}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Sign a webhook body, or re-sign an event file, for the local stack.")
    parser.add_argument("body", nargs="?", help="the exact body to send (default: read from stdin)")
    parser.add_argument("--event", type=Path, help="an API Gateway event file: its signature is made anew in place")
    args = parser.parse_args(argv)
    secret = stack_setting("STRIPE_WEBHOOK_SECRET")
    if args.event is not None:
        event = signed_event(json.loads(args.event.read_text()), secret)
        args.event.write_text(json.dumps(event, indent=2) + "\n")
        print(f"{args.event}: {SIGNATURE_HEADER} = {event['headers'][SIGNATURE_HEADER]}")
        return 0
    body = args.body if args.body is not None else sys.stdin.read()
    print(sign_payload(body.encode("utf-8"), secret))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
