"""One engine per container, one transaction per unit of work.

Lambda runs one request at a time per container, so the pool holds a single connection that warm invocations
reuse; `pool_pre_ping` replaces a connection the database dropped while the container was idle.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from billing.errors import ServiceUnavailable
from billing.settings import settings


@cache
def engine() -> Engine:
    return create_engine(
        settings().database_url or "",
        pool_size=1,
        max_overflow=1,
        pool_pre_ping=True,
        pool_recycle=900,
    )


@contextmanager
def transaction() -> Iterator[Connection]:
    """Commit on success, roll back everything on any error; connection failures become ServiceUnavailable."""
    try:
        with engine().begin() as connection:
            yield connection
    except (OperationalError, InterfaceError) as error:
        raise ServiceUnavailable() from error
    except DBAPIError as error:
        if error.connection_invalidated:
            raise ServiceUnavailable() from error
        raise


def dispose(close: bool = True) -> None:
    """Drop pooled connections: before a SnapStart snapshot, or in a forked child (close=False leaves the
    parent's sockets alone)."""
    if engine.cache_info().currsize:
        engine().dispose(close=close)
    engine.cache_clear()
