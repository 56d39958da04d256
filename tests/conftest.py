"""Shared fixtures: a PostgreSQL database of our own, the Stripe double, Google's certificate endpoint, and the
functions loaded exactly as template.yaml names them.

The environment is set before any function module is imported: each function validates its settings at import,
as on a Lambda cold start.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
import responses
from sqlalchemy import Engine, create_engine, delete, text

from billing import db as layer_db
from billing import settings as layer_settings
from billing.db import create_database_engine
from billing.schema import metadata
from google_double.certificates import google_certificate_endpoint, serve_certificates
from google_double.tokens import FirebaseTokenIssuer
from harness import functions as function_loader
from harness.database import create_database, drop_database, migrate, truncate_all
from harness.postgres_cluster import PasswordPostgres
from stripe_double.double import StripeDouble
from tests.prisma.portal import adopted, create_portal_database

PROJECT_ID = "billing-test-project"
STRIPE_SECRET_KEY = "sk_test_suite_key"
STRIPE_WEBHOOK_SECRET = "whsec_test_suite_secret"
PORTAL_URL = "https://portal.example.test"
EMAIL_FROM_ADDRESS = "billing@portal.example.test"


# Directories whose tests carry a marker of their own, so that `-m` selects or leaves them out.
_MARKED_DIRECTORIES = {"e2e": pytest.mark.e2e, "browser": pytest.mark.browser, "prisma/cli": pytest.mark.prisma}


@pytest.hookimpl(tryfirst=True)  # before `-m` selects
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests = Path(__file__).parent
    for item in items:
        if not item.path.is_relative_to(tests):
            continue
        relative = item.path.relative_to(tests)
        for directory, marker in _MARKED_DIRECTORIES.items():
            if relative.is_relative_to(directory):
                item.add_marker(marker)
    # Prisma from npm only when asked for (`-m prisma`, make test-prisma): the rest of the suite needs no npm.
    if "prisma" not in (config.option.markexpr or ""):
        needs_npm = [item for item in items if item.get_closest_marker("prisma")]
        if needs_npm:
            config.hook.pytest_deselected(items=needs_npm)
            items[:] = [item for item in items if not item.get_closest_marker("prisma")]


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    url = create_database(f"billing_test_{uuid.uuid4().hex[:12]}")
    yield url
    drop_database(url)


@pytest.fixture(scope="session")
def stripe_double() -> Iterator[StripeDouble]:
    double = StripeDouble()
    double.start()
    yield double
    double.stop()


@pytest.fixture(scope="session")
def google_endpoint() -> Iterator[responses.RequestsMock]:
    """Google's HTTP APIs as firebase-admin reaches them (the certificate URL for the test project's key; more
    routes are added by the tests that need them); every other request leaving this machine fails."""
    endpoint = google_certificate_endpoint({})
    yield endpoint
    endpoint.stop()
    endpoint.reset()


@pytest.fixture(scope="session")
def token_issuer(google_endpoint: responses.RequestsMock) -> FirebaseTokenIssuer:
    issuer = FirebaseTokenIssuer(PROJECT_ID)
    serve_certificates(google_endpoint, issuer.certificates())
    return issuer


@pytest.fixture
def moto_secrets_manager(monkeypatch, google_endpoint: responses.RequestsMock):
    """Secrets Manager (moto) for one test, with Powertools' secret cache empty before and after, as a new
    container starts. Requests moto does not answer still reach the Google double and the local servers."""
    from aws_lambda_powertools.utilities import parameters
    from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS
    from moto import mock_aws
    from moto.core.models import override_responses_real_send

    for name, value in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    DEFAULT_PROVIDERS.pop("secrets", None)
    override_responses_real_send(google_endpoint)
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")
    override_responses_real_send(None)
    parameters.clear_caches()
    DEFAULT_PROVIDERS.pop("secrets", None)


@pytest.fixture(scope="session", autouse=True)
def service_environment(database_url: str, stripe_double: StripeDouble, token_issuer: FirebaseTokenIssuer) -> None:
    os.environ.pop("FIREBASE_AUTH_EMULATOR_HOST", None)
    os.environ.pop("AWS_LAMBDA_FUNCTION_NAME", None)
    os.environ.update(
        {
            "DATABASE_URL": database_url,
            "FIREBASE_PROJECT_ID": PROJECT_ID,
            "STRIPE_SECRET_KEY": STRIPE_SECRET_KEY,
            "STRIPE_WEBHOOK_SECRET": STRIPE_WEBHOOK_SECRET,
            "STRIPE_API_BASE": stripe_double.url,
            "STRIPE_MODE": "test",
            "PORTAL_URL": PORTAL_URL,
            "POWERTOOLS_SERVICE_NAME": "billing",
            "RECONCILE_AFTER_MINUTES": "30",
            "RECONCILE_BATCH_SIZE": "100",
            "STRIPE_EVENT_RETENTION_DAYS": "90",
            "EMAIL_FROM_ADDRESS": EMAIL_FROM_ADDRESS,
            "SES_CONFIGURATION_SET": "billing-notifications",
            "NOTIFICATION_MAX_ATTEMPTS": "3",
            "NOTIFICATION_BATCH_SIZE": "50",
        }
    )


@pytest.fixture(scope="session")
def password_postgres() -> Iterator[PasswordPostgres]:
    """A PostgreSQL cluster of our own that asks for passwords (the shared server trusts local connections)."""
    cluster = PasswordPostgres().start()
    yield cluster
    cluster.stop()


# ----- the database: PostgreSQL, or each database the module names (pytest.mark.engines) -----------------------

# The suite's PostgreSQL database; SQLite, the local default (`make dev`); the portal's database as Prisma builds it
# (PostgreSQL with a double precision "amount" and timestamps without time zone), adopted by `alembic upgrade head`:
# from the committed SQL ("prisma"), or built by the Prisma CLI from npm ("prisma_cli": marked prisma, so only
# `-m prisma`, make test-prisma, runs it).
ENGINES = ("postgresql", "sqlite", "prisma", "prisma_cli")
_NEEDS_NPM = ("prisma_cli",)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`@pytest.mark.engines("postgresql", "sqlite")` (on a module, class or test) runs those tests once per
    database: the functions' own engine and the tests' helpers (`db`, `world`, `db_engine`) all on that database.
    Without the mark, PostgreSQL alone."""
    marker = metafunc.definition.get_closest_marker("engines")
    if marker is None or "database" not in metafunc.fixturenames:
        return
    unknown = set(marker.args) - set(ENGINES)
    if unknown:
        raise pytest.UsageError(f"unknown database engines {sorted(unknown)}; engines: {ENGINES}")
    params = [pytest.param(name, marks=pytest.mark.prisma) if name in _NEEDS_NPM else name for name in marker.args]
    metafunc.parametrize("database", params, indirect=True, scope="module")


@dataclass
class Database:
    name: str  # one of ENGINES
    url: str
    engine: Engine

    def clear(self) -> None:
        """Every row gone, as at the start of a test."""
        if self.engine.dialect.name == "postgresql":
            truncate_all(self.engine)
            return
        with self.engine.begin() as conn:
            for table in reversed(metadata.sorted_tables):
                conn.execute(delete(table))


@pytest.fixture(scope="module")
def database(request: pytest.FixtureRequest, service_environment: None, database_url: str,
             functions: function_loader.Functions) -> Iterator[Database]:
    """The module's database: the suite's PostgreSQL, or one made for the module by the fixture
    `<engine>_database_url`. On one made for the module, the functions (already imported) read DATABASE_URL again
    and open a new engine, as a new container would start, and go back to the suite's database afterwards for the
    modules that follow in this process; the tests' engine there is the layer's kind (sessions in UTC, zone-less
    times read as UTC)."""
    name = getattr(request, "param", "postgresql")
    if name == "postgresql":
        engine = create_engine(database_url)
        yield Database(name, database_url, engine)
        engine.dispose()
        return
    url = request.getfixturevalue(f"{name}_database_url")
    engine = create_database_engine(url)
    with use_database(url):
        yield Database(name, url, engine)
    engine.dispose()


@pytest.fixture(scope="module")
def sqlite_database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fresh SQLite file, migrated."""
    url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'billing.sqlite3'}"
    migrate(url)
    return url


@pytest.fixture(scope="module")
def prisma_database_url() -> Iterator[str]:
    """The portal's database as Prisma builds it (tests/prisma/portal.py: the SQL the Prisma CLI generates for the
    portal's schema, in a server whose default time zone is UTC+14), adopted with the README's `alembic upgrade
    head`. tests/prisma/cli has the Prisma CLI itself build it."""
    with adopted(create_portal_database(f"billing_prisma_{uuid.uuid4().hex[:12]}")) as url:
        yield url


@contextmanager
def use_database(url: str) -> Iterator[None]:
    """The layer's settings and engine pointed at `url` while inside."""
    previous = os.environ["DATABASE_URL"]
    os.environ["DATABASE_URL"] = url
    layer_settings.configure()
    layer_db.dispose()
    try:
        yield
    finally:
        os.environ["DATABASE_URL"] = previous
        layer_settings.configure()
        layer_db.dispose()


@pytest.fixture(scope="module")
def db_engine(database: Database) -> Engine:
    return database.engine


@pytest.fixture(autouse=True)
def clean_state(database: Database, stripe_double: StripeDouble) -> Iterator[None]:
    database.clear()
    stripe_double.reset()
    yield


@pytest.fixture(scope="session")
def functions() -> function_loader.Functions:
    """The four handlers, imported from the CodeUri/Handler that template.yaml declares."""
    return function_loader.load_all()


@pytest.fixture
def db(db_engine: Engine):
    """Run a query in its own short transaction (assertions read committed state)."""

    def query(sql: str, **params: object) -> list:
        with db_engine.begin() as conn:
            result = conn.execute(text(sql), params)
            return [dict(row) for row in result.mappings()] if result.returns_rows else []

    return query


@pytest.fixture
def world(db_engine: Engine):
    from harness.world import World

    return World(db_engine)


@pytest.fixture
def api(functions: function_loader.Functions, token_issuer: FirebaseTokenIssuer):
    from harness.api import Api
    from tests.support.openapi import check_response

    # every response a route test receives is checked against docs/openapi.yaml
    return Api(functions, token_issuer, STRIPE_WEBHOOK_SECRET, check=check_response)


@pytest.fixture
def open_checkout(world, api):
    """Alice's 500.00 USD invoice with an open Checkout Session: (alice, invoice id, session id)."""
    acme = world.company()
    alice = world.contact(acme)
    invoice_id = world.invoice(acme, "500.00")
    status, created = api.checkout(alice, invoice_id)
    assert status == 200
    return alice, invoice_id, created["sessionId"]


@pytest.fixture
def firebase_verifications(monkeypatch) -> list[str]:
    """Every token handed to firebase-admin's verify_id_token (a spy: the real verification still runs)."""
    from firebase_admin import auth as firebase_auth

    verify, seen = firebase_auth.verify_id_token, []

    def spy(token, *args, **kwargs):
        seen.append(token)
        return verify(token, *args, **kwargs)

    monkeypatch.setattr(firebase_auth, "verify_id_token", spy)
    return seen


@pytest.fixture
def payment_not_yet_recorded(world, api, stripe_double):
    """A contact paid a 500.00 USD invoice at Stripe; its checkout.session.completed event has not been applied
    yet. Returns (invoice id, that event)."""
    acme = world.company()
    alice = world.contact(acme)
    invoice_id = world.invoice(acme)
    _, created = api.checkout(alice, invoice_id)
    (completed,) = stripe_double.complete_session(created["sessionId"])
    return invoice_id, completed
