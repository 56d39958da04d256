"""Webhook delivery as Stripe does it: every event POSTed to the endpoint from a background thread, signed anew at
each attempt; non-2xx answers and connection errors retried with exponential backoff. Switches turn delivery off,
send duplicates (same event id), or hold events for a moment and send each batch newest first. Every delivery and
its attempts are kept, as the Dashboard shows them."""

from __future__ import annotations

import heapq
import http.client
import itertools
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, TextIO

from stripe_double.events import delivery_headers, event_payload

Json = dict[str, Any]


@dataclass
class DeliverySettings:
    enabled: bool = True
    duplicates: int = 0  # extra copies of every event (same id), as Stripe's at-least-once delivery can send
    out_of_order: bool = False  # hold events for `reorder_window_seconds`, then send each batch newest first
    reorder_window_seconds: float = 1.0
    retry_base_seconds: float = 1.0  # wait after the first failure; doubles after each further one
    retry_max_seconds: float = 60.0
    max_attempts: int = 6
    timeout_seconds: float = 20.0

    def update(self, changes: Mapping[str, Any]) -> None:
        kinds = {f.name: f.type for f in fields(self)}
        for name, value in changes.items():
            if name not in kinds:
                raise ValueError(f"unknown webhook setting {name!r}; settings: {', '.join(kinds)}")
            current = getattr(self, name)
            if isinstance(current, bool):
                if not isinstance(value, bool):
                    raise ValueError(f"{name} must be true or false")
            elif isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{name} must be a non-negative number")
            setattr(self, name, type(current)(value))


@dataclass
class Delivery:
    event_id: str
    event_type: str
    object_id: str | None  # the event's data.object (e.g. the Checkout Session)
    copy: int  # 0, or n for the n-th duplicate
    state: str = "pending"  # pending | delivered | failed | skipped
    attempts: int = 0
    responses: list[str] = field(default_factory=list)  # HTTP status or error of each attempt
    last_response_body: str | None = None  # the endpoint's answer, as Stripe's Dashboard shows it (truncated)
    next_attempt_at: float | None = None

    def to_json(self) -> Json:
        return asdict(self)


class WebhookSender:
    """Delivers the double's events to one endpoint from a background thread, the way Stripe does."""

    def __init__(self, endpoint_url: str | None, secret: str | None, settings: DeliverySettings,
                 log: TextIO = sys.stderr, enabled_events: Iterable[str] | None = None) -> None:
        if endpoint_url and not secret:
            raise ValueError("a webhook endpoint needs its signing secret (STRIPE_WEBHOOK_SECRET)")
        self.endpoint_url = endpoint_url
        # The endpoint's subscription (Stripe's `enabled_events`; None: every event, Stripe's "*"): Stripe makes no
        # delivery of an event the endpoint is not subscribed to.
        self.enabled_events = frozenset(enabled_events) if enabled_events is not None else None
        self._secret = secret or ""
        self.settings = settings
        self._log = log
        self._queue: list[tuple[float, int, int, Delivery, bytes]] = []
        self._sequence = itertools.count()
        self._deliveries: list[Delivery] = []
        self._window_closes_at = 0.0
        self._in_flight = 0
        self._condition = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="webhook-sender", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        self._thread.join(timeout=5)

    def enqueue(self, event: Json) -> None:
        """The double's event listener: schedule the event (never blocks the request that caused it)."""
        if self.enabled_events is not None and event["type"] not in self.enabled_events:
            return
        payload = event_payload(event)
        with self._condition:
            settings = self.settings
            if not self.endpoint_url or not settings.enabled:
                skipped = Delivery(event["id"], event["type"], _object_id(event), 0, state="skipped")
                skipped.responses.append("delivery off" if self.endpoint_url else "no endpoint configured")
                self._deliveries.append(skipped)
                return
            now = time.monotonic()
            due, order = now, 0
            if settings.out_of_order:
                if self._window_closes_at <= now:
                    self._window_closes_at = now + settings.reorder_window_seconds
                due = self._window_closes_at
            for copy in range(1 + settings.duplicates):
                sequence = next(self._sequence)
                # Out of order: within a batch, the newest event goes first.
                order = -sequence if settings.out_of_order else sequence
                delivery = Delivery(event["id"], event["type"], _object_id(event), copy)
                self._deliveries.append(delivery)
                heapq.heappush(self._queue, (due, order, sequence, delivery, payload))
            self._condition.notify_all()

    def resend(self, event: Json) -> Delivery:
        """Deliver an event again now (Stripe Dashboard's "Resend"), whatever the switches say."""
        delivery = Delivery(event["id"], event["type"], _object_id(event), 0)
        with self._condition:
            if not self.endpoint_url:
                raise ValueError("no webhook endpoint configured")
            self._deliveries.append(delivery)
            sequence = next(self._sequence)
            heapq.heappush(self._queue, (time.monotonic(), sequence, sequence, delivery, event_payload(event)))
            self._condition.notify_all()
        return delivery

    def deliveries(self) -> list[Json]:
        with self._condition:
            return [delivery.to_json() for delivery in self._deliveries]

    def idle(self) -> bool:
        """Nothing queued, being sent, or waiting for a retry."""
        with self._condition:
            return not self._queue and not self._in_flight

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._stopping and (not self._queue or self._queue[0][0] > time.monotonic()):
                    timeout = self._queue[0][0] - time.monotonic() if self._queue else None
                    self._condition.wait(timeout)
                if self._stopping:
                    return
                _, _, _, delivery, payload = heapq.heappop(self._queue)
                self._in_flight += 1
                settings = DeliverySettings(**asdict(self.settings))
            outcome, answer = self._post(payload, settings.timeout_seconds)
            try:
                self._record(delivery, payload, outcome, answer, settings)
            finally:
                with self._condition:
                    self._in_flight -= 1

    def _post(self, payload: bytes, timeout: float) -> tuple[str, str | None]:
        assert self.endpoint_url
        # The endpoint is the http(s) URL `make dev` configured, not user input.
        request = urllib.request.Request(self.endpoint_url, data=payload, method="POST",  # noqa: S310
                                         headers=delivery_headers(payload, self._secret))
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (configured URL)
                return str(response.status), _excerpt(response.read())
        except urllib.error.HTTPError as error:
            return str(error.code), _excerpt(error.read())
        except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as error:
            reason = getattr(error, "reason", error)
            return f"error: {type(reason).__name__ if not isinstance(reason, str) else reason}", None

    def _record(
        self, delivery: Delivery, payload: bytes, outcome: str, answer: str | None, settings: DeliverySettings
    ) -> None:
        with self._condition:
            delivery.attempts += 1
            delivery.responses.append(outcome)
            delivery.last_response_body = answer
            if outcome.isdigit() and 200 <= int(outcome) < 300:
                delivery.state, delivery.next_attempt_at = "delivered", None
            elif delivery.attempts >= settings.max_attempts:
                delivery.state, delivery.next_attempt_at = "failed", None
            else:
                backoff = min(settings.retry_base_seconds * 2 ** (delivery.attempts - 1), settings.retry_max_seconds)
                delivery.next_attempt_at = time.time() + backoff
                sequence = next(self._sequence)
                heapq.heappush(self._queue, (time.monotonic() + backoff, sequence, sequence, delivery, payload))
                self._condition.notify_all()
        retry = f", retry in {delivery.next_attempt_at - time.time():.1f} s" if delivery.next_attempt_at else ""
        copy = f" (duplicate {delivery.copy})" if delivery.copy else ""
        print(f"stripe webhook {delivery.event_type} {delivery.event_id}{copy} -> {outcome} "
              f"(attempt {delivery.attempts}{retry})", file=self._log, flush=True)


def _excerpt(body: bytes, limit: int = 300) -> str:
    return body[:limit].decode("utf-8", errors="replace")


def _object_id(event: Json) -> str | None:
    data_object = (event.get("data") or {}).get("object") or {}
    return data_object.get("id") if isinstance(data_object.get("id"), str) else None
