"""Configuration, validated once per container.

Each function names the settings it needs (`Need`), and `load_settings` fails at cold start with one clear
message listing everything missing — never a silent default. Secrets come from the environment when set
(local runs, tests) and otherwise from Secrets Manager ARNs (AWS), fetched once and cached with the settings.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from billing.errors import ConfigurationError


class Need(Enum):
    DATABASE = "database"
    FIREBASE = "firebase"
    STRIPE_API = "stripe_api"
    STRIPE_WEBHOOK = "stripe_webhook"
    PORTAL = "portal"
    RECONCILIATION = "reconciliation"


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None
    database_ca_bundle: str | None = None  # PEM file: the database's TLS certificate is verified against it
    firebase_project_id: str | None = None
    stripe_secret_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_api_base: str | None = None
    portal_url: str | None = None
    reconcile_after_minutes: int | None = None
    reconcile_batch_size: int | None = None
    stripe_mode: str | None = None  # "test" or "live": Stripe events of the other mode are never applied
    mismatched_payment_policy: str = "refund"  # or "hold": what becomes of a payment that cannot settle its invoice

    def __repr__(self) -> str:  # secrets must never reach a log line through repr()
        return f"Settings(firebase_project_id={self.firebase_project_id!r}, portal_url={self.portal_url!r})"


def load_settings(needs: frozenset[Need], environ: Mapping[str, str] = os.environ) -> Settings:
    """Read every setting `needs` asks for; raise ConfigurationError naming all that are missing."""
    secrets = _SecretReader(environ)
    problems: list[str] = []

    def required(name: str, value: str | None) -> str | None:
        if not value:
            problems.append(name)
        return value

    values: dict[str, Any] = {}
    if Need.DATABASE in needs:
        values["database_url"] = required(
            "DATABASE_URL (or DATABASE_SECRET_ARN)", environ.get("DATABASE_URL") or secrets.database_url()
        )
        ca_bundle = environ.get("DATABASE_CA_BUNDLE") or None
        if ca_bundle and not os.path.isfile(ca_bundle):
            problems.append("DATABASE_CA_BUNDLE (no such file)")
        values["database_ca_bundle"] = ca_bundle
    if Need.FIREBASE in needs:
        values["firebase_project_id"] = required("FIREBASE_PROJECT_ID", environ.get("FIREBASE_PROJECT_ID"))
        _refuse_emulator_outside_local_runs(environ)
    if Need.STRIPE_API in needs:
        values["stripe_secret_key"] = required(
            "STRIPE_SECRET_KEY (or STRIPE_SECRET_KEY_SECRET_ARN)",
            environ.get("STRIPE_SECRET_KEY") or secrets.plain("STRIPE_SECRET_KEY_SECRET_ARN"),
        )
        values["stripe_api_base"] = environ.get("STRIPE_API_BASE") or None
    if Need.STRIPE_WEBHOOK in needs:
        values["stripe_webhook_secret"] = required(
            "STRIPE_WEBHOOK_SECRET (or STRIPE_WEBHOOK_SECRET_SECRET_ARN)",
            environ.get("STRIPE_WEBHOOK_SECRET") or secrets.plain("STRIPE_WEBHOOK_SECRET_SECRET_ARN"),
        )
    if Need.STRIPE_API in needs or Need.STRIPE_WEBHOOK in needs:
        values |= _stripe_mode_and_policy(environ, values.get("stripe_secret_key"), problems)
    if Need.PORTAL in needs:
        portal_url = required("PORTAL_URL", environ.get("PORTAL_URL"))
        if portal_url and not _is_absolute_url(portal_url):
            problems.append("PORTAL_URL (must be an absolute http(s) URL)")
        values["portal_url"] = portal_url.rstrip("/") if portal_url else None

    if Need.RECONCILIATION in needs:
        for field, name in (("reconcile_after_minutes", "RECONCILE_AFTER_MINUTES"),
                            ("reconcile_batch_size", "RECONCILE_BATCH_SIZE")):
            value = required(name, environ.get(name))
            if value and not (value.isdigit() and int(value) > 0):
                problems.append(f"{name} (must be a positive integer)")
            values[field] = int(value) if value and value.isdigit() else None

    if problems:
        raise ConfigurationError("missing or invalid settings: " + ", ".join(problems))
    return Settings(**values)


STRIPE_MODES = ("test", "live")
MISMATCHED_PAYMENT_POLICIES = ("refund", "hold")


def _stripe_mode_and_policy(environ: Mapping[str, str], secret_key: str | None, problems: list[str]) -> dict[str, Any]:
    """STRIPE_MODE (required: a webhook has no key to tell it) must be the secret key's mode where the function
    has a key; MISMATCHED_PAYMENT_POLICY is optional (default refund)."""
    mode = environ.get("STRIPE_MODE") or None
    if mode not in STRIPE_MODES:
        problems.append("STRIPE_MODE (must be test or live)")
    elif secret_key and secret_key.startswith(("sk_", "rk_")) and not secret_key.startswith((f"sk_{mode}_",
                                                                                              f"rk_{mode}_")):
        problems.append(f"STRIPE_MODE ({mode}, but the Stripe secret key is not a {mode} key)")
    policy = environ.get("MISMATCHED_PAYMENT_POLICY") or "refund"
    if policy not in MISMATCHED_PAYMENT_POLICIES:
        problems.append("MISMATCHED_PAYMENT_POLICY (must be refund or hold)")
    return {"stripe_mode": mode, "mismatched_payment_policy": policy}


def is_local_run(environ: Mapping[str, str] = os.environ) -> bool:
    """True off Lambda, or under `sam local` (which sets AWS_SAM_LOCAL)."""
    return not environ.get("AWS_LAMBDA_FUNCTION_NAME") or environ.get("AWS_SAM_LOCAL") == "true"


def _refuse_emulator_outside_local_runs(environ: Mapping[str, str]) -> None:
    # firebase-admin skips signature checks when this is set: on AWS that would accept forged tokens.
    if environ.get("FIREBASE_AUTH_EMULATOR_HOST") and not is_local_run(environ):
        raise ConfigurationError(
            "FIREBASE_AUTH_EMULATOR_HOST is set on AWS Lambda; refusing to serve with token signatures unchecked"
        )


def _is_absolute_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


class _SecretReader:
    """Reads Secrets Manager values named by *_ARN variables; boto3 is imported only when one is set."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def plain(self, arn_variable: str) -> str | None:
        arn = self._environ.get(arn_variable)
        return _fetch_secret(arn) if arn else None

    def database_url(self) -> str | None:
        arn = self._environ.get("DATABASE_SECRET_ARN")
        if not arn:
            return None
        return database_url_from_rds_secret(json.loads(_fetch_secret(arn)))


def database_url_from_rds_secret(secret: Mapping[str, Any]) -> str:
    """Build a SQLAlchemy URL from an RDS-managed secret (username, password, host, port, dbname)."""
    from sqlalchemy.engine import URL

    try:
        url = URL.create(
            "postgresql+pg8000",
            username=secret["username"],
            password=secret["password"],
            host=secret["host"],
            port=int(secret.get("port", 5432)),
            database=secret.get("dbname", "postgres"),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ConfigurationError(f"database secret lacks a usable field: {error}") from None
    return url.render_as_string(hide_password=False)


@cache
def _fetch_secret(arn: str) -> str:
    import boto3

    try:
        return str(boto3.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"])
    except Exception as error:  # the message names the ARN, never the value
        raise ConfigurationError(f"cannot read secret {arn}: {type(error).__name__}") from None


_settings: Settings | None = None
_needs: frozenset[Need] = frozenset()


def configure(*needs: Need) -> Settings:
    """Load and cache this container's settings; called at import by each function (fail fast).

    On Lambda one function runs per container and calls this once. Where several functions share a process
    (tests, the local server) the needs accumulate, so each sees every setting it asked for."""
    global _settings, _needs
    _needs = _needs | frozenset(needs)
    _settings = load_settings(_needs)
    return _settings


def settings() -> Settings:
    if _settings is None:
        raise ConfigurationError("settings not configured: the function must call billing.settings.configure()")
    return _settings
