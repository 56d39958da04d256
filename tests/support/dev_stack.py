"""`make dev` as the tests run it: `python -m local.dev` on free ports with a state directory of its own, as a
separate process with its own servers, stopped (SIGTERM, as Ctrl-C would) whatever the test does."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.database import ROOT
from local.token import emulator_id_token
from tests.support.http import request_json

STARTUP_SECONDS = 60
BANNER = "Local stack is up"  # local/dev.py's first line once everything listens
# Settings the suite sets for the in-process functions: the dev stack must choose its own.
SUITE_SETTINGS = ("DATABASE_URL", "FIREBASE_PROJECT_ID", "FIREBASE_AUTH_EMULATOR_HOST", "STRIPE_SECRET_KEY",
                  "STRIPE_WEBHOOK_SECRET", "STRIPE_API_BASE", "PORTAL_URL", "RECONCILE_AFTER_MINUTES",
                  "RECONCILE_BATCH_SIZE")


def stack_environment(state_dir: Path, database_url: str | None = None) -> dict[str, str]:
    """A shell's environment for the local tools: the suite's settings removed, the state directory given."""
    env = {k: v for k, v in os.environ.items() if k not in SUITE_SETTINGS}
    env |= {"PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "common"), str(ROOT)]),
            "LOCAL_STATE_DIR": str(state_dir), "PYTHONUNBUFFERED": "1"}
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def run_make(*arguments: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`make ...` as typed in a shell at the repository root (not as a sub-make of `make test`, which would make
    it print the directories it enters)."""
    shell = {k: v for k, v in env.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    return subprocess.run(["make", *arguments], cwd=ROOT, env=shell, capture_output=True, text=True, timeout=180)


@dataclass
class RunningStack:
    stack: dict[str, Any]  # .local/stack.json
    env: dict[str, str]
    state_dir: Path
    dev: subprocess.Popen[bytes]

    def log(self) -> str:
        return (self.state_dir / "dev.log").read_text()

    def stripe(self, method: str, path: str, body: Any = None) -> Any:
        """The Stripe double's /local endpoints (switches, deliveries, the bank's answer)."""
        status, answer = request_json(method, self.stack["stripe_url"] + path, body)
        assert status == 200, f"{method} {path} answered {status}: {answer}"
        return answer

    def api(self, method: str, path: str, firebase_uid: str) -> tuple[int, Any]:
        """A client route, called with an emulator ID token for `firebase_uid`."""
        token = emulator_id_token(self.stack["environment"]["FIREBASE_PROJECT_ID"], firebase_uid)
        return request_json(method, self.stack["api_url"] + path, {} if method == "POST" else None,
                            {"authorization": f"Bearer {token}"})


@contextmanager
def dev_stack(state_dir: Path, *arguments: str, database_url: str | None = None,
              environment: Mapping[str, str] | None = None) -> Iterator[RunningStack]:
    """`make dev` with `arguments`; `environment` adds settings (PORTAL_AUTH_EMULATOR_URL ...) to the shell's."""
    env = stack_environment(state_dir, database_url) | dict(environment or {})
    log_path = state_dir / "dev.log"
    with log_path.open("w") as log:
        dev = subprocess.Popen(
            [sys.executable, "-m", "local.dev", "--api-port", "0", "--stripe-port", "0", "--portal-port", "0",
             "--webhook-retry-base-seconds", "0.05", *arguments],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + STARTUP_SECONDS
            stack_file = state_dir / "stack.json"
            # stack.json is written just before the banner is printed: the test reads both
            while not (stack_file.exists() and BANNER in log_path.read_text()):
                assert dev.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, "the stack did not come up:\n" + log_path.read_text()
                time.sleep(0.1)
            yield RunningStack(json.loads(stack_file.read_text()), env, state_dir, dev)
        finally:
            if dev.poll() is None:
                dev.send_signal(signal.SIGTERM)
            try:
                dev.wait(timeout=20)
            except subprocess.TimeoutExpired:
                dev.kill()
                dev.wait()
