"""`make dev` then `make demo`, end to end: the dev command brings up the API server, the Stripe double server, the
reference portal and the scheduler as separate processes; the demo drives the whole payment flow over real HTTP,
with real webhook deliveries, and leaves the stack as it found it.

Run on the embedded default (a SQLite file) and on PostgreSQL (DATABASE_URL set)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from billing.db import create_database_engine
from billing.schema import invoice as invoice_table
from harness.database import ROOT, create_database, drop_database
from tests.support.dev_stack import RunningStack, dev_stack, run_make


@pytest.fixture
def running_stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningStack]:
    """`python -m local.dev` on free ports (on SQLite unless parametrized "postgresql")."""
    database = getattr(request, "param", "sqlite")
    database_url = create_database(f"billing_e2e_{uuid.uuid4().hex[:10]}") if database == "postgresql" else None
    try:
        with dev_stack(tmp_path, "--bank-debit-settle-seconds", "0.5", "--schedule-seconds", "1",
                       database_url=database_url) as running:
            yield running
    finally:
        if database_url:
            drop_database(database_url)


def listening(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    try:
        socket.create_connection((host, int(port)), timeout=0.5).close()
    except OSError:
        return False
    return True


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def listings(running: RunningStack) -> dict[str, object]:
    return {uid: running.api("GET", "/api/client/billing", uid) for uid in ("demo-uid-alice", "demo-uid-carol")}


@pytest.mark.parametrize("running_stack", ["sqlite", "postgresql"], indirect=True)
def test_make_dev_brings_the_stack_up_and_the_demo_passes_and_leaves_it_as_it_was(running_stack) -> None:
    stack, env, state_dir = running_stack.stack, running_stack.env, running_stack.state_dir
    dev_log = running_stack.log()
    # The banner says where everything listens, with a curl for every route of template.yaml
    assert stack["api_url"] in dev_log and stack["stripe_url"] in dev_log and stack["portal_url"] in dev_log
    for path in ("/api/client/billing", "/api/client/billing/inv_demo_usd/checkout",
                 "/api/client/billing/inv_demo_usd/verify/$SESSION_ID", "/api/webhook/stripe"):
        assert f'{stack["api_url"]}{path}"' in dev_log
    if "DATABASE_URL" not in env:
        assert stack["environment"]["DATABASE_URL"] == f"sqlite:///{state_dir / 'billing.sqlite3'}"
    before = listings(running_stack)
    switches = running_stack.stripe("GET", "/local/webhooks")

    demo = subprocess.run([sys.executable, "-m", "local.demo", "--wait-seconds", "20"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)

    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "demo OK" in demo.stdout
    for step in ("== 1.", "== 2.", "== 3.", "== 4.", "== 5.", "== 6.", "== 7."):
        assert step in demo.stdout
    # The emails were captured, not sent: a receipt and a failed-debit notice, as files the developer can open
    captured = [json.loads(path.read_text()) for path in (state_dir / "emails").glob("*.json")]
    subjects = [message["subject"] for message in captured]
    assert any(s.startswith("Receipt: ¥") for s in subjects) and any(s.startswith("Receipt: $") for s in subjects)
    assert any(s.startswith("Payment failed: invoice INV-DEMO-003-") for s in subjects)
    assert "Email      captured, not sent" in dev_log
    assert "FAIL" not in demo.stdout
    # Never a credential on the terminal
    assert "_secret_" not in demo.stdout + demo.stderr
    assert "Bearer" not in demo.stdout + demo.stderr
    # The stack as the demo found it: the same listings, the same switches, and the banner's checkout curl works
    assert listings(running_stack) == before
    assert running_stack.stripe("GET", "/local/webhooks") == switches
    status, body = running_stack.api("POST", "/api/client/billing/inv_demo_usd/checkout", "demo-uid-alice")
    assert status == 200 and body["sessionId"].startswith("cs_test_")


def test_the_demo_fails_when_a_step_does_not_end_as_the_seed_says(running_stack) -> None:
    # Given Alice is no longer linked to a company
    engine = create_database_engine(running_stack.stack["environment"]["DATABASE_URL"])
    with engine.begin() as conn:
        conn.execute(text("""UPDATE "Contact" SET "contactCompanyId" = NULL WHERE id = 'ct_demo_alice'"""))
    engine.dispose()

    demo = subprocess.run([sys.executable, "-m", "local.demo", "--wait-seconds", "2"], cwd=ROOT,
                          env=running_stack.env, capture_output=True, text=True, timeout=120)

    # Then her steps fail, the others still run, and the exit status says so
    assert demo.returncode == 1, demo.stdout + demo.stderr
    assert "FAIL 1. Alice lists" in demo.stdout and "FAIL 2. Alice pays" in demo.stdout
    assert "== 6." in demo.stdout
    assert "demo FAILED" in demo.stdout
    # and its invoices are gone all the same
    engine = create_database_engine(running_stack.stack["environment"]["DATABASE_URL"])
    with engine.begin() as conn:
        assert conn.execute(text("""SELECT count(*) FROM "Invoice" WHERE "invoiceNumber" LIKE 'INV-DEMO-00_-%'""")
                            ).scalar() == 0
    engine.dispose()


def test_the_scheduled_reconcile_recovers_a_payment_whose_webhook_was_lost(running_stack) -> None:
    # Given Bob paid while Stripe could not reach the webhook, and nobody came back to verify
    running_stack.stripe("POST", "/local/webhooks", {"enabled": False})
    status, body = running_stack.api("POST", "/api/client/billing/inv_demo_jpy/checkout", "demo-uid-bob")
    assert status == 200
    running_stack.stripe("POST", f"/local/checkout/sessions/{body['sessionId']}/pay", {"card": "4242424242424242"})
    # ... longer ago than RECONCILE_AFTER_MINUTES (30)
    engine = create_database_engine(running_stack.stack["environment"]["DATABASE_URL"])
    with engine.begin() as conn:
        conn.execute(invoice_table.update().where(invoice_table.c.id == "inv_demo_jpy")
                     .values(updatedAt=datetime.now(UTC) - timedelta(hours=1)))
    engine.dispose()

    # Then the scheduled run (every second here, every ten minutes on AWS) records it paid by Bob
    deadline = time.monotonic() + 30
    while True:
        _, listing = running_stack.api("GET", "/api/client/billing", "demo-uid-bob")
        invoice = next(i for i in listing["invoices"] if i["id"] == "inv_demo_jpy")
        # The run's line is printed when the whole run ends, which on a busy machine is a while after the payment
        reported = "schedule ReconcileFunction ->" in running_stack.log()
        if (invoice["status"] == "paid" and reported) or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert (invoice["status"], invoice["paidByContactId"]) == ("paid", "ct_demo_bob"), running_stack.log()[-3000:]
    assert reported, running_stack.log()[-3000:]


def test_stopping_dev_stops_every_server(running_stack) -> None:
    stack = running_stack.stack
    assert listening(stack["api_url"]) and listening(stack["stripe_url"]) and listening(stack["portal_url"])
    assert set(stack["pids"]) == {"dev", "api", "stripe", "portal", "scheduler", "auth"}

    running_stack.dev.send_signal(signal.SIGTERM)

    assert running_stack.dev.wait(timeout=20) == 0
    # The servers were its children: it waited for them, so they are gone too
    assert all(gone(pid) for name, pid in stack["pids"].items() if name != "dev")
    assert not listening(stack["api_url"]) and not listening(stack["stripe_url"])
    assert not listening(stack["portal_url"])
    assert not (running_stack.state_dir / "stack.json").exists()


def test_plain_make_doctor_checks_the_running_stack_and_its_sam_env_vars_file_is_written(running_stack) -> None:
    doctor = run_make("doctor", env=running_stack.env)

    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert f"checking the running local stack (`make dev`, API {running_stack.stack['api_url']})" in doctor.stdout
    for server in ("API", "Stripe double", "portal"):
        assert f"ok       the {server} answers" in doctor.stdout
    assert "doctor: all good" in doctor.stdout
    # .local/env.json: the stack's settings in `sam local --env-vars` format, as the containers reach this machine
    env_vars = running_stack.state_dir / "env.json"
    assert env_vars.stat().st_mode & 0o777 == 0o600
    parameters = json.loads(env_vars.read_text())["Parameters"]
    assert parameters["STRIPE_API_BASE"] == running_stack.stack["stripe_url"].replace("127.0.0.1",
                                                                                       "host.docker.internal")
    assert parameters["PORTAL_URL"] == running_stack.stack["portal_url"]
    checked = run_make("doctor", f"ARGS=--env-file {env_vars} --no-database", env=running_stack.env)
    assert checked.returncode == 0, checked.stdout
