"""`make schemathesis`: schemathesis fuzzes the local API (`make dev`'s stack, on free ports, a SQLite database of
its own) from docs/openapi.yaml: every operation, with a staff token for the staff routes and a seeded contact's
for the client routes (the webhook with none: its signature is the authentication). Checks: no server error,
every status and every body (refusals included) as the document says. Exits non-zero on any failure.

    PYTHONPATH=layers/common:. .venv/bin/python scripts/schemathesis_run.py [--max-examples 50]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from local.ports import free_port
from local.seed import CONTACTS, STAFF_USERS
from local.token import emulator_id_token

ROOT = Path(__file__).resolve().parents[1]
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def start_stack(state_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    api_port, stripe_port, auth_port = free_port(), free_port(), free_port()
    environment = {**os.environ, "PYTHONPATH": f"{ROOT / 'layers' / 'common'}{os.pathsep}{ROOT}",
                   "FIREBASE_AUTH_EMULATOR_HOST": f"127.0.0.1:{auth_port}", "LOG_LEVEL": "WARNING"}
    environment.pop("DATABASE_URL", None)
    stack = subprocess.Popen(
        [sys.executable, "-m", "local.dev", "--state-dir", str(state_dir), "--api-port", str(api_port),
         "--stripe-port", str(stripe_port), "--no-portal", "--schedule-seconds", "3600"],
        cwd=ROOT, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (state_dir / "stack.json").exists():
        if stack.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the local stack did not start")
        time.sleep(0.5)
    return stack, json.loads((state_dir / "stack.json").read_text())["api_url"]


def fuzz(api_url: str, token: str | None, selection: list[str], max_examples: int) -> tuple[int, str]:
    command = [str(ROOT / ".venv" / "bin" / "schemathesis"), "run", str(ROOT / "docs" / "openapi.yaml"),
               "--url", api_url, "--checks", CHECKS, "--max-examples", str(max_examples), "--seed", "14",
               "--suppress-health-check", "all", *selection]
    if token:
        command += ["-H", f"Authorization: Bearer {token}"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1800, check=False)
    return result.returncode, result.stdout + result.stderr


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--max-examples", type=int, default=50)
    args = parser.parse_args(argv)
    staff, alice = STAFF_USERS[0], CONTACTS[0]
    staff_token = emulator_id_token("demo-billing", staff.firebase_uid, staff.email,
                                    custom_claims={"billingAdmin": True})
    client_token = emulator_id_token("demo-billing", alice.firebase_uid, alice.email)
    with tempfile.TemporaryDirectory(prefix="schemathesis-stack-") as state:
        stack, api_url = start_stack(Path(state))
        try:
            runs = [
                ("staff routes, staff token", staff_token, ["--include-tag", "staff"]),
                ("client routes, a contact's token", client_token, ["--include-tag", "client"]),
                ("webhook, no token", None, ["--include-tag", "webhook"]),
            ]
            failed, verbose = False, bool(os.environ.get("SCHEMATHESIS_VERBOSE"))
            for name, token, selection in runs:
                code, output = fuzz(api_url, token, selection, args.max_examples)
                print(f"===== schemathesis: {name} (exit {code})")
                print(output.strip() if verbose else output[max(output.find("SUMMARY") - 80, 0):].strip())
                failed |= code != 0
        finally:
            stack.terminate()
            stack.wait(timeout=60)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
