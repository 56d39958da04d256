"""Everything this service asks of Stripe, through the official SDK.

One StripeClient per container. `_call` is the one retry loop: at most three HTTP attempts per call in all (the
SDK's own retries are off, so they cannot multiply with ours), retrying network errors, timeouts, 409, 429 and
5xx unless Stripe answers `Stripe-Should-Retry: false` (and retrying whatever it answers `true` for). Every
attempt of a POST carries the same Idempotency-Key, so a retried creation replays the first result instead of
making a second session; the key is derived from every parameter sent (`idempotency_key`), so a changed
parameter is a new request, never Stripe's "key reused with other parameters". Whatever still fails becomes
PaymentProviderUnavailable (502), raised before anything of ours has changed.

Keys are rolled: a 401 makes the function read the secret key again, once, and go on with the new one (never a
key `billing.config_rules` refuses). The webhook accepts a signature made with any of the signing secrets it
holds (two while one is rolled) and, when none matches, reads them again (at most once per
secret_store.MAX_AGE_SECONDS, however many bad signatures arrive).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, NamedTuple
from urllib.parse import quote

import stripe

from billing import config_rules
from billing.errors import ConfigurationError, PaymentProviderUnavailable, UnsupportedAmount
from billing.observability import count, logger
from billing.settings import current_secret, settings

# Connect and read timeouts (s): three attempts and the pauses between them still answer within API Gateway's 30 s.
_TIMEOUT = (3.0, 6.0)
_RETRY_DELAYS = (0.5, 1.0)  # seconds before the second and the third attempt: three attempts in all
RETRY_METRIC, ERROR_METRIC = "StripeRetry", "StripeError"
_EVENTS_PAGE_SIZE = 100  # Stripe's largest page


@dataclass(frozen=True)
class CheckoutSessionSnapshot:
    """The fields of a Checkout Session that fulfillment reads, from an API response or a webhook payload."""

    id: str
    status: str | None
    payment_status: str | None
    amount_total: int | None
    currency: str | None
    payment_intent: str | None
    customer: str | None
    client_secret: str | None = field(default=None, repr=False)  # lets a browser pay: never logged
    expires_at: int | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    # The name the payer gave at Checkout (customer_details.name), for their receipt: personal data, never logged,
    # and not kept in the inbox (billing/inbox.py), so an event reprocessed from there has none.
    customer_name: str | None = field(default=None, repr=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckoutSessionSnapshot:
        """Typed fields only: a signed event is still input, and a field of an unexpected type reads as absent."""

        def text(value: Any) -> str | None:
            return value if isinstance(value, str) else None

        def integer(value: Any) -> int | None:
            return value if isinstance(value, int) and not isinstance(value, bool) else None

        def object_id(value: Any) -> str | None:
            return text(value.get("id")) if isinstance(value, Mapping) else text(value)

        metadata = data.get("metadata")
        details = data.get("customer_details")
        return cls(
            id=str(data["id"]),
            status=text(data.get("status")),
            payment_status=text(data.get("payment_status")),
            amount_total=integer(data.get("amount_total")),
            currency=text(data.get("currency")),
            payment_intent=object_id(data.get("payment_intent")),
            customer=object_id(data.get("customer")),
            client_secret=text(data.get("client_secret")),
            expires_at=integer(data.get("expires_at")),
            metadata={k: v for k, v in metadata.items() if isinstance(k, str) and isinstance(v, str)}
            if isinstance(metadata, Mapping) else {},
            customer_name=text(details.get("name")) if isinstance(details, Mapping) else None,
        )

    @property
    def invoice_id(self) -> str | None:
        return self.metadata.get("invoiceId")

    @property
    def contact_id(self) -> str | None:
        return self.metadata.get("contactId")


# The key and signing secrets read again since start (a rolled key, a replaced secret); None: the settings' own.
_rolled_api_key: str | None = None
_rolled_webhook_secrets: str | None = None


@cache
def client() -> stripe.StripeClient:
    config = settings()
    return stripe.StripeClient(
        _rolled_api_key or config.stripe_secret_key or "",
        base_addresses={"api": config.stripe_api_base} if config.stripe_api_base else {},
        max_network_retries=0,  # `_call` retries
        http_client=stripe.RequestsClient(timeout=_TIMEOUT),
    )


def idempotency_key(purpose: str, attempt: str, params: Mapping[str, Any]) -> str:
    """The Idempotency-Key of one attempt at a creation: the same for every retry of it, another as soon as any
    parameter sent differs (Stripe refuses a key reused with other parameters for 24 hours). `attempt` names
    what is being attempted (an invoice's checkout as of its last change, a contact's customer)."""
    material = json.dumps([attempt, params], sort_keys=True, separators=(",", ":"), default=str)
    return f"{purpose}-{hashlib.sha256(material.encode()).hexdigest()[:48]}"


def create_customer(*, contact_id: str, email: str | None) -> str:
    params: dict[str, Any] = {"metadata": {"contactId": contact_id}}
    if email:
        params["email"] = email
    key = idempotency_key("customer", contact_id, params)
    customer = _call("create customer", lambda: _v1("post", "/v1/customers", params, idempotency_key=key))
    return str(customer["id"])


def create_checkout_session(params: Mapping[str, Any], *, idempotency_key: str) -> CheckoutSessionSnapshot:
    session = _call("create checkout session",
                    lambda: _v1("post", "/v1/checkout/sessions", params, idempotency_key=idempotency_key))
    return CheckoutSessionSnapshot.from_dict(session)


def retrieve_checkout_session(session_id: str) -> CheckoutSessionSnapshot | None:
    """The session, or None if Stripe has no such session."""
    try:
        session = _call("retrieve checkout session", lambda: _v1("get", f"/v1/checkout/sessions/{_id(session_id)}"))
    except _ResourceMissing:
        return None
    return CheckoutSessionSnapshot.from_dict(session)


def expire_checkout_session(session_id: str) -> CheckoutSessionSnapshot | None:
    """Expire an open session; if it is no longer open (it completed meanwhile), its current state instead."""
    key = idempotency_key("expire", session_id, {})
    try:
        session = _call("expire checkout session",
                        lambda: _v1("post", f"/v1/checkout/sessions/{_id(session_id)}/expire", idempotency_key=key),
                        rejection=_NotOpen)
    except _NotOpen:
        return retrieve_checkout_session(session_id)
    except _ResourceMissing:
        return None
    return CheckoutSessionSnapshot.from_dict(session)


def retrieve_payment_intent_status(payment_intent_id: str) -> str | None:
    """The PaymentIntent's status ("processing", "succeeded", "requires_payment_method", ...), None if missing."""
    intent = retrieve_payment_intent(payment_intent_id)
    return str(intent["status"]) if intent is not None else None


def retrieve_payment_intent(payment_intent_id: str) -> dict[str, Any] | None:
    """The PaymentIntent as Stripe holds it (its metadata names the invoice it was made for), None if missing."""
    try:
        intent: dict[str, Any] = _call("retrieve payment intent",
                                       lambda: _v1("get", f"/v1/payment_intents/{_id(payment_intent_id)}"))
    except _ResourceMissing:
        return None
    return intent


def refund_payment(payment_intent_id: str, *, metadata: Mapping[str, str], reason: str | None = None) -> str | None:
    """Refund the whole of a succeeded payment; the refund's id, or None if the payment was refunded already
    (by an earlier attempt of ours, or by someone in the Dashboard). `metadata` says why, on Stripe's side."""
    params: dict[str, Any] = {"payment_intent": payment_intent_id, "metadata": dict(metadata)}
    if reason:
        params["reason"] = reason
    key = idempotency_key("refund", payment_intent_id, params)
    try:
        refund = _call("refund payment", lambda: _v1("post", "/v1/refunds", params, idempotency_key=key),
                       rejection=_AlreadyRefunded, rejection_code="charge_already_refunded")
    except _AlreadyRefunded:
        return None
    return str(refund["id"])


def refund_payment_amount(payment_intent_id: str, *, amount_minor: int, reason: str | None,
                          metadata: Mapping[str, str], key: str) -> str:
    """Refund `amount_minor` of a succeeded payment (staff's refund); `key` (the invoice and the caller's
    Idempotency-Key) makes a retried request the same refund at Stripe, never a second one."""
    params: dict[str, Any] = {"payment_intent": payment_intent_id, "amount": amount_minor, "metadata": dict(metadata)}
    if reason in ("duplicate", "fraudulent", "requested_by_customer"):
        params["reason"] = reason
    idempotency = idempotency_key("staff-refund", key, params)
    refund = _call("refund payment", lambda: _v1("post", "/v1/refunds", params, idempotency_key=idempotency))
    return str(refund["id"])


class EventsPage(NamedTuple):
    events: list[dict[str, Any]]  # newest first, as Stripe lists them
    has_more: bool


def list_events(*, types: Sequence[str], created_from: int, created_until: int, starting_after: str | None = None
                ) -> EventsPage:
    """One page of Stripe's events list: events of `types` created from `created_from` to `created_until` (Unix
    seconds, both included)."""
    params: dict[str, Any] = {"types": list(types), "created": {"gte": created_from, "lte": created_until},
                              "limit": _EVENTS_PAGE_SIZE}
    if starting_after:
        params["starting_after"] = starting_after
    page = _call("list events", lambda: _v1("get", "/v1/events", params))
    return EventsPage([dict(event) for event in page["data"]], bool(page["has_more"]))


def _v1(method: str, path: str, params: Mapping[str, Any] | None = None, *, idempotency_key: str | None = None
        ) -> dict[str, Any]:
    """One v1 API call, answered as plain JSON. `raw_request` goes through the same requestor as the SDK's typed
    services (retries, idempotency key, API version, typed errors) but skips building typed objects that would
    only be turned back into dicts here: that saves importing the resource modules on a cold start (~10 ms for
    a Checkout Session) and ~0.8 ms per call warm (docs/PERFORMANCE.md)."""
    options = {"idempotency_key": idempotency_key} if idempotency_key else {}
    try:
        response = client().raw_request(method, path, **dict(params or {}), **options)
    except stripe.AuthenticationError as refused:
        if not _read_the_rolled_key():
            raise
        raise _Retryable() from refused  # `_call`'s next attempt sends the key read again
    return dict(response.data)


def _read_the_rolled_key() -> bool:
    """Stripe refused the key (rolled, or expired after a roll): read it again. True if another key is now used."""
    global _rolled_api_key
    try:
        key = current_secret("STRIPE_SECRET_KEY", fresh=True)
    except ConfigurationError:
        logger.warning("could not read the Stripe secret key again")
        return False
    if not key or key == (_rolled_api_key or settings().stripe_secret_key):
        return False
    refused = config_rules.stripe_problems(os.environ, key)
    if refused:
        logger.error("the Stripe secret key read again is refused", extra={"problems": refused})
        return False
    _rolled_api_key = key
    client.cache_clear()
    logger.info("Stripe refused the API key: the secret key was read again")
    return True


def _id(object_id: str) -> str:
    return quote(object_id, safe="")


def verify_webhook_signature(payload: bytes, signature: str | None) -> None:
    """Raise stripe.SignatureVerificationError unless `signature` signs exactly `payload` with one of our signing
    secrets, within Stripe's default tolerance of five minutes."""
    if signature is not None and not signature.isascii():  # the SDK's compare_digest would raise TypeError
        raise _signature_refused("Stripe-Signature is not ASCII", signature)
    text = payload.decode("utf-8")
    try:
        _verify_with_any(text, signature or "", _rolled_webhook_secrets or settings().stripe_webhook_secret or "")
    except stripe.SignatureVerificationError:
        replaced = _read_replaced_webhook_secrets()
        if replaced is None:
            raise
        _verify_with_any(text, signature or "", replaced)


def webhook_signing_secrets(value: str) -> list[str]:
    """The signing secrets a setting holds: one, or several separated by commas while one is rolled
    (`whsec_new,whsec_old`)."""
    return [part.strip() for part in value.split(",") if part.strip()]


def _verify_with_any(payload: str, signature: str, secrets: str) -> None:
    for secret in webhook_signing_secrets(secrets):
        try:
            stripe.WebhookSignature.verify_header(payload, signature, secret, stripe.Webhook.DEFAULT_TOLERANCE)
            return
        except stripe.SignatureVerificationError:
            continue
    raise _signature_refused("no signing secret held matches the signature", signature)


def _signature_refused(message: str, signature: str | None) -> stripe.SignatureVerificationError:
    return stripe.SignatureVerificationError(message, signature)  # type: ignore[no-untyped-call]  # SDK: unannotated


def _read_replaced_webhook_secrets() -> str | None:
    """The signing secrets again, if they changed since they were read. Not read afresh: anyone can send a bad
    signature, so the secret's maximum age bounds how often this asks Secrets Manager."""
    global _rolled_webhook_secrets
    try:
        secrets = current_secret("STRIPE_WEBHOOK_SECRET")
    except ConfigurationError:
        logger.warning("could not read the webhook signing secret again")
        return None
    if not secrets or secrets == (_rolled_webhook_secrets or settings().stripe_webhook_secret):
        return None
    _rolled_webhook_secrets = secrets
    logger.info("the webhook signing secret was replaced: read again")
    return secrets


class _ResourceMissing(Exception):
    pass


class _NotOpen(Exception):
    pass


class _AlreadyRefunded(Exception):
    pass


def _call(action: str, request: Any, *, rejection: type[Exception] | None = None,
          rejection_code: str | None = None) -> Any:
    """Run one SDK call in at most len(_RETRY_DELAYS) + 1 HTTP attempts. A 400 becomes `rejection` when the caller
    expects one (with `rejection_code`, only that error code): expiring a session that is no longer open,
    refunding a payment refunded already. Anything else that fails is PaymentProviderUnavailable."""
    for delay in _RETRY_DELAYS:
        try:
            return _call_once(action, request, rejection, rejection_code, last_attempt=False)
        except _Retryable:
            time.sleep(delay)
    return _call_once(action, request, rejection, rejection_code, last_attempt=True)


class _Retryable(Exception):
    pass


def _worth_retrying(error: stripe.StripeError) -> bool:
    """Stripe's own word first (`Stripe-Should-Retry`), then what the SDK would retry, plus rate limits."""
    should_retry = next((v for k, v in (error.headers or {}).items() if k.lower() == "stripe-should-retry"), None)
    if should_retry in ("true", "false"):
        return should_retry == "true"
    if isinstance(error, stripe.APIConnectionError):
        return error.should_retry
    return error.http_status in (409, 429) or (error.http_status or 0) >= 500


def _call_once(action: str, request: Any, rejection: type[Exception] | None, rejection_code: str | None, *,
               last_attempt: bool) -> Any:
    try:
        return request()
    except _Retryable as retryable:  # the API key was read again after a 401
        refused = retryable.__cause__
        if last_attempt and isinstance(refused, stripe.StripeError):
            raise _translated(action, refused, rejection, rejection_code) from refused
        raise
    except stripe.StripeError as error:
        if not last_attempt and _worth_retrying(error):
            logger.info("stripe call retried", extra={"action": action, "error": type(error).__name__,
                                                      "http_status": error.http_status,
                                                      "stripe_request_id": error.request_id})
            count(RETRY_METRIC)
            raise _Retryable() from error
        raise _translated(action, error, rejection, rejection_code) from error


def _translated(action: str, error: stripe.StripeError, rejection: type[Exception] | None,
                rejection_code: str | None) -> Exception:
    """What `error` means to this service (the one place Stripe's errors are read), logged where it is news."""
    if isinstance(error, stripe.IdempotencyError) and error.http_status == 400:
        # The same key with other parameters: a bug of ours (keys are derived from every parameter), not an
        # outage. Logged as what it is; the request changed nothing at Stripe.
        logger.error("stripe refused an idempotency key reused with other parameters",
                     extra={"action": action, "stripe_error": "idempotency_error",
                            "stripe_request_id": error.request_id})
        return _failed_for_good()
    if isinstance(error, stripe.InvalidRequestError):
        if error.code == "resource_missing":
            return _ResourceMissing()
        if rejection is not None and error.http_status == 400 and rejection_code in (None, error.code):
            return rejection()
        if error.code in ("amount_too_small", "amount_too_large"):
            return UnsupportedAmount(error.user_message or "amount outside Stripe's limits")
        logger.error("stripe rejected a request", extra={"action": action, "stripe_code": error.code,
                                                          "stripe_request_id": error.request_id})
        return _failed_for_good()
    # Connection errors, timeouts, 409, 429 and 5xx that survived the retries (or Stripe said not to retry); also
    # a bad API key.
    logger.warning("stripe unavailable", extra={"action": action, "error": type(error).__name__,
                                                 "http_status": error.http_status,
                                                 "stripe_request_id": error.request_id})
    return _failed_for_good()


def _failed_for_good() -> PaymentProviderUnavailable:
    """A Stripe call that failed after its retries (the request answers 502): the metric an alarm watches."""
    count(ERROR_METRIC)
    return PaymentProviderUnavailable()
