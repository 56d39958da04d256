"""The HTTP edge of every function: HTTP API (payload 2.0) events in, JSON responses out.

`endpoint` is the one place where errors become HTTP responses: routes return `(status, body)` or raise a
BillingError; anything else is logged and answered 500 without details.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Callable, Mapping
from decimal import Decimal
from functools import wraps
from typing import Any, NamedTuple

from billing.errors import BadRequest, BillingError, PayloadTooLarge
from billing.observability import count, log_keys, logger

# Larger bodies are refused before any parsing. Stripe's biggest event payloads are tens of kB.
MAX_BODY_BYTES = 256 * 1024
ERROR_RESPONSE_METRIC = "ErrorResponse"
_MAX_LOGGED_ID = 100

Response = dict[str, Any]


class FileResponse(NamedTuple):
    """A 200 whose body is a file (an invoice's PDF), sent base64-encoded as API Gateway expects binary bodies."""

    content_type: str
    body: bytes
    filename: str


Route = Callable[["ApiRequest"], "tuple[int, Mapping[str, Any]] | FileResponse"]


class ApiRequest(NamedTuple):  # immutable; cheaper to define than a dataclass
    headers: Mapping[str, str]  # names lower-cased; repeated headers arrive comma-joined
    path_parameters: Mapping[str, str]
    body: bytes  # exact bytes received (base64 already decoded): the webhook signature covers them
    query: Mapping[str, str] = {}  # queryStringParameters (repeated names arrive comma-joined)
    route_key: str = ""  # "GET /api/admin/invoices": which route of a function serving several

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> ApiRequest:
        if not isinstance(event, Mapping):
            raise BadRequest("malformed request")
        headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
        raw_body = event.get("body") or ""
        if not isinstance(raw_body, str):
            raise BadRequest("malformed request body")
        # base64 inflates by 4/3: check the size before decoding too, so a huge body costs nothing.
        if len(raw_body) > MAX_BODY_BYTES * 4 // 3 + 4:
            raise PayloadTooLarge()
        if event.get("isBase64Encoded"):
            try:
                body = base64.b64decode(raw_body, validate=True)
            except (binascii.Error, ValueError):
                raise BadRequest("request body is not valid base64") from None
        else:
            try:
                body = raw_body.encode("utf-8", errors="surrogateescape")
            except UnicodeEncodeError:  # a lone surrogate no byte stands for: no client could have sent it
                raise BadRequest("request body is not valid UTF-8") from None
        if len(body) > MAX_BODY_BYTES:
            raise PayloadTooLarge()
        path_parameters = {str(k): str(v) for k, v in (event.get("pathParameters") or {}).items()}
        query = {str(k): str(v) for k, v in (event.get("queryStringParameters") or {}).items()}
        return cls(headers=headers, path_parameters=path_parameters, body=body, query=query,
                   route_key=str(event.get("routeKey") or ""))


def endpoint(route: Route) -> Callable[[Mapping[str, Any], Any], Response]:
    """Wrap a route as a Lambda handler with the single error mapping of this service; Powertools puts the request
    id, the function and the cold start flag on every log line of the invocation (`inject_lambda_context`)."""

    @wraps(route)
    def lambda_handler(event: Mapping[str, Any], context: Any) -> Response:
        with log_keys(**_payment_ids(event)):
            try:
                answer = route(ApiRequest.from_event(event))
                if isinstance(answer, FileResponse):
                    return file_response(answer)
                status, body = answer
                return json_response(status, body)
            except BillingError as error:
                log = logger.warning if error.status_code >= 500 else logger.info
                log("request refused", extra={"status": error.status_code, "reason": type(error).__name__})
                return _error_response(error.status_code, error_body(error))
            except Exception:
                logger.exception("unhandled error")
                return _error_response(500, {"error": "internal error"})

    # clear_state: keys appended during one invocation never reach the next one's lines
    handler: Callable[[Mapping[str, Any], Any], Response] = logger.inject_lambda_context(lambda_handler,
                                                                                          clear_state=True)
    return handler


def error_body(error: BillingError) -> dict[str, Any]:
    body: dict[str, Any] = {"error": error.message}
    reasons = getattr(error, "reasons", None)
    if reasons:
        body["reasons"] = list(reasons)
    return body


def json_body(request: ApiRequest) -> dict[str, Any]:
    """The request's JSON object body; BadRequest for anything else."""
    try:
        parsed = json.loads(request.body or b"{}", parse_float=Decimal)  # amounts stay exact
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("request body is not JSON") from None
    if not isinstance(parsed, dict):
        raise BadRequest("request body must be a JSON object")
    return parsed


def _payment_ids(event: Any) -> dict[str, str | None]:
    """The route's invoiceId and sessionId, for every log line of the request (cut short: they come from the
    caller, and are checked only by the route)."""
    parameters = event.get("pathParameters") if isinstance(event, Mapping) else None
    if not isinstance(parameters, Mapping):
        return {}
    return {key: str(parameters[key])[:_MAX_LOGGED_ID] for key in ("invoiceId", "sessionId") if key in parameters}


def _error_response(status: int, body: Mapping[str, Any]) -> Response:
    """An error answered, and counted by function and class (4xx, 5xx): the webhook's alarms watch their rates
    whichever ingress Stripe calls (docs/OPERATIONS.md)."""
    count(ERROR_RESPONSE_METRIC, function=os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or "local",
          status_class=f"{status // 100}xx")
    return json_response(status, body)


def json_response(status: int, body: Mapping[str, Any]) -> Response:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json", "cache-control": "no-store"},
        "body": json.dumps(body, default=_json_default, separators=(",", ":")),
        "isBase64Encoded": False,
    }


def file_response(answer: FileResponse) -> Response:
    safe_name = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in answer.filename)
    return {
        "statusCode": 200,
        "headers": {"content-type": answer.content_type, "cache-control": "no-store",
                    "content-disposition": f'attachment; filename="{safe_name}"'},
        "body": base64.b64encode(answer.body).decode("ascii"),
        "isBase64Encoded": True,
    }


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        # JSON numbers are IEEE doubles for every client (the portal is JavaScript). This is a representation
        # at the edge, not arithmetic; refuse any amount a double could not carry exactly.
        number = int(value) if value == value.to_integral_value() else float(value)
        if Decimal(repr(number)) != value:
            raise ValueError(f"amount {value} cannot be represented exactly in JSON")
        return number
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def path_parameter(request: ApiRequest, name: str) -> str:
    value = request.path_parameters.get(name)
    if not value:
        raise BadRequest(f"missing path parameter {name}")
    return value
