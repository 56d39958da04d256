"""The reference portal's server: portal/ as files, the page's settings, and the Auth emulator stand-in."""

from __future__ import annotations

import base64
import io
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from local.portal_server import PORTAL_DIR, SIGN_IN_PATH, local_config, serve
from tests.support.http import request_json

API_URL, STRIPE_JS = "http://127.0.0.1:3001", "http://127.0.0.1:12111/js/stripe.js"


@pytest.fixture
def portal() -> Iterator[tuple[str, io.StringIO]]:
    config = local_config(api_url=API_URL, stripe_js_url=STRIPE_JS, publishable_key="pk_test_local_stack",
                          auth_emulator_url=None)
    log = io.StringIO()
    server = serve(config, "demo-billing", "127.0.0.1", 0, log)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", log
    server.shutdown()
    server.server_close()


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def sign_in(base: str, email: str, password: str) -> tuple[int, Any]:
    return request_json("POST", base + SIGN_IN_PATH + "?key=any",
                        {"email": email, "password": password, "returnSecureToken": True})


def test_the_pages_are_the_files_of_portal_as_they_are(portal) -> None:
    base, _ = portal
    for path, name in (("/", "index.html"), ("/dashboard", "dashboard.html"), ("/dashboard.js", "dashboard.js")):
        status, _headers, body = get(base + path)
        assert status == 200 and body == (PORTAL_DIR / name).read_bytes()
    assert get(base + "/dashboard.js")[1]["Content-Type"].startswith("text/javascript")
    # Nothing else: no directories, nothing outside portal/
    for path in ("/../local/stack.py", "/%2e%2e/Makefile", "/missing.js", "/portal", "/README.md"):
        assert get(base + path)[0] == 404, path


def test_config_js_gives_the_page_its_settings_and_the_policy_allows_only_the_stack(portal) -> None:
    base, _ = portal

    status, headers, body = get(base + "/config.js")

    assert status == 200
    settings = json.loads(body.decode().removeprefix("window.PORTAL_CONFIG = ").rstrip().rstrip(";"))
    assert settings["apiUrl"] == API_URL and settings["stripeJsUrl"] == STRIPE_JS
    assert settings["stripePublishableKey"] == "pk_test_local_stack"
    assert settings["identityToolkitUrl"] == "/identitytoolkit.googleapis.com"  # this server's stand-in
    assert settings["contactNames"]["ct_demo_bob"] == "Bob Baker"
    policy = headers["Content-Security-Policy"]
    assert "script-src 'self' http://127.0.0.1:12111;" in policy and "frame-src http://127.0.0.1:12111;" in policy
    assert f"connect-src 'self' {API_URL};" in policy and "default-src 'self'" in policy


def test_the_real_auth_emulator_can_take_the_sign_in() -> None:
    config = local_config(api_url=API_URL, stripe_js_url=STRIPE_JS, publishable_key="pk_test_x",
                          auth_emulator_url="http://127.0.0.1:9099/")

    assert config.identity_toolkit_url == "http://127.0.0.1:9099/identitytoolkit.googleapis.com"
    assert "connect-src 'self' http://127.0.0.1:3001 http://127.0.0.1:9099;" in config.content_security_policy()


def test_a_seeded_contact_signs_in_with_email_and_password_and_gets_an_emulator_token(portal) -> None:
    base, log = portal

    status, answer = sign_in(base, "bob@acme.example", "bob-password")

    assert status == 200
    assert (answer["localId"], answer["email"], answer["displayName"]) == ("demo-uid-bob", "bob@acme.example",
                                                                           "Bob Baker")
    _header, claims, signature = answer["idToken"].split(".")
    decoded = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    assert (decoded["sub"], decoded["aud"], signature) == ("demo-uid-bob", "demo-billing", "")
    # The log names the request, never the body
    assert "bob-password" not in log.getvalue() and "bob@acme.example" not in log.getvalue()
    assert f"POST {SIGN_IN_PATH} 200" in log.getvalue()


@pytest.mark.parametrize(("email", "password"), [("bob@acme.example", "alice-password"),
                                                 ("mallory@acme.example", "mallory-password"),
                                                 ("", "")])
def test_a_wrong_email_or_password_is_refused_as_the_emulator_refuses_it(portal, email, password) -> None:
    status, answer = sign_in(portal[0], email, password)

    assert status == 400
    assert answer["error"]["message"] == "INVALID_LOGIN_CREDENTIALS"
    assert "idToken" not in answer
