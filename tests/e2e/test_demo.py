"""`make dev` then `make demo`, end to end: the dev command brings up the API server and the Stripe double server
as separate processes; the demo drives the whole payment flow over real HTTP, with real webhook deliveries.

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
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text

from billing.db import create_database_engine
from tests.support.database import ROOT, create_database, drop_database

STARTUP_SECONDS = 60
# Settings the suite sets for the in-process functions: the dev stack must choose its own.
SUITE_SETTINGS = ("DATABASE_URL", "FIREBASE_PROJECT_ID", "FIREBASE_AUTH_EMULATOR_HOST", "STRIPE_SECRET_KEY",
                  "STRIPE_WEBHOOK_SECRET", "STRIPE_API_BASE", "PORTAL_URL")


def stack_environment(state_dir: Path, database_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SUITE_SETTINGS}
    env |= {"PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "common"), str(ROOT)]),
            "LOCAL_STATE_DIR": str(state_dir), "PYTHONUNBUFFERED": "1"}
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


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


@dataclass
class RunningStack:
    stack: dict
    env: dict[str, str]
    state_dir: Path
    dev: subprocess.Popen


@pytest.fixture
def running_stack(request, tmp_path: Path) -> Iterator[RunningStack]:
    """`python -m local.dev` on free ports (on SQLite unless parametrized "postgresql"), stopped (SIGTERM, as
    Ctrl-C would) whatever the test does."""
    database = getattr(request, "param", "sqlite")
    database_url = create_database(f"billing_e2e_{uuid.uuid4().hex[:10]}") if database == "postgresql" else None
    env = stack_environment(tmp_path, database_url)
    log = (tmp_path / "dev.log").open("w")
    dev = subprocess.Popen(
        [sys.executable, "-m", "local.dev", "--api-port", "0", "--stripe-port", "0",
         "--bank-debit-settle-seconds", "0.5", "--webhook-retry-base-seconds", "0.05"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        stack_file = tmp_path / "stack.json"
        while not stack_file.exists():
            assert dev.poll() is None, (tmp_path / "dev.log").read_text()
            assert time.monotonic() < deadline, "the stack did not come up:\n" + (tmp_path / "dev.log").read_text()
            time.sleep(0.1)
        yield RunningStack(json.loads(stack_file.read_text()), env, tmp_path, dev)
    finally:
        if dev.poll() is None:
            dev.send_signal(signal.SIGTERM)
        try:
            dev.wait(timeout=20)
        except subprocess.TimeoutExpired:
            dev.kill()
            dev.wait()
        log.close()
        if database_url:
            drop_database(database_url)


@pytest.mark.parametrize("running_stack", ["sqlite", "postgresql"], indirect=True)
def test_make_dev_brings_the_stack_up_and_the_demo_passes(running_stack) -> None:
    stack, env, state_dir = running_stack.stack, running_stack.env, running_stack.state_dir
    dev_log = (state_dir / "dev.log").read_text()
    # The banner says where everything listens, with a curl for every route of template.yaml
    assert stack["api_url"] in dev_log and stack["stripe_url"] in dev_log
    for path in ("/api/client/billing", "/api/client/billing/inv_demo_usd/checkout",
                 "/api/client/billing/inv_demo_usd/verify/$SESSION_ID", "/api/webhook/stripe"):
        assert f'{stack["api_url"]}{path}"' in dev_log
    if "DATABASE_URL" not in env:
        assert stack["environment"]["DATABASE_URL"] == f"sqlite:///{state_dir / 'billing.sqlite3'}"

    demo = subprocess.run([sys.executable, "-m", "local.demo", "--wait-seconds", "20"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)

    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "demo OK" in demo.stdout
    for step in ("== 1.", "== 2.", "== 3.", "== 4.", "== 5.", "== 6."):
        assert step in demo.stdout
    assert "FAIL" not in demo.stdout
    # Never a credential on the terminal
    assert "_secret_" not in demo.stdout + demo.stderr
    assert "Bearer" not in demo.stdout + demo.stderr


def test_the_demo_fails_when_a_step_does_not_end_as_the_seed_says(running_stack) -> None:
    # Given INV-DEMO-001 already paid, although the seed has it pending
    stack, env = running_stack.stack, running_stack.env
    engine = create_database_engine(stack["environment"]["DATABASE_URL"])
    with engine.begin() as conn:
        conn.execute(text("UPDATE \"Invoice\" SET status = 'paid' WHERE id = 'inv_demo_usd'"))
    engine.dispose()

    demo = subprocess.run([sys.executable, "-m", "local.demo", "--no-reset", "--wait-seconds", "2"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)

    # Then the step that pays it fails, the others still run, and the exit status says so
    assert demo.returncode == 1, demo.stdout + demo.stderr
    assert "FAIL 2. Alice pays inv_demo_usd" in demo.stdout
    assert "== 6." in demo.stdout
    assert "demo FAILED" in demo.stdout


def test_stopping_dev_stops_both_servers(running_stack) -> None:
    stack = running_stack.stack
    assert listening(stack["api_url"]) and listening(stack["stripe_url"])

    running_stack.dev.send_signal(signal.SIGTERM)

    assert running_stack.dev.wait(timeout=20) == 0
    # The servers were its children: it waited for them, so they are gone too
    assert gone(stack["pids"]["api"]) and gone(stack["pids"]["stripe"])
    assert not listening(stack["api_url"]) and not listening(stack["stripe_url"])
    assert not (running_stack.state_dir / "stack.json").exists()
