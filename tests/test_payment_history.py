"""GET /api/client/billing/{invoiceId}/payments: the client's history of one invoice, company-scoped like the other
client routes, read from what fulfilment recorded (no Stripe call)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.engines("postgresql", "sqlite")


def _deliver_all(api, stripe_double, kinds: tuple[str, ...]) -> None:
    for event in [e for e in stripe_double.events if e["type"] in kinds]:
        api.deliver(event)


def test_attempts_payment_method_receipt_and_refunds(world, api, stripe_double) -> None:
    # Given an invoice Bob started paying, then Alice paid by card, then part of it was refunded
    acme = world.company()
    alice, bob = world.contact(acme), world.contact(acme)
    invoice_id = world.invoice(acme, "500.00")
    _, first = api.checkout(bob, invoice_id)
    _, second = api.checkout(alice, invoice_id)  # another payer: Bob's session is expired first
    stripe_double.complete_session(second["sessionId"])
    _deliver_all(api, stripe_double, ("checkout.session.expired", "charge.succeeded", "checkout.session.completed"))
    pi = next(iter(stripe_double.payment_intents))
    stripe_double.refund(pi, 10000)
    _deliver_all(api, stripe_double, ("charge.refunded",))
    requests_before = len(stripe_double.requests)

    # When Alice reads the invoice's payments
    status, history = api.payments(alice, invoice_id)

    # Then both attempts, the payment with its card and receipt, and the refund; and Stripe was not asked
    assert status == 200
    assert len(stripe_double.requests) == requests_before
    assert [(a["sessionId"], a["startedBy"], a["outcome"]) for a in history["attempts"]] == [
        (first["sessionId"], bob.id, "expired"), (second["sessionId"], alice.id, "paid")]
    payment = history["attempts"][1]["payment"]
    assert payment["paidBy"] == alice.id and payment["paymentIntentId"] == pi
    assert payment["method"] == {"type": "card", "brand": "visa", "last4": "4242"}
    assert payment["receiptUrl"].startswith("https://pay.stripe.com/receipts/")
    assert [(r["amount"], r["currency"], r["status"]) for r in history["refunds"]] == [(100, "USD", "partial")]
    assert history["status"] == "paid"


def test_a_bank_debit_shows_its_last_four(world, api, stripe_double) -> None:
    acme = world.company()
    alice = world.contact(acme)
    invoice_id = world.invoice(acme, "500.00")
    _, session = api.checkout(alice, invoice_id)
    stripe_double.complete_session(session["sessionId"], "unpaid", payment_method_type="us_bank_account")
    stripe_double.async_payment(session["sessionId"], succeeded=True)
    _deliver_all(api, stripe_double, ("checkout.session.completed", "charge.succeeded",
                                      "checkout.session.async_payment_succeeded"))

    attempt = api.payments(alice, invoice_id)[1]["attempts"][0]

    assert attempt["outcome"] == "paid"
    assert attempt["payment"]["method"] == {"type": "us_bank_account", "brand": None, "last4": "6789"}


def test_another_companys_invoice_is_404_as_everywhere(world, api) -> None:
    acme, globex = world.company("Acme"), world.company("Globex")
    alice = world.contact(acme)
    theirs = world.invoice(globex)
    assert api.payments(alice, theirs) == (404, {"error": "invoice not found"})
    assert api.payments(alice, "no-such-invoice") == (404, {"error": "invoice not found"})
    assert api.payments(alice, theirs, token=api.staff_token())[0] == 403  # staff hold no Contact
