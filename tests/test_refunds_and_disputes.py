"""charge.refunded and charge.dispute.* after an invoice was paid."""

from __future__ import annotations

import pytest


@pytest.fixture
def paid_invoice(payment_not_yet_recorded, api):
    """A 500.00 USD invoice paid by card, its webhook processed. Returns (invoice_id, payment_intent_id)."""
    invoice_id, completed = payment_not_yet_recorded
    assert api.deliver(completed)[1]["outcome"] == "paid"
    return invoice_id, completed["data"]["object"]["payment_intent"]


def status_of(db, invoice_id):
    return db('SELECT status FROM "Invoice" WHERE id = :id', id=invoice_id)[0]["status"]


def test_a_full_refund_moves_the_invoice_to_refunded(paid_invoice, api, stripe_double, db) -> None:
    invoice_id, payment_intent = paid_invoice
    (refunded,) = stripe_double.refund(payment_intent)

    assert api.deliver(refunded) == (200, {"received": True, "outcome": "refunded"})
    assert status_of(db, invoice_id) == "refunded"
    (adjustment,) = db('SELECT * FROM "PaymentAdjustment"')
    assert (adjustment["kind"], adjustment["amountMinor"], adjustment["status"]) == ("refund", 50000, "full")


def test_a_partial_refund_is_recorded_and_the_invoice_stays_paid(paid_invoice, api, stripe_double, db) -> None:
    invoice_id, payment_intent = paid_invoice
    (partial,) = stripe_double.refund(payment_intent, amount=12_500)

    assert api.deliver(partial)[1]["outcome"] == "partially_refunded"
    assert status_of(db, invoice_id) == "paid"
    assert db('SELECT "amountMinor", status FROM "PaymentAdjustment"') == [{"amountMinor": 12_500, "status": "partial"}]

    (rest,) = stripe_double.refund(payment_intent, amount=37_500)
    assert api.deliver(rest)[1]["outcome"] == "refunded"
    assert status_of(db, invoice_id) == "refunded"
    assert db('SELECT "amountMinor", status FROM "PaymentAdjustment"') == [{"amountMinor": 50_000, "status": "full"}]


def test_reordered_refund_events_never_lower_the_refunded_amount(paid_invoice, api, stripe_double, db) -> None:
    invoice_id, payment_intent = paid_invoice
    (partial,) = stripe_double.refund(payment_intent, amount=10_000)
    (rest,) = stripe_double.refund(payment_intent, amount=40_000)

    api.deliver(rest)
    api.deliver(partial)

    assert status_of(db, invoice_id) == "refunded"
    assert db('SELECT "amountMinor" FROM "PaymentAdjustment"') == [{"amountMinor": 50_000}]


def test_disputes_are_recorded_on_the_invoice(paid_invoice, api, stripe_double, db) -> None:
    invoice_id, payment_intent = paid_invoice
    (created,) = stripe_double.dispute(payment_intent)
    dispute_id = created["data"]["object"]["id"]
    assert api.deliver(created)[1]["outcome"] == "dispute_recorded"

    (closed,) = stripe_double.close_dispute(dispute_id, status="lost")
    assert api.deliver(closed)[1]["outcome"] == "dispute_recorded"

    (row,) = db('SELECT * FROM "PaymentAdjustment"')
    assert (row["id"], row["invoiceId"], row["kind"], row["status"]) == (dispute_id, invoice_id, "dispute", "lost")
    assert status_of(db, invoice_id) == "paid"


def test_a_late_dispute_created_event_does_not_reopen_a_closed_dispute(paid_invoice, api, stripe_double, db) -> None:
    _, payment_intent = paid_invoice
    (created,) = stripe_double.dispute(payment_intent)
    (closed,) = stripe_double.close_dispute(created["data"]["object"]["id"], status="won")

    api.deliver(closed)
    api.deliver(created)

    assert db('SELECT status FROM "PaymentAdjustment"') == [{"status": "won"}]


def test_a_refund_of_an_unknown_payment_is_acknowledged(api, stripe_double, world, db) -> None:
    acme = world.company()
    alice = world.contact(acme)
    invoice_id = world.invoice(acme)
    _, created = api.checkout(alice, invoice_id)
    (completed,) = stripe_double.complete_session(created["sessionId"])  # webhook never delivered
    (refunded,) = stripe_double.refund(completed["data"]["object"]["payment_intent"])
    refunded["data"]["object"]["metadata"] = {}

    assert api.deliver(refunded) == (200, {"received": True, "outcome": "unknown_invoice"})
    assert db('SELECT * FROM "PaymentAdjustment"') == []


def test_a_refund_that_overtakes_its_payment_is_applied_by_reconciliation(
    payment_not_yet_recorded, api, stripe_double, functions, db
) -> None:
    invoice_id, completed = payment_not_yet_recorded
    (refunded,) = stripe_double.refund(completed["data"]["object"]["payment_intent"])

    assert api.deliver(refunded)[1]["outcome"] == "awaiting_payment"
    assert api.deliver(completed)[1]["outcome"] == "paid"
    report = functions.reconcile({}, None)

    assert report["outcomes"] == {"event_refunded": 1}
    assert status_of(db, invoice_id) == "refunded"
    assert db('SELECT outcome FROM "StripeEvent" WHERE id = :id', id=refunded["id"]) == [{"outcome": "refunded"}]
    assert functions.reconcile({}, None)["outcomes"] == {}  # applied once


def test_a_dispute_that_overtakes_its_payment_is_recorded_by_reconciliation(
    payment_not_yet_recorded, api, stripe_double, functions, db
) -> None:
    invoice_id, completed = payment_not_yet_recorded
    (disputed,) = stripe_double.dispute(completed["data"]["object"]["payment_intent"])

    assert api.deliver(disputed)[1]["outcome"] == "unknown_invoice"  # a dispute has metadata of its own
    api.deliver(completed)
    functions.reconcile({}, None)

    assert db('SELECT "invoiceId", kind FROM "PaymentAdjustment"') == [{"invoiceId": invoice_id, "kind": "dispute"}]
