"""`make doctor`: check a configuration before anyone pays, and say what to fix — one line per problem; exit
status 1 when something is wrong.

    python -m local.doctor                          # the running local stack (`make dev`), else the environment
    python -m local.doctor --env-file prod.env --target aws --no-database
    python -m local.doctor --env-file .local/env.json   # sam local's env-vars file works too
    python -m local.doctor --env                    # the environment, even with a stack running

Checks: every setting each function needs, read and judged the way the functions judge them at start (the rules
of `billing.config_rules`: PORTAL_URL an https origin, emulator mode only for a demo- project, STRIPE_API_BASE only
with a test key, a live key with no local switch); the Stripe secret key and webhook secrets well-formed and of one
mode (test or live); the database reachable and migrated to head; for AWS, no local-only setting at all; for a
running stack, that each of its servers answers. Secret values are never printed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from billing import config_rules
from billing.errors import ConfigurationError
from billing.settings import Need, Settings, load_settings
from billing.stripe_gateway import webhook_signing_secrets
from local.stack import Stack, StackNotRunning, load_stack
from local.template import ROOT

_SECRET_KEY = re.compile(r"(sk|rk)_(test|live)_[A-Za-z0-9_]{8,}")
_SECRET_KEY_PREFIX = re.compile(r"(sk|rk)_(test|live)_")
_WEBHOOK_SECRET = re.compile(r"whsec_[A-Za-z0-9_]{8,}")
_PUBLISHABLE_KEY = re.compile(r"pk_(test|live)_[A-Za-z0-9_]{8,}")
_FIREBASE_PROJECT = re.compile(r"[a-z0-9-]{4,30}")  # template.yaml's AllowedPattern, less the demo- refusal


@dataclass(frozen=True)
class Finding:
    ok: bool
    text: str  # for a problem: what is wrong, then what to do

    def line(self) -> str:
        return f"  {'ok     ' if self.ok else 'PROBLEM'}  {self.text}"


def problem(text: str) -> Finding:
    return Finding(False, text)


def fine(text: str) -> Finding:
    return Finding(True, text)


def check(environ: Mapping[str, str], *, target: str, check_database: bool = True) -> list[Finding]:
    findings = _settings_present(environ)
    settings = _resolved(environ)
    findings += _stripe(environ, settings)
    findings += _portal(settings)
    findings += _firebase(environ, settings)
    if target == "aws":
        findings += _local_only(environ)
    if check_database and settings.database_url:
        findings += _database(settings.database_url)
    return findings


def _settings_present(environ: Mapping[str, str]) -> list[Finding]:
    """What the functions themselves would refuse at a cold start, need by need."""
    findings = []
    for need in Need:
        try:
            load_settings(frozenset({need}), environ)
        except ConfigurationError as error:
            findings += [problem(f"{need.value}: {text} (README, Configuration)") for text in error.problems]
        else:
            findings.append(fine(f"{need.value}: settings present and accepted"))
    return findings


def _local_only(environ: Mapping[str, str]) -> list[Finding]:
    """On AWS every local switch is a problem, even one the functions would accept (a test key with the double)."""
    findings = [problem(f"{switch} is for local runs only: remove it from a configuration for AWS")
                for switch in config_rules.local_switches(environ)]
    if environ.get("DATABASE_URL", "").startswith("sqlite"):
        findings.append(problem("DATABASE_URL is a SQLite file, which exists only on this machine: on AWS use "
                                "DATABASE_SECRET_ARN (the RDS secret) and leave DATABASE_URL empty"))
    return findings


def _resolved(environ: Mapping[str, str]) -> Settings:
    """Every setting that can be read, each need on its own (a missing one is reported above)."""
    resolved = Settings()
    for need in Need:
        try:
            loaded = load_settings(frozenset({need}), environ)
        except ConfigurationError:
            continue
        resolved = replace(resolved, **{name: value for name, value in vars(loaded).items() if value is not None})
    return resolved


def _mode(value: str | None, pattern: re.Pattern[str], group: int) -> str | None:
    found = pattern.fullmatch(value or "")
    return found.group(group) if found else None


def _stripe(environ: Mapping[str, str], settings: Settings) -> list[Finding]:
    modes: dict[str, str] = {}  # setting -> the Stripe mode it belongs to, where it says
    findings = _secret_key(settings.stripe_secret_key, modes) + _webhook_secrets(settings.stripe_webhook_secret, modes)
    findings += _publishable_key(environ.get("STRIPE_PUBLISHABLE_KEY")
                                 or environ.get("NEXT_PUBLIC_STRIPE_PUBLISHABLE_KEY"), modes)
    if len(set(modes.values())) > 1:
        described = ", ".join(f"{name} is {mode}" for name, mode in modes.items())
        findings.append(problem(f"Stripe keys of different modes ({described}): take all of them from the same "
                                "mode (the Dashboard's test/live switch)"))
    elif len(modes) > 1:
        findings.append(fine(f"Stripe keys all in {next(iter(modes.values()))} mode"))
    return findings


def _secret_key(key: str | None, modes: dict[str, str]) -> list[Finding]:
    if not key:
        return []
    if key.startswith("pk_"):
        return [problem("STRIPE_SECRET_KEY holds a publishable key (pk_...): use the secret key (sk_...) from "
                        "Dashboard > Developers > API keys")]
    if key.startswith("whsec_"):
        return [problem("STRIPE_SECRET_KEY holds a webhook signing secret (whsec_...): the two settings look swapped")]
    prefix = _SECRET_KEY_PREFIX.match(key)
    if prefix and not _SECRET_KEY.fullmatch(key):
        return [problem(f"STRIPE_SECRET_KEY starts like a Stripe key ({prefix[0]}...) but is cut short or has "
                        "characters a key never has: copy the whole key again from Dashboard > Developers > API keys")]
    if not _SECRET_KEY.fullmatch(key):
        return [problem("STRIPE_SECRET_KEY is not a Stripe secret key (it starts with sk_test_ or sk_live_): copy it "
                        "again from Dashboard > Developers > API keys")]
    modes["STRIPE_SECRET_KEY"] = _mode(key, _SECRET_KEY, 2) or ""
    return [fine(f"STRIPE_SECRET_KEY well-formed ({modes['STRIPE_SECRET_KEY']} mode)")]


def _webhook_secrets(value: str | None, modes: dict[str, str]) -> list[Finding]:
    if not value:
        return []
    signing_secrets = webhook_signing_secrets(value)
    if not all(_WEBHOOK_SECRET.fullmatch(secret) for secret in signing_secrets):
        return [problem("STRIPE_WEBHOOK_SECRET is not a webhook signing secret (whsec_..., or two separated by a comma "
                        "while one is rolled): copy the endpoint's signing secret from Dashboard > Developers > "
                        "Webhooks")]
    # Dashboard secrets do not say their mode; ours for local runs and tests do (whsec_test_...).
    marked = {found.group(1) for secret in signing_secrets if (found := re.match(r"whsec_(test|live)_", secret))}
    if len(marked) == 1:
        modes["STRIPE_WEBHOOK_SECRET"] = marked.pop()
    plural = "s" if len(signing_secrets) > 1 else ""
    return [fine(f"STRIPE_WEBHOOK_SECRET well-formed ({len(signing_secrets)} signing secret{plural})")]


def _publishable_key(key: str | None, modes: dict[str, str]) -> list[Finding]:
    if not key:
        return []
    mode = _mode(key, _PUBLISHABLE_KEY, 1)
    if mode is None:
        return [problem("the portal's publishable key is not pk_test_... or pk_live_...")]
    modes["the portal's publishable key"] = mode
    return []


def _portal(settings: Settings) -> list[Finding]:
    url = settings.portal_url  # present only when the functions' rules accepted it
    return [fine(f"PORTAL_URL {url} is an origin the functions accept")] if url else []


def _firebase(environ: Mapping[str, str], settings: Settings) -> list[Finding]:
    findings = []
    project = settings.firebase_project_id
    if project:
        if not _FIREBASE_PROJECT.fullmatch(project):
            findings.append(problem(f"FIREBASE_PROJECT_ID {project!r} is not a project id (4-30 of a-z, 0-9, -): "
                                    "use the id from the Firebase console, not the display name"))
        else:
            findings.append(fine(f"FIREBASE_PROJECT_ID {project}"))
    emulator = environ.get("FIREBASE_AUTH_EMULATOR_HOST")
    if emulator and project:
        findings.append(fine(f"emulator mode ({emulator}) for the demo project {project}: local runs only"))
    if settings.firebase_service_account:
        findings.append(fine("Firebase service account set: tokens are checked for revocation"))
    return findings


def _database(url: str) -> list[Finding]:
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy.exc import SQLAlchemyError

    from billing.db import create_database_engine

    heads = set(ScriptDirectory.from_config(Config(str(ROOT / "alembic.ini"))).get_heads())
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        # Connecting would create an empty file: say what is wrong instead.
        return [problem(f"database file {url.removeprefix('sqlite:///')} does not exist: `make dev` creates and "
                        "migrates it")]
    try:
        engine = create_database_engine(url, pool_pre_ping=False)
    except (SQLAlchemyError, ConfigurationError, ValueError, ImportError) as error:
        return [problem(f"DATABASE_URL cannot be used: {type(error).__name__}: {_first_line(error)}")]
    where = engine.url.render_as_string(hide_password=True)
    try:
        with engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
    except SQLAlchemyError as error:
        reason = _first_line(getattr(error, "orig", None) or error)
        return [problem(f"database {where} is not reachable ({reason}): check the URL, the server and the network")]
    finally:
        engine.dispose()
    if current == heads:
        return [fine(f"database {where} reachable, migrated to head ({', '.join(sorted(heads))})")]
    if not current:
        return [problem(f"database {where} has no migrations applied: run `alembic upgrade head`")]
    if current - heads and not heads - current:
        return [problem(f"database {where} is at {', '.join(sorted(current))}, which this code does not know: "
                        "deploy the code that matches the database")]
    return [problem(f"database {where} is at revision {', '.join(sorted(current))}, head is "
                    f"{', '.join(sorted(heads))}: run `alembic upgrade head`")]


def _first_line(error: object) -> str:
    return (str(error).strip().splitlines() or [""])[0][:200]


def stack_answers(stack: Stack) -> list[Finding]:
    """Each server of a running stack answers HTTP (any status: it is up)."""
    servers = {"API": stack.api_url + "/api/client/billing", "Stripe double": stack.stripe_url + "/local/health"}
    if stack.portal_url:
        servers["portal"] = stack.portal_url + "/"
    findings = []
    for name, url in servers.items():
        try:
            with urllib.request.urlopen(url, timeout=3):  # noqa: S310 (the stack's own http URLs)
                pass
        except urllib.error.HTTPError:
            pass  # an answer all the same (the API refuses a request without a token)
        except (urllib.error.URLError, OSError) as error:
            findings.append(problem(f"the {name} at {url} does not answer ({getattr(error, 'reason', error)}): "
                                    "restart `make dev`"))
            continue
        findings.append(fine(f"the {name} answers ({url})"))
    return findings


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (a .env file), or sam local's env-vars JSON (Parameters and every function's block)."""
    text = path.read_text()
    if path.suffix == ".json":
        document = json.loads(text)
        merged: dict[str, str] = {}
        for block in document.values():
            merged |= {k: str(v) for k, v in (block or {}).items()}
        return merged
    values = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.removeprefix("export ").partition("=")
        values[name.strip()] = value.strip().strip("'\"")
    return values


def _default_target(environ: Mapping[str, str]) -> str:
    """Where the configuration looks meant to run: AWS inside a Lambda function (not under `sam local`), else
    local. Only a default for the report: the functions judge a configuration by what it holds, never by this."""
    on_lambda = environ.get("AWS_LAMBDA_FUNCTION_NAME") and environ.get("AWS_SAM_LOCAL") != "true"
    return "aws" if on_lambda else "local"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check a billing configuration before anyone pays.")
    sources = parser.add_mutually_exclusive_group()
    sources.add_argument("--env-file", type=Path, help="check this file's settings instead")
    sources.add_argument("--stack", action="store_true", help="check the running local stack (the default if one is)")
    sources.add_argument("--env", action="store_true", help="check the environment, even with a stack running")
    parser.add_argument("--target", choices=("local", "aws"), help="where it will run (default: where this runs)")
    parser.add_argument("--no-database", action="store_true", help="skip connecting to the database")
    args = parser.parse_args(argv)
    environ: Mapping[str, str] = os.environ
    source = "the environment"
    stack = None
    if args.env_file:
        environ, source = read_env_file(args.env_file), str(args.env_file)
    elif not args.env:
        try:
            stack = load_stack()
            environ, source = stack.environment, f"the running local stack (`make dev`, API {stack.api_url})"
        except StackNotRunning as error:
            if args.stack:
                print(f"doctor: {error}", file=sys.stderr)
                return 2
            source = "the environment (no local stack is running: with one, `make doctor` checks it)"
    target = args.target or _default_target(environ)
    print(f"doctor: checking {source} (target: {target})")
    findings = check(environ, target=target, check_database=not args.no_database)
    if stack is not None:
        findings += stack_answers(stack)
    for finding in findings:
        print(finding.line())
    problems = [f for f in findings if not f.ok]
    print(f"doctor: {len(problems)} problem{'s' if len(problems) != 1 else ''}" if problems else "doctor: all good")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
