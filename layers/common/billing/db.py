"""One engine per container, one transaction per unit of work.

Lambda runs one request at a time per container, so the pool holds a single connection that warm invocations
reuse; a connection the database dropped while the container was idle is replaced before the request uses it.
On PostgreSQL (pg8000) a warm request spends no round trip it does not need: the connection is pinged only when
it may be dead, and a transaction ends with one round trip instead of pg8000's three.

PostgreSQL runs in production and the tests; SQLite is the local default (`make dev`). The code relies on two
things PostgreSQL gives and SQLite must be made to give: a conditional UPDATE or a locked read is atomic against
concurrent writers (SQLite has no row locks and ignores FOR UPDATE, so every transaction takes the database's
write lock when it begins: BEGIN IMMEDIATE), and foreign keys are enforced.
"""

from __future__ import annotations

import select
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, tzinfo
from functools import cache, lru_cache
from typing import Any

from sqlalchemy import Connection, Engine, RootTransaction, create_engine, event
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError

from billing.errors import ConfigurationError, ServiceUnavailable
from billing.observability import logger
from billing.settings import database_login, read_database_secret, settings

# UPDATE ... RETURNING (every invoice transition) arrived in SQLite 3.35.
_MIN_SQLITE_VERSION = (3, 35)
# A writer waits this long for another's transaction to end before the request fails as 503.
_SQLITE_BUSY_TIMEOUT_MS = 15_000
# PostgreSQL type oids of timestamptz and timestamp
_TIMESTAMPTZ_OID, _TIMESTAMP_OID = 1184, 1114
# A connection used this recently, whose socket holds nothing unread, is used without a ping. Longer idle (a
# container frozen between invocations) and the server may have gone away without a word: it is pinged first.
_TRUSTED_IDLE_SECONDS = 10.0


# SQLSTATE of a refused password (invalid_password): the secret has rotated since it was read.
_PASSWORD_REFUSED = "28P01"


@cache
def engine() -> Engine:
    return create_database_engine(
        settings().database_url or "",
        ca_bundle=settings().database_ca_bundle,
        login_secret_arn=settings().database_secret_arn,
        pool_size=1,
        max_overflow=1,
        pool_recycle=900,
        # Error messages would otherwise carry statement parameters (event payloads, ids) into the logs.
        hide_parameters=True,
    )


def create_database_engine(url: str, ca_bundle: str | None = None, login_secret_arn: str | None = None,
                           **options: Any) -> Engine:
    """An engine for `url`; on SQLite, with the guarantees of PostgreSQL that the code relies on. With
    `login_secret_arn`, every connection logs in with that secret's current username and password."""
    created = create_engine(url, **options)
    if created.dialect.name == "sqlite":
        _give_sqlite_postgresql_guarantees(created)
    if created.dialect.driver == "pg8000":
        if login_secret_arn:
            _log_in_with_the_secret(created, login_secret_arn)  # first: the TLS connect below logs in
        _sessions_in_utc(created)
        _connect_with_tls(created, ca_bundle)
        _parse_timestamps_fast(created)
        _remember_placeholder_rewrites()
        _end_transactions_in_one_round_trip(created)
        if not options.get("pool_pre_ping"):
            _ping_when_in_doubt(created)
    return created


def _log_in_with_the_secret(pg8000_engine: Engine, secret_arn: str) -> None:
    """Every new connection logs in with the database secret as last read (kept at most
    secret_store.MAX_AGE_SECONDS), not with the password of init: RDS rotates it every 7 days, and with SnapStart
    init ran when the version was published. A password refused all the same is read afresh by `_connect`."""

    @event.listens_for(pg8000_engine, "do_connect")
    def _current_login(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
        try:
            cparams["user"], cparams["password"] = database_login(read_database_secret(secret_arn))
        except ConfigurationError:  # Secrets Manager unreachable: the login of the URL (read at init) is tried
            logger.warning("could not read the database secret: trying the login read at start")


@cache
def _remember_placeholder_rewrites() -> None:
    """pg8000 rewrites the %s placeholders SQLAlchemy renders into PostgreSQL's $1, $2, ... by scanning the
    statement character by character on every execution (about 0.1 ms for an INSERT of the inbox). The rewrite
    depends on the statement text alone, and a function sends the same few statements again and again, so it is
    remembered. The values pass through untouched, as pg8000 itself passes them for this paramstyle."""
    from pg8000 import legacy

    rewrite = legacy.convert_paramstyle

    @lru_cache(maxsize=256)
    def rewritten(statement: str) -> str:
        return str(rewrite("format", statement, ())[0])

    def convert_paramstyle(style: str, statement: str, args: Any) -> tuple[str, Any]:
        if style != "format":
            return rewrite(style, statement, args)
        return rewritten(statement), args

    legacy.convert_paramstyle = convert_paramstyle


def _end_transactions_in_one_round_trip(pg8000_engine: Engine) -> None:
    """pg8000 sends COMMIT and ROLLBACK through the extended protocol (parse, describe, execute: three round
    trips, each waited for); sent as simple queries they take one, with the same errors and the same
    transaction state afterwards (both come from the server's answer).

    BEGIN is sent when the transaction begins rather than with its first statement (pg8000's own way): the same
    one round trip, moved to where `transaction()` can replace a connection that turns out dead (pg8000 tracks
    the transaction from the server's answer, so the first statement then sends no BEGIN of its own)."""
    dialect = pg8000_engine.dialect

    def do_begin(dbapi_connection: Any) -> None:
        if not dbapi_connection._in_transaction and not dbapi_connection.autocommit:  # a ping may have begun it
            dbapi_connection.execute_simple("begin transaction")

    def do_commit(dbapi_connection: Any) -> None:
        dbapi_connection.execute_simple("commit")

    def do_rollback(dbapi_connection: Any) -> None:
        if dbapi_connection._in_transaction:  # as pg8000's own rollback checks
            dbapi_connection.execute_simple("rollback")

    dialect.do_begin = do_begin  # type: ignore[method-assign]
    dialect.do_commit = do_commit  # type: ignore[method-assign]
    dialect.do_rollback = do_rollback  # type: ignore[method-assign]


def _ping_when_in_doubt(pg8000_engine: Engine) -> None:
    """What the pool's pre-ping does, without its round trip on every request: a connection checked in less than
    _TRUSTED_IDLE_SECONDS ago is used as it is unless the server has written to it since (a server that ends a
    session, by shutdown, restart or pg_terminate_backend, says so and closes the socket, which makes it
    readable). Any other connection is pinged, and one that fails the ping is replaced by the pool."""
    dialect = pg8000_engine.dialect

    @event.listens_for(pg8000_engine, "connect")
    @event.listens_for(pg8000_engine, "checkin")
    def _note_last_use(_dbapi_connection: Any, record: Any) -> None:
        record.info["last_used_at"] = time.time()

    @event.listens_for(pg8000_engine, "checkout")
    def _make_sure_it_is_alive(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle = time.time() - record.info.get("last_used_at", 0.0)
        if 0 <= idle < _TRUSTED_IDLE_SECONDS and not _server_has_written(dbapi_connection):
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as error:  # a dead socket fails in whatever way pg8000 happens to notice it
            raise DisconnectionError("the database connection failed its ping") from error


def _server_has_written(dbapi_connection: Any) -> bool:
    """Between requests a healthy PostgreSQL session sends nothing; unread bytes (or end of file) mean the
    server spoke first, which between requests is a goodbye."""
    sock = getattr(dbapi_connection, "_usock", None)  # pg8000's socket; without it, assume the worst
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):  # closed already
        return True
    return bool(readable)


def _sessions_in_utc(pg8000_engine: Engine) -> None:
    """Every session runs in UTC, whatever the server's or the database's default time zone: the listing has
    PostgreSQL format timestamps as UTC text, and a Prisma-made `timestamp` column (without time zone) holds UTC.
    Sent in the startup message, so it costs no round trip."""

    @event.listens_for(pg8000_engine, "do_connect")
    def _in_utc(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
        cparams.setdefault("startup_params", {"TimeZone": "UTC"})


def _connect_with_tls(pg8000_engine: Engine, ca_bundle: str | None) -> None:
    """With a CA bundle (RDS's, for instance), TLS is required and the server's certificate verified against it
    (name included). Without one, TLS is used when the server offers it, unverified: pg8000's own default, minus
    the system CA store pg8000 loads for every connection (about 16 ms) and never consults. A server without TLS
    (a local one) costs a second TCP connect instead."""
    import ssl

    from pg8000.exceptions import InterfaceError as Pg8000InterfaceError

    if ca_bundle:
        verifying = ssl.create_default_context(cafile=ca_bundle)  # CERT_REQUIRED, hostname checked
    else:
        unverified = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        unverified.check_hostname = False
        unverified.verify_mode = ssl.CERT_NONE

    @event.listens_for(pg8000_engine, "do_connect")
    def _connect(dialect: Any, _record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        if "ssl_context" in cparams:  # the URL or connect_args chose already
            return None
        if ca_bundle:
            return dialect.connect(*cargs, ssl_context=verifying, **cparams)
        try:
            return dialect.connect(*cargs, ssl_context=unverified, **cparams)
        except Pg8000InterfaceError as error:
            if "refuses SSL" not in str(error):
                raise
        return dialect.connect(*cargs, ssl_context=False, **cparams)


def _parse_timestamps_fast(pg8000_engine: Engine) -> None:
    """pg8000 reads every timestamp with datetime.strptime (about 13 µs; a listing of 50 invoices holds 150, and
    the first call of a process also compiles strptime's patterns). datetime.fromisoformat reads PostgreSQL's
    output in under 1 µs; whatever it cannot read (infinity, BC dates, years past 9999) still goes to pg8000's
    own parser. Same instants as before; in a UTC session (RDS's default, ours) the very same values.

    A timestamp without time zone (Prisma's DateTime in the portal's tables) holds UTC, as Prisma Client and these
    functions write it: it is read as that instant, aware like every other, never as a naive local time."""
    from pg8000 import converters

    def fast(fallback: Any, zone: tzinfo | None = None) -> Any:
        def parse(text: str) -> Any:
            try:
                value = datetime.fromisoformat(text)
            except ValueError:
                value = fallback(text)
            return value.replace(tzinfo=zone) if zone is not None and isinstance(value, datetime) else value

        return parse

    parsers = {_TIMESTAMPTZ_OID: fast(converters.timestamptz_in),
               _TIMESTAMP_OID: fast(converters.timestamp_in, UTC)}

    @event.listens_for(pg8000_engine, "connect")
    def _register_parsers(dbapi_connection: Any, _record: Any) -> None:
        for oid, parse in parsers.items():
            dbapi_connection.register_in_adapter(oid, parse)


def _give_sqlite_postgresql_guarantees(sqlite_engine: Engine) -> None:
    version = tuple(sqlite_engine.dialect.dbapi.sqlite_version_info)  # type: ignore[union-attr]
    if version < _MIN_SQLITE_VERSION:
        raise ConfigurationError(
            f"SQLite {'.'.join(map(str, version))} is too old: UPDATE ... RETURNING needs SQLite 3.35 or later"
        )

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


# SQLSTATEs meaning "the database cannot serve right now", not "this statement is wrong": connection exceptions
# (08), insufficient resources (53), operator intervention such as shutdown or startup (57), "not accepting
# connections" (55000), serialization failures and deadlocks (40001, 40P01). They are answered 503, so that a
# webhook is retried by Stripe and a client retries.
_TRANSIENT_SQLSTATES = ("08", "53", "57", "55000", "40001", "40P01")


# SQLSTATEs of a session the server has ended: administrator command (pg_terminate_backend), crash or shutdown.
_SESSION_ENDED_SQLSTATES = ("57P01", "57P02", "57P03")


@contextmanager
def transaction() -> Iterator[Connection]:
    """Commit on success, roll back everything on any error; a database that cannot serve is ServiceUnavailable."""
    connection, begun = _begin()
    try:
        with begun:
            yield connection
    except DBAPIError as error:
        if _is_transient(error):
            raise ServiceUnavailable() from error
        raise
    except OSError as error:  # a socket error the driver did not wrap
        raise ServiceUnavailable() from error
    finally:
        connection.close()


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
        if _sqlstate(error) == _PASSWORD_REFUSED:
            _read_the_rotated_secret()
        engine().dispose()
    try:
        return engine().connect()
    except (DBAPIError, OSError) as error:
        # The kind of failure tells a refused certificate (a CA bundle that does not match) from a database away.
        cause = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
        logger.warning("could not connect to the database", extra={"error": type(cause).__name__})
        raise ServiceUnavailable() from error


def _read_the_rotated_secret() -> None:
    """Once per refused connection: the next attempt logs in with what the secret holds now."""
    secret_arn = settings().database_secret_arn
    if not secret_arn:
        return  # a DATABASE_URL of the environment: nothing to read again
    try:
        read_database_secret(secret_arn, fresh=True)
    except ConfigurationError:
        logger.warning("could not read the database secret again")
    else:
        logger.info("database password refused: the database secret was read again")


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
