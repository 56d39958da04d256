"""One engine per container, one transaction per unit of work: the transaction boundary every function goes
through, and what a database failure means to a request (503, or a connection replaced unnoticed).

Lambda runs one request at a time per container, so the pool holds a single connection that warm invocations
reuse; a connection the database dropped while the container was idle is replaced before the request uses it.

PostgreSQL (pg8000) runs in production and the tests, SQLite is the local default (`make dev`). What each driver
needs is in a module of its own, each checking the driver version it was written for: billing/db_pg8000.py (round
trips, verified TLS, the login of billing/db_login.py: the rotating secret or an IAM token) and billing/db_sqlite.py
(PostgreSQL's guarantees the code relies on).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from sqlalchemy import Connection, Engine, RootTransaction, create_engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from billing.db_login import DatabaseLogin, IamTokenLogin, SecretLogin
from billing.errors import ServiceUnavailable
from billing.observability import RECONNECT_METRIC, count, logger
from billing.settings import settings

# SQLSTATEs of a refused login: invalid_password (the secret has rotated since it was read) and
# invalid_authorization_specification (an IAM authentication token refused, by RDS Proxy or RDS).
_LOGIN_REFUSED = ("28P01", "28000")


@cache
def login() -> DatabaseLogin | None:
    """What this container's connections log in with when it changes while the container lives
    (billing/db_login.py); None for a DATABASE_URL's fixed login."""
    config = settings()
    if config.database_iam_auth and config.database_url:
        from sqlalchemy.engine import make_url

        url = make_url(config.database_url)
        return IamTokenLogin(str(url.host), url.port or 5432, str(url.username), str(config.aws_region))
    if config.database_secret_arn:
        return SecretLogin(config.database_secret_arn)
    return None


@cache
def engine() -> Engine:
    return create_database_engine(
        settings().database_url or "",
        ca_bundle=settings().database_ca_bundle,
        login=login(),
        pool_size=1,
        max_overflow=1,
        pool_recycle=900,
        # Error messages would otherwise carry statement parameters (event payloads, ids) into the logs.
        hide_parameters=True,
    )


def create_database_engine(url: str, ca_bundle: str | None = None, login: DatabaseLogin | None = None,
                           **options: Any) -> Engine:
    """An engine for `url`, with its driver's tuning; on SQLite, with the guarantees of PostgreSQL that the code
    relies on. With `login`, every connection logs in with its current username and password (or token). Each
    driver's module is imported only for its own URLs: a function on Lambda never loads SQLite's."""
    created = create_engine(url, **options)
    if created.dialect.name == "sqlite":
        from billing import db_sqlite

        db_sqlite.tune(created)
    if created.dialect.driver == "pg8000":
        from billing import db_pg8000

        db_pg8000.tune(created, ca_bundle=ca_bundle, login=login,
                       ping=not options.get("pool_pre_ping"))
    return created


# SQLSTATEs meaning "the database cannot serve right now", not "this statement is wrong": connection exceptions
# (08), insufficient resources (53), operator intervention such as shutdown or startup (57), "not accepting
# connections" (55000), serialization failures and deadlocks (40001, 40P01). They are answered 503, so that a
# webhook is retried by Stripe and a client retries.
_TRANSIENT_SQLSTATES = ("08", "53", "57", "55000", "40001", "40P01")


# SQLSTATEs of a session the server has ended: administrator command (pg_terminate_backend), crash or shutdown.
_SESSION_ENDED_SQLSTATES = ("57P01", "57P02", "57P03")


_AFTER_COMMIT = "billing_after_commit"


@contextmanager
def transaction() -> Iterator[Connection]:
    """Commit on success, roll back everything on any error; a database that cannot serve is ServiceUnavailable.
    What `after_commit` was given runs once the commit succeeded, never after a rollback."""
    connection, begun = _begin()
    connection.info[_AFTER_COMMIT] = []
    try:
        with begun:
            yield connection
        for action in connection.info[_AFTER_COMMIT]:
            action()
    except DBAPIError as error:
        if _is_transient(error):
            raise ServiceUnavailable() from error
        raise
    except OSError as error:  # a socket error the driver did not wrap
        raise ServiceUnavailable() from error
    finally:
        connection.info.pop(_AFTER_COMMIT, None)
        connection.close()


def after_commit(conn: Connection, action: Callable[[], None]) -> None:
    """Run `action` when the transaction of `conn` has committed (a metric of what it changed: counted once the
    change is there, not for a change rolled back). Outside `transaction()` (a script's own connection), at once."""
    pending = conn.info.get(_AFTER_COMMIT)
    if pending is None:
        action()
    else:
        pending.append(action)


def _begin() -> tuple[Connection, RootTransaction]:
    """A pooled connection with its transaction begun. The BEGIN is the unit of work's first round trip: a
    connection the server ended a moment before (its goodbye still on the way when the pool looked at it) fails
    there, before anything of the unit has run or been committed, so it is dropped and the unit begins once more
    on a fresh connection. A second failure is the database's: ServiceUnavailable."""
    for retry in (True, False):
        connection = _connect()
        try:
            return connection, connection.begin()
        except (DBAPIError, OSError) as error:
            connection.invalidate()  # never back into the pool
            connection.close()
            if not (retry and _session_ended(error)):
                raise ServiceUnavailable() from error
            logger.info("database connection ended by the server before the first statement; replaced",
                        extra={"error": type(error).__name__})
            count(RECONNECT_METRIC, reason="ended_before_first_statement")
    raise AssertionError("unreachable")


def _session_ended(error: Exception) -> bool:
    if isinstance(error, OSError) or (isinstance(error, DBAPIError) and error.connection_invalidated):
        return True
    return (_sqlstate(error) or "").startswith(("08", *_SESSION_ENDED_SQLSTATES))


def _connect() -> Connection:
    """A pooled connection. If the server dropped it while the container was idle, the check at checkout finds it
    dead and the pool opens another; if anything else about the pool fails (pg8000 may report a dead socket with
    a bare socket error, which the pool does not recognise), the pool is emptied once and a new connection
    opened: the request does not notice."""
    try:
        return engine().connect()
    except (DBAPIError, OSError) as error:
        login_refused = _sqlstate(error) in _LOGIN_REFUSED
        current_login = login()
        if login_refused and current_login is not None:
            current_login.refresh()  # the secret read again, or a new IAM token
        engine().dispose()
        count(RECONNECT_METRIC, reason="login_refused" if login_refused else "connection_failed")
    try:
        return engine().connect()
    except (DBAPIError, OSError) as error:
        # The kind of failure tells a refused certificate (a CA bundle that does not match) from a database away.
        cause = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
        logger.warning("could not connect to the database", extra={"error": type(cause).__name__})
        raise ServiceUnavailable() from error


def _is_transient(error: DBAPIError) -> bool:
    if isinstance(error, (OperationalError, InterfaceError)) or error.connection_invalidated:
        return True
    return (_sqlstate(error) or "").startswith(_TRANSIENT_SQLSTATES)


def _sqlstate(error: BaseException) -> str | None:
    """The server's SQLSTATE behind a SQLAlchemy or pg8000 error (pg8000 passes the server's error fields)."""
    orig = error.orig if isinstance(error, DBAPIError) else error
    fields = orig.args[0] if orig is not None and orig.args else None
    sqlstate = fields.get("C") if isinstance(fields, dict) else None
    return sqlstate if isinstance(sqlstate, str) else None


def dispose(close: bool = True) -> None:
    """Drop pooled connections: before a SnapStart snapshot, or in a forked child (close=False leaves the
    parent's sockets alone)."""
    if engine.cache_info().currsize:
        engine().dispose(close=close)
    engine.cache_clear()
    login.cache_clear()
