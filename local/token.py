"""Print a Firebase Auth emulator ID token for a seeded contact (local runs only).

The token is what the Auth emulator issues: unsigned (`alg: none`), with the claims of a real ID token for
the local project. The functions accept it only in emulator mode (FIREBASE_AUTH_EMULATOR_HOST, which `make dev`
sets and the layer refuses on AWS); anywhere else it is rejected like any forged token.

    python -m local.token alice      # a name, contact id, Firebase uid or email of a seeded contact
    python -m local.token staff      # the seeded staff user, with the custom claims the emulator holds for it
    python -m local.token --uid some-firebase-uid

`sign_in_with_password` is the Auth emulator's email/password sign-in for the seeded contacts, which the
reference portal's server answers in place of the emulator (local/portal_server.py).
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
from typing import Any

from local.http_json import request_json
from local.seed import CONTACTS, STAFF_USERS, find_contact
from local.stack import stack_setting

TOKEN_LIFETIME_SECONDS = 3600


def emulator_id_token(project_id: str, uid: str, email: str | None = None, now: int | None = None,
                      custom_claims: dict[str, Any] | None = None) -> str:
    """An ID token as the Firebase Auth emulator signs it: not at all. The user's custom claims are top-level
    claims, as the emulator (and Firebase) put them."""
    issued = int(time.time()) if now is None else now
    claims: dict[str, Any] = {
        "iss": f"https://securetoken.google.com/{project_id}",
        "aud": project_id,
        "auth_time": issued,
        "user_id": uid,
        "sub": uid,
        "iat": issued,
        "exp": issued + TOKEN_LIFETIME_SECONDS,
        "firebase": {"identities": {"email": [email]} if email else {}, "sign_in_provider": "password"},
    }
    if email:
        claims |= {"email": email, "email_verified": True}
    claims = {**(custom_claims or {}), **claims}  # a custom claim never overrides a standard one
    header = {"alg": "none", "typ": "JWT"}
    return f"{_base64url(header)}.{_base64url(claims)}."


class SignInRefused(Exception):
    """The Identity Toolkit error code the emulator answers with (HTTP 400)."""


def sign_in_with_password(project_id: str, email: str, password: str) -> dict[str, Any]:
    """What the Auth emulator answers to `accounts:signInWithPassword` for a seeded contact: an ID token for its
    uid. The password is the one README's emulator accounts use (`alice-password`)."""
    person = next((c for c in CONTACTS if c.email == (email or "").strip().lower()), None)
    if person is None or password != person.password:
        raise SignInRefused("INVALID_LOGIN_CREDENTIALS")
    return {
        "kind": "identitytoolkit#VerifyPasswordResponse",
        "localId": person.firebase_uid,
        "email": person.email,
        "displayName": person.full_name,
        "idToken": emulator_id_token(project_id, person.firebase_uid, person.email),
        "registered": True,
        "refreshToken": "",  # no refresh locally: sign in again after an hour
        "expiresIn": str(TOKEN_LIFETIME_SECONDS),
    }


def emulator_custom_claims(emulator_host: str, project_id: str, uid: str) -> dict[str, Any]:
    """The user's custom claims as the Auth emulator (the stand-in of `make dev`, or the real one) holds them, as it
    puts them in the tokens it issues; none when no emulator answers."""
    url = f"http://{emulator_host}/identitytoolkit.googleapis.com/v1/projects/{project_id}/accounts:lookup"
    try:
        status, answer = request_json("POST", url, {"localId": [uid]}, {"authorization": "Bearer owner"})
    except OSError:
        return {}
    users = answer.get("users") if status == 200 and isinstance(answer, dict) else None
    attributes = users[0].get("customAttributes") if users else None
    return dict(json.loads(attributes)) if attributes else {}


def _base64url(value: dict[str, Any]) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print an emulator ID token for a seeded contact.")
    parser.add_argument("contact", nargs="?", help="a seeded contact's name, id, uid or email")
    parser.add_argument("--uid", help="any Firebase uid instead of a seeded contact")
    args = parser.parse_args(argv)
    if args.uid:
        uid, email = args.uid, None
    elif not args.contact:
        # Never a token for someone the caller did not name: it would act as that contact.
        known = "|".join(c.name for c in (*CONTACTS, *STAFF_USERS))
        print(f"name the contact to make a token for: make token CONTACT={known}", file=sys.stderr)
        return 2
    else:
        try:
            person = find_contact(args.contact)
        except KeyError as error:
            print(error.args[0], file=sys.stderr)
            return 2
        uid, email = person.firebase_uid, person.email
    # The custom claims the emulator keeps for the user (`make dev` grants the seeded staff user billingAdmin)
    project_id = stack_setting("FIREBASE_PROJECT_ID")
    claims = emulator_custom_claims(stack_setting("FIREBASE_AUTH_EMULATOR_HOST"), project_id, uid)
    print(emulator_id_token(project_id, uid, email, custom_claims=claims))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
