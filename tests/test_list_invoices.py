"""GET /api/client/billing: the caller's company's invoices only, in the seed's field names."""

from __future__ import annotations

import re

import pytest

# The embedded default of `make dev` must not drift from PostgreSQL: every test here runs on both.
pytestmark = pytest.mark.engines("postgresql", "sqlite")


def test_lists_only_the_callers_company_invoices_in_due_date_order(world, api) -> None:
    # Given two companies with invoices
    acme, globex = world.company("Acme"), world.company("Globex")
    alice = world.contact(acme)
    late = world.invoice(acme, "500.00", due="2025-03-01T00:00:00Z")
    early = world.invoice(acme, "1500", "JPY", due="2025-02-01T00:00:00Z")
    undated = world.invoice(acme, "12.340", "KWD")
    world.invoice(globex, "999.00")

    # When Alice lists her invoices
    status, body = api.list_invoices(alice)

    # Then she sees Acme's three, earliest due first, undated last
    assert status == 200
    assert [i["id"] for i in body["invoices"]] == [early, late, undated]


def test_invoice_fields_follow_the_seed(world, api) -> None:
    acme = world.company()
    alice = world.contact(acme)
    invoice_id = world.invoice(acme, "500.00", due="2025-02-01T00:00:00Z")

    status, body = api.list_invoices(alice)

    assert status == 200
    (invoice,) = body["invoices"]
    assert set(invoice) == {
        "id", "invoiceNumber", "proposalId", "amount", "currency", "description", "status", "dueDate", "paidAt",
        "paidByContactId", "week", "trigger", "paymentScheduleId", "createdAt", "updatedAt",
    }
    assert invoice["id"] == invoice_id
    assert invoice["amount"] == 500
    assert invoice["currency"] == "USD"
    assert invoice["status"] == "pending"
    assert invoice["dueDate"] == "2025-02-01T00:00:00.000Z"
    assert invoice["paidAt"] is None and invoice["paidByContactId"] is None
    assert invoice["createdAt"].endswith("Z")


def test_timestamps_are_utc_to_the_millisecond_whatever_offset_they_were_written_with(world, api, db) -> None:
    acme = world.company()
    alice = world.contact(acme)
    invoice_id = world.invoice(acme, due="2025-02-01T23:30:00-02:00")
    db('UPDATE "Invoice" SET status = \'paid\', "paidAt" = :paid, "paidByContactId" = :payer WHERE id = :id',
       paid="2025-05-06T07:08:09.123456+02:00", payer=alice.id, id=invoice_id)

    (invoice,) = api.list_invoices(alice)[1]["invoices"]

    assert invoice["dueDate"] == "2025-02-02T01:30:00.000Z"
    assert invoice["paidAt"] == "2025-05-06T05:08:09.123Z"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", invoice["createdAt"])
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", invoice["updatedAt"])


def test_amounts_are_exact_numbers(world, api) -> None:
    acme = world.company()
    alice = world.contact(acme)
    world.invoice(acme, "1234.56", due="2025-01-01T00:00:00Z")
    world.invoice(acme, "12.345", "KWD", due="2025-01-02T00:00:00Z")

    _, body = api.list_invoices(alice)

    assert [i["amount"] for i in body["invoices"]] == [1234.56, 12.345]


def test_a_company_without_invoices_gets_an_empty_list(world, api) -> None:
    alice = world.contact(world.company())
    assert api.list_invoices(alice) == (200, {"invoices": []})


def test_a_valid_token_without_a_contact_is_forbidden(world, api, token_issuer) -> None:
    world.invoice(world.company())
    status, body = api.list_invoices(None, token=token_issuer.token("uid-of-a-stranger"))
    assert status == 403
    assert body == {"error": "no client contact for this account"}


def test_a_contact_without_a_company_is_forbidden(world, api) -> None:
    orphan = world.contact(None)
    assert api.list_invoices(orphan)[0] == 403


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer a b"])
def test_missing_or_malformed_authorization_is_401(functions, header) -> None:
    from harness.events import client_request, decode

    event = client_request("list_invoices", None)
    if header is not None:
        event["headers"]["authorization"] = header
    status, body = decode(functions.list_invoices(event, None))
    assert status == 401
    assert body == {"error": "missing, invalid or expired ID token"}
