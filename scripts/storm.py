"""The webhook storm at any size, with figures (tests/test_storm.py runs it at CI size).

    make storm                       # --invoices 200 --deliveries 1000 --baseline: also 1 process, same run
    make storm STORM_ARGS=--drop-refunds-and-disputes
        # every refund and dispute delivery dropped: only reconciliation's read of Stripe's events list finds them

Needs PostgreSQL as for the tests (TEST_POSTGRES_URL, default 127.0.0.1:5432 with trust auth): it creates a
throw-away database per run and drops it afterwards. The Stripe double and Google's certificate endpoint run
in-process, exactly as in the tests. Exits non-zero unless every invoice ends as Stripe says, with zero lost,
doubled and misattributed payments.
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid

from sqlalchemy import create_engine

from google_double.certificates import google_certificate_endpoint
from google_double.tokens import FirebaseTokenIssuer
from harness import transitions
from harness.api import Api
from harness.database import create_database, drop_database
from harness.functions import load_all
from harness.storm import Storm, StormReport
from harness.world import World
from stripe_double.double import StripeDouble

PROJECT_ID = "billing-storm"
WEBHOOK_SECRET = "whsec_storm_" + uuid.uuid4().hex


class Environment:
    """What the tests' session fixtures provide: the Stripe double, Google's certificates, the settings. Shared by
    the runs of one command; each run gets a database of its own."""

    def __init__(self) -> None:
        self.stripe = StripeDouble().start()
        self.issuer = FirebaseTokenIssuer(PROJECT_ID)
        self.certificates = google_certificate_endpoint(self.issuer.certificates())
        os.environ.update({
            "FIREBASE_PROJECT_ID": PROJECT_ID, "STRIPE_SECRET_KEY": "sk_test_storm_" + uuid.uuid4().hex,
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET, "STRIPE_API_BASE": self.stripe.url, "STRIPE_MODE": "test",
            "PORTAL_URL": "https://portal.example.test", "POWERTOOLS_SERVICE_NAME": "billing", "LOG_LEVEL": "WARNING",
            "RECONCILE_AFTER_MINUTES": "30", "STRIPE_EVENT_RETENTION_DAYS": "90",
            # every function is loaded, the notifier too (it sends nothing here)
            "EMAIL_FROM_ADDRESS": "billing@portal.example.test", "NOTIFICATION_MAX_ATTEMPTS": "3",
            "NOTIFICATION_BATCH_SIZE": "50",
        })

    def run(self, args: argparse.Namespace, processes: int) -> StormReport:
        from billing.db import dispose

        database_url = create_database(f"billing_storm_{uuid.uuid4().hex[:12]}")
        os.environ.update({"DATABASE_URL": database_url, "RECONCILE_BATCH_SIZE": str(max(100, args.invoices))})
        dispose()  # the previous run's engine pointed at the previous database
        self.stripe.reset()
        engine = create_engine(database_url)
        try:
            functions = load_all()  # each function validates its settings at import, as on a cold start
            transitions.install(engine)
            storm = Storm(world=World(engine), api=Api(functions, self.issuer, WEBHOOK_SECRET), stripe=self.stripe,
                          functions=functions, engine=engine, issuer=self.issuer, seed=args.seed)
            return storm.run(invoices=args.invoices, processes=processes, duplicate_share=args.duplicates,
                             lost_share=args.lost, min_deliveries=args.deliveries,
                             drop_adjustment_deliveries=args.drop_refunds_and_disputes)
        finally:
            engine.dispose()
            dispose()
            drop_database(database_url)

    def stop(self) -> None:
        self.certificates.stop()
        self.stripe.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--invoices", type=int, default=200)
    parser.add_argument("--deliveries", type=int, default=1000, help="at least this many webhook deliveries")
    parser.add_argument("--duplicates", type=float, default=0.2, help="share of deliveries that are duplicates")
    parser.add_argument("--lost", type=float, default=0.05, help="share of checkout events never delivered")
    parser.add_argument("--processes", type=int, default=4, help="concurrent worker processes (containers)")
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--baseline", action="store_true", help="first run the same storm with one process")
    parser.add_argument("--drop-refunds-and-disputes", action="store_true",
                        help="deliver no refund or dispute event at all: reconciliation must find them all")
    args = parser.parse_args(argv)

    held = True
    runs = [("baseline, 1 process", 1)] if args.baseline else []
    runs.append((f"storm, {args.processes} processes", args.processes))
    environment = Environment()
    try:
        for title, processes in runs:
            report = environment.run(args, processes)
            print(f"== {title}")
            print("\n".join(report.lines()))
            for problem in [*report.errors, *report.wrong_states][:20]:
                print(f"   ! {problem}")
            held = held and report.held()
    finally:
        environment.stop()
    print("HELD" if held else "DID NOT HOLD")
    return 0 if held else 1


if __name__ == "__main__":
    sys.exit(main())
