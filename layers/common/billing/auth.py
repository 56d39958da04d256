"""Firebase ID token verification with firebase-admin.

Only the project id is needed to verify: firebase-admin checks the RS256 signature against Google's public
certificates (fetched over HTTP and cached per their Cache-Control), the audience and issuer (the project),
expiry and issue time. It still insists on a credential object, so the app gets anonymous credentials instead
of a service-account file that verification never uses.

A verified token is remembered until it expires: the portal sends the same ID token (valid for an hour) with
every request, and checking it again (a certificate lookup through the HTTP cache and an RSA signature check,
about a millisecond) cannot give another answer before its `exp`, because revocation is not checked here.
"""

from __future__ import annotations

import time
from functools import cache
from typing import Any

import firebase_admin
from firebase_admin import auth as firebase_auth
from google.auth.credentials import AnonymousCredentials

from billing.errors import AuthProviderUnavailable, NotAuthenticated
from billing.settings import settings

_APP_NAME = "billing-token-verifier"
# A Firebase ID token is ~1 kB; anything far larger is refused before it is parsed.
_MAX_TOKEN_LENGTH = 4096
# More distinct tokens than one warm container sees in an hour; past it, the memory starts over. (Only
# single dict operations, which the GIL keeps whole: the local API server calls functions from threads.)
_MAX_REMEMBERED_TOKENS = 512
_verified: dict[str, tuple[str, float]] = {}  # token -> (uid, exp)


@cache
def _firebase_app() -> firebase_admin.App:
    return firebase_admin.initialize_app(
        AnonymousCredentials(), {"projectId": settings().firebase_project_id}, name=_APP_NAME
    )


def bearer_token(headers: dict[str, str]) -> str:
    """The token of an `Authorization: Bearer <token>` header (header names already lower-cased)."""
    scheme, _, token = (headers.get("authorization") or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > _MAX_TOKEN_LENGTH or not token.isascii():
        raise NotAuthenticated()
    return token


def verify_id_token(token: str) -> str:
    """The Firebase uid of a valid ID token; NotAuthenticated for any invalid, expired or foreign token."""
    remembered = _verified.get(token)
    if remembered is not None and time.time() < remembered[1]:
        return remembered[0]
    uid, expires_at = _verify_with_firebase(token)
    if len(_verified) >= _MAX_REMEMBERED_TOKENS:
        _verified.clear()
    _verified[token] = (uid, expires_at)
    return uid


def _verify_with_firebase(token: str) -> tuple[str, float]:
    try:
        claims: dict[str, Any] = firebase_auth.verify_id_token(token, app=_firebase_app())
    except firebase_auth.CertificateFetchError as error:
        raise AuthProviderUnavailable() from error
    except (ValueError, TypeError, AttributeError, KeyError, firebase_auth.InvalidIdTokenError) as error:
        # Expired and revoked tokens are InvalidIdTokenError subclasses; the other types come from tokens whose
        # parts decode to JSON of the wrong shape. All mean the same to the caller: not authenticated.
        raise NotAuthenticated() from error
    return str(claims["uid"]), float(claims["exp"])


def authenticated_uid(headers: dict[str, str]) -> str:
    return verify_id_token(bearer_token(headers))
