"""The reference portal signed in through the real Firebase Auth emulator (the Firebase CLI pinned in
local/firebase, as `make auth-emulator` runs it), not the portal server's stand-in: `PORTAL_AUTH_EMULATOR_URL`
makes `make dev` create the seeded contacts' accounts there through the emulator's REST API, the page signs in
with email and password, and the functions verify the emulator's unsigned tokens in firebase-admin's emulator
mode, which the layer allows only for a `demo-` project."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, expect

from harness.database import ROOT
from local.auth_emulator import FIREBASE_CLI, emulator_host, start_command
from local.portal_server import SIGN_IN_PATH
from local.ports import free_port
from local.stack import FUNCTION_DEFAULTS
from tests.browser.conftest import Portal, open_portal
from tests.support.dev_stack import RunningStack, dev_stack
from tests.support.http import request_json

PROJECT = FUNCTION_DEFAULTS["FIREBASE_PROJECT_ID"]
STARTUP_SECONDS = 180  # the CLI takes ~15 s of CPU to start: far longer on a loaded 2-core machine


@pytest.fixture(scope="module")
def auth_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The Auth emulator on free ports, with Node.js alone on its PATH (it needs no Java); its URL."""
    assert FIREBASE_CLI.exists(), "the Firebase CLI is not installed: `make test-browser` runs npm ci in local/firebase"
    home = tmp_path_factory.mktemp("auth-emulator")
    port = free_port()
    config = home / "firebase.json"
    config.write_text(json.dumps({"emulators": {
        "auth": {"host": "127.0.0.1", "port": port}, "hub": {"host": "127.0.0.1", "port": free_port()},
        "logging": {"host": "127.0.0.1", "port": free_port()}, "ui": {"enabled": False}, "singleProjectMode": True,
    }}))
    (home / "bin").mkdir()
    (home / "bin" / "node").symlink_to(shutil.which("node") or "/usr/bin/node")
    log_path = home / "emulator.log"
    with log_path.open("w") as log:
        emulator = subprocess.Popen(start_command(PROJECT, config), cwd=home, stdout=log, stderr=subprocess.STDOUT,
                                    env={"PATH": str(home / "bin"), "HOME": str(home), "TMPDIR": str(home),
                                         "CI": "true"})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not _ready(url):
            assert emulator.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "the Auth emulator did not start:\n" + log_path.read_text()
            time.sleep(0.5)
        yield url
    finally:
        emulator.terminate()
        try:
            emulator.wait(timeout=30)
        except subprocess.TimeoutExpired:
            emulator.kill()
            emulator.wait()


def _ready(url: str) -> bool:
    try:
        status, answer = request_json("GET", url + "/")
    except OSError:
        return False
    return status == 200 and answer["authEmulator"]["ready"] is True


@pytest.fixture(scope="module")
def emulator_stack(auth_emulator: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    with dev_stack(tmp_path_factory.mktemp("stack"), environment={"PORTAL_AUTH_EMULATOR_URL": auth_emulator}) as up:
        yield up


@pytest.fixture
def portal(emulator_stack: RunningStack, browser: Browser) -> Iterator[Portal]:
    with open_portal(emulator_stack, browser) as opened:
        yield opened


def decoded(part: str) -> dict[str, Any]:
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


def invoke_list_invoices(stack: RunningStack, token: str, settings: dict[str, str],
                         tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """The list function run as `make invoke` runs it (a process of its own, the stack's settings, `settings` over
    them as sam's --env-vars), with `token` as the portal sends it."""
    event = json.loads((ROOT / "events" / "list_invoices.json").read_text())
    event["headers"]["authorization"] = f"Bearer {token}"
    env_vars = tmp_path / "env.json"
    env_vars.write_text(json.dumps({"Parameters": settings}))
    return subprocess.run([sys.executable, "-m", "local.invoke", "ListInvoicesFunction", "-e", "-", "--env-vars",
                             str(env_vars)], cwd=ROOT, env=stack.env, input=json.dumps(event), capture_output=True,
                          text=True, timeout=120)


def test_bob_signs_in_with_email_and_password_at_the_real_emulator_and_sees_acmes_invoices(
        portal: Portal, auth_emulator: str, tmp_path: Path) -> None:
    api_url = portal.stack.stack["api_url"]
    with portal.page.expect_response(lambda r: r.url.split("?")[0].endswith(SIGN_IN_PATH)) as signing_in, \
            portal.page.expect_response(lambda r: r.request.method == "GET"
                                        and r.url == api_url + "/api/client/billing") as listing:
        portal.sign_in("bob")

    # The emulator answered the sign-in (not the portal server's stand-in), with the account `make dev` made
    signed_in = signing_in.value
    assert urlsplit(signed_in.url).netloc == urlsplit(auth_emulator).netloc and signed_in.status == 200
    assert f"POST {SIGN_IN_PATH}" not in portal.stack.log()
    token = portal.page.evaluate("sessionStorage.getItem('portal.idToken')")
    # The emulator knows the token as one it issued for Bob's account
    status, found = request_json("POST", f"{auth_emulator}/identitytoolkit.googleapis.com/v1/accounts:lookup?key=any",
                                 {"idToken": token})
    assert status == 200 and [user["localId"] for user in found["users"]] == ["demo-uid-bob"]
    header, claims, signature = token.split(".")
    assert (decoded(header)["alg"], signature) == ("none", "")  # what only firebase-admin's emulator mode accepts
    issued = decoded(claims)
    assert (issued["sub"], issued["aud"], issued["iss"]) == ("demo-uid-bob", PROJECT,
                                                             f"https://securetoken.google.com/{PROJECT}")
    assert (issued["email"], issued["name"], issued["firebase"]["sign_in_provider"]) == ("bob@acme.example",
                                                                                        "Bob Baker", "password")
    # The API took that token: Acme's invoices, as Bob's company
    assert listing.value.request.headers["authorization"] == f"Bearer {token}" and listing.value.status == 200
    assert portal.shown_invoice_ids() == ["inv_demo_deposit", "inv_demo_usd", "inv_demo_jpy", "inv_demo_launch"]
    expect(portal.row("inv_demo_deposit").locator(".paid-by")).to_have_text("Bob Baker, Dec 14, 2025")

    # The functions run in emulator mode, pointed at this emulator, for the demo- project ...
    environment = portal.stack.stack["environment"]
    assert environment["FIREBASE_AUTH_EMULATOR_HOST"] == emulator_host(auth_emulator)
    assert environment["FIREBASE_PROJECT_ID"] == PROJECT
    # ... and without it the same token is refused (production's path wants Google's RS256 signature) ...
    production = invoke_list_invoices(portal.stack, token, {"FIREBASE_AUTH_EMULATOR_HOST": ""}, tmp_path)
    assert json.loads(production.stdout)["statusCode"] == 401, production.stderr
    # ... and emulator mode for a project that is not demo- is refused before any token is looked at
    not_demo = invoke_list_invoices(portal.stack, token, {"FIREBASE_PROJECT_ID": "client-portal-prod"}, tmp_path)
    assert "allowed only for an emulator-only demo- project" in not_demo.stdout + not_demo.stderr


def test_a_wrong_password_is_refused_by_the_real_emulator_with_the_pages_message(portal: Portal) -> None:
    portal.page.goto(portal.url + "/")
    portal.page.get_by_label("Email").fill("alice@acme.example")
    portal.page.get_by_label("Password").fill("bob-password")
    with portal.page.expect_response(lambda r: r.url.split("?")[0].endswith(SIGN_IN_PATH)) as signing_in:
        portal.page.get_by_role("button", name="Sign in").click()

    assert signing_in.value.status == 400
    expect(portal.page.locator("#error")).to_have_text("Wrong email or password.")
    assert portal.page.url == portal.url + "/"
