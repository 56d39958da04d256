"""The Stripe double, exercised through the real SDK over HTTP.

These tests pin the double to the pinned SDK: objects are checked against the typed resources' annotations, errors
must come out as the SDK's exception classes, and webhooks must pass ``stripe.Webhook.construct_event``.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import types
import typing
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import stripe

from stripe_double.double import StripeDouble
from stripe_double.events import event_payload, sign_payload, webhook_request
from stripe_double.form import parse_form
from stripe_double.vocabulary import API_VERSION

ROOT = Path(__file__).resolve().parents[1]
KEY = "sk_test_double_suite"
WEBHOOK_SECRET = "whsec_double_suite"
RETURN_URL = "https://portal.example.test/dashboard?session_id={CHECKOUT_SESSION_ID}"


# The shared conftest's autouse fixtures provision PostgreSQL for the service tests; the double needs none of it,
# so this module overrides them to stay fast and independent of the database.
@pytest.fixture(scope="session")
def service_environment() -> None:
    return None


@pytest.fixture
def clean_state() -> None:
    return None


@pytest.fixture(scope="module")
def server() -> Iterator[StripeDouble]:
    with StripeDouble() as double:
        yield double


@pytest.fixture
def double(server: StripeDouble) -> Iterator[StripeDouble]:
    server.reset()
    yield server
    server.reset()


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK backs off 0.5 s+ between retries; the behaviour under test is the same without the wait."""
    monkeypatch.setattr(stripe.HTTPClient, "INITIAL_DELAY", 0.001)
    monkeypatch.setattr(stripe.HTTPClient, "MAX_DELAY", 0.001)


def make_client(double: StripeDouble, *, retries: int = 0, timeout: float = 5.0, key: str = KEY) -> stripe.StripeClient:
    return stripe.StripeClient(
        key,
        base_addresses={"api": double.url},
        max_network_retries=retries,
        http_client=stripe.RequestsClient(timeout=timeout),
    )


@pytest.fixture
def client(double: StripeDouble) -> stripe.StripeClient:
    return make_client(double)


def session_params(customer: str | None = None, **overrides: Any) -> Any:
    """What the billing backend sends for an invoice; an override of None leaves that parameter out.

    Typed ``Any`` rather than the SDK's ``SessionCreateParams``: several tests send what that type forbids.
    """
    metadata = {"invoiceId": "inv_123", "contactId": "con_1"}
    params: dict[str, Any] = {
        "ui_mode": "embedded_page",
        "mode": "payment",
        "line_items": [
            {
                "price_data": {
                    "currency": "USD",
                    "unit_amount": 25_000,
                    "product_data": {"name": "Invoice INV-1", "description": "Consulting"},
                },
                "quantity": 2,
            }
        ],
        "return_url": RETURN_URL,
        "metadata": metadata,
        "payment_intent_data": {"metadata": metadata},
    }
    if customer is not None:
        params["customer"] = customer
    params.update(overrides)
    return {name: value for name, value in params.items() if value is not None}


def new_session(client: stripe.StripeClient, **overrides: Any) -> stripe.checkout.Session:
    customer = client.v1.customers.create(params={"email": "alice@acme.test", "name": "Alice"})
    return client.v1.checkout.sessions.create(params=session_params(customer.id, **overrides))


def get_json(double: StripeDouble, path: str, key: str | None = KEY) -> tuple[int, dict[str, str], Any]:
    """A raw GET, for what the SDK hides: status, headers and the exact JSON."""
    request = urllib.request.Request(double.url + path)
    if key is not None:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def construct(event: dict[str, Any]) -> stripe.Event:
    payload = event_payload(event)
    return stripe.Webhook.construct_event(payload, sign_payload(payload, WEBHOOK_SECRET), WEBHOOK_SECRET)


# ----- conformance with the SDK's typed resources ----------------------------------------------------------------


def _is_optional(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in typing.get_args(
        annotation
    )


def _literals(annotation: Any) -> set[str]:
    if typing.get_origin(annotation) is typing.Literal:
        return {arg for arg in typing.get_args(annotation) if isinstance(arg, str)}
    return {value for arg in typing.get_args(annotation) for value in _literals(arg)}


def _inner(annotation: Any) -> Any:
    """``Optional[List[X]]`` -> ``X``."""
    args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        return _inner(args[0])
    if origin is list:
        return _inner(args[0])
    return annotation


def sdk_fields(cls: type) -> dict[str, Any]:
    """The instance fields a typed resource declares (its own and inherited annotations)."""
    fields: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        if issubclass(klass, stripe.StripeObject) and klass is not stripe.StripeObject:
            for name, annotation in vars(klass).get("__annotations__", {}).items():
                if not name.startswith("_") and typing.get_origin(annotation) is not typing.ClassVar:
                    fields[name] = annotation
    return fields


def sdk_mismatches(data: dict[str, Any], cls: type, path: str) -> list[str]:
    """Differences between a JSON object and a typed resource: missing non-Optional fields, fields the SDK does not
    know, and enum values the SDK does not list. Nested typed objects are checked recursively."""
    fields = sdk_fields(cls)
    problems = [
        f"{path}.{name} is missing" for name, ann in fields.items() if not _is_optional(ann) and name not in data
    ]
    problems += [f"{path}.{name} is not an SDK field" for name in data if name not in fields]
    for name, value in data.items():
        annotation = fields.get(name)
        if annotation is None or value is None:
            continue
        allowed = _literals(annotation)
        values = value if isinstance(value, list) else [value]
        if allowed:
            problems += [f"{path}.{name}={v!r} is not one of the SDK's literals" for v in values if v not in allowed]
        nested = _inner(annotation)
        if isinstance(nested, type) and issubclass(nested, stripe.StripeObject):
            for index, item in enumerate(values):
                if isinstance(item, dict):
                    suffix = f"[{index}]" if isinstance(value, list) else ""
                    problems += sdk_mismatches(item, nested, f"{path}.{name}{suffix}")
    return problems


def test_every_object_matches_the_sdks_typed_resources(double: StripeDouble, client: stripe.StripeClient) -> None:
    # Given a session that is paid, refunded in part and disputed, and one that is still open
    open_session = new_session(client)
    paid = new_session(client)
    double.complete_session(paid.id)
    intent_id = double.sessions[paid.id]["payment_intent"]
    double.refund(intent_id, 1_000)
    (dispute_event,) = double.dispute(intent_id)
    dispute_id = dispute_event["data"]["object"]["id"]

    # When each object is fetched as JSON
    _, _, expanded = get_json(double, f"/v1/checkout/sessions/{paid.id}?expand[0]=line_items.data.price.product")
    (item,) = expanded.pop("line_items")["data"]
    product = item["price"]["product"]
    price = item["price"] = {**item["price"], "product": product["id"]}
    intent = get_json(double, f"/v1/payment_intents/{intent_id}")[2]
    objects = {
        "open session": (get_json(double, f"/v1/checkout/sessions/{open_session.id}")[2], stripe.checkout.Session),
        "paid session": (expanded, stripe.checkout.Session),
        "customer": (get_json(double, f"/v1/customers/{paid.customer}")[2], stripe.Customer),
        "payment intent": (intent, stripe.PaymentIntent),
        "charge": (get_json(double, f"/v1/charges/{intent['latest_charge']}")[2], stripe.Charge),
        "refund": (next(iter(double.refunds.values())), stripe.Refund),
        "dispute": (get_json(double, f"/v1/disputes/{dispute_id}")[2], stripe.Dispute),
        "line item": (item, stripe.LineItem),
        "price": (price, stripe.Price),
        "product": (product, stripe.Product),
    }
    objects.update({f"event {e['type']}": (e, stripe.Event) for e in double.events})

    # Then every non-Optional field is there, nothing is invented, and enums use the SDK's values
    problems = [p for name, (data, cls) in objects.items() for p in sdk_mismatches(data, cls, name)]
    assert problems == []
    assert {e["type"] for e in double.events} <= _literals(stripe.Event.__annotations__["type"])


# ----- customers and sessions ------------------------------------------------------------------------------------


def test_a_session_round_trips_with_the_fields_the_backend_reads(
    double: StripeDouble, client: stripe.StripeClient
) -> None:
    customer = client.v1.customers.create(
        params={"email": "alice@acme.test", "name": "Alice", "metadata": {"contactId": "con_1"}}
    )
    created = client.v1.checkout.sessions.create(params=session_params(customer.id), options={"idempotency_key": "k"})

    assert customer.id.startswith("cus_")
    assert client.v1.customers.retrieve(customer.id).to_dict()["metadata"] == {"contactId": "con_1"}
    assert created.id.startswith("cs_test_")
    assert created.object == "checkout.session"
    assert created.client_secret and created.client_secret.startswith(f"{created.id}_secret_")
    assert (created.amount_total, created.amount_subtotal, created.currency) == (50_000, 50_000, "usd")
    assert (created.status, created.payment_status, created.payment_intent) == ("open", "unpaid", None)
    assert (created.mode, created.ui_mode, created.url, created.livemode) == ("payment", "embedded_page", None, False)
    assert created.customer == customer.id
    assert created.to_dict()["metadata"] == {"invoiceId": "inv_123", "contactId": "con_1"}
    assert created.return_url == RETURN_URL  # Stripe keeps the template; the browser gets the substituted URL
    assert double.redirect_url(created.id) == RETURN_URL.replace("{CHECKOUT_SESSION_ID}", created.id)
    assert created.expires_at == pytest.approx(created.created + 24 * 3600, abs=2)

    retrieved = client.v1.checkout.sessions.retrieve(created.id)
    assert retrieved.to_dict() == created.to_dict()
    assert double.sessions[created.id]["client_secret"] == created.client_secret


def test_typed_attributes_are_readable(client: stripe.StripeClient) -> None:
    session = new_session(client)

    assert isinstance(session, stripe.checkout.Session)
    assert isinstance(session.automatic_tax, stripe.checkout.Session.AutomaticTax)
    assert session.automatic_tax.enabled is False
    assert session.custom_text.submit is None
    assert session.payment_method_types == ["card"]
    assert session.total_details is not None and session.total_details.amount_tax == 0
    assert session.metadata is not None and session.metadata["invoiceId"] == "inv_123"


def test_line_items_can_be_listed_and_expanded(client: stripe.StripeClient) -> None:
    session = new_session(client)

    (item,) = client.v1.checkout.sessions.line_items.list(session.id).data
    expanded = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["line_items", "customer"]})

    assert (item.quantity, item.amount_total, item.description) == (2, 50_000, "Invoice INV-1")
    assert item.price is not None and item.price.unit_amount == 25_000
    assert expanded.line_items is not None and expanded.line_items.data[0].id == item.id
    assert isinstance(expanded.customer, stripe.Customer) and expanded.customer.email == "alice@acme.test"


@pytest.mark.parametrize(
    ("overrides", "param", "code"),
    [
        ({"ui_mode": "embedded"}, "ui_mode", None),
        ({"return_url": None}, "return_url", "parameter_missing"),
        ({"success_url": "https://portal.example.test/ok"}, "success_url", None),
        ({"payment_method_types": ["card"]}, "payment_method_types", "parameter_unknown"),
        ({"discounts": [{"coupon": "SAVE"}]}, "discounts", None),
        ({"customer": "cus_missing"}, "customer", "resource_missing"),
        ({"expires_at": int(time.time()) + 60}, "expires_at", None),
        ({"metadata": {"k" * 41: "v"}}, "metadata", None),
    ],
)
def test_invalid_sessions_are_refused_like_stripe_does(
    double: StripeDouble, client: stripe.StripeClient, overrides: dict[str, Any], param: str, code: str | None
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.checkout.sessions.create(params=session_params(**overrides))

    assert (caught.value.http_status, caught.value.param, caught.value.code) == (400, param, code)
    assert caught.value.error is not None and caught.value.error.type == "invalid_request_error"
    assert double.sessions == {}


@pytest.mark.parametrize(
    ("price_data", "param", "code"),
    [
        ({"unit_amount": "12.5"}, "line_items[0][price_data][unit_amount]", "parameter_invalid_integer"),
        ({"currency": "xyz"}, "line_items[0][price_data][currency]", None),
        ({"product_data": {"description": "no name"}}, "line_items[0][price_data][product_data][name]", None),
        ({"unit_amount": 10}, None, "amount_too_small"),
    ],
)
def test_invalid_line_items_are_refused(
    client: stripe.StripeClient, price_data: dict[str, Any], param: str | None, code: str | None
) -> None:
    params = session_params()
    params["line_items"][0]["price_data"].update(price_data)

    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.checkout.sessions.create(params=params)

    assert caught.value.http_status == 400
    assert caught.value.param == param
    assert code is None or caught.value.code == code


def test_a_hosted_session_has_a_url_and_no_client_secret(client: stripe.StripeClient) -> None:
    params = session_params(ui_mode=None, return_url=None, success_url="https://portal.example.test/ok")
    session = client.v1.checkout.sessions.create(params=params)

    assert (session.ui_mode, session.client_secret) == ("hosted_page", None)
    assert session.url is not None and session.url.endswith(session.id)


# ----- errors, authentication and idempotency --------------------------------------------------------------------


def test_an_unknown_session_is_a_404_resource_missing(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.checkout.sessions.retrieve("cs_test_x")

    assert (caught.value.http_status, caught.value.code, caught.value.param) == (404, "resource_missing", "id")
    assert caught.value.user_message == "No such checkout.session: 'cs_test_x'"
    assert caught.value.request_id and caught.value.request_id.startswith("req_")


def test_a_bad_or_missing_api_key_is_a_401(double: StripeDouble) -> None:
    with pytest.raises(stripe.AuthenticationError) as caught:
        make_client(double, key="sk_live_nope").v1.customers.create()
    status, headers, body = get_json(double, "/v1/customers/cus_x", key=None)

    assert caught.value.http_status == 401
    assert status == 401 and body["error"]["type"] == "invalid_request_error"
    assert headers["Request-Id"].startswith("req_")
    assert double.customers == {}


def test_an_unknown_route_is_an_unrecognized_request_url(double: StripeDouble, client: stripe.StripeClient) -> None:
    status, headers, body = get_json(double, "/v1/nothing/here")

    assert status == 404
    assert body["error"]["message"].startswith("Unrecognized request URL (GET: /v1/nothing/here)")
    assert headers["Request-Id"].startswith("req_")
    with pytest.raises(stripe.InvalidRequestError):
        client.raw_request("post", "/v1/nothing/here")


def test_an_idempotent_retry_replays_the_first_response(double: StripeDouble, client: stripe.StripeClient) -> None:
    params = session_params()

    first = client.v1.checkout.sessions.create(params=params, options={"idempotency_key": "checkout-1"})
    second = client.v1.checkout.sessions.create(params=params, options={"idempotency_key": "checkout-1"})

    assert second.id == first.id
    assert list(double.sessions) == [first.id]
    assert second.last_response is not None
    assert second.last_response.headers["Idempotent-Replayed"] == "true"
    assert second.last_response.headers["Original-Request"] == first.last_response.request_id  # type: ignore[union-attr]
    assert [r.replayed for r in double.requests] == [False, True]


def test_reusing_a_key_with_other_parameters_is_an_idempotency_error(
    double: StripeDouble, client: stripe.StripeClient
) -> None:
    client.v1.checkout.sessions.create(params=session_params(), options={"idempotency_key": "checkout-1"})

    with pytest.raises(stripe.IdempotencyError) as caught:
        client.v1.checkout.sessions.create(
            params=session_params(metadata={"invoiceId": "other"}), options={"idempotency_key": "checkout-1"}
        )
    other_account = make_client(double, key="sk_test_other_account")
    other_account.v1.checkout.sessions.create(
        params=session_params(metadata={"invoiceId": "other"}), options={"idempotency_key": "checkout-1"}
    )

    assert caught.value.http_status == 400
    assert "same parameters" in str(caught.value.user_message)
    assert len(double.sessions) == 2  # keys are scoped per API key


# ----- fault injection --------------------------------------------------------------------------------------------


def test_injected_500s_are_retried_with_the_same_key_and_create_one_session(double: StripeDouble) -> None:
    double.fail_next(2, status=500, path_prefix="/v1/checkout/sessions")

    session = make_client(double, retries=3).v1.checkout.sessions.create(params=session_params())

    attempts = [r for r in double.requests if r.path == "/v1/checkout/sessions"]
    assert [(a.status, a.injected) for a in attempts] == [(500, "fail"), (500, "fail"), (200, None)]
    assert len({a.idempotency_key for a in attempts}) == 1
    assert list(double.sessions) == [session.id]


def test_an_injected_500_without_retries_is_an_api_error(double: StripeDouble, client: stripe.StripeClient) -> None:
    double.fail_next(1, status=503)

    with pytest.raises(stripe.APIError) as caught:
        client.v1.checkout.sessions.create(params=session_params())

    assert caught.value.http_status == 503
    assert caught.value.error is not None and caught.value.error.type == "api_error"
    assert double.sessions == {}


def test_a_429_is_a_rate_limit_error_that_the_sdk_does_not_retry_by_itself(double: StripeDouble) -> None:
    double.fail_next(1, status=429)

    with pytest.raises(stripe.RateLimitError) as caught:
        make_client(double, retries=2).v1.customers.create()

    assert caught.value.http_status == 429
    assert caught.value.error is not None and caught.value.error.code == "rate_limit"
    assert len(double.requests) == 1
    double.fail_next(1, status=429, should_retry=True)
    make_client(double, retries=2).v1.customers.create()
    assert len(double.customers) == 1


def test_a_timed_out_creation_is_replayed_on_retry(double: StripeDouble) -> None:
    double.hang_next(1, seconds=2.0, path_prefix="/v1/checkout/sessions")

    session = make_client(double, retries=1, timeout=0.3).v1.checkout.sessions.create(params=session_params())

    assert list(double.sessions) == [session.id]
    assert [r.replayed for r in double.requests] == [False, True]


def test_a_dropped_connection_is_retried_and_nothing_was_done(double: StripeDouble) -> None:
    double.drop_next(1)

    customer = make_client(double, retries=1).v1.customers.create(params={"email": "a@acme.test"})

    assert list(double.customers) == [customer.id]
    assert [r.injected for r in double.requests] == ["drop", None]
    with pytest.raises(stripe.APIConnectionError):
        double.drop_next(1)
        make_client(double).v1.customers.create()


# ----- the payment lifecycle and its webhooks ---------------------------------------------------------------------


def test_completing_a_session_creates_the_payment_intent_and_a_signed_event(
    double: StripeDouble, client: stripe.StripeClient
) -> None:
    session = new_session(client)

    (completed,) = double.complete_session(session.id)

    event = construct(completed)
    assert (event.type, event.api_version, event.object) == ("checkout.session.completed", API_VERSION, "event")
    assert event.data.object["payment_status"] == "paid"
    refreshed = client.v1.checkout.sessions.retrieve(session.id)
    assert (refreshed.status, refreshed.payment_status) == ("complete", "paid")
    assert refreshed.payment_intent == event.data.object["payment_intent"]
    intent = client.v1.payment_intents.retrieve(str(refreshed.payment_intent))
    assert (intent.status, intent.amount, intent.currency) == ("succeeded", 50_000, "usd")
    assert intent.metadata.to_dict() == {"invoiceId": "inv_123", "contactId": "con_1"}
    assert [s.id for s in client.v1.checkout.sessions.list(params={"payment_intent": intent.id}).data] == [session.id]
    assert client.v1.events.retrieve(event.id).type == "checkout.session.completed"
    with pytest.raises(ValueError):
        double.complete_session(session.id)


@pytest.mark.parametrize(
    ("succeeded", "event_type", "payment_status", "intent_status"),
    [
        (True, "checkout.session.async_payment_succeeded", "paid", "succeeded"),
        (False, "checkout.session.async_payment_failed", "unpaid", "requires_payment_method"),
    ],
)
def test_a_bank_debit_settles_later(
    double: StripeDouble,
    client: stripe.StripeClient,
    succeeded: bool,
    event_type: str,
    payment_status: str,
    intent_status: str,
) -> None:
    session = new_session(client)
    (completed,) = double.complete_session(session.id, payment_status="unpaid")
    intent_id = completed["data"]["object"]["payment_intent"]
    assert client.v1.payment_intents.retrieve(intent_id).status == "processing"

    (settled,) = double.async_payment(session.id, succeeded=succeeded)

    event = construct(settled)
    assert event.type == event_type
    assert event.data.object["payment_status"] == payment_status
    assert client.v1.payment_intents.retrieve(intent_id).status == intent_status
    assert construct(completed).data.object["payment_status"] == "unpaid"  # events are snapshots


def test_expiring_through_the_api_emits_an_event_once(double: StripeDouble, client: stripe.StripeClient) -> None:
    session = new_session(client)

    expired = client.v1.checkout.sessions.expire(session.id)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.checkout.sessions.expire(session.id)

    assert (expired.status, expired.url) == ("expired", None)
    assert caught.value.user_message == 'Only Checkout Sessions with a status in ["open"] can be expired.'
    (event,) = double.events
    assert construct(event).type == "checkout.session.expired"
    assert event["request"]["id"] == expired.last_response.request_id  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        double.expire(session.id)


def test_sessions_expire_by_themselves_when_their_time_is_up(
    double: StripeDouble, client: stripe.StripeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = new_session(client)

    monkeypatch.setattr(double, "clock", lambda: time.time() + 25 * 3600)

    assert client.v1.checkout.sessions.retrieve(session.id).status == "expired"
    assert [e["type"] for e in double.events] == ["checkout.session.expired"]


def test_refunds_and_disputes_emit_charge_events(double: StripeDouble, client: stripe.StripeClient) -> None:
    session = new_session(client)
    double.complete_session(session.id)
    intent_id = double.sessions[session.id]["payment_intent"]

    (partial,) = double.refund(intent_id, 20_000)
    (full,) = double.refund(intent_id)
    (opened,) = double.dispute(intent_id, status="needs_response")
    dispute_id = opened["data"]["object"]["id"]
    (closed,) = double.close_dispute(dispute_id, status="lost")

    first, second = construct(partial), construct(full)
    assert first.type == second.type == "charge.refunded"
    charge = second.data.object
    assert (first.data.object["amount_refunded"], first.data.object["refunded"]) == (20_000, False)
    assert (charge["amount_refunded"], charge["refunded"], charge["amount"]) == (50_000, True, 50_000)
    assert charge["payment_intent"] == intent_id and charge["id"].startswith("ch_")
    assert charge["metadata"]["invoiceId"] == "inv_123"
    assert construct(opened).type == "charge.dispute.created"
    dispute = construct(closed).data.object
    assert (dispute["status"], dispute["payment_intent"], dispute["amount"]) == ("lost", intent_id, 50_000)
    assert dispute["charge"] == charge["id"] and dispute_id.startswith("dp_")
    assert client.v1.disputes.retrieve(dispute_id).status == "lost"
    with pytest.raises(ValueError):
        double.refund(intent_id)


def test_signatures_reject_tampering_and_stale_timestamps(double: StripeDouble, client: stripe.StripeClient) -> None:
    (event,) = double.complete_session(new_session(client).id)
    payload = event_payload(event)

    tampered = payload.replace(b'"paid"', b'"unpaid"')
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(tampered, sign_payload(payload, WEBHOOK_SECRET), WEBHOOK_SECRET)
    stale = sign_payload(payload, WEBHOOK_SECRET, timestamp=int(time.time()) - 301)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload, stale, WEBHOOK_SECRET)
    body, headers = webhook_request(event, WEBHOOK_SECRET)
    assert stripe.Webhook.construct_event(body, headers["Stripe-Signature"], WEBHOOK_SECRET).id == event["id"]


def test_events_can_be_listed_and_filtered(double: StripeDouble, client: stripe.StripeClient) -> None:
    for _ in range(3):
        double.complete_session(new_session(client).id)
    double.expire(new_session(client).id)

    completed = client.v1.events.list(params={"type": "checkout.session.completed", "limit": 2})
    every = [e.id for e in client.v1.events.list(params={"type": "checkout.session.*", "limit": 1}).auto_paging_iter()]

    assert (len(completed.data), completed.has_more, completed.url) == (2, True, "/v1/events")
    assert every == [e["id"] for e in reversed(double.events) if e["type"].startswith("checkout.session.")]
    charges = client.v1.events.list(params={"type": "charge.succeeded"}).data
    assert len(charges) == 3  # each paid session's charge succeeded


# ----- transport ---------------------------------------------------------------------------------------------------


def test_bracket_notation_becomes_nested_dicts_and_lists() -> None:
    pairs = [
        ("line_items[0][price_data][currency]", "usd"),
        ("line_items[0][quantity]", "1"),
        ("metadata[0]", "kept as a key"),
        ("expand[]", "a"),
        ("expand[]", "b"),
    ]

    assert parse_form(pairs) == {
        "line_items": [{"price_data": {"currency": "usd"}, "quantity": "1"}],
        "metadata": {"0": "kept as a key"},
        "expand": ["a", "b"],
    }


def test_concurrent_clients_are_served_safely(double: StripeDouble, client: stripe.StripeClient) -> None:
    ids: list[str] = []

    def create() -> None:
        ids.append(make_client(double).v1.checkout.sessions.create(params=session_params()).id)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(ids) == sorted(double.sessions) and len(set(ids)) == 8


def test_a_child_process_talks_to_the_same_double(double: StripeDouble) -> None:
    code = (
        "import stripe, sys; "
        "c = stripe.StripeClient(sys.argv[1], base_addresses={'api': sys.argv[2]}); "
        "print(c.v1.customers.create(params={'email': 'child@acme.test'}).id)"
    )
    child = subprocess.run(
        [sys.executable, "-c", code, KEY, double.url], capture_output=True, text=True, timeout=30, check=True
    )

    assert list(double.customers) == [child.stdout.strip()]


def test_it_runs_standalone_as_a_module() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "stripe_double", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        assert f"http://127.0.0.1:{port}" in server.stdout.readline()
        client = stripe.StripeClient(KEY, base_addresses={"api": f"http://127.0.0.1:{port}"})
        assert client.v1.customers.create().id.startswith("cus_")
    finally:
        server.terminate()
        server.wait(timeout=10)
