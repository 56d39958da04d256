"""The Stripe double: a stateful HTTP double of the Stripe v1 API this project uses, a product of this project in
its own right. The tests, the local stack (`make dev`), the storm and the benchmark all run on it; the real
`stripe` SDK talks to it over a socket, so form encoding, errors, retries and idempotency keys are exercised as in
production. Never deployed: nothing in the layer or the functions imports it.
"""

from stripe_double.double import (
    API_VERSION,
    EVENT_TYPES,
    FormError,
    RecordedRequest,
    Response,
    StripeApiError,
    StripeDouble,
    event_payload,
    parse_form,
    sign_payload,
    webhook_request,
)

__all__ = [
    "API_VERSION",
    "EVENT_TYPES",
    "FormError",
    "RecordedRequest",
    "Response",
    "StripeApiError",
    "StripeDouble",
    "event_payload",
    "parse_form",
    "sign_payload",
    "webhook_request",
]
