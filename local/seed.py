"""Demo data: two companies, contacts in each, proposals, invoices in USD and JPY, one already paid.

The first company uses the ids that events/ and events/README.md refer to (co_demo_acme, ct_demo_alice with
Firebase uid demo-uid-alice, pr_demo_1, inv_demo_usd), so the sample events work against a seeded database:
INV-DEMO-001 starts with Alice's checkout open under the session of events/stripe_webhook.json, so that sample
(`make invoke ... ARGS=--sign`) completes it as the webhook would.

Seeding resets these rows to the state below and leaves every other row alone. It also forgets the Stripe
customers of the seeded contacts: Stripe is the local double, which starts empty each time.

A database that holds rows which are not demo rows (a portal's real database, pointed at with DATABASE_URL) gets
no demo rows unless `--insert-demo-rows` asks for them; the stack's own SQLite file is always seeded. Every NOT NULL
column is written by the seed itself, the portal's own timestamps included (Prisma's "createdAt"/"updatedAt"
have no database default, or one evaluated in the session's time zone); a NOT NULL column of the portal's own it
cannot fill is named, and nothing is written.

    python -m local.seed [--insert-demo-rows]   (`make dev` and `make demo` run it; DATABASE_URL or the running stack's)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Column, Connection, DateTime, Engine, MetaData, Table, delete, exists, inspect, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from billing.adoption import PORTAL_TABLES
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
# Staff: Firebase users with the billingAdmin custom claim and no Contact. `make dev` grants the claim with
# scripts/staff_claims.py through its Auth emulator stand-in; `make token CONTACT=staff` is their token.
STAFF_USERS = (
    SeedContact("", "demo-uid-staff", "billing@staff.example", "", "staff", "Sam Staff"),
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
    """A seeded contact by name ("alice"), id, Firebase uid or email; or the seeded staff user ("staff")."""
    for candidate in (*CONTACTS, *STAFF_USERS):
        if name in (candidate.name, candidate.id or None, candidate.firebase_uid, candidate.email):
            return candidate
    known = ", ".join(f"{c.name} ({c.id or 'staff, no contact'})" for c in (*CONTACTS, *STAFF_USERS))
    raise KeyError(f"no seeded contact {name!r}; seeded contacts: {known}")


def sample_webhook_session_id() -> str:
    """The Checkout Session that events/stripe_webhook.json completes (read from the sample: one source)."""
    event = json.loads((ROOT / "events" / "stripe_webhook.json").read_text())
    return str(json.loads(event["body"])["data"]["object"]["id"])


# Every seeded id starts with one of these (events/README.md's ids too), and so do the copies `make demo` makes.
DEMO_ID_PREFIXES = ("co_demo_", "pr_demo_", "ct_demo_", "inv_demo_")


class SeedRefused(Exception):
    """The database is not one to put demo rows in, or not one the seed can fill; nothing was written."""


def seed(engine: Engine) -> None:
    """Put the seed rows in their initial state, in one transaction."""
    with engine.begin() as conn:
        tables = _as_in_the_database(conn)
        delete_invoices(conn, [item.id for item in INVOICES])
        conn.execute(delete(stripe_customer).where(stripe_customer.c.contactId.in_([c.id for c in CONTACTS])))
        for company_id, name in COMPANIES.items():
            _upsert(conn, tables[company.name], {"id": company_id, "name": name})
        for proposal_id, company_id in PROPOSALS.items():
            _upsert(conn, tables[proposal.name], {"id": proposal_id, "companyId": company_id})
        for person in CONTACTS:
            _upsert(conn, tables[contact.name], {"id": person.id, "firebaseUid": person.firebase_uid,
                                                 "email": person.email, "contactCompanyId": person.company_id})
        insert_invoices(conn, INVOICES, tables[invoice.name])


def seed_unless_real_data(engine: Engine, *, insert_anyway: bool) -> None:
    """seed(), unless the database holds rows that are not demo rows and `insert_anyway` is False (SeedRefused,
    naming the tables)."""
    if not insert_anyway:
        with engine.connect() as conn:
            real = tables_with_rows_not_of_the_demo(conn)
        if real:
            names = ", ".join(f'"{name}"' for name in real)
            raise SeedRefused(f"the database holds rows that are not demo data (in {names}): no demo rows inserted. "
                              "To insert them beside those rows all the same: ARGS=--insert-demo-rows")
    seed(engine)


def tables_with_rows_not_of_the_demo(conn: Connection) -> list[str]:
    """The portal tables holding a row whose id is not a demo id (one such row is enough: no table is scanned
    further than its first)."""
    present = set(inspect(conn).get_table_names())
    return [table.name for table in PORTAL_TABLES if table.name in present and conn.scalar(select(exists().where(
        ~or_(*(table.c.id.startswith(prefix, autoescape=True) for prefix in DEMO_ID_PREFIXES))))) is True]


def _as_in_the_database(conn: Connection) -> dict[str, Table]:
    """The portal's tables as the seed writes them: the schema's columns, plus every NOT NULL timestamp of the
    portal's own (Prisma's "createdAt", "updatedAt"), which the seed sets to now. SeedRefused for any other NOT
    NULL column of the portal's own without a default: the seed cannot know its value."""
    inspector, tables, unfillable = inspect(conn), {}, []
    for table in PORTAL_TABLES:
        own = [c for c in inspector.get_columns(table.name) if c["name"] not in table.c and not c["nullable"]]
        timestamps = [c["name"] for c in own if isinstance(c["type"], DateTime)]
        unfillable += [f'"{table.name}"."{c["name"]}"' for c in own
                       if c["name"] not in timestamps and c.get("default") is None]
        tables[table.name] = Table(table.name, MetaData(), *(column._copy() for column in table.c),
                                   *(Column(name, DateTime(timezone=True)) for name in timestamps))
    if unfillable:
        raise SeedRefused(f"NOT NULL columns without a default that the seed cannot fill: {', '.join(unfillable)}; "
                          "nothing was written")
    return tables


def _with_timestamps(table: Table, values: dict[str, Any]) -> dict[str, Any]:
    """`values`, with now for every timestamp of the portal's own (those `_as_in_the_database` added to the
    schema's columns)."""
    now, declared = datetime.now(UTC), metadata.tables[table.name].c
    return values | {column.name: now for column in table.c if column.name not in declared}


def insert_invoices(conn: Connection, items: Iterable[SeedInvoice], table: Table | None = None) -> None:
    """Insert `items`, writing every column of the invoice itself (currency, status, both timestamps: Prisma gives
    "updatedAt" no database default)."""
    target = table if table is not None else _as_in_the_database(conn)[invoice.name]
    for item in items:
        session_id = sample_webhook_session_id() if item.checkout_by else None
        now = datetime.now(UTC)
        conn.execute(target.insert().values(_with_timestamps(target, {
            "id": item.id, "proposalId": item.proposal_id, "invoiceNumber": item.number, "amount": item.amount,
            "currency": item.currency, "description": item.description, "dueDate": item.due, "week": item.week,
            "trigger": item.trigger, "paymentScheduleId": item.payment_schedule_id, "status": item.status,
            "paidByContactId": item.paid_by, "paidAt": item.paid_at, "stripeCheckoutSessionId": session_id,
            "stripePaymentIntentId": None, "stripeCustomerId": None, "createdAt": now, "updatedAt": now,
        })))
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
    complete = _with_timestamps(table, values)
    statement = dialect_insert(table).values(**complete)
    conn.execute(statement.on_conflict_do_update(index_elements=["id"], set_=complete))


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


def require_database(url: str) -> None:
    """Exit with one line naming the `createdb` to run when `url` names a PostgreSQL database that does not exist
    (a first `make dev` against a server of one's own), instead of a driver's traceback."""
    if make_url(url).get_backend_name() != "postgresql":
        return  # SQLite makes its file when first opened
    engine = create_database_engine(url)
    try:
        with engine.connect():
            pass
    except DBAPIError as error:
        fields = error.orig.args[0] if error.orig is not None and error.orig.args else None
        if not (isinstance(fields, dict) and fields.get("C") == "3D000"):  # invalid_catalog_name
            raise
        where = make_url(url)
        raise SystemExit(f"database {where.database!r} does not exist on {where.host}:{where.port or 5432}; create "
                         f"it with: createdb -h {where.host} -p {where.port or 5432} -U {where.username or 'postgres'} "
                         f"{where.database}") from None
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Reset the demo companies, contacts and invoices.")
    parser.add_argument("--database-url", default=None, help="default: DATABASE_URL, or the running stack's")
    parser.add_argument("--insert-demo-rows", action="store_true",
                        help="insert the demo rows even into a database that holds other rows (a portal's)")
    args = parser.parse_args(argv)
    url = args.database_url or database_url_for_tools()
    require_database(url)
    engine = create_database_engine(url)
    try:
        seed_unless_real_data(engine, insert_anyway=args.insert_demo_rows or is_the_stacks_own(url))
    except SeedRefused as refused:
        print(f"seed: {refused}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print("seeded:\n" + describe())
    return 0


def is_the_stacks_own(url: str) -> bool:
    """The SQLite file `make dev` keeps in its state directory: only the local stack ever writes there."""
    from local.stack import STATE_DIR, sqlite_url

    return url == sqlite_url(STATE_DIR)


if __name__ == "__main__":
    raise SystemExit(main())
