"""Grant or revoke the staff claim (`billingAdmin: true`) of a Firebase user, with firebase-admin's
set_custom_user_claims; `show` prints a user's custom claims.

    make staff ARGS="grant <uid or email>"     # the user's next ID token carries the claim (sign in again)
    make staff ARGS="revoke <uid or email>"    # removes it and revokes the user's refresh tokens
    make staff ARGS="show <uid or email>"

Against the project FIREBASE_PROJECT_ID with the service account FIREBASE_SERVICE_ACCOUNT (the key file's path or
its JSON). Locally (FIREBASE_AUTH_EMULATOR_HOST, `make dev`'s settings), against the Auth emulator, which is
allowed only for a `demo-` project, by the rule the functions apply at start (billing/config_rules.py): a
misconfigured shell cannot grant staff in a real project without that project's service account.

An ID token already issued keeps its claims until it expires (an hour at most). With the functions checking
revocation (FirebaseServiceAccountSecretArn), `revoke` takes effect within five minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import firebase_admin
from firebase_admin import auth, credentials

from billing.auth import STAFF_CLAIM
from billing.config_rules import emulator_problems


def firebase_app(environ: dict[str, str]) -> firebase_admin.App:
    project_id = environ.get("FIREBASE_PROJECT_ID") or _stack_setting("FIREBASE_PROJECT_ID")
    if not project_id:
        raise SystemExit("FIREBASE_PROJECT_ID is not set")
    emulator = environ.get("FIREBASE_AUTH_EMULATOR_HOST")
    problems = emulator_problems(environ, project_id)
    if problems:
        raise SystemExit("; ".join(problems))
    if emulator:
        from google.auth.credentials import AnonymousCredentials

        credential: Any = AnonymousCredentials()  # type: ignore[no-untyped-call]
    else:
        key = environ.get("FIREBASE_SERVICE_ACCOUNT")
        if not key:
            raise SystemExit("FIREBASE_SERVICE_ACCOUNT (a service account key file or its JSON) is required "
                             "outside the Auth emulator")
        credential = credentials.Certificate(json.loads(key) if key.lstrip().startswith("{") else key)
    return firebase_admin.initialize_app(credential, {"projectId": project_id}, name=f"staff-claims-{time.time()}")


def _stack_setting(name: str) -> str | None:
    """The running `make dev` stack's setting, if there is one (its .local/stack.json)."""
    path = Path(os.environ.get("LOCAL_STATE_DIR") or Path(__file__).resolve().parents[1] / ".local") / "stack.json"
    try:
        value = json.loads(path.read_text())["environment"].get(name)
    except (OSError, ValueError, KeyError):
        return None
    return str(value) if value else None


def find_user(app: firebase_admin.App, who: str) -> auth.UserRecord:
    try:
        return auth.get_user_by_email(who, app=app) if "@" in who else auth.get_user(who, app=app)
    except auth.UserNotFoundError:
        raise SystemExit(f"no Firebase user {who}") from None


def set_staff(app: firebase_admin.App, who: str, *, staff: bool) -> dict[str, Any]:
    """The user's custom claims after granting or revoking the staff claim (other claims are kept)."""
    user = find_user(app, who)
    claims = dict(user.custom_claims or {})
    if staff:
        claims[STAFF_CLAIM] = True
    else:
        claims.pop(STAFF_CLAIM, None)
    auth.set_custom_user_claims(user.uid, claims or None, app=app)
    if not staff:
        auth.revoke_refresh_tokens(user.uid, app=app)  # tokens issued until now are refused where revocation is checked
    return claims


def main(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Grant, revoke or show the staff claim of a Firebase user.")
    parser.add_argument("action", choices=("grant", "revoke", "show"))
    parser.add_argument("user", help="the user's Firebase uid or email")
    args = parser.parse_args(argv)
    environment = dict(os.environ if environ is None else environ)
    if not environment.get("FIREBASE_AUTH_EMULATOR_HOST") and not environment.get("FIREBASE_SERVICE_ACCOUNT"):
        emulator = _stack_setting("FIREBASE_AUTH_EMULATOR_HOST")  # the running make dev stack's emulator
        if emulator:
            environment["FIREBASE_AUTH_EMULATOR_HOST"] = os.environ["FIREBASE_AUTH_EMULATOR_HOST"] = emulator
    app = firebase_app(environment)
    try:
        if args.action == "show":
            claims = find_user(app, args.user).custom_claims or {}
        else:
            claims = set_staff(app, args.user, staff=args.action == "grant")
    finally:
        firebase_admin.delete_app(app)
    print(json.dumps({"user": args.user, "customClaims": claims, "staff": claims.get(STAFF_CLAIM) is True}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
