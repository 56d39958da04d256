"""Operate the webhook inbox ("StripeEvent") by command.

    make stripe-events ARGS=failed               # events whose processing failed
    make stripe-events ARGS="reprocess evt_..."  # apply a stored event again

The database is DATABASE_URL's, else the running local stack's (`make dev`), like the other local tools. The
layer must be importable: the make target sets PYTHONPATH.

Reprocessing runs the same code as the webhook, in one transaction, and is a no-op for an event that was
processed already; it is for events recorded with an error once their cause is fixed (Stripe also retries
them by itself for three days).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from billing.db import transaction
from billing.repository.stripe_events import unprocessed_events
from billing.settings import Need, configure
from billing.webhook import reprocess_stored_event
from local.stack import StackNotRunning, stack_setting


def main(argv: list[str] | None = None) -> int:
    # Stdout is this command's answer, one JSON line each: no EMF metric among them (CloudWatch reads those from
    # Lambda's output only; what an operator does here is not what the alarms watch).
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("failed", help="list events recorded but not processed (with their error)")
    reprocess = commands.add_parser("reprocess", help="apply a stored event again")
    reprocess.add_argument("event_id")
    args = parser.parse_args(argv)

    try:
        os.environ["DATABASE_URL"] = stack_setting("DATABASE_URL")
    except StackNotRunning as error:
        print(f"stripe-events: set DATABASE_URL to the database to look at, or {error}", file=sys.stderr)
        return 2
    configure(Need.DATABASE)
    if args.command == "failed":
        with transaction() as conn:
            failed = unprocessed_events(conn)
        for event in failed:
            print(json.dumps({"id": event.id, "type": event.type, "invoiceId": event.invoice_id,
                              "receivedAt": event.received_at.isoformat(), "outcome": event.outcome}))
        if not failed:  # said on stderr: stdout stays one JSON object per failed event
            print("stripe-events: no failed events (every stored event was processed)", file=sys.stderr)
        return 0
    try:
        outcome = reprocess_stored_event(args.event_id)
    except LookupError as error:
        print(error, file=sys.stderr)
        return 1
    print(json.dumps({"id": args.event_id, "outcome": outcome or "already processed"}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
