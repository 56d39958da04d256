"""Firebase ID token verification with firebase-admin.

Only the project id is needed to verify: firebase-admin checks the RS256 signature against Google's public
certificates (fetched over HTTP and cached per their Cache-Control), the audience and issuer (the project),
expiry and issue time. Without a service account it still insists on a credential object, so the app then gets
anonymous credentials.

A verified token is remembered until it expires: the portal sends the same ID token (valid for an hour) with
every request, and checking its signature again (a certificate lookup through the HTTP cache and an RSA check,
about a millisecond) cannot give another answer before its `exp`.

Cutting a person off:
- Unlinking or removing their Contact works on the next request, remembered token or not: every request looks
  its caller's Contact up by uid (`billing.invoices`), and without one the answer is 403.
- With a service account configured (FIREBASE_SERVICE_ACCOUNT_SECRET_ARN), tokens are also checked for
  revocation and disabled or deleted accounts (firebase-admin's `check_revoked`, which asks Google's Identity
  Toolkit). The answer is remembered per uid for REVOCATION_ANSWER_SECONDS, so revoking a user's tokens or
  disabling the account in Firebase takes effect within five minutes.
- Without one, a revoked or disabled Firebase account keeps access until its ID token expires (an hour at most).

Tokens of an Identity Platform tenant (claim `firebase.tenant`) are refused unless FIREBASE_TENANT_ID names that
tenant, and then only its tokens are accepted.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from functools import cache
from typing import Any, NamedTuple

import firebase_admin
from firebase_admin import auth as firebase_auth
from firebase_admin import exceptions as firebase_exceptions

from billing.errors import AuthProviderUnavailable, NotAuthenticated, NotStaff
from billing.settings import settings

_APP_NAME = "billing-token-verifier"
# A Firebase ID token is ~1 kB; anything far larger is refused before it is parsed.
_MAX_TOKEN_LENGTH = 4096
# More distinct tokens than one warm container sees in an hour; past it, the memory starts over. (Only
# single dict operations, which the GIL keeps whole: the local API server calls functions from threads.)
_MAX_REMEMBERED_TOKENS = 512
# How long "this user's tokens are not revoked and the account is enabled" is believed without asking again.
REVOCATION_ANSWER_SECONDS = 300.0


class _VerifiedToken(NamedTuple):
    uid: str
    expires_at: float  # exp
    issued_at: float  # iat: revocation refuses the tokens issued before it
    staff: bool = False  # the custom claim STAFF_CLAIM is exactly true
    email: str | None = None


# The custom claim that makes a Firebase user staff (granted and revoked by scripts/staff_claims.py with
# firebase-admin's set_custom_user_claims). Only the JSON value true counts.
STAFF_CLAIM = "billingAdmin"


class StaffMember(NamedTuple):
    uid: str
    email: str | None


class _NotRevoked(NamedTuple):
    """Google's last word on a uid: enabled, and tokens issued at `issued_at` or later not revoked."""

    believed_until: float
    issued_at: float


_verified: dict[str, _VerifiedToken] = {}
_not_revoked: dict[str, _NotRevoked] = {}


@cache
def _firebase_app() -> firebase_admin.App:
    config = settings()
    if config.firebase_service_account:
        from firebase_admin import credentials

        credential: Any = credentials.Certificate(json.loads(config.firebase_service_account))
    else:
        from google.auth.credentials import AnonymousCredentials

        credential = AnonymousCredentials()  # type: ignore[no-untyped-call]  # google-auth leaves it unannotated
    return firebase_admin.initialize_app(credential, {"projectId": config.firebase_project_id}, name=_APP_NAME)


@cache
def _checks_revocation() -> bool:
    return bool(settings().firebase_service_account)


def bearer_token(headers: Mapping[str, str]) -> str:
    """The token of an `Authorization: Bearer <token>` header (header names already lower-cased)."""
    scheme, _, token = (headers.get("authorization") or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > _MAX_TOKEN_LENGTH or not token.isascii():
        raise NotAuthenticated()
    return token


def verify_id_token(token: str) -> str:
    """The Firebase uid of a valid ID token; NotAuthenticated for any invalid, expired, foreign, revoked or
    disabled one."""
    return _verified_token(token).uid


def _verified_token(token: str) -> _VerifiedToken:
    now = time.time()
    remembered = _verified.get(token)
    if remembered is not None and now < remembered.expires_at and _believed_not_revoked(remembered, now):
        return remembered
    try:
        verified = _verify_with_firebase(token, check_revoked=_checks_revocation())
    except NotAuthenticated:
        _verified.pop(token, None)  # revoked or disabled since it was remembered
        raise
    if len(_verified) >= _MAX_REMEMBERED_TOKENS:
        _verified.clear()
        _not_revoked.clear()
    _verified[token] = verified
    if _checks_revocation():
        _not_revoked[verified.uid] = _NotRevoked(now + REVOCATION_ANSWER_SECONDS, verified.issued_at)
    return verified


def _believed_not_revoked(token: _VerifiedToken, now: float) -> bool:
    if not _checks_revocation():
        return True
    answer = _not_revoked.get(token.uid)
    # An older token than the one Google's answer was about may be one the revocation refuses: it is checked.
    return answer is not None and now < answer.believed_until and token.issued_at >= answer.issued_at


def _verify_with_firebase(token: str, *, check_revoked: bool) -> _VerifiedToken:
    try:
        claims: dict[str, Any] = _verifier().verify_id_token(token, check_revoked=check_revoked)
    except firebase_auth.CertificateFetchError as error:
        raise AuthProviderUnavailable() from error
    except (ValueError, TypeError, AttributeError, KeyError, firebase_exceptions.InvalidArgumentError,
            firebase_auth.UserNotFoundError) as error:
        # Invalid, expired and revoked tokens, disabled accounts and other tenants' tokens are InvalidArgumentErrors;
        # a deleted account is not found; the other types come from tokens whose parts decode to JSON of the wrong
        # shape. All mean the same to the caller: not authenticated.
        raise NotAuthenticated() from error
    except firebase_exceptions.FirebaseError as error:  # the account lookup failed (Google unreachable, 5xx)
        raise AuthProviderUnavailable() from error
    if _tenant_of(claims) != settings().firebase_tenant_id:
        raise NotAuthenticated()  # a tenant's token where none is configured (firebase-admin checks the reverse)
    email = claims.get("email")
    return _VerifiedToken(str(claims["uid"]), float(claims["exp"]), float(claims["iat"]),
                          staff=claims.get(STAFF_CLAIM) is True, email=email if isinstance(email, str) else None)


@cache
def _verifier() -> Any:
    """firebase-admin's client: the project's, or the configured tenant's (which refuses other tenants' tokens
    and looks accounts up among the tenant's)."""
    tenant_id = settings().firebase_tenant_id
    if tenant_id:
        from firebase_admin import tenant_mgt

        return tenant_mgt.auth_for_tenant(tenant_id, app=_firebase_app())
    return _ProjectVerifier(_firebase_app())


class _ProjectVerifier:
    """The project's client as firebase_admin.auth's own functions reach it."""

    def __init__(self, app: firebase_admin.App) -> None:
        self._app = app

    def verify_id_token(self, token: str, *, check_revoked: bool) -> dict[str, Any]:
        claims: dict[str, Any] = firebase_auth.verify_id_token(token, app=self._app, check_revoked=check_revoked)
        return claims


def _tenant_of(claims: Mapping[str, Any]) -> str | None:
    firebase = claims.get("firebase")
    tenant = firebase.get("tenant") if isinstance(firebase, Mapping) else None
    return str(tenant) if tenant is not None else None


def authenticated_uid(headers: Mapping[str, str]) -> str:
    return verify_id_token(bearer_token(headers))


def authenticated_staff(headers: Mapping[str, str]) -> StaffMember:
    """The staff member a valid ID token names: NotAuthenticated as for the client routes, NotStaff (403) for a
    valid token without the claim. A revoked claim lasts until the token expires (an hour at most), or, with a
    service account configured, until the revocation check (scripts/staff_claims.py revoke also revokes the
    user's tokens): at most five minutes."""
    verified = _verified_token(bearer_token(headers))
    if not verified.staff:
        raise NotStaff()
    return StaffMember(verified.uid, verified.email)
