"""Configuration, validated once per container.

Each function names the settings it needs (`Need`), and `load_settings` fails at cold start with one clear
message listing everything missing or refused (`billing.config_rules`) — never a silent default. Secrets come from
the environment when set (local runs, tests) and otherwise from Secrets Manager ARNs (AWS), read at start through
`billing.secret_store` (cached with a maximum age) and read again by `current_secret` when one is refused.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from billing import config_rules
from billing.errors import ConfigurationError


class Need(Enum):
    DATABASE = "database"
    FIREBASE = "firebase"
    STRIPE_API = "stripe_api"
    STRIPE_WEBHOOK = "stripe_webhook"
    PORTAL = "portal"
    RECONCILIATION = "reconciliation"
    EVENT_RETENTION = "event_retention"
    NOTIFICATIONS = "notifications"


# Stripe retries a delivery for 3 days, reconciliation re-applies early refunds for 7, and Stripe's API lists
# events of the last 30: an inbox row kept that long still recognises any event Stripe could send again.
MIN_EVENT_RETENTION_DAYS = 30
# Sent (or skipped, or failed) notifications are deleted this many days after they were settled: the rows hold the
# payer's name given at Checkout. A week at least, so an operator can still look into a failed one.
DEFAULT_NOTIFICATION_RETENTION_DAYS = 30
MIN_NOTIFICATION_RETENTION_DAYS = 7


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None
    database_secret_arn: str | None = None  # set when the URL came from it: each new connection logs in with it
    database_ca_bundle: str | None = None  # PEM file: the database's TLS certificate is verified against it
    database_iam_auth: bool = False  # each login presents an IAM authentication token (RDS Proxy), no password
    aws_region: str | None = None  # where IAM authentication tokens are signed for
    firebase_project_id: str | None = None
    firebase_tenant_id: str | None = None  # tokens of this Identity Platform tenant only; None: no tenant's
    firebase_service_account: str | None = None  # JSON key: tokens are also checked for revocation
    stripe_secret_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_api_base: str | None = None
    portal_url: str | None = None
    reconcile_after_minutes: int | None = None
    reconcile_batch_size: int | None = None
    event_retention_days: int | None = None
    notification_retention_days: int = DEFAULT_NOTIFICATION_RETENTION_DAYS
    stripe_mode: str | None = None  # "test" or "live": Stripe events of the other mode are never applied
    mismatched_payment_policy: str = "refund"  # or "hold": what becomes of a payment that cannot settle its invoice
    email_from_address: str | None = None  # the SES identity the notifier sends from
    ses_configuration_set: str | None = None
    email_capture_dir: str | None = None  # local runs: messages written here instead of sent (billing/email_sender.py)
    notification_max_attempts: int | None = None
    notification_batch_size: int | None = None  # rows one notifier run claims

    def __repr__(self) -> str:  # secrets must never reach a log line through repr()
        return f"Settings(firebase_project_id={self.firebase_project_id!r}, portal_url={self.portal_url!r})"


def load_settings(needs: frozenset[Need], environ: Mapping[str, str] = os.environ) -> Settings:
    """Read every setting `needs` asks for; raise ConfigurationError naming all that are missing or refused."""
    problems: list[str] = []
    values: dict[str, Any] = {}
    for wanted_by, read in _READERS:
        if needs & wanted_by:
            values |= read(environ, values, problems)
    if problems:
        raise ConfigurationError("missing or invalid settings: " + "; ".join(problems), problems)
    return Settings(**values)


def _required(name: str, value: str | None, problems: list[str]) -> str | None:
    if not value:
        problems.append(f"{name} is not set")
    return value


def _database(environ: Mapping[str, str], _values: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    """DATABASE_URL, else IAM authentication (RDS Proxy: the URL from DATABASE_HOST/PORT/NAME/USER, no password),
    else the database secret."""
    values: dict[str, Any] = {"database_url": environ.get("DATABASE_URL") or None}
    iam_auth = environ.get("DATABASE_IAM_AUTH") or "false"
    if iam_auth not in ("true", "false"):
        problems.append("DATABASE_IAM_AUTH must be true or false")
    elif iam_auth == "true":
        values |= {"database_iam_auth": True,
                   "aws_region": _required("AWS_REGION (IAM database authentication signs for it)",
                                           environ.get("AWS_REGION"), problems)}
        if not values["database_url"]:
            user = _required("DATABASE_USER (IAM database authentication logs in as it)",
                             environ.get("DATABASE_USER"), problems)
            values["database_url"] = database_url(str(user), None, {}, environ) if user else None
    if not values["database_url"] and environ.get("DATABASE_SECRET_ARN"):
        values["database_secret_arn"] = environ["DATABASE_SECRET_ARN"]
        values["database_url"] = database_url_from_rds_secret(read_database_secret(environ["DATABASE_SECRET_ARN"]),
                                                              environ)
    _required("DATABASE_URL (or DATABASE_SECRET_ARN, or DATABASE_IAM_AUTH)", values["database_url"], problems)
    ca_bundle = environ.get("DATABASE_CA_BUNDLE") or None
    if ca_bundle and not os.path.isfile(ca_bundle):
        problems.append("DATABASE_CA_BUNDLE names no file")
    return values | {"database_ca_bundle": ca_bundle}


def _firebase(environ: Mapping[str, str], _values: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    project_id = _required("FIREBASE_PROJECT_ID", environ.get("FIREBASE_PROJECT_ID"), problems)
    service_account = current_secret("FIREBASE_SERVICE_ACCOUNT", environ)
    problems += _service_account_problems(service_account)
    problems += config_rules.emulator_problems(environ, project_id)
    return {"firebase_project_id": project_id, "firebase_tenant_id": environ.get("FIREBASE_TENANT_ID") or None,
            "firebase_service_account": service_account}


def _stripe_api(environ: Mapping[str, str], _values: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    secret_key = _required("STRIPE_SECRET_KEY (or STRIPE_SECRET_KEY_SECRET_ARN)",
                           current_secret("STRIPE_SECRET_KEY", environ), problems)
    problems += config_rules.stripe_problems(environ, secret_key)
    problems += config_rules.logging_problems(environ)
    return {"stripe_secret_key": secret_key, "stripe_api_base": environ.get("STRIPE_API_BASE") or None}


def _stripe_webhook(environ: Mapping[str, str], _values: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    return {"stripe_webhook_secret": _required("STRIPE_WEBHOOK_SECRET (or STRIPE_WEBHOOK_SECRET_SECRET_ARN)",
                                               current_secret("STRIPE_WEBHOOK_SECRET", environ), problems)}


def _portal(environ: Mapping[str, str], _values: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    portal_url = _required("PORTAL_URL", environ.get("PORTAL_URL"), problems)
    if portal_url:
        problems += config_rules.portal_url_problems(portal_url)
    return {"portal_url": portal_url.rstrip("/") if portal_url else None}


def _reconciliation(environ: Mapping[str, str], _values: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    return {"reconcile_after_minutes": _positive_integer("RECONCILE_AFTER_MINUTES", environ, problems),
            "reconcile_batch_size": _positive_integer("RECONCILE_BATCH_SIZE", environ, problems)}


def _event_retention(environ: Mapping[str, str], _values: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    values = {"event_retention_days": _positive_integer("STRIPE_EVENT_RETENTION_DAYS", environ, problems,
                                                        minimum=MIN_EVENT_RETENTION_DAYS)}
    if environ.get("NOTIFICATION_RETENTION_DAYS"):  # optional: DEFAULT_NOTIFICATION_RETENTION_DAYS
        values["notification_retention_days"] = _positive_integer(
            "NOTIFICATION_RETENTION_DAYS", environ, problems, minimum=MIN_NOTIFICATION_RETENTION_DAYS)
    return values


def _notifications(environ: Mapping[str, str], _values: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    sender = _required("EMAIL_FROM_ADDRESS", environ.get("EMAIL_FROM_ADDRESS"), problems)
    capture_dir = environ.get("EMAIL_CAPTURE_DIR") or None
    problems += config_rules.email_capture_problems(capture_dir, sender)
    return {"email_from_address": sender, "ses_configuration_set": environ.get("SES_CONFIGURATION_SET") or None,
            "email_capture_dir": capture_dir,
            "notification_max_attempts": _positive_integer("NOTIFICATION_MAX_ATTEMPTS", environ, problems),
            "notification_batch_size": _positive_integer("NOTIFICATION_BATCH_SIZE", environ, problems)}


STRIPE_MODES = ("test", "live")
MISMATCHED_PAYMENT_POLICIES = ("refund", "hold")


def _stripe_mode_and_policy(environ: Mapping[str, str], values: dict[str, Any], problems: list[str]
                            ) -> dict[str, Any]:
    """STRIPE_MODE (required: a webhook has no key to tell it) must be the secret key's mode where the function
    has a key; MISMATCHED_PAYMENT_POLICY is optional (default refund)."""
    secret_key = values.get("stripe_secret_key")
    mode = environ.get("STRIPE_MODE") or None
    if mode is None:
        problems.append("STRIPE_MODE is not set")
    elif mode not in STRIPE_MODES:
        problems.append("STRIPE_MODE must be test or live (the Stripe mode of this deployment)")
    elif secret_key and secret_key.startswith(("sk_", "rk_")) and not secret_key.startswith((f"sk_{mode}_",
                                                                                              f"rk_{mode}_")):
        problems.append(f"STRIPE_MODE is {mode} but the Stripe secret key is not a {mode}-mode key: use a key of "
                        "this deployment's mode")
    policy = environ.get("MISMATCHED_PAYMENT_POLICY") or "refund"
    if policy not in MISMATCHED_PAYMENT_POLICIES:
        problems.append("MISMATCHED_PAYMENT_POLICY must be refund or hold")
    return {"stripe_mode": mode, "mismatched_payment_policy": policy}


Reader = Callable[[Mapping[str, str], dict[str, Any], list[str]], dict[str, Any]]
# Each need's settings, read in this order (an error names the problems in it); a reader runs once when any of its
# needs is asked for. The Stripe mode comes after the key it must agree with.
_READERS: tuple[tuple[frozenset[Need], Reader], ...] = (
    (frozenset({Need.DATABASE}), _database),
    (frozenset({Need.FIREBASE}), _firebase),
    (frozenset({Need.STRIPE_API}), _stripe_api),
    (frozenset({Need.STRIPE_WEBHOOK}), _stripe_webhook),
    (frozenset({Need.STRIPE_API, Need.STRIPE_WEBHOOK}), _stripe_mode_and_policy),
    (frozenset({Need.PORTAL}), _portal),
    (frozenset({Need.RECONCILIATION}), _reconciliation),
    (frozenset({Need.EVENT_RETENTION}), _event_retention),
    (frozenset({Need.NOTIFICATIONS}), _notifications),
)


def _positive_integer(name: str, environ: Mapping[str, str], problems: list[str], minimum: int = 1) -> int | None:
    value = environ.get(name)
    if not value:
        problems.append(f"{name} is not set")
        return None
    if not (value.isdigit() and int(value) >= minimum):
        problems.append(f"{name} must be a positive integer" + (f" of at least {minimum}" if minimum > 1 else ""))
        return None
    return int(value)


def current_secret(name: str, environ: Mapping[str, str] = os.environ, *, fresh: bool = False) -> str | None:
    """The secret setting `name`: its environment variable when set (local runs, tests), else the secret that
    `<name>_SECRET_ARN` names (AWS), as last read or, with `fresh`, read again now. None if neither is set."""
    if environ.get(name):
        return environ[name]
    arn = environ.get(f"{name}_SECRET_ARN")
    if not arn:
        return None
    from billing.secret_store import read_secret

    return read_secret(arn, fresh=fresh)


def read_database_secret(arn: str, *, fresh: bool = False) -> dict[str, Any]:
    """The RDS secret's JSON (username, password; host, port and dbname when it has them)."""
    from billing.secret_store import read_secret

    try:
        secret = json.loads(read_secret(arn, fresh=fresh))
    except ValueError:
        secret = None
    if not isinstance(secret, dict):
        raise ConfigurationError(f"the database secret {arn} is not a JSON object")
    return secret


def database_url_from_rds_secret(secret: Mapping[str, Any], environ: Mapping[str, str] = os.environ) -> str:
    """A SQLAlchemy URL from an RDS secret. The master user secret RDS manages holds only username and password;
    host, port and database name then come from DATABASE_HOST, DATABASE_PORT and DATABASE_NAME (template
    parameters), which also win over the secret's own (an RDS Proxy endpoint is not the instance a secret made by
    hand names)."""
    return database_url(*database_login(secret), secret, environ)


def database_url(username: str, password: str | None, secret: Mapping[str, Any], environ: Mapping[str, str]) -> str:
    """The URL for this login at DATABASE_HOST/PORT/NAME, else the secret's host, port and dbname."""
    from sqlalchemy.engine import URL

    host = environ.get("DATABASE_HOST") or secret.get("host")
    if not host:
        raise ConfigurationError("the database has no host: set DATABASE_HOST (template parameter DatabaseHost, or "
                                 "UseRdsProxy) to the database's or the RDS Proxy's endpoint")
    try:
        port = int(environ.get("DATABASE_PORT") or secret.get("port") or 5432)
    except (TypeError, ValueError):
        raise ConfigurationError("DATABASE_PORT or the database secret's port is not a number") from None
    database = environ.get("DATABASE_NAME") or secret.get("dbname") or "postgres"
    url = URL.create("postgresql+pg8000", username=username, password=password, host=str(host), port=port,
                     database=str(database))
    return url.render_as_string(hide_password=False)


def database_login(secret: Mapping[str, Any]) -> tuple[str, str]:
    """Username and password of an RDS secret (the part of it that rotates)."""
    username, password = secret.get("username"), secret.get("password")
    if not (isinstance(username, str) and username and isinstance(password, str) and password):
        raise ConfigurationError("the database secret lacks a usable username and password")
    return username, password


def _service_account_problems(service_account: str | None) -> list[str]:
    if service_account is None:
        return []
    try:
        key = json.loads(service_account)
    except ValueError:
        key = None
    if not (isinstance(key, dict) and key.get("type") == "service_account" and key.get("private_key")
            and key.get("client_email")):
        return ["FIREBASE_SERVICE_ACCOUNT_SECRET_ARN holds no service account key: store the JSON key file that "
                "Firebase console > Project settings > Service accounts generates"]
    return []


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
