"""SQLite (the local default, `make dev`) made to give the two things the code relies on from PostgreSQL: a
conditional UPDATE or a locked read is atomic against concurrent writers (SQLite has no row locks and ignores FOR
UPDATE, so every transaction takes the database's write lock when it begins: BEGIN IMMEDIATE), and foreign keys
are enforced.

Written for the sqlite3 module of Python 3.11 to 3.13 (its legacy transaction control: `isolation_level = None`
stops the module's own implicit BEGIN, so that the BEGIN IMMEDIATE below is the only one) and SQLite 3.35 or later
(UPDATE ... RETURNING, every invoice transition). Another Python refuses to make an engine until this module has
been checked against its sqlite3 module.
"""

from __future__ import annotations

import sys
from typing import Any

from sqlalchemy import Connection, Engine, event

from billing.errors import ConfigurationError, UncheckedDriver

WRITTEN_FOR_PYTHON = ((3, 11), (3, 12), (3, 13))
# UPDATE ... RETURNING (every invoice transition) arrived in SQLite 3.35.
MIN_SQLITE_VERSION = (3, 35)
# A writer waits this long for another's transaction to end before the request fails as 503.
_SQLITE_BUSY_TIMEOUT_MS = 15_000


def check_driver(python_version: tuple[int, int], sqlite_version: tuple[int, ...]) -> None:
    if python_version not in WRITTEN_FOR_PYTHON:
        raise UncheckedDriver(
            f"Python {python_version[0]}.{python_version[1]}'s sqlite3 module: billing/db_sqlite.py was written for "
            "the sqlite3 module of Python 3.11 to 3.13 (its legacy transaction control); check it against this one, "
            "then add the version to WRITTEN_FOR_PYTHON"
        )
    if sqlite_version < MIN_SQLITE_VERSION:
        raise ConfigurationError(
            f"SQLite {'.'.join(map(str, sqlite_version))} is too old: UPDATE ... RETURNING needs SQLite 3.35 or later"
        )


def tune(sqlite_engine: Engine) -> None:
    driver = sqlite_engine.dialect.dbapi
    assert driver is not None  # an engine made from a URL has loaded its driver (sqlite3)
    check_driver(sys.version_info[:2], tuple(driver.sqlite_version_info))

    @event.listens_for(sqlite_engine, "connect")
    def _configure_connection(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the driver must not BEGIN on its own: "begin" below does it
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {_SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")  # readers in other processes do not block the writer
        cursor.close()

    @event.listens_for(sqlite_engine, "begin")
    def _begin_with_the_write_lock(connection: Connection) -> None:
        # Taken at the start, not at the first write: a read-then-write (a locked SELECT, a conditional UPDATE)
        # is then atomic like PostgreSQL's row locks, and never fails half-way with "database is locked".
        connection.exec_driver_sql("BEGIN IMMEDIATE")
