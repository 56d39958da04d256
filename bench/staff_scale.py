"""The staff side at scale (part of `make bench`; alone: `make bench-staff`): 100,000 invoices over 2,000 companies
(one of them with 5,000) in a PostgreSQL database of its own, migrated to head, analysed. Measured in this process
through the layer's own functions (what the handlers call after the token check): staff listing pages (first page,
filtered by status, by company, by number prefix, the next page by cursor), who-paid lookups by invoice number,
and the client listing of the company with 5,000 invoices. Each: SQL statements per request, p50 and p99 over
the runs, and the query plans of its statements (EXPLAIN), which must not scan "Invoice" sequentially.
Writes docs/STAFF_SCALE.md.

    PYTHONPATH=layers/common:. .venv/bin/python -m bench.staff_scale [--runs 200]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text

from harness.database import create_database, drop_database

ROOT = Path(__file__).resolve().parents[1]
COMPANIES = 2_000
INVOICES = 100_000
BIG_COMPANY_INVOICES = 5_000
YEAR = 2026

# The data, made by PostgreSQL itself: company 1 has 5,000 invoices, the others share the rest; 60 % paid (each
# with its checkout session and payment record), the rest pending, failed or void; created over two years.
POPULATE = f"""
INSERT INTO "Company" (id, name) SELECT 'co_' || n, 'Company ' || n FROM generate_series(1, {COMPANIES}) n;
INSERT INTO "Proposal" (id, "companyId") SELECT 'pr_' || n, 'co_' || n FROM generate_series(1, {COMPANIES}) n;
INSERT INTO "Contact" (id, "firebaseUid", email, "contactCompanyId")
  SELECT 'ct_' || n, 'uid-' || n, 'contact' || n || '@example.test', 'co_' || n FROM generate_series(1, {COMPANIES}) n;
INSERT INTO "Invoice" (id, "proposalId", "invoiceNumber", amount, currency, description, status, "paymentScheduleId",
                       "dueDate", "createdAt", "updatedAt", "paidAt", "paidByContactId", "stripePaymentIntentId",
                       "stripeCheckoutSessionId")
  SELECT 'inv_' || n,
         'pr_' || (CASE WHEN n <= {BIG_COMPANY_INVOICES} THEN 1
                        ELSE 2 + (n % ({COMPANIES} - 1)) END),
         'INV-' || (2025 + n % 2) || '-' || lpad(n::text, 6, '0'),
         100 + (n % 900), 'USD', 'Phase ' || (n % 7), s.status, 'payment-' || n,
         timestamptz '2025-01-01' + (n % 730) * interval '1 day',
         timestamptz '2025-01-01' + n * interval '10 minutes',
         timestamptz '2025-01-01' + n * interval '10 minutes',
         CASE WHEN s.status = 'paid' THEN timestamptz '2025-01-02' + n * interval '10 minutes' END,
         CASE WHEN s.status = 'paid' THEN 'ct_' || (CASE WHEN n <= {BIG_COMPANY_INVOICES} THEN 1
                                                       ELSE 2 + (n % ({COMPANIES} - 1)) END) END,
         CASE WHEN s.status = 'paid' THEN 'pi_' || n END,
         CASE WHEN s.status = 'paid' THEN 'cs_test_' || n END
  FROM generate_series(1, {INVOICES}) n,
       LATERAL (SELECT CASE WHEN n % 10 < 6 THEN 'paid' WHEN n % 10 < 9 THEN 'pending'
                            WHEN n % 20 = 9 THEN 'failed' ELSE 'void' END AS status) s;
INSERT INTO "CheckoutSession" (id, "invoiceId", "contactId", "amountMinor", currency, "idempotencyKey", "createdAt")
  SELECT "stripeCheckoutSessionId", id, "paidByContactId", (amount * 100)::bigint, 'USD', 'key-' || id, "createdAt"
  FROM "Invoice" WHERE status = 'paid';
INSERT INTO "PaymentRecord" ("paymentIntentId", "invoiceId", "chargeId", "methodType", "cardBrand", last4,
                             "receiptUrl")
  SELECT "stripePaymentIntentId", id, 'ch_' || id, 'card', 'visa', '4242',
         'https://pay.stripe.com/receipts/payment/' || id
  FROM "Invoice" WHERE status = 'paid';
ANALYZE;
"""


class Statements:
    """Every statement the layer's engine sends, with its parameters (for EXPLAIN)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []

    def listen(self, engine: Any) -> None:
        @event.listens_for(engine, "before_cursor_execute")
        def _record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
            self.seen.append((statement, parameters))


def measure(name: str, call: Callable[[], Any], statements: Statements, runs: int) -> dict[str, Any]:
    call()  # warm: the connection, the statement caches
    timings, counts = [], []
    for _ in range(runs):
        before = len(statements.seen)
        began = time.perf_counter()
        call()
        timings.append((time.perf_counter() - began) * 1000)
        counts.append(len(statements.seen) - before)
    last = statements.seen[-counts[-1]:]
    ordered = sorted(timings)
    return {"name": name, "statements": max(counts), "p50_ms": statistics.median(ordered),
            "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], "sql": last}


def plans(url: str, sql: list[tuple[str, Any]]) -> list[dict[str, Any]]:
    """EXPLAIN of each statement (BEGIN/COMMIT aside): its plan's node types and indexes, and whether "Invoice" is
    scanned sequentially."""
    engine = create_engine(url)
    found = []
    try:
        with engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            assert raw is not None
            for statement, parameters in sql:
                if not statement.lstrip().upper().startswith("SELECT"):
                    continue
                cursor = raw.cursor()
                cursor.execute("EXPLAIN (FORMAT JSON) " + statement, parameters)
                row = cursor.fetchone()
                assert row is not None
                plan = row[0]
                plan = json.loads(plan) if isinstance(plan, str) else plan
                nodes = list(_nodes(plan[0]["Plan"]))
                found.append({
                    "statement": " ".join(statement.split())[:160],
                    "nodes": [f'{n["Node Type"]}' + (f' on "{n["Relation Name"]}"' if "Relation Name" in n else "")
                              + (f' using {n["Index Name"]}' if "Index Name" in n else "") for n in nodes],
                    "seq_scan_of_invoice": any(n["Node Type"] == "Seq Scan" and n.get("Relation Name") == "Invoice"
                                               for n in nodes),
                })
            raw.rollback()
    finally:
        engine.dispose()
    return found


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)


def run(runs: int) -> dict[str, Any]:
    url = create_database(f"bench_staff_scale_{uuid.uuid4().hex[:10]}")
    try:
        began = time.perf_counter()
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text(POPULATE))
        engine.dispose()
        populated = time.perf_counter() - began
        os.environ.update({"DATABASE_URL": url, "FIREBASE_PROJECT_ID": "bench-project", "STRIPE_MODE": "test",
                           "POWERTOOLS_SERVICE_NAME": "billing", "LOG_LEVEL": "WARNING"})
        from billing import db
        from billing.invoices import list_invoices
        from billing.settings import Need, configure
        from billing.staff_invoices import list_for_staff, who_paid

        configure(Need.DATABASE)
        statements = Statements()
        statements.listen(db.engine())
        second_page = list_for_staff({"limit": "50"})["nextCursor"]
        numbers = [f"INV-{2025 + n % 2}-{n:06d}" for n in range(1, INVOICES, INVOICES // 97)]
        lookups = iter(numbers * (runs // len(numbers) + 2))
        cases = [
            ("staff list, first page (50, newest first)", lambda: list_for_staff({"limit": "50"})),
            ("staff list, next page by cursor", lambda: list_for_staff({"limit": "50", "cursor": second_page})),
            ("staff list, status=pending", lambda: list_for_staff({"status": "pending", "limit": "50"})),
            ("staff list, company (5,000 invoices)", lambda: list_for_staff({"company": "co_1", "limit": "50"})),
            ("staff list, company (~48 invoices)", lambda: list_for_staff({"company": "co_777", "limit": "50"})),
            ("staff list, number prefix INV-2026-", lambda: list_for_staff({"numberPrefix": "INV-2026-",
                                                                             "limit": "50"})),
            ("staff list, due-date range (a month)", lambda: list_for_staff({"dueFrom": "2026-03-01",
                                                                              "dueTo": "2026-04-01", "limit": "50"})),
            ("who paid, by invoice number", lambda: who_paid(next(lookups))),
            ("client list, company with 5,000 invoices", lambda: list_invoices("uid-1")),
        ]
        results = []
        for name, call in cases:
            figures = measure(name, call, statements, runs)
            figures["plans"] = plans(url, figures.pop("sql"))
            results.append(figures)
        db.dispose()
        return {"runs": runs, "populate_seconds": populated, "cases": results,
                "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
                "postgresql": _server_version(url)}
    finally:
        drop_database(url)


def _server_version(url: str) -> str:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return str(conn.execute(text("SHOW server_version")).scalar())
    finally:
        engine.dispose()


def render(results: dict[str, Any]) -> str:
    lines = [
        "# The staff side at scale",
        "",
        f"`make bench-staff` (part of `make bench`; `bench/staff_scale.py`): {INVOICES:,} invoices over "
        f"{COMPANIES:,} companies (one with {BIG_COMPANY_INVOICES:,}), 60 % paid with their checkout session and "
        f"payment record, in PostgreSQL {results['postgresql']}, migrated to head and analysed; {results['runs']} "
        f"runs of each request through the layer's functions, after one warm-up ({results['machine']}; the data "
        f"took {results['populate_seconds']:.0f} s to make).",
        "",
        "| request | SQL statements | p50 | p99 | \"Invoice\" scanned sequentially |",
        "| --- | --- | --- | --- | --- |",
    ]
    for case in results["cases"]:
        seq = any(p["seq_scan_of_invoice"] for p in case["plans"])
        lines.append(f"| {case['name']} | {case['statements']} | {case['p50_ms']:.2f} ms | {case['p99_ms']:.2f} ms "
                     f"| {'**yes**' if seq else 'no'} |")
    lines += ["", "Statements: those SQLAlchemy sends per request (the transaction's BEGIN and COMMIT are the "
              "driver's own round trips, not counted). The query plans (EXPLAIN) of each request's SELECTs:",
              ""]
    for case in results["cases"]:
        lines.append(f"- **{case['name']}**")
        for plan in case["plans"]:
            lines.append(f"  - `{plan['statement']}` → {'; '.join(plan['nodes'])}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.staff_scale", description=__doc__)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--output", default=str(ROOT / "docs" / "STAFF_SCALE.md"))
    args = parser.parse_args(argv)
    results = run(args.runs)
    Path(args.output).write_text(render(results))
    print(render(results))
    seq = [case["name"] for case in results["cases"] if any(p["seq_scan_of_invoice"] for p in case["plans"])]
    if seq:
        print(f"sequential scans of \"Invoice\": {seq}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
