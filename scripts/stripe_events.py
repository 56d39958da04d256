"""Operate the webhook inbox ("StripeEvent") by command.

    DATABASE_URL=... python scripts/stripe_events.py failed            # events whose processing failed
    DATABASE_URL=... python scripts/stripe_events.py reprocess evt_...  # apply a stored event again

Reprocessing runs the same code as the webhook, in one transaction, and is a no-op for an event that was
processed already; it is for events recorded with an error once their cause is fixed (Stripe also retries
them by itself for three days).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "layers" / "common"))  # run from a checkout

from billing.db import transaction  # noqa: E402
from billing.repository import unprocessed_events  # noqa: E402
from billing.settings import Need, configure  # noqa: E402
from billing.webhook import reprocess_stored_event  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("failed", help="list events recorded but not processed (with their error)")
    reprocess = commands.add_parser("reprocess", help="apply a stored event again")
    reprocess.add_argument("event_id")
    args = parser.parse_args(argv)

    configure(Need.DATABASE)
    if args.command == "failed":
        with transaction() as conn:
            for event in unprocessed_events(conn):
                print(json.dumps({"id": event.id, "type": event.type, "invoiceId": event.invoice_id,
                                  "receivedAt": event.received_at.isoformat(), "outcome": event.outcome}))
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
