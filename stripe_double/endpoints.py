"""The v1 endpoints the double serves, one function each: `(store, call, kind) -> (status, body)`, raising
StripeApiError for what Stripe refuses. `ROUTES` is the one list of them."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stripe_double import validation as check
from stripe_double.customers import create_customer
from stripe_double.errors import StripeApiError, invalid, no_such
from stripe_double.payments import refund_charge
from stripe_double.sessions import create_session
from stripe_double.store import Call, Store
from stripe_double.vocabulary import (
    CUSTOMER_CREATE_PARAMS,
    EVENT_LIST_PARAMS,
    LINE_ITEM_LIST_PARAMS,
    MODELED_CUSTOMER_PARAMS,
    MODELED_EVENT_LIST_PARAMS,
    MODELED_REFUND_PARAMS,
    MODELED_SESSION_LIST_PARAMS,
    REFUND_CREATE_PARAMS,
    REFUND_REASONS,
    RETRIEVE_PARAMS,
    SESSION_LIST_PARAMS,
    SESSION_STATUSES,
)

Json = dict[str, Any]
Endpoint = Callable[[Store, Call, "str | None"], tuple[int, Json]]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    endpoint: Endpoint
    kind: str | None = None  # the kind of object a retrieve route answers


def resolve(method: str, path: str) -> tuple[Route, dict[str, str]]:
    """The route serving `method path` and its path parameters; Stripe's 404 otherwise."""
    for route in ROUTES:
        match = route.pattern.match(path)
        if match is not None and route.method == method:
            return route, match.groupdict()
    raise StripeApiError(
        404,
        f"Unrecognized request URL ({method}: {path}). Please see "
        "https://docs.stripe.com or we can help at https://support.stripe.com/.",
    )


def create_customer_endpoint(store: Store, call: Call, kind: str | None) -> tuple[int, Json]:
    check.known(call.params, CUSTOMER_CREATE_PARAMS, MODELED_CUSTOMER_PARAMS)
    return _created(store, call, "customer", create_customer)


def create_session_endpoint(store: Store, call: Call, kind: str | None) -> tuple[int, Json]:
    return _created(store, call, "checkout.session", create_session)  # create_session checks its own names


def _created(store: Store, call: Call, kind: str, create: Callable[[Store, Json], Json]) -> tuple[int, Json]:
    """An object made by `create` from the request's parameters (expansions checked first), as the account that
    asked owns it."""
    expand = check.expand_paths(call.params)
    check.expandable(kind, expand)
    made = create(store, call.params)
    store.belongs_to(made["id"], call.account)
    return 200, store.render(made, expand)


def retrieve(store: Store, call: Call, kind: str | None) -> tuple[int, Json]:
    assert kind is not None
    check.known(call.params, RETRIEVE_PARAMS, RETRIEVE_PARAMS)
    expand = check.expand_paths(call.params)
    check.expandable(kind, expand)
    obj = store.find(call.args["id"], kind)
    if obj is None:
        raise no_such(kind, call.args["id"])
    return 200, store.render(obj, expand)


def expire_session(store: Store, call: Call, kind: str | None) -> tuple[int, Json]:
    check.known(call.params, RETRIEVE_PARAMS, RETRIEVE_PARAMS)
    expand = check.expand_paths(call.params)
    check.expandable("checkout.session", expand)
    session = store.sessions.get(call.args["id"])
    if session is None:
        raise no_such("checkout.session", call.args["id"])
    if session["status"] != "open":
        raise invalid('Only Checkout Sessions with a status in ["open"] can be expired.')
    store.expire(session, call)
    return 200, store.render(session, expand)


def list_sessions(store: Store, call: Call, kind: str | None) -> tuple[int, Json]:
    params = call.params
    check.known(params, SESSION_LIST_PARAMS, MODELED_SESSION_LIST_PARAMS)
    sessions = list(store.sessions.values())
    for name in ("customer", "payment_intent", "payment_link", "subscription"):
        if name in params:
            wanted = check.string(params[name], name)
            sessions = [s for s in sessions if s[name] == wanted]
    if "status" in params:
        status = check.enum(params["status"], SESSION_STATUSES, "status")
        sessions = [s for s in sessions if s["status"] == status]
    return 200, _page(store, params, sessions[::-1], "/v1/checkout/sessions", "checkout.session")


def list_line_items(store: Store, call: Call, kind: str | None) -> tuple[int, Json]:
    session_id = call.args["id"]
    if session_id not in store.sessions:
        raise no_such("checkout.session", session_id)
    check.known(call.params, LINE_ITEM_LIST_PARAMS, LINE_ITEM_LIST_PARAMS)
    url = f"/v1/checkout/sessions/{session_id}/line_items"
    return 200, _page(store, call.params, store.line_items[session_id], url, "item")


def list_events(store: Store, call: Call, kind: str | None) -> tuple[int, Json]:
    params = call.params
    check.known(params, EVENT_LIST_PARAMS, MODELED_EVENT_LIST_PARAMS)
    events = store.events[::-1]
    if "type" in params and "types" in params:
        raise invalid("You may only specify one of these parameters: type, types.")
    if "type" in params:
        pattern = check.string(params["type"], "type")
        events = [e for e in events if fnmatch.fnmatchcase(e["type"], pattern)]
    if "types" in params:
        types = set(check.string_list(params["types"], "types"))
        events = [e for e in events if e["type"] in types]
    if "created" in params:
        events = [e for e in events if check.in_range(e["created"], params["created"], "created")]
    # An account's list holds its own events: a platform's, those without an account; a connected account's
    # (asked for with Stripe-Account), its.
    events = [e for e in events if e.get("account") == call.account]
    return 200, _page(store, params, events, "/v1/events", "event")


def create_refund(store: Store, call: Call, kind: str | None) -> tuple[int, Json]:
    params = call.params
    check.known(params, REFUND_CREATE_PARAMS, MODELED_REFUND_PARAMS)
    expand = check.expand_paths(params)
    check.expandable("refund", expand)
    charge = _refunded_charge(store, params)
    amount = check.integer(params["amount"], "amount", minimum=1) if "amount" in params else None
    reason = check.enum(params["reason"], REFUND_REASONS, "reason") if "reason" in params else None
    metadata = check.metadata(params.get("metadata", {}), "metadata")
    refund = refund_charge(store, charge, amount, reason, metadata, call)
    return 200, store.render(refund, expand)


def _refunded_charge(store: Store, params: Json) -> Json:
    """The charge a refund names, by itself or through its PaymentIntent (exactly one of the two)."""
    if ("charge" in params) == ("payment_intent" in params):
        raise invalid("You must pass exactly one of these parameters: charge, payment_intent.",
                      code="parameter_missing")
    if "payment_intent" in params:
        intent_id = check.string(params["payment_intent"], "payment_intent")
        intent = store.payment_intents.get(intent_id)
        if intent is None:
            raise no_such("payment_intent", intent_id, param="payment_intent", status=400)
        if intent["status"] != "succeeded":
            raise invalid(f"This PaymentIntent ({intent_id}) does not have a successful charge to refund.",
                          "payment_intent")
        return store.charges[intent["latest_charge"]]
    charge_id = check.string(params["charge"], "charge")
    if charge_id not in store.charges:
        raise no_such("charge", charge_id, param="charge", status=400)
    return store.charges[charge_id]


def _page(store: Store, params: Json, items: list[Json], url: str, item_kind: str) -> Json:
    """A Stripe list page (``items`` already in API order) with cursor pagination."""
    limit = check.integer(params.get("limit", "10"), "limit", minimum=1, maximum=100)
    expand = check.expand_paths(params)
    check.expandable(f"list:{item_kind}", expand)
    ids = [item["id"] for item in items]
    for cursor in ("starting_after", "ending_before"):
        if cursor in params:
            cursor_id = check.string(params[cursor], cursor)
            if cursor_id not in ids:
                raise no_such(item_kind, cursor_id, param=cursor, status=400)
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
        "data": [store.render(item, item_expand) for item in page],
        "has_more": len(items) > len(page),
        "url": url,
    }


def _route(method: str, template: str, endpoint: Endpoint, kind: str | None = None) -> Route:
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
    return Route(method, re.compile(f"^{regex}$"), endpoint, kind)


ROUTES = (
    _route("POST", "/v1/customers", create_customer_endpoint),
    _route("GET", "/v1/customers/{id}", retrieve, "customer"),
    _route("POST", "/v1/checkout/sessions", create_session_endpoint),
    _route("GET", "/v1/checkout/sessions", list_sessions),
    _route("GET", "/v1/checkout/sessions/{id}", retrieve, "checkout.session"),
    _route("POST", "/v1/checkout/sessions/{id}/expire", expire_session),
    _route("GET", "/v1/checkout/sessions/{id}/line_items", list_line_items),
    _route("GET", "/v1/payment_intents/{id}", retrieve, "payment_intent"),
    _route("GET", "/v1/charges/{id}", retrieve, "charge"),
    _route("POST", "/v1/refunds", create_refund),
    _route("GET", "/v1/refunds/{id}", retrieve, "refund"),
    _route("GET", "/v1/disputes/{id}", retrieve, "dispute"),
    _route("GET", "/v1/events", list_events),
    _route("GET", "/v1/events/{id}", retrieve, "event"),
)
