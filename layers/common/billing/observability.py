"""The one logger and the one metrics object every function uses: Powertools structured JSON logs, and Powertools
Metrics in CloudWatch's embedded metric format (EMF: a JSON line on stdout that CloudWatch turns into metrics).

Nothing here logs whole events or headers: payment and auth requests carry ID tokens, signatures and
client secrets.

The libraries' own loggers stay at WARNING whatever the root logger's level (Lambda sets it from the function's
ApplicationLogLevel): at DEBUG the Stripe SDK logs request and response bodies (client secrets, payers' emails),
botocore the secrets Secrets Manager returns, urllib3 and requests every URL, SQLAlchemy every row it reads
(contacts' emails, stored events) and google-auth its token exchanges. Their warnings and errors still reach the
logs; our own logger follows LOG_LEVEL.

Metrics cost a cold start nothing: `aws_lambda_powertools` imports its metrics module with the logger anyway, and
the Metrics object is made at the first metric, not at import. The functions do not wrap their handlers in
`log_metrics`, so each metric is flushed as it is recorded; another metric is one more `count(...)` call.

The metrics an operator watches (docs/OPERATIONS.md lists each with its alarm), each counted in the one place its
event happens:

| metric | counted where |
| --- | --- |
| `PaymentPaid`, `PaymentFailed`, `PaymentProcessing` | fulfillment.py: the invoice's transition, once committed |
| `UnappliedPayment` (dimension `reason`) | unapplied_payments.set_aside: a payment that cannot settle its invoice |
| `MismatchedPaymentRefunded`, `MismatchedPaymentHeld` | unapplied_payments: refunded, or held for an operator |
| `WebhookEvent` (dimension `outcome`) | webhook.handle_stripe_webhook: every verified delivery's outcome |
| `WebhookSignatureFailure` | webhook: a delivery whose signature no secret held verifies |
| `ReconciliationRepair` | reconciliation: a change the webhook should have made (a lost or late delivery) |
| `StripeRetry`, `StripeError` | stripe_gateway: each retried attempt; each call that failed for good |
| `DatabaseReconnect` (dimension `reason`) | db, db_pg8000: a connection replaced, or a login refused and tried again |
| `ErrorResponse` (dimensions `function`, `status_class`) | http.endpoint: every 4xx and 5xx answered |

Metrics an alarm watches carry no dimension but `service`, so that one alarm sees every occurrence.

Log lines about a payment carry its ids (`log_keys`): invoiceId, sessionId, eventId, as the code learns them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics

QUIET_LIBRARY_LOGGERS = ("stripe", "urllib3", "requests", "botocore", "boto3", "sqlalchemy", "google", "cachecontrol",
                         "firebase_admin", "pg8000", "aws_lambda_powertools")

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or "billing")

for _name in QUIET_LIBRARY_LOGGERS:
    logging.getLogger(_name).setLevel(logging.WARNING)

METRICS_NAMESPACE = "ClientPortal"  # the template's POWERTOOLS_METRICS_NAMESPACE, for runs without it
RECONNECT_METRIC = "DatabaseReconnect"  # billing/db.py and billing/db_pg8000.py: each way a connection is replaced


@cache
def metrics() -> Metrics:
    return Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or METRICS_NAMESPACE,
                   service=os.environ.get("POWERTOOLS_SERVICE_NAME") or "billing")


def count(name: str, value: int = 1, **dimensions: str) -> None:
    """Emit a Count metric now, with low-cardinality `dimensions` (a reason, an outcome; never an id)."""
    from aws_lambda_powertools.metrics import MetricUnit

    recorder = metrics()
    for key, dimension in dimensions.items():
        recorder.add_dimension(name=key, value=dimension)
    recorder.add_metric(name=name, unit=MetricUnit.Count, value=value)
    recorder.flush_metrics()


@contextmanager
def log_keys(**ids: str | None) -> Iterator[None]:
    """Every log line within carries these ids (invoiceId, sessionId, eventId: never personal data); the keys go
    when the block ends, so the next payment's lines carry only its own."""
    present = {key: value for key, value in ids.items() if value}
    logger.append_keys(**present)
    try:
        yield
    finally:
        logger.remove_keys(list(present))


def surface(metric: str, message: str, *, dimensions: dict[str, str] | None = None, **fields: Any) -> None:
    """Something an operator must see: a WARNING log line with `fields` (ids only, never personal data) and the
    metric an alarm can watch."""
    logger.warning(message, extra={"metric": metric, **(dimensions or {}), **fields})
    count(metric, 1, **(dimensions or {}))
