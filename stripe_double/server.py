"""The double as a local server (`python -m stripe_double`, which `make dev` starts): the API, what a person needs
to pay, and what Stripe does afterwards.

- `/v1/...`: the Stripe API double (the `stripe_double` package) that the functions' SDK talks to.
- `/checkout/{session_id}`: a minimal payment page; `/local/checkout/sessions/{id}/pay` behind it completes an
  open Checkout Session with Stripe's test cards or a test bank account (see TEST_CARDS, TEST_BANK_ACCOUNTS).
- `/js/stripe.js`: a stand-in for Stripe.js with the embedded Checkout subset a portal uses (`Stripe(key)`,
  `initEmbeddedCheckout({fetchClientSecret})`, `mount`, `destroy`): it mounts the payment page in an iframe and
  sends the browser to the session's `return_url` when the payment completes, as Stripe.js does.
- Webhooks: every event is POSTed, signed with the endpoint's secret (a fresh `Stripe-Signature` per attempt),
  to the configured endpoint; non-2xx answers and connection errors are retried with exponential backoff.
  Switches (`/local/webhooks`) turn delivery off, send duplicates, or deliver out of order.
- Time: open sessions expire at their `expires_at` (`checkout.session.expired`); `/local/clock` moves the
  double's clock forward to get there without waiting a day.

    STRIPE_WEBHOOK_SECRET=whsec_... python -m stripe_double \
        --port 12111 --webhook-url http://127.0.0.1:3001/api/webhook/stripe      (`make dev` starts it for you)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict
from typing import Any, TextIO
from urllib.parse import urlsplit

from stripe_double.checkout import Checkout, PaymentRefused
from stripe_double.clock import OffsetClock
from stripe_double.delivery import DeliverySettings, WebhookSender
from stripe_double.double import StripeDouble
from stripe_double.http import HttpServer, Response
from stripe_double.page import SCRIPTS, checkout_page
from stripe_double.vocabulary import API_VERSION

Json = dict[str, Any]


class LocalStripe:
    """The double, the payment page, webhook delivery and the expiry sweep, behind one HTTP server."""

    def __init__(
        self,
        *,
        webhook_url: str | None,
        webhook_secret: str | None,
        delivery: DeliverySettings | None = None,
        bank_debit_settle_seconds: float | None = 5.0,
        sweep_interval_seconds: float = 1.0,
        log: TextIO = sys.stderr,
        enabled_events: Iterable[str] | None = None,
    ) -> None:
        self.clock = OffsetClock()
        self.double = StripeDouble(clock=self.clock)
        self.webhooks = WebhookSender(webhook_url, webhook_secret, delivery or DeliverySettings(), log,
                                      enabled_events)
        self.double.add_listener(self.webhooks.enqueue)
        self.checkout = Checkout(self.double, bank_debit_settle_seconds)
        self.sweep_interval_seconds = sweep_interval_seconds
        self.log = log
        self._http = HttpServer(self, log=self._log_request)
        self._sweeper: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self, host: str = "127.0.0.1", port: int = 0) -> LocalStripe:
        self._http.start(host, port, name="stripe-http")
        # Hosted-mode sessions (not ours: we use embedded) would point at the local page.
        self.double.checkout_url = f"{self.url}/checkout/"
        self.webhooks.start()
        self._sweeper = threading.Thread(target=self._sweep, name="stripe-expiry", daemon=True)
        self._sweeper.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._http.stop()
        self.webhooks.stop()
        self.checkout.stop()
        if self._sweeper is not None:
            self._sweeper.join(timeout=5)

    @property
    def url(self) -> str:
        return self._http.url

    def _sweep(self) -> None:
        # Stripe expires sessions on its own schedule; the double only when asked.
        while not self._stopping.wait(self.sweep_interval_seconds):
            self.double.sweep_expired()

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Response:
        """The Stripe API under /v1/, the payment page and its scripts, and the /local/ control endpoints."""
        path = urlsplit(target).path
        if path.startswith("/v1/"):
            return self.double.handle(method, target, headers, body)
        if path.startswith("/checkout/") and method == "GET":
            page = checkout_page(self.checkout, path.removeprefix("/checkout/")).encode()
            return Response(200, {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}, page)
        if path.startswith("/js/") and method == "GET" and path.removeprefix("/js/") in SCRIPTS:
            script = SCRIPTS[path.removeprefix("/js/")].read_bytes()
            return Response(200, {"Content-Type": "text/javascript; charset=utf-8", "Cache-Control": "no-store"},
                            script)
        try:
            payload = json.loads(body) if body else {}
            if not isinstance(payload, dict):
                raise ValueError
        except ValueError:
            status, answer = 400, {"error": {"type": "invalid_request_error", "message": "body must be a JSON object"}}
        else:
            status, answer = self.local_endpoint(method, path, payload)
        return Response(status, {"Content-Type": "application/json"}, json.dumps(answer, indent=2).encode())

    def _log_request(self, method: str, path: str, status: str) -> None:
        # Method and path only: the query string and headers may carry keys (Authorization) or client secrets.
        print(f"stripe {method} {path} {status}", file=self.log, flush=True)

    # ----- the local endpoints ---------------------------------------------------------------------------------

    def local_endpoint(self, method: str, path: str, body: Json) -> tuple[int, Json]:
        """The /local/... control and payment API (JSON in, JSON out)."""
        for pattern, verb, action in self._local_routes():
            found = re.fullmatch(pattern, path)
            if found and verb == method:
                try:
                    return 200, action(body, **found.groupdict())
                except PaymentRefused as refused:
                    return refused.status, refused.body()
                except (ValueError, KeyError, TypeError) as error:
                    return 400, {"error": {"type": "invalid_request_error", "message": str(error)}}
        return 404, {"error": {"type": "invalid_request_error", "message": f"no local endpoint {method} {path}"}}

    def _local_routes(self) -> list[tuple[str, str, Callable[..., Json]]]:
        session = r"/local/checkout/sessions/(?P<session_id>[A-Za-z0-9_]+)"
        checkout = self.checkout
        return [
            (r"/local/health", "GET", lambda body: {"ok": True, "api_version": API_VERSION}),
            (session, "GET", lambda body, session_id: checkout.summary(session_id)),
            (session + "/pay", "POST", self._pay),
            (session + "/authenticate", "POST",
             lambda body, session_id: checkout.authenticate(session_id, bool(body.get("approve", True)))),
            (session + "/settle", "POST",
             lambda body, session_id: checkout.settle(session_id, body.get("succeeded"))),
            (session + "/expire", "POST", lambda body, session_id: checkout.expire(session_id)),
            (r"/local/webhooks", "GET", lambda body: self._webhook_settings()),
            (r"/local/webhooks", "POST", self._update_webhook_settings),
            (r"/local/webhooks/deliveries", "GET",
             lambda body: {"deliveries": self.webhooks.deliveries(), "idle": self.webhooks.idle()}),
            (r"/local/webhooks/deliveries/(?P<event_id>evt_[A-Za-z0-9]+)/resend", "POST", self._resend),
            (r"/local/clock", "GET", lambda body: {"now": int(self.clock())}),
            (r"/local/clock", "POST", lambda body: {"now": int(self.clock.advance(float(body["advance_seconds"])))}),
        ]

    def _pay(self, body: Json, session_id: str) -> Json:
        if "card" in body:
            return self.checkout.pay_with_card(session_id, str(body["card"]))
        if "bank_account" in body:
            return self.checkout.pay_with_bank_account(session_id, str(body["bank_account"]))
        raise ValueError('pay with {"card": "4242 4242 4242 4242"} or {"bank_account": "000123456789"}')

    def _webhook_settings(self) -> Json:
        return {"endpoint": self.webhooks.endpoint_url, **asdict(self.webhooks.settings)}

    def _update_webhook_settings(self, body: Json) -> Json:
        self.webhooks.settings.update(body)
        print(f"stripe webhook settings: {json.dumps(asdict(self.webhooks.settings))}", file=self.log, flush=True)
        return self._webhook_settings()

    def _resend(self, body: Json, event_id: str) -> Json:
        event = next((e for e in self.double.events if e["id"] == event_id), None)
        if event is None:
            raise PaymentRefused(404, "resource_missing", f"No such event: '{event_id}'")
        return self.webhooks.resend(event).to_json()


def _stop_on_sigterm() -> None:
    """SIGTERM (what `make dev` and the tests send) unwinds like Ctrl-C, so the server closes its socket."""

    def interrupt(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve the Stripe double with a payment page and webhooks.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--webhook-url", help="endpoint to deliver events to (the secret: STRIPE_WEBHOOK_SECRET)")
    parser.add_argument("--enabled-events", help="the endpoint's subscription, comma-separated (default: every event)")
    parser.add_argument("--retry-base-seconds", type=float, default=DeliverySettings.retry_base_seconds)
    parser.add_argument("--max-attempts", type=int, default=DeliverySettings.max_attempts)
    parser.add_argument("--bank-debit-settle-seconds", type=float, default=5.0,
                        help="how long a bank debit stays in flight before it settles (negative: settle by hand)")
    args = parser.parse_args(argv)
    settle = args.bank_debit_settle_seconds if args.bank_debit_settle_seconds >= 0 else None
    local = LocalStripe(
        webhook_url=args.webhook_url,
        webhook_secret=os.environ.get("STRIPE_WEBHOOK_SECRET"),
        delivery=DeliverySettings(retry_base_seconds=args.retry_base_seconds, max_attempts=args.max_attempts),
        bank_debit_settle_seconds=settle,
        log=sys.stdout,
        enabled_events=args.enabled_events.split(",") if args.enabled_events else None,
    )
    _stop_on_sigterm()
    local.start(args.host, args.port)
    print(f"stripe listening on {local.url} (API {API_VERSION}); webhooks -> {args.webhook_url or 'nowhere'}",
          flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        local.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
