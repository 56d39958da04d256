"""`StripeDouble`: the double as the tests, the storm and the benchmark hold it — the store of objects, the API over
HTTP (`start()` serves it on 127.0.0.1), fault injection, and the parts a test plays (`scenarios`).

Why a real HTTP server rather than mocks: the real ``stripe`` SDK talks to it over a socket, so form encoding,
error parsing, retries and idempotency keys are exercised exactly as in production -- from the test process and
from child processes alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from stripe_double.api import RecordedRequest, StripeApi
from stripe_double.http import HttpServer, Response
from stripe_double.scenarios import Scenarios
from stripe_double.store import EventListener, Store

Json = dict[str, Any]


class StripeDouble(Scenarios):
    """Stateful Stripe v1 API double served over HTTP.

    The objects are plain dicts keyed by id (``customers``, ``sessions``, ``payment_intents``, ``charges``,
    ``refunds``, ``disputes``) plus the ``events`` and ``requests`` lists, as Stripe would answer them."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        api_keys: Iterable[str] | None = None,
        clock: Callable[[], float] = time.time,
        checkout_url: str = "https://checkout.stripe.com/c/pay/",
        livemode: bool = False,
    ) -> None:
        """``api_keys`` limits the accepted keys (default: any ``sk_test_``/``rk_test_`` key, or
        ``sk_live_``/``rk_live_`` with ``livemode``); ``clock`` lets tests move time (open sessions expire at
        ``expires_at``); ``checkout_url`` prefixes the hosted-page ``url``; ``livemode`` makes it Stripe's live
        mode: every object and event says so."""
        self.host, self.port = host, port
        self.store = Store(clock=clock, livemode=livemode, checkout_url=checkout_url)
        self.api = StripeApi(self.store, frozenset(api_keys) if api_keys is not None else None)
        self._http = HttpServer(self.api)

    # ----- what Stripe holds ---------------------------------------------------------------

    @property
    def customers(self) -> dict[str, Json]:
        return self.store.customers

    @property
    def sessions(self) -> dict[str, Json]:
        return self.store.sessions

    @property
    def payment_intents(self) -> dict[str, Json]:
        return self.store.payment_intents

    @property
    def charges(self) -> dict[str, Json]:
        return self.store.charges

    @property
    def refunds(self) -> dict[str, Json]:
        return self.store.refunds

    @property
    def disputes(self) -> dict[str, Json]:
        return self.store.disputes

    @property
    def events(self) -> list[Json]:
        return self.store.events

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.store.requests

    @property
    def clock(self) -> Callable[[], float]:
        return self.store.clock

    @clock.setter
    def clock(self, clock: Callable[[], float]) -> None:
        self.store.clock = clock

    @property
    def checkout_url(self) -> str:
        return self.store.checkout_url

    @checkout_url.setter
    def checkout_url(self, url: str) -> None:
        self.store.checkout_url = url

    # ----- lifecycle -------------------------------------------------------------------

    def start(self) -> StripeDouble:
        """Bind ``host:port`` (0 = any free port) and serve from a daemon thread."""
        if self._http.started:
            raise RuntimeError("StripeDouble is already started")
        self._http.start(self.host, self.port, name="stripe-double")
        return self

    def stop(self) -> None:
        """Stop serving; requests still hanging are released immediately."""
        if not self._http.started:
            return
        self.api.faults.interrupt.set()
        self._http.stop()

    @property
    def url(self) -> str:
        """Base address for ``StripeClient(base_addresses={"api": url})``."""
        if not self._http.started:
            raise RuntimeError("StripeDouble is not started")
        return self._http.url

    def __enter__(self) -> StripeDouble:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget all objects, events, requests, idempotency keys and pending faults."""
        with self.store.lock:
            self.store.clear()
            self.api.clear()

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Response:
        """Answer one HTTP request (``target`` = path + query), whatever serves it."""
        return self.api.handle(method, target, headers, body)

    def add_listener(self, listener: EventListener) -> None:
        """Call ``listener(event)`` for every new event (e.g. to deliver webhooks).

        Listeners run outside the lock, on the thread that caused the event.
        """
        with self.store.lock:
            self.store.listeners.append(listener)

    # ----- Stripe misbehaving -----------------------------------------------------------------

    def fail_next(self, count: int = 1, status: int = 500, path_prefix: str | None = None, *,
                  method: str | None = None, should_retry: bool | None = None) -> None:
        """Answer the next ``count`` matching requests with ``status`` and a Stripe error body, without performing
        them (so their idempotency keys stay unused).

        ``should_retry`` sets the ``Stripe-Should-Retry`` header, which overrides the SDK's own retry decision (it
        retries 409 and 5xx, not 429, by default).
        """
        self.api.faults.fail_next(count, status, path_prefix, method, should_retry)

    def hang_next(self, count: int = 1, seconds: float = 1.0, path_prefix: str | None = None, *,
                  method: str | None = None) -> None:
        """Delay the next ``count`` matching responses by ``seconds`` (after performing the request, like a slow
        network), to provoke client timeouts."""
        self.api.faults.hang_next(count, seconds, path_prefix, method)

    def drop_next(self, count: int = 1, path_prefix: str | None = None, *, method: str | None = None) -> None:
        """Close the connection of the next ``count`` matching requests without answering or performing them (the
        SDK sees a retryable connection error)."""
        self.api.faults.drop_next(count, path_prefix, method)

    def roll_api_key(self, key: str) -> str:
        """Roll ``key`` as the Dashboard does with "expire now": from now on it is answered 401
        (``api_key_expired``); returns the new key that replaces it."""
        return self.api.roll_api_key(key)

    def remember_other_params(self, idempotency_key: str) -> None:
        """Make Stripe remember ``idempotency_key`` as first used with other parameters, so that its next use is
        refused with an ``idempotency_error``."""
        self.api.remember_other_params(idempotency_key)
