"""The "Invoice" table: invoices as records, found by id or by the payment that paid them, the state machine's
conditional UPDATEs (derived from billing/invoice_states.py), and the invoices reconciliation looks at."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, case, insert, literal, or_, select, update
from sqlalchemy.sql.dml import Update
from sqlalchemy.sql.elements import ColumnElement

from billing.invoice_states import AWAITING_OUTCOME_STATUSES, EFFECTS, Guard, InvoiceEvent, guards_of, transitions_of
from billing.money import SettlementTerms
from billing.repository.sql import normalized_currency, utc_now
from billing.schema import checkout_session, invoice


class InvoiceRecord(NamedTuple):
    id: str
    proposal_id: str
    invoice_number: str
    amount: Decimal
    currency: str
    description: str | None
    payment_schedule_id: str | None
    week: int | None
    trigger: str | None
    status: str
    stripe_checkout_session_id: str | None
    stripe_payment_intent_id: str | None
    stripe_customer_id: str | None
    paid_by_contact_id: str | None
    due_date: datetime | None
    paid_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> InvoiceRecord:
        return cls(
            id=row["id"],
            proposal_id=row["proposalId"],
            invoice_number=row["invoiceNumber"],
            amount=row["amount"],
            currency=row["currency"],
            description=row["description"],
            payment_schedule_id=row["paymentScheduleId"],
            week=row["week"],
            trigger=row["trigger"],
            status=row["status"],
            stripe_checkout_session_id=row["stripeCheckoutSessionId"],
            stripe_payment_intent_id=row["stripePaymentIntentId"],
            stripe_customer_id=row["stripeCustomerId"],
            paid_by_contact_id=row["paidByContactId"],
            due_date=row["dueDate"],
            paid_at=row["paidAt"],
            created_at=row["createdAt"],
            updated_at=row["updatedAt"],
        )

def find_invoice(conn: Connection, invoice_id: str, *, for_update: bool = False) -> InvoiceRecord | None:
    statement = select(invoice).where(invoice.c.id == invoice_id)
    row = conn.execute(statement.with_for_update() if for_update else statement).mappings().first()
    return InvoiceRecord.from_row(row) if row else None

def find_invoice_by_reference(conn: Connection, reference: str, *, for_update: bool = False) -> InvoiceRecord | None:
    """The invoice whose id or invoice number is `reference` (both unique; staff use either)."""
    statement = select(invoice).where(or_(invoice.c.id == reference, invoice.c.invoiceNumber == reference))
    row = conn.execute(statement.with_for_update() if for_update else statement).mappings().first()
    return InvoiceRecord.from_row(row) if row else None


def insert_invoice(conn: Connection, values: Mapping[str, Any]) -> InvoiceRecord:
    """A new invoice (billing.issuing.issue_invoice is its one caller), with every NOT NULL column the portal's
    Prisma-built table may leave without a default ("createdAt", "updatedAt")."""
    now = utc_now()
    row = conn.execute(insert(invoice).values(**values, status="pending", createdAt=now, updatedAt=now)
                       .returning(*invoice.c)).mappings().one()
    return InvoiceRecord.from_row(row)


def invoices_of_schedule(conn: Connection, proposal_id: str, schedule_ids: list[str]) -> dict[str, InvoiceRecord]:
    """The proposal's invoices made for these payment schedule entries, by paymentScheduleId."""
    rows = conn.execute(select(invoice).where(invoice.c.proposalId == proposal_id,
                                              invoice.c.paymentScheduleId.in_(schedule_ids))
                        .order_by(invoice.c.createdAt)).mappings()
    found: dict[str, InvoiceRecord] = {}
    for row in rows:
        found.setdefault(row["paymentScheduleId"], InvoiceRecord.from_row(row))
    return found


def find_invoice_by_payment_intent(conn: Connection, payment_intent_id: str) -> InvoiceRecord | None:
    row = conn.execute(select(invoice).where(invoice.c.stripePaymentIntentId == payment_intent_id)).mappings().first()
    return InvoiceRecord.from_row(row) if row else None


def reconciliation_candidates(conn: Connection, *, not_updated_since: datetime, limit: int) -> list[InvoiceRecord]:
    """Invoices whose checkout has been open or processing since before `not_updated_since`: the sessions never
    examined first, then those examined longest ago, so that invoices which stay as they are (a session still
    open, Stripe not knowing it) take their turn behind the others instead of filling every batch."""
    rows = conn.execute(
        select(invoice)
        .select_from(invoice.outerjoin(checkout_session, checkout_session.c.id == invoice.c.stripeCheckoutSessionId))
        .where(
            invoice.c.status.in_([status.value for status in AWAITING_OUTCOME_STATUSES]),
            invoice.c.stripeCheckoutSessionId.is_not(None),
            invoice.c.updatedAt < not_updated_since,
        )
        .order_by(checkout_session.c.reconciledAt.asc().nulls_first(), invoice.c.updatedAt.asc())
        .limit(limit)
    ).mappings()
    return [InvoiceRecord.from_row(row) for row in rows]

def apply_invoice_event(
    conn: Connection,
    invoice_id: str,
    event: InvoiceEvent,
    *,
    session_id: str | None = None,
    payment_intent_id: str | None = None,
    terms: SettlementTerms | None = None,
    values: Mapping[str, Any] | None = None,
) -> InvoiceRecord | None:
    """Apply `event` to the invoice if billing.invoice_states allows it from the invoice's status and its guards
    hold: `session_id` (Guard.CURRENT_SESSION), `payment_intent_id` (Guard.OWN_PAYMENT), `terms`
    (Guard.AMOUNT_AND_CURRENCY). `values` are the columns the event writes (EFFECTS). One conditional UPDATE;
    returns the updated invoice, or None if nothing matched (the transition is forbidden or a guard failed)."""
    values = dict(values or {})
    if not set(values) <= EFFECTS[event].writes:
        raise ValueError(f"{event} does not write {sorted(set(values) - EFFECTS[event].writes)}")
    guards = guards_of(event)
    parameters: dict[str, Any] = {"b_invoice_id": invoice_id, **values, "updatedAt": utc_now()}
    if Guard.CURRENT_SESSION in guards:
        parameters["b_session_id"] = _given(session_id, "session_id", event)
    if Guard.OWN_PAYMENT in guards:
        parameters["b_payment_intent_id"] = _given(payment_intent_id, "payment_intent_id", event)
    if Guard.AMOUNT_AND_CURRENCY in guards:
        given = _given(terms, "terms", event)
        parameters |= {"b_amount": given.amount, "b_currency": given.currency}
    row = conn.execute(_event_statement(event), parameters).mappings().first()
    return InvoiceRecord.from_row(row) if row else None


def _guard_conditions(guard: Guard) -> tuple[ColumnElement[bool], ...]:
    """The conditions a guard adds to a transition's WHERE clause (bound parameters named b_*)."""
    if guard is Guard.CURRENT_SESSION:
        return (invoice.c.stripeCheckoutSessionId == bindparam("b_session_id"),)
    if guard is Guard.NO_CURRENT_SESSION:
        return (invoice.c.stripeCheckoutSessionId.is_(None),)
    if guard is Guard.OWN_PAYMENT:
        return (invoice.c.stripePaymentIntentId == bindparam("b_payment_intent_id"),)
    # Guard.AMOUNT_AND_CURRENCY: money.settles_exactly in SQL, the amount (NUMERIC equality: 500 = 500.00) and the
    # normalised currency
    return (invoice.c.amount == bindparam("b_amount", type_=invoice.c.amount.type),
            normalized_currency(invoice.c.currency) == bindparam("b_currency"))


def _given(value: Any, name: str, event: InvoiceEvent) -> Any:
    if value is None:
        raise ValueError(f"{event} needs {name} for its guard")
    return value


@cache
def _event_statement(event: InvoiceEvent) -> Update:
    """The conditional UPDATE of `event`, derived from its rows of invoice_states.TRANSITIONS (built once per
    event; the written columns are named by the parameters it is executed with). The new status is the row's
    target for the invoice's current status."""
    transitions = transitions_of(event)
    targets = {t.target for t in transitions}
    new_status: Any = (
        literal(next(iter(targets)).value) if len(targets) == 1
        else case({t.source.value: t.target.value for t in transitions}, value=invoice.c.status)
    )
    conditions = [c for guard in sorted(guards_of(event)) for c in _guard_conditions(guard)]
    return (
        update(invoice)
        .where(invoice.c.id == bindparam("b_invoice_id"),
               invoice.c.status.in_([t.source.value for t in transitions]), *conditions)
        .values(status=new_status, **dict.fromkeys(EFFECTS[event].clears))
        .returning(*invoice.c)
    )
