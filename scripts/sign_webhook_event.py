"""Re-sign the sample Stripe webhook event with a current timestamp.

Stripe rejects signatures older than its tolerance (300 s by default), so the
`stripe-signature` header committed in events/stripe_webhook.json is always stale.
Run this before `sam local invoke StripeWebhookFunction -e events/stripe_webhook.json`:

    python scripts/sign_webhook_event.py                      # events/stripe_webhook.json
    python scripts/sign_webhook_event.py path/to/event.json --secret whsec_...

Tests and the smoke script import `fresh_webhook_event` instead of rewriting the file.

The signature follows Stripe's scheme: header `t=<unix ts>,v1=<hex HMAC-SHA256>` where
the HMAC key is the endpoint's signing secret (the whole `whsec_...` string) and the
message is f"{t}.{raw request body}".
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

DEFAULT_EVENT_PATH = Path(__file__).resolve().parent.parent / "events" / "stripe_webhook.json"
# Test-only secret: the local events are signed with it and nothing deployed ever uses it.
DEFAULT_SECRET = "whsec_test_local_events_only"
SIGNATURE_HEADER = "stripe-signature"  # HTTP API v2 lower-cases header names


def stripe_signature_header(payload: str, secret: str, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` value Stripe would send for `payload` signed at `timestamp`."""
    ts = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{ts}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={ts},v1={digest}"


def sign_event(event: dict[str, Any], secret: str = DEFAULT_SECRET, timestamp: int | None = None) -> dict[str, Any]:
    """A copy of the API Gateway event whose signature header matches its body."""
    if event.get("isBase64Encoded"):
        raise ValueError("sign the decoded body: base64-encoded sample events are not supported")
    signed = copy.deepcopy(event)
    signed["headers"][SIGNATURE_HEADER] = stripe_signature_header(signed["body"], secret, timestamp)
    return signed


def fresh_webhook_event(path: str | Path = DEFAULT_EVENT_PATH, secret: str = DEFAULT_SECRET) -> dict[str, Any]:
    """The event stored at `path`, signed now with `secret` (the file is left untouched)."""
    return sign_event(json.loads(Path(path).read_text()), secret)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", default=DEFAULT_EVENT_PATH, type=Path, help="event file, rewritten in place")
    parser.add_argument("--secret", default=DEFAULT_SECRET, help=f"webhook signing secret (default {DEFAULT_SECRET})")
    args = parser.parse_args(argv)

    event = fresh_webhook_event(args.path, args.secret)
    args.path.write_text(json.dumps(event, indent=2) + "\n")
    print(f"{args.path}: {SIGNATURE_HEADER} = {event['headers'][SIGNATURE_HEADER]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
