"""The Stripe double server of `make dev`: paying with test cards and bank accounts, webhook delivery the way
Stripe does it (signed, retried with backoff, switchable to duplicates or out of order), session expiry."""

from __future__ import annotations

import io
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import stripe

from stripe_double.delivery import DeliverySettings
from stripe_double.server import LocalStripe
from tests.support.http import request_json

SECRET = "whsec_test_local_server_suite"
BASE = 0.05  # retry backoff base in these tests (seconds)


@dataclass
class Received:
    at: float
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class Endpoint:
    """A webhook endpoint that records every delivery and answers the statuses it is told to, then 200."""

    statuses: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_port}/api/webhook/stripe"

    def events(self) -> list[dict[str, Any]]:
        return [r.event for r in self.received]


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    recorder = Endpoint()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            recorder.received.append(Received(time.monotonic(), {k.lower(): v for k, v in self.headers.items()},
                                              body))
            status = recorder.statuses.pop(0) if recorder.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    recorder.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=recorder.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield recorder
    recorder.server.shutdown()
    recorder.server.server_close()


@pytest.fixture
def local_stripe(endpoint: Endpoint) -> Iterator[LocalStripe]:
    server = LocalStripe(webhook_url=endpoint.url, webhook_secret=SECRET,
                         delivery=DeliverySettings(retry_base_seconds=BASE, max_attempts=4, reorder_window_seconds=1.0),
                         bank_debit_settle_seconds=None, sweep_interval_seconds=0.05, log=io.StringIO(),
                         # an endpoint subscribed to the Checkout events (charge.succeeded is not delivered to it)
                         enabled_events=CHECKOUT_EVENTS)
    server.start()
    yield server
    server.stop()


CHECKOUT_EVENTS = ("checkout.session.completed", "checkout.session.async_payment_succeeded",
                   "checkout.session.async_payment_failed", "checkout.session.expired", "charge.refunded",
                   "charge.dispute.created", "charge.dispute.closed")


def call(server: LocalStripe, method: str, path: str, body: dict | None = None) -> tuple[int, Any]:
    return request_json(method, server.url + path, body)


def open_session(server: LocalStripe, currency: str = "usd", amount: int = 50000) -> str:
    """A session made through the real SDK over HTTP, as the checkout function makes it."""
    client = stripe.StripeClient("sk_test_local_server_suite", base_addresses={"api": server.url})
    session = client.v1.checkout.sessions.create(params={
        "ui_mode": "embedded_page", "mode": "payment",
        "line_items": [{"quantity": 1, "price_data": {"currency": currency, "unit_amount": amount,
                                                      "product_data": {"name": "Invoice INV-1"}}}],
        "return_url": "http://localhost:3000/dashboard?session_id={CHECKOUT_SESSION_ID}",
        "metadata": {"invoiceId": "inv_1", "invoiceNumber": "INV-1", "contactId": "ct_1"},
    })
    return session.id


def wait_until(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def pay(server: LocalStripe, session_id: str, **body: str) -> tuple[int, Any]:
    return call(server, "POST", f"/local/checkout/sessions/{session_id}/pay", body)


# ----- paying ----------------------------------------------------------------------------------------------------


def test_an_endpoint_subscribed_to_every_event_also_gets_charge_succeeded(endpoint) -> None:
    server = LocalStripe(webhook_url=endpoint.url, webhook_secret=SECRET, log=io.StringIO()).start()
    try:
        pay(server, open_session(server), card="5555 5555 5555 4444")
        wait_until(lambda: len(endpoint.received) == 2)
        charge = next(e for e in endpoint.events() if e["type"] == "charge.succeeded")["data"]["object"]
        assert charge["payment_method_details"]["type"] == "card"
        card = charge["payment_method_details"]["card"]
        assert (card["brand"], card["last4"]) == ("mastercard", "4444")
        assert charge["receipt_url"].startswith("https://pay.stripe.com/receipts/")
    finally:
        server.stop()


def test_4242_completes_the_session_paid_and_the_signed_event_is_delivered(local_stripe, endpoint) -> None:
    session_id = open_session(local_stripe)

    status, answer = pay(local_stripe, session_id, card="4242 4242 4242 4242")

    assert status == 200
    assert (answer["status"], answer["payment_status"]) == ("complete", "paid")
    assert answer["redirect_url"] == f"http://localhost:3000/dashboard?session_id={session_id}"
    wait_until(lambda: endpoint.received)
    (delivery,) = endpoint.received
    assert delivery.event["type"] == "checkout.session.completed"
    assert delivery.event["data"]["object"]["id"] == session_id
    # The signature verifies with the endpoint's secret, exactly as the webhook function checks it
    stripe.WebhookSignature.verify_header(delivery.body.decode(), delivery.headers["stripe-signature"], SECRET, 300)


@pytest.mark.parametrize(("card", "decline_code"), [("4000 0000 0000 0002", "generic_decline"),
                                                    ("4000000000009995", "insufficient_funds"),
                                                    ("4111 1111 1111 1112", "test_mode_live_card")])
def test_a_declined_card_leaves_the_session_open_and_sends_nothing(local_stripe, endpoint, card, decline_code) -> None:
    session_id = open_session(local_stripe)

    status, answer = pay(local_stripe, session_id, card=card)

    assert status == 402
    assert answer["error"]["code"] == "card_declined"
    assert answer["error"]["decline_code"] == decline_code
    assert call(local_stripe, "GET", f"/local/checkout/sessions/{session_id}")[1]["status"] == "open"
    assert local_stripe.double.events == []


def test_the_3d_secure_card_succeeds_after_authentication(local_stripe, endpoint) -> None:
    session_id = open_session(local_stripe)

    status, answer = pay(local_stripe, session_id, card="4000 0025 0000 3155")
    assert (status, answer["status"]) == (200, "requires_action")
    assert local_stripe.double.sessions[session_id]["status"] == "open"

    status, answer = call(local_stripe, "POST", f"/local/checkout/sessions/{session_id}/authenticate",
                          {"approve": True})
    assert (status, answer["payment_status"]) == (200, "paid")
    wait_until(lambda: [e["type"] for e in endpoint.events()] == ["checkout.session.completed"])


def test_a_failed_authentication_leaves_the_session_open(local_stripe) -> None:
    session_id = open_session(local_stripe)
    pay(local_stripe, session_id, card="4000 0025 0000 3155")

    status, answer = call(local_stripe, "POST", f"/local/checkout/sessions/{session_id}/authenticate",
                          {"approve": False})

    assert (status, answer["error"]["code"]) == (402, "payment_intent_authentication_failure")
    assert local_stripe.double.sessions[session_id]["status"] == "open"


@pytest.mark.parametrize(("account", "succeeds", "final_event"), [
    ("000123456789", True, "checkout.session.async_payment_succeeded"),
    ("000222222227", False, "checkout.session.async_payment_failed"),
])
def test_a_bank_debit_completes_unpaid_then_settles(local_stripe, endpoint, account, succeeds, final_event) -> None:
    session_id = open_session(local_stripe)

    status, answer = pay(local_stripe, session_id, bank_account=account)
    assert (status, answer["payment_status"], answer["debit_will_succeed"]) == (200, "unpaid", succeeds)

    # When the bank answers (here by hand; `make dev` settles after a delay)
    status, _ = call(local_stripe, "POST", f"/local/checkout/sessions/{session_id}/settle", {})
    assert status == 200

    wait_until(lambda: len(endpoint.received) == 2)
    completed, settled = endpoint.events()
    assert (completed["type"], completed["data"]["object"]["payment_status"]) == ("checkout.session.completed",
                                                                                  "unpaid")
    assert settled["type"] == final_event


def test_a_bank_debit_settles_by_itself_after_the_configured_delay(endpoint) -> None:
    server = LocalStripe(webhook_url=endpoint.url, webhook_secret=SECRET, bank_debit_settle_seconds=0.1,
                         log=io.StringIO()).start()
    try:
        session_id = open_session(server)
        pay(server, session_id, bank_account="000123456789")
        wait_until(lambda: [e["type"] for e in endpoint.events()][-1:] == [
            "checkout.session.async_payment_succeeded"])
    finally:
        server.stop()


def test_bank_debits_are_usd_only(local_stripe) -> None:
    session_id = open_session(local_stripe, "jpy", 150000)
    assert pay(local_stripe, session_id, bank_account="000123456789")[0] == 400
    assert local_stripe.double.sessions[session_id]["status"] == "open"


def test_a_session_cannot_be_paid_twice(local_stripe) -> None:
    session_id = open_session(local_stripe)
    pay(local_stripe, session_id, card="4242424242424242")
    assert pay(local_stripe, session_id, card="4242424242424242")[0] == 409


def test_the_payment_page_shows_the_invoice_and_escapes_it(local_stripe) -> None:
    session_id = open_session(local_stripe)
    local_stripe.double.sessions[session_id]["metadata"]["invoiceNumber"] = "<script>alert(1)</script>"

    with urllib.request.urlopen(f"{local_stripe.url}/checkout/{session_id}", timeout=10) as response:
        page = response.read().decode()

    assert "500.00 USD" in page and "4242 4242 4242 4242" in page and "000222222227" in page
    assert "<script>alert(1)</script>" not in page


def test_a_completed_session_page_offers_the_way_back_instead_of_a_form(local_stripe) -> None:
    session_id = open_session(local_stripe)
    pay(local_stripe, session_id, card="4242424242424242")

    with urllib.request.urlopen(f"{local_stripe.url}/checkout/{session_id}", timeout=10) as response:
        page = response.read().decode()

    assert "This Checkout Session is complete." in page and 'id="pay"' not in page
    assert f'href="http://localhost:3000/dashboard?session_id={session_id}"' in page


def test_the_page_script_and_the_stripe_js_stand_in_are_served(local_stripe) -> None:
    for name, marker in (("stripe.js", "initEmbeddedCheckout"), ("checkout.js", "stripe-double:complete")):
        with urllib.request.urlopen(f"{local_stripe.url}/js/{name}", timeout=10) as response:
            assert response.headers["Content-Type"].startswith("text/javascript")
            assert marker in response.read().decode()
    assert call(local_stripe, "GET", "/js/other.js")[0] == 404


# ----- webhook delivery ------------------------------------------------------------------------------------------


def test_non_2xx_answers_are_retried_with_growing_backoff_then_delivered(local_stripe, endpoint) -> None:
    endpoint.statuses = [500, 503]
    session_id = open_session(local_stripe)

    pay(local_stripe, session_id, card="4242424242424242")

    wait_until(lambda: len(endpoint.received) == 3)
    first, second, third = endpoint.received
    assert first.body == second.body == third.body
    # Each attempt is signed anew (Stripe does: a late retry still passes the 300 s tolerance)
    for attempt in endpoint.received:
        stripe.WebhookSignature.verify_header(attempt.body.decode(), attempt.headers["stripe-signature"], SECRET, 300)
    assert second.at - first.at >= BASE * 0.9
    assert third.at - second.at >= 2 * BASE * 0.9
    wait_until(lambda: local_stripe.webhooks.idle())
    (delivery,) = call(local_stripe, "GET", "/local/webhooks/deliveries")[1]["deliveries"]
    assert (delivery["state"], delivery["attempts"], delivery["responses"]) == ("delivered", 3, ["500", "503", "200"])


def test_delivery_gives_up_after_the_last_attempt(local_stripe, endpoint) -> None:
    endpoint.statuses = [500] * 10
    pay(local_stripe, open_session(local_stripe), card="4242424242424242")

    wait_until(lambda: local_stripe.webhooks.idle())

    (delivery,) = local_stripe.webhooks.deliveries()
    assert (delivery["state"], delivery["attempts"]) == ("failed", 4)
    assert len(endpoint.received) == 4


def test_an_unreachable_endpoint_is_retried_too(endpoint) -> None:
    endpoint.server.shutdown()
    endpoint.server.server_close()  # nothing listens on that port any more
    server = LocalStripe(webhook_url=endpoint.url, webhook_secret=SECRET,
                         delivery=DeliverySettings(retry_base_seconds=0.01, max_attempts=3),
                         log=io.StringIO(), enabled_events=CHECKOUT_EVENTS).start()
    try:
        pay(server, open_session(server), card="4242424242424242")
        wait_until(lambda: server.webhooks.idle())
        (delivery,) = server.webhooks.deliveries()
        assert delivery["state"] == "failed" and delivery["attempts"] == 3
        assert all(r.startswith("error:") for r in delivery["responses"])
    finally:
        server.stop()


def test_the_duplicates_switch_delivers_each_event_again_with_the_same_id(local_stripe, endpoint) -> None:
    assert call(local_stripe, "POST", "/local/webhooks", {"duplicates": 2})[0] == 200

    pay(local_stripe, open_session(local_stripe), card="4242424242424242")

    wait_until(lambda: len(endpoint.received) == 3)
    assert len({e["id"] for e in endpoint.events()}) == 1


def test_the_out_of_order_switch_delivers_newer_events_first(local_stripe, endpoint) -> None:
    call(local_stripe, "POST", "/local/webhooks", {"out_of_order": True})
    session_id = open_session(local_stripe)

    pay(local_stripe, session_id, bank_account="000123456789")
    call(local_stripe, "POST", f"/local/checkout/sessions/{session_id}/settle", {})

    wait_until(lambda: len(endpoint.received) == 2)
    assert [e["type"] for e in endpoint.events()] == ["checkout.session.async_payment_succeeded",
                                                     "checkout.session.completed"]


def test_delivery_switched_off_sends_nothing_until_an_event_is_resent(local_stripe, endpoint) -> None:
    call(local_stripe, "POST", "/local/webhooks", {"enabled": False})
    pay(local_stripe, open_session(local_stripe), card="4242424242424242")
    (skipped,) = local_stripe.webhooks.deliveries()
    assert skipped["state"] == "skipped"

    status, _ = call(local_stripe, "POST", f"/local/webhooks/deliveries/{skipped['event_id']}/resend")

    assert status == 200
    wait_until(lambda: len(endpoint.received) == 1)
    assert endpoint.events()[0]["id"] == skipped["event_id"]


def test_unknown_or_invalid_settings_are_refused(local_stripe) -> None:
    assert call(local_stripe, "POST", "/local/webhooks", {"duplicate": 1})[0] == 400
    assert call(local_stripe, "POST", "/local/webhooks", {"enabled": "yes"})[0] == 400
    assert call(local_stripe, "POST", "/local/webhooks", {"max_attempts": -1})[0] == 400
    assert call(local_stripe, "GET", "/local/webhooks")[1]["max_attempts"] == 4


# ----- time ------------------------------------------------------------------------------------------------------


def test_open_sessions_expire_when_their_time_comes(local_stripe, endpoint) -> None:
    session_id = open_session(local_stripe)

    status, _ = call(local_stripe, "POST", "/local/clock", {"advance_seconds": 25 * 3600})

    assert status == 200
    wait_until(lambda: [e["type"] for e in endpoint.events()] == ["checkout.session.expired"])
    assert local_stripe.double.sessions[session_id]["status"] == "expired"
    assert pay(local_stripe, session_id, card="4242424242424242")[0] == 409


def test_a_session_can_be_expired_by_hand(local_stripe, endpoint) -> None:
    session_id = open_session(local_stripe)

    assert call(local_stripe, "POST", f"/local/checkout/sessions/{session_id}/expire")[1]["status"] == "expired"
    wait_until(lambda: [e["type"] for e in endpoint.events()] == ["checkout.session.expired"])


def test_logs_name_requests_and_deliveries_but_never_a_secret(endpoint) -> None:
    log = io.StringIO()
    server = LocalStripe(webhook_url=endpoint.url, webhook_secret=SECRET, log=log).start()
    try:
        session_id = open_session(server)
        pay(server, session_id, card="4242424242424242")
        wait_until(lambda: server.webhooks.idle() and endpoint.received)
    finally:
        server.stop()
    client_secret = server.double.sessions[session_id]["client_secret"]
    text = log.getvalue()
    assert "POST /v1/checkout/sessions 200" in text
    assert "checkout.session.completed" in text and "-> 200" in text
    signature = endpoint.received[0].headers["stripe-signature"]
    for secret in (SECRET, client_secret, "sk_test_local_server_suite", signature):
        assert secret not in text
