"""The Stripe double of the tests as a server, plus what a person needs to pay and what Stripe does afterwards.

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

    PYTHONPATH=layers/common:. STRIPE_WEBHOOK_SECRET=whsec_... python -m stripe_double \
        --port 12111 --webhook-url http://127.0.0.1:3001/api/webhook/stripe      (`make dev` starts it for you)
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import heapq
import html
import http.client
import itertools
import json
import os
import re
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from stripe_double.double import (
    API_VERSION,
    THREE_DECIMAL_CURRENCIES,
    ZERO_DECIMAL_CURRENCIES,
    StripeDouble,
    event_payload,
    sign_payload,
)

Json = dict[str, Any]


@dataclass(frozen=True)
class TestCard:
    outcome: str  # "succeeds" | "declined" | "authenticate"
    decline_code: str | None = None
    message: str = ""


# Stripe's test cards (https://docs.stripe.com/testing); spaces are ignored.
TEST_CARDS: dict[str, TestCard] = {
    "4242424242424242": TestCard("succeeds", message="Visa: succeeds"),
    "5555555555554444": TestCard("succeeds", message="Mastercard: succeeds"),
    "4000000000000002": TestCard("declined", "generic_decline", "Your card was declined."),
    "4000000000009995": TestCard("declined", "insufficient_funds", "Your card has insufficient funds."),
    "4000000000000069": TestCard("declined", "expired_card", "Your card has expired."),
    "4000002500003155": TestCard("authenticate", message="3D Secure: succeeds once the cardholder authenticates"),
}
# Stripe's test US bank accounts (routing number 110000000): the debit settles later, then succeeds or fails.
TEST_BANK_ACCOUNTS: dict[str, tuple[bool, str]] = {
    "000123456789": (True, "the debit succeeds"),
    "000222222227": (False, "the debit fails: insufficient funds"),
    "000111111113": (False, "the debit fails: account closed"),
}


class PaymentRefused(Exception):
    """The payment page's answer when a payment cannot go ahead; the session stays as it was."""

    def __init__(self, status: int, code: str, message: str, decline_code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.decline_code = status, code, message, decline_code

    def body(self) -> Json:
        error: Json = {"type": "card_error" if self.status == 402 else "invalid_request_error",
                       "code": self.code, "message": self.message}
        if self.decline_code:
            error["decline_code"] = self.decline_code
        return {"error": error}


class OffsetClock:
    """Real time plus an offset that only moves forward: the double's clock, so sessions can be aged."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += seconds
        return self()


# --------------------------------------------------------------------------------------------------------------
# Webhook delivery
# --------------------------------------------------------------------------------------------------------------


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
                 log: TextIO = sys.stderr) -> None:
        if endpoint_url and not secret:
            raise ValueError("a webhook endpoint needs its signing secret (STRIPE_WEBHOOK_SECRET)")
        self.endpoint_url = endpoint_url
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
        request = urllib.request.Request(self.endpoint_url, data=payload, method="POST", headers={  # noqa: S310
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            # Signed at each attempt, as Stripe does: a retry hours later still passes the 300 s tolerance.
            "Stripe-Signature": sign_payload(payload, self._secret),
        })
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


# --------------------------------------------------------------------------------------------------------------
# Paying
# --------------------------------------------------------------------------------------------------------------


class Checkout:
    """Plays the customer at Stripe's payment page, and the bank behind a debit."""

    def __init__(self, double: StripeDouble, bank_debit_settle_seconds: float | None) -> None:
        self.double = double
        self.bank_debit_settle_seconds = bank_debit_settle_seconds
        self._awaiting_authentication: set[str] = set()
        self._bank_debits: dict[str, bool] = {}  # session id -> will succeed
        self._lock = threading.Lock()
        self._timers: list[threading.Timer] = []

    def session(self, session_id: str) -> Json:
        session = self.double.sessions.get(session_id)
        if session is None:
            raise PaymentRefused(404, "resource_missing", f"No such checkout.session: '{session_id}'")
        return session

    def summary(self, session_id: str) -> Json:
        session = self.session(session_id)
        return {
            "id": session_id,
            "status": session["status"],
            "payment_status": session["payment_status"],
            "amount_total": session["amount_total"],
            "currency": session["currency"],
            "amount": _display_amount(session),
            "metadata": session["metadata"],
            "expires_at": session["expires_at"],
            "payment_intent": session["payment_intent"],
            "awaiting_authentication": session_id in self._awaiting_authentication,
            "bank_debit_pending": session_id in self._bank_debits,
            "redirect_url": self.double.redirect_url(session_id),
        }

    def pay_with_card(self, session_id: str, number: str) -> Json:
        self._require_open(session_id)
        card = TEST_CARDS.get(re.sub(r"[\s-]", "", number or ""))
        if card is None:
            raise PaymentRefused(402, "card_declined", "Your card was declined: use one of Stripe's test cards.",
                                 "test_mode_live_card")
        if card.outcome == "declined":
            raise PaymentRefused(402, "card_declined", card.message, card.decline_code)
        if card.outcome == "authenticate":
            with self._lock:
                self._awaiting_authentication.add(session_id)
            return {"status": "requires_action", "next_action": {
                "type": "authenticate",
                "authenticate_url": f"/local/checkout/sessions/{session_id}/authenticate",
            }}
        return self._complete_paid(session_id)

    def authenticate(self, session_id: str, approve: bool) -> Json:
        with self._lock:
            if session_id not in self._awaiting_authentication:
                raise PaymentRefused(400, "payment_intent_unexpected_state", "nothing to authenticate")
            self._awaiting_authentication.discard(session_id)
        if not approve:
            raise PaymentRefused(402, "payment_intent_authentication_failure",
                                 "The cardholder did not authenticate the payment.")
        self._require_open(session_id)
        return self._complete_paid(session_id)

    def pay_with_bank_account(self, session_id: str, account_number: str) -> Json:
        session = self._require_open(session_id)
        if session["currency"] != "usd":
            raise PaymentRefused(400, "payment_method_unavailable", "US bank account debits are in USD only.")
        account = TEST_BANK_ACCOUNTS.get(re.sub(r"\s", "", account_number or ""))
        if account is None:
            raise PaymentRefused(400, "invalid_bank_account",
                                 "Use a test account number: " + ", ".join(TEST_BANK_ACCOUNTS))
        will_succeed, _ = account
        self.double.complete_session(session_id, "unpaid", payment_method_type="us_bank_account")
        with self._lock:
            self._bank_debits[session_id] = will_succeed
        if self.bank_debit_settle_seconds is not None:
            timer = threading.Timer(self.bank_debit_settle_seconds, self._settle_quietly, args=(session_id,))
            timer.daemon = True
            timer.start()
            self._timers.append(timer)
        return {**self.summary(session_id), "debit_will_succeed": will_succeed,
                "settles_in_seconds": self.bank_debit_settle_seconds}

    def settle(self, session_id: str, succeeded: bool | None = None) -> Json:
        """The bank's answer to a debit in flight: the test account's outcome unless `succeeded` says otherwise."""
        with self._lock:
            if session_id not in self._bank_debits:
                raise PaymentRefused(400, "payment_intent_unexpected_state", "no bank debit in flight")
            outcome = self._bank_debits.pop(session_id)
        self.double.async_payment(session_id, succeeded=outcome if succeeded is None else succeeded)
        return self.summary(session_id)

    def expire(self, session_id: str) -> Json:
        self._require_open(session_id)
        self.double.expire(session_id)
        return self.summary(session_id)

    def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()

    def _settle_quietly(self, session_id: str) -> None:
        with contextlib.suppress(PaymentRefused):  # settled by hand already
            self.settle(session_id)

    def _require_open(self, session_id: str) -> Json:
        session = self.session(session_id)
        if session["status"] != "open":
            raise PaymentRefused(409, "checkout_session_not_open", f"This Checkout Session is {session['status']}.")
        return session

    def _complete_paid(self, session_id: str) -> Json:
        try:
            self.double.complete_session(session_id, "paid", payment_method_type="card")
        except ValueError as error:  # completed or expired by someone else meanwhile
            raise PaymentRefused(409, "checkout_session_not_open", str(error)) from None
        return self.summary(session_id)


def _display_amount(session: Json) -> str:
    """The amount as the payment page shows it: major units, with as many decimals as the currency has."""
    currency = session["currency"]
    decimals = 0 if currency in ZERO_DECIMAL_CURRENCIES else 3 if currency in THREE_DECIMAL_CURRENCIES else 2
    return f"{Decimal(session['amount_total']).scaleb(-decimals)} {currency.upper()}"


# --------------------------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------------------------


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
    ) -> None:
        self.clock = OffsetClock()
        self.double = StripeDouble(clock=self.clock)
        self.webhooks = WebhookSender(webhook_url, webhook_secret, delivery or DeliverySettings(), log)
        self.double.add_listener(self.webhooks.enqueue)
        self.checkout = Checkout(self.double, bank_debit_settle_seconds)
        self.sweep_interval_seconds = sweep_interval_seconds
        self.log = log
        self._server: _Server | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    def start(self, host: str = "127.0.0.1", port: int = 0) -> LocalStripe:
        server = _Server((host, port), _RequestHandler)
        server.local = self
        self._server = server
        # Hosted-mode sessions (not ours: we use embedded) would point at the local page.
        self.double.checkout_url = f"{self.url}/checkout/"
        self.webhooks.start()
        serve = functools.partial(server.serve_forever, poll_interval=0.05)  # stops promptly
        for target, name in ((serve, "stripe-http"), (self._sweep, "stripe-expiry")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self.webhooks.stop()
        self.checkout.stop()
        for thread in self._threads:
            thread.join(timeout=5)

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def _sweep(self) -> None:
        # Stripe expires sessions on its own schedule; the double only when asked.
        while not self._stopping.wait(self.sweep_interval_seconds):
            self.double.sweep_expired()

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

    def checkout_page(self, session_id: str) -> str:
        try:
            summary = self.checkout.summary(session_id)
        except PaymentRefused as refused:
            return _PAGE.format(title="Checkout", body=f"<p>{html.escape(refused.message)}</p>")
        title = f"Pay {html.escape(summary['amount'])}"
        if summary["status"] != "open":
            back = summary["redirect_url"]
            link = f' <a href="{html.escape(back)}">Return to the portal</a>' if back else ""
            return _PAGE.format(title=title, body=f"<p>This Checkout Session is {summary['status']}.{link}</p>")
        return _PAGE.format(title=title, body=_checkout_body(summary))


def _checkout_body(summary: Json) -> str:
    """The payment page: what Stripe's page asks for, with Stripe's test cards and bank accounts to pick from.
    Its behaviour is js/checkout.js (no inline handlers: an inline `onclick` resolves names against the button's
    own properties first)."""
    metadata = summary["metadata"]
    cards = "".join(
        f'<option value="{number[:4]} {number[4:8]} {number[8:12]} {number[12:]}">{html.escape(card.message)}</option>'
        for number, card in TEST_CARDS.items()
    )
    accounts = "".join(
        f'<option value="{number}">{html.escape(text)}</option>' for number, (_, text) in TEST_BANK_ACCOUNTS.items()
    )
    # Stripe offers a US bank debit only for USD; the double refuses it for other currencies.
    bank = "" if summary["currency"] != "usd" else f"""
<fieldset><legend>US bank account</legend>
  <label>Account number (routing 110000000)
    <input id="account" value="000123456789" list="test-accounts" autocomplete="off" required></label>
  <datalist id="test-accounts">{accounts}</datalist>
  <button id="debit" type="button">Debit {html.escape(summary["amount"])}</button>
</fieldset>"""
    state = f"{summary['status']} / {summary['payment_status']}"
    return f"""
<main id="checkout" data-session="{html.escape(summary["id"])}">
<p>Invoice <b>{html.escape(metadata.get("invoiceNumber", "?"))}</b>:
<b class="amount">{html.escape(summary["amount"])}</b></p>
<fieldset><legend>Card</legend>
  <label>Card number <input id="card" value="4242 4242 4242 4242" list="test-cards" inputmode="numeric"
    autocomplete="off" required></label>
  <datalist id="test-cards">{cards}</datalist>
  <button id="pay" type="button">Pay {html.escape(summary["amount"])}</button>
  <div id="authenticate" hidden><p>3D Secure: the bank asks the cardholder to authenticate.</p>
    <button id="approve" type="button">Complete authentication</button>
    <button id="deny" type="button">Fail authentication</button></div>
</fieldset>{bank}
<p id="result" role="alert"></p>
<p class="session">Session <code>{html.escape(summary["id"])}</code>: <span id="state">{html.escape(state)}</span></p>
</main>
<script src="/js/checkout.js"></script>"""


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title><link rel="icon" href="data:,">
<style>body{{font-family:system-ui,sans-serif;max-width:34rem;margin:1rem auto;padding:0 1rem;color:#1a1f36}}
h1{{font-size:1.3rem}} fieldset{{margin:1rem 0;border:1px solid #d5dbe1;border-radius:6px}}
label{{display:block;margin:.3rem 0}} input{{font:inherit;padding:.3rem;width:16rem}}
button{{font:inherit;padding:.35rem .8rem;margin:.3rem .3rem 0 0;border:0;border-radius:4px;background:#635bff;
color:#fff;cursor:pointer}} #deny{{background:#8792a2}} #result{{min-height:1.2em;color:#b3093c}}
#result.done{{color:#0a7e3e}} .session,.test-mode{{color:#697386;font-size:.85rem}}</style></head>
<body><h1>{title}</h1><p class="test-mode">Local Stripe double: test mode, no real money.</p>{body}</body></html>"""


# The browser-side files of the double: the payment page's script and the Stripe.js stand-in.
_SCRIPTS = {name: (Path(__file__).parent / "page" / name) for name in ("checkout.js", "stripe.js")}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    local: LocalStripe


class _RequestHandler(BaseHTTPRequestHandler):
    """HTTP/1.0, one request per connection, like the double's own server (SDK pools stay harmless)."""

    server: _Server
    server_version = "LocalStripe"

    def _dispatch(self) -> None:
        local = self.server.local
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        path = urlsplit(self.path).path
        if path.startswith("/v1/"):
            response = local.double.handle(self.command, self.path, dict(self.headers.items()), body)
            if response.drop:
                self.close_connection = True
                return
            response.wait()
            self._send(response.status, response.headers, response.body)
            return
        if path.startswith("/checkout/") and self.command == "GET":
            page = local.checkout_page(path.removeprefix("/checkout/")).encode()
            self._send(200, {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}, page)
            return
        if path.startswith("/js/") and self.command == "GET" and path.removeprefix("/js/") in _SCRIPTS:
            script = _SCRIPTS[path.removeprefix("/js/")].read_bytes()
            self._send(200, {"Content-Type": "text/javascript; charset=utf-8", "Cache-Control": "no-store"}, script)
            return
        try:
            payload = json.loads(body) if body else {}
            if not isinstance(payload, dict):
                raise ValueError
        except ValueError:
            status, answer = 400, {"error": {"type": "invalid_request_error", "message": "body must be a JSON object"}}
        else:
            status, answer = local.local_endpoint(self.command, path, payload)
        self._send(status, {"Content-Type": "application/json"}, json.dumps(answer, indent=2).encode())

    def _send(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        try:
            self.send_response(status)
            for name, value in headers.items():
                if name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_POST = do_DELETE = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        # Method and path only: the query string and headers may carry keys (Authorization) or client secrets.
        path = urlsplit(self.path).path
        status = args[1] if len(args) > 1 else ""
        print(f"stripe {self.command} {path} {status}", file=self.server.local.log, flush=True)


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
