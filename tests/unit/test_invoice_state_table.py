"""The invoice state machine's table (billing/invoice_states.py) and the conditional UPDATEs derived from it, without
a database: every (status, event) pair against the transitions written out here, the table's own rules, and the
WHERE clause each event's UPDATE states. (tests/test_invoice_states.py runs the same pairs against PostgreSQL and
SQLite.)"""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from billing.invoice_states import (
    AWAITING_OUTCOME_STATUSES,
    EFFECTS,
    PAYABLE_STATUSES,
    SETTLED_STATUSES,
    TRANSITIONS,
    Effect,
    Guard,
    InvoiceEvent,
    InvoiceStatus,
    Transition,
    _check,
    guards_of,
    target_of,
)
from billing.repository.invoices import _event_statement

S, E, G = InvoiceStatus, InvoiceEvent, Guard

# Written out by hand, on purpose: a change to the table must change this too, and be reviewed as such.
ALLOWED: dict[tuple[InvoiceStatus, InvoiceEvent], InvoiceStatus] = {
    (S.PENDING, E.CHECKOUT_STARTED): S.PENDING,
    (S.FAILED, E.CHECKOUT_STARTED): S.PENDING,
    (S.PENDING, E.PAYMENT_SUCCEEDED): S.PAID,
    (S.PROCESSING, E.PAYMENT_SUCCEEDED): S.PAID,
    (S.FAILED, E.PAYMENT_SUCCEEDED): S.PAID,
    (S.PENDING, E.PAYMENT_PROCESSING): S.PROCESSING,
    (S.FAILED, E.PAYMENT_PROCESSING): S.PROCESSING,
    (S.PENDING, E.PAYMENT_FAILED): S.FAILED,
    (S.PROCESSING, E.PAYMENT_FAILED): S.FAILED,
    (S.PENDING, E.SESSION_EXPIRED): S.PENDING,
    (S.FAILED, E.SESSION_EXPIRED): S.FAILED,
    (S.PENDING, E.PAYMENT_NOT_APPLICABLE): S.PENDING,
    (S.PROCESSING, E.PAYMENT_NOT_APPLICABLE): S.PENDING,
    (S.PENDING, E.PAYMENT_ACCEPTED): S.PAID,
    (S.FAILED, E.PAYMENT_ACCEPTED): S.PAID,
    (S.PAID, E.REFUNDED_IN_FULL): S.REFUNDED,
    # staff: only an invoice whose money is neither taken nor in flight, with no checkout in progress
    (S.PENDING, E.EDITED): S.PENDING,
    (S.FAILED, E.EDITED): S.FAILED,
    (S.PENDING, E.VOIDED): S.VOID,
    (S.FAILED, E.VOIDED): S.VOID,
}
GUARDS: dict[InvoiceEvent, frozenset[Guard]] = {
    E.CHECKOUT_STARTED: frozenset(),
    E.PAYMENT_SUCCEEDED: frozenset({G.CURRENT_SESSION, G.AMOUNT_AND_CURRENCY}),
    E.PAYMENT_PROCESSING: frozenset({G.CURRENT_SESSION, G.AMOUNT_AND_CURRENCY}),
    E.PAYMENT_FAILED: frozenset({G.CURRENT_SESSION}),
    E.SESSION_EXPIRED: frozenset({G.CURRENT_SESSION}),
    E.PAYMENT_NOT_APPLICABLE: frozenset({G.CURRENT_SESSION}),
    E.PAYMENT_ACCEPTED: frozenset({G.NO_CURRENT_SESSION}),
    E.REFUNDED_IN_FULL: frozenset({G.OWN_PAYMENT}),
    E.EDITED: frozenset({G.NO_CURRENT_SESSION}),
    E.VOIDED: frozenset({G.NO_CURRENT_SESSION}),
}
# What each guard adds to the UPDATE's WHERE clause (PostgreSQL's rendering).
GUARD_SQL = {
    G.CURRENT_SESSION: {'"Invoice"."stripeCheckoutSessionId" = %(b_session_id)s::VARCHAR'},
    G.NO_CURRENT_SESSION: {'"Invoice"."stripeCheckoutSessionId" IS NULL'},
    G.OWN_PAYMENT: {'"Invoice"."stripePaymentIntentId" = %(b_payment_intent_id)s::VARCHAR'},
    # money.settles_exactly in SQL: NUMERIC equality, and the normalised currency
    G.AMOUNT_AND_CURRENCY: {'"Invoice".amount = %(b_amount)s', 'upper(trim("Invoice".currency)) = %(b_currency)s'},
}
ALWAYS = {'"Invoice".id = %(b_invoice_id)s::VARCHAR', '"Invoice".status IN (__[POSTCOMPILE_status_1])'}

@pytest.mark.parametrize(("status", "event"), list(itertools.product(InvoiceStatus, InvoiceEvent)))
def test_each_pair_goes_where_the_table_says_or_nowhere(status: InvoiceStatus, event: InvoiceEvent) -> None:
    assert target_of(status, event) == ALLOWED.get((status, event))


@pytest.mark.parametrize("event", list(InvoiceEvent))
def test_each_event_has_its_guards(event: InvoiceEvent) -> None:
    assert guards_of(event) == GUARDS[event]


def test_paid_and_refunded_are_final_but_for_a_refund_of_the_own_payment() -> None:
    leaving = {(source, event) for (source, event), target in ALLOWED.items() if source in SETTLED_STATUSES}
    assert leaving == {(S.PAID, E.REFUNDED_IN_FULL)}


def test_payable_means_a_checkout_may_start() -> None:
    assert set(PAYABLE_STATUSES) == {S.PENDING, S.FAILED}
    assert set(SETTLED_STATUSES) == {S.PAID, S.REFUNDED}
    # reconciliation asks Stripe about an invoice whose current session may still end either way
    assert set(AWAITING_OUTCOME_STATUSES) == {S.PENDING, S.PROCESSING}


def test_paid_at_and_the_payer_are_written_by_the_events_that_reach_paid_only() -> None:
    writers = {event for event, effect in EFFECTS.items() if "paidAt" in effect.writes}
    assert writers == {event for (_, event), target in ALLOWED.items() if target is S.PAID}


_ROW = Transition(S.PENDING, E.CHECKOUT_STARTED, S.PENDING, frozenset())


@pytest.mark.parametrize(
    ("table", "effects", "refusal"),
    [
        ((*TRANSITIONS, _ROW), EFFECTS, "two transitions for"),
        ((*TRANSITIONS, Transition(S.PROCESSING, E.CHECKOUT_STARTED, S.PENDING, frozenset({G.CURRENT_SESSION}))),
         EFFECTS, "different guards"),
        (tuple(t for t in TRANSITIONS if t.event is not E.REFUNDED_IN_FULL), EFFECTS, "every event needs"),
        (TRANSITIONS, {k: v for k, v in EFFECTS.items() if k is not E.PAYMENT_FAILED}, "every event needs"),
    ],
    ids=["a pair twice", "guards differing between rows", "an event without rows", "an event without effect"],
)
def test_a_table_breaking_its_rules_is_refused(table: tuple[Transition, ...], effects: dict[InvoiceEvent, Effect],
                                               refusal: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from billing import invoice_states

    monkeypatch.setattr(invoice_states, "TRANSITIONS", table)
    monkeypatch.setattr(invoice_states, "EFFECTS", effects)
    with pytest.raises(AssertionError, match=refusal):
        _check(table)


@pytest.mark.parametrize("event", list(InvoiceEvent))
def test_each_events_update_states_its_sources_and_guards_and_nothing_else(event: InvoiceEvent) -> None:
    statement = _event_statement(event)
    where = str(statement.compile(dialect=postgresql.dialect())).split(" WHERE ", 1)[1].split(" RETURNING ")[0]
    expected = ALWAYS.union(*(GUARD_SQL[guard] for guard in GUARDS[event]))
    assert set(where.split(" AND ")) == expected
    sources = sorted(source.value for (source, each) in ALLOWED if each is event)
    assert sorted(statement.compile().params["status_1"]) == sources


def test_the_same_update_compiles_for_sqlite() -> None:
    sql = str(_event_statement(E.PAYMENT_SUCCEEDED).compile(dialect=sqlite.dialect()))
    assert "upper(trim(\"Invoice\".currency)) = ?" in sql and "RETURNING" in sql
