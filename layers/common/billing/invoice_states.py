"""The invoice state machine: every status in one enum, every transition in one table.

A transition is (from, event, to, guards). `repository.invoices.apply_invoice_event` derives one conditional UPDATE
per event from this table: the invoice must be in one of the statuses the table lists for the event (WHERE status
IN ...), each guard becomes a condition of the same WHERE clause, and the status is set to the row's target. A
(status, event) pair that is not in the table is forbidden: its UPDATE matches no row. Concurrent writers cannot
both win, because PostgreSQL re-checks the WHERE clause of a row another transaction has just changed (SQLite
takes the write lock at BEGIN: billing/db_sqlite.py).

    pending    --checkout started-->             pending      (a new session is the current one)
    failed     --checkout started-->             pending      (a new attempt at a failed bank debit)
    pending    --payment succeeded-->            paid         pending --payment processing--> processing
    processing --payment succeeded-->            paid         processing --payment failed--> failed
    pending    --session expired-->              pending      (the session is released)
    pending    --payment not applicable-->       pending      (it did not settle the invoice: released, refunded)
    pending    --payment accepted (operator)-->  paid         paid --refunded in full--> refunded
    pending/failed --edited (staff)-->           unchanged    pending/failed --voided (staff)--> void

`paid` and `refunded` are final for every event but a full refund of the invoice's own payment; `void` is final
for every event. A new status is a member of InvoiceStatus and rows of TRANSITIONS (and the migration of the CHECK
constraint, as 0005_staff_side did for `void`); the rest follows from them.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import NamedTuple


class InvoiceStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"  # a delayed payment (bank debit) is in flight
    PAID = "paid"
    FAILED = "failed"  # the delayed payment failed: payable again
    REFUNDED = "refunded"
    VOID = "void"  # cancelled by staff before it was paid: never payable, kept for the record


class InvoiceEvent(StrEnum):
    CHECKOUT_STARTED = "checkout_started"  # a new Checkout Session becomes the invoice's current one
    PAYMENT_SUCCEEDED = "payment_succeeded"  # the current session's payment succeeded
    PAYMENT_PROCESSING = "payment_processing"  # the current session completed, its bank debit still in flight
    PAYMENT_FAILED = "payment_failed"  # the current session's bank debit failed
    SESSION_EXPIRED = "session_expired"  # the current session expired at Stripe, unpaid
    PAYMENT_NOT_APPLICABLE = "payment_not_applicable"  # the current session's payment cannot settle the invoice
    PAYMENT_ACCEPTED = "payment_accepted"  # an operator accepted a held payment as settling the invoice
    REFUNDED_IN_FULL = "refunded_in_full"  # the invoice's own payment was refunded in full
    EDITED = "edited"  # staff changed the amount, due date or description of an unpaid invoice
    VOIDED = "voided"  # staff voided an unpaid invoice


class Guard(StrEnum):
    """Conditions a transition needs besides the invoice's status; each is one condition of the UPDATE."""

    CURRENT_SESSION = "current_session"  # the event's session is the invoice's current one
    NO_CURRENT_SESSION = "no_current_session"  # no checkout is in progress that could take money too
    AMOUNT_AND_CURRENCY = "amount_and_currency"  # the payment is exactly the invoice's amount, in its currency
    OWN_PAYMENT = "own_payment"  # the event's PaymentIntent is the one that paid the invoice


class Transition(NamedTuple):
    source: InvoiceStatus
    event: InvoiceEvent
    target: InvoiceStatus
    guards: frozenset[Guard]


class Effect(NamedTuple):
    """Columns an event writes besides the status: `writes` with the values its caller gives, `clears` to NULL."""

    writes: frozenset[str] = frozenset()
    clears: frozenset[str] = frozenset()


S, E, G = InvoiceStatus, InvoiceEvent, Guard
_PAYMENT_OF_THE_CURRENT_SESSION = frozenset({G.CURRENT_SESSION, G.AMOUNT_AND_CURRENCY})

TRANSITIONS: tuple[Transition, ...] = (
    Transition(S.PENDING, E.CHECKOUT_STARTED, S.PENDING, frozenset()),
    Transition(S.FAILED, E.CHECKOUT_STARTED, S.PENDING, frozenset()),
    Transition(S.PENDING, E.PAYMENT_SUCCEEDED, S.PAID, _PAYMENT_OF_THE_CURRENT_SESSION),
    Transition(S.PROCESSING, E.PAYMENT_SUCCEEDED, S.PAID, _PAYMENT_OF_THE_CURRENT_SESSION),
    Transition(S.FAILED, E.PAYMENT_SUCCEEDED, S.PAID, _PAYMENT_OF_THE_CURRENT_SESSION),
    Transition(S.PENDING, E.PAYMENT_PROCESSING, S.PROCESSING, _PAYMENT_OF_THE_CURRENT_SESSION),
    Transition(S.FAILED, E.PAYMENT_PROCESSING, S.PROCESSING, _PAYMENT_OF_THE_CURRENT_SESSION),
    Transition(S.PENDING, E.PAYMENT_FAILED, S.FAILED, frozenset({G.CURRENT_SESSION})),
    Transition(S.PROCESSING, E.PAYMENT_FAILED, S.FAILED, frozenset({G.CURRENT_SESSION})),
    Transition(S.PENDING, E.SESSION_EXPIRED, S.PENDING, frozenset({G.CURRENT_SESSION})),
    Transition(S.FAILED, E.SESSION_EXPIRED, S.FAILED, frozenset({G.CURRENT_SESSION})),
    Transition(S.PENDING, E.PAYMENT_NOT_APPLICABLE, S.PENDING, frozenset({G.CURRENT_SESSION})),
    Transition(S.PROCESSING, E.PAYMENT_NOT_APPLICABLE, S.PENDING, frozenset({G.CURRENT_SESSION})),
    Transition(S.PENDING, E.PAYMENT_ACCEPTED, S.PAID, frozenset({G.NO_CURRENT_SESSION})),
    Transition(S.FAILED, E.PAYMENT_ACCEPTED, S.PAID, frozenset({G.NO_CURRENT_SESSION})),
    Transition(S.PAID, E.REFUNDED_IN_FULL, S.REFUNDED, frozenset({G.OWN_PAYMENT})),
    # Staff change only an invoice no checkout is in progress for: its session is expired at Stripe (and, if it
    # completed meanwhile, applied) before these run (billing/staff_invoices.py).
    Transition(S.PENDING, E.EDITED, S.PENDING, frozenset({G.NO_CURRENT_SESSION})),
    Transition(S.FAILED, E.EDITED, S.FAILED, frozenset({G.NO_CURRENT_SESSION})),
    Transition(S.PENDING, E.VOIDED, S.VOID, frozenset({G.NO_CURRENT_SESSION})),
    Transition(S.FAILED, E.VOIDED, S.VOID, frozenset({G.NO_CURRENT_SESSION})),
)

_SETTLING_PAYMENT = frozenset({"paidAt", "paidByContactId", "stripePaymentIntentId"})
_RELEASES_THE_SESSION = Effect(clears=frozenset({"stripeCheckoutSessionId"}))

EFFECTS: dict[InvoiceEvent, Effect] = {
    E.CHECKOUT_STARTED: Effect(writes=frozenset({"stripeCheckoutSessionId", "stripeCustomerId"})),
    # paidAt, the payer and the PaymentIntent are written here and nowhere else: `paid` is reached once.
    E.PAYMENT_SUCCEEDED: Effect(writes=_SETTLING_PAYMENT | {"stripeCustomerId"}),
    E.PAYMENT_PROCESSING: Effect(),
    # A failed or unusable session stays "complete" at Stripe forever, so it is released: the next checkout
    # makes a new one.
    E.PAYMENT_FAILED: _RELEASES_THE_SESSION,
    E.SESSION_EXPIRED: _RELEASES_THE_SESSION,
    E.PAYMENT_NOT_APPLICABLE: _RELEASES_THE_SESSION,
    E.PAYMENT_ACCEPTED: Effect(writes=_SETTLING_PAYMENT),
    E.REFUNDED_IN_FULL: Effect(),
    E.EDITED: Effect(writes=frozenset({"amount", "dueDate", "description"})),
    E.VOIDED: Effect(),
}


def transitions_of(event: InvoiceEvent) -> tuple[Transition, ...]:
    return tuple(t for t in TRANSITIONS if t.event is event)


def guards_of(event: InvoiceEvent) -> frozenset[Guard]:
    """The guards of `event` (the same for each of its rows: the table is checked at import)."""
    return transitions_of(event)[0].guards


def sources_of(event: InvoiceEvent) -> tuple[InvoiceStatus, ...]:
    return tuple(t.source for t in transitions_of(event))


def target_of(status: str, event: InvoiceEvent) -> InvoiceStatus | None:
    """Where `event` takes an invoice in `status`; None where the table forbids it."""
    return next((t.target for t in transitions_of(event) if t.source == status), None)


# An invoice can start a checkout only in these states; "paid", "processing" and "refunded" are not payable.
PAYABLE_STATUSES = sources_of(E.CHECKOUT_STARTED)
# States staff may edit or void (never one whose money is taken or in flight).
EDITABLE_STATUSES = sources_of(E.EDITED)
# States in which the invoice's payment has been taken (and not given back through the invoice's own refund).
SETTLED_STATUSES = (S.PAID, S.REFUNDED)
# States in which the current session's payment may still succeed or fail: reconciliation asks Stripe about them.
AWAITING_OUTCOME_STATUSES = sources_of(E.PAYMENT_FAILED)


def _check(transitions: Iterable[Transition]) -> None:
    """The table's own rules: one row per (from, event), the same guards for every row of an event (one UPDATE
    serves all of them), and an effect for every event."""
    seen: set[tuple[InvoiceStatus, InvoiceEvent]] = set()
    for transition in transitions:
        key = (transition.source, transition.event)
        if key in seen:
            raise AssertionError(f"two transitions for {key}")
        seen.add(key)
        if transition.guards != guards_of(transition.event):
            raise AssertionError(f"{transition.event} has different guards in different rows")
    if set(EFFECTS) != set(InvoiceEvent) or not all(transitions_of(event) for event in InvoiceEvent):
        raise AssertionError("every event needs its rows and its effect")


_check(TRANSITIONS)
