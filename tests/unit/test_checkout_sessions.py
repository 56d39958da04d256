"""What the code reads of a Checkout Session (billing/stripe_gateway.py's snapshot, from an API answer or a signed
event, which is input all the same), what it means for the invoice (billing/fulfillment.py), and why a payment
cannot settle its invoice (billing/unapplied_payments.py): tables, no database."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from billing.fulfillment import has_anything_to_apply
from billing.repository.invoices import InvoiceRecord
from billing.schema import UnappliedReason
from billing.stripe_gateway import CheckoutSessionSnapshot
from billing.unapplied_payments import reason_not_applicable

SESSION = {
    "id": "cs_test_1", "object": "checkout.session", "status": "complete", "payment_status": "paid",
    "amount_total": 50000, "currency": "usd", "payment_intent": "pi_1", "customer": "cus_1",
    "client_secret": "cs_test_1_secret_x", "expires_at": 1_900_000_000,
    "metadata": {"invoiceId": "inv_1", "contactId": "ct_1", "invoiceNumber": "INV-1"},
}


def snapshot(**changes: Any) -> CheckoutSessionSnapshot:
    return CheckoutSessionSnapshot.from_dict({**SESSION, **changes})


@pytest.mark.parametrize(
    ("changes", "field", "read"),
    [
        ({}, "invoice_id", "inv_1"),
        ({}, "contact_id", "ct_1"),
        ({"payment_intent": {"id": "pi_expanded", "object": "payment_intent"}}, "payment_intent", "pi_expanded"),
        ({"customer": {"id": "cus_expanded"}}, "customer", "cus_expanded"),
        ({"amount_total": "50000"}, "amount_total", None),  # a string is no amount
        ({"amount_total": True}, "amount_total", None),  # nor is a boolean
        ({"amount_total": 50000.0}, "amount_total", None),  # nor a float
        ({"status": 1}, "status", None),
        ({"payment_intent": {"id": 7}}, "payment_intent", None),
        ({"metadata": {"invoiceId": 7, "contactId": "ct_1"}}, "invoice_id", None),
        ({"metadata": ["inv_1"]}, "invoice_id", None),
        ({"metadata": None}, "contact_id", None),
        ({"expires_at": "soon"}, "expires_at", None),
    ],
)
def test_typed_fields_only_a_field_of_another_type_reads_as_absent(changes: dict[str, Any], field: str,
                                                                   read: Any) -> None:
    assert getattr(snapshot(**changes), field) == read


def test_the_client_secret_never_shows_in_a_repr() -> None:
    assert "secret" not in repr(snapshot())


@pytest.mark.parametrize(
    ("status", "payment_status", "applies"),
    [
        ("open", "unpaid", False),  # still open: nothing to apply, no transaction opened for it
        ("complete", "paid", True),
        ("complete", "unpaid", True),  # a bank debit in flight: processing
        ("complete", "no_payment_required", True),
        ("expired", "unpaid", True),  # the session is released
        (None, None, False),
    ],
)
def test_what_a_session_has_to_apply(status: str | None, payment_status: str | None, applies: bool) -> None:
    assert has_anything_to_apply(snapshot(status=status, payment_status=payment_status)) is applies


def invoice(**changes: Any) -> InvoiceRecord:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    fields: dict[str, Any] = {
        "id": "inv_1", "proposal_id": "pr_1", "invoice_number": "INV-1", "amount": Decimal("500.00"),
        "currency": "USD", "description": None, "payment_schedule_id": None, "week": None, "trigger": None,
        "status": "pending", "stripe_checkout_session_id": "cs_test_1", "stripe_payment_intent_id": None,
        "stripe_customer_id": None, "paid_by_contact_id": None, "due_date": None, "paid_at": None,
        "created_at": now, "updated_at": now,
    }
    return InvoiceRecord(**(fields | changes))


@pytest.mark.parametrize(
    ("session", "invoice_now", "reason"),
    [
        ({}, {}, None),  # exactly the invoice's amount, through its current session: it settles it
        ({}, {"currency": " usd "}, None),  # the same currency, spelled otherwise
        ({}, {"amount": Decimal("600.00")}, UnappliedReason.AMOUNT_MISMATCH),  # edited after the session opened
        ({"currency": "eur"}, {}, UnappliedReason.CURRENCY_MISMATCH),
        ({"currency": "jpy", "amount_total": 500}, {}, UnappliedReason.CURRENCY_MISMATCH),  # same number, not money
        ({}, {"status": "paid", "stripe_payment_intent_id": "pi_other"}, UnappliedReason.INVOICE_SETTLED),
        ({}, {"status": "refunded", "stripe_payment_intent_id": "pi_other"}, UnappliedReason.INVOICE_SETTLED),
        ({}, {"status": "paid", "stripe_payment_intent_id": "pi_1"}, None),  # its own payment, told again
        ({}, {"stripe_checkout_session_id": "cs_test_newer"}, UnappliedReason.NOT_CURRENT_SESSION),
        ({"payment_status": "unpaid"}, {"stripe_checkout_session_id": "cs_test_newer"}, None),  # nothing taken yet
        ({"payment_status": "unpaid"}, {"status": "paid", "stripe_payment_intent_id": "pi_other"}, None),
        ({"payment_status": "unpaid", "amount_total": 1}, {}, UnappliedReason.AMOUNT_MISMATCH),  # in flight, wrong
        ({"status": "open"}, {}, None),  # no payment to speak of
        ({"payment_intent": None}, {}, None),
    ],
)
def test_why_a_payment_cannot_settle_its_invoice(session: dict[str, Any], invoice_now: dict[str, Any],
                                                 reason: UnappliedReason | None) -> None:
    assert reason_not_applicable(snapshot(**session), invoice(**invoice_now)) == reason
