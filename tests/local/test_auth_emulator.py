"""`make dev` with PORTAL_AUTH_EMULATOR_URL: what it does when no emulator answers there (the real emulator
signing the portal in is tests/browser/test_real_auth_emulator.py, in `make test-browser`)."""

from __future__ import annotations

import pytest

from local.auth_emulator import emulator_host
from local.dev import make_contact_accounts
from local.ports import free_port


def test_without_an_emulator_listening_make_dev_stops_and_says_how_to_start_one() -> None:
    url = f"http://127.0.0.1:{free_port()}"

    with pytest.raises(SystemExit, match=r"does not answer .*start it with `make auth-emulator`"):
        make_contact_accounts(url, "demo-billing")


def test_the_functions_reach_the_emulator_as_firebase_admin_wants_it() -> None:
    assert emulator_host("http://127.0.0.1:9099/") == "127.0.0.1:9099"
    assert emulator_host("http://localhost:20150") == "localhost:20150"
