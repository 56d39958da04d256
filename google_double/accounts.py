"""Google's side of `check_revoked`, answered at the HTTP layer as the certificate double is: a service account key
made for the test run, Google's OAuth token endpoint (which checks that the JWT grant is signed by that key) and
Identity Toolkit's `accounts:lookup` (which checks the access token it issued), answering for the users the test
says exist, revoked, disabled or deleted. firebase-admin runs unchanged against it.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from typing import Any
from urllib.parse import parse_qs

import jwt
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

TOKEN_URI = "https://oauth2.googleapis.com/token"
LOOKUP_URL = re.compile(r"https://identitytoolkit\.googleapis\.com/v1/projects/(?P<project>[^/]+)"
                        r"(?:/tenants/(?P<tenant>[^/]+))?/accounts:lookup")


class GoogleAccounts:
    def __init__(self, project_id: str) -> None:
        self.project_id = project_id
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.client_email = f"firebase-adminsdk-test@{project_id}.iam.gserviceaccount.com"
        self.users: dict[str, dict[str, Any]] = {}  # uid -> Identity Toolkit's user record
        self.lookups: list[tuple[str | None, str]] = []  # (tenant, uid) of every lookup answered
        self.unavailable = False
        self._access_tokens: set[str] = set()

    def service_account_key(self) -> str:
        """The JSON key file Firebase console generates, for a key that exists only in this test run."""
        pem = self._key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()).decode()
        return json.dumps({
            "type": "service_account", "project_id": self.project_id, "private_key_id": secrets.token_hex(20),
            "private_key": pem, "client_email": self.client_email, "client_id": "1" * 21,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": TOKEN_URI,
        })

    # ----- what the test says about users ---------------------------------------------------------------------

    def add_user(self, uid: str) -> None:
        self.users[uid] = {"localId": uid, "disabled": False, "validSince": str(int(time.time()) - 3600),
                           "createdAt": str(int(time.time() * 1000) - 86_400_000)}

    def revoke_tokens(self, uid: str) -> None:
        """What `auth.revoke_refresh_tokens(uid)` does: tokens issued before now are revoked."""
        self.users[uid]["validSince"] = str(int(time.time()))

    def disable(self, uid: str) -> None:
        self.users[uid]["disabled"] = True

    def delete(self, uid: str) -> None:
        del self.users[uid]

    # ----- HTTP --------------------------------------------------------------------------------------------------

    def serve(self, mock: responses.RequestsMock) -> None:
        mock.add_callback(responses.POST, TOKEN_URI, callback=self._token)
        mock.add_callback(responses.POST, LOOKUP_URL, callback=self._lookup)

    def stop_serving(self, mock: responses.RequestsMock) -> None:
        mock.remove(responses.POST, TOKEN_URI)
        mock.remove(responses.POST, LOOKUP_URL)

    def _token(self, request: Any) -> tuple[int, dict[str, str], str]:
        form = parse_qs(request.body if isinstance(request.body, str) else request.body.decode())
        try:
            grant = jwt.decode(form["assertion"][0], self._key.public_key(), algorithms=["RS256"], audience=TOKEN_URI)
        except (KeyError, jwt.PyJWTError):
            return 400, {}, json.dumps({"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
        if grant.get("iss") != self.client_email:
            return 400, {}, json.dumps({"error": "invalid_grant"})
        access_token = "ya29.test-" + secrets.token_urlsafe(24)
        self._access_tokens.add(access_token)
        return 200, {}, json.dumps({"access_token": access_token, "expires_in": 3599, "token_type": "Bearer"})

    def _lookup(self, request: Any) -> tuple[int, dict[str, str], str]:
        if self.unavailable:
            return 503, {}, json.dumps({"error": {"code": 503, "message": "The service is currently unavailable.",
                                                  "status": "UNAVAILABLE"}})
        bearer = (request.headers.get("Authorization") or "").removeprefix("Bearer ")
        found = LOOKUP_URL.fullmatch(request.url)
        if bearer not in self._access_tokens or found is None or found["project"] != self.project_id:
            return 401, {}, json.dumps({"error": {"code": 401, "message": "Request had invalid authentication "
                                                  "credentials.", "status": "UNAUTHENTICATED"}})
        uids = json.loads(request.body)["localId"]
        self.lookups += [(found["tenant"], uid) for uid in uids]
        users = [{**self.users[uid], "tenantId": found["tenant"]} if found["tenant"] else self.users[uid]
                 for uid in uids if uid in self.users]
        body: dict[str, Any] = {"kind": "identitytoolkit#GetAccountInfoResponse"}
        if users:
            body["users"] = users
        return 200, {}, json.dumps(body)
