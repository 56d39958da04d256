"""`make staff` (scripts/staff_claims.py) as an operator runs it: a separate process, firebase-admin's
set_custom_user_claims against the local Auth emulator stand-in (local/auth_standin.py, as `make dev` starts it),
then the staff route answering the token `make token` mints for that user afterwards, in emulator mode."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.database import ROOT
from local.ports import free_port, wait_until_listening
from local.seed import STAFF_USERS
from tests.support.dev_stack import stack_environment

STAFF = STAFF_USERS[0]  # billing@staff.example, demo-uid-staff


@pytest.fixture
def operator_env(seeded, tmp_path: Path) -> Iterator[dict[str, str]]:
    """An operator's shell: the seeded local database and the Auth emulator stand-in on a port of its own."""
    port = free_port()
    standin = subprocess.Popen([sys.executable, "-m", "local.auth_standin", "--port", str(port), "--state",
                                str(tmp_path / "auth-users.json")], cwd=ROOT, env=stack_environment(tmp_path))
    try:
        wait_until_listening(port, standin, "Auth emulator stand-in")
        yield stack_environment(tmp_path) | {"FIREBASE_AUTH_EMULATOR_HOST": f"127.0.0.1:{port}",
                                             "FIREBASE_PROJECT_ID": "demo-billing"}
    finally:
        standin.terminate()
        standin.wait(timeout=10)


def command(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "scripts/staff_claims.py", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def staff_listing_status(env: dict[str, str]) -> int:
    """`make token CONTACT=staff` (the claims the emulator holds now), then the staff listing with that token."""
    token = subprocess.run([sys.executable, "-m", "local.token", "staff"], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=120)
    assert token.returncode == 0, token.stderr
    event = json.loads((ROOT / "events" / "staff_invoices.json").read_text())
    event["headers"]["authorization"] = f"Bearer {token.stdout.strip()}"
    invoked = subprocess.run([sys.executable, "-m", "local.invoke", "StaffInvoicesFunction", "-e", "-"], cwd=ROOT,
                             env=env, input=json.dumps(event), capture_output=True, text=True, timeout=120)
    assert invoked.returncode == 0, invoked.stderr
    return int(json.loads(invoked.stdout)["statusCode"])


def test_grant_then_revoke_decides_whether_the_users_next_token_reaches_a_staff_route(operator_env) -> None:
    assert staff_listing_status(operator_env) == 403  # the seeded staff user holds no claim until granted

    granted = command(operator_env, "grant", STAFF.email)
    assert granted.returncode == 0, granted.stderr
    assert json.loads(granted.stdout) == {"user": STAFF.email, "customClaims": {"billingAdmin": True}, "staff": True}
    assert staff_listing_status(operator_env) == 200
    shown = command(operator_env, "show", STAFF.firebase_uid)
    assert json.loads(shown.stdout)["staff"] is True

    revoked = command(operator_env, "revoke", STAFF.firebase_uid)
    assert revoked.returncode == 0, revoked.stderr
    assert json.loads(revoked.stdout) == {"user": STAFF.firebase_uid, "customClaims": {}, "staff": False}
    assert staff_listing_status(operator_env) == 403


@pytest.mark.parametrize(("args", "expected"), [
    (["grant", "nobody@unknown.example"], "no Firebase user nobody@unknown.example"),
    (["grant", "uid-that-does-not-exist"], "no Firebase user uid-that-does-not-exist"),
    (["promote", STAFF.email], "invalid choice: 'promote'"),
    (["grant"], "the following arguments are required: user"),
    ([], "the following arguments are required: action, user"),
])
def test_refused_input_is_named_exits_non_zero_and_echoes_no_one_elses_data(operator_env, args, expected) -> None:
    result = command(operator_env, *args)

    assert result.returncode != 0
    assert expected in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""
    # nothing about any user but what the operator typed: no seeded email, uid or name appears
    seeded = {STAFF.email, STAFF.firebase_uid, STAFF.full_name} - set(args)
    assert not [value for value in seeded if value in result.stderr]


def test_outside_the_emulator_a_service_account_is_required(seeded, tmp_path) -> None:
    env = stack_environment(tmp_path) | {"FIREBASE_PROJECT_ID": "billing-prod"}

    result = command(env, "grant", STAFF.email)

    assert result.returncode != 0 and "FIREBASE_SERVICE_ACCOUNT" in result.stderr and "Traceback" not in result.stderr


def test_the_emulator_is_refused_for_a_real_project(seeded, tmp_path) -> None:
    env = stack_environment(tmp_path) | {"FIREBASE_PROJECT_ID": "billing-prod",
                                         "FIREBASE_AUTH_EMULATOR_HOST": "127.0.0.1:9"}

    result = command(env, "grant", STAFF.email)

    assert result.returncode != 0 and "demo- project" in result.stderr and "Traceback" not in result.stderr
