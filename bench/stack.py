"""The local stack every measurement runs against, and the data it holds.

- PostgreSQL: one fresh database per variant (ours, naive), migrated with alembic and seeded identically, so both
  variants do the same work on the same rows.
- Stripe: the stateful double (the `stripe_double` package), served from this process on 127.0.0.1; the
  measured functions run in other processes and reach it over HTTP with the real SDK.
- Firebase: real RS256 ID tokens (google_double.tokens); Google's certificate endpoint is answered
  over HTTPS by google_double.https_endpoint.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import stripe
from sqlalchemy import create_engine, text

from google_double.https_endpoint import GoogleCertificateEndpoint
from google_double.tokens import FirebaseTokenIssuer
from harness.database import create_database, drop_database
from harness.world import Contact
from stripe_double.double import StripeDouble
from stripe_double.events import event_payload

PROJECT_ID = "bench-billing"
STRIPE_SECRET_KEY = "sk_test_bench_key"
STRIPE_WEBHOOK_SECRET = "whsec_bench_secret"
PORTAL_URL = "https://portal.bench.test"
INVOICES_PER_COMPANY = 50
INVOICE_AMOUNT = "500.00"  # USD: 50000 minor units in every session


@dataclass(frozen=True)
class Checkout:
    """An invoice whose Checkout Session exists at Stripe and is the invoice's current one."""

    payer: Contact
    invoice_id: str
    session_id: str


@dataclass
class Scenario:
    """What every variant's database holds (same ids everywhere) and the events Stripe would send about it."""

    list_payer: Contact
    checkout_invoices: list[tuple[Contact, str]]  # pending, no session yet: each checkout makes a new session
    first_checkouts: list[tuple[Contact, str]]  # the first checkout of a contact Stripe does not know yet
    verify_open: list[Checkout]  # session still open: verify asks Stripe, changes nothing
    verify_paid: list[Checkout]  # session paid, no webhook yet: verify fulfils
    webhook_events: list[dict[str, Any]]  # checkout.session.completed, one per invoice
    # (company, proposal, payer, invoices) of every company above
    companies: list[tuple[str, str, Contact, list[str]]] = field(default_factory=list)
    customers: dict[str, str] = field(default_factory=dict)  # contact id -> Stripe customer id


class LocalStack:
    def __init__(self) -> None:
        self.issuer = FirebaseTokenIssuer(PROJECT_ID)
        self.google = GoogleCertificateEndpoint(self.issuer.certificates())
        self.stripe_double = StripeDouble()
        self.databases: dict[str, str] = {}
        self._tokens: dict[str, str] = {}

    def start(self) -> LocalStack:
        self.google.start()
        self.stripe_double.start()
        return self

    def stop(self) -> None:
        for url in self.databases.values():
            drop_database(url)
        self.stripe_double.stop()
        self.google.stop()

    def token(self, uid: str) -> str:
        """A valid ID token (one per user for the run, as a signed-in portal tab would reuse it)."""
        if uid not in self._tokens:
            self._tokens[uid] = self.issuer.token(uid)
        return self._tokens[uid]

    def environment(self, database: str, url: str | None = None) -> dict[str, str]:
        """The settings every function reads, pointing at this stack (and at `url`, a database of another server,
        when given); no secret is ever printed."""
        return {
            "DATABASE_URL": url or self.databases[database],
            "FIREBASE_PROJECT_ID": PROJECT_ID,
            "STRIPE_SECRET_KEY": STRIPE_SECRET_KEY,
            "STRIPE_API_BASE": self.stripe_double.url,
            "STRIPE_WEBHOOK_SECRET": STRIPE_WEBHOOK_SECRET,
            "STRIPE_MODE": "test",
            "PORTAL_URL": PORTAL_URL,
            "POWERTOOLS_SERVICE_NAME": "billing",
            "POWERTOOLS_METRICS_NAMESPACE": "ClientPortalBench",
            "LOG_LEVEL": "INFO",
            "TZ": "UTC",
            "LANG": "C.UTF-8",
            **self.google.environment(),
        }

    # ----- data ---------------------------------------------------------------------------

    def build_scenario(self, *, checkouts: int, webhook_events: int, verify_paid: int = 10, first_payers: int = 10
                       ) -> Scenario:
        """Create the Stripe side (customers, sessions, completed sessions) once; `seed` writes the rows."""
        client = stripe.StripeClient(STRIPE_SECRET_KEY, base_addresses={"api": self.stripe_double.url})
        companies: list[tuple[str, str, Contact, list[str]]] = []

        def add_companies(group: str, invoices: int) -> list[tuple[Contact, str]]:
            rows = []
            for n in range(max(1, math.ceil(invoices / INVOICES_PER_COMPANY))):
                company, proposal = f"co_{group}_{n}", f"pr_{group}_{n}"
                payer = Contact(f"ct_{group}_{n}", f"uid-{group}-{n}", company)
                ids = [f"inv_{group}_{n}_{i:03d}" for i in range(INVOICES_PER_COMPANY)]
                companies.append((company, proposal, payer, ids))
                rows += [(payer, invoice_id) for invoice_id in ids]
            return rows[:invoices] if invoices else rows

        list_payer = add_companies("list", INVOICES_PER_COMPANY)[0][0]
        checkout_invoices = add_companies("checkout", checkouts)
        verify_open_rows = add_companies("verify", INVOICES_PER_COMPANY)
        verify_paid_rows = add_companies("verifypaid", verify_paid)
        webhook_rows = add_companies("webhook", webhook_events)
        first_checkouts = [add_companies(f"firstpay{n}", 1)[0] for n in range(first_payers)]
        new_payers = {payer.id for payer, _ in first_checkouts}

        customers = {
            payer.id: client.v1.customers.create(params={"metadata": {"contactId": payer.id}}).id
            for _, _, payer, _ in companies if payer.id not in new_payers
        }

        def open_session(row: tuple[Contact, str]) -> Checkout:
            payer, invoice_id = row
            metadata = {"invoiceId": invoice_id, "invoiceNumber": invoice_id.upper(), "proposalId": "",
                        "contactId": payer.id}
            session = client.v1.checkout.sessions.create(params={
                "ui_mode": "embedded_page", "mode": "payment", "customer": customers[payer.id],
                "line_items": [{"price_data": {"currency": "usd", "unit_amount": 50000,
                                               "product_data": {"name": f"Invoice {invoice_id}"}}, "quantity": 1}],
                "return_url": f"{PORTAL_URL}/dashboard?session_id={{CHECKOUT_SESSION_ID}}",
                "metadata": metadata, "payment_intent_data": {"metadata": metadata},
            })
            return Checkout(payer, invoice_id, session.id)

        with ThreadPoolExecutor(4) as pool:
            verify_open = list(pool.map(open_session, verify_open_rows))
            verify_paid_sessions = list(pool.map(open_session, verify_paid_rows))
            webhook_sessions = list(pool.map(open_session, webhook_rows))
        for checkout in verify_paid_sessions:
            self.stripe_double.complete_session(checkout.session_id)
        events = [self.stripe_double.complete_session(checkout.session_id)[0] for checkout in webhook_sessions]
        return Scenario(list_payer, checkout_invoices, first_checkouts, verify_open, verify_paid_sessions, events,
                        companies, customers)

    def seed(self, database: str, scenario: Scenario, url: str | None = None) -> None:
        """A fresh, migrated database holding the scenario's rows, written the way the portal writes them (`url`:
        one migrated already, on another server, which its owner drops)."""
        if url is None:
            url = create_database(f"bench_{database}_{os.getpid()}")
            self.databases[database] = url
        sessions = {c.invoice_id: c.session_id
                    for c in [*scenario.verify_open, *scenario.verify_paid]}
        sessions |= {e["data"]["object"]["metadata"]["invoiceId"]: e["data"]["object"]["id"]
                     for e in scenario.webhook_events}
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text('INSERT INTO "Company" (id, name) VALUES (:id, :id)'),
                         [{"id": company} for company, _, _, _ in scenario.companies])
            conn.execute(text('INSERT INTO "Contact" (id, "firebaseUid", email, "contactCompanyId") '
                              "VALUES (:id, :uid, :email, :company)"),
                         [{"id": p.id, "uid": p.uid, "email": f"{p.id}@bench.test",
                           "company": p.company_id} for _, _, p, _ in scenario.companies])
            conn.execute(text('INSERT INTO "StripeCustomer" ("contactId", "stripeCustomerId") VALUES (:c, :s)'),
                         [{"c": contact, "s": customer} for contact, customer in scenario.customers.items()])
            conn.execute(text('INSERT INTO "Proposal" (id, "companyId") VALUES (:id, :company)'),
                         [{"id": proposal, "company": company} for company, proposal, _, _ in scenario.companies])
            rows = []
            for _, proposal, _, invoices in scenario.companies:
                for i, invoice_id in enumerate(invoices):
                    rows.append({
                        "id": invoice_id, "proposal": proposal, "number": invoice_id.upper(),
                        "amount": INVOICE_AMOUNT, "description": f"Phase {i + 1}",
                        # a tenth without a due date: the listing orders them last
                        "due": None if i % 10 == 9 else f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}T00:00:00Z",
                        "session": sessions.get(invoice_id), "week": i, "trigger": "milestone",
                    })
            conn.execute(text(
                'INSERT INTO "Invoice" (id, "proposalId", "invoiceNumber", amount, currency, description, "dueDate", '
                '"stripeCheckoutSessionId", week, trigger) VALUES (:id, :proposal, :number, CAST(:amount AS numeric), '
                "'USD', :description, CAST(:due AS timestamptz), :session, :week, :trigger)"), rows)
        engine.dispose()


def client_event(stack: LocalStack, function: str, payer: Contact, **path: str) -> dict[str, Any]:
    from harness.events import client_request

    return client_request(function, stack.token(payer.uid), **path)


def webhook_body(event: dict[str, Any]) -> str:
    return event_payload(event).decode()


@contextmanager
def running_stack() -> Iterator[LocalStack]:
    stack = LocalStack().start()
    try:
        yield stack
    finally:
        stack.stop()


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
