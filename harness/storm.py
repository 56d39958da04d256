"""The webhook storm, shared by tests/test_storm.py (CI size) and scripts/storm.py (any size, prints figures).

Setup (sequential, through the real routes): invoices spread over companies with two or three contacts each;
every invoice goes through two to six checkout attempts (earlier ones expire at Stripe or are replaced by another
payer's checkout) and a final outcome at Stripe: paid by card, bank debit settled / failed / still in flight,
expired, or left open; then refunds (full, partial, partial then the rest) and disputes (created, closed) of some
of the payments.

The storm, from several processes at once: every event (a few checkout events lost; with
`drop_adjustment_deliveries`, every refund and dispute event too) plus duplicates, all in random order — refunds and
disputes often overtake their payment — with verify calls from the portal (current and stale session ids) and two
reconciliation runs racing the webhooks. Then, the events now older than reconciliation's window, the next
scheduled reconciliation run: it reads Stripe's events list for what was never delivered.

Afterwards every invoice must be in exactly the state Stripe's objects imply (harness/truth.py), with
refunds and disputes recorded as Stripe has them; each paid invoice must have gone to paid exactly once (a trigger
logs every status change: harness.transitions), by the payer its session names, with its own PaymentIntent.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, text

from google_double.tokens import FirebaseTokenIssuer
from harness.api import Api
from harness.events import client_request, webhook_request
from harness.functions import Functions
from harness.parallel import invoke_named, worker_pool
from harness.truth import StripeTruth
from harness.world import Contact, World
from stripe_double.double import StripeDouble
from stripe_double.events import event_payload, sign_payload

OUTCOMES = {  # final outcome of an invoice's last checkout -> weight
    "card": 40, "bank_debit_succeeded": 15, "bank_debit_failed": 10, "bank_debit_in_flight": 5,
    "expired": 10, "open": 10, "two_payers_card": 10,
}
LOSABLE = ("checkout.session.completed", "checkout.session.async_payment_succeeded",
           "checkout.session.async_payment_failed", "checkout.session.expired")


@dataclass
class StormReport:
    invoices: int = 0
    processes: int = 0
    unique_events: int = 0
    deliveries: int = 0
    duplicate_deliveries: int = 0
    lost_events: int = 0
    dropped_adjustment_events: int = 0  # refund and dispute events never delivered
    verify_calls: int = 0
    reconcile_runs: int = 0
    setup_seconds: float = 0.0
    storm_seconds: float = 0.0
    webhook_outcomes: Counter[str] = field(default_factory=Counter)
    recovered_events: dict[str, int] = field(default_factory=dict)  # applied by the last run from the events list
    final_statuses: Counter[str] = field(default_factory=Counter)
    # What must be zero
    lost_payments: int = 0  # Stripe holds the money, the invoice does not say paid/refunded
    doubled_payments: int = 0  # two payments for one invoice, or an invoice that went to paid twice
    misattributed_payments: int = 0  # paid by another contact than the session's, or another payment's intent
    wrong_states: list[str] = field(default_factory=list)  # any invoice whose status differs from Stripe's word
    errors: list[str] = field(default_factory=list)  # any answer that was not the expected one

    @property
    def events_per_second(self) -> float:
        return self.deliveries / self.storm_seconds if self.storm_seconds else 0.0

    def held(self) -> bool:
        return not (self.lost_payments or self.doubled_payments or self.misattributed_payments or self.wrong_states
                    or self.errors)

    def lines(self) -> list[str]:
        duplicate_share = self.duplicate_deliveries / self.deliveries if self.deliveries else 0.0
        return [
            f"invoices                 {self.invoices}",
            f"processes                {self.processes}",
            f"webhook deliveries       {self.deliveries} ({self.unique_events} events, "
            f"{self.duplicate_deliveries} duplicates = {duplicate_share:.0%}, {self.lost_events} checkout events "
            f"lost, {self.dropped_adjustment_events} refund and dispute events never delivered)",
            f"verify calls             {self.verify_calls}",
            f"reconciliation runs      {self.reconcile_runs} concurrent + 1 after",
            f"setup                    {self.setup_seconds:.1f} s (sequential checkouts through the route)",
            f"storm                    {self.storm_seconds:.1f} s, {self.events_per_second:.0f} deliveries/s",
            f"webhook outcomes         {dict(sorted(self.webhook_outcomes.items()))}",
            f"recovered from the list  {dict(sorted(self.recovered_events.items()))} (the last run, from Stripe's "
            f"events list)",
            f"final statuses           {dict(sorted(self.final_statuses.items()))}",
            f"lost payments            {self.lost_payments}",
            f"doubled payments         {self.doubled_payments}",
            f"misattributed payments   {self.misattributed_payments}",
            f"wrong states             {len(self.wrong_states)} (invoices, refunds, disputes differing from Stripe)",
            f"unexpected answers       {len(self.errors)}",
        ]


# ----- the storm --------------------------------------------------------------------------------------------


@dataclass
class _Invoice:
    id: str
    contacts: list[Contact]
    outcome: str
    sessions: list[str] = field(default_factory=list)


class Storm:
    def __init__(self, *, world: World, api: Api, stripe: StripeDouble, functions: Functions, engine: Engine,
                 issuer: FirebaseTokenIssuer, seed: int = 4) -> None:
        self.world, self.api, self.stripe, self.functions = world, api, stripe, functions
        self.engine, self.issuer = engine, issuer
        self.rng = random.Random(seed)
        self.invoices: list[_Invoice] = []
        self.report = StormReport()
        self._answers: list[tuple[str, int, Any]] = []

    def run(self, *, invoices: int, processes: int = 4, duplicate_share: float = 0.2, lost_share: float = 0.05,
            min_deliveries: int = 0, drop_adjustment_deliveries: bool = False) -> StormReport:
        report = self.report
        report.invoices, report.processes = invoices, processes
        started = time.perf_counter()
        self._set_up(invoices)
        report.setup_seconds = time.perf_counter() - started

        phase_one = [e for e in self.stripe.events if e["type"] in LOSABLE]
        lost = self.rng.sample(phase_one, round(len(phase_one) * lost_share))
        lost_ids = {e["id"] for e in lost}
        delivered = [e for e in phase_one if e["id"] not in lost_ids]
        report.lost_events = len(lost)

        with worker_pool(self.issuer.certificates(), processes) as pool:
            # Warm the workers (imports, connections) while nothing is old enough to reconcile yet.
            pool.map(invoke_named, [("reconcile", {})] * processes, chunksize=1)
            self._age_invoices()  # reconciliation runs during the storm find candidates and race the webhooks
            adjustments = self._adjust_at_stripe()
            if drop_adjustment_deliveries:
                report.dropped_adjustment_events = len(adjustments)
                adjustments = []
            events = delivered + adjustments
            duplicates = max(round(len(events) * duplicate_share / (1 - duplicate_share)),
                             min_deliveries - len(events))
            storm_started = time.perf_counter()
            self._storm(pool, events, duplicates)
            report.storm_seconds = time.perf_counter() - storm_started
        self._age_invoices()
        self.stripe.backdate_events(3600)  # the next run comes when every event is older than its window
        # The next scheduled run: what the lost events would have said (the sessions, and Stripe's events list),
        # and the refunds and disputes that overtook their payment.
        report.recovered_events = self.functions.reconcile({}, None)["recovered_events"]
        report.unique_events = len(events)
        self._check()
        return report

    # ----- setup ------------------------------------------------------------------------------------------

    def _set_up(self, count: int) -> None:
        companies = [(company, [self.world.contact(company) for _ in range(self.rng.randint(2, 3))])
                     for company in (self.world.company(f"Storm {n}") for n in range(max(1, count // 10)))]
        outcomes, weights = zip(*OUTCOMES.items(), strict=True)
        for n in range(count):
            company, contacts = companies[n % len(companies)]
            amount = self.rng.choice(["500.00", "1250.50", "99.99", "12000.00"])
            invoice = _Invoice(self.world.invoice(company, amount), contacts,
                               self.rng.choices(outcomes, weights)[0])
            self.invoices.append(invoice)
            self._attempts(invoice)

    def _checkout(self, invoice: _Invoice, payer: Contact) -> str:
        status, body = self.api.checkout(payer, invoice.id)
        assert status == 200, (status, body)
        if not invoice.sessions or invoice.sessions[-1] != body["sessionId"]:
            invoice.sessions.append(body["sessionId"])
        return str(body["sessionId"])

    def _attempts(self, invoice: _Invoice) -> None:
        """One to five earlier attempts (a payer opens checkout and leaves): each ends at Stripe (expired) or is
        replaced by another payer's checkout."""
        payer = self.rng.choice(invoice.contacts)
        session_id = self._checkout(invoice, payer)
        for _ in range(self.rng.randint(1, 5)):
            if self.rng.random() < 0.5:
                self.stripe.expire(session_id)
            else:
                payer = self.rng.choice([c for c in invoice.contacts if c != payer])
            session_id = self._checkout(invoice, payer)
        if invoice.outcome == "two_payers_card":  # someone else starts paying; the first payer's session ends
            payer = self.rng.choice([c for c in invoice.contacts if c != payer])
            session_id = self._checkout(invoice, payer)
        if invoice.outcome in ("card", "two_payers_card"):
            self.stripe.complete_session(session_id, "paid")
        elif invoice.outcome.startswith("bank_debit"):
            self.stripe.complete_session(session_id, "unpaid")
            if invoice.outcome != "bank_debit_in_flight":
                self.stripe.async_payment(session_id, succeeded=invoice.outcome == "bank_debit_succeeded")
        elif invoice.outcome == "expired":
            self.stripe.expire(session_id)

    def _adjust_at_stripe(self) -> list[dict[str, Any]]:
        """Refunds (full, partial, or partial then the rest) and disputes (created, then closed) of some succeeded
        payments. Their events are delivered among the payments' own: many overtake them."""
        first = len(self.stripe.events)
        for intent in list(self.stripe.payment_intents.values()):
            if intent["status"] != "succeeded":
                continue
            roll = self.rng.random()
            if roll < 0.12:
                self.stripe.refund(intent["id"])
            elif roll < 0.24:
                self.stripe.refund(intent["id"], self.rng.randint(1, intent["amount"] - 1))
            elif roll < 0.30:
                self.stripe.refund(intent["id"], self.rng.randint(1, intent["amount"] - 1))
                self.stripe.refund(intent["id"])
            elif roll < 0.40:
                (created,) = self.stripe.dispute(intent["id"])
                self.stripe.close_dispute(created["data"]["object"]["id"], self.rng.choice(["won", "lost"]))
        return self.stripe.events[first:]

    def _age_invoices(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(text('UPDATE "Invoice" SET "updatedAt" = now() - interval \'1 hour\''))

    # ----- the storm -----------------------------------------------------------------------------------------

    def _storm(self, pool: Any, events: list[dict[str, Any]], duplicates: int) -> None:
        deliveries = list(events) + [self.rng.choice(events) for _ in range(duplicates)] if events else []
        jobs: list[tuple[str, dict[str, Any]]] = []
        for event in deliveries:
            payload = event_payload(event)
            jobs.append(("stripe_webhook", webhook_request(payload, sign_payload(payload, self.api.webhook_secret))))
        jobs += self._verify_jobs()
        jobs += [("reconcile", {})] * 2
        self.rng.shuffle(jobs)
        self.report.deliveries += len(deliveries)
        self.report.duplicate_deliveries += len(deliveries) - len(events)
        self._answers += pool.map(invoke_named, jobs, chunksize=4)

    def _verify_jobs(self) -> list[tuple[str, dict[str, Any]]]:
        """The portal after Stripe's redirect (the current session), and a stale tab (an earlier session)."""
        jobs = []
        for invoice in self.invoices:
            caller = self.rng.choice(invoice.contacts)
            token = self.issuer.token(caller.uid)
            jobs.append(("verify_session", client_request("verify_session", token, invoiceId=invoice.id,
                                                          sessionId=invoice.sessions[-1])))
            if len(invoice.sessions) > 1 and self.rng.random() < 0.3:
                jobs.append(("verify_session", client_request("verify_session", token, invoiceId=invoice.id,
                                                              sessionId=invoice.sessions[0])))
        self.report.verify_calls += len(jobs)
        return jobs

    def _check_answers_so_far(self) -> None:
        for function_name, status, body in self._answers:
            if function_name == "stripe_webhook":
                if status != 200:
                    self.report.errors.append(f"webhook answered {status} {body}")
                self.report.webhook_outcomes[body.get("outcome", "duplicate")] += 1
            elif function_name == "verify_session" and status not in (200, 404):
                self.report.errors.append(f"verify answered {status} {body}")
            elif function_name == "reconcile":
                self.report.reconcile_runs += 1
        self._answers = []

    # ----- the verdict ------------------------------------------------------------------------------------

    def _check(self) -> None:
        self._check_answers_so_far()
        report = self.report
        if report.webhook_outcomes["duplicate"] != report.duplicate_deliveries:
            report.errors.append(f"{report.webhook_outcomes['duplicate']} deliveries answered as duplicates, "
                                 f"{report.duplicate_deliveries} were")
        with self.engine.begin() as conn:
            rows = {r["id"]: dict(r) for r in conn.execute(text('SELECT * FROM "Invoice"')).mappings()}
            transitions = [dict(r) for r in conn.execute(text('SELECT * FROM "_TransitionLog"')).mappings()]
            adjustments = {r["id"]: dict(r) for r in conn.execute(text('SELECT * FROM "PaymentAdjustment"')).mappings()}
        to_paid = Counter(t["invoiceId"] for t in transitions if t["to"] == "paid")
        paid_at = {t["invoiceId"]: t["paidAt"] for t in transitions if t["to"] == "paid"}
        for invoice in self.invoices:
            self._check_invoice(invoice, rows[invoice.id], to_paid[invoice.id], paid_at.get(invoice.id))
        self._check_adjustments(adjustments)

    def _check_invoice(self, invoice: _Invoice, row: dict[str, Any], times_paid: int, paid_at: Any) -> None:
        """The invoice as Stripe's objects say: paid once, by the payer of its session, with its own payment."""
        report, truth = self.report, StripeTruth(self.stripe, invoice.id)
        expected = truth.status()
        report.final_statuses[row["status"]] += 1
        payments = truth.payments()
        if len(payments) > 1 or times_paid > 1 or (times_paid and row["paidAt"] != paid_at):
            report.doubled_payments += 1
        if payments and row["status"] not in ("paid", "refunded"):
            report.lost_payments += 1
        if row["status"] in ("paid", "refunded") and payments and (
            row["paidByContactId"] != payments[0].payer or row["stripePaymentIntentId"] != payments[0].payment_intent
        ):
            report.misattributed_payments += 1
        if row["status"] != expected:
            report.wrong_states.append(f"{invoice.id} ({invoice.outcome}): {row['status']}, Stripe says {expected}")

    def _check_adjustments(self, adjustments: dict[str, dict[str, Any]]) -> None:
        """Refunds and disputes recorded as Stripe has them."""
        for charge in self.stripe.charges.values():
            if charge["amount_refunded"]:
                recorded = adjustments.get(charge["id"], {})
                expected_refund = (charge["amount_refunded"], "full" if charge["refunded"] else "partial")
                if (recorded.get("amountMinor"), recorded.get("status")) != expected_refund:
                    self.report.wrong_states.append(f"refund {charge['id']}: {recorded}, Stripe says {expected_refund}")
        for dispute in self.stripe.disputes.values():
            if adjustments.get(dispute["id"], {}).get("status") != dispute["status"]:
                self.report.wrong_states.append(f"dispute {dispute['id']}: not recorded as {dispute['status']}")
