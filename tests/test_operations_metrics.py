"""What an operator sees: each metric an alarm or the dashboard watches (CloudWatch EMF, captured from stdout as
Lambda ships it) counted once, where its event happens, and only for what was committed; every log line of a
payment carrying its invoiceId, sessionId or eventId."""

from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import text

from billing import observability
from billing import settings as layer_settings
from tests.support.faults import failing_updates
from tests.support.observed import emitted_metrics
from tests.support.scenarios import paid_after_an_edit

SERVICE = {"unit": "Count", "service": "billing"}


def metric(name: str, **dimensions: str) -> dict:
    return {"name": name, **SERVICE, **dimensions}


def named(stdout: str, name: str) -> list[dict]:
    return [m for m in emitted_metrics(stdout) if m["name"] == name]


@pytest.fixture
def log_output(monkeypatch):
    """What the functions' Powertools logger writes (JSON lines, appended keys included), read as Lambda's log
    stream would have it: its handler's stream, which it took at import, swapped for a buffer."""
    buffer = io.StringIO()
    monkeypatch.setattr(observability.logger.registered_handler, "stream", buffer)

    def lines() -> list[dict]:
        return [json.loads(line) for line in buffer.getvalue().splitlines() if line.startswith("{")]

    return lines


def test_a_paid_webhook_counts_one_payment_and_its_outcome_and_a_retry_only_its_outcome(
    open_checkout, api, stripe_double, capsys
) -> None:
    _, _, session_id = open_checkout
    (completed,) = stripe_double.complete_session(session_id)
    capsys.readouterr()

    assert api.deliver(completed)[0] == 200
    assert api.deliver(completed)[0] == 200  # Stripe's retry of the same event

    out = capsys.readouterr().out
    assert named(out, "PaymentPaid") == [metric("PaymentPaid")]
    assert named(out, "WebhookEvent") == [metric("WebhookEvent", outcome="paid"),
                                          metric("WebhookEvent", outcome="duplicate")]


def test_a_payment_paid_through_verify_is_counted_once_and_a_second_verify_adds_nothing(
    open_checkout, api, stripe_double, capsys
) -> None:
    alice, invoice_id, session_id = open_checkout
    stripe_double.complete_session(session_id)  # the webhook is late
    capsys.readouterr()

    assert api.verify(alice, invoice_id, session_id)[0] == 200
    assert api.verify(alice, invoice_id, session_id)[0] == 200

    assert named(capsys.readouterr().out, "PaymentPaid") == [metric("PaymentPaid")]


def test_a_bank_debit_counts_processing_then_failed(open_checkout, api, stripe_double, capsys) -> None:
    _, _, session_id = open_checkout
    (completed,) = stripe_double.complete_session(session_id, payment_status="unpaid")
    capsys.readouterr()

    assert api.deliver(completed)[1]["outcome"] == "processing"
    (failed,) = stripe_double.async_payment(session_id, succeeded=False)
    assert api.deliver(failed)[1]["outcome"] == "failed"

    out = capsys.readouterr().out
    assert named(out, "PaymentProcessing") == [metric("PaymentProcessing")]
    assert named(out, "PaymentFailed") == [metric("PaymentFailed")]


def test_a_payment_rolled_back_is_not_counted(open_checkout, api, stripe_double, db_engine, capsys) -> None:
    _, _, session_id = open_checkout
    (completed,) = stripe_double.complete_session(session_id)
    capsys.readouterr()

    # The invoice's UPDATE succeeds, the inbox's outcome fails: the transaction, payment included, rolls back
    with failing_updates(db_engine, "StripeEvent") as fault:
        fault.on()
        assert api.deliver(completed)[0] == 503

    out = capsys.readouterr().out
    assert named(out, "PaymentPaid") == []
    assert named(out, "WebhookEvent") == [metric("WebhookEvent", outcome="error")]


def test_a_bad_signature_is_counted_and_so_is_its_4xx_by_function(api, capsys, monkeypatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "billing-StripeWebhookFunction-x1")  # Lambda sets it
    assert api.deliver_raw(b'{"id": "evt_1"}', "t=1,v1=bad")[0] == 400

    out = capsys.readouterr().out
    assert named(out, "WebhookSignatureFailure") == [metric("WebhookSignatureFailure")]
    # what the webhook's error-rate alarms divide by its invocations, whichever ingress Stripe calls
    assert named(out, "ErrorResponse") == [metric("ErrorResponse", function="billing-StripeWebhookFunction-x1",
                                                  status_class="4xx")]


def test_stripe_retries_and_a_call_failed_for_good_are_counted(open_checkout, api, stripe_double, capsys) -> None:
    alice, invoice_id, session_id = open_checkout
    stripe_double.fail_next(1, 500, "/v1/checkout/sessions")
    assert api.verify(alice, invoice_id, session_id)[0] == 200  # the retry succeeded
    stripe_double.fail_next(3, 500, "/v1/checkout/sessions")
    assert api.verify(alice, invoice_id, session_id)[0] == 502  # three attempts failed

    out = capsys.readouterr().out
    assert len(named(out, "StripeRetry")) == 3 and named(out, "StripeError") == [metric("StripeError")]


def test_a_connection_the_server_ended_is_replaced_and_counted(world, api, db_engine, capsys) -> None:
    alice = world.contact(world.company())
    assert api.list_invoices(alice)[0] == 200  # the container holds its connection
    with db_engine.connect() as admin:
        admin.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
        admin.commit()
    capsys.readouterr()

    assert api.list_invoices(alice)[0] == 200

    (reconnect,) = named(capsys.readouterr().out, "DatabaseReconnect")
    assert reconnect["name"] == "DatabaseReconnect" and reconnect["reason"]


def test_each_repair_reconciliation_makes_is_counted(world, api, stripe_double, functions, db, capsys) -> None:
    acme = world.company()
    alice = world.contact(acme)
    invoice_id = world.invoice(acme, "500.00")
    _, created = api.checkout(alice, invoice_id)
    db('UPDATE "Invoice" SET "updatedAt" = now() - interval \'1 hour\' WHERE id = :id', id=invoice_id)
    stripe_double.complete_session(created["sessionId"])  # its webhook is lost
    capsys.readouterr()

    assert functions.reconcile({}, None)["outcomes"] == {"paid": 1}
    assert functions.reconcile({}, None)["outcomes"] == {}  # nothing left to repair

    out = capsys.readouterr().out
    assert named(out, "ReconciliationRepair") == [metric("ReconciliationRepair")]
    assert named(out, "PaymentPaid") == [metric("PaymentPaid")]


@pytest.fixture
def hold_policy(monkeypatch):
    monkeypatch.setenv("MISMATCHED_PAYMENT_POLICY", "hold")
    layer_settings.configure()
    yield
    monkeypatch.delenv("MISMATCHED_PAYMENT_POLICY", raising=False)
    layer_settings.configure()


def test_a_mismatched_payment_held_is_counted_as_held(world, api, stripe_double, hold_policy, capsys) -> None:
    _, _, _, completed = paid_after_an_edit(world, api, stripe_double)
    capsys.readouterr()

    assert api.deliver(completed)[1]["outcome"] == "payment_not_applied"

    out = capsys.readouterr().out
    assert named(out, "MismatchedPaymentHeld") == [metric("MismatchedPaymentHeld")]
    assert named(out, "MismatchedPaymentRefunded") == []


def test_a_mismatched_payment_refunded_is_counted_as_refunded(world, api, stripe_double, capsys) -> None:
    alice, invoice_id, session_id, _ = paid_after_an_edit(world, api, stripe_double)
    capsys.readouterr()

    assert api.verify(alice, invoice_id, session_id)[0] == 200  # verify sets it aside and refunds it at once

    out = capsys.readouterr().out
    assert named(out, "MismatchedPaymentRefunded") == [metric("MismatchedPaymentRefunded")]
    assert named(out, "MismatchedPaymentHeld") == []


# ----- log lines of a payment -----------------------------------------------------------------------------------


def test_every_log_line_of_a_webhook_delivery_carries_the_event_invoice_and_session(
    open_checkout, api, stripe_double, log_output
) -> None:
    _, invoice_id, session_id = open_checkout
    (completed,) = stripe_double.complete_session(session_id)

    assert api.deliver(completed)[0] == 200

    lines = [line for line in log_output() if "event" in line["message"] or "checkout session" in line["message"]]
    assert [line["message"] for line in lines] == ["checkout session applied", "stripe event processed"]
    for line in lines:
        assert (line["eventId"], line["invoiceId"], line["sessionId"]) == (completed["id"], invoice_id, session_id)


def test_a_client_routes_lines_carry_its_ids_and_the_next_invocation_does_not_inherit_them(
    open_checkout, api, stripe_double, world, log_output
) -> None:
    alice, invoice_id, session_id = open_checkout
    stripe_double.fail_next(3, 500, "/v1/checkout/sessions")  # something to log: Stripe unavailable

    assert api.verify(alice, invoice_id, session_id)[0] == 502
    stripe_double.fail_next(3, 500, "/v1/checkout/sessions")
    other = world.invoice(world.company(), "10.00")
    assert api.verify(alice, other, "cs_unknown")[0] in (404, 502)

    lines = log_output()
    first = [line for line in lines if line.get("invoiceId") == invoice_id]
    assert first and all(line["sessionId"] == session_id for line in first)
    assert any(line["message"] == "stripe unavailable" for line in first)
    second = [line for line in lines if line.get("invoiceId") == other]
    assert second and all(line["sessionId"] == "cs_unknown" for line in second)  # nothing of the first kept
    assert all("invoiceId" in line for line in lines)
