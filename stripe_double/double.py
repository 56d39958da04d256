"""A stateful, thread-safe HTTP double of the Stripe v1 API used by the billing backend.

Why a real HTTP server rather than mocks: the real ``stripe`` SDK talks to it over a
socket, so form encoding, error parsing, retries and idempotency keys are exercised
exactly as in production -- from the test process and from child processes alike.

Objects and errors mirror the typed resources of the pinned SDK; enum values and the
accepted parameter names are read from the SDK itself, so an SDK upgrade that renames
something shows up as a failing test instead of a silently wrong double.  Parameters
that Stripe accepts but the double does not model are rejected with a 400 that says
so, rather than being ignored.

Tests play the customer's part through helper methods (``complete_session``,
``async_payment``, ``refund``, ``dispute`` ...), which return the events Stripe would
send; ``sign_payload``/``event_payload`` turn those into signed webhook requests.

Only the standard library and ``stripe`` are used, so the module also runs as a
standalone server: ``python -m stripe_double --port 12111``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import copy
import fnmatch
import hashlib
import hmac
import json
import re
import secrets
import string
import sys
import threading
import time
import traceback
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import stripe
from stripe.params import CustomerCreateParams, EventListParams, RefundCreateParams
from stripe.params.checkout import (
    SessionCreateParams,
    SessionCreateParamsLineItem,
    SessionCreateParamsLineItemPriceData,
    SessionCreateParamsLineItemPriceDataProductData,
    SessionCreateParamsPaymentIntentData,
    SessionListLineItemsParams,
    SessionListParams,
)

__all__ = [
    "API_VERSION",
    "FormError",
    "RecordedRequest",
    "Response",
    "StripeApiError",
    "StripeDouble",
    "event_payload",
    "main",
    "parse_form",
    "sign_payload",
    "webhook_request",
]

Json = dict[str, Any]
EventListener = Callable[[Json], None]

API_VERSION: str = stripe.api_version
"""The API version the pinned SDK speaks; stamped on every event."""


# --------------------------------------------------------------------------------------
# Vocabulary taken from the SDK, so the double cannot drift from the pinned version.
# --------------------------------------------------------------------------------------


def _literals(annotation: Any) -> tuple[str, ...]:
    """All string literals inside a typing annotation (``Optional[Union[Literal..]]``)."""
    if typing.get_origin(annotation) is typing.Literal:
        return tuple(arg for arg in typing.get_args(annotation) if isinstance(arg, str))
    return tuple(v for arg in typing.get_args(annotation) for v in _literals(arg))


def _param_names(typed_dict: type) -> frozenset[str]:
    """API parameter names of an SDK params TypedDict (minus client-side options)."""
    return frozenset(typed_dict.__annotations__) - frozenset(stripe.RequestOptions.__annotations__)


_Session = stripe.checkout.Session
UI_MODES = _literals(_Session.__annotations__["ui_mode"])
SESSION_MODES = _literals(_Session.__annotations__["mode"])
SESSION_STATUSES = _literals(_Session.__annotations__["status"])
LOCALES = _literals(_Session.__annotations__["locale"])
SUBMIT_TYPES = _literals(_Session.__annotations__["submit_type"])
REDIRECT_ON_COMPLETION = _literals(_Session.__annotations__["redirect_on_completion"])
CUSTOMER_CREATION = _literals(_Session.__annotations__["customer_creation"])
BILLING_ADDRESS_COLLECTION = _literals(_Session.__annotations__["billing_address_collection"])
PAYMENT_METHOD_TYPES = _literals(SessionCreateParams.__annotations__["allowed_payment_method_types"])
CAPTURE_METHODS = _literals(stripe.PaymentIntent.__annotations__["capture_method"])
SETUP_FUTURE_USAGE = _literals(stripe.PaymentIntent.__annotations__["setup_future_usage"])
TAX_BEHAVIORS = _literals(stripe.Price.__annotations__["tax_behavior"])
REFUND_REASONS = _literals(stripe.Refund.__annotations__["reason"])
DISPUTE_STATUSES = _literals(stripe.Dispute.__annotations__["status"])
EVENT_TYPES = frozenset(_literals(stripe.Event.__annotations__["type"]))

_SESSION_CREATE_PARAMS = _param_names(SessionCreateParams)
_LINE_ITEM_PARAMS = _param_names(SessionCreateParamsLineItem)
_PRICE_DATA_PARAMS = _param_names(SessionCreateParamsLineItemPriceData)
_PRODUCT_DATA_PARAMS = _param_names(SessionCreateParamsLineItemPriceDataProductData)
_PAYMENT_INTENT_DATA_PARAMS = _param_names(SessionCreateParamsPaymentIntentData)
_SESSION_LIST_PARAMS = _param_names(SessionListParams)
_LINE_ITEM_LIST_PARAMS = _param_names(SessionListLineItemsParams)
_CUSTOMER_CREATE_PARAMS = _param_names(CustomerCreateParams)
_EVENT_LIST_PARAMS = _param_names(EventListParams)
_REFUND_CREATE_PARAMS = _param_names(RefundCreateParams)
_RETRIEVE_PARAMS = frozenset({"expand"})

# Parameters the double actually models; the rest of the SDK's names get a 400.
_MODELED_SESSION_PARAMS = frozenset(
    {
        "allowed_payment_method_types",
        "billing_address_collection",
        "cancel_url",
        "client_reference_id",
        "customer",
        "customer_creation",
        "customer_email",
        "excluded_payment_method_types",
        "expand",
        "expires_at",
        "line_items",
        "locale",
        "metadata",
        "mode",
        "payment_intent_data",
        "redirect_on_completion",
        "return_url",
        "submit_type",
        "success_url",
        "ui_mode",
    }
)
_MODELED_LINE_ITEM_PARAMS = frozenset({"metadata", "price", "price_data", "quantity"})
_MODELED_PRICE_DATA_PARAMS = frozenset(
    {"currency", "product", "product_data", "recurring", "tax_behavior", "unit_amount", "unit_amount_decimal"}
)
_MODELED_PRODUCT_DATA_PARAMS = frozenset({"description", "images", "metadata", "name", "unit_label"})
_MODELED_PAYMENT_INTENT_DATA_PARAMS = frozenset(
    {
        "capture_method",
        "description",
        "metadata",
        "receipt_email",
        "setup_future_usage",
        "statement_descriptor",
        "statement_descriptor_suffix",
    }
)
_MODELED_CUSTOMER_PARAMS = frozenset(
    {"description", "email", "expand", "metadata", "name", "phone", "preferred_locales"}
)
_PAGINATION_PARAMS = frozenset({"ending_before", "expand", "limit", "starting_after"})
_MODELED_SESSION_LIST_PARAMS = _PAGINATION_PARAMS | {
    "customer",
    "payment_intent",
    "payment_link",
    "status",
    "subscription",
}
_MODELED_EVENT_LIST_PARAMS = _PAGINATION_PARAMS | {"created", "type", "types"}
_MODELED_REFUND_PARAMS = frozenset({"amount", "charge", "expand", "metadata", "payment_intent", "reason"})
_RANGE_OPERATORS = {"gt": int.__gt__, "gte": int.__ge__, "lt": int.__lt__, "lte": int.__le__}

# Names older integrations send that this API version dropped.
_RENAMED_PARAMS = {"payment_method_types": "allowed_payment_method_types"}

# fmt: off
# Methods whose payment outcome arrives later (checkout completes "unpaid").
_DELAYED_METHODS = (
    "us_bank_account", "sepa_debit", "bacs_debit", "acss_debit", "au_becs_debit", "boleto", "konbini", "oxxo",
    "customer_balance", "sofort", "pay_by_bank",
)

_DISPUTE_REASONS = (
    "bank_cannot_process", "check_returned", "credit_not_processed", "customer_initiated", "debit_not_authorized",
    "duplicate", "fraudulent", "general", "incorrect_account_details", "insufficient_funds", "noncompliant",
    "product_not_received", "product_unacceptable", "subscription_canceled", "unrecognized",
)
_OPEN_DISPUTE_STATUSES = ("needs_response", "under_review", "warning_needs_response", "warning_under_review")
_CLOSED_DISPUTE_STATUSES = ("won", "lost", "warning_closed")

_DISPUTE_EVIDENCE_FIELDS = (
    "access_activity_log", "billing_address", "cancellation_policy", "cancellation_policy_disclosure",
    "cancellation_rebuttal", "customer_communication", "customer_email_address", "customer_name",
    "customer_purchase_ip", "customer_signature", "duplicate_charge_documentation", "duplicate_charge_explanation",
    "duplicate_charge_id", "product_description", "receipt", "refund_policy", "refund_policy_disclosure",
    "refund_refusal_explanation", "service_date", "service_documentation", "shipping_address", "shipping_carrier",
    "shipping_date", "shipping_documentation", "shipping_tracking_number", "uncategorized_file", "uncategorized_text",
)

SUPPORTED_CURRENCIES = frozenset((
    "usd", "aed", "afn", "all", "amd", "ang", "aoa", "ars", "aud", "awg", "azn", "bam", "bbd", "bdt", "bgn", "bhd",
    "bif", "bmd", "bnd", "bob", "brl", "bsd", "bwp", "byn", "bzd", "cad", "cdf", "chf", "clp", "cny", "cop", "crc",
    "cve", "czk", "djf", "dkk", "dop", "dzd", "egp", "etb", "eur", "fjd", "fkp", "gbp", "gel", "gip", "gmd", "gnf",
    "gtq", "gyd", "hkd", "hnl", "htg", "huf", "idr", "ils", "inr", "isk", "jmd", "jod", "jpy", "kes", "kgs", "khr",
    "kmf", "krw", "kwd", "kyd", "kzt", "lak", "lbp", "lkr", "lrd", "lsl", "mad", "mdl", "mga", "mkd", "mmk", "mnt",
    "mop", "mur", "mvr", "mwk", "mxn", "myr", "mzn", "nad", "ngn", "nio", "nok", "npr", "nzd", "omr", "pab", "pen",
    "pgk", "php", "pkr", "pln", "pyg", "qar", "ron", "rsd", "rub", "rwf", "sar", "sbd", "scr", "sek", "sgd", "shp",
    "sle", "sos", "srd", "std", "szl", "thb", "tjs", "tnd", "top", "try", "ttd", "twd", "tzs", "uah", "ugx", "uyu",
    "uzs", "vnd", "vuv", "wst", "xaf", "xcd", "xof", "xpf", "yer", "zar", "zmw",
))

# Currencies whose minor unit is not the hundredth (https://docs.stripe.com/currencies).
ZERO_DECIMAL_CURRENCIES = frozenset((
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf",
))
THREE_DECIMAL_CURRENCIES = frozenset(("bhd", "jod", "kwd", "omr", "tnd"))

# Stripe's minimum charge per settlement currency, in the smallest currency unit.
_MINIMUM_CHARGE = {
    "usd": 50, "aed": 200, "aud": 50, "bgn": 100, "brl": 50, "cad": 50, "chf": 50, "czk": 1500, "dkk": 250,
    "eur": 50, "gbp": 30, "hkd": 400, "huf": 17500, "inr": 50, "jpy": 50, "mxn": 1000, "myr": 200, "nok": 300,
    "nzd": 50, "pln": 200, "ron": 200, "sek": 300, "sgd": 50, "thb": 1000,
}
# fmt: on
_MAXIMUM_AMOUNT = 99_999_999

_SESSION_MIN_LIFETIME = 30 * 60
_SESSION_MAX_LIFETIME = 24 * 60 * 60

# object kind -> {expandable field -> kind of the expanded value}
_EXPANDABLE: dict[str, dict[str, str]] = {
    "checkout.session": {
        "customer": "customer",
        "invoice": "invoice",
        "line_items": "list:item",
        "payment_intent": "payment_intent",
        "payment_link": "payment_link",
        "setup_intent": "setup_intent",
        "subscription": "subscription",
    },
    "payment_intent": {"customer": "customer", "latest_charge": "charge"},
    "charge": {"customer": "customer", "payment_intent": "payment_intent"},
    "refund": {"charge": "charge", "payment_intent": "payment_intent"},
    "dispute": {"charge": "charge", "payment_intent": "payment_intent"},
    # A line item's price is embedded, not expandable; listing it lets paths reach price.product.
    "item": {"price": "price"},
    "price": {"product": "product"},
}

_ID_PREFIXES = {
    "cus_": "customer",
    "cs_": "checkout.session",
    "pi_": "payment_intent",
    "ch_": "charge",
    "re_": "refund",
    "dp_": "dispute",
    "evt_": "event",
    "price_": "price",
    "prod_": "product",
}

_ALPHABET = string.ascii_letters + string.digits


def _random(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def _new_id(prefix: str, length: int = 24) -> str:
    return prefix + _random(length)


# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------


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


def _invalid(message: str, param: str | None = None, code: str | None = None) -> StripeApiError:
    return StripeApiError(400, message, param=param, code=code)


def _missing(param: str) -> StripeApiError:
    return _invalid(f"Missing required param: {param}.", param, "parameter_missing")


def _unknown(param: str) -> StripeApiError:
    message = f"Received unknown parameter: {param}"
    if param in _RENAMED_PARAMS:
        message += f". Did you mean {_RENAMED_PARAMS[param]}?"
    return _invalid(message, param, "parameter_unknown")


def _unsupported(param: str) -> StripeApiError:
    return _invalid(
        f"StripeDouble does not implement `{param}`; extend "
        "the stripe_double package if the code under test needs it.",
        param,
    )


def _no_such(kind: str, object_id: str, *, param: str = "id", status: int = 404) -> StripeApiError:
    return StripeApiError(status, f"No such {kind}: '{object_id}'", param=param, code="resource_missing")


def _one_of(values: Iterable[str]) -> str:
    items = list(values)
    return ", ".join(items[:-1]) + f", or {items[-1]}" if len(items) > 1 else items[0]


# Bodies for injected failures: status -> (type, code, message).
_FAULT_ERRORS: dict[int, tuple[str, str | None, str]] = {
    402: ("card_error", "card_declined", "Your card was declined."),
    409: (
        "idempotency_error",
        None,
        "There is currently another in-progress request using this Idempotency-Key. Please try again later.",
    ),
    429: (
        "invalid_request_error",
        "rate_limit",
        "Request rate limit exceeded. Learn more about rate limits here https://docs.stripe.com/rate-limits.",
    ),
    500: ("api_error", None, "Something went wrong on Stripe's end."),
    502: ("api_error", None, "Bad gateway."),
    503: ("api_error", None, "Stripe is temporarily unavailable."),
    504: ("api_error", None, "Gateway timeout."),
}


# --------------------------------------------------------------------------------------
# Form decoding and parameter validation
# --------------------------------------------------------------------------------------


class FormError(ValueError):
    """A form body that cannot be turned into nested parameters."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


_KEY_RE = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_SEGMENT_RE = re.compile(r"\[([^\[\]]*)\]")


def parse_form(pairs: Iterable[tuple[str, str]]) -> Json:
    """Decode Stripe's bracket notation (``a[b][0][c]=v``, ``expand[]=x``) into dicts/lists.

    Dicts whose keys are all indexes become lists, except under ``metadata`` where
    numeric keys are ordinary keys.
    """
    root: Json = {}
    for raw_key, value in pairs:
        match = _KEY_RE.match(raw_key)
        if match is None:
            raise FormError(f"Invalid parameter name: {raw_key}", raw_key)
        parts = [match.group(1), *_SEGMENT_RE.findall(match.group(2))]
        node = root
        for depth, part in enumerate(parts):
            key = part if part != "" else str(len(node))
            if depth == len(parts) - 1:
                if isinstance(node.get(key), dict):
                    raise FormError("Invalid hash", raw_key)
                node[key] = value
            else:
                child = node.setdefault(key, {})
                if not isinstance(child, dict):
                    raise FormError("Invalid hash", raw_key)
                node = child
    return typing.cast(Json, _listify(root, None))


def _listify(node: Any, key: str | None) -> Any:
    if not isinstance(node, dict):
        return node
    if key != "metadata" and node and all(k.isdigit() for k in node):
        return [_listify(node[k], k) for k in sorted(node, key=int)]
    return {k: _listify(v, k) for k, v in node.items()}


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _check_known(params: Mapping[str, Any], known: frozenset[str], modeled: frozenset[str], prefix: str = "") -> None:
    """400 for names Stripe does not know, and for names the double does not model."""
    for key in params:
        name = f"{prefix}[{key}]" if prefix else key
        if key not in known:
            raise _unknown(name)
        if key not in modeled:
            raise _unsupported(name)


def _required(params: Mapping[str, Any], key: str, prefix: str = "") -> Any:
    if params.get(key) in (None, ""):
        raise _missing(f"{prefix}[{key}]" if prefix else key)
    return params[key]


def _string(value: Any, param: str, *, max_length: int | None = None) -> str:
    if not isinstance(value, str):
        raise _invalid(f"Invalid string: {_show(value)}", param)
    if max_length is not None and len(value) > max_length:
        raise _invalid(f"This value must be {max_length} characters or fewer.", param, "string_length")
    return value


def _integer(value: Any, param: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    if not isinstance(value, str) or not re.fullmatch(r"-?[0-9]+", value.strip()):
        raise _invalid(f"Invalid integer: {_show(value)}", param, "parameter_invalid_integer")
    number = int(value)
    if minimum is not None and number < minimum:
        raise _invalid(f"This value must be greater than or equal to {minimum}.", param)
    if maximum is not None and number > maximum:
        raise _invalid(f"This value must be less than or equal to {maximum}.", param)
    return number


def _enum(value: Any, allowed: Iterable[str], param: str) -> str:
    allowed = tuple(allowed)
    if value not in allowed:
        raise _invalid(f"Invalid {param}: must be one of {_one_of(allowed)}", param)
    return typing.cast(str, value)


def _enum_list(value: Any, allowed: Iterable[str], param: str) -> list[str]:
    if not isinstance(value, list) or not value:
        raise _invalid("Invalid array", param)
    return [_enum(item, allowed, f"{param}[{i}]") for i, item in enumerate(value)]


def _string_list(value: Any, param: str) -> list[str]:
    if not isinstance(value, list):
        raise _invalid("Invalid array", param)
    return [_string(item, f"{param}[{i}]") for i, item in enumerate(value)]


def _metadata(value: Any, param: str) -> dict[str, str]:
    """Validate metadata the way Stripe does; empty values mean "unset"."""
    if value == "":
        return {}
    if not isinstance(value, dict):
        raise _invalid("Invalid object", param)
    if len(value) > 50:
        raise _invalid("You can have up to 50 metadata keys.", param)
    result: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(item, str):
            raise _invalid(f"Invalid string: {_show(item)}", f"{param}[{key}]")
        if len(key) > 40:
            raise _invalid(
                "Metadata keys can have up to 40 characters, but you passed in a key "
                f"that is {len(key)} characters. Invalid key: {key}",
                param,
            )
        if len(item) > 500:
            raise _invalid(
                "Metadata values can have up to 500 characters, but you passed in a "
                f"value that is {len(item)} characters. Invalid value: {item}",
                f"{param}[{key}]",
            )
        if item:
            result[key] = item
    return result


def _url(value: Any, param: str) -> str:
    text = _string(value, param)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _invalid("Not a valid URL", param, "url_invalid")
    return text


_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _email(value: Any, param: str) -> str:
    text = _string(value, param, max_length=512)
    if not _EMAIL_RE.match(text):
        raise _invalid(f"Invalid email address: {text}", param, "email_invalid")
    return text


def _currency(value: Any, param: str) -> str:
    code = _string(value, param).lower()
    if code not in SUPPORTED_CURRENCIES:
        raise _invalid(
            f"Invalid currency: {value}. Stripe currently supports these currencies: "
            + ", ".join(sorted(SUPPORTED_CURRENCIES)),
            param,
        )
    return code


def _in_range(value: int, condition: Any, param: str) -> bool:
    """A list filter on a timestamp: an exact integer, or a dict of gt / gte / lt / lte."""
    if not isinstance(condition, dict):
        return value == _integer(condition, param)
    for operator, bound in condition.items():
        if operator not in _RANGE_OPERATORS:
            raise _unknown(f"{param}[{operator}]")
        if not _RANGE_OPERATORS[operator](value, _integer(bound, f"{param}[{operator}]")):
            return False
    return True


def _expand_paths(params: Mapping[str, Any]) -> list[str]:
    if "expand" not in params:
        return []
    return _string_list(params["expand"], "expand")


def _validate_expand(kind: str, paths: Iterable[str]) -> None:
    """Reject expansions Stripe would reject, before any state is changed."""
    for path in paths:
        current = kind
        for part in path.split("."):
            if current.startswith("list:"):
                if part != "data":
                    hint = f" You may want to try expanding 'data.{path}' instead."
                    raise _invalid(f"This property cannot be expanded ({path}).{hint}")
                current = current.removeprefix("list:")
                continue
            target = _EXPANDABLE.get(current, {}).get(part)
            if target is None:
                raise _invalid(f"This property cannot be expanded ({path}).")
            current = target


def _bearer_key(header: str | None) -> str | None:
    """The API key from ``Authorization: Bearer sk_...`` (or curl-style Basic auth)."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip()).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[0] or None
    return None


def _mask(key: str) -> str:
    return key[:8] + "*" * max(len(key) - 12, 4) + key[-4:]


# --------------------------------------------------------------------------------------
# Webhooks
# --------------------------------------------------------------------------------------


def event_payload(event: Mapping[str, Any]) -> bytes:
    """The webhook body Stripe would POST for ``event`` (pretty-printed UTF-8 JSON)."""
    return json.dumps(event, indent=2).encode("utf-8")


def sign_payload(payload: bytes | str, secret: str, timestamp: int | None = None) -> str:
    """A real ``Stripe-Signature`` header: ``t=<ts>,v1=<HMAC-SHA256("<ts>.<payload>")>``."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    body = payload.encode("utf-8") if isinstance(payload, str) else payload
    signature = hmac.new(secret.encode("utf-8"), f"{ts}.".encode("ascii") + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={signature}"


def webhook_request(
    event: Mapping[str, Any], secret: str, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """Body and headers of the webhook delivery Stripe would make for ``event``."""
    body = event_payload(event)
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Stripe-Signature": sign_payload(body, secret, timestamp),
        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
    }
    return body, headers


# --------------------------------------------------------------------------------------
# Request/response records
# --------------------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    """One HTTP request as the double saw it, for assertions in tests."""

    method: str
    path: str
    params: Json
    headers: dict[str, str]  # header names lower-cased
    request_id: str
    api_key: str | None
    idempotency_key: str | None
    status: int = 0  # filled in once answered; 0 for a dropped connection
    replayed: bool = False  # answered from the idempotency cache
    injected: str | None = None  # "fail" or "drop" when a fault answered it


@dataclass
class Response:
    """What to send back; transport-independent so other servers can wrap the double."""

    status: int
    headers: dict[str, str]
    body: bytes
    delay: float = 0.0  # seconds to wait before answering (hang_next)
    drop: bool = False  # close the connection without answering (drop_next)
    interrupt: threading.Event | None = field(default=None, repr=False)

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def wait(self) -> None:
        """Sleep for ``delay`` unless the double is reset or stopped meanwhile."""
        if self.delay > 0:
            (self.interrupt or threading.Event()).wait(self.delay)


@dataclass
class _Fault:
    kind: str  # "fail" | "drop" | "hang"
    remaining: int
    path_prefix: str | None
    method: str | None
    status: int = 500
    seconds: float = 0.0
    should_retry: bool | None = None

    def matches(self, method: str, path: str) -> bool:
        return (
            self.remaining > 0
            and (self.method is None or self.method.upper() == method)
            and (self.path_prefix is None or path.startswith(self.path_prefix))
        )


@dataclass
class _Call:
    """The parts of a request that endpoint handlers need."""

    params: Json
    args: dict[str, str]
    request_id: str
    idempotency_key: str | None
    account: str | None = None  # the connected account it acts for (``Stripe-Account``), as Connect platforms do


@dataclass
class _SavedResult:
    endpoint: str
    fingerprint: str
    status: int
    body: bytes
    request_id: str


@dataclass(frozen=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: str
    kind: str | None = None


def _route(method: str, template: str, handler: str, kind: str | None = None) -> _Route:
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
    return _Route(method, re.compile(f"^{regex}$"), handler, kind)


_ROUTES = (
    _route("POST", "/v1/customers", "_api_create_customer"),
    _route("GET", "/v1/customers/{id}", "_api_retrieve", "customer"),
    _route("POST", "/v1/checkout/sessions", "_api_create_session"),
    _route("GET", "/v1/checkout/sessions", "_api_list_sessions"),
    _route("GET", "/v1/checkout/sessions/{id}", "_api_retrieve", "checkout.session"),
    _route("POST", "/v1/checkout/sessions/{id}/expire", "_api_expire_session"),
    _route("GET", "/v1/checkout/sessions/{id}/line_items", "_api_list_line_items"),
    _route("GET", "/v1/payment_intents/{id}", "_api_retrieve", "payment_intent"),
    _route("GET", "/v1/charges/{id}", "_api_retrieve", "charge"),
    _route("POST", "/v1/refunds", "_api_create_refund"),
    _route("GET", "/v1/refunds/{id}", "_api_retrieve", "refund"),
    _route("GET", "/v1/disputes/{id}", "_api_retrieve", "dispute"),
    _route("GET", "/v1/events", "_api_list_events"),
    _route("GET", "/v1/events/{id}", "_api_retrieve", "event"),
)


# --------------------------------------------------------------------------------------
# The double
# --------------------------------------------------------------------------------------


class StripeDouble:
    """Stateful Stripe v1 API double served over HTTP (see module docstring).

    All state lives in plain dicts keyed by id (``customers``, ``sessions``,
    ``payment_intents``, ``charges``, ``refunds``, ``disputes``) plus the ``events``
    and ``requests`` lists; one re-entrant lock guards all of it, so the HTTP threads
    and the test thread can interleave freely.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        api_keys: Iterable[str] | None = None,
        clock: Callable[[], float] = time.time,
        checkout_url: str = "https://checkout.stripe.com/c/pay/",
        verbose: bool = False,
        livemode: bool = False,
    ) -> None:
        """``api_keys`` limits the accepted keys (default: any ``sk_test_``/``rk_test_``
        key, or ``sk_live_``/``rk_live_`` with ``livemode``); ``clock`` lets tests move time
        (open sessions expire at ``expires_at``); ``checkout_url`` prefixes the hosted-page
        ``url``; ``livemode`` makes it Stripe's live mode: every object and event says so."""
        self.livemode = livemode
        self.host = host
        self.port = port
        self.api_keys = frozenset(api_keys) if api_keys is not None else None
        self.clock = clock
        self.checkout_url = checkout_url
        self.verbose = verbose
        self._lock = threading.RLock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._listeners: list[EventListener] = []
        self._interrupt = threading.Event()

        self.customers: dict[str, Json] = {}
        self.sessions: dict[str, Json] = {}
        self.payment_intents: dict[str, Json] = {}
        self.charges: dict[str, Json] = {}
        self.refunds: dict[str, Json] = {}
        self.disputes: dict[str, Json] = {}
        self.events: list[Json] = []
        self.requests: list[RecordedRequest] = []
        self._events_by_id: dict[str, Json] = {}
        self._prices: dict[str, Json] = {}
        self._products: dict[str, Json] = {}
        self._line_items: dict[str, list[Json]] = {}
        self._intent_data: dict[str, Json] = {}
        self._idempotency: dict[tuple[str, str], _SavedResult] = {}
        self._faults: list[_Fault] = []
        self._undelivered: list[Json] = []
        # object id -> the connected account it belongs to (made with a Stripe-Account header); its events say so
        self._accounts: dict[str, str] = {}
        self._expired_keys: set[str] = set()

    # ----- lifecycle -------------------------------------------------------------------

    def start(self) -> StripeDouble:
        """Bind ``host:port`` (0 = any free port) and serve from a daemon thread."""
        if self._server is not None:
            raise RuntimeError("StripeDouble is already started")
        server = _Server((self.host, self.port), _Handler)
        server.double = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="stripe-double",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; requests still hanging are released immediately."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._interrupt.set()
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = self._thread = None

    @property
    def url(self) -> str:
        """Base address for ``StripeClient(base_addresses={"api": url})``."""
        if self._server is None:
            raise RuntimeError("StripeDouble is not started")
        return f"http://{self.host}:{self._server.server_port}"

    def __enter__(self) -> StripeDouble:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget all objects, events, requests, idempotency keys and pending faults."""
        with self._lock:
            for container in (
                self.customers,
                self.sessions,
                self.payment_intents,
                self.charges,
                self.refunds,
                self.disputes,
                self.events,
                self.requests,
                self._events_by_id,
                self._prices,
                self._products,
                self._line_items,
                self._intent_data,
                self._idempotency,
                self._faults,
                self._undelivered,
                self._accounts,
                self._expired_keys,
            ):
                container.clear()
            self._interrupt.set()
            self._interrupt = threading.Event()

    def roll_api_key(self, key: str) -> str:
        """Roll ``key`` as the Dashboard does with "expire now": from now on it is answered 401
        (``api_key_expired``); returns the new key that replaces it."""
        with self._lock:
            self._expired_keys.add(key)
        return f"{key[:8]}rolled_{_random(24)}"

    def add_listener(self, listener: EventListener) -> None:
        """Call ``listener(event)`` for every new event (e.g. to deliver webhooks).

        Listeners run outside the lock, on the thread that caused the event.
        """
        with self._lock:
            self._listeners.append(listener)

    # ----- fault injection -------------------------------------------------------------

    def fail_next(
        self,
        count: int = 1,
        status: int = 500,
        path_prefix: str | None = None,
        *,
        method: str | None = None,
        should_retry: bool | None = None,
    ) -> None:
        """Answer the next ``count`` matching requests with ``status`` and a Stripe error
        body, without performing them (so their idempotency keys stay unused).

        ``should_retry`` sets the ``Stripe-Should-Retry`` header, which overrides the
        SDK's own retry decision (it retries 409 and 5xx, not 429, by default).
        """
        if status not in _FAULT_ERRORS:
            raise ValueError(f"status must be one of {sorted(_FAULT_ERRORS)}")
        self._add_fault(_Fault("fail", count, path_prefix, method, status=status, should_retry=should_retry))

    def hang_next(
        self,
        count: int = 1,
        seconds: float = 1.0,
        path_prefix: str | None = None,
        *,
        method: str | None = None,
    ) -> None:
        """Delay the next ``count`` matching responses by ``seconds`` (after performing
        the request, like a slow network), to provoke client timeouts."""
        self._add_fault(_Fault("hang", count, path_prefix, method, seconds=seconds))

    def drop_next(self, count: int = 1, path_prefix: str | None = None, *, method: str | None = None) -> None:
        """Close the connection of the next ``count`` matching requests without
        answering or performing them (the SDK sees a retryable connection error)."""
        self._add_fault(_Fault("drop", count, path_prefix, method))

    def backdate_events(self, seconds: int) -> None:
        """Make every event so far ``seconds`` older (its ``created``), as time passing would: what an events-list
        reader that waits for the webhook first (reconciliation) sees only once events are old enough."""
        with self._lock:
            for event in self.events:
                event["created"] -= seconds

    def remember_other_params(self, idempotency_key: str) -> None:
        """Make Stripe remember ``idempotency_key`` as first used with other parameters (as after a request whose
        parameters differed), so that its next use is refused with an ``idempotency_error``."""
        with self._lock:
            for (_, key), saved in self._idempotency.items():
                if key == idempotency_key:
                    saved.fingerprint = json.dumps({"other": "parameters"})

    def _add_fault(self, fault: _Fault) -> None:
        if fault.remaining < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            self._faults.append(fault)

    def _take_fault(self, kinds: tuple[str, ...], method: str, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.kind in kinds and fault.matches(method, path):
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
                return fault
        return None

    # ----- HTTP core ---------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Response:
        """Answer one HTTP request (``target`` = path + query). Transport-independent."""
        method = method.upper()
        split = urlsplit(target)
        path = split.path
        lowered = {name.lower(): value for name, value in headers.items()}
        request_id = _new_id("req_", 14)
        idempotency_key = lowered.get("idempotency-key") if method == "POST" else None
        api_key = _bearer_key(lowered.get("authorization"))
        pairs = parse_qsl(split.query, keep_blank_values=True)
        if method == "POST":
            pairs += parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        form_error: FormError | None = None
        try:
            params = parse_form(pairs)
        except FormError as exc:
            params, form_error = {}, exc

        record = RecordedRequest(method, path, params, lowered, request_id, api_key, idempotency_key)
        extra_headers = {"Stripe-Version": lowered.get("stripe-version", API_VERSION)}
        if idempotency_key is not None:
            extra_headers["Idempotency-Key"] = idempotency_key

        with self._lock:
            self.requests.append(record)
            fault = self._take_fault(("fail", "drop"), method, path)
            if fault is not None and fault.kind == "drop":
                record.injected = "drop"
                return Response(0, {}, b"", drop=True)
            if fault is not None:
                record.injected = "fail"
                response = self._error_response(self._injected_error(fault), request_id)
            else:
                call = _Call(params, {}, request_id, idempotency_key, lowered.get("stripe-account") or None)
                response = self._serve(method, path, api_key, form_error, call, record)
            response.headers.update(extra_headers)
            record.status = response.status
            hang = self._take_fault(("hang",), method, path)
            if hang is not None:
                response.delay, response.interrupt = hang.seconds, self._interrupt
        self._deliver_pending(raise_errors=False)
        return response

    def _serve(
        self,
        method: str,
        path: str,
        api_key: str | None,
        form_error: FormError | None,
        call: _Call,
        record: RecordedRequest,
    ) -> Response:
        try:
            api_key = self._authenticate(api_key)
            if form_error is not None:
                raise _invalid(str(form_error), form_error.param)
            endpoint = f"{method} {path}"
            fingerprint = json.dumps(call.params, sort_keys=True)
            key = call.idempotency_key
            if key is not None:
                if len(key) > 255:
                    raise _invalid("Idempotency-Key must be no more than 255 characters long.")
                saved = self._idempotency.get((api_key, key))
                if saved is not None:
                    replay = self._replay(saved, endpoint, fingerprint, key, call.request_id)
                    record.replayed = True
                    return replay
            route, args = self._resolve(method, path)
            call.args = args
            self._sweep_expired()
            status, payload = getattr(self, route.handler)(call, route)
            response = self._json_response(status, payload, call.request_id)
            if key is not None and 200 <= status < 300:
                self._idempotency[(api_key, key)] = _SavedResult(
                    endpoint, fingerprint, status, response.body, call.request_id
                )
            return response
        except StripeApiError as error:
            return self._error_response(error, call.request_id)
        except Exception:  # a bug in the double: answer like Stripe, but loudly and without SDK retries
            traceback.print_exc()
            crash = StripeApiError(
                500,
                f"StripeDouble crashed: {traceback.format_exc(limit=3)}",
                type="api_error",
                headers={"Stripe-Should-Retry": "false"},
            )
            return self._error_response(crash, call.request_id)

    def _authenticate(self, api_key: str | None) -> str:
        """The caller's API key, or a 401 like Stripe's."""
        if api_key is None:
            raise StripeApiError(
                401,
                "You did not provide an API key. You need to provide your API key in "
                "the Authorization header, using Bearer auth (e.g. 'Authorization: "
                "Bearer YOUR_SECRET_KEY'). See https://docs.stripe.com/api#authentication "
                "for details, or we can help at https://support.stripe.com/.",
            )
        if api_key in self._expired_keys:
            raise StripeApiError(401, f"Expired API Key provided: {_mask(api_key)}", code="api_key_expired")
        if self.api_keys is not None:
            valid = api_key in self.api_keys
        else:
            mode = "live" if self.livemode else "test"
            valid = api_key.startswith((f"sk_{mode}_", f"rk_{mode}_")) and len(api_key) > 8
        if not valid:
            raise StripeApiError(401, f"Invalid API Key provided: {_mask(api_key)}")
        return api_key

    def _replay(self, saved: _SavedResult, endpoint: str, fingerprint: str, key: str, request_id: str) -> Response:
        if saved.endpoint != endpoint:
            raise StripeApiError(
                400,
                "Keys for idempotent requests can only be used for the same endpoint "
                f"they were first used for ('{saved.endpoint}' vs '{endpoint}'). Try "
                f"using a key other than '{key}' if you meant to execute a different "
                "request.",
                type="idempotency_error",
            )
        if saved.fingerprint != fingerprint:
            raise StripeApiError(
                400,
                "Keys for idempotent requests can only be used with the same parameters "
                f"they were first used with. Try using a key other than '{key}' if you "
                "meant to execute a different request.",
                type="idempotency_error",
            )
        headers = self._base_headers(request_id, len(saved.body))
        headers["Idempotent-Replayed"] = "true"
        headers["Original-Request"] = saved.request_id
        return Response(saved.status, headers, saved.body)

    def _resolve(self, method: str, path: str) -> tuple[_Route, dict[str, str]]:
        for route in _ROUTES:
            match = route.pattern.match(path)
            if match is not None and route.method == method:
                return route, match.groupdict()
        raise StripeApiError(
            404,
            f"Unrecognized request URL ({method}: {path}). Please see "
            "https://docs.stripe.com or we can help at https://support.stripe.com/.",
        )

    def _injected_error(self, fault: _Fault) -> StripeApiError:
        error_type, code, message = _FAULT_ERRORS[fault.status]
        headers = {}
        if fault.should_retry is not None:
            headers["Stripe-Should-Retry"] = "true" if fault.should_retry else "false"
        return StripeApiError(
            fault.status,
            f"{message} (injected by StripeDouble.fail_next)",
            type=error_type,
            code=code,
            decline_code="generic_decline" if fault.status == 402 else None,
            headers=headers,
        )

    @staticmethod
    def _base_headers(request_id: str, length: int) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "Content-Length": str(length),
            "Request-Id": request_id,
            "Cache-Control": "no-cache, no-store",
        }

    def _json_response(self, status: int, payload: Json, request_id: str) -> Response:
        body = json.dumps(payload, indent=2).encode("utf-8")
        return Response(status, self._base_headers(request_id, len(body)), body)

    def _error_response(self, error: StripeApiError, request_id: str) -> Response:
        response = self._json_response(error.status, error.body(request_id, self._now()), request_id)
        response.headers.update(error.headers)
        return response

    # ----- endpoints ---------------------------------------------------------------------

    def _api_create_customer(self, call: _Call, route: _Route) -> tuple[int, Json]:
        _check_known(call.params, _CUSTOMER_CREATE_PARAMS, _MODELED_CUSTOMER_PARAMS)
        expand = _expand_paths(call.params)
        _validate_expand("customer", expand)
        customer = self._create_customer(call.params)
        self._belongs_to(customer["id"], call.account)
        return 200, self._render(customer, expand)

    def _api_create_session(self, call: _Call, route: _Route) -> tuple[int, Json]:
        expand = _expand_paths(call.params)
        _validate_expand("checkout.session", expand)
        session = self._create_session(call.params)
        self._belongs_to(session["id"], call.account)
        return 200, self._render(session, expand)

    def _api_retrieve(self, call: _Call, route: _Route) -> tuple[int, Json]:
        assert route.kind is not None
        _check_known(call.params, _RETRIEVE_PARAMS, _RETRIEVE_PARAMS)
        expand = _expand_paths(call.params)
        _validate_expand(route.kind, expand)
        obj = self._find(call.args["id"], route.kind)
        if obj is None:
            raise _no_such(route.kind, call.args["id"])
        return 200, self._render(obj, expand)

    def _api_expire_session(self, call: _Call, route: _Route) -> tuple[int, Json]:
        _check_known(call.params, _RETRIEVE_PARAMS, _RETRIEVE_PARAMS)
        expand = _expand_paths(call.params)
        _validate_expand("checkout.session", expand)
        session = self.sessions.get(call.args["id"])
        if session is None:
            raise _no_such("checkout.session", call.args["id"])
        if session["status"] != "open":
            raise _invalid('Only Checkout Sessions with a status in ["open"] can be expired.')
        self._expire(session, call)
        return 200, self._render(session, expand)

    def _api_list_sessions(self, call: _Call, route: _Route) -> tuple[int, Json]:
        params = call.params
        _check_known(params, _SESSION_LIST_PARAMS, _MODELED_SESSION_LIST_PARAMS)
        sessions = list(self.sessions.values())
        for name in ("customer", "payment_intent", "payment_link", "subscription"):
            if name in params:
                wanted = _string(params[name], name)
                sessions = [s for s in sessions if s[name] == wanted]
        if "status" in params:
            status = _enum(params["status"], SESSION_STATUSES, "status")
            sessions = [s for s in sessions if s["status"] == status]
        url = "/v1/checkout/sessions"
        return 200, self._list(params, sessions[::-1], url, "checkout.session")

    def _api_list_line_items(self, call: _Call, route: _Route) -> tuple[int, Json]:
        session_id = call.args["id"]
        if session_id not in self.sessions:
            raise _no_such("checkout.session", session_id)
        _check_known(call.params, _LINE_ITEM_LIST_PARAMS, _LINE_ITEM_LIST_PARAMS)
        url = f"/v1/checkout/sessions/{session_id}/line_items"
        return 200, self._list(call.params, self._line_items[session_id], url, "item")

    def _api_list_events(self, call: _Call, route: _Route) -> tuple[int, Json]:
        params = call.params
        _check_known(params, _EVENT_LIST_PARAMS, _MODELED_EVENT_LIST_PARAMS)
        events = self.events[::-1]
        if "type" in params and "types" in params:
            raise _invalid("You may only specify one of these parameters: type, types.")
        if "type" in params:
            pattern = _string(params["type"], "type")
            events = [e for e in events if fnmatch.fnmatchcase(e["type"], pattern)]
        if "types" in params:
            types = set(_string_list(params["types"], "types"))
            events = [e for e in events if e["type"] in types]
        if "created" in params:
            events = [e for e in events if _in_range(e["created"], params["created"], "created")]
        # An account's list holds its own events: a platform's, those without an account; a connected account's
        # (asked for with Stripe-Account), its.
        events = [e for e in events if e.get("account") == call.account]
        return 200, self._list(params, events, "/v1/events", "event")

    def _api_create_refund(self, call: _Call, route: _Route) -> tuple[int, Json]:
        params = call.params
        _check_known(params, _REFUND_CREATE_PARAMS, _MODELED_REFUND_PARAMS)
        expand = _expand_paths(params)
        _validate_expand("refund", expand)
        if ("charge" in params) == ("payment_intent" in params):
            raise _invalid("You must pass exactly one of these parameters: charge, payment_intent.",
                           code="parameter_missing")
        if "payment_intent" in params:
            intent_id = _string(params["payment_intent"], "payment_intent")
            intent = self.payment_intents.get(intent_id)
            if intent is None:
                raise _no_such("payment_intent", intent_id, param="payment_intent", status=400)
            if intent["status"] != "succeeded":
                raise _invalid(f"This PaymentIntent ({intent_id}) does not have a successful charge to refund.",
                               "payment_intent")
            charge = self.charges[intent["latest_charge"]]
        else:
            charge_id = _string(params["charge"], "charge")
            if charge_id not in self.charges:
                raise _no_such("charge", charge_id, param="charge", status=400)
            charge = self.charges[charge_id]
        amount = _integer(params["amount"], "amount", minimum=1) if "amount" in params else None
        reason = _enum(params["reason"], REFUND_REASONS, "reason") if "reason" in params else None
        refund = self._refund_charge(charge, amount, reason, _metadata(params.get("metadata", {}), "metadata"), call)
        return 200, self._render(refund, expand)

    def _list(self, params: Json, items: list[Json], url: str, item_kind: str) -> Json:
        """A Stripe list page (``items`` already in API order) with cursor pagination."""
        limit = _integer(params.get("limit", "10"), "limit", minimum=1, maximum=100)
        expand = _expand_paths(params)
        _validate_expand(f"list:{item_kind}", expand)
        ids = [item["id"] for item in items]
        for cursor in ("starting_after", "ending_before"):
            if cursor in params:
                cursor_id = _string(params[cursor], cursor)
                if cursor_id not in ids:
                    raise _no_such(item_kind, cursor_id, param=cursor, status=400)
        if "starting_after" in params:
            items = items[ids.index(params["starting_after"]) + 1 :]
            page = items[:limit]
        elif "ending_before" in params:
            items = items[: ids.index(params["ending_before"])]
            page = items[-limit:]
        else:
            page = items[:limit]
        item_expand = [path.removeprefix("data.") for path in expand]
        return {
            "object": "list",
            "data": [self._render(item, item_expand) for item in page],
            "has_more": len(items) > len(page),
            "url": url,
        }

    # ----- object construction -----------------------------------------------------------

    def _now(self) -> int:
        return int(self.clock())

    def _create_customer(self, params: Json) -> Json:
        metadata = _metadata(params.get("metadata", {}), "metadata")
        email = _email(params["email"], "email") if params.get("email") else None
        locales = params.get("preferred_locales", [])
        customer_id = _new_id("cus_", 14)
        customer = {
            "id": customer_id,
            "object": "customer",
            "address": None,
            "balance": 0,
            "business_name": None,
            "created": self._now(),
            "currency": None,
            "customer_account": None,
            "default_source": None,
            "delinquent": False,
            "description": _optional_string(params, "description", 350),
            "discount": None,
            "email": email,
            "individual_name": None,
            "invoice_prefix": secrets.token_hex(4).upper(),
            "invoice_settings": {
                "custom_fields": None,
                "default_payment_method": None,
                "footer": None,
                "rendering_options": None,
            },
            "livemode": self.livemode,
            "metadata": metadata,
            "name": _optional_string(params, "name", 256),
            "next_invoice_sequence": 1,
            "phone": _optional_string(params, "phone", 20),
            "preferred_locales": (_string_list(locales, "preferred_locales") if locales != "" else []),
            "shipping": None,
            "tax_exempt": "none",
            "test_clock": None,
        }
        self.customers[customer_id] = customer
        return customer

    def _create_session(self, params: Json) -> Json:
        """Validate like Stripe does for the parameters we use, then store a session."""
        _check_known(params, _SESSION_CREATE_PARAMS, _MODELED_SESSION_PARAMS)
        mode = _enum(_required(params, "mode"), SESSION_MODES, "mode")
        if mode != "payment":
            raise _unsupported(f"mode={mode}")
        ui_mode = _enum(params.get("ui_mode", "hosted_page"), UI_MODES, "ui_mode")
        if ui_mode == "form":
            raise _unsupported("ui_mode=form")
        embedded = ui_mode in ("embedded_page", "elements")
        urls = self._session_urls(params, ui_mode, embedded)

        customer_id = None
        if "customer" in params:
            customer_id = _string(params["customer"], "customer")
            if "customer_email" in params:
                raise _invalid(
                    "You may only specify one of these parameters: customer, customer_email.",
                    "customer_email",
                )
            if customer_id not in self.customers:
                raise _no_such("customer", customer_id, param="customer", status=400)
        customer_email = _email(params["customer_email"], "customer_email") if "customer_email" in params else None
        customer_creation = None
        if "customer_creation" in params:
            customer_creation = _enum(params["customer_creation"], CUSTOMER_CREATION, "customer_creation")
            if customer_id is not None:
                raise _invalid(
                    "`customer_creation` can only be used when `customer` is not set.",
                    "customer_creation",
                )
        elif customer_id is None:
            customer_creation = "if_required"

        allowed = excluded = None
        if "allowed_payment_method_types" in params:
            allowed = _enum_list(
                params["allowed_payment_method_types"],
                PAYMENT_METHOD_TYPES,
                "allowed_payment_method_types",
            )
        if "excluded_payment_method_types" in params:
            excluded = _enum_list(
                params["excluded_payment_method_types"],
                PAYMENT_METHOD_TYPES,
                "excluded_payment_method_types",
            )
        method_types = [t for t in (allowed or ["card"]) if t not in (excluded or [])]
        if not method_types:
            raise _invalid(
                "No valid payment method types for this Checkout Session.",
                "allowed_payment_method_types",
            )

        now = self._now()
        expires_at = now + _SESSION_MAX_LIFETIME
        if "expires_at" in params:
            expires_at = _integer(params["expires_at"], "expires_at")
            if expires_at < now + _SESSION_MIN_LIFETIME:
                raise _invalid(
                    "The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation.",
                    "expires_at",
                )
            if expires_at > now + _SESSION_MAX_LIFETIME:
                raise _invalid(
                    "The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.",
                    "expires_at",
                )

        metadata = _metadata(params.get("metadata", {}), "metadata")
        intent_data = self._payment_intent_data(params.get("payment_intent_data", {}))
        line_items, currency = self._build_line_items(params, now)
        amount = sum(item["amount_total"] for item in line_items)
        minimum = _MINIMUM_CHARGE.get(currency)
        if minimum is not None and amount < minimum:
            raise _invalid(
                "The Checkout Session's total amount due must add up to at least "
                f"{minimum} (in the smallest {currency} unit).",
                code="amount_too_small",
            )
        if amount > _MAXIMUM_AMOUNT:
            raise _invalid(
                "The Checkout Session's total amount due must be no more than "
                f"{_MAXIMUM_AMOUNT} (in the smallest {currency} unit).",
                code="amount_too_large",
            )

        session_id = _new_id("cs_test_a1", 56)
        session = {
            "id": session_id,
            "object": "checkout.session",
            "adaptive_pricing": {"enabled": False},
            "after_expiration": None,
            "allow_promotion_codes": None,
            "allowed_payment_method_types": allowed,
            "amount_subtotal": amount,
            "amount_total": amount,
            "automatic_tax": {
                "enabled": False,
                "liability": None,
                "provider": None,
                "status": None,
            },
            "billing_address_collection": (
                _enum(
                    params["billing_address_collection"],
                    BILLING_ADDRESS_COLLECTION,
                    "billing_address_collection",
                )
                if "billing_address_collection" in params
                else None
            ),
            "branding_settings": None,
            "cancel_url": urls.get("cancel_url"),
            "client_reference_id": _optional_string(params, "client_reference_id", 200),
            "client_secret": (f"{session_id}_secret_{_random(24)}" if embedded else None),
            "collected_information": None,
            "consent": None,
            "consent_collection": None,
            "created": now,
            "currency": currency,
            "currency_conversion": None,
            "custom_fields": [],
            "custom_text": {
                "after_submit": None,
                "shipping_address": None,
                "submit": None,
                "terms_of_service_acceptance": None,
            },
            "customer": customer_id,
            "customer_account": None,
            "customer_creation": customer_creation,
            "customer_details": None,
            "customer_email": customer_email,
            "discounts": [],
            "excluded_payment_method_types": excluded,
            "expires_at": expires_at,
            "integration_identifier": None,
            "invoice": None,
            "invoice_creation": {
                "enabled": False,
                "invoice_data": {
                    "account_tax_ids": None,
                    "custom_fields": None,
                    "description": None,
                    "footer": None,
                    "issuer": None,
                    "metadata": {},
                    "rendering_options": None,
                },
            },
            "livemode": self.livemode,
            "locale": (_enum(params["locale"], LOCALES, "locale") if "locale" in params else None),
            "managed_payments": None,
            "metadata": metadata,
            "mode": mode,
            "name_collection": None,
            "optional_items": None,
            "origin_context": None,
            "payment_intent": None,
            "payment_link": None,
            "payment_method_collection": "if_required",
            "payment_method_configuration_details": None,
            "payment_method_options": {},
            "payment_method_types": method_types,
            "payment_status": "unpaid",
            "permissions": None,
            "phone_number_collection": {"enabled": False},
            "presentment_details": None,
            "recovered_from": None,
            "redirect_on_completion": urls.get("redirect_on_completion"),
            "return_url": urls.get("return_url"),
            "saved_payment_method_options": None,
            "setup_intent": None,
            "shipping_address_collection": None,
            "shipping_cost": None,
            "shipping_options": [],
            "status": "open",
            "submit_type": (
                _enum(params["submit_type"], SUBMIT_TYPES, "submit_type") if "submit_type" in params else None
            ),
            "subscription": None,
            "success_url": urls.get("success_url"),
            "tax_id_collection": {"enabled": False, "required": "never"},
            "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
            "ui_mode": ui_mode,
            "url": None if embedded else f"{self.checkout_url}{session_id}",
            "wallet_options": None,
        }
        self.sessions[session_id] = session
        self._line_items[session_id] = line_items
        self._intent_data[session_id] = intent_data
        return session

    @staticmethod
    def _session_urls(params: Json, ui_mode: str, embedded: bool) -> dict[str, str]:
        """The redirect parameters and the ``ui_mode`` rules that govern them."""
        urls: dict[str, str] = {}
        redirect = None
        if "redirect_on_completion" in params:
            if not embedded:
                raise _invalid(
                    "`redirect_on_completion` can only be used when `ui_mode` is `embedded_page` or `elements`.",
                    "redirect_on_completion",
                )
            redirect = _enum(
                params["redirect_on_completion"],
                REDIRECT_ON_COMPLETION,
                "redirect_on_completion",
            )
        if embedded:
            for name in ("success_url", "cancel_url"):
                if name in params:
                    raise _invalid(f"You cannot pass `{name}` when `ui_mode` is `{ui_mode}`.", name)
            if redirect == "never" and "return_url" in params:
                raise _invalid(
                    "`return_url` cannot be passed when `redirect_on_completion` is `never`.",
                    "return_url",
                )
            if redirect != "never" and "return_url" not in params:
                raise _invalid(
                    f"A `return_url` is required when `ui_mode` is `{ui_mode}` unless "
                    "`redirect_on_completion` is `never`.",
                    "return_url",
                    "parameter_missing",
                )
            urls["redirect_on_completion"] = redirect or "always"
        elif "return_url" in params:
            raise _invalid(
                "`return_url` can only be used when `ui_mode` is `embedded_page` or `elements`.",
                "return_url",
            )
        for name in ("return_url", "success_url", "cancel_url"):
            if name in params:
                urls[name] = _url(params[name], name)
        return urls

    @staticmethod
    def _payment_intent_data(value: Any) -> Json:
        if value in ({}, ""):
            return {}
        if not isinstance(value, dict):
            raise _invalid("Invalid object", "payment_intent_data")
        prefix = "payment_intent_data"
        _check_known(value, _PAYMENT_INTENT_DATA_PARAMS, _MODELED_PAYMENT_INTENT_DATA_PARAMS, prefix)
        data: Json = {"metadata": _metadata(value.get("metadata", {}), f"{prefix}[metadata]")}
        limits = {
            "description": 1000,
            "statement_descriptor": 22,
            "statement_descriptor_suffix": 22,
        }
        for name, limit in limits.items():
            if name in value:
                data[name] = _string(value[name], f"{prefix}[{name}]", max_length=limit)
        if "receipt_email" in value:
            data["receipt_email"] = _email(value["receipt_email"], f"{prefix}[receipt_email]")
        if "capture_method" in value:
            capture = _enum(value["capture_method"], CAPTURE_METHODS, f"{prefix}[capture_method]")
            if capture == "manual":
                raise _unsupported(f"{prefix}[capture_method]=manual")
            data["capture_method"] = capture
        if "setup_future_usage" in value:
            data["setup_future_usage"] = _enum(
                value["setup_future_usage"], SETUP_FUTURE_USAGE, f"{prefix}[setup_future_usage]"
            )
        return data

    def _build_line_items(self, params: Json, now: int) -> tuple[list[Json], str]:
        raw = params.get("line_items")
        if raw is None:
            raise _missing("line_items")
        if not isinstance(raw, list) or not raw:
            raise _invalid("Invalid array", "line_items")
        if len(raw) > 100:
            raise _invalid("You can have at most 100 line items.", "line_items")
        items = [self._build_line_item(item, f"line_items[{i}]", now) for i, item in enumerate(raw)]
        currencies = {item["currency"] for item in items}
        if len(currencies) > 1:
            raise _invalid(
                "All line items must use the same currency; got " + ", ".join(sorted(currencies)),
                "line_items",
            )
        return items, currencies.pop()

    def _build_line_item(self, raw: Any, prefix: str, now: int) -> Json:
        if not isinstance(raw, dict):
            raise _invalid("Invalid object", prefix)
        _check_known(raw, _LINE_ITEM_PARAMS, _MODELED_LINE_ITEM_PARAMS, prefix)
        if "price" in raw and "price_data" in raw:
            raise _invalid("You may only specify one of these parameters: price, price_data.", prefix)
        if "price" in raw:
            price_id = _string(raw["price"], f"{prefix}[price]")
            raise _no_such("price", price_id, param=f"{prefix}[price]", status=400)
        if "price_data" not in raw:
            raise _invalid(f"You must specify either `price` or `price_data` in `{prefix}`.", prefix)
        if "quantity" not in raw:
            raise _invalid(
                f"Quantity is required. Add `quantity` to `{prefix}`.",
                f"{prefix}[quantity]",
                "parameter_missing",
            )
        quantity = _integer(raw["quantity"], f"{prefix}[quantity]", minimum=0, maximum=999_999)
        price = self._build_price(raw["price_data"], f"{prefix}[price_data]", now)
        unit = Decimal(price["unit_amount_decimal"])
        total = int((unit * quantity).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        return {
            "id": _new_id("li_", 24),
            "object": "item",
            "amount_discount": 0,
            "amount_subtotal": total,
            "amount_tax": 0,
            "amount_total": total,
            "currency": price["currency"],
            "description": self._products[price["product"]]["name"],
            "metadata": _metadata(raw.get("metadata", {}), f"{prefix}[metadata]"),
            "price": copy.deepcopy(price),
            "quantity": quantity,
        }

    def _build_price(self, raw: Any, prefix: str, now: int) -> Json:
        if not isinstance(raw, dict):
            raise _invalid("Invalid object", prefix)
        _check_known(raw, _PRICE_DATA_PARAMS, _MODELED_PRICE_DATA_PARAMS, prefix)
        currency = _currency(_required(raw, "currency", prefix), f"{prefix}[currency]")
        if "recurring" in raw:
            raise _invalid(
                "You specified `payment` mode but passed a recurring price. Either switch "
                "to `subscription` mode or use only one-time prices.",
                f"{prefix}[recurring]",
            )
        if "unit_amount" in raw and "unit_amount_decimal" in raw:
            raise _invalid(
                "You may only specify one of these parameters: unit_amount, unit_amount_decimal.",
                prefix,
            )
        if "unit_amount" in raw:
            unit_amount: int | None = _integer(
                raw["unit_amount"], f"{prefix}[unit_amount]", minimum=0, maximum=_MAXIMUM_AMOUNT
            )
            unit_decimal = Decimal(typing.cast(int, unit_amount))
        elif "unit_amount_decimal" in raw:
            unit_decimal = _decimal(raw["unit_amount_decimal"], f"{prefix}[unit_amount_decimal]")
            unit_amount = int(unit_decimal) if unit_decimal == unit_decimal.to_integral() else None
        else:
            raise _invalid(
                "You must specify either `unit_amount` or `unit_amount_decimal`.",
                f"{prefix}[unit_amount]",
                "parameter_missing",
            )
        if "product" in raw and "product_data" in raw:
            raise _invalid(
                "You may only specify one of these parameters: product, product_data.",
                prefix,
            )
        if "product" in raw:
            product_id = _string(raw["product"], f"{prefix}[product]")
            raise _no_such("product", product_id, param=f"{prefix}[product]", status=400)
        if "product_data" not in raw:
            raise _invalid(
                "You must specify either `product` or `product_data` when creating a price.",
                f"{prefix}[product_data]",
                "parameter_missing",
            )
        product = self._build_product(raw["product_data"], f"{prefix}[product_data]", now)
        price_id = _new_id("price_", 24)
        self._prices[price_id] = {
            "id": price_id,
            "object": "price",
            "active": False,
            "billing_scheme": "per_unit",
            "created": now,
            "currency": currency,
            "custom_unit_amount": None,
            "livemode": self.livemode,
            "lookup_key": None,
            "metadata": {},
            "nickname": None,
            "product": product["id"],
            "recurring": None,
            "tax_behavior": (
                _enum(raw["tax_behavior"], TAX_BEHAVIORS, f"{prefix}[tax_behavior]")
                if "tax_behavior" in raw
                else "unspecified"
            ),
            "tiers_mode": None,
            "transform_quantity": None,
            "type": "one_time",
            "unit_amount": unit_amount,
            "unit_amount_decimal": format(unit_decimal, "f"),
        }
        return self._prices[price_id]

    def _build_product(self, raw: Any, prefix: str, now: int) -> Json:
        if not isinstance(raw, dict):
            raise _invalid("Invalid object", prefix)
        _check_known(raw, _PRODUCT_DATA_PARAMS, _MODELED_PRODUCT_DATA_PARAMS, prefix)
        name = _string(_required(raw, "name", prefix), f"{prefix}[name]", max_length=250)
        product_id = _new_id("prod_", 14)
        self._products[product_id] = {
            "id": product_id,
            "object": "product",
            "active": False,
            "created": now,
            "default_price": None,
            "description": _optional_string(raw, "description", 40_000, prefix),
            "images": _string_list(raw.get("images", []), f"{prefix}[images]"),
            "livemode": self.livemode,
            "marketing_features": [],
            "metadata": _metadata(raw.get("metadata", {}), f"{prefix}[metadata]"),
            "name": name,
            "package_dimensions": None,
            "shippable": None,
            "statement_descriptor": None,
            "tax_code": None,
            "type": "service",
            "unit_label": _optional_string(raw, "unit_label", 12, prefix),
            "updated": now,
            "url": None,
        }
        return self._products[product_id]

    # ----- lookups and rendering ---------------------------------------------------------

    def _store(self, kind: str) -> dict[str, Json]:
        return {
            "customer": self.customers,
            "checkout.session": self.sessions,
            "payment_intent": self.payment_intents,
            "charge": self.charges,
            "refund": self.refunds,
            "dispute": self.disputes,
            "event": self._events_by_id,
            "price": self._prices,
            "product": self._products,
        }.get(kind, {})

    def _find(self, object_id: str, kind: str | None = None) -> Json | None:
        if kind is None:
            kind = next(
                (k for prefix, k in _ID_PREFIXES.items() if object_id.startswith(prefix)),
                "",
            )
        return self._store(kind).get(object_id)

    def _render(self, obj: Json, expand: Iterable[str]) -> Json:
        """A deep copy of ``obj`` with the (already validated) ``expand`` paths filled."""
        result = copy.deepcopy(obj)
        for path in expand:
            self._expand_into(result, path.split("."))
        return result

    def _expand_into(self, obj: Json, parts: list[str]) -> None:
        head, rest = parts[0], parts[1:]
        if obj.get("object") == "list":
            for item in obj["data"]:
                if rest:
                    self._expand_into(item, rest)
            return
        if obj.get("object") == "checkout.session" and head == "line_items":
            value: Any = self._line_item_list(obj["id"])
        else:
            value = obj.get(head)
            if isinstance(value, str):
                value = copy.deepcopy(self._find(value)) or value
        obj[head] = value
        if rest and isinstance(value, dict):
            self._expand_into(value, rest)

    def _line_item_list(self, session_id: str) -> Json:
        items = copy.deepcopy(self._line_items.get(session_id, []))
        return {
            "object": "list",
            "data": items,
            "has_more": False,
            "url": f"/v1/checkout/sessions/{session_id}/line_items",
        }

    # ----- events ------------------------------------------------------------------------

    def _emit(self, event_type: str, obj: Json, call: _Call | None = None) -> Json:
        """Record an event carrying a snapshot of ``obj`` as it is right now."""
        if event_type not in EVENT_TYPES:
            raise AssertionError(f"{event_type} is not an event type of the pinned SDK")
        event: Json = {
            "id": _new_id("evt_", 24),
            "object": "event",
            "api_version": API_VERSION,
            "created": self._now(),
            "data": {"object": copy.deepcopy(obj)},
            "livemode": self.livemode,
            "pending_webhooks": len(self._listeners),
            "request": {
                "id": call.request_id if call else None,
                "idempotency_key": call.idempotency_key if call else None,
            },
            "type": event_type,
        }
        if obj.get("id") in self._accounts:  # an event of a connected account names it, as Connect endpoints see
            event["account"] = self._accounts[obj["id"]]
        self.events.append(event)
        self._events_by_id[event["id"]] = event
        self._undelivered.append(event)
        return event

    def _belongs_to(self, object_id: str, account: str | None) -> None:
        if account:
            self._accounts[object_id] = account

    def _deliver_pending(self, *, raise_errors: bool) -> None:
        with self._lock:
            pending, self._undelivered = self._undelivered, []
            listeners = list(self._listeners)
        for event in pending:
            for listener in listeners:
                try:
                    listener(event)
                except Exception:
                    if raise_errors:
                        raise
                    traceback.print_exc()

    def _sweep_expired(self) -> None:
        """Expire open sessions whose ``expires_at`` has passed (per ``clock``)."""
        now = self._now()
        for session in list(self.sessions.values()):
            if session["status"] == "open" and session["expires_at"] <= now:
                self._expire(session, None)

    def _expire(self, session: Json, call: _Call | None) -> Json:
        session.update(status="expired", url=None)
        return self._emit("checkout.session.expired", session, call)

    # ----- state-changing helpers (the tests play the customer / the bank) ---------------

    def complete_session(
        self,
        session_id: str,
        payment_status: str = "paid",
        *,
        payment_method_type: str | None = None,
    ) -> list[Json]:
        """The customer finishes checkout: ``paid`` (e.g. card) or ``unpaid`` (a bank
        debit still in flight). Creates the PaymentIntent and its Charge and emits
        ``checkout.session.completed``."""
        if payment_status not in ("paid", "unpaid"):
            raise ValueError("payment_status must be 'paid' or 'unpaid'")
        with self._lock:
            self._sweep_expired()
            session = self._session(session_id)
            if session["status"] != "open":
                raise ValueError(f"session {session_id} is {session['status']}, not open")
            paid = payment_status == "paid"
            method = payment_method_type or self._pick_method(session, paid)
            intent = self._create_payment_intent(session, method, paid)
            customer = self.customers.get(session["customer"] or "", {})
            session.update(
                status="complete",
                payment_status=payment_status,
                payment_intent=intent["id"],
                url=None,
                collected_information={
                    "business_name": None,
                    "individual_name": None,
                    "shipping_details": None,
                },
                customer_details={
                    "address": None,
                    "business_name": None,
                    "email": customer.get("email") or session["customer_email"],
                    "individual_name": None,
                    "name": customer.get("name"),
                    "phone": None,
                    "tax_exempt": "none",
                    "tax_ids": [],
                },
            )
            events = [self._emit("checkout.session.completed", session)]
        self._deliver_pending(raise_errors=True)
        return events

    def async_payment(self, session_id: str, succeeded: bool) -> list[Json]:
        """The delayed payment of a complete+unpaid session settles or fails, emitting
        ``checkout.session.async_payment_succeeded`` / ``..._failed``."""
        with self._lock:
            session = self._session(session_id)
            if session["status"] != "complete" or session["payment_status"] != "unpaid":
                raise ValueError(
                    f"session {session_id} is {session['status']}/{session['payment_status']}, not complete/unpaid"
                )
            intent = self.payment_intents[session["payment_intent"]]
            if intent["status"] != "processing":
                raise ValueError(f"payment intent {intent['id']} is {intent['status']}")
            charge = self.charges[intent["latest_charge"]]
            if succeeded:
                intent.update(status="succeeded", amount_received=intent["amount"])
                charge.update(status="succeeded", paid=True, balance_transaction=_new_id("txn_"))
                session["payment_status"] = "paid"
                event_type = "checkout.session.async_payment_succeeded"
            else:
                intent.update(status="requires_payment_method")
                charge.update(
                    status="failed",
                    failure_code="insufficient_funds",
                    failure_message="The account has insufficient funds to cover this payment.",
                    outcome={
                        **charge["outcome"],
                        "type": "issuer_declined",
                        "network_status": "declined_by_network",
                        "seller_message": "The bank returned the payment.",
                    },
                )
                event_type = "checkout.session.async_payment_failed"
            events = [self._emit(event_type, session)]
        self._deliver_pending(raise_errors=True)
        return events

    def sweep_expired(self) -> list[Json]:
        """Expire every open session whose ``expires_at`` has passed (per ``clock``), as Stripe does on its own
        schedule, and deliver the ``checkout.session.expired`` events (used by stripe_double.server)."""
        with self._lock:
            first_new = len(self.events)
            self._sweep_expired()
            events = self.events[first_new:]
        self._deliver_pending(raise_errors=False)
        return events

    def expire(self, session_id: str) -> list[Json]:
        """Expire an open session (like ``POST /v1/checkout/sessions/{id}/expire``)."""
        with self._lock:
            self._sweep_expired()
            session = self._session(session_id)
            if session["status"] != "open":
                raise ValueError('Only Checkout Sessions with a status in ["open"] can be expired.')
            events = [self._expire(session, None)]
        self._deliver_pending(raise_errors=True)
        return events

    def refund(self, payment_intent_id: str, amount: int | None = None, *, reason: str | None = None) -> list[Json]:
        """Refund (part of) a succeeded payment, as someone in the Dashboard would; emits ``charge.refunded``."""
        if reason is not None and reason not in REFUND_REASONS:
            raise ValueError(f"reason must be one of {REFUND_REASONS}")
        with self._lock:
            first_new = len(self.events)
            try:
                self._refund_charge(self._succeeded_charge(payment_intent_id), amount, reason, {}, None)
            except StripeApiError as error:
                raise ValueError(error.message) from None
            events = self.events[first_new:]
        self._deliver_pending(raise_errors=True)
        return events

    def _refund_charge(
        self, charge: Json, amount: int | None, reason: str | None, metadata: dict[str, str], call: _Call | None
    ) -> Json:
        """The refund of ``amount`` (default: what is left) of a charge, with Stripe's refusals."""
        if charge["status"] != "succeeded":
            raise _invalid(f"Charge {charge['id']} has not succeeded and cannot be refunded.", "charge")
        if charge["refunded"]:
            raise _invalid(f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded")
        if any(d["charge"] == charge["id"] and d["status"] in _OPEN_DISPUTE_STATUSES for d in self.disputes.values()):
            raise _invalid(f"Charge {charge['id']} has been charged back; it has an open dispute.",
                           code="charge_disputed")
        remaining = charge["amount"] - charge["amount_refunded"]
        amount = remaining if amount is None else amount
        if not 0 < amount <= remaining:
            raise _invalid(f"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})",
                           "amount", code="amount_too_large")
        refund_id = _new_id("re_")
        refund = {
            "id": refund_id,
            "object": "refund",
            "amount": amount,
            "balance_transaction": _new_id("txn_"),
            "charge": charge["id"],
            "created": self._now(),
            "currency": charge["currency"],
            "destination_details": None,
            "metadata": metadata,
            "payment_intent": charge["payment_intent"],
            "reason": reason,
            "receipt_number": None,
            "source_transfer_reversal": None,
            "status": "succeeded",
            "transfer_reversal": None,
        }
        self.refunds[refund_id] = refund
        self._belongs_to(refund_id, self._accounts.get(charge["id"]))
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        charge["refunds"]["data"].insert(0, copy.deepcopy(refund))
        self._emit("charge.refunded", charge, call)
        return refund

    def dispute(
        self,
        payment_intent_id: str,
        status: str = "needs_response",
        *,
        reason: str = "fraudulent",
        amount: int | None = None,
    ) -> list[Json]:
        """The cardholder disputes a succeeded payment; emits ``charge.dispute.created``."""
        if status not in _OPEN_DISPUTE_STATUSES:
            raise ValueError(f"status must be one of {_OPEN_DISPUTE_STATUSES}")
        if reason not in _DISPUTE_REASONS:
            raise ValueError(f"reason must be one of {_DISPUTE_REASONS}")
        with self._lock:
            charge = self._succeeded_charge(payment_intent_id)
            now = self._now()
            dispute_id = _new_id("dp_")
            dispute = {
                "id": dispute_id,
                "object": "dispute",
                "amount": charge["amount"] if amount is None else amount,
                "balance_transactions": [],
                "charge": charge["id"],
                "created": now,
                "currency": charge["currency"],
                "enhanced_eligibility_types": [],
                "evidence": {
                    **dict.fromkeys(_DISPUTE_EVIDENCE_FIELDS),
                    "enhanced_evidence": {},
                },
                "evidence_details": {
                    "due_by": now + 7 * 24 * 60 * 60,
                    "enhanced_eligibility": {},
                    "has_evidence": False,
                    "past_due": False,
                    "submission_count": 0,
                    "submission_method": "not_submitted",
                },
                "is_charge_refundable": False,
                "livemode": self.livemode,
                "metadata": {},
                "network_reason_code": None,
                "payment_intent": payment_intent_id,
                "payment_method_details": None,
                "reason": reason,
                "status": status,
            }
            self.disputes[dispute_id] = dispute
            self._belongs_to(dispute_id, self._accounts.get(charge["id"]))
            charge["disputed"] = True
            events = [self._emit("charge.dispute.created", dispute)]
        self._deliver_pending(raise_errors=True)
        return events

    def close_dispute(self, dispute_id: str, status: str = "won") -> list[Json]:
        """Settle an open dispute (``won``/``lost``/``warning_closed``); emits
        ``charge.dispute.closed``."""
        if status not in _CLOSED_DISPUTE_STATUSES:
            raise ValueError(f"status must be one of {_CLOSED_DISPUTE_STATUSES}")
        with self._lock:
            dispute = self.disputes.get(dispute_id)
            if dispute is None:
                raise KeyError(f"no such dispute: {dispute_id}")
            if dispute["status"] not in _OPEN_DISPUTE_STATUSES:
                raise ValueError(f"dispute {dispute_id} is already {dispute['status']}")
            dispute["status"] = status
            events = [self._emit("charge.dispute.closed", dispute)]
        self._deliver_pending(raise_errors=True)
        return events

    def redirect_url(self, session_id: str) -> str | None:
        """Where the browser lands after checkout: ``return_url``/``success_url`` with
        ``{CHECKOUT_SESSION_ID}`` filled in (Stripe stores the template verbatim)."""
        with self._lock:
            session = self._session(session_id)
            template = session["return_url"] or session["success_url"]
        return template.replace("{CHECKOUT_SESSION_ID}", session_id) if template else None

    # ----- helper internals --------------------------------------------------------------

    def _session(self, session_id: str) -> Json:
        session = self.sessions.get(session_id)
        if session is None:
            raise KeyError(f"no such checkout.session: {session_id}")
        return session

    def _succeeded_charge(self, payment_intent_id: str) -> Json:
        intent = self.payment_intents.get(payment_intent_id)
        if intent is None:
            raise KeyError(f"no such payment_intent: {payment_intent_id}")
        if intent["status"] != "succeeded":
            raise ValueError(f"payment intent {payment_intent_id} is {intent['status']}")
        return self.charges[intent["latest_charge"]]

    @staticmethod
    def _pick_method(session: Json, paid: bool) -> str:
        types: list[str] = session["payment_method_types"]
        if paid:
            return "card" if "card" in types else types[0]
        delayed = [t for t in types if t in _DELAYED_METHODS]
        return delayed[0] if delayed else "us_bank_account"

    def _create_payment_intent(self, session: Json, method: str, paid: bool) -> Json:
        data = self._intent_data.get(session["id"], {})
        now = self._now()
        intent_id = _new_id("pi_")
        charge_id = _new_id("ch_")
        payment_method = _new_id("pm_")
        amount = session["amount_total"]
        customer = self.customers.get(session["customer"] or "", {})
        metadata = dict(data.get("metadata", {}))
        intent = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_received": amount if paid else 0,
            "application": None,
            "application_fee_amount": None,
            "automatic_payment_methods": None,
            "canceled_at": None,
            "cancellation_reason": None,
            "capture_method": data.get("capture_method", "automatic_async"),
            "client_secret": f"{intent_id}_secret_{_random(25)}",
            "confirmation_method": "automatic",
            "created": now,
            "currency": session["currency"],
            "customer": session["customer"],
            "description": data.get("description"),
            "last_payment_error": None,
            "latest_charge": charge_id,
            "livemode": self.livemode,
            "metadata": metadata,
            "next_action": None,
            "on_behalf_of": None,
            "payment_method": payment_method,
            "payment_method_configuration_details": None,
            "payment_method_options": {},
            "payment_method_types": [method],
            "processing": None,
            "receipt_email": data.get("receipt_email"),
            "review": None,
            "setup_future_usage": data.get("setup_future_usage"),
            "shipping": None,
            "source": None,
            "statement_descriptor": data.get("statement_descriptor"),
            "statement_descriptor_suffix": data.get("statement_descriptor_suffix"),
            "status": "succeeded" if paid else "processing",
            "transfer_data": None,
            "transfer_group": None,
        }
        self.charges[charge_id] = {
            "id": charge_id,
            "object": "charge",
            "amount": amount,
            "amount_captured": amount,
            "amount_refunded": 0,
            "application": None,
            "application_fee": None,
            "application_fee_amount": None,
            "balance_transaction": _new_id("txn_") if paid else None,
            "billing_details": {
                "address": dict.fromkeys(("city", "country", "line1", "line2", "postal_code", "state")),
                "email": customer.get("email") or session["customer_email"],
                "name": customer.get("name"),
                "phone": None,
                "tax_id": None,
            },
            "calculated_statement_descriptor": None,
            "captured": True,
            "created": now,
            "currency": session["currency"],
            "customer": session["customer"],
            "description": data.get("description"),
            "disputed": False,
            "failure_balance_transaction": None,
            "failure_code": None,
            "failure_message": None,
            "fraud_details": {},
            "livemode": self.livemode,
            "metadata": dict(metadata),
            "on_behalf_of": None,
            "outcome": {
                "network_status": "approved_by_network",
                "reason": None,
                "risk_level": "normal",
                "seller_message": "Payment complete.",
                "type": "authorized",
            },
            "paid": paid,
            "payment_intent": intent_id,
            "payment_method": payment_method,
            "payment_method_details": {"type": method},
            "receipt_email": data.get("receipt_email"),
            "receipt_number": None,
            "receipt_url": None,
            "refunded": False,
            "refunds": {
                "object": "list",
                "data": [],
                "has_more": False,
                "url": f"/v1/charges/{charge_id}/refunds",
            },
            "review": None,
            "shipping": None,
            "source": None,
            "source_transfer": None,
            "statement_descriptor": data.get("statement_descriptor"),
            "statement_descriptor_suffix": data.get("statement_descriptor_suffix"),
            "status": "succeeded" if paid else "pending",
            "transfer_data": None,
            "transfer_group": None,
        }
        self.payment_intents[intent_id] = intent
        for made in (intent_id, charge_id):
            self._belongs_to(made, self._accounts.get(session["id"]))
        return intent


def _optional_string(params: Mapping[str, Any], name: str, max_length: int, prefix: str = "") -> str | None:
    if params.get(name) in (None, ""):
        return None
    return _string(params[name], f"{prefix}[{name}]" if prefix else name, max_length=max_length)


def _decimal(value: Any, param: str) -> Decimal:
    try:
        number = Decimal(_string(value, param))
    except InvalidOperation:
        raise _invalid(f"Invalid decimal: {_show(value)}", param) from None
    exponent = number.as_tuple().exponent
    if not number.is_finite() or number < 0 or (isinstance(exponent, int) and exponent < -12):
        raise _invalid(f"Invalid decimal: {_show(value)}", param)
    return number


# --------------------------------------------------------------------------------------
# HTTP transport
# --------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    double: StripeDouble


class _Handler(BaseHTTPRequestHandler):
    """Feeds raw HTTP into ``StripeDouble.handle``. HTTP/1.0: one request per
    connection, so SDK connection pools inherited by forked children stay harmless."""

    server: _Server
    server_version = "StripeDouble"

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        response = self.server.double.handle(self.command, self.path, dict(self.headers.items()), body)
        if response.drop:
            self.close_connection = True
            return
        response.wait()
        try:
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (e.g. timed out)

    do_GET = do_POST = do_DELETE = _dispatch

    def log_message(self, fmt: str, *args: Any) -> None:
        if self.server.double.verbose:
            super().log_message(fmt, *args)


def main(argv: list[str] | None = None) -> None:
    """Serve the double in the foreground for local development."""
    parser = argparse.ArgumentParser(description="Serve the Stripe API double.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--quiet", action="store_true", help="do not log requests")
    args = parser.parse_args(argv)
    double = StripeDouble(args.host, args.port, verbose=not args.quiet)
    double.start()
    print(f"Stripe double (API {API_VERSION}) listening on {double.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        double.stop()
        print("Stripe double stopped", file=sys.stderr)


if __name__ == "__main__":
    main()
