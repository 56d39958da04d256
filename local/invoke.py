"""`sam local invoke` without Docker: invoke one function of template.yaml with an event file and print its
response, in this process.

    python -m local.invoke ListInvoicesFunction -e events/list_invoices.json
    python -m local.invoke StripeWebhookFunction -e events/stripe_webhook.json --sign
    python -m local.invoke CreateCheckoutFunction -e events/create_checkout.json --env-vars .local/env.json

Settings, strongest first: `--env-vars` (sam's format: "Parameters" for every function, or a block named after
the function), the environment, the running stack's (`make dev`: its database and Stripe double), the local
defaults. Like `sam local`, it sets AWS_SAM_LOCAL=true and AWS_LAMBDA_FUNCTION_NAME. The response is printed on
stdout; the function's logs go to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import traceback
from pathlib import Path

from local.runtime import FunctionHost
from local.sign import signed_event
from local.stack import STATE_DIR, StackNotRunning, function_environment, load_stack
from local.template import functions


def settings_for(function: str, env_vars_file: Path | None) -> dict[str, str]:
    try:
        stack = load_stack(STATE_DIR)
        base = dict(stack.environment)
    except StackNotRunning:
        print("invoke: the local stack is not running (`make dev`): the default SQLite database is used and "
              "Stripe calls will fail with 502", file=sys.stderr)
        base = function_environment({}, STATE_DIR, "http://127.0.0.1:9")  # the discard port: nothing answers
    settings = {**base, **{k: v for k, v in os.environ.items() if k in base and v}}
    if env_vars_file is not None:
        overrides = json.loads(env_vars_file.read_text())
        settings |= {k: str(v) for k, v in (overrides.get("Parameters") or {}).items()}
        settings |= {k: str(v) for k, v in (overrides.get(function) or {}).items()}
    return settings | {"AWS_SAM_LOCAL": "true", "AWS_LAMBDA_FUNCTION_NAME": function}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Invoke a template.yaml function with an event (no Docker).")
    parser.add_argument("function", choices=sorted(functions()), metavar="FUNCTION",
                        help="logical id in template.yaml: " + ", ".join(functions()))
    parser.add_argument("-e", "--event", required=True, help="event file (JSON), or - for stdin")
    parser.add_argument("--env-vars", type=Path, help="sam local's env-vars JSON file")
    parser.add_argument("--sign", action="store_true", help="re-sign a webhook event's body with the webhook secret")
    args = parser.parse_args(argv)

    event = json.loads(sys.stdin.read() if args.event == "-" else Path(args.event).read_text())
    settings = settings_for(args.function, args.env_vars)
    if args.sign:
        try:
            event = signed_event(event, settings["STRIPE_WEBHOOK_SECRET"])
        except ValueError as error:
            raise SystemExit(f"--sign: {error}") from None
    os.environ.update(settings)
    host = FunctionHost([args.function])
    # Keep stdout for the response alone: the function's logger is created (on stdout) while this is redirected.
    with contextlib.redirect_stdout(sys.stderr):
        try:
            response = host.invoke(args.function, event)
        except Exception:
            traceback.print_exc()
            return 1
    print(json.dumps(response, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
