"""The real Firebase Auth emulator for the local stack: the seeded contacts' accounts made in it, and the command
that starts it with a firebase.json of one's own (`make auth-emulator` runs the same Firebase CLI, pinned in
local/firebase/package-lock.json, with the repository's firebase.json).

With PORTAL_AUTH_EMULATOR_URL set, `make dev` sends the reference portal's sign-in to that emulator, points the
functions' FIREBASE_AUTH_EMULATOR_HOST at it, and makes each seeded contact's account there (their uid, email and
password) through the emulator's REST API, as an admin would with firebase-admin's `create_user`. The emulator
needs Node.js only (no Java: that is for the Firestore and Database emulators).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from local.http_json import request_json
from local.seed import CONTACTS, STAFF_USERS
from local.template import ROOT

FIREBASE_CLI = ROOT / "local" / "firebase" / "node_modules" / ".bin" / "firebase"
# The emulator takes this bearer token as an admin's (Google's Identity Toolkit would want an OAuth token).
_ADMIN = {"authorization": "Bearer owner"}


class AuthEmulatorUnavailable(RuntimeError):
    pass


def emulator_host(emulator_url: str) -> str:
    """FIREBASE_AUTH_EMULATOR_HOST for an emulator URL: host:port, as firebase-admin wants it."""
    parts = urlsplit(emulator_url)
    return f"{parts.hostname}:{parts.port or 80}"


def start_command(project_id: str, config: Path) -> list[str]:
    """`firebase emulators:start` for the Auth emulator alone, with the ports of `config`."""
    return [str(FIREBASE_CLI), "emulators:start", "--only", "auth", "--project", project_id, "--config", str(config)]


def create_contact_accounts(emulator_url: str, project_id: str) -> list[str]:
    """Each seeded contact's account in the emulator, made anew (an account left from an earlier run with the same
    uid is replaced); the uids made."""
    accounts = f"{emulator_url.rstrip('/')}/identitytoolkit.googleapis.com/v1/projects/{project_id}/accounts"
    for person in (*CONTACTS, *STAFF_USERS):  # the staff user too: make dev grants it the staff claim there
        _call(accounts + ":delete", {"localId": person.firebase_uid}, allowed_error="USER_NOT_FOUND")
        _call(accounts, {"localId": person.firebase_uid, "email": person.email, "password": person.password,
                         "displayName": person.full_name})
    return [person.firebase_uid for person in (*CONTACTS, *STAFF_USERS)]


def _call(url: str, body: dict[str, Any], allowed_error: str | None = None) -> None:
    try:
        status, answer = request_json("POST", url, body, _ADMIN)
    except OSError as error:
        raise AuthEmulatorUnavailable(f"the Firebase Auth emulator at {urlsplit(url).netloc} does not answer "
                                      f"({error}): start it with `make auth-emulator`") from None
    if status != 200 and (answer.get("error") or {}).get("message") != allowed_error:
        raise AuthEmulatorUnavailable(f"the Firebase Auth emulator answered {status}: {answer}")
