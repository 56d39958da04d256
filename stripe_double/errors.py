"""Stripe-shaped API errors: what the double answers when Stripe would refuse a request, with Stripe's messages,
codes and `param`, so that the SDK raises the exception it raises against Stripe."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stripe_double.vocabulary import RENAMED_PARAMS

Json = dict[str, Any]


class StripeApiError(Exception):
    """A Stripe-shaped API error, raised while handling a request and sent as JSON.

    ``type`` is one of the four values ``stripe.ErrorObject.type`` documents
    (api_error, card_error, idempotency_error, invalid_request_error); the SDK picks
    its exception class from the HTTP status and ``type``/``code``.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.decline_code = decline_code
        self.headers = dict(headers or {})

    def body(self, request_id: str, now: int) -> Json:
        """The JSON error body; absent fields are omitted like the real API does."""
        error: Json = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"https://docs.stripe.com/error-codes/{self.code.replace('_', '-')}"
        if self.decline_code:
            error["decline_code"] = self.decline_code
        if self.param:
            error["param"] = self.param
        error["request_log_url"] = f"https://dashboard.stripe.com/test/logs/{request_id}?t={now}"
        return {"error": error}


def invalid(message: str, param: str | None = None, code: str | None = None) -> StripeApiError:
    return StripeApiError(400, message, param=param, code=code)


def missing(param: str) -> StripeApiError:
    return invalid(f"Missing required param: {param}.", param, "parameter_missing")


def unknown(param: str) -> StripeApiError:
    message = f"Received unknown parameter: {param}"
    if param in RENAMED_PARAMS:
        message += f". Did you mean {RENAMED_PARAMS[param]}?"
    return invalid(message, param, "parameter_unknown")


def unsupported(param: str) -> StripeApiError:
    return invalid(
        f"StripeDouble does not implement `{param}`; extend "
        "the stripe_double package if the code under test needs it.",
        param,
    )


def no_such(kind: str, object_id: str, *, param: str = "id", status: int = 404) -> StripeApiError:
    return StripeApiError(status, f"No such {kind}: '{object_id}'", param=param, code="resource_missing")
