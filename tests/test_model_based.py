"""Model-based test: random interleavings of checkouts, payments, expiries, refunds, disputes, webhook deliveries
(reordered, duplicated, delayed, lost), verify calls and reconciliation runs, checked after every step.

The model is what Stripe knows (the double's sessions, PaymentIntents, charges and disputes), not a second copy
of our state machine. After every step the database may know less than Stripe (events still in flight) but never
something Stripe does not say: an invoice is paid only if Stripe holds its one succeeded payment, by the payer the
session names, and a paid invoice never changes payer or `paidAt`. Once every event has been delivered (lost
ones excepted) and reconciliation has run, the database must say exactly what Stripe says.

CI runs a bounded search; a larger one: `MODEL_EXAMPLES=500 MODEL_STEPS=50 pytest tests/test_model_based.py`.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from sqlalchemy import Engine, text

from harness.api import Api
from harness.database import truncate_all
from harness.functions import Functions
from harness.truth import StripeTruth
from harness.world import World
from stripe_double.double import StripeDouble

EXAMPLES = int(os.environ.get("MODEL_EXAMPLES", "40"))
# CI replays the same examples on every run (derandomized), so that a rare, already reported gap cannot make the
# suite flaky; any explicit MODEL_EXAMPLES explores new random ones.
EXPLORE = "MODEL_EXAMPLES" in os.environ
STEPS = int(os.environ.get("MODEL_STEPS", "25"))

# Any delivery can be lost: reconciliation asks Stripe about checkout sessions and reads Stripe's events list for
# every type the webhook handles (refunds and disputes included).
WEBHOOK_OUTCOMES = frozenset({
    "paid", "processing", "failed", "session_released", "unchanged", "not_finished", "session_mismatch",
    "refunded", "partially_refunded", "dispute_recorded", "ignored",
    "payment_method_recorded",  # charge.succeeded: how the payment was made (billing/payment_methods.py)
    # a refund or dispute that overtook its payment: reconciliation applies it once the payment is recorded
    "awaiting_payment", "unknown_invoice",
})


@dataclass(frozen=True)
class Environment:
    world: World
    api: Api
    stripe: StripeDouble
    functions: Functions
    engine: Engine


# What the runs did, over all examples (printed at the end: docs/RELIABILITY.md quotes it).
TALLY: Counter[str] = Counter()


class BillingMachine(RuleBasedStateMachine):
    def __init__(self, env: Environment) -> None:
        super().__init__()
        TALLY["examples"] += 1
        self.env = env
        truncate_all(env.engine)
        env.stripe.reset()
        company = env.world.company()
        self.contacts = [env.world.contact(company), env.world.contact(company)]
        # Two invoices of one company, in a two-decimal and a zero-decimal currency: an event for one must never
        # touch the other.
        self.invoices = [env.world.invoice(company, "500.00", "USD"), env.world.invoice(company, "1500", "JPY")]
        self.events_seen = 0
        self.pending: list[dict[str, Any]] = []  # emitted by Stripe, not yet delivered
        self.delivered: list[dict[str, Any]] = []
        self.lost: list[dict[str, Any]] = []
        self.first_payment: dict[str, tuple[datetime, str, str]] = {}  # invoice -> (paidAt, payer, intent)
        self.refunded: set[str] = set()
        # Events Stripe's list held when reconciliation last read it: their first delivery may find them applied.
        self.listed_by_reconciliation: set[str] = set()

    # ----- reading state -------------------------------------------------------------------

    def row(self, invoice_id: str) -> dict[str, Any]:
        with self.env.engine.begin() as conn:
            return dict(conn.execute(text('SELECT * FROM "Invoice" WHERE id = :id'), {"id": invoice_id})
                        .mappings().one())

    def rows(self) -> dict[str, dict[str, Any]]:
        return {invoice_id: self.row(invoice_id) for invoice_id in self.invoices}

    def adjustments(self) -> dict[str, dict[str, Any]]:
        with self.env.engine.begin() as conn:
            return {r["id"]: dict(r) for r in conn.execute(text('SELECT * FROM "PaymentAdjustment"')).mappings()}

    def truth(self, invoice_id: str) -> StripeTruth:
        return StripeTruth(self.env.stripe, invoice_id)

    def collect_events(self) -> None:
        """Whatever Stripe emitted since the last step (customer actions, and expiries our checkout asked for)."""
        new = self.env.stripe.events[self.events_seen:]
        self.events_seen += len(new)
        self.pending.extend(new)

    # Choices are offered in creation order, never sorted by (random) id: hypothesis replays a choice by its
    # index, so the same index must mean the same object in every run.
    def sessions_where(self, predicate) -> list[str]:
        return [s["id"] for s in self.env.stripe.sessions.values() if predicate(s)]

    def succeeded_intents(self, predicate=lambda intent, charge: True) -> list[str]:
        stripe = self.env.stripe
        return [
            intent["id"] for intent in stripe.payment_intents.values()
            if intent["status"] == "succeeded" and predicate(intent, stripe.charges[intent["latest_charge"]])
        ]

    def open_dispute_charges(self) -> set[str]:
        return {d["charge"] for d in self.env.stripe.disputes.values()
                if d["status"] in ("warning_needs_response", "warning_under_review", "needs_response", "under_review")}

    def refundable_intents(self) -> list[str]:
        open_disputes = self.open_dispute_charges()
        return self.succeeded_intents(
            lambda intent, charge: charge["amount_refunded"] < charge["amount"] and charge["id"] not in open_disputes
        )

    def disputable_intents(self) -> list[str]:
        return self.succeeded_intents(lambda intent, charge: not charge["disputed"])

    def age_invoices(self) -> None:
        """Put every invoice past the reconciliation window (RECONCILE_AFTER_MINUTES=30 in the tests)."""
        with self.env.engine.begin() as conn:
            conn.execute(text('UPDATE "Invoice" SET "updatedAt" = now() - interval \'1 hour\''))

    def deliver(self, event: dict[str, Any]) -> None:
        status, body = self.env.api.deliver(event)
        TALLY["deliveries"] += 1
        assert status == 200, (status, body)
        assert body.get("received") is True, body
        if "duplicate" in body:  # only an event reconciliation found in Stripe's list first
            assert event["id"] in self.listed_by_reconciliation, body
            TALLY["deliveries after reconciliation applied the event"] += 1
        else:
            assert body["outcome"] in WEBHOOK_OUTCOMES, body
        self.delivered.append(event)

    # ----- the portal ---------------------------------------------------------------------

    @rule(invoice=st.integers(0, 1), payer=st.integers(0, 1))
    def checkout(self, invoice: int, payer: int) -> None:
        invoice_id, contact = self.invoices[invoice], self.contacts[payer]
        status, body = self.env.api.checkout(contact, invoice_id)
        TALLY["checkouts"] += 1
        self.collect_events()
        after = self.row(invoice_id)
        if status == 200:
            session = self.env.stripe.sessions[body["sessionId"]]
            assert session["status"] == "open"
            assert session["metadata"]["contactId"] == contact.id
            assert session["metadata"]["invoiceId"] == invoice_id
            assert body["clientSecret"] == session["client_secret"]
            assert after["stripeCheckoutSessionId"] == body["sessionId"]
            assert after["status"] in ("pending", "failed")
        else:
            # Not payable, or the previous session turned out complete: never a second way to pay.
            assert status == 409, (status, body)
            assert after["status"] in ("processing", "paid", "refunded")

    @precondition(lambda self: self.env.stripe.sessions)
    @rule(invoice=st.integers(0, 1), caller=st.integers(0, 1), data=st.data())
    def verify(self, invoice: int, caller: int, data: st.DataObject) -> None:
        invoice_id = self.invoices[invoice]
        before = self.row(invoice_id)
        candidates = [*self.env.stripe.sessions, "cs_test_unknownSession0001"]
        session_id = data.draw(st.sampled_from(candidates), label="session")
        status, body = self.env.api.verify(self.contacts[caller], invoice_id, session_id)
        TALLY["verify calls"] += 1
        self.collect_events()
        after = self.row(invoice_id)
        if session_id != before["stripeCheckoutSessionId"]:
            # Only the invoice's own current session can be verified: a paid session of another invoice (or an
            # old one) must not mark this one paid.
            assert (status, body) == (404, {"error": "checkout session not found for this invoice"})
            assert after == before
            return
        assert status == 200, (status, body)
        session = self.env.stripe.sessions[session_id]
        if session["status"] == "complete" and session["payment_status"] == "paid":
            # Verify exists for exactly this case: the payment went through and the webhook is late.
            assert after["status"] in ("paid", "refunded"), (before["status"], after["status"])
        assert body == {"success": after["status"] == "paid", "status": after["status"],
                        "contactId": after["paidByContactId"], "amount": body["amount"]}

    # ----- the customer, the bank and the merchant at Stripe --------------------------------

    @precondition(lambda self: self.sessions_where(lambda s: s["status"] == "open"))
    @rule(data=st.data(), method=st.sampled_from(["card", "bank_debit"]))
    def pay(self, data: st.DataObject, method: str) -> None:
        session_id = data.draw(st.sampled_from(self.sessions_where(lambda s: s["status"] == "open")))
        self.env.stripe.complete_session(session_id, "paid" if method == "card" else "unpaid")
        self.collect_events()

    @precondition(lambda self: self.sessions_where(lambda s: s["status"] == "complete"
                                                   and s["payment_status"] == "unpaid"))
    @rule(data=st.data(), succeeded=st.booleans())
    def bank_debit_settles(self, data: st.DataObject, succeeded: bool) -> None:
        stripe = self.env.stripe
        in_flight = self.sessions_where(
            lambda s: s["status"] == "complete" and s["payment_status"] == "unpaid"
            and stripe.payment_intents[s["payment_intent"]]["status"] == "processing"
        )
        if in_flight:
            stripe.async_payment(data.draw(st.sampled_from(in_flight)), succeeded=succeeded)
            self.collect_events()

    @precondition(lambda self: self.sessions_where(lambda s: s["status"] == "open"))
    @rule(data=st.data())
    def session_expires(self, data: st.DataObject) -> None:
        self.env.stripe.expire(data.draw(st.sampled_from(self.sessions_where(lambda s: s["status"] == "open"))))
        self.collect_events()

    @precondition(lambda self: self.refundable_intents())
    @rule(data=st.data(), full=st.booleans())
    def refund(self, data: st.DataObject, full: bool) -> None:
        intent_id = data.draw(st.sampled_from(self.refundable_intents()))
        charge = self.env.stripe.charges[self.env.stripe.payment_intents[intent_id]["latest_charge"]]
        remaining = charge["amount"] - charge["amount_refunded"]
        amount = remaining if full or remaining == 1 else data.draw(st.integers(1, remaining - 1), label="amount")
        self.env.stripe.refund(intent_id, amount)
        self.collect_events()

    @precondition(lambda self: self.disputable_intents())
    @rule(data=st.data())
    def dispute(self, data: st.DataObject) -> None:
        intent_id = data.draw(st.sampled_from(self.disputable_intents()))
        self.env.stripe.dispute(intent_id)
        self.collect_events()

    @precondition(lambda self: self.open_dispute_charges())
    @rule(data=st.data(), status=st.sampled_from(["won", "lost"]))
    def dispute_closes(self, data: st.DataObject, status: str) -> None:
        open_disputes = [d["id"] for d in self.env.stripe.disputes.values() if d["status"] == "needs_response"]
        self.env.stripe.close_dispute(data.draw(st.sampled_from(open_disputes)), status=status)
        self.collect_events()

    # ----- webhook deliveries ---------------------------------------------------------------

    @precondition(lambda self: self.pending)
    @rule(data=st.data())
    def deliver_one(self, data: st.DataObject) -> None:
        """Any event still in flight, not necessarily the oldest: Stripe does not keep order."""
        event = self.pending.pop(data.draw(st.integers(0, len(self.pending) - 1), label="pending index"))
        self.deliver(event)

    @precondition(lambda self: self.delivered)
    @rule(data=st.data())
    def redeliver(self, data: st.DataObject) -> None:
        event = data.draw(st.sampled_from(self.delivered), label="delivered event")
        TALLY["deliveries"] += 1
        TALLY["duplicate deliveries"] += 1
        assert self.env.api.deliver(event) == (200, {"received": True, "duplicate": True})

    @precondition(lambda self: self.pending)
    @rule(data=st.data())
    def lose_delivery(self, data: st.DataObject) -> None:
        event = data.draw(st.sampled_from(self.pending), label="lost event")
        self.pending.remove(event)
        self.lost.append(event)
        TALLY["lost events"] += 1

    # ----- reconciliation -----------------------------------------------------------------------

    def reconcilable(self) -> bool:
        """A checkout open or processing: otherwise a reconciliation run has nothing to look at."""
        return any(r["stripeCheckoutSessionId"] and r["status"] in ("pending", "processing", "failed")
                   for r in self.rows().values())

    @precondition(lambda self: self.reconcilable())
    @rule()
    def reconcile(self) -> None:
        """Stripe's word on each invoice's current session is applied, and nothing Stripe did not say; a full
        refund that overtook its payment is applied once the payment is recorded."""
        self.age_invoices()
        self.env.stripe.backdate_events(3600)  # and events, past the window left to the webhook
        before = self.rows()
        self.listed_by_reconciliation |= {e["id"] for e in self.env.stripe.events}
        self.env.functions.reconcile({}, None)
        TALLY["reconciliation runs"] += 1
        self.collect_events()
        after = self.rows()
        for invoice_id, row in before.items():
            payments = self.truth(invoice_id).payments()
            refunded_at_stripe = bool(payments) and payments[0].charge["refunded"]
            session_id = row["stripeCheckoutSessionId"]
            if session_id is None or row["status"] not in ("pending", "processing", "failed"):
                allowed = {row["status"], "refunded"} if row["status"] == "paid" and refunded_at_stripe else {
                    row["status"]}
                assert after[invoice_id]["status"] in allowed, (invoice_id, row["status"], after[invoice_id])
                continue
            session = self.env.stripe.sessions[session_id]
            expected = row["status"]
            intent = self.truth(invoice_id).intent_status(session)
            if session["status"] == "complete" and intent == "succeeded":
                expected = "paid"
            elif session["status"] == "complete" and intent == "processing" and row["status"] == "pending":
                expected = "processing"
            elif session["status"] == "complete" and intent == "requires_payment_method":
                expected = "failed"
            allowed = {expected, "refunded"} if expected == "paid" and refunded_at_stripe else {expected}
            assert after[invoice_id]["status"] in allowed, (invoice_id, row["status"], session["status"], intent)
            if session["status"] == "expired" and row["status"] == "pending":
                assert after[invoice_id]["stripeCheckoutSessionId"] is None

    @precondition(lambda self: self.pending)
    @rule(data=st.data())
    def everything_arrives(self, data: st.DataObject) -> None:
        """Deliver every event still in flight (in a random order) and reconcile: then the database must say
        exactly what Stripe says."""
        order = data.draw(st.permutations(range(len(self.pending))), label="delivery order")
        self.settle([self.pending[i] for i in order])

    def settle(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            self.pending.remove(event)
            self.deliver(event)
        self.reconcile()
        self.assert_converged()

    def teardown(self) -> None:
        # The worst order for what is left: newest first.
        self.settle(list(reversed(self.pending)))

    def assert_converged(self) -> None:
        TALLY["convergence checks"] += 1
        adjustments = self.adjustments()
        for invoice_id, row in self.rows().items():
            truth = self.truth(invoice_id)
            assert row["status"] == truth.status(), (invoice_id, row["status"], truth.status(), self.history())
            for payment in truth.payments():
                charge = payment.charge
                if charge["amount_refunded"]:
                    recorded = adjustments[charge["id"]]
                    assert (recorded["amountMinor"], recorded["status"]) == (
                        charge["amount_refunded"], "full" if charge["refunded"] else "partial")
            open_sessions = truth.open_sessions()
            if row["status"] in ("pending", "failed") and not open_sessions and row["stripeCheckoutSessionId"]:
                # A session left attached must be one that can no longer take money.
                assert self.env.stripe.sessions[row["stripeCheckoutSessionId"]]["status"] == "expired"
        for dispute in self.env.stripe.disputes.values():
            assert adjustments[dispute["id"]]["status"] == dispute["status"]

    def history(self) -> list[str]:
        return [f"{e['type']}:{e['data']['object']['id']}" for e in self.delivered]

    # ----- invariants, after every step -------------------------------------------------------

    @invariant()
    def nothing_doubled_lost_or_misattributed(self) -> None:
        TALLY["invariant checks"] += 1
        rows = self.rows()
        intents = [r["stripePaymentIntentId"] for r in rows.values() if r["stripePaymentIntentId"]]
        assert len(intents) == len(set(intents)), "one payment recorded on two invoices"
        for invoice_id, row in rows.items():
            truth = self.truth(invoice_id)
            # Never two sessions that could take money for one invoice, never two payments.
            assert len(truth.open_sessions()) <= 1
            assert len(truth.money_in_flight_or_taken()) <= 1
            # A customer paying the open session must be recognised: it is the invoice's current session.
            for session in truth.open_sessions():
                assert row["stripeCheckoutSessionId"] == session["id"]
            if row["stripeCheckoutSessionId"]:
                assert self.env.stripe.sessions[row["stripeCheckoutSessionId"]]["metadata"]["invoiceId"] == invoice_id
            self.check_status_is_backed_by_stripe(invoice_id, row, truth)

    def check_status_is_backed_by_stripe(self, invoice_id: str, row: dict[str, Any], truth: StripeTruth) -> None:
        status = row["status"]
        if invoice_id in self.first_payment:
            assert status in ("paid", "refunded"), f"{invoice_id} went from paid back to {status}"
            assert (row["paidAt"], row["paidByContactId"], row["stripePaymentIntentId"]) == (
                self.first_payment[invoice_id]), "payment fields rewritten"
        if invoice_id in self.refunded:
            assert status == "refunded"
        if status in ("paid", "refunded"):
            (payment,) = truth.payments()
            assert row["paidByContactId"] == payment.payer, "paid by the wrong contact"
            assert row["stripePaymentIntentId"] == payment.payment_intent
            assert row["paidAt"] is not None
            self.first_payment.setdefault(invoice_id, (row["paidAt"], row["paidByContactId"],
                                                       row["stripePaymentIntentId"]))
        else:
            assert row["paidAt"] is None and row["paidByContactId"] is None
        if status == "refunded":
            (payment,) = truth.payments()
            assert payment.charge["refunded"], "refunded without a full refund at Stripe"
            self.refunded.add(invoice_id)
        if status == "processing":
            assert any(s["status"] == "complete" for s in truth.sessions), "processing without a completed session"
        if status == "failed":
            assert any(truth.intent_status(s) == "requires_payment_method" for s in truth.sessions)

    @invariant()
    def adjustments_never_exceed_stripe(self) -> None:
        stripe = self.env.stripe
        for adjustment_id, adjustment in self.adjustments().items():
            if adjustment["kind"] == "refund":
                charge = stripe.charges[adjustment_id]
                assert adjustment["amountMinor"] <= charge["amount_refunded"]
                assert adjustment["invoiceId"] == charge["metadata"]["invoiceId"]
            else:
                dispute = stripe.disputes[adjustment_id]
                assert adjustment["invoiceId"] == stripe.charges[dispute["charge"]]["metadata"]["invoiceId"]


@pytest.mark.model_based
def test_random_interleavings_hold_against_the_model(world, api, stripe_double, functions, db_engine) -> None:
    env = Environment(world, api, stripe_double, functions, db_engine)
    run_state_machine_as_test(
        lambda: BillingMachine(env),  # type: ignore[arg-type]  # any factory of machines will do
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
            database=None,
            derandomize=not EXPLORE,
        ),
    )
    print(f"\nmodel-based run: {dict(TALLY)}")


# ----- what the model found, as deterministic examples ---------------------------------------------------------


def test_refund_events_out_of_order_keep_the_full_refund_full(world, api, stripe_double, db) -> None:
    """Found by the model: a partial refund's event delivered after the full refund's relabelled it partial."""
    acme = world.company()
    alice = world.contact(acme)
    invoice_id = world.invoice(acme, "500.00")
    _, created = api.checkout(alice, invoice_id)
    (completed,) = stripe_double.complete_session(created["sessionId"])
    api.deliver(completed)
    payment_intent = completed["data"]["object"]["payment_intent"]
    (partial,) = stripe_double.refund(payment_intent, amount=1_044)
    (rest,) = stripe_double.refund(payment_intent)

    api.deliver(rest)
    api.deliver(partial)

    assert db('SELECT "amountMinor", status FROM "PaymentAdjustment"') == [{"amountMinor": 50_000, "status": "full"}]
    assert db('SELECT status FROM "Invoice" WHERE id = :id', id=invoice_id)[0]["status"] == "refunded"
