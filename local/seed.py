"""Demo data: two companies, contacts in each, proposals, invoices in USD and JPY, one already paid.

The first company uses the ids that events/ and events/README.md refer to (co_demo_acme, ct_demo_alice with
Firebase uid demo-uid-alice, pr_demo_1, inv_demo_usd), so the sample events work against a seeded database:
INV-DEMO-001 starts with Alice's checkout open under the session of events/stripe_webhook.json, so that sample
(`make invoke ... ARGS=--sign`) completes it as the webhook would.

Seeding resets these rows to the state below and leaves every other row alone. It also forgets the Stripe
customers of the seeded contacts: Stripe is the local double, which starts empty each time.

    python -m local.seed            (`make dev` and `make demo` run it; DATABASE_URL or the running stack's)
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, Table, delete
from sqlalchemy.dialects import postgresql, sqlite

from billing.db import create_database_engine
from billing.money import to_minor_units
from billing.schema import checkout_session, company, contact, invoice, metadata, proposal, stripe_customer
from local.template import ROOT


@dataclass(frozen=True)
class SeedContact:
    id: str
    firebase_uid: str
    email: str
    company_id: str
    name: str  # what the local tools take: `make token CONTACT=alice`
    full_name: str  # what the reference portal shows (the portal's own Contact records have names)

    @property
    def password(self) -> str:
        """The password of the contact's local sign-in (the portal's Auth emulator stand-in, or an account made
        in the real Auth emulator as the README shows)."""
        return f"{self.name}-password"


@dataclass(frozen=True)
class SeedInvoice:
    id: str
    proposal_id: str
    number: str
    amount: Decimal
    currency: str
    description: str
    due: datetime
    week: int
    trigger: str
    payment_schedule_id: str
    status: str = "pending"
    paid_by: str | None = None
    paid_at: datetime | None = None
    checkout_by: str | None = None  # the contact whose checkout is open (with the sample webhook's session)


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


COMPANIES = {"co_demo_acme": "Acme Demo Ltd", "co_demo_globex": "Globex Demo KK"}
PROPOSALS = {"pr_demo_1": "co_demo_acme", "pr_demo_globex_1": "co_demo_globex"}
CONTACTS = (
    SeedContact("ct_demo_alice", "demo-uid-alice", "alice@acme.example", "co_demo_acme", "alice", "Alice Archer"),
    SeedContact("ct_demo_bob", "demo-uid-bob", "bob@acme.example", "co_demo_acme", "bob", "Bob Baker"),
    SeedContact("ct_demo_carol", "demo-uid-carol", "carol@globex.example", "co_demo_globex", "carol", "Carol Chen"),
)
INVOICES = (
    SeedInvoice("inv_demo_deposit", "pr_demo_1", "INV-DEMO-000", Decimal("300.00"), "USD", "Deposit",
                _utc("2025-12-15"), 0, "Signature", "payment-0", status="paid", paid_by="ct_demo_bob",
                paid_at=_utc("2025-12-14T16:20:00")),
    SeedInvoice("inv_demo_usd", "pr_demo_1", "INV-DEMO-001", Decimal("500.00"), "USD", "Phase 1 - Foundation",
                _utc("2026-01-15"), 1, "Kickoff", "payment-1", checkout_by="ct_demo_alice"),
    SeedInvoice("inv_demo_jpy", "pr_demo_1", "INV-DEMO-002", Decimal("150000"), "JPY", "Phase 2 - Build",
                _utc("2026-02-15"), 4, "Milestone", "payment-2"),
    SeedInvoice("inv_demo_launch", "pr_demo_1", "INV-DEMO-003", Decimal("1250.50"), "USD", "Phase 3 - Launch",
                _utc("2026-03-15"), 8, "Launch", "payment-3"),
    SeedInvoice("inv_demo_globex_jpy", "pr_demo_globex_1", "INV-DEMO-101", Decimal("98000"), "JPY",
                "Discovery workshop", _utc("2026-01-31"), 1, "Kickoff", "payment-1"),
    SeedInvoice("inv_demo_globex_usd", "pr_demo_globex_1", "INV-DEMO-102", Decimal("750.00"), "USD",
                "Prototype", _utc("2026-02-28"), 3, "Milestone", "payment-2"),
)


def find_contact(name: str) -> SeedContact:
    """A seeded contact by name ("alice"), id, Firebase uid or email."""
    for candidate in CONTACTS:
        if name in (candidate.name, candidate.id, candidate.firebase_uid, candidate.email):
            return candidate
    known = ", ".join(f"{c.name} ({c.id})" for c in CONTACTS)
    raise KeyError(f"no seeded contact {name!r}; seeded contacts: {known}")


def sample_webhook_session_id() -> str:
    """The Checkout Session that events/stripe_webhook.json completes (read from the sample: one source)."""
    event = json.loads((ROOT / "events" / "stripe_webhook.json").read_text())
    return str(json.loads(event["body"])["data"]["object"]["id"])


def seed(engine: Engine) -> None:
    """Put the seed rows in their initial state, in one transaction."""
    with engine.begin() as conn:
        delete_invoices(conn, [item.id for item in INVOICES])
        conn.execute(delete(stripe_customer).where(stripe_customer.c.contactId.in_([c.id for c in CONTACTS])))
        for company_id, name in COMPANIES.items():
            _upsert(conn, company, {"id": company_id, "name": name})
        for proposal_id, company_id in PROPOSALS.items():
            _upsert(conn, proposal, {"id": proposal_id, "companyId": company_id})
        for person in CONTACTS:
            _upsert(conn, contact, {"id": person.id, "firebaseUid": person.firebase_uid, "email": person.email,
                                    "contactCompanyId": person.company_id})
        insert_invoices(conn, INVOICES)


def insert_invoices(conn: Connection, items: Iterable[SeedInvoice]) -> None:
    for item in items:
        session_id = sample_webhook_session_id() if item.checkout_by else None
        conn.execute(invoice.insert().values(
            id=item.id, proposalId=item.proposal_id, invoiceNumber=item.number, amount=item.amount,
            currency=item.currency, description=item.description, dueDate=item.due, week=item.week,
            trigger=item.trigger, paymentScheduleId=item.payment_schedule_id, status=item.status,
            paidByContactId=item.paid_by, paidAt=item.paid_at, stripeCheckoutSessionId=session_id,
        ))
        if session_id:  # what checkout records with a session it made
            conn.execute(checkout_session.insert().values(
                id=session_id, invoiceId=item.id, contactId=item.checkout_by,
                amountMinor=to_minor_units(item.amount, item.currency), currency=item.currency,
                idempotencyKey=f"seed-{item.id}",
            ))


def delete_invoices(conn: Connection, invoice_ids: list[str]) -> None:
    """The invoices and every row that records something about them (sessions, events, refunds ...), whatever
    the table's name."""
    for table in reversed(metadata.sorted_tables):
        if table is not invoice and "invoiceId" in table.c:
            conn.execute(delete(table).where(table.c.invoiceId.in_(invoice_ids)))
    conn.execute(delete(invoice).where(invoice.c.id.in_(invoice_ids)))


def _upsert(conn: Connection, table: Table, values: dict[str, Any]) -> None:
    dialect_insert = sqlite.insert if conn.dialect.name == "sqlite" else postgresql.insert
    statement = dialect_insert(table).values(**values)
    conn.execute(statement.on_conflict_do_update(index_elements=["id"], set_=values))


def describe() -> str:
    lines = []
    for company_id, name in COMPANIES.items():
        lines.append(f"  {name} ({company_id})")
        for person in CONTACTS:
            if person.company_id == company_id:
                lines.append(f"    contact {person.id:<14} uid {person.firebase_uid:<16} {person.email}")
        proposals = [p for p, c in PROPOSALS.items() if c == company_id]
        for item in INVOICES:
            if item.proposal_id in proposals:
                paid = f" by {item.paid_by}" if item.paid_by else ""
                checkout = (f" (checkout open by {item.checkout_by}: events/stripe_webhook.json completes it)"
                            if item.checkout_by else "")
                lines.append(f"    invoice {item.id:<20} {item.number}  {item.amount:>10} {item.currency}  "
                             f"{item.status}{paid}{checkout}")
    return "\n".join(lines)


def database_url_for_tools() -> str:
    """DATABASE_URL, else the running stack's database, else the default SQLite file."""
    from local.stack import STATE_DIR, StackNotRunning, load_stack, sqlite_url

    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    try:
        return load_stack().environment["DATABASE_URL"]
    except StackNotRunning:
        return sqlite_url(STATE_DIR)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Reset the demo companies, contacts and invoices.")
    parser.add_argument("--database-url", default=None, help="default: DATABASE_URL, or the running stack's")
    args = parser.parse_args(argv)
    engine = create_database_engine(args.database_url or database_url_for_tools())
    try:
        seed(engine)
    finally:
        engine.dispose()
    print("seeded:\n" + describe())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
