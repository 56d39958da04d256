"""Throw-away PostgreSQL databases for the tests, migrated with `alembic upgrade head`."""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
SERVER_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+pg8000://postgres@127.0.0.1:5432/postgres")
TABLES = (
    "Notification", "NotificationOptOut", "StaffAuditLog", "InvoiceNumberCounter", "PaymentRecord",
    "UnappliedPayment", "ReconciliationCursor", "PaymentAdjustment", "StripeEvent", "CheckoutSession",
    "StripeCustomer", "Invoice", "Proposal", "Contact", "Company",
)


def create_database(name: str) -> str:
    """Create an empty database, migrate it to head, and return its URL. Fails loudly if PostgreSQL is down."""
    url = create_empty_database(name)
    migrate(url)
    return url


def create_empty_database(name: str, *, time_zone: str | None = None) -> str:
    """Create a database with nothing in it (its default time zone `time_zone`, else the server's); its URL."""
    server = create_engine(SERVER_URL, isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
        if time_zone is not None:
            conn.execute(text(f"ALTER DATABASE \"{name}\" SET timezone TO '{time_zone}'"))
    server.dispose()
    return make_url(SERVER_URL).set(database=name).render_as_string(hide_password=False)


def migrate(url: str) -> None:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", url)
    config.attributes["configure_logger"] = False
    command.upgrade(config, "head")


def drop_database(url: str) -> None:
    server = create_engine(SERVER_URL, isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    server.dispose()


def truncate_all(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in TABLES) + " CASCADE"))
