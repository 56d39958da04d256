"""Smoke test of the deployable artifact: each function exactly as `sam build` left it.

Every function runs in its own `python3.13 -I -S` process (no virtualenv, no site-packages) whose
sys.path is the built function dir + the built CommonLayer (+ the stdlib), the way Lambda assembles it.
Each gets only the environment variables template.yaml declares for it (local/template.py), filled with local
values: a throw-away PostgreSQL database (migrated with alembic, seeded with the ids the events/ use), the
Stripe double, and Firebase emulator tokens. Exit status 1 if any response is not the expected one.

    PATH=$PWD/.venv/bin:$PATH PYENV_VERSION=3.13.0 sam build
    PYTHONPATH=layers/common:. .venv/bin/python scripts/smoke_built_functions.py       (make smoke does both)
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from harness.database import create_database, drop_database
from local.ports import free_port, wait_until_listening
from local.sign import signed_event
from local.stack import FUNCTION_DEFAULTS
from local.template import ROOT, environment_names

BUILD = ROOT / ".aws-sam" / "build"
EVENTS = ROOT / "events"
WEBHOOK_SECRET = FUNCTION_DEFAULTS["STRIPE_WEBHOOK_SECRET"]  # the test-only secret the events/ samples are signed with

SEED_SQL = [
    """INSERT INTO "Company" (id, name) VALUES ('co_demo_acme', 'Acme Demo Ltd')""",
    """INSERT INTO "Contact" (id, "firebaseUid", email, "contactCompanyId")
       VALUES ('ct_demo_alice', 'demo-uid-alice', 'alice@acme.example', 'co_demo_acme')""",
    """INSERT INTO "Proposal" (id, "companyId") VALUES ('pr_demo_1', 'co_demo_acme')""",
    """INSERT INTO "Invoice" (id, "proposalId", "invoiceNumber", amount, currency, description, status)
       VALUES ('inv_demo_usd', 'pr_demo_1', 'INV-DEMO-001', 500.00, 'USD', 'Phase 1 - Foundation', 'pending')""",
]

# Runs inside the isolated interpreter: argv = [function dir, layer dir, function name], the event on stdin.
CHILD = """
import json, sys, types
sys.path[:0] = [sys.argv[1], sys.argv[2]]
assert sys.version_info[:2] == (3, 13) and not any("site-packages" in p for p in sys.path[2:]), sys.path
context = types.SimpleNamespace(  # what Lambda's context object carries
    function_name=sys.argv[3], function_version="$LATEST", memory_limit_in_mb=512,
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:" + sys.argv[3],
    aws_request_id="00000000-0000-4000-8000-000000000000", get_remaining_time_in_millis=lambda: 15000)
event = json.load(sys.stdin)
import app
print("SMOKE-RESPONSE " + json.dumps(app.lambda_handler(event, context)))
"""


def invoke(logical_id: str, event: dict[str, Any], local_values: dict[str, str]) -> dict[str, Any]:
    function_dir, layer_dir = BUILD / logical_id, BUILD / "CommonLayer" / "python"
    for built in (function_dir, layer_dir):
        if not built.is_dir():
            raise SystemExit(f"{built} is missing: run `sam build` first")
    env = {name: local_values[name] for name in environment_names(logical_id) if name in local_values}
    env |= {  # what the Lambda runtime (and `sam local`) sets itself
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "TZ": "UTC",
        "AWS_SAM_LOCAL": "true",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": logical_id,
    }
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", CHILD, str(function_dir), str(layer_dir), logical_id],
        input=json.dumps(event).encode(),
        capture_output=True,
        env=env,
        cwd=function_dir,
        timeout=120,
    )
    lines = result.stdout.decode().splitlines()
    for line in lines + result.stderr.decode().splitlines():  # the function's logs, and any traceback
        if line and not line.startswith("SMOKE-RESPONSE "):
            print(line)
    for line in lines:
        if line.startswith("SMOKE-RESPONSE "):
            return dict(json.loads(line.removeprefix("SMOKE-RESPONSE ")))
    raise RuntimeError(f"{logical_id}: no response (exit status {result.returncode})")


def with_session_id(event: dict[str, Any], session_id: str) -> dict[str, Any]:
    old = event["pathParameters"]["sessionId"]
    event["pathParameters"]["sessionId"] = session_id
    event["rawPath"] = event["rawPath"].replace(old, session_id)
    event["requestContext"]["http"]["path"] = event["requestContext"]["http"]["path"].replace(old, session_id)
    return event


def load_event(name: str) -> dict[str, Any]:
    return dict(json.loads((EVENTS / name).read_text()))


def run_smoke(database_url: str, stripe_api_base: str, capture_dir: str) -> list[str]:
    local_values = {
        "POWERTOOLS_SERVICE_NAME": "billing",
        "POWERTOOLS_METRICS_NAMESPACE": "ClientPortal",
        "LOG_LEVEL": "INFO",
        "DATABASE_URL": database_url,
        "FIREBASE_PROJECT_ID": "demo-billing",
        "FIREBASE_AUTH_EMULATOR_HOST": "127.0.0.1:9099",
        "STRIPE_SECRET_KEY": "sk_test_smoke",
        "STRIPE_API_BASE": stripe_api_base,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_MODE": "test",
        "PORTAL_URL": "http://localhost:3000",
        "RECONCILE_AFTER_MINUTES": "1",
        "RECONCILE_BATCH_SIZE": "10",
        "STRIPE_EVENT_RETENTION_DAYS": "30",
        "EMAIL_FROM_ADDRESS": "billing@portal.localhost",  # a reserved domain: capture is allowed
        "EMAIL_CAPTURE_DIR": capture_dir,
        "NOTIFICATION_MAX_ATTEMPTS": "3",
        "NOTIFICATION_BATCH_SIZE": "50",
    }
    failures: list[str] = []

    def check(logical_id: str, event: dict[str, Any], expect: str, ok: Callable[[Any], object]) -> dict[str, Any]:
        print(f"\n=== {logical_id}: expect {expect}")
        response = invoke(logical_id, event, local_values)
        body = json.loads(response.get("body") or "null")
        print(f"--> {response.get('statusCode')} {json.dumps(body)}")
        if response.get("statusCode") != 200 or not ok(body):
            failures.append(f"{logical_id}: expected {expect}, got {response.get('statusCode')} {body}")
        return body if isinstance(body, dict) else {}

    check(
        "ListInvoicesFunction",
        load_event("list_invoices.json"),
        "200 listing inv_demo_usd",
        lambda body: "inv_demo_usd" in json.dumps(body),
    )
    checkout = check(
        "CreateCheckoutFunction",
        load_event("create_checkout.json"),
        "200 with clientSecret and sessionId",
        lambda body: body.get("clientSecret") and body.get("sessionId"),
    )
    session_id = checkout.get("sessionId") or "cs_test_missing"
    check(
        "VerifySessionFunction",
        with_session_id(load_event("verify_session.json"), session_id),
        "200 with success false (unpaid)",
        lambda body: body.get("success") is False,
    )

    check(
        "PaymentHistoryFunction",
        load_event("payment_history.json"),
        "200 with the attempts of inv_demo_usd",
        lambda body: body.get("invoiceId") == "inv_demo_usd" and isinstance(body.get("attempts"), list),
    )
    check(
        "StaffInvoicesFunction",
        load_event("staff_invoices.json"),
        "200 with a page of invoices (the seeded staff user's token)",
        lambda body: isinstance(body.get("invoices"), list) and "nextCursor" in body,
    )

    # The sample event, about the session just created, signed now (Stripe allows 300 s).
    webhook = load_event("stripe_webhook.json")
    payload = json.loads(webhook["body"])
    payload["data"]["object"]["id"] = session_id
    webhook["body"] = json.dumps(payload, indent=2)
    check("StripeWebhookFunction", signed_event(webhook, WEBHOOK_SECRET), "200", lambda body: True)

    # Not an HTTP function: the scheduled event in, a report out.
    print("\n=== ReconcileFunction: expect a report of examined invoices")
    report = invoke("ReconcileFunction", load_event("reconcile.json"), local_values)
    print(f"--> {json.dumps(report)}")
    if "examined" not in report:
        failures.append(f"ReconcileFunction: expected a report, got {report}")

    print("\n=== StripeEventRetentionFunction: expect a report (nothing old to delete)")
    retention = invoke("StripeEventRetentionFunction", load_event("stripe_event_retention.json"), local_values)
    print(f"--> {json.dumps(retention)}")
    if retention.get("deleted") != 0 or "whitelisted" not in retention:
        failures.append(f"StripeEventRetentionFunction: expected a report deleting nothing, got {retention}")

    print("\n=== NotifierFunction: expect Alice's receipt, captured")
    notified = invoke("NotifierFunction", load_event("notifier.json"), local_values)
    print(f"--> {json.dumps(notified)}")
    captured = [json.loads(path.read_text()) for path in Path(capture_dir).glob("*.json")]
    if notified != {"sent": 1} or [m["to"] for m in captured] != ["alice@acme.example"]:
        failures.append(f"NotifierFunction: expected one receipt for alice@acme.example, got {notified} {captured}")

    print("\n=== InvoicePdfFunction: expect 200 with INV-DEMO-001 as a PDF, marked paid")
    pdf = invoke("InvoicePdfFunction", load_event("invoice_pdf.json"), local_values)
    document = pdf_text(pdf)
    print(f"--> {pdf.get('statusCode')} {pdf.get('headers', {}).get('content-type')}: {document[:80]!r}...")
    if pdf.get("statusCode") != 200 or "INV-DEMO-001" not in document or "PAID" not in document:
        failures.append(f"InvoicePdfFunction: expected the paid invoice's PDF, got {pdf.get('statusCode')} "
                        f"{document!r}")

    engine = create_engine(database_url)
    with engine.connect() as db:
        status = db.scalar(text("""SELECT status FROM "Invoice" WHERE id = 'inv_demo_usd'"""))
        stored = db.scalars(text("""SELECT payload::text FROM "StripeEvent"
                                    WHERE type = 'checkout.session.completed'""")).all()
    engine.dispose()
    if not stored or "customer_details" in stored[0] or "@" in stored[0]:
        failures.append("the webhook's inbox row is missing or holds the payer's details")
    print(f"\ninvoice inv_demo_usd after the webhook: {status}")
    if status != "paid":
        failures.append(f"after checkout.session.completed the invoice is {status!r}, expected 'paid'")
    return failures


def pdf_text(response: dict[str, Any]) -> str:
    if not response.get("isBase64Encoded"):
        return ""
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(base64.b64decode(response["body"]))).pages)


def main() -> int:
    if hasattr(sys.stdout, "reconfigure"):  # a text stream's (not every stand-in for stdout has it)
        sys.stdout.reconfigure(line_buffering=True)  # keep order with the children's output
    database_url = create_database(f"smoke_{os.getpid()}")
    port = free_port()
    double = subprocess.Popen([sys.executable, "-m", "stripe_double", "--port", str(port)], cwd=ROOT)
    try:
        engine = create_engine(database_url)
        with engine.begin() as conn:
            for statement in SEED_SQL:
                conn.execute(text(statement))
        engine.dispose()
        wait_until_listening(port, double, "Stripe double", timeout=20)
        with tempfile.TemporaryDirectory(prefix="smoke-emails-") as capture_dir:
            failures = run_smoke(database_url, f"http://127.0.0.1:{port}", capture_dir)
    finally:
        double.terminate()
        double.wait(timeout=10)
        drop_database(database_url)
    for failure in failures:
        print(f"FAIL {failure}")
    print("\nFAILED" if failures else "\nOK: all eight built functions answered as expected")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
