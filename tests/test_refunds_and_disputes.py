"""charge.refunded and charge.dispute.* after an invoice was paid."""

from __future__ import annotations

import pytest
import stripe

from tests.support.observed import emitted_metrics, warnings_logged
from tests.support.scenarios import paid_after_an_edit

# The embedded default of `make dev` must not drift from PostgreSQL: every test here runs on both.
pytestmark = pytest.mark.engines("postgresql", "sqlite")


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
    """Found by the model-based test: the invoice became paid and stayed paid although Stripe had refunded it."""
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
    """Found by the model-based test: answered 'unknown_invoice' and never recorded."""
    invoice_id, completed = payment_not_yet_recorded
    (disputed,) = stripe_double.dispute(completed["data"]["object"]["payment_intent"])

    assert api.deliver(disputed)[1]["outcome"] == "unknown_invoice"  # a dispute has metadata of its own
    api.deliver(completed)
    functions.reconcile({}, None)

    assert db('SELECT "invoiceId", kind FROM "PaymentAdjustment"') == [{"invoiceId": invoice_id, "kind": "dispute"}]


# ----- adjustments of payments that are not the invoice's own (issue 9, case 1) ---------------------------------


def _payment_made_elsewhere(stripe_double, invoice_id: str | None, contact_id: str | None, amount: int = 50_000
                            ) -> str:
    """A payment at Stripe whose metadata names our invoice (or, with None, none) but that no checkout of ours made
    (another integration on the account, a copied link): its PaymentIntent."""
    elsewhere = stripe.StripeClient("sk_test_another_integration", base_addresses={"api": stripe_double.url})
    metadata: dict[str, str] = {"invoiceId": invoice_id, "contactId": str(contact_id)} if invoice_id else {}
    session = elsewhere.v1.checkout.sessions.create(params={
        "mode": "payment", "ui_mode": "embedded_page", "return_url": "https://elsewhere.example.test/done",
        "line_items": [{"quantity": 1, "price_data": {"currency": "usd", "unit_amount": amount,
                                                       "product_data": {"name": "Invoice"}}}],
        "metadata": metadata, "payment_intent_data": {"metadata": metadata}})
    stripe_double.complete_session(session.id)  # its completed event is for that integration, not delivered here
    return str(stripe_double.sessions[session.id]["payment_intent"])


def test_a_refund_of_another_payment_never_moves_the_invoice(
    paid_invoice, api, stripe_double, world, db, capsys, caplog
) -> None:
    """Found: a signed charge.refunded of another PaymentIntent whose metadata named a paid invoice answered
    "refunded" and moved the invoice to refunded while its own payment still stood."""
    invoice_id, own_payment = paid_invoice
    payer = db('SELECT "paidByContactId" FROM "Invoice" WHERE id = :id', id=invoice_id)[0]["paidByContactId"]
    other_payment = _payment_made_elsewhere(stripe_double, invoice_id, payer)
    (refunded,) = stripe_double.refund(other_payment)
    capsys.readouterr()

    assert api.deliver(refunded) == (200, {"received": True, "outcome": "adjustment_of_other_payment"})

    row = db('SELECT status, "stripePaymentIntentId" FROM "Invoice" WHERE id = :id', id=invoice_id)[0]
    assert row == {"status": "paid", "stripePaymentIntentId": own_payment}
    assert db('SELECT "invoiceId", "paymentIntentId", kind, status FROM "PaymentAdjustment"') == [
        {"invoiceId": None, "paymentIntentId": other_payment, "kind": "refund", "status": "full"}]
    _surfaced_as_another_payments(db, caplog, capsys, refunded["id"], invoice_id, other_payment, "refund")


def _surfaced_as_another_payments(db, caplog, capsys, event_id, invoice_id, payment_intent, kind) -> None:
    assert db('SELECT outcome FROM "StripeEvent" WHERE id = :id', id=event_id) == [
        {"outcome": "adjustment_of_other_payment"}]
    (warning,) = [w for w in warnings_logged(caplog) if w[0] == "adjustment of a payment that is not its invoice's"]
    assert (warning[1]["payment_intent_id"], warning[1]["named_invoice_id"]) == (payment_intent, invoice_id)
    assert {"name": "AdjustmentOfOtherPayment", "unit": "Count", "kind": kind, "service": "billing"} in (
        emitted_metrics(capsys.readouterr().out))


def test_a_dispute_of_another_payment_is_recorded_against_that_payment_by_reconciliation(
    paid_invoice, api, stripe_double, functions, db, capsys, caplog
) -> None:
    """Found: a dispute carries no invoice metadata, so a dispute of another payment ended `unknown_invoice` and was
    never recorded or surfaced. The webhook holds no Stripe key; reconciliation asks Stripe for the PaymentIntent."""
    invoice_id, own_payment = paid_invoice
    payer = db('SELECT "paidByContactId" FROM "Invoice" WHERE id = :id', id=invoice_id)[0]["paidByContactId"]
    other_payment = _payment_made_elsewhere(stripe_double, invoice_id, payer)
    (disputed,) = stripe_double.dispute(other_payment)
    assert api.deliver(disputed) == (200, {"received": True, "outcome": "unknown_invoice"})
    capsys.readouterr()

    report = functions.reconcile({}, None)

    assert report["outcomes"] == {"event_adjustment_of_other_payment": 1}
    row = db('SELECT status, "stripePaymentIntentId" FROM "Invoice" WHERE id = :id', id=invoice_id)[0]
    assert row == {"status": "paid", "stripePaymentIntentId": own_payment}
    assert db('SELECT "invoiceId", "paymentIntentId", kind, status FROM "PaymentAdjustment"') == [
        {"invoiceId": None, "paymentIntentId": other_payment, "kind": "dispute", "status": "needs_response"}]
    _surfaced_as_another_payments(db, caplog, capsys, disputed["id"], invoice_id, other_payment, "dispute")
    assert functions.reconcile({}, None)["outcomes"] == {}  # applied once


def test_stripe_down_when_asked_for_the_disputed_payment_leaves_the_dispute_for_the_next_run(
    paid_invoice, api, stripe_double, functions, db
) -> None:
    invoice_id, _ = paid_invoice
    payer = db('SELECT "paidByContactId" FROM "Invoice" WHERE id = :id', id=invoice_id)[0]["paidByContactId"]
    other_payment = _payment_made_elsewhere(stripe_double, invoice_id, payer)
    (disputed,) = stripe_double.dispute(other_payment)
    api.deliver(disputed)
    stripe_double.fail_next(3, status=503, path_prefix="/v1/payment_intents")

    assert functions.reconcile({}, None)["outcomes"] == {"event_unknown_invoice": 1}
    assert db('SELECT * FROM "PaymentAdjustment"') == []
    assert functions.reconcile({}, None)["outcomes"] == {"event_adjustment_of_other_payment": 1}


def test_a_dispute_of_another_payment_whose_webhook_never_came_is_recorded_from_the_events_list(
    paid_invoice, stripe_double, functions, db, capsys, caplog
) -> None:
    invoice_id, _ = paid_invoice
    payer = db('SELECT "paidByContactId" FROM "Invoice" WHERE id = :id', id=invoice_id)[0]["paidByContactId"]
    other_payment = _payment_made_elsewhere(stripe_double, invoice_id, payer)
    # Disputes come weeks after the payment: its own event has left Stripe's 30 days of history (within them, the
    # list brings it, the payment is set aside as unapplied and the dispute is recorded against it as such)
    stripe_double.backdate_events(31 * 24 * 3600)
    (disputed,) = stripe_double.dispute(other_payment)  # never delivered
    stripe_double.backdate_events(3600)  # past the window reconciliation leaves to the webhook
    capsys.readouterr()

    report = functions.reconcile({}, None)

    # the list's event goes through the inbox as a delivery would, then is applied with its PaymentIntent
    assert report["recovered_events"] == {"unknown_invoice": 1}
    assert report["outcomes"] == {"event_adjustment_of_other_payment": 1}
    assert db('SELECT "invoiceId", "paymentIntentId", kind FROM "PaymentAdjustment"') == [
        {"invoiceId": None, "paymentIntentId": other_payment, "kind": "dispute"}]
    assert status_of(db, invoice_id) == "paid"
    _surfaced_as_another_payments(db, caplog, capsys, disputed["id"], invoice_id, other_payment, "dispute")


def test_a_dispute_of_a_payment_naming_no_invoice_of_ours_stays_acknowledged(
    paid_invoice, api, stripe_double, functions, db
) -> None:
    (disputed,) = stripe_double.dispute(_payment_made_elsewhere(stripe_double, None, None))

    assert api.deliver(disputed)[1]["outcome"] == "unknown_invoice"
    assert functions.reconcile({}, None)["outcomes"] == {"event_unknown_invoice": 1}
    assert db('SELECT * FROM "PaymentAdjustment"') == []
    assert db('SELECT outcome FROM "StripeEvent" WHERE id = :id', id=disputed["id"]) == [
        {"outcome": "unknown_invoice"}]


def test_a_stored_refund_reapplied_by_reconciliation_never_moves_an_invoice_paid_by_another_payment(
    world, api, stripe_double, functions, db
) -> None:
    """Found: reconciliation re-applied a refund stored while its payment was unknown to whatever invoice its
    metadata named, after that invoice had been paid with a new PaymentIntent."""
    # Given a 500.00 payment of an invoice edited to 600.00 meanwhile, refunded by an operator in the Dashboard
    # before its own event arrived (its refund's event is stored, awaiting its payment)
    alice, invoice_id, _, completed = paid_after_an_edit(world, api, stripe_double)
    first_payment = completed["data"]["object"]["payment_intent"]
    (refunded,) = stripe_double.refund(first_payment)
    assert api.deliver(refunded)[1]["outcome"] == "awaiting_payment"
    # and then the invoice paid again, at 600.00, with a new PaymentIntent
    assert api.deliver(completed)[1]["outcome"] == "payment_not_applied"
    _, second = api.checkout(alice, invoice_id)
    (paid,) = stripe_double.complete_session(second["sessionId"])
    assert api.deliver(paid)[1]["outcome"] == "paid"

    # When reconciliation applies the stored refund again
    report = functions.reconcile({}, None)

    # Then it is recorded against the payment it refunded; the invoice stays paid by its own payment
    assert report["outcomes"] == {"event_unapplied_payment_refunded": 1}
    row = db('SELECT status, "stripePaymentIntentId" FROM "Invoice" WHERE id = :id', id=invoice_id)[0]
    assert row == {"status": "paid", "stripePaymentIntentId": paid["data"]["object"]["payment_intent"]}
    assert db('SELECT "invoiceId", "paymentIntentId" FROM "PaymentAdjustment"') == [
        {"invoiceId": None, "paymentIntentId": first_payment}]
    assert db('SELECT status FROM "UnappliedPayment"') == [{"status": "refunded"}]
    assert len(stripe_double.refunds) == 1  # the operator's: no second refund of it
