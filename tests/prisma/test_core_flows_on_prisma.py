"""The payment flow on the portal's database as Prisma built it (tests/prisma/portal.py), after the adoption
command: list, checkout, webhook, verify, reconciliation and refund on a double precision "amount" and
timestamp(3) columns without time zone, in a server whose default time zone is UTC+14. Every row the functions
change in the portal's tables gets its "updatedAt", in UTC. Run on that database built from the committed SQL
(`make test`) and built by the Prisma CLI itself (`prisma_cli`: make test-prisma)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, text

from billing.repository.invoices import find_invoice
from tests.prisma.portal import PortalContact, PortalRows, Query, prisma_now

pytestmark = pytest.mark.engines("prisma", "prisma_cli")

Payer = tuple[PortalContact, Callable[..., str]]

# A time the functions wrote, read back raw (timestamp(3), no zone): UTC to the millisecond, so within seconds of
# now in UTC, and half a day away from now in the server's zone (UTC+14).
WRITTEN_JUST_NOW = timedelta(seconds=30)


def invoice_row(stored: Query, invoice_id: str) -> dict[str, Any]:
    (row,) = stored('SELECT * FROM "Invoice" WHERE id = :id', id=invoice_id)
    return row


def written_just_now(value: datetime) -> bool:
    return value.tzinfo is None and abs(value - datetime.now(UTC).replace(tzinfo=None)) < WRITTEN_JUST_NOW


def session_unit_amount(stripe_double: Any) -> str:
    (created,) = [r for r in stripe_double.requests if r.method == "POST" and r.path == "/v1/checkout/sessions"]
    return str(created.params["line_items"][0]["price_data"]["unit_amount"])


def paid_by_card(api: Any, stripe_double: Any, contact: PortalContact, invoice_id: str) -> None:
    """Checkout, the payer pays, the webhook records it."""
    _, created = api.checkout(contact, invoice_id)
    (completed,) = stripe_double.complete_session(created["sessionId"])
    assert api.deliver(completed)[1]["outcome"] == "paid"


@pytest.fixture
def payer(portal: PortalRows) -> Payer:
    """A contact of a company, and a maker of that company's invoices."""
    acme = portal.company()
    return portal.contact(acme), lambda amount="500.00", currency="USD", **kw: portal.invoice(acme, amount,
                                                                                              currency, **kw)


def test_the_listing_reads_prismas_columns(payer: Payer, api: Any) -> None:
    contact, new_invoice = payer
    invoice_id = new_invoice("1234.56", due=datetime(2026, 1, 15, 9, 30))  # Prisma writes dueDate in UTC

    status, body = api.list_invoices(contact)

    assert status == 200
    (listed,) = body["invoices"]
    assert listed["id"] == invoice_id
    assert (listed["amount"], listed["currency"], listed["status"]) == (1234.56, "USD", "pending")
    assert listed["dueDate"] == "2026-01-15T09:30:00.000Z"  # the UTC it holds, not shifted by the server's zone
    assert listed["createdAt"].endswith("Z") and listed["updatedAt"] == listed["createdAt"]


@pytest.mark.parametrize(("amount", "currency", "unit_amount"), [
    ("1234.56", "USD", "123456"), ("19.99", "USD", "1999"), ("100.1", "USD", "10010"), ("5000", "JPY", "5000"),
    ("5.12", "KWD", "5120"),
])
def test_checkout_charges_the_exact_amount_of_a_double(
        payer: Payer, api: Any, stripe_double: Any, stored: Query, amount: str, currency: str, unit_amount: str
) -> None:
    contact, new_invoice = payer
    invoice_id = new_invoice(amount, currency)
    before = invoice_row(stored, invoice_id)["updatedAt"]

    status, body = api.checkout(contact, invoice_id)

    assert status == 200, body
    assert session_unit_amount(stripe_double) == unit_amount
    row = invoice_row(stored, invoice_id)
    assert row["stripeCheckoutSessionId"] == body["sessionId"]
    assert row["updatedAt"] > before and written_just_now(row["updatedAt"])


def test_a_double_is_read_as_the_decimal_the_portal_wrote(payer: Payer, db_engine: Engine) -> None:
    _, new_invoice = payer
    invoice_id = new_invoice("100.1")

    with db_engine.connect() as conn:
        stored = conn.execute(text('SELECT amount FROM "Invoice" WHERE id = :id'), {"id": invoice_id}).scalar_one()
        invoice = find_invoice(conn, invoice_id)

    assert stored == 100.1 and Decimal(stored) != Decimal("100.1")  # a double: 100.0999999999999943...
    assert invoice is not None and str(invoice.amount) == "100.1"
    assert invoice.updated_at.tzinfo is UTC  # timestamp(3) without time zone, read as the UTC it holds


def test_a_double_that_is_not_a_whole_number_of_cents_is_refused_not_rounded(
        payer: Payer, api: Any, stripe_double: Any, stored: Query
) -> None:
    contact, new_invoice = payer
    invoice_id = new_invoice("0.30000000000000004")  # 0.1 + 0.2 in JavaScript

    status, _ = api.checkout(contact, invoice_id)

    assert status == 422
    assert stripe_double.requests == []
    assert invoice_row(stored, invoice_id)["stripeCheckoutSessionId"] is None


def test_the_webhook_marks_the_invoice_paid_in_utc(payer: Payer, api: Any, stripe_double: Any, stored: Query) -> None:
    contact, new_invoice = payer
    invoice_id = new_invoice("100.1")
    _, created = api.checkout(contact, invoice_id)
    after_checkout = invoice_row(stored, invoice_id)["updatedAt"]
    (completed,) = stripe_double.complete_session(created["sessionId"])

    assert api.deliver(completed) == (200, {"received": True, "outcome": "paid"})
    assert api.deliver(completed) == (200, {"received": True, "duplicate": True})

    row = invoice_row(stored, invoice_id)
    assert (row["status"], row["paidByContactId"], row["amount"]) == ("paid", contact.id, 100.1)
    assert written_just_now(row["paidAt"]) and row["updatedAt"] >= after_checkout
    (listed,) = api.list_invoices(contact)[1]["invoices"]
    assert listed["status"] == "paid" and listed["amount"] == 100.1
    assert listed["paidAt"] == row["paidAt"].isoformat(timespec="milliseconds") + "Z"


def test_verify_records_the_payment_when_the_webhook_is_late(
        payer: Payer, api: Any, stripe_double: Any, stored: Query
) -> None:
    contact, new_invoice = payer
    invoice_id = new_invoice("19.99")
    _, created = api.checkout(contact, invoice_id)
    stripe_double.complete_session(created["sessionId"])  # the webhook is not delivered

    status, body = api.verify(contact, invoice_id, created["sessionId"])

    assert (status, body) == (200, {"success": True, "status": "paid", "contactId": contact.id, "amount": 19.99})
    row = invoice_row(stored, invoice_id)
    assert row["status"] == "paid" and written_just_now(row["paidAt"]) and written_just_now(row["updatedAt"])


def test_reconciliation_finds_a_checkout_older_than_its_window(
        payer: Payer, api: Any, functions: Any, stripe_double: Any, stored: Query, db: Query
) -> None:
    contact, new_invoice = payer
    invoice_id = new_invoice("5000", "JPY")
    _, created = api.checkout(contact, invoice_id)
    # Touched an hour ago, as Prisma would have written it (UTC, no zone); the window is 30 minutes
    db('UPDATE "Invoice" SET "updatedAt" = :then WHERE id = :id', then=prisma_now() - timedelta(hours=1),
       id=invoice_id)
    stripe_double.complete_session(created["sessionId"])  # the webhook is lost

    report = functions.reconcile({}, None)

    assert report["outcomes"] == {"paid": 1}
    row = invoice_row(stored, invoice_id)
    assert (row["status"], row["paidByContactId"]) == ("paid", contact.id)
    assert written_just_now(row["updatedAt"])


def test_a_checkout_inside_the_window_is_left_to_the_webhook(
        payer: Payer, api: Any, functions: Any, stripe_double: Any
) -> None:
    # updatedAt read in the server's zone (UTC+14) would look 14 hours old: the invoice would be examined
    contact, new_invoice = payer
    _, created = api.checkout(contact, new_invoice("5.12", "KWD"))
    stripe_double.complete_session(created["sessionId"])

    assert functions.reconcile({}, None)["examined"] == 0


def test_a_full_refund_moves_the_invoice_to_refunded(
        payer: Payer, api: Any, stripe_double: Any, stored: Query, db: Query
) -> None:
    contact, new_invoice = payer
    invoice_id = new_invoice("1234.56")
    paid_by_card(api, stripe_double, contact, invoice_id)
    paid = invoice_row(stored, invoice_id)
    (refunded,) = stripe_double.refund(paid["stripePaymentIntentId"])

    assert api.deliver(refunded) == (200, {"received": True, "outcome": "refunded"})

    row = invoice_row(stored, invoice_id)
    assert row["status"] == "refunded" and row["updatedAt"] >= paid["updatedAt"]
    assert written_just_now(row["updatedAt"])
    (adjustment,) = db('SELECT * FROM "PaymentAdjustment"')
    assert (adjustment["invoiceId"], adjustment["amountMinor"], adjustment["status"]) == (invoice_id, 123456, "full")


@pytest.fixture
def paid_invoice(payer: Payer, api: Any, stripe_double: Any) -> tuple[PortalContact, str]:
    """A 500.00 USD invoice its contact paid by card (the webhook recorded it): the contact and the invoice id."""
    contact, new_invoice = payer
    invoice_id = new_invoice("500.00")
    paid_by_card(api, stripe_double, contact, invoice_id)
    return contact, invoice_id


def deleted_by_the_portal(db_engine: Engine, table: str, row_id: str) -> None:
    """What prisma.<model>.delete() sends: no foreign key of ours refuses it."""
    with db_engine.begin() as conn:
        conn.execute(text(f'DELETE FROM "{table}" WHERE id = :id'), {"id": row_id})


def test_the_portal_deletes_a_contact_who_paid_and_the_payment_stays_readable(
        paid_invoice: tuple[PortalContact, str], stored: Query, db: Query, db_engine: Engine
) -> None:
    contact, invoice_id = paid_invoice

    deleted_by_the_portal(db_engine, "Contact", contact.id)

    assert invoice_row(stored, invoice_id)["paidByContactId"] == contact.id
    (session,) = db('SELECT "contactId", "invoiceId", "amountMinor" FROM "CheckoutSession"')
    assert session == {"contactId": contact.id, "invoiceId": invoice_id, "amountMinor": 50000}
    assert [row["contactId"] for row in db('SELECT "contactId" FROM "StripeCustomer"')] == [contact.id]
    assert db('SELECT outcome FROM "StripeEvent"') == [{"outcome": "paid"}]


def test_the_portal_deletes_a_paid_invoice_and_its_payment_records_stay(
        paid_invoice: tuple[PortalContact, str], api: Any, stripe_double: Any, stored: Query, db: Query,
        db_engine: Engine
) -> None:
    _, invoice_id = paid_invoice
    payment_intent = invoice_row(stored, invoice_id)["stripePaymentIntentId"]

    deleted_by_the_portal(db_engine, "Invoice", invoice_id)

    assert db('SELECT "invoiceId" FROM "CheckoutSession"') == [{"invoiceId": invoice_id}]
    assert db('SELECT "invoiceId", outcome FROM "StripeEvent"') == [{"invoiceId": invoice_id, "outcome": "paid"}]
    # Stripe's later word about that payment (a refund made in the Dashboard) is acknowledged and kept in the
    # inbox, under the invoice's id, for a person: no invoice of the portal's records it any more
    (refunded,) = stripe_double.refund(payment_intent)
    assert api.deliver(refunded) == (200, {"received": True, "outcome": "unknown_invoice"})
    (kept,) = db('SELECT "invoiceId", payload FROM "StripeEvent" WHERE type = \'charge.refunded\'')
    assert kept["invoiceId"] == invoice_id
    assert kept["payload"]["data"]["object"]["payment_intent"] == payment_intent
