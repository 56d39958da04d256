"""The Stripe v1 API over HTTP, transport-independent: one request in (method, target, headers, body), one
`Response` out. What every request goes through is here — the API key, injected faults, idempotency keys (a
replay answers the first result; another endpoint or other parameters are an `idempotency_error`), the routing
to `endpoints`, and Stripe-shaped errors; what each endpoint does is in `endpoints`."""

from __future__ import annotations

import base64
import binascii
import json
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from stripe_double.endpoints import resolve
from stripe_double.errors import StripeApiError, invalid
from stripe_double.faults import Faults
from stripe_double.form import FormError, parse_form
from stripe_double.http import Response
from stripe_double.store import Call, Store, new_id, random_text
from stripe_double.vocabulary import API_VERSION

Json = dict[str, Any]


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
class _SavedResult:
    endpoint: str
    fingerprint: str
    status: int
    body: bytes
    request_id: str


class StripeApi:
    def __init__(self, store: Store, api_keys: frozenset[str] | None = None) -> None:
        """``api_keys`` limits the accepted keys (default: any ``sk_test_``/``rk_test_`` key, or
        ``sk_live_``/``rk_live_`` in live mode)."""
        self.store = store
        self.api_keys = api_keys
        self.faults = Faults()
        self._idempotency: dict[tuple[str, str], _SavedResult] = {}
        self._expired_keys: set[str] = set()

    def clear(self) -> None:
        """Forget idempotency keys, rolled keys and pending faults."""
        with self.store.lock:
            self._idempotency.clear()
            self._expired_keys.clear()
        self.faults.clear()

    def roll_api_key(self, key: str) -> str:
        """Roll ``key`` as the Dashboard does with "expire now": from now on it is answered 401
        (``api_key_expired``); returns the new key that replaces it."""
        with self.store.lock:
            self._expired_keys.add(key)
        return f"{key[:8]}rolled_{random_text(24)}"

    def remember_other_params(self, idempotency_key: str) -> None:
        """Make Stripe remember ``idempotency_key`` as first used with other parameters (as after a request whose
        parameters differed), so that its next use is refused with an ``idempotency_error``."""
        with self.store.lock:
            for (_, key), saved in self._idempotency.items():
                if key == idempotency_key:
                    saved.fingerprint = json.dumps({"other": "parameters"})

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Response:
        """Answer one HTTP request (``target`` = path + query)."""
        method = method.upper()
        split = urlsplit(target)
        path = split.path
        lowered = {name.lower(): value for name, value in headers.items()}
        request_id = new_id("req_", 14)
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

        with self.store.lock:
            self.store.requests.append(record)
            fault = self.faults.take(("fail", "drop"), method, path)
            if fault is not None and fault.kind == "drop":
                record.injected = "drop"
                return Response(0, {}, b"", drop=True)
            if fault is not None:
                record.injected = "fail"
                response = self._error_response(fault.error(), request_id)
            else:
                call = Call(params, {}, request_id, idempotency_key, lowered.get("stripe-account") or None)
                response = self._serve(method, path, api_key, form_error, call, record)
            response.headers.update(extra_headers)
            record.status = response.status
            hang = self.faults.take(("hang",), method, path)
            if hang is not None:
                response.delay, response.interrupt = hang.seconds, self.faults.interrupt
        self.store.deliver_pending(raise_errors=False)
        return response

    def _serve(self, method: str, path: str, api_key: str | None, form_error: FormError | None, call: Call,
               record: RecordedRequest) -> Response:
        try:
            api_key = self._authenticate(api_key)
            if form_error is not None:
                raise invalid(str(form_error), form_error.param)
            endpoint = f"{method} {path}"
            fingerprint = json.dumps(call.params, sort_keys=True)
            key = call.idempotency_key
            if key is not None:
                if len(key) > 255:
                    raise invalid("Idempotency-Key must be no more than 255 characters long.")
                saved = self._idempotency.get((api_key, key))
                if saved is not None:
                    replay = self._replay(saved, endpoint, fingerprint, key, call.request_id)
                    record.replayed = True
                    return replay
            route, call.args = resolve(method, path)
            self.store.sweep_expired()
            status, payload = route.endpoint(self.store, call, route.kind)
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
            mode = "live" if self.store.livemode else "test"
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
        headers = _base_headers(request_id, len(saved.body))
        headers["Idempotent-Replayed"] = "true"
        headers["Original-Request"] = saved.request_id
        return Response(saved.status, headers, saved.body)

    def _json_response(self, status: int, payload: Json, request_id: str) -> Response:
        body = json.dumps(payload, indent=2).encode("utf-8")
        return Response(status, _base_headers(request_id, len(body)), body)

    def _error_response(self, error: StripeApiError, request_id: str) -> Response:
        response = self._json_response(error.status, error.body(request_id, self.store.now()), request_id)
        response.headers.update(error.headers)
        return response


def _base_headers(request_id: str, length: int) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "Content-Length": str(length),
        "Request-Id": request_id,
        "Cache-Control": "no-cache, no-store",
    }


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
