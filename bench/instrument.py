"""What a request costs besides our own Python: SQL statements (SQLAlchemy's engine events), connections opened
(pool events), time blocked on the database socket, and time spent in HTTP exchanges with Stripe.

Used only inside the benchmark's measuring processes. The timers wrap the standard library's socket file object
(what pg8000 reads and writes through) and requests' transport adapter (what the Stripe SDK sends through):
they add a few microseconds per call, the same for ours and the baseline, and change no behaviour.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from typing import Any

import requests.adapters
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool


@dataclass
class Counters:
    statements: int = 0
    connections: int = 0
    db_wait_s: float = 0.0  # blocked reading from / writing to the database socket
    db_writes: int = 0  # messages flushed to the database: its round trips, near enough
    db_driver_s: float = 0.0  # inside pg8000 sending statements and reading their results (the wait included)
    http_s: float = 0.0  # whole HTTP exchanges with Stripe (connect, send, wait, read)
    http_requests: int = 0
    sql: list[str] = field(default_factory=list)

    def snapshot(self) -> tuple[int, int, float, int, float, int, float]:
        return (self.statements, self.connections, self.db_wait_s, self.db_writes, self.http_s, self.http_requests,
                self.db_driver_s)


COUNTERS = Counters()
_database_ports: set[int] = set()
_installed = False


def install(database_port: int, keep_sql: bool = True) -> Counters:
    global _installed
    if _installed:
        return COUNTERS
    _installed = True
    _database_ports.add(database_port)

    @event.listens_for(Engine, "before_cursor_execute")
    def _count_statement(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        COUNTERS.statements += 1
        if keep_sql:
            COUNTERS.sql.append(" ".join(statement.split())[:160])

    @event.listens_for(Pool, "connect")
    def _count_connection(dbapi_connection: Any, record: Any) -> None:
        COUNTERS.connections += 1

    # The ignores below are the instrumentation itself: a private attribute of the stdlib's socket wrapper, a
    # marker attribute cached on it, and the stdlib's and requests' methods replaced by timed ones.
    def is_database(raw: socket.SocketIO) -> bool:
        port = getattr(raw, "_bench_peer_port", None)
        if port is None:
            try:
                port = raw._sock.getpeername()[1]  # type: ignore[attr-defined]
            except (OSError, IndexError, AttributeError):
                port = -1
            raw._bench_peer_port = port  # type: ignore[attr-defined]
        return port in _database_ports

    socket.SocketIO.readinto = _timed(socket.SocketIO.readinto, "db_wait_s", only=is_database)  # type: ignore[method-assign]
    socket.SocketIO.write = _timed(socket.SocketIO.write, "db_wait_s", "db_writes", only=is_database)  # type: ignore[method-assign]

    # Every statement, BEGIN and COMMIT goes through one of these two (ours and the baseline alike): the time
    # the driver needs for the round trips, its protocol and its decoding of the rows, as the application sees it.
    from pg8000.core import CoreConnection

    for name in ("execute_simple", "execute_unnamed"):
        setattr(CoreConnection, name, _timed(getattr(CoreConnection, name), "db_driver_s"))

    requests.adapters.HTTPAdapter.send = _timed(  # type: ignore[method-assign]
        requests.adapters.HTTPAdapter.send, "http_s", "http_requests")
    return COUNTERS


def _timed(method: Any, seconds: str, calls: str | None = None, only: Any = None) -> Any:
    """`method`, adding the time each call takes to COUNTERS.<seconds> (and one to COUNTERS.<calls>), for the
    calls on objects `only` accepts (all when None)."""

    def timed_method(self: Any, *args: Any, **kwargs: Any) -> Any:
        if only is not None and not only(self):
            return method(self, *args, **kwargs)
        began = time.perf_counter()
        try:
            return method(self, *args, **kwargs)
        finally:
            setattr(COUNTERS, seconds, getattr(COUNTERS, seconds) + time.perf_counter() - began)
            if calls:
                setattr(COUNTERS, calls, getattr(COUNTERS, calls) + 1)

    return timed_method
