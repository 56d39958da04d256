"""A payment that does not match its invoice never strands money or the invoice (issue 9, case 2).

The example of the issue: checkout opens a session at 500.00, the portal edits the invoice to 600.00, the client
pays the still-open 500.00 session. Such a payment is set aside: refunded through Stripe (policy `refund`, the
default) or held for an operator (policy `hold`), the session released, the invoice payable again at 600.00, and
verify and the listing say so. Each path at the route, against the real SDK and the Stripe double.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import stripe

from billing import settings as layer_settings
from harness.database import ROOT
from harness.truth import StripeTruth
from tests.support.observed import emitted_metrics, warnings_logged
from tests.support.scenarios import paid_after_an_edit

# The embedded default of `make dev` must not drift from PostgreSQL: every test here runs on both.
pytestmark = pytest.mark.engines("postgresql", "sqlite")


def refund_requests(stripe_double) -> list:
    return [r for r in stripe_double.requests if r.method == "POST" and r.path == "/v1/refunds"]


def invoice_row(db, invoice_id):
    return db('SELECT * FROM "Invoice" WHERE id = :id', id=invoice_id)[0]


def unapplied(db) -> list[dict]:
    return db('SELECT id, "invoiceId", reason, status, "refundId" FROM "UnappliedPayment"')


@pytest.fixture
def edited_after_checkout(world, api, stripe_double):
    """A 500.00 session paid after its invoice was edited to 600.00 (tests/support/scenarios.py)."""
    return paid_after_an_edit(world, api, stripe_double)


@pytest.fixture
def policy(monkeypatch):
    """Switch MISMATCHED_PAYMENT_POLICY for this test, as a deployment's setting (read at a cold start)."""

    def switch(value: str) -> None:
        monkeypatch.setenv("MISMATCHED_PAYMENT_POLICY", value)
        layer_settings.configure()

    yield switch
    monkeypatch.delenv("MISMATCHED_PAYMENT_POLICY", raising=False)
    layer_settings.configure()


def test_a_payment_of_an_edited_invoice_is_refunded_and_the_invoice_is_payable_at_its_new_amount(
    edited_after_checkout, api, stripe_double, functions, db, capsys, caplog
) -> None:
    alice, invoice_id, old_session, completed = edited_after_checkout
    payment_intent = completed["data"]["object"]["payment_intent"]
    capsys.readouterr()

    # When the webhook delivers the 500.00 payment
    assert api.deliver(completed) == (200, {"received": True, "outcome": "payment_not_applied"})

    # Then it is surfaced: its own outcome, a WARNING line, a metric an alarm can watch
    (warning,) = [w for w in warnings_logged(caplog) if w[0] == "payment does not settle its invoice"]
    assert (warning[1]["payment_intent_id"], warning[1]["reason"]) == (payment_intent, "amount_mismatch")
    assert {"name": "UnappliedPayment", "unit": "Count", "reason": "amount_mismatch", "service": "billing"} in (
        emitted_metrics(capsys.readouterr().out))

    # And the session is released and the invoice is payable at 600.00, the payment set aside for a refund
    row = invoice_row(db, invoice_id)
    assert (row["status"], row["stripeCheckoutSessionId"], Decimal(row["amount"])) == ("pending", None, Decimal(600))
    assert (row["paidAt"], row["paidByContactId"], row["stripePaymentIntentId"]) == (None, None, None)
    assert unapplied(db) == [{"id": payment_intent, "invoiceId": invoice_id, "reason": "amount_mismatch",
                              "status": "refund_due", "refundId": None}]
    listed = api.list_invoices(alice)[1]["invoices"]
    assert [(i["id"], i["status"], i["amount"]) for i in listed] == [(invoice_id, "pending", 600)]
    assert api.verify(alice, invoice_id, old_session) == (200, {
        "success": False, "status": "pending", "contactId": None, "amount": 600,
        "unappliedPayment": {"reason": "amount_mismatch", "status": "refund_due"}})

    # And the next reconciliation run refunds it through Stripe (the webhook holds no Stripe key)
    report = functions.reconcile({}, None)
    assert report["unapplied_payments"] == {"refunded": 1}
    (refund_call,) = refund_requests(stripe_double)
    assert refund_call.params["payment_intent"] == payment_intent
    assert refund_call.params["metadata"] == {
        "invoiceId": invoice_id, "refundedBecause": "payment does not settle invoice: amount_mismatch"}
    assert refund_call.idempotency_key.startswith("refund-")
    charge = stripe_double.charges[stripe_double.payment_intents[payment_intent]["latest_charge"]]
    assert charge["refunded"] is True
    (record,) = unapplied(db)
    assert (record["status"], record["refundId"]) == ("refunded", next(iter(stripe_double.refunds)))
    assert functions.reconcile({}, None).get("unapplied_payments") is None  # refunded once

    # The refund's own event is recorded against that payment and moves no invoice
    (refunded_event,) = [e for e in stripe_double.events if e["type"] == "charge.refunded"]
    assert api.deliver(refunded_event)[1] == {"received": True, "outcome": "unapplied_payment_refunded"}
    assert db('SELECT "invoiceId", "paymentIntentId", status FROM "PaymentAdjustment"') == [
        {"invoiceId": None, "paymentIntentId": payment_intent, "status": "full"}]

    # And the invoice is paid at its new amount, once
    status, created = api.checkout(alice, invoice_id)
    assert status == 200 and created["sessionId"] != old_session
    assert stripe_double.sessions[created["sessionId"]]["amount_total"] == 60_000
    (paid,) = stripe_double.complete_session(created["sessionId"])
    assert api.deliver(paid)[1]["outcome"] == "paid"
    assert invoice_row(db, invoice_id)["status"] == "paid"
    assert api.verify(alice, invoice_id, old_session)[1]["unappliedPayment"] == {
        "reason": "amount_mismatch", "status": "refunded"}
    truth = StripeTruth(stripe_double, invoice_id)
    assert [p.payment_intent for p in truth.payments() if not p.charge["refunded"]] == [
        invoice_row(db, invoice_id)["stripePaymentIntentId"]]


def test_verify_sets_the_payment_aside_and_refunds_it_at_once(edited_after_checkout, api, stripe_double, db) -> None:
    # Given the 500.00 payment's webhook is late, and the portal calls verify after Stripe's redirect
    alice, invoice_id, session_id, completed = edited_after_checkout

    status, body = api.verify(alice, invoice_id, session_id)

    # Then verify tells the truth: not paid, payable again, the payment given back
    assert (status, body) == (200, {"success": False, "status": "pending", "contactId": None, "amount": 600,
                                    "unappliedPayment": {"reason": "amount_mismatch", "status": "refunded"}})
    (refund_call,) = refund_requests(stripe_double)
    assert refund_call.params["payment_intent"] == completed["data"]["object"]["payment_intent"]
    assert invoice_row(db, invoice_id)["stripeCheckoutSessionId"] is None
    # the late webhook changes nothing more
    assert api.deliver(completed)[1]["outcome"] == "payment_not_applied"
    assert len(refund_requests(stripe_double)) == 1 and len(stripe_double.refunds) == 1


def test_checkout_again_refunds_the_payment_and_opens_a_session_at_the_new_amount(
    edited_after_checkout, api, stripe_double, db
) -> None:
    """Found answering 409 "not payable" forever: the invoice kept a session whose payment could not apply."""
    alice, invoice_id, old_session, _ = edited_after_checkout

    status, created = api.checkout(alice, invoice_id)

    assert status == 200 and created["sessionId"] != old_session
    assert stripe_double.sessions[created["sessionId"]]["amount_total"] == 60_000
    assert [r.params["payment_intent"] for r in refund_requests(stripe_double)] == [
        stripe_double.sessions[old_session]["payment_intent"]]
    assert unapplied(db)[0]["status"] == "refunded"
    assert invoice_row(db, invoice_id)["stripeCheckoutSessionId"] == created["sessionId"]


def test_a_payment_in_another_currency_is_set_aside(world, api, stripe_double, db) -> None:
    acme = world.company()
    alice = world.contact(acme)
    invoice_id = world.invoice(acme, "500.00", "USD")
    _, created = api.checkout(alice, invoice_id)
    world.edit_invoice(invoice_id, currency="EUR")
    (completed,) = stripe_double.complete_session(created["sessionId"])

    assert api.deliver(completed)[1]["outcome"] == "payment_not_applied"
    assert [(r["reason"], r["status"]) for r in unapplied(db)] == [("currency_mismatch", "refund_due")]
    assert api.checkout(alice, invoice_id)[0] == 200  # payable again, now in EUR
    assert stripe_double.sessions[list(stripe_double.sessions)[-1]]["currency"] == "eur"


def test_a_bank_debit_of_the_old_amount_is_refunded_once_it_succeeds_after_the_invoice_was_paid(
    world, api, stripe_double, functions, db
) -> None:
    # Given a bank debit of the old 500.00 in flight (set aside, session released), and the invoice then paid
    # in full by card at 600.00
    alice, invoice_id, first_session, in_flight = paid_after_an_edit(world, api, stripe_double,
                                                                     payment_status="unpaid")
    assert api.deliver(in_flight)[1]["outcome"] == "payment_not_applied"
    assert [(r["reason"], r["status"]) for r in unapplied(db)] == [("amount_mismatch", "in_flight")]
    _, second = api.checkout(alice, invoice_id)
    (paid,) = stripe_double.complete_session(second["sessionId"])
    assert api.deliver(paid)[1]["outcome"] == "paid"

    # When the old bank debit succeeds after all: a second successful payment for a paid invoice
    (succeeded,) = stripe_double.async_payment(first_session, succeeded=True)
    assert api.deliver(succeeded)[1]["outcome"] == "payment_not_applied"
    functions.reconcile({}, None)

    # Then it is refunded, and the invoice keeps its one payment
    assert [r["status"] for r in unapplied(db)] == ["refunded"]
    row = invoice_row(db, invoice_id)
    assert (row["status"], row["stripePaymentIntentId"]) == ("paid", paid["data"]["object"]["payment_intent"])
    assert [r.params["payment_intent"] for r in refund_requests(stripe_double)] == [
        in_flight["data"]["object"]["payment_intent"]]


def test_a_set_aside_bank_debit_that_fails_leaves_nothing_to_refund(world, api, stripe_double, functions, db) -> None:
    _, invoice_id, first_session, in_flight = paid_after_an_edit(world, api, stripe_double, payment_status="unpaid")
    api.deliver(in_flight)

    (failed,) = stripe_double.async_payment(first_session, succeeded=False)
    api.deliver(failed)
    functions.reconcile({}, None)

    assert [r["status"] for r in unapplied(db)] == ["payment_failed"]
    assert refund_requests(stripe_double) == []
    assert invoice_row(db, invoice_id)["status"] == "pending"


def test_under_the_hold_policy_an_operator_lists_and_refunds_the_payment(
    edited_after_checkout, api, stripe_double, functions, db, policy
) -> None:
    policy("hold")
    _, invoice_id, _, completed = edited_after_checkout
    payment_intent = completed["data"]["object"]["payment_intent"]

    assert api.deliver(completed)[1]["outcome"] == "payment_not_applied"
    functions.reconcile({}, None)

    # Nothing is refunded by itself; the invoice is payable again all the same
    assert refund_requests(stripe_double) == []
    assert [(r["id"], r["status"]) for r in unapplied(db)] == [(payment_intent, "held")]
    assert invoice_row(db, invoice_id)["stripeCheckoutSessionId"] is None
    (listed,) = run_command(stripe_double)
    assert (listed["paymentIntentId"], listed["invoiceId"], listed["reason"], listed["status"], listed["amountMinor"]
            ) == (payment_intent, invoice_id, "amount_mismatch", "held", 50_000)

    assert run_command(stripe_double, "refund", payment_intent)[0]["status"] == "refunded"
    assert [r.params["payment_intent"] for r in refund_requests(stripe_double)] == [payment_intent]
    assert run_command(stripe_double) == []  # nothing left to decide


def test_under_the_hold_policy_an_operator_can_accept_the_payment_as_settling_the_invoice(
    edited_after_checkout, api, stripe_double, db, policy
) -> None:
    policy("hold")
    alice, invoice_id, _, completed = edited_after_checkout
    payment_intent = completed["data"]["object"]["payment_intent"]
    api.deliver(completed)
    _, opened = api.checkout(alice, invoice_id)  # meanwhile Alice opened a checkout of the 600.00

    (accepted,) = run_command(stripe_double, "accept", payment_intent)

    assert accepted == {"paymentIntentId": payment_intent, "status": "accepted", "invoiceId": invoice_id,
                        "invoiceStatus": "paid"}
    row = invoice_row(db, invoice_id)
    assert (row["status"], row["paidByContactId"], row["stripePaymentIntentId"]) == ("paid", alice.id, payment_intent)
    assert stripe_double.sessions[opened["sessionId"]]["status"] == "expired"  # no second way to pay
    assert refund_requests(stripe_double) == []
    assert [r["status"] for r in unapplied(db)] == ["accepted"]
    # and the payer's receipt waits in the outbox, written with the acceptance
    assert db('SELECT kind, "contactId" FROM "Notification"') == [{"kind": "payment_succeeded", "contactId": alice.id}]


def test_an_operator_cannot_accept_a_payment_for_an_invoice_paid_since(
    edited_after_checkout, api, stripe_double, db, policy
) -> None:
    policy("hold")
    alice, invoice_id, _, completed = edited_after_checkout
    api.deliver(completed)
    _, created = api.checkout(alice, invoice_id)
    (paid,) = stripe_double.complete_session(created["sessionId"])
    api.deliver(paid)

    result = run_command(stripe_double, "accept", completed["data"]["object"]["payment_intent"],
                         expect_failure=True)

    assert "invoice is paid: refund the payment instead" in result[0]["error"]
    assert invoice_row(db, invoice_id)["stripePaymentIntentId"] == paid["data"]["object"]["payment_intent"]


def test_a_payment_through_a_session_checkout_did_not_make_is_held_whatever_the_policy(
    world, api, stripe_double, db
) -> None:
    # Given a paid session naming one of our invoices that our checkout never made (another integration on the
    # same Stripe account, a copied link): not ours to refund automatically
    acme = world.company()
    alice = world.contact(acme)
    invoice_id = world.invoice(acme, "500.00")
    api.checkout(alice, invoice_id)
    elsewhere = stripe.StripeClient("sk_test_another_integration", base_addresses={"api": stripe_double.url})
    metadata = {"invoiceId": invoice_id, "contactId": alice.id}
    session = elsewhere.v1.checkout.sessions.create(params={
        "mode": "payment", "ui_mode": "embedded_page", "return_url": "https://elsewhere.example.test/done",
        "line_items": [{"quantity": 1, "price_data": {"currency": "usd", "unit_amount": 50_000,
                                                       "product_data": {"name": "Invoice"}}}],
        "metadata": metadata, "payment_intent_data": {"metadata": metadata}})
    (paid_elsewhere,) = stripe_double.complete_session(session.id)

    assert api.deliver(paid_elsewhere)[1]["outcome"] == "payment_not_applied"
    assert [(r["reason"], r["status"]) for r in unapplied(db)] == [("not_current_session", "held")]
    assert invoice_row(db, invoice_id)["status"] == "pending"  # its own checkout still stands


def test_an_invoice_that_cannot_be_applied_never_blocks_the_others_in_reconciliation(
    world, api, stripe_double, functions, db
) -> None:
    """Found: reconciliation took the oldest invoices first every run, so invoices that stayed as they were (a
    session left open, an amount mismatch) filled every batch and the others were never examined."""
    batch_size, os.environ["RECONCILE_BATCH_SIZE"] = os.environ["RECONCILE_BATCH_SIZE"], "2"
    layer_settings.configure()
    try:
        # Given three invoices whose sessions stay open, older than one paid whose webhook was lost
        acme = world.company()
        alice = world.contact(acme)
        left_open = [world.invoice(acme) for _ in range(3)]
        for invoice_id in left_open:
            api.checkout(alice, invoice_id)
        paid_unnoticed = world.invoice(acme)
        _, created = api.checkout(alice, paid_unnoticed)
        stripe_double.complete_session(created["sessionId"])
        now = datetime.now(UTC)
        for invoice_id in left_open:
            world.edit_invoice(invoice_id, updatedAt=now - timedelta(hours=3))
        world.edit_invoice(paid_unnoticed, updatedAt=now - timedelta(hours=1))
        stripe_double.fail_next(100, status=503, path_prefix="/v1/events")  # only the session checks can find it

        # When reconciliation runs twice with batches of two
        first = functions.reconcile({}, None)
        second = functions.reconcile({}, None)
    finally:
        os.environ["RECONCILE_BATCH_SIZE"] = batch_size
        layer_settings.configure()

    # Then the second run starts with what the first did not examine, and finds the payment
    assert first["outcomes"] == {"not_finished": 2}
    assert second["outcomes"] == {"not_finished": 1, "paid": 1}
    assert invoice_row(db, paid_unnoticed)["status"] == "paid"
    examined = db('SELECT "reconcileOutcome" FROM "CheckoutSession" WHERE "reconciledAt" IS NOT NULL')
    assert sorted(r["reconcileOutcome"] for r in examined) == ["not_finished"] * 3 + ["paid"]


def run_command(stripe_double, *args: str, expect_failure: bool = False) -> list[dict]:
    """scripts/unapplied_payments.py (make unapplied-payments) as an operator runs it, on the functions' database
    (DATABASE_URL: PostgreSQL, or the SQLite file of the module's sqlite run)."""
    env = {**os.environ, "PYTHONPATH": "layers/common",
           "STRIPE_API_BASE": stripe_double.url, "STRIPE_MODE": "test", "STRIPE_SECRET_KEY": "sk_test_operator"}
    result = subprocess.run([sys.executable, "scripts/unapplied_payments.py", *args], env=env, cwd=ROOT,
                            capture_output=True, text=True, check=False)
    assert (result.returncode != 0) == expect_failure, result.stderr
    output = result.stderr if expect_failure else result.stdout
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [line for line in lines if "level" not in line]  # the command's answers, not the log lines
