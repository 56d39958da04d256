"""POST /api/webhook/stripe: signed events, at least once, in any order."""

from __future__ import annotations

import json
import time

import pytest

from stripe_double.events import event_payload, sign_payload

# The embedded default of `make dev` must not drift from PostgreSQL: every test here runs on both.
pytestmark = pytest.mark.engines("postgresql", "sqlite")


@pytest.fixture
def checkout(world, api):
    """Alice's 500.00 USD invoice with an open Checkout Session."""

    def make(amount: str = "500.00", currency: str = "USD"):
        acme = world.company()
        alice = world.contact(acme)
        invoice_id = world.invoice(acme, amount, currency)
        status, created = api.checkout(alice, invoice_id)
        assert status == 200
        return alice, invoice_id, created["sessionId"]

    return make


def invoice_row(db, invoice_id):
    return db('SELECT * FROM "Invoice" WHERE id = :id', id=invoice_id)[0]


@pytest.mark.parametrize("base64_encoded", [False, True])
def test_a_completed_paid_session_marks_the_invoice_paid(checkout, api, stripe_double, db, base64_encoded) -> None:
    alice, invoice_id, session_id = checkout()
    (completed,) = stripe_double.complete_session(session_id)

    status, body = api.deliver(completed, base64_encoded=base64_encoded)

    assert status == 200
    assert body == {"received": True, "outcome": "paid"}
    invoice = invoice_row(db, invoice_id)
    assert invoice["status"] == "paid"
    assert invoice["paidByContactId"] == alice.id
    assert invoice["stripePaymentIntentId"] == completed["data"]["object"]["payment_intent"]
    assert invoice["paidAt"] is not None
    (recorded,) = db('SELECT * FROM "StripeEvent"')
    assert recorded["id"] == completed["id"]
    assert recorded["outcome"] == "paid"
    assert recorded["invoiceId"] == invoice_id


@pytest.mark.parametrize(("amount", "currency"), [("1500", "JPY"), ("12.340", "KWD")])
def test_zero_and_three_decimal_currencies_are_fulfilled(checkout, api, stripe_double, db, amount, currency) -> None:
    _, invoice_id, session_id = checkout(amount, currency)
    (completed,) = stripe_double.complete_session(session_id)

    assert api.deliver(completed) == (200, {"received": True, "outcome": "paid"})
    assert invoice_row(db, invoice_id)["status"] == "paid"


def test_duplicate_deliveries_fulfil_once(checkout, api, stripe_double, db) -> None:
    _, invoice_id, session_id = checkout()
    (completed,) = stripe_double.complete_session(session_id)

    first = api.deliver(completed)
    paid_at = invoice_row(db, invoice_id)["paidAt"]
    second = api.deliver(completed)

    assert first == (200, {"received": True, "outcome": "paid"})
    assert second == (200, {"received": True, "duplicate": True})
    assert invoice_row(db, invoice_id)["paidAt"] == paid_at


def test_bank_debit_goes_processing_then_paid(checkout, api, stripe_double, db) -> None:
    alice, invoice_id, session_id = checkout()
    (completed,) = stripe_double.complete_session(session_id, payment_status="unpaid")
    assert api.deliver(completed)[1]["outcome"] == "processing"
    assert invoice_row(db, invoice_id)["status"] == "processing"

    (succeeded,) = stripe_double.async_payment(session_id, succeeded=True)
    assert api.deliver(succeeded)[1]["outcome"] == "paid"
    invoice = invoice_row(db, invoice_id)
    assert (invoice["status"], invoice["paidByContactId"]) == ("paid", alice.id)


def test_a_failed_bank_debit_makes_the_invoice_payable_again(checkout, api, stripe_double, db) -> None:
    alice, invoice_id, session_id = checkout()
    (completed,) = stripe_double.complete_session(session_id, payment_status="unpaid")
    api.deliver(completed)

    (failed,) = stripe_double.async_payment(session_id, succeeded=False)
    assert api.deliver(failed)[1]["outcome"] == "failed"
    assert invoice_row(db, invoice_id)["status"] == "failed"

    status, retry = api.checkout(alice, invoice_id)
    assert status == 200
    assert retry["sessionId"] != session_id
    assert invoice_row(db, invoice_id)["status"] == "pending"  # a new attempt has begun

    # and the new attempt, paid by card with its webhook late, is found by verify
    stripe_double.complete_session(retry["sessionId"])
    assert api.verify(alice, invoice_id, retry["sessionId"])[1]["status"] == "paid"


def test_reordered_async_success_before_completed_ends_paid(checkout, api, stripe_double, db) -> None:
    _, invoice_id, session_id = checkout()
    (completed,) = stripe_double.complete_session(session_id, payment_status="unpaid")
    (succeeded,) = stripe_double.async_payment(session_id, succeeded=True)

    api.deliver(succeeded)
    late = api.deliver(completed)

    assert late == (200, {"received": True, "outcome": "unchanged"})
    assert invoice_row(db, invoice_id)["status"] == "paid"


def test_reordered_async_failure_before_completed_ends_failed(checkout, api, stripe_double, db) -> None:
    _, invoice_id, session_id = checkout()
    (completed,) = stripe_double.complete_session(session_id, payment_status="unpaid")
    (failed,) = stripe_double.async_payment(session_id, succeeded=False)

    api.deliver(failed)
    api.deliver(completed)

    assert invoice_row(db, invoice_id)["status"] == "failed"


def test_paid_is_final(checkout, api, stripe_double, db) -> None:
    _, invoice_id, session_id = checkout()
    (completed,) = stripe_double.complete_session(session_id)
    api.deliver(completed)
    before = invoice_row(db, invoice_id)

    failed = {**completed, "id": "evt_forged_order", "type": "checkout.session.async_payment_failed"}
    expired = {**completed, "id": "evt_forged_order_2", "type": "checkout.session.expired"}
    assert api.deliver(failed)[0] == 200
    assert api.deliver(expired)[0] == 200

    after = invoice_row(db, invoice_id)
    assert {k: after[k] for k in ("status", "paidAt", "paidByContactId", "stripePaymentIntentId")} == {
        k: before[k] for k in ("status", "paidAt", "paidByContactId", "stripePaymentIntentId")}


def test_an_expired_session_is_released(checkout, api, stripe_double, db) -> None:
    _, invoice_id, session_id = checkout()
    (expired,) = stripe_double.expire(session_id)

    assert api.deliver(expired) == (200, {"received": True, "outcome": "session_released"})
    assert invoice_row(db, invoice_id)["stripeCheckoutSessionId"] is None


def test_events_about_unknown_invoices_are_acknowledged(checkout, api, stripe_double, db) -> None:
    _, invoice_id, session_id = checkout()
    (completed,) = stripe_double.complete_session(session_id)
    completed["data"]["object"]["metadata"]["invoiceId"] = "inv_gone"

    assert api.deliver(completed) == (200, {"received": True, "outcome": "unknown_invoice"})
    assert invoice_row(db, invoice_id)["status"] == "pending"


def test_other_event_types_are_acknowledged_and_ignored(api) -> None:
    event = {"id": "evt_other", "object": "event", "type": "customer.created", "data": {"object": {"id": "cus_1"}}}
    assert api.deliver(event) == (200, {"received": True, "outcome": "ignored"})


def _assert_refused(api, db, payload: bytes, signature: str | None) -> None:
    status, body = api.deliver_raw(payload, signature)
    assert status == 400
    assert "error" in body
    assert db('SELECT * FROM "StripeEvent"') == []


def test_a_missing_signature_is_400(checkout, api, stripe_double, db) -> None:
    _, invoice_id, session_id = checkout()
    (completed,) = stripe_double.complete_session(session_id)
    _assert_refused(api, db, event_payload(completed), None)
    assert invoice_row(db, invoice_id)["status"] == "pending"


def test_a_tampered_body_is_400(checkout, api, stripe_double, db) -> None:
    _, invoice_id, session_id = checkout()
    (completed,) = stripe_double.complete_session(session_id)
    payload = event_payload(completed)
    signature = sign_payload(payload, api.webhook_secret)
    _assert_refused(api, db, payload.replace(b'"paid"', b'"paid" '), signature)
    assert invoice_row(db, invoice_id)["status"] == "pending"


def test_a_stale_signature_is_400(checkout, api, stripe_double, db) -> None:
    _, _, session_id = checkout()
    (completed,) = stripe_double.complete_session(session_id)
    payload = event_payload(completed)
    _assert_refused(api, db, payload, sign_payload(payload, api.webhook_secret, int(time.time()) - 301))


def test_a_signature_with_another_secret_is_400(checkout, api, stripe_double, db) -> None:
    _, _, session_id = checkout()
    (completed,) = stripe_double.complete_session(session_id)
    payload = event_payload(completed)
    _assert_refused(api, db, payload, sign_payload(payload, "whsec_test_someone_else"))


@pytest.mark.parametrize("payload", [b"not json", b"[]", b'{"id": 1}', b"\xff\xfe invalid utf-8"])
def test_signed_garbage_is_400(api, db, payload) -> None:
    signature = sign_payload(payload, api.webhook_secret)
    # API Gateway base64-encodes bodies that are not UTF-8 text
    status, _ = api.deliver_raw(payload, signature, base64_encoded=True)
    assert status == 400
    assert db('SELECT * FROM "StripeEvent"') == []


def test_invalid_base64_is_400(api, functions) -> None:
    from harness.events import decode, webhook_request

    event = webhook_request(b"{}", "t=1,v1=00")
    event["isBase64Encoded"] = True
    event["body"] = "!!!not base64!!!"
    assert decode(functions.stripe_webhook(event, None))[0] == 400


def test_a_body_over_the_limit_is_413(api) -> None:
    from billing.http import MAX_BODY_BYTES

    payload = b'{"pad": "' + b"x" * MAX_BODY_BYTES + b'"}'
    assert api.deliver_raw(payload, sign_payload(payload, api.webhook_secret))[0] == 413


@pytest.mark.parametrize("depth", [65, 5_000, 100_000])
@pytest.mark.parametrize("shape", ["list", "object", "object with escapes"])
def test_a_signed_event_nested_too_deeply_is_400_without_a_traceback(api, db, capsys, caplog, depth, shape) -> None:
    """Found: a signed event nested 5,000 or 100,000 deep was a 500 with a 130 kB traceback in the log."""
    if shape == "list":
        deep = "[" * depth + "]" * depth
    else:
        deep = '{"a":' * depth + ('"\\u00e9"' if shape == "object with escapes" else "1") + "}" * depth
    payload = ('{"id": "evt_deep", "object": "event", "type": "checkout.session.completed", "livemode": false, '
               '"data": {"object": {"id": "cs_test_deep", "metadata": ' + deep + "}}}").encode()
    if len(payload) > 256 * 1024:
        payload = payload.replace(b'{"a":', b"[").replace(b"}", b"]")  # the same depth within the body limit

    status, body = api.deliver_raw(payload, sign_payload(payload, api.webhook_secret))

    assert (status, body) == (400, {"error": "webhook body is nested too deeply"})
    assert db('SELECT * FROM "StripeEvent"') == []
    assert "Traceback" not in capsys.readouterr().out + caplog.text
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


def test_a_real_events_depth_is_far_below_the_limit(checkout, api, stripe_double) -> None:
    from billing.webhook import MAX_EVENT_DEPTH

    _, _, session_id = checkout()
    (completed,) = stripe_double.complete_session(session_id)
    nested = '{"a":' * (MAX_EVENT_DEPTH - 4) + "1" + "}" * (MAX_EVENT_DEPTH - 4)
    completed["data"]["object"]["padding"] = json.loads(nested)  # an event exactly at the limit is still one

    assert api.deliver(completed) == (200, {"received": True, "outcome": "paid"})
