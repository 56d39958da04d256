"""What the double knows: every object by id, the events, and the rules that read them (lookups, expansion,
emission of events, expiry of sessions).

All state lives in plain dicts keyed by id plus the `events` and `requests` lists; one re-entrant lock guards all
of it, so the HTTP threads and a test's own thread can interleave freely. Listeners (webhook delivery) are called
outside the lock, on the thread that caused the event.
"""

from __future__ import annotations

import copy
import secrets
import string
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stripe_double.vocabulary import API_VERSION, EVENT_TYPES, ID_PREFIXES

if TYPE_CHECKING:
    from stripe_double.api import RecordedRequest

Json = dict[str, Any]
EventListener = Callable[[Json], None]

_ALPHABET = string.ascii_letters + string.digits


def random_text(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + random_text(length)


@dataclass
class Call:
    """The request that causes a change: what an endpoint reads, and what the events it causes name."""

    params: Json
    args: dict[str, str]
    request_id: str
    idempotency_key: str | None
    account: str | None = None  # the connected account it acts for (``Stripe-Account``), as Connect platforms do


class Store:
    def __init__(self, *, clock: Callable[[], float] = time.time, livemode: bool = False,
                 checkout_url: str = "https://checkout.stripe.com/c/pay/") -> None:
        self.clock = clock
        self.livemode = livemode
        self.checkout_url = checkout_url  # prefix of a hosted session's `url`
        self.lock = threading.RLock()
        self.listeners: list[EventListener] = []

        self.customers: dict[str, Json] = {}
        self.sessions: dict[str, Json] = {}
        self.payment_intents: dict[str, Json] = {}
        self.charges: dict[str, Json] = {}
        self.refunds: dict[str, Json] = {}
        self.disputes: dict[str, Json] = {}
        self.events: list[Json] = []
        self.requests: list[RecordedRequest] = []
        self.events_by_id: dict[str, Json] = {}
        self.prices: dict[str, Json] = {}
        self.products: dict[str, Json] = {}
        self.line_items: dict[str, list[Json]] = {}
        self.intent_data: dict[str, Json] = {}  # session id -> its payment_intent_data
        self.undelivered: list[Json] = []
        # object id -> the connected account it belongs to (made with a Stripe-Account header); its events say so
        self.accounts: dict[str, str] = {}

    def clear(self) -> None:
        """Forget every object, event and request."""
        with self.lock:
            for container in (
                self.customers, self.sessions, self.payment_intents, self.charges, self.refunds, self.disputes,
                self.events, self.requests, self.events_by_id, self.prices, self.products, self.line_items,
                self.intent_data, self.undelivered, self.accounts,
            ):
                container.clear()

    def now(self) -> int:
        return int(self.clock())

    # ----- lookups and rendering ---------------------------------------------------------

    def of_kind(self, kind: str) -> dict[str, Json]:
        return {
            "customer": self.customers,
            "checkout.session": self.sessions,
            "payment_intent": self.payment_intents,
            "charge": self.charges,
            "refund": self.refunds,
            "dispute": self.disputes,
            "event": self.events_by_id,
            "price": self.prices,
            "product": self.products,
        }.get(kind, {})

    def find(self, object_id: str, kind: str | None = None) -> Json | None:
        if kind is None:
            kind = next((k for prefix, k in ID_PREFIXES.items() if object_id.startswith(prefix)), "")
        return self.of_kind(kind).get(object_id)

    def render(self, obj: Json, expand: Iterable[str]) -> Json:
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
            value: Any = self.line_item_list(obj["id"])
        else:
            value = obj.get(head)
            if isinstance(value, str):
                value = copy.deepcopy(self.find(value)) or value
        obj[head] = value
        if rest and isinstance(value, dict):
            self._expand_into(value, rest)

    def line_item_list(self, session_id: str) -> Json:
        items = copy.deepcopy(self.line_items.get(session_id, []))
        return {
            "object": "list",
            "data": items,
            "has_more": False,
            "url": f"/v1/checkout/sessions/{session_id}/line_items",
        }

    # ----- events ------------------------------------------------------------------------

    def emit(self, event_type: str, obj: Json, call: Call | None = None) -> Json:
        """Record an event carrying a snapshot of ``obj`` as it is right now."""
        if event_type not in EVENT_TYPES:
            raise AssertionError(f"{event_type} is not an event type of the pinned SDK")
        event: Json = {
            "id": new_id("evt_", 24),
            "object": "event",
            "api_version": API_VERSION,
            "created": self.now(),
            "data": {"object": copy.deepcopy(obj)},
            "livemode": self.livemode,
            "pending_webhooks": len(self.listeners),
            "request": {
                "id": call.request_id if call else None,
                "idempotency_key": call.idempotency_key if call else None,
            },
            "type": event_type,
        }
        if obj.get("id") in self.accounts:  # an event of a connected account names it, as Connect endpoints see
            event["account"] = self.accounts[obj["id"]]
        self.events.append(event)
        self.events_by_id[event["id"]] = event
        self.undelivered.append(event)
        return event

    def belongs_to(self, object_id: str, account: str | None) -> None:
        if account:
            self.accounts[object_id] = account

    def deliver_pending(self, *, raise_errors: bool) -> None:
        """Hand the events made since the last call to the listeners (outside the lock)."""
        with self.lock:
            pending, self.undelivered = self.undelivered, []
            listeners = list(self.listeners)
        for event in pending:
            for listener in listeners:
                try:
                    listener(event)
                except Exception:
                    if raise_errors:
                        raise
                    traceback.print_exc()

    # ----- sessions' own clock -------------------------------------------------------------

    def sweep_expired(self) -> None:
        """Expire open sessions whose ``expires_at`` has passed (per ``clock``)."""
        now = self.now()
        for session in list(self.sessions.values()):
            if session["status"] == "open" and session["expires_at"] <= now:
                self.expire(session, None)

    def expire(self, session: Json, call: Call | None) -> Json:
        session.update(status="expired", url=None)
        return self.emit("checkout.session.expired", session, call)

    def session(self, session_id: str) -> Json:
        session = self.sessions.get(session_id)
        if session is None:
            raise KeyError(f"no such checkout.session: {session_id}")
        return session
