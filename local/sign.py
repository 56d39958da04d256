"""Print a `Stripe-Signature` header for a webhook body, signed now with the local webhook secret, so that a
hand-made event can be POSTed to the local webhook route with curl:

    body='{"id":"evt_local_1","object":"event","type":"customer.created","data":{"object":{"id":"cus_1"}}}'
    curl -s localhost:3001/api/webhook/stripe -H "Stripe-Signature: $(python -m local.sign "$body")" -d "$body"

The secret is STRIPE_WEBHOOK_SECRET, else the running stack's; it is never printed.
"""

from __future__ import annotations

import argparse
import os
import sys

from local.stack import FUNCTION_DEFAULTS, StackNotRunning, load_stack
from stripe_double import sign_payload


def webhook_secret() -> str:
    if os.environ.get("STRIPE_WEBHOOK_SECRET"):
        return os.environ["STRIPE_WEBHOOK_SECRET"]
    try:
        return load_stack().environment["STRIPE_WEBHOOK_SECRET"]
    except StackNotRunning:
        return FUNCTION_DEFAULTS["STRIPE_WEBHOOK_SECRET"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Sign a webhook body for the local stack.")
    parser.add_argument("body", nargs="?", help="the exact body to send (default: read from stdin)")
    args = parser.parse_args(argv)
    body = args.body if args.body is not None else sys.stdin.read()
    print(sign_payload(body.encode("utf-8"), webhook_secret()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
