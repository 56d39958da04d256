"""The pg8000 driver's tuning: what a warm request spends on PostgreSQL, and how a connection is made.

A warm request spends no round trip it does not need: the connection is pinged only when it may be dead, a
transaction ends with one round trip instead of pg8000's three, placeholders are rewritten once per statement text,
timestamps are parsed without strptime. Every connection runs in UTC, over TLS (verified with a CA bundle), and
logs in with the database secret as last read.

Several of these reach into pg8000's internals (`legacy.convert_paramstyle`, `_in_transaction`, `_usock`,
`execute_simple`). They were written for the pg8000 version pinned in layers/common/requirements.txt
(WRITTEN_FOR_PG8000): another version refuses to make an engine, so that an upgrade fails loudly at the first
engine, in the tests and on every cold start, until this module has been checked against it.
"""

from __future__ import annotations

import select
import time
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import DisconnectionError

from billing.config_rules import LOCAL_HOSTS
from billing.errors import ConfigurationError, UncheckedDriver
from billing.observability import RECONNECT_METRIC, count, logger

if TYPE_CHECKING:
    from billing.db_login import DatabaseLogin

WRITTEN_FOR_PG8000 = "1.31.6"
# PostgreSQL type oids of timestamptz and timestamp
_TIMESTAMPTZ_OID, _TIMESTAMP_OID = 1184, 1114
# A connection used this recently, whose socket holds nothing unread, is used without a ping. Longer idle (a
# container frozen between invocations) and the server may have gone away without a word: it is pinged first.
_TRUSTED_IDLE_SECONDS = 10.0
# The public roots RDS Proxy's certificates (issued by AWS Certificate Manager) chain to: Amazon Root CA 1-4, as
# Debian's ca-certificates (Mozilla's store) has them. Shipped in the layer, never fetched at run time.
AMAZON_ROOT_CAS = Path(__file__).with_name("certs") / "amazon-root-ca-1-4.pem"


def check_driver(installed: str) -> None:
    if installed != WRITTEN_FOR_PG8000:
        raise UncheckedDriver(
            f"pg8000 {installed} is installed; billing/db_pg8000.py was written for {WRITTEN_FOR_PG8000} and reaches "
            "into its internals: check each of its patches against this version, then update WRITTEN_FOR_PG8000"
        )


def tune(pg8000_engine: Engine, *, ca_bundle: str | None, login: DatabaseLogin | None, ping: bool) -> None:
    """Everything above, on an engine of the pg8000 dialect; `ping=False` where the caller pre-pings itself."""
    import pg8000

    check_driver(pg8000.__version__)
    if login is not None:
        _log_in_with(pg8000_engine, login)  # first: the TLS connect below logs in
    _sessions_in_utc(pg8000_engine)
    _connect_with_tls(pg8000_engine, ca_bundle)
    _parse_timestamps_fast(pg8000_engine)
    _remember_placeholder_rewrites()
    _end_transactions_in_one_round_trip(pg8000_engine)
    if ping:
        _ping_when_in_doubt(pg8000_engine)


def _log_in_with(pg8000_engine: Engine, login: DatabaseLogin) -> None:
    """Every new connection logs in with the login's current value (billing/db_login.py: the database secret as
    last read, or an IAM authentication token), not with the password of init: RDS rotates the secret every 7 days,
    a token lives 15 minutes, and with SnapStart init ran when the version was published. A login refused all the
    same is refreshed by `db._connect`."""

    @event.listens_for(pg8000_engine, "do_connect")
    def _current_login(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
        try:
            cparams["user"], cparams["password"] = login.current()
        except ConfigurationError:  # Secrets Manager unreachable, no credentials: the URL's login (init's) is tried
            logger.warning("could not read the database login: trying the login read at start")


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
            rewritten_elsewhere: tuple[str, Any] = rewrite(style, statement, args)
            return rewritten_elsewhere
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

    # Replacing the methods of this engine's dialect instance is the point (its class stays pg8000's); mypy forbids
    # assigning to a method, hence the three ignores.
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
            count(RECONNECT_METRIC, reason="dead_at_checkout")  # the pool replaces it
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
    """TLS is verified (the server's certificate against a CA bundle, its name against the host) for every server
    but one on this machine: against `ca_bundle` when given (for a direct connection to RDS, its global-bundle.pem),
    else against the Amazon roots RDS Proxy's certificates chain to. A refused certificate is no connection at all,
    never a second try in plaintext.

    Only a server on this machine (localhost, 127.0.0.1, ::1: local runs, tests, whose traffic never leaves it)
    without a bundle is spoken to over TLS when it offers it, unverified (pg8000's own default, minus the system CA
    store pg8000 loads for every connection, about 16 ms, and never consults), and in plaintext when it has none,
    at the cost of a second TCP connect."""
    import ssl

    from pg8000.exceptions import InterfaceError as Pg8000InterfaceError

    ca_bundle = ca_bundle or default_ca_bundle(pg8000_engine.url.host)
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


def default_ca_bundle(host: str | None) -> str | None:
    """The CA bundle a connection to `host` is verified against when none is configured: none for a server on this
    machine, the Amazon roots for any other."""
    if host is None or host in LOCAL_HOSTS or f"[{host}]" in LOCAL_HOSTS:
        return None
    return str(AMAZON_ROOT_CAS)


def _parse_timestamps_fast(pg8000_engine: Engine) -> None:
    """pg8000 reads every timestamp with datetime.strptime (about 13 µs; a listing of 50 invoices holds 150, and
    the first call of a process also compiles strptime's patterns). datetime.fromisoformat reads PostgreSQL's
    output in under 1 µs; whatever it cannot read (infinity, BC dates, years past 9999) still goes to pg8000's
    own parser. Same instants as before; in a UTC session (RDS's default, ours) the very same values."""
    from pg8000 import converters

    parsers = {_TIMESTAMPTZ_OID: timestamp_parser(converters.timestamptz_in),
               _TIMESTAMP_OID: timestamp_parser(converters.timestamp_in, zone=UTC)}

    @event.listens_for(pg8000_engine, "connect")
    def _register_parsers(dbapi_connection: Any, _record: Any) -> None:
        for oid, parse in parsers.items():
            dbapi_connection.register_in_adapter(oid, parse)


def timestamp_parser(fallback: Callable[[str], Any], zone: tzinfo | None = None) -> Callable[[str], Any]:
    """A reader of PostgreSQL's text for one timestamp type: fromisoformat, else the driver's own parser.

    With a zone, a value without one is read in it: a timestamp without time zone (Prisma's DateTime in the
    portal's tables) holds UTC, as Prisma Client and these functions write it, so it is read as that instant, aware
    like every other, never as a naive local time. What fromisoformat cannot read (infinity) keeps the fallback's
    value."""

    def parse(text: str) -> Any:
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            value = fallback(text)
        return value.replace(tzinfo=zone) if zone is not None and isinstance(value, datetime) else value

    return parse
