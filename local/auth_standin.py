"""A stand-in for the Firebase Auth emulator's account API, for `make dev`: the Identity Toolkit calls
firebase-admin makes in emulator mode to look users up, set their custom claims and revoke their tokens
(`accounts:lookup`, `accounts:update`), for the seeded contacts and the seeded staff user, kept in
`.local/auth-users.json`. `make token` asks it (as it would the real emulator) for a user's custom claims and puts
them in its token as the emulator does. The real emulator (`make auth-emulator`, PORTAL_AUTH_EMULATOR_URL)
answers the same calls.

    python -m local.auth_standin --port 9099 --state .local/auth-users.json     (`make dev` starts it)
"""

from __future__ import annotations

import argparse
import json
import re
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from local.api_server import serve_until_stopped

AUTH_USERS_FILE = "auth-users.json"  # in the stack's state directory (.local/)
_ACCOUNTS = re.compile(r"/identitytoolkit\.googleapis\.com/v1/projects/[^/]+/accounts:(?P<verb>lookup|update)")


def seeded_accounts() -> dict[str, dict[str, Any]]:
    from local.seed import CONTACTS, STAFF_USERS

    now = str(int(time.time()))
    people = [(c.firebase_uid, c.email, c.full_name) for c in CONTACTS]
    people += [(s.firebase_uid, s.email, s.full_name) for s in STAFF_USERS]
    return {uid: {"localId": uid, "email": email, "displayName": name, "emailVerified": True, "disabled": False,
                  "validSince": now, "createdAt": now + "000"} for uid, email, name in people}


def read_accounts(state: Path) -> dict[str, dict[str, Any]]:
    try:
        accounts: dict[str, dict[str, Any]] = json.loads(state.read_text())
        return accounts
    except (OSError, ValueError):
        return {}


class AuthEmulator:
    def __init__(self, state: Path) -> None:
        self.state = state
        self.accounts = {**seeded_accounts(), **read_accounts(state)}
        self._save()

    def _save(self) -> None:
        self.state.parent.mkdir(parents=True, exist_ok=True)
        self.state.write_text(json.dumps(self.accounts, indent=2))

    def answer(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        found = _ACCOUNTS.fullmatch(path.split("?", 1)[0])
        if found is None:
            return 404, {"error": {"code": 404, "message": f"not answered by the stand-in: {path}"}}
        if found["verb"] == "lookup":
            uids, emails = body.get("localId") or [], body.get("email") or []
            users = [a for a in self.accounts.values() if a["localId"] in uids or a.get("email") in emails]
            return 200, {"kind": "identitytoolkit#GetAccountInfoResponse", **({"users": users} if users else {})}
        account = self.accounts.get(str(body.get("localId")))
        if account is None:
            return 400, {"error": {"code": 400, "message": "USER_NOT_FOUND"}}
        if "customAttributes" in body:
            account["customAttributes"] = body["customAttributes"]
        if "validSince" in body:
            account["validSince"] = str(body["validSince"])
        self._save()
        return 200, {"kind": "identitytoolkit#SetAccountInfoResponse", "localId": account["localId"]}


def handler_for(emulator: AuthEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                body = {}
            status, answer = emulator.answer(self.path, body if isinstance(body, dict) else {})
            payload = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The Auth emulator's account API, for the seeded users.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9099)
    parser.add_argument("--state", type=Path, required=True)
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer((args.host, args.port), handler_for(AuthEmulator(args.state)))
    serve_until_stopped(server)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
