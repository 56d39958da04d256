"""The local stack's configuration: its defaults, and the file `make dev` leaves for the other commands.

Every default is a test-mode value that only works against the local doubles; any of them can be overridden
with an environment variable of the same name. `make dev` writes `.local/stack.json` (git-ignored, readable
by you only) so that `make demo`, `make token`, `make invoke`, `make doctor` find the running stack, and
`.local/env.json`, the same settings in `sam local`'s `--env-vars` format.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from local.template import ROOT, literal_environment

STATE_DIR = Path(os.environ.get("LOCAL_STATE_DIR") or ROOT / ".local")

# The settings the functions read (README "Configuration"), with local values.
FUNCTION_DEFAULTS: dict[str, str] = {
    "FIREBASE_PROJECT_ID": "demo-billing",  # a "demo-" project: the Firebase emulators' offline convention
    "FIREBASE_AUTH_EMULATOR_HOST": "127.0.0.1:9099",  # ID tokens are emulator tokens (unsigned)
    "STRIPE_SECRET_KEY": "sk_test_local_stack",
    "STRIPE_WEBHOOK_SECRET": "whsec_test_local_events_only",  # the secret events/stripe_webhook.json is signed with
    "STRIPE_MODE": "test",
    "PORTAL_URL": "http://localhost:3000",
    "STRIPE_EVENT_RETENTION_DAYS": "90",
    # The notifier captures every message into EMAIL_CAPTURE_DIR (.local/emails) instead of sending it: allowed only
    # for a sender at a domain reserved for tests (billing/config_rules.py).
    "EMAIL_FROM_ADDRESS": "billing@portal.localhost",
    "SES_CONFIGURATION_SET": "local",
    "NOTIFICATION_MAX_ATTEMPTS": "3",
    "POWERTOOLS_SERVICE_NAME": "billing",
    "LOG_LEVEL": "INFO",
}
DEFAULT_API_PORT = 3001
DEFAULT_STRIPE_PORT = 12111
# The reference portal's publishable key: the test mode of STRIPE_SECRET_KEY's default (Stripe.js refuses others).
DEFAULT_PUBLISHABLE_KEY = "pk_test_local_stack"
# How `sam local`'s containers reach this machine (with --add-host host.docker.internal:host-gateway).
DOCKER_HOST = "host.docker.internal"


def sqlite_url(state_dir: Path) -> str:
    return f"sqlite:///{state_dir / 'billing.sqlite3'}"


def function_environment(environ: Mapping[str, str], state_dir: Path, stripe_url: str) -> dict[str, str]:
    """The functions' settings: the caller's environment where it sets them, else the local defaults and the
    literal values of template.yaml.

    The database is a SQLite file in `state_dir` unless DATABASE_URL is set; Stripe is always the local double."""
    defaults = literal_environment() | FUNCTION_DEFAULTS
    settings = {name: environ.get(name) or default for name, default in defaults.items()}
    settings["DATABASE_URL"] = environ.get("DATABASE_URL") or sqlite_url(state_dir)
    settings["STRIPE_API_BASE"] = stripe_url
    settings["EMAIL_CAPTURE_DIR"] = environ.get("EMAIL_CAPTURE_DIR") or str(state_dir / "emails")
    return settings


@dataclass(frozen=True)
class Stack:
    api_url: str
    stripe_url: str
    webhook_url: str
    environment: dict[str, str]  # the functions' settings (local test values)
    pids: dict[str, int]
    portal_url: str | None = None  # where the reference portal page is served, if it is

    def save(self, state_dir: Path) -> Path:
        return _write_private(state_dir / "stack.json", asdict(self))

    def save_sam_env_vars(self, state_dir: Path) -> Path:
        """`.local/env.json` for `sam local invoke/start-api --env-vars`: these settings for every function, with
        this machine's loopback addresses as the containers reach them."""
        settings = dict(self.environment)
        for name in ("DATABASE_URL", "STRIPE_API_BASE"):
            settings[name] = _as_seen_from_docker(settings[name])
        settings["FIREBASE_AUTH_EMULATOR_HOST"] = f"{DOCKER_HOST}:9099"  # decoded, never called, in emulator mode
        return _write_private(state_dir / "env.json", {"Parameters": settings})


def _write_private(path: Path, document: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Created private: it holds the local stack's keys (test-mode values, but keys all the same).
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump(document, file, indent=2)
    return path


def _as_seen_from_docker(url: str) -> str:
    parts = urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost"):
        return url  # a SQLite file (which containers cannot open), or a host they reach as it is
    credentials, _, address = parts.netloc.rpartition("@")
    address = address.replace(parts.hostname, DOCKER_HOST, 1)
    return urlunsplit(parts._replace(netloc=f"{credentials}@{address}" if credentials else address))


class StackNotRunning(RuntimeError):
    pass


def load_stack(state_dir: Path = STATE_DIR) -> Stack:
    path = state_dir / "stack.json"
    try:
        stack = Stack(**json.loads(path.read_text()))
    except FileNotFoundError:
        raise StackNotRunning(f"the local stack is not running ({path} is missing): start it with `make dev`") from None
    if not all(_alive(pid) for pid in stack.pids.values()):
        raise StackNotRunning(f"the local stack described by {path} has stopped: start it with `make dev`")
    return stack


def stack_setting(name: str, environ: Mapping[str, str] = os.environ, state_dir: Path = STATE_DIR) -> str:
    """The setting `name` as the local tools take it: the environment's, else the running stack's (`make dev`),
    else the local default. StackNotRunning when there is neither a stack nor a default (DATABASE_URL)."""
    if environ.get(name):
        return environ[name]
    try:
        return load_stack(state_dir).environment[name]
    except StackNotRunning:
        if name in FUNCTION_DEFAULTS:
            return FUNCTION_DEFAULTS[name]
        raise


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
