"""One rule for "this session pays this invoice" (issue 9, case 3): a currency stored as "usd", "USD" or " usd "
is charged, matched, fulfilled, verified and refunded alike.

Found: checkout normalised the invoice's currency (strip + upper) but the conditional UPDATE compared
upper(currency) without trimming, so an invoice stored as " usd " was charged and then never marked paid.
"""

from __future__ import annotations

import pytest
from sqlalchemy import literal, select

from billing.db import transaction
from billing.money import normalize_currency
from billing.repository.sql import normalized_currency

# The embedded default of `make dev` must not drift from PostgreSQL: every test here runs on both.
pytestmark = pytest.mark.engines("postgresql", "sqlite")

SPELLINGS = ["usd", "USD", " usd ", "Usd", "usd  "]


@pytest.mark.parametrize("currency", SPELLINGS)
def test_an_invoice_in_any_spelling_of_its_currency_is_paid_end_to_end(world, api, stripe_double, db, currency) -> None:
    acme = world.company()
    alice = world.contact(acme)
    invoice_id = world.invoice(acme, "500.00", currency)

    status, created = api.checkout(alice, invoice_id)
    assert status == 200
    session = stripe_double.sessions[created["sessionId"]]
    assert (session["currency"], session["amount_total"]) == ("usd", 50_000)
    assert api.checkout(alice, invoice_id) == (200, created)  # the open session is recognised as this invoice's

    (completed,) = stripe_double.complete_session(created["sessionId"])
    assert api.deliver(completed) == (200, {"received": True, "outcome": "paid"})
    assert api.verify(alice, invoice_id, created["sessionId"])[1]["status"] == "paid"
    (refunded,) = stripe_double.refund(completed["data"]["object"]["payment_intent"])
    assert api.deliver(refunded)[1]["outcome"] == "refunded"
    assert db('SELECT currency FROM "PaymentAdjustment"') == [{"currency": "USD"}]


@pytest.mark.parametrize("currency", [" usd ", "usd"])
def test_verify_fulfils_an_invoice_in_any_spelling(world, api, stripe_double, db, currency) -> None:
    acme = world.company()
    alice = world.contact(acme)
    invoice_id = world.invoice(acme, "1500", currency.replace("usd", "jpy"))
    _, created = api.checkout(alice, invoice_id)
    stripe_double.complete_session(created["sessionId"])  # its webhook is late

    assert api.verify(alice, invoice_id, created["sessionId"])[1] == {
        "success": True, "status": "paid", "contactId": alice.id, "amount": 1500}


def test_the_sql_spelling_of_the_rule_agrees_with_the_python_one(functions) -> None:
    with transaction() as conn:
        in_sql = [conn.scalar(select(normalized_currency(literal(c)))) for c in SPELLINGS]
    assert in_sql == [normalize_currency(c) for c in SPELLINGS] == ["USD"] * len(SPELLINGS)
