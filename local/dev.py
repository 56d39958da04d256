"""`make dev`: the whole stack on this machine — database migrated and seeded, the Stripe double server, the local
HTTP API, the reference portal page at PORTAL_URL, the scheduled functions on a short interval — with where
everything listens and a curl for each route. Ctrl-C stops it all.

    python -m local.dev [--api-port 3001] [--stripe-port 12111] [--portal-port 3000 | --no-portal]

With no DATABASE_URL the database is a SQLite file in .local/; with DATABASE_URL (e.g. PostgreSQL) that one.
Other settings default to local test values (local/stack.py) and can be overridden from the environment.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from alembic import command
from alembic.config import Config

from billing.db import create_database_engine
from billing.webhook import HANDLED_EVENT_TYPES
from local import seed
from local.api_server import ignore_interrupts, stop_on_sigterm
from local.auth_emulator import AuthEmulatorUnavailable, create_contact_accounts, emulator_host
from local.ports import free_port, wait_until_listening
from local.scheduler import DEFAULT_EVERY_SECONDS
from local.stack import (
    DEFAULT_API_PORT,
    DEFAULT_PUBLISHABLE_KEY,
    DEFAULT_STRIPE_PORT,
    FUNCTION_DEFAULTS,
    STATE_DIR,
    Stack,
    StackNotRunning,
    function_environment,
    load_stack,
)
from local.template import ROOT, Route, function_url_routes, http_routes, scheduled_functions

STARTUP_TIMEOUT_SECONDS = 60
# The stack's processes, by the name stack.json gives their pids.
PIECES = {"stripe": "stripe_double", "api": "local.api_server", "scheduler": "local.scheduler",
          "portal": "local.portal_server", "auth": "local.auth_standin"}
# Path parameters in the printed curls.
EXAMPLE_PATH_VALUES = {"invoiceId": "inv_demo_usd", "sessionId": "$SESSION_ID"}


def migrate(database_url: str) -> None:
    """`alembic upgrade head` on the database (creates a SQLite file and its directory if needed)."""
    if database_url.startswith("sqlite:///"):
        Path(database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    command.upgrade(config, "head")


def migrate_and_seed(database_url: str, *, insert_anyway: bool) -> str:
    """Migrate, then seed unless the database holds rows of its own (a portal's) and `insert_anyway` is False;
    what became of the demo data, for the banner. A PostgreSQL database that does not exist ends the start with
    the `createdb` to run."""
    seed.require_database(database_url)
    migrate(database_url)
    engine = create_database_engine(database_url)
    try:
        seed.seed_unless_real_data(engine, insert_anyway=insert_anyway)
    except seed.SeedRefused as refused:
        print(f"dev  {refused}", flush=True)
        return "no demo data inserted: see `dev  ...` above"
    finally:
        engine.dispose()
    return "demo data seeded"


def make_contact_accounts(auth_emulator: str, project_id: str) -> None:
    """The seeded contacts' accounts in the real Auth emulator, so that they sign in there as the banner says."""
    try:
        create_contact_accounts(auth_emulator, project_id)
    except AuthEmulatorUnavailable as error:
        raise SystemExit(f"dev  {error}") from None
    print(f"dev  auth emulator: the seeded contacts' accounts made in {auth_emulator}", flush=True)


def child_environment(extra: dict[str, str]) -> dict[str, str]:
    """The children import the layer the way Lambda does (/opt/python): from its directory on the path."""
    python_path = os.pathsep.join([str(ROOT / "layers" / "common"), str(ROOT)])
    return {**os.environ, **extra, "PYTHONPATH": python_path, "PYTHONUNBUFFERED": "1"}


def require_free(port: int, what: str, option: str) -> None:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise SystemExit(f"port {port} for the {what} is in use: stop what holds it, or pass {option}") from None


def curl_examples(api_url: str, stripe_url: str, routes: list[Route], webhook_paths: set[str]) -> list[str]:
    lines = ["TOKEN=$(make -s token CONTACT=alice)     # an emulator ID token for ct_demo_alice"]
    for route in routes:
        path = re.sub(r"\{(\w+)\+?\}", lambda m: EXAMPLE_PATH_VALUES.get(m[1], f"<{m[1]}>"), route.path)
        url = f"{api_url}{path}"
        method = "" if route.method == "GET" else f"-X {route.method} "
        if route.path in webhook_paths:
            body = ('{"id":"evt_local_ping","object":"event","type":"customer.created",'
                    '"data":{"object":{"id":"cus_local"}}}')
            lines.append(f"body={shlex.quote(body)}")
            lines.append(f'curl -s {method}"{url}" -H "Stripe-Signature: $(printf %s "$body" | make -s sign)" '
                         '-d "$body"')
            continue
        auth = ' -H "Authorization: Bearer $TOKEN"' if route.authorized else ""
        lines.append(f'curl -s {method}"{url}"{auth}')
        if route.path.endswith("/checkout"):
            lines.append("SESSION_ID=cs_test_...   # the sessionId it answered; pay it like a customer would:")
            lines.append(f'curl -s -X POST "{stripe_url}/local/checkout/sessions/$SESSION_ID/pay" '
                         """-H 'content-type: application/json' -d '{"card": "4242 4242 4242 4242"}'""")
            lines.append(f'#  ... or in a browser: {stripe_url}/checkout/$SESSION_ID')
    return lines


def banner(stack: Stack, database_url: str, routes: list[Route], webhook_paths: set[str], schedule_seconds: float,
           env_vars_file: Path, seeded: str = "demo data seeded", auth_emulator: str | None = None) -> str:
    shown_database = database_url.split("@")[-1] if "@" in database_url else database_url
    alice = seed.find_contact("alice")
    lines = [
        "",
        "Local stack is up — Ctrl-C stops it.",
        f"  Portal     {stack.portal_url}  (the reference portal page: sign in as {alice.email} / "
        f"{alice.password})" if stack.portal_url else
        f"  Portal     not served here: PORTAL_URL is {stack.environment['PORTAL_URL']} (your own portal)",
        f"  API        {stack.api_url}   (template.yaml's routes -> the functions' handlers, HTTP API v2 events)",
    ]
    lines += [f"               {route.route_key:<58} {route.function}" for route in routes]
    lines += [
        f"  Stripe     {stack.stripe_url}  (API double; payment page {stack.stripe_url}/checkout/<sessionId>)",
        f"  Webhooks   -> {stack.webhook_url} (signed, retried; switches: curl {stack.stripe_url}/local/webhooks)",
        *[f"  Schedule   {schedule.function} every {schedule_seconds:g} s ({schedule.expression} on AWS)"
          for schedule in scheduled_functions()],
        f"  Database   {shown_database} (migrated to head, {seeded})",
        f"  Email      captured, not sent: {stack.environment['EMAIL_CAPTURE_DIR']}/<id>.html|.txt|.eml|.json "
        "(NotifierFunction, from the outbox)",
        f"  Auth       Firebase Auth emulator mode, project {stack.environment['FIREBASE_PROJECT_ID']}: "
        + (f"the emulator at {auth_emulator} signs the portal in (the seeded contacts' accounts made there)"
           if auth_emulator else "`make token CONTACT=bob` prints an ID token"),
        f"  SAM        {env_vars_file.relative_to(ROOT) if env_vars_file.is_relative_to(ROOT) else env_vars_file}: "
        "these settings for `sam local ... --env-vars`",
        "",
        "Try it (another terminal, at the repository root):",
        *[f"  {line}" for line in curl_examples(stack.api_url, stack.stripe_url, routes, webhook_paths)],
        "",
        "The whole flow, checked: make demo",
        "",
    ]
    return "\n".join(lines)


def stop(processes: dict[str, subprocess.Popen[Any]]) -> None:
    for process in processes.values():
        if process.poll() is None:
            process.terminate()
    for process in processes.values():
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def portal_url_to_serve(configured: str, port: int | None) -> str | None:
    """The reference portal's URL: PORTAL_URL when it is a plain http URL on this machine (on `port` if one is
    given, 0 for any free one), None when PORTAL_URL names a portal served by something else."""
    parts = urlsplit(configured)
    if parts.scheme != "http" or parts.hostname not in ("localhost", "127.0.0.1") or parts.path.strip("/"):
        return None
    chosen = (parts.port or 80) if port is None else (port or free_port())
    return f"http://{parts.hostname}:{chosen}"


def choose_auth_emulator(environment: dict[str, str]) -> bool:
    """Whether to start the Auth emulator stand-in, with FIREBASE_AUTH_EMULATOR_HOST settled before any piece
    starts. Given in the environment, it is where the emulator is: a real one when something listens there already,
    else the stand-in is started there. Not given, the stand-in gets a free port of its own (two stacks never race
    for one; the functions never call the emulator: stack.json tells the local tools where it is)."""
    if not os.environ.get("FIREBASE_AUTH_EMULATOR_HOST"):
        environment["FIREBASE_AUTH_EMULATOR_HOST"] = f"127.0.0.1:{free_port()}"
        return True
    host, _, port = environment["FIREBASE_AUTH_EMULATOR_HOST"].rpartition(":")
    with socket.socket() as probe:
        return probe.connect_ex((host or "127.0.0.1", int(port))) != 0


def start_auth_emulator_and_seed_staff(start: Any, environment: dict[str, str], state_dir: Path,
                                       stand_in: bool) -> str:
    """The Auth emulator stand-in (when `stand_in`), and the seeded staff user granted the staff claim by the
    operators' own command (scripts/staff_claims.py)."""
    from local.auth_standin import AUTH_USERS_FILE
    from local.seed import STAFF_USERS

    host, _, port = environment["FIREBASE_AUTH_EMULATOR_HOST"].rpartition(":")
    if stand_in:
        process = start("auth", ["--host", host or "127.0.0.1", "--port", port,
                                 "--state", str(state_dir / AUTH_USERS_FILE)], {})
        wait_until_listening(int(port), process, "Auth emulator stand-in", STARTUP_TIMEOUT_SECONDS)
    staff = STAFF_USERS[0]
    granted = subprocess.run(  # noqa: S603 (this interpreter, our script)
        [sys.executable, str(ROOT / "scripts" / "staff_claims.py"), "grant", staff.firebase_uid], cwd=ROOT,
        env=child_environment({name: environment[name] for name in ("FIREBASE_PROJECT_ID",
                                                                   "FIREBASE_AUTH_EMULATOR_HOST")}),
        capture_output=True, text=True, timeout=60, check=False)
    if granted.returncode != 0:
        return f"could not grant {staff.email} the staff claim: {granted.stderr.strip()[-300:]}"
    return f"{staff.email} ({staff.firebase_uid}) holds billingAdmin: TOKEN=$(make -s token CONTACT=staff)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Run the local stack: database, Stripe double, HTTP API, reference portal, schedules.")
    parser.add_argument("--api-port", type=int, default=int(os.environ.get("LOCAL_API_PORT") or DEFAULT_API_PORT),
                        help="0 picks a free port")
    parser.add_argument("--stripe-port", type=int,
                        default=int(os.environ.get("LOCAL_STRIPE_PORT") or DEFAULT_STRIPE_PORT),
                        help="0 picks a free port")
    parser.add_argument("--stripe-host", default=os.environ.get("LOCAL_STRIPE_HOST") or "127.0.0.1",
                        help="the Stripe double's listening address (0.0.0.0 for `sam local`'s containers)")
    parser.add_argument("--portal-port", type=int, default=None,
                        help="the reference portal's port (default: PORTAL_URL's; 0 picks a free port)")
    parser.add_argument("--no-portal", action="store_true", help="do not serve the reference portal page")
    parser.add_argument("--schedule-seconds", type=float,
                        default=float(os.environ.get("LOCAL_SCHEDULE_SECONDS") or DEFAULT_EVERY_SECONDS),
                        help="how often the scheduled functions run here")
    parser.add_argument("--state-dir", type=Path, default=STATE_DIR, help="SQLite file and stack.json (.local)")
    parser.add_argument("--bank-debit-settle-seconds", type=float, default=5.0,
                        help="negative: bank debits settle only when asked (POST .../settle)")
    parser.add_argument("--webhook-retry-base-seconds", type=float, default=1.0)
    parser.add_argument("--insert-demo-rows", action="store_true",
                        help="seed the demo rows even into a DATABASE_URL that holds other rows (a portal's)")
    args = parser.parse_args(argv)
    state_dir: Path = args.state_dir.resolve()

    try:
        running = load_stack(state_dir)
        raise SystemExit(f"a local stack is already running (API {running.api_url}); stop it first")
    except StackNotRunning:
        pass
    api_port = args.api_port or free_port()
    stripe_port = args.stripe_port or free_port()
    require_free(api_port, "API", "--api-port (or LOCAL_API_PORT)")
    require_free(stripe_port, "Stripe double", "--stripe-port (or LOCAL_STRIPE_PORT)")
    configured_portal = os.environ.get("PORTAL_URL") or FUNCTION_DEFAULTS["PORTAL_URL"]
    portal_url = None if args.no_portal else portal_url_to_serve(configured_portal, args.portal_port)
    portal_port = urlsplit(portal_url).port or 80 if portal_url else None
    if portal_port is not None:
        require_free(portal_port, "portal", "--portal-port (or another PORTAL_URL)")
    api_url, stripe_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{stripe_port}"
    routes = http_routes()
    webhook_paths = {route.path for route in function_url_routes()}
    webhook_url = f"{api_url}{sorted(webhook_paths)[0]}"
    # The real Auth emulator, when given: the portal signs in there and the functions take its tokens (unless
    # FIREBASE_AUTH_EMULATOR_HOST says otherwise).
    auth_emulator = os.environ.get("PORTAL_AUTH_EMULATOR_URL")
    emulator = {"FIREBASE_AUTH_EMULATOR_HOST": emulator_host(auth_emulator)} if auth_emulator else {}
    environ = {**os.environ, "PORTAL_URL": portal_url or configured_portal}
    environment = function_environment(emulator | {k: v for k, v in environ.items() if v}, state_dir, stripe_url)
    # Otherwise the stand-in answers firebase-admin's account calls (the staff claim's grant)
    auth_stand_in = not auth_emulator and choose_auth_emulator(environment)

    print(f"dev  database: migrating and seeding {environment['DATABASE_URL'].split('@')[-1]}", flush=True)
    seeded = migrate_and_seed(environment["DATABASE_URL"],
                              insert_anyway=args.insert_demo_rows or not os.environ.get("DATABASE_URL"))
    if auth_emulator:
        make_contact_accounts(auth_emulator, environment["FIREBASE_PROJECT_ID"])

    processes: dict[str, subprocess.Popen[Any]] = {}
    stack_file = state_dir / "stack.json"

    def start(name: str, arguments: list[str], settings: dict[str, str]) -> subprocess.Popen[Any]:
        # A process group of its own: Ctrl-C reaches this process alone, which stops the pieces one by one.
        processes[name] = subprocess.Popen(  # noqa: S603 (this interpreter, our module, our arguments)
            [sys.executable, "-m", PIECES[name], *arguments], cwd=ROOT, env=child_environment(settings),
            process_group=0)
        return processes[name]

    stop_on_sigterm()
    try:
        stripe = start("stripe", [
            "--host", args.stripe_host, "--port", str(stripe_port), "--webhook-url", webhook_url,
            "--bank-debit-settle-seconds", str(args.bank_debit_settle_seconds),
            "--retry-base-seconds", str(args.webhook_retry_base_seconds),
            # the template's subscription: the events the webhook handles (billing/webhook.py)
            "--enabled-events", ",".join(HANDLED_EVENT_TYPES),
        ], {"STRIPE_WEBHOOK_SECRET": environment["STRIPE_WEBHOOK_SECRET"]})
        api = start("api", ["--port", str(api_port)], environment)
        start("scheduler", ["--every-seconds", str(args.schedule_seconds)], environment)
        portal = None
        if portal_port is not None:
            portal = start("portal", [
                "--port", str(portal_port), "--api-url", api_url,
                "--stripe-js-url", os.environ.get("STRIPE_JS_URL") or f"{stripe_url}/js/stripe.js",
                "--publishable-key", os.environ.get("STRIPE_PUBLISHABLE_KEY") or DEFAULT_PUBLISHABLE_KEY,
                *(["--auth-emulator-url", auth_emulator] if auth_emulator else []),
            ], {"FIREBASE_PROJECT_ID": environment["FIREBASE_PROJECT_ID"]})
        wait_until_listening(stripe_port, stripe, "Stripe double server", STARTUP_TIMEOUT_SECONDS)
        wait_until_listening(api_port, api, "API server", STARTUP_TIMEOUT_SECONDS)
        if portal is not None and portal_port is not None:
            wait_until_listening(portal_port, portal, "portal server", STARTUP_TIMEOUT_SECONDS)
        staff = start_auth_emulator_and_seed_staff(start, environment, state_dir, auth_stand_in)
        stack = Stack(api_url, stripe_url, webhook_url, environment,
                      {"dev": os.getpid(), **{name: process.pid for name, process in processes.items()}}, portal_url)
        env_vars_file = stack.save_sam_env_vars(state_dir)
        stack.save(state_dir)  # last: the other tools take it as the sign that the stack is up
        print(banner(stack, environment["DATABASE_URL"], routes, webhook_paths, args.schedule_seconds,
                     env_vars_file, seeded, auth_emulator), flush=True)
        print(f"dev  staff: {staff}", flush=True)
        while all(process.poll() is None for process in processes.values()):
            time.sleep(0.2)
        name, failed = next((n, p) for n, p in processes.items() if p.poll() is not None)
        print(f"dev  the {name} process ({PIECES[name]}) exited with status {failed.returncode}; stopping the stack",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ndev  stopping the stack", flush=True)
        return 0
    except RuntimeError as error:
        print(f"dev  {error}", file=sys.stderr)
        return 1
    finally:
        ignore_interrupts()  # an impatient second Ctrl-C must not leave the pieces running
        stop(processes)
        stack_file.unlink(missing_ok=True)


if __name__ == "__main__":
    raise SystemExit(main())
