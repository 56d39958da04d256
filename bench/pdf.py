"""`make bench-pdf` / `python -m bench.pdf`: the invoice PDF function's cold start and warm latency, next to the
list route's measured in the same run (the lightest client route: same layer, same auth, same one company-scoped
read; what the PDF adds is fpdf2, HarfBuzz, the fonts and the drawing).

The built functions (`sam build`, as deployed: the PDF function with its own requirements and fonts, the layer with
bytecode), each cold start a fresh `python -I -S -B` process (bench/coldstart_child.py), runs interleaved; the warm
figures from one process per function invoking it in-process. Not part of `make bench`'s full run: it prints its
rows, and `--write` puts them into docs/PERFORMANCE.md's section "The invoice PDF".
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from bench import coldstart
from bench.coldstart import Start
from bench.run import BUILD, LAMBDA_ENVIRONMENT, ROOT, RUNTIME, ensure_packages, log, sam_build
from bench.stack import LocalStack, running_stack
from harness.database import create_database
from harness.events import client_request
from harness.world import Contact

FUNCTIONS = {"invoice_pdf": "InvoicePdfFunction", "list_invoices": "ListInvoicesFunction"}
PAYER = Contact("ct_pdf_payer", "uid-pdf-payer", "co_pdf")
INVOICE = "inv_pdf_paid"
SECTION = "## The invoice PDF"
WARM_CHILD = """
import json, os, statistics, sys, time, types
paths = sys.argv[1].split(os.pathsep)
sys.path[:0] = paths[:-1]
sys.path.append(paths[-1])
import app
events = json.loads(sys.stdin.read())
context = types.SimpleNamespace(function_name="bench", function_version="1", memory_limit_in_mb=512,
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:bench:live",
    aws_request_id="00000000-0000-4000-8000-000000000003", log_group_name="/aws/lambda/bench",
    log_stream_name="bench", get_remaining_time_in_millis=lambda: 28000)
warmup, samples = int(sys.argv[2]), []
for n, event in enumerate(events):
    began = time.perf_counter()
    response = app.lambda_handler(event, context)
    if n >= warmup:
        samples.append((time.perf_counter() - began) * 1000)
    assert response["statusCode"] == 200, response
samples.sort()
print("RESULT " + json.dumps({"p50": statistics.median(samples), "p99": samples[int(len(samples) * 0.99) - 1],
                              "n": len(samples)}))
"""


def seed(stack: LocalStack) -> None:
    """One company (a Japanese name) with a paid invoice, the list route's company of one invoice too."""
    url = create_database(f"bench_pdf_{PAYER.id}_{int(time.time())}")
    stack.databases["ours"] = url
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("""INSERT INTO "Company" (id, name) VALUES ('co_pdf', '株式会社アクメ (Acme Japan KK)')"""))
        conn.execute(text("""INSERT INTO "Contact" (id, "firebaseUid", email, "contactCompanyId")
                             VALUES (:id, :uid, 'payer@bench.test', 'co_pdf')"""), {"id": PAYER.id, "uid": PAYER.uid})
        conn.execute(text("""INSERT INTO "Proposal" (id, "companyId") VALUES ('pr_pdf', 'co_pdf')"""))
        conn.execute(text("""INSERT INTO "Invoice" (id, "proposalId", "invoiceNumber", amount, currency, description,
                                 trigger, status, "paidAt", "paidByContactId", "dueDate")
                             VALUES (:id, 'pr_pdf', 'INV-PDF-001', 150000, 'JPY', 'Phase 1 - Foundation', 'Kickoff',
                                     'paid', now(), :payer, now())"""), {"id": INVOICE, "payer": PAYER.id})
    engine.dispose()


def event(stack: LocalStack, route: str) -> dict[str, Any]:
    token = stack.token(PAYER.uid)
    return client_request(route, token, invoiceId=INVOICE) if route == "invoice_pdf" else client_request(route, token)


def _first(stack: LocalStack, route: str, _run: int) -> dict[str, Any]:
    return event(stack, route)


def paths(route: str) -> tuple[str, ...]:
    return (str(BUILD / FUNCTIONS[route]), str(BUILD / "CommonLayer" / "python"), str(RUNTIME))


def measure(stack: LocalStack, cold_runs: int, warm_iterations: int, warmup: int) -> dict[str, Any]:
    environment = {**stack.environment("ours"), **LAMBDA_ENVIRONMENT}
    starts: dict[str, tuple[Start, Callable[[int], dict[str, Any] | None]]] = {
        route: (Start("cold", paths(route), "lambda_handler", environment), functools.partial(_first, stack, route))
        for route in FUNCTIONS}
    log(f"cold starts: {', '.join(FUNCTIONS)} ({cold_runs} runs each, interleaved)")

    def check(name: str, result: dict[str, Any]) -> None:
        if result.get("status") != 200:
            raise SystemExit(f"cold start of {name} answered wrongly: {result}")

    runs = coldstart.interleaved(starts, cold_runs, check)
    figures: dict[str, Any] = {}
    for route, results in runs.items():
        log(f"warm: {route} ({warmup} untimed, {warm_iterations} timed)")
        events = [event(stack, route)] * (warmup + warm_iterations)
        completed = subprocess.run([sys.executable, "-I", "-S", "-B", "-c", WARM_CHILD, ":".join(paths(route)),
                                    str(warmup)], input=json.dumps(events), capture_output=True, text=True,
                                   env=environment, cwd=paths(route)[0], check=False)
        line = next((row for row in completed.stdout.splitlines() if row.startswith("RESULT ")), None)
        if line is None:
            raise SystemExit(f"warm run of {route} failed:\n{completed.stderr[-3000:]}")
        figures[route] = {
            "cold_ms": coldstart.median(results, "total_ms"),
            "import_ms": coldstart.median(results, "import_ms"),
            "first_request_ms": coldstart.median(results, "first_request_ms"),
            "runs_ms": [round(r["total_ms"]) for r in results],
            "modules": int(statistics.median(r["modules"] for r in results)),
            "file_bytes": results[0].get("file_bytes"),
            **json.loads(line.removeprefix("RESULT ")),
        }
    return figures


def built_size(route: str) -> str:
    """The function's own artifact (the layer apart)."""
    size = sum(p.stat().st_size for p in Path(paths(route)[0]).rglob("*") if p.is_file())
    return f"{size / 1e6:.0f} MB" if size >= 1e6 else f"{size / 1e3:.0f} kB"


def rows(figures: dict[str, Any], command: str) -> str:
    lines = [
        SECTION, "",
        f"`{command}` on this machine, {figures['_cold_runs']} cold starts per function (interleaved) and "
        f"{figures['_warm']} warm invocations each; the list route measured in the same run. *Cold start* = spawn "
        "to the first response of a fresh `python -I -S -B` process with the built function and layer on its path "
        "(no SnapStart, which would take the import into its snapshot); *import* = loading `app` (for the PDF "
        "function: fpdf2, HarfBuzz, fontTools, finding the fonts and drawing a first Latin document); *first "
        "request* = the first invocation (token check, one statement, and for the PDF: the invoice of a Japanese "
        "company name, shaped, its three fonts read and subset); *built size* = the function's own artifact, the "
        "layer apart.", "",
        "| function | cold start (median) | of which import | first request | warm p50 / p99 | built size | answer |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for route, logical_id in FUNCTIONS.items():
        f = figures[route]
        answer = f"PDF, {f['file_bytes'] / 1000:.0f} kB" if f.get("file_bytes") else "JSON, 1 invoice"
        lines.append(f"| {logical_id} | {f['cold_ms']:.0f} ms | {f['import_ms']:.0f} ms "
                     f"| {f['first_request_ms']:.0f} ms"
                     f" | {f['p50']:.1f} / {f['p99']:.1f} ms | {built_size(route)} | {answer} |")
    return "\n".join(lines) + "\n"


def write_section(markdown: str) -> Path:
    report = ROOT / "docs" / "PERFORMANCE.md"
    current = report.read_text()
    if SECTION in current:
        before, _, after = current.partition(SECTION)
        rest = after.split("\n## ", 1)
        current = before + (("## " + rest[1]) if len(rest) > 1 else "")
        current = current.rstrip("\n") + "\n"
    report.write_text(current.rstrip("\n") + "\n\n" + markdown)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pdf", description=__doc__)
    parser.add_argument("--cold-runs", type=int, default=7)
    parser.add_argument("--warm", type=int, default=200)
    parser.add_argument("--no-build", action="store_true", help="reuse the last `sam build` under .local/bench")
    parser.add_argument("--write", action="store_true", help="put the rows into docs/PERFORMANCE.md")
    args = parser.parse_args(argv)
    ensure_packages()
    if not (args.no_build and (BUILD / FUNCTIONS["invoice_pdf"]).is_dir()):
        sam_build()
    with running_stack() as stack:
        seed(stack)
        figures = measure(stack, args.cold_runs, args.warm, warmup=20)
    figures |= {"_cold_runs": args.cold_runs, "_warm": args.warm}
    markdown = rows(figures, "make bench-pdf")
    print(markdown)
    if args.write:
        log(f"wrote {write_section(markdown)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
