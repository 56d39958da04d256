"""Payments that could not settle their invoice (billing/unapplied_payments.py), by command.

    make unapplied-payments                        # those waiting for a decision (held, refund due, in flight)
    make unapplied-payments ARGS="refund pi_..."   # refund it in full through Stripe
    make unapplied-payments ARGS="accept pi_..."   # it settles its invoice after all (a held payment only)

(DATABASE_URL names the database; refund and accept also need STRIPE_SECRET_KEY and STRIPE_MODE, as the
functions read them. The make target puts the layer on PYTHONPATH.)

Under MISMATCHED_PAYMENT_POLICY=hold nothing is refunded automatically: every such payment waits here. Accepting
applies the payment to its invoice (paid by the payer its session names) only while the invoice is still payable;
a checkout in progress is expired at Stripe first. Every line printed is JSON; no personal data is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from billing import unapplied_payments
from billing.db import transaction
from billing.errors import BillingError
from billing.repository.unapplied_payments import unapplied_payments_with_status
from billing.schema import UnappliedStatus
from billing.settings import Need, configure

_WAITING = (UnappliedStatus.HELD, UnappliedStatus.REFUND_DUE, UnappliedStatus.IN_FLIGHT)


def main(argv: list[str] | None = None) -> int:
    # Stdout is this command's answer, one JSON line each: no EMF metric among them (CloudWatch reads those from
    # Lambda's output only; what an operator does here is not what the alarms watch).
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("list", help="payments waiting for a decision (the default)")
    for name, text in (("refund", "refund the payment in full"), ("accept", "apply the payment to its invoice")):
        command = commands.add_parser(name, help=text)
        command.add_argument("payment_intent_id")
    args = parser.parse_args(argv)

    if args.command in (None, "list"):
        configure(Need.DATABASE)
        with transaction() as conn:
            waiting = unapplied_payments_with_status(conn, _WAITING, limit=1000)
        for line in unapplied_payments.listing(waiting):
            print(json.dumps(line))
        return 0
    configure(Need.DATABASE, Need.STRIPE_API)
    try:
        if args.command == "refund":
            record = unapplied_payments.refund(args.payment_intent_id)
            print(json.dumps({"paymentIntentId": record.id, "status": record.status, "refundId": record.refund_id}))
        else:
            invoice = unapplied_payments.accept(args.payment_intent_id)
            print(json.dumps({"paymentIntentId": args.payment_intent_id, "status": "accepted",
                              "invoiceId": invoice.id, "invoiceStatus": invoice.status}))
    except (LookupError, BillingError) as error:
        print(json.dumps({"paymentIntentId": args.payment_intent_id, "error": str(error)}), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
