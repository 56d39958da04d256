"""The staff routes (/api/admin/...): who may call them, invoices from a payment schedule, who paid, the listing,
edits and voids, refunds; every change audited in its own transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

ROUTE_CREATE = "/api/admin/proposals/{proposalId}/invoices"
ROUTE_LIST = "/api/admin/invoices"
ROUTE_ONE = "/api/admin/invoices/{invoiceRef}"
ROUTE_REFUND = "/api/admin/invoices/{invoiceRef}/refund"
YEAR = datetime.now(UTC).year


def future(days: int = 30) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).date().isoformat()


def schedule(*entries: dict, total=None) -> dict:
    body: dict = {"schedule": list(entries)}
    if total is not None:
        body["total"] = total
    return body


def entry(schedule_id: str = "payment-1", **values) -> dict:
    return {"paymentScheduleId": schedule_id, "currency": "USD", "trigger": "Kickoff", "week": 0,
            "dueDate": future(), "description": "Phase 1", **({"amount": 500} if "percentage" not in values else {}),
            **values}


# ----- who is staff ----------------------------------------------------------------------------------------------

def test_a_client_token_on_a_staff_route_is_403_and_no_token_401(world, api) -> None:
    alice = world.contact(world.company())
    assert api.staff("GET", ROUTE_LIST, token=api.token(alice)) == (403, {"error": "staff only"})
    assert api.staff("GET", ROUTE_LIST, token=api.issuer.token("u", billingAdmin="true"))[0] == 403  # only true
    assert api.staff("GET", ROUTE_LIST, token="not-a-token")[0] == 401
    assert api.staff("GET", ROUTE_LIST, token=api.issuer.expired_token("staff-uid-1"))[0] == 401


def test_a_staff_token_on_a_client_route_needs_a_contact_as_today(world, api) -> None:
    acme = world.company()
    world.invoice(acme)
    status, _ = api.list_invoices(None, token=api.staff_token())
    assert status == 403


# ----- create from a schedule ------------------------------------------------------------------------------------

def test_a_schedule_becomes_numbered_invoices_once(world, api, db) -> None:
    acme = world.company()
    body = schedule(entry("payment-1", percentage=30, amount=None), entry("payment-2", percentage=70, amount=None,
                                                                      trigger="Completion", week=8), total="1000.00")
    for e in body["schedule"]:
        e.pop("amount")

    status, created = api.staff("POST", ROUTE_CREATE, body=body, proposalId=acme.proposal_id)

    assert status == 201 and created["created"] == 2
    assert [i["amount"] for i in created["invoices"]] == [300, 700]
    assert [i["invoiceNumber"] for i in created["invoices"]] == [f"INV-{YEAR}-001", f"INV-{YEAR}-002"]
    assert {i["status"] for i in created["invoices"]} == {"pending"}
    # Sent again: nothing new, the same invoices
    again = api.staff("POST", ROUTE_CREATE, body=body, proposalId=acme.proposal_id)
    assert again == (200, {"invoices": created["invoices"], "created": 0})
    audit = db('SELECT "actorUid", "actorEmail", action, "entityId", "before", "after" FROM "StaffAuditLog"')
    assert sorted(a["entityId"] for a in audit) == sorted(i["id"] for i in created["invoices"])
    assert {(a["actorUid"], a["actorEmail"], a["action"]) for a in audit} == {
        ("staff-uid-1", "billing@staff.example", "invoice.created")}
    assert all(a["before"] is None and a["after"]["status"] == "pending" for a in audit)


@pytest.mark.parametrize(("body", "reason"), [
    (schedule({**entry("a", percentage=30), "amount": None}, {**entry("b", percentage=60), "amount": None},
              total=1000), "percentages add up to 90, not 100"),
    (schedule(entry(amount="12.345")), "12.345 USD has more decimals than USD allows"),
    (schedule(entry(amount="12.345", currency="KWD")), "Stripe requires the last of three decimals to be 0"),
    (schedule(entry(amount="0.20")), "below Stripe's minimum charge"),
    (schedule(entry(amount="1.5", currency="JPY")), "more decimals than JPY allows"),
    (schedule(entry(dueDate="2020-01-01")), "dueDate 2020-01-01 is in the past"),
    (schedule(entry("x"), entry("x")), "paymentScheduleId values must be unique"),
])
def test_refused_schedules_name_the_reason_and_write_nothing(world, api, db, body, reason) -> None:
    acme = world.company()
    status, answer = api.staff("POST", ROUTE_CREATE, body=body, proposalId=acme.proposal_id)
    assert status == 422
    assert any(reason in r for r in answer["reasons"]), answer
    assert db('SELECT count(*) AS n FROM "Invoice"')[0]["n"] == 0
    assert db('SELECT count(*) AS n FROM "StaffAuditLog"')[0]["n"] == 0


def test_an_unknown_proposal_is_422_and_writes_nothing(api, db) -> None:
    status, answer = api.staff("POST", ROUTE_CREATE, body=schedule(entry()), proposalId="pr_nope")
    assert (status, answer["reasons"]) == (422, ["unknown proposal pr_nope"])
    assert db('SELECT count(*) AS n FROM "Invoice"')[0]["n"] == 0
    assert db('SELECT count(*) AS n FROM "InvoiceNumberCounter"')[0]["n"] == 0


def test_numbers_continue_after_the_highest_of_the_year_already_in_use(world, api, db) -> None:
    acme = world.company()
    invoice_id = world.invoice(acme)
    db('UPDATE "Invoice" SET "invoiceNumber" = :n WHERE id = :id', n=f"INV-{YEAR}-041", id=invoice_id)
    _, created = api.staff("POST", ROUTE_CREATE, body=schedule(entry()), proposalId=acme.proposal_id)
    assert created["invoices"][0]["invoiceNumber"] == f"INV-{YEAR}-042"


# ----- who paid, the listing ---------------------------------------------------------------------------------------

def _paid_invoice(world, api, stripe_double):
    acme = world.company()
    alice = world.contact(acme, email="alice@acme.test")
    _, created = api.staff("POST", ROUTE_CREATE, body=schedule(entry()), proposalId=acme.proposal_id)
    invoice = created["invoices"][0]
    _, checkout = api.checkout(alice, invoice["id"])
    (completed,) = stripe_double.complete_session(checkout["sessionId"], source="5555555555554444")
    assert api.deliver(completed)[0] == 200
    (charge_succeeded,) = [e for e in stripe_double.events if e["type"] == "charge.succeeded"]
    assert api.deliver(charge_succeeded) == (200, {"received": True, "outcome": "payment_method_recorded"})
    return acme, alice, invoice, checkout["sessionId"]


def test_who_paid_by_invoice_number(world, api, stripe_double) -> None:
    acme, alice, invoice, session_id = _paid_invoice(world, api, stripe_double)

    status, found = api.staff("GET", ROUTE_ONE, invoiceRef=invoice["invoiceNumber"])

    assert status == 200
    assert found["invoice"]["id"] == invoice["id"] and found["invoice"]["status"] == "paid"
    assert found["invoice"]["companyId"] == acme.id
    payment = found["payment"]
    assert payment["contact"]["id"] == alice.id and payment["contact"]["email"] == "alice@acme.test"
    assert (payment["amount"], payment["currency"]) == (500, "USD")
    assert payment["paymentIntentId"].startswith("pi_")
    assert payment["method"] == {"type": "card", "brand": "mastercard", "last4": "4444"}
    assert payment["receiptUrl"].startswith("https://pay.stripe.com/receipts/")
    assert [(a["sessionId"], a["startedBy"], a["outcome"]) for a in found["checkoutAttempts"]] == [
        (session_id, alice.id, "paid")]
    assert found["refunds"] == [] and found["disputes"] == []
    assert api.staff("GET", ROUTE_ONE, invoiceRef=invoice["id"]) == (200, found)
    assert api.staff("GET", ROUTE_ONE, invoiceRef="INV-0000-000")[0] == 404


def test_the_listing_filters_and_pages_newest_first(world, api) -> None:
    acme, globex = world.company("Acme"), world.company("Globex")
    api.staff("POST", ROUTE_CREATE, body=schedule(*(entry(f"p{n}") for n in range(5))), proposalId=acme.proposal_id)
    api.staff("POST", ROUTE_CREATE, body=schedule(entry("g")), proposalId=globex.proposal_id)

    seen, cursor = [], None
    while True:
        status, page = api.staff("GET", ROUTE_LIST, query={"company": acme.id, "limit": "2",
                                                            **({"cursor": cursor} if cursor else {})})
        assert status == 200
        seen += page["invoices"]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert len(seen) == 5 and {i["companyId"] for i in seen} == {acme.id}
    keys = [(i["createdAt"], i["id"]) for i in seen]
    assert keys == sorted(keys, reverse=True)
    assert api.staff("GET", ROUTE_LIST, query={"numberPrefix": f"INV-{YEAR}-006"})[1]["invoices"][0]["companyId"] \
        == globex.id
    assert api.staff("GET", ROUTE_LIST, query={"status": "paid"})[1]["invoices"] == []
    assert api.staff("GET", ROUTE_LIST, query={"status": "nope"})[0] == 400
    assert api.staff("GET", ROUTE_LIST, query={"cursor": "garbage"})[0] == 400


# ----- edits, voids --------------------------------------------------------------------------------------------------

def test_edit_and_void_are_audited_and_void_is_never_payable(world, api, db) -> None:
    acme = world.company()
    alice = world.contact(acme)
    _, created = api.staff("POST", ROUTE_CREATE, body=schedule(entry()), proposalId=acme.proposal_id)
    invoice_id = created["invoices"][0]["id"]
    assert api.checkout(alice, invoice_id)[0] == 200  # an open session: expired at Stripe before the edit

    status, edited = api.staff("PATCH", ROUTE_ONE, body={"amount": 600, "description": "Phase 1 (revised)"},
                               invoiceRef=invoice_id)

    assert status == 200 and edited["invoice"]["amount"] == 600
    assert db('SELECT "stripeCheckoutSessionId" AS s FROM "Invoice"')[0]["s"] is None
    assert api.staff("PATCH", ROUTE_ONE, body={"status": "void"}, invoiceRef=invoice_id)[1]["invoice"]["status"] \
        == "void"
    assert api.checkout(alice, invoice_id)[0] == 409
    assert api.staff("PATCH", ROUTE_ONE, body={"amount": 700}, invoiceRef=invoice_id)[0] == 409
    actions = db('SELECT action, "before", "after" FROM "StaffAuditLog" ORDER BY "createdAt"')
    assert [a["action"] for a in actions] == ["invoice.created", "invoice.edited", "invoice.voided"]
    assert (actions[1]["before"]["amount"], actions[1]["after"]["amount"]) == ("500", "600")


def test_an_edit_racing_a_completed_payment_is_refused_and_the_payment_applied(world, api, stripe_double, db) -> None:
    acme = world.company()
    alice = world.contact(acme)
    _, created = api.staff("POST", ROUTE_CREATE, body=schedule(entry()), proposalId=acme.proposal_id)
    invoice_id = created["invoices"][0]["id"]
    _, session = api.checkout(alice, invoice_id)
    stripe_double.complete_session(session["sessionId"])  # paid at Stripe; the webhook has not arrived

    status, answer = api.staff("PATCH", ROUTE_ONE, body={"amount": 600}, invoiceRef=invoice_id)

    assert status == 409 and "applied" in answer["error"]
    row = db('SELECT status, amount, "paidByContactId" FROM "Invoice"')[0]
    assert (row["status"], row["amount"], row["paidByContactId"]) == ("paid", 500, alice.id)
    assert [a["action"] for a in db('SELECT action FROM "StaffAuditLog"')] == ["invoice.created"]


# ----- refunds ---------------------------------------------------------------------------------------------------

def test_partial_then_full_refund_follows_the_dashboard_rules(world, api, stripe_double, db) -> None:
    _, _, invoice, _ = _paid_invoice(world, api, stripe_double)
    key = {"idempotency-key": "refund-1"}

    status, first = api.staff("POST", ROUTE_REFUND, body={"amount": 100}, headers=key, invoiceRef=invoice["id"])
    assert status == 200 and first["amount"] == 100
    # The same request again is the same refund at Stripe
    assert api.staff("POST", ROUTE_REFUND, body={"amount": 100}, headers=key,
                     invoiceRef=invoice["id"])[1]["refundId"] == first["refundId"]
    for event in [e for e in stripe_double.events if e["type"] == "charge.refunded"]:
        api.deliver(event)
    assert api.staff("POST", ROUTE_REFUND, body={"amount": 401}, headers={"idempotency-key": "r2"},
                     invoiceRef=invoice["id"])[0] == 422
    status, rest = api.staff("POST", ROUTE_REFUND, body={}, headers={"idempotency-key": "r3"},
                             invoiceRef=invoice["id"])
    assert status == 200 and rest["amount"] == 400
    for event in [e for e in stripe_double.events if e["type"] == "charge.refunded"]:
        api.deliver(event)
    assert db('SELECT status FROM "Invoice"')[0]["status"] == "refunded"
    found = api.staff("GET", ROUTE_ONE, invoiceRef=invoice["id"])[1]
    assert [r["amount"] for r in found["refunds"]] == [500]
    assert api.staff("POST", ROUTE_REFUND, body={}, headers={"idempotency-key": "r4"},
                     invoiceRef=invoice["id"])[0] == 409
