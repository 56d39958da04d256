"""The invoice state machine's table, checked against the database (issue 9, case 4).

Every (status, event) pair is tried with the conditional UPDATE `apply_invoice_event` derives from
`invoice_states.TRANSITIONS`: a pair in the table moves the invoice to its target and writes the event's columns;
every other pair changes nothing. And each guard of each allowed transition, when it does not hold, stops it.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from billing.db import transaction
from billing.invoice_states import (
    EFFECTS,
    PAYABLE_STATUSES,
    TRANSITIONS,
    Guard,
    InvoiceEvent,
    InvoiceStatus,
    target_of,
)
from billing.money import SettlementTerms
from billing.repository.invoices import apply_invoice_event

# The embedded default of `make dev` must not drift from PostgreSQL: every test here runs on both.
pytestmark = pytest.mark.engines("postgresql", "sqlite")

SESSION, PAYMENT = "cs_test_current", "pi_recorded"
TERMS = SettlementTerms(Decimal("500"), "USD")
PAIRS = list(itertools.product(InvoiceStatus, InvoiceEvent))


@pytest.fixture(autouse=True)
def layer_configured(functions) -> None:
    """The layer's own transaction() runs the statements: its settings come from the loaded functions."""


def _values(event: InvoiceEvent) -> dict[str, Any]:
    given = {"stripeCheckoutSessionId": "cs_test_next", "stripeCustomerId": "cus_next", "paidAt": datetime.now(UTC),
             "paidByContactId": "ct_payer", "stripePaymentIntentId": "pi_next",
             # staff's edit (billing/staff_invoices.py)
             "amount": Decimal("600.00"), "dueDate": datetime(2031, 1, 31, tzinfo=UTC), "description": "Edited"}
    return {column: given[column] for column in EFFECTS[event].writes}


def _invoice_in(world, status: InvoiceStatus, event: InvoiceEvent) -> str:
    """An invoice in `status` for which every guard of `event` holds."""
    invoice_id = world.invoice(world.company(), "500.00", "USD")
    session = None if Guard.NO_CURRENT_SESSION in _guards(event) else SESSION
    world.edit_invoice(invoice_id, status=status.value, stripeCheckoutSessionId=session,
                       stripePaymentIntentId=f"{PAYMENT}_{invoice_id}")
    return invoice_id


def _guards(event: InvoiceEvent) -> frozenset[Guard]:
    return next(t.guards for t in TRANSITIONS if t.event is event)


def _apply(invoice_id: str, event: InvoiceEvent, **overrides: Any) -> Any:
    arguments: dict[str, Any] = {"session_id": SESSION, "payment_intent_id": f"{PAYMENT}_{invoice_id}",
                                 "terms": TERMS, "values": _values(event)}
    with transaction() as conn:
        return apply_invoice_event(conn, invoice_id, event, **(arguments | overrides))


def _row(db, invoice_id: str) -> dict[str, Any]:
    return db('SELECT * FROM "Invoice" WHERE id = :id', id=invoice_id)[0]


@pytest.mark.parametrize(("status", "event"), PAIRS, ids=[f"{s}-{e}" for s, e in PAIRS])
def test_each_status_and_event_does_what_the_table_says(world, db, status, event) -> None:
    invoice_id = _invoice_in(world, status, event)
    before = _row(db, invoice_id)

    updated = _apply(invoice_id, event)

    after = _row(db, invoice_id)
    target = target_of(status, event)
    if target is None:  # forbidden: the UPDATE matches no row
        assert updated is None
        assert after == before
        return
    assert updated is not None and updated.status == after["status"] == target
    effect = EFFECTS[event]
    for column, value in _values(event).items():
        stored = Decimal(str(after[column])) if column == "amount" else after[column]  # SQLite: decimal text
        assert stored is not None and (column in ("paidAt", "dueDate") or stored == value), column
    for column in effect.clears:
        assert after[column] is None
    untouched = set(before) - effect.writes - effect.clears - {"status", "updatedAt"}
    assert {c: after[c] for c in untouched} == {c: before[c] for c in untouched}


_VIOLATIONS: dict[Guard, list[tuple[str, dict[str, Any]]]] = {
    Guard.CURRENT_SESSION: [("another session", {"session_id": "cs_test_other"})],
    Guard.OWN_PAYMENT: [("another payment", {"payment_intent_id": "pi_other"})],
    Guard.AMOUNT_AND_CURRENCY: [("another amount", {"terms": SettlementTerms(Decimal("499.99"), "USD")}),
                                ("another currency", {"terms": SettlementTerms(Decimal("500"), "EUR")})],
}
GUARDED = [(t, guard, name, change) for t in TRANSITIONS for guard in sorted(t.guards)
           for name, change in _VIOLATIONS.get(guard, [(guard.value, {})])]


@pytest.mark.parametrize(("transition", "guard", "violation", "change"), GUARDED,
                         ids=[f"{t.source}-{t.event}-{name}" for t, _, name, _ in GUARDED])
def test_a_transition_whose_guard_fails_changes_nothing(world, db, transition, guard, violation, change) -> None:
    invoice_id = _invoice_in(world, transition.source, transition.event)
    if guard is Guard.NO_CURRENT_SESSION:  # a checkout in progress: nothing to change in the call, the row has one
        world.edit_invoice(invoice_id, stripeCheckoutSessionId="cs_test_in_progress")
    before = _row(db, invoice_id)

    assert _apply(invoice_id, transition.event, **change) is None
    assert _row(db, invoice_id) == before


def test_the_database_accepts_exactly_the_enums_statuses(world, db) -> None:
    invoice_id = world.invoice(world.company())
    for status in InvoiceStatus:
        world.edit_invoice(invoice_id, status=status.value)
    with pytest.raises(Exception, match=r"Invoice_status_valid|CHECK constraint failed"):
        world.edit_invoice(invoice_id, status="cancelled")


def test_payable_statuses_are_those_a_checkout_may_start_from() -> None:
    assert set(PAYABLE_STATUSES) == {InvoiceStatus.PENDING, InvoiceStatus.FAILED}
    assert {t.source for t in TRANSITIONS if t.target in (InvoiceStatus.PAID, InvoiceStatus.REFUNDED)} >= {
        InvoiceStatus.PENDING, InvoiceStatus.PAID}
    # paid and refunded are final for everything but a full refund of the invoice's own payment
    leaving_paid = {(t.event, t.target) for t in TRANSITIONS if t.source in (InvoiceStatus.PAID,
                                                                                InvoiceStatus.REFUNDED)}
    assert leaving_paid == {(InvoiceEvent.REFUNDED_IN_FULL, InvoiceStatus.REFUNDED)}
