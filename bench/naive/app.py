"""The naive baseline: the same four routes written the way the seed (and most Lambda ports of it) does it.

NOT shipped code - it exists only to be measured against (`python -m bench`). It runs the layer's own route logic,
so responses and SQL are the same, and differs exactly where the seed's way differs:
- every library imported at module level by every function (firebase-admin, stripe, SQLAlchemy, pg8000, all of
  Powertools, and the X-Ray SDK that Powertools' Tracer needs);
- Powertools Logger, Tracer and Metrics created at import, the handler wrapped in all three decorators (the Tracer
  patches every library the X-Ray SDK knows, as it does by default);
- a new database connection (a new engine) for every request;
- packaged the default `sam build` way, without bytecode (the benchmark gives it such a layer).
"""

from collections.abc import Callable
from typing import Any

import firebase_admin  # noqa: F401
import pg8000  # noqa: F401
import sqlalchemy  # noqa: F401
import stripe  # noqa: F401
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from firebase_admin import auth, credentials  # noqa: F401

from billing import db
from billing.auth import authenticated_uid
from billing.checkout import start_checkout, verify_checkout
from billing.http import ApiRequest, endpoint, path_parameter
from billing.invoices import list_invoices as invoices_of
from billing.settings import Need, configure
from billing.webhook import handle_stripe_webhook

logger = Logger()
tracer = Tracer()
metrics = Metrics()

configure(Need.DATABASE, Need.FIREBASE, Need.STRIPE_API, Need.STRIPE_WEBHOOK, Need.PORTAL)

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def _seed_style(route: Handler, metric: str) -> Handler:
    @logger.inject_lambda_context
    @tracer.capture_lambda_handler(capture_response=False)  # even a baseline keeps client secrets out of traces
    @metrics.log_metrics(capture_cold_start_metric=True)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        try:
            metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)
            return route(event, context)
        finally:
            db.dispose()  # a new connection for the next request, as `create_engine()` inside a handler does

    decorated: Handler = handler  # Powertools' decorators are typed as returning Any
    return decorated


@endpoint
def _list(request: ApiRequest) -> tuple[int, dict[str, Any]]:
    return 200, invoices_of(authenticated_uid(request.headers))


@endpoint
def _checkout(request: ApiRequest) -> tuple[int, dict[str, Any]]:
    return 200, start_checkout(authenticated_uid(request.headers), path_parameter(request, "invoiceId"))


@endpoint
def _verify(request: ApiRequest) -> tuple[int, dict[str, Any]]:
    uid = authenticated_uid(request.headers)
    return 200, verify_checkout(uid, path_parameter(request, "invoiceId"), path_parameter(request, "sessionId"))


@endpoint
def _webhook(request: ApiRequest) -> tuple[int, dict[str, Any]]:
    return 200, handle_stripe_webhook(request.body, request.headers.get("stripe-signature"))


list_invoices = _seed_style(_list, "InvoicesListed")
create_checkout = _seed_style(_checkout, "CheckoutStarted")
verify_session = _seed_style(_verify, "CheckoutVerified")
stripe_webhook = _seed_style(_webhook, "WebhookReceived")
