"""Faults injected inside the database: a trigger that makes every UPDATE of a table fail while it is switched on
(PostgreSQL, and SQLite for the tests that run there too)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text


class UpdateFault:
    def __init__(self, engine: Engine, flag_table: str) -> None:
        self._engine, self._flag_table = engine, flag_table

    def on(self) -> None:
        with self._engine.begin() as conn:
            conn.execute(text(f'INSERT INTO "{self._flag_table}" VALUES (true)'))

    def off(self) -> None:
        with self._engine.begin() as conn:
            conn.execute(text(f'DELETE FROM "{self._flag_table}"'))


@contextmanager
def failing_updates(engine: Engine, table: str) -> Iterator[UpdateFault]:
    """While `.on()`, every UPDATE of `table` raises inside the database, in the caller's own transaction."""
    name = table.lower()
    flag, function, trigger = f"_Fault{table}", f"_fail_{name}_update", f"fail_{name}_update"
    if engine.dialect.name == "sqlite":
        with _sqlite_trigger(engine, table, flag, trigger):
            yield UpdateFault(engine, flag)
        return
    with engine.begin() as conn:
        conn.execute(text(f'CREATE TABLE "{flag}" (on_ boolean)'))
        conn.execute(text(f"""CREATE FUNCTION {function}() RETURNS trigger AS $$ BEGIN
            IF EXISTS (SELECT 1 FROM "{flag}") THEN RAISE EXCEPTION 'injected fault on {table}'; END IF;
            RETURN NEW; END $$ LANGUAGE plpgsql"""))
        conn.execute(text(f'CREATE TRIGGER {trigger} BEFORE UPDATE ON "{table}" FOR EACH ROW '
                          f"EXECUTE FUNCTION {function}()"))
    try:
        yield UpdateFault(engine, flag)
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP TRIGGER {trigger} ON "{table}"'))
            conn.execute(text(f"DROP FUNCTION {function}()"))
            conn.execute(text(f'DROP TABLE "{flag}"'))


@contextmanager
def _sqlite_trigger(engine: Engine, table: str, flag: str, trigger: str) -> Iterator[None]:
    with engine.begin() as conn:
        conn.execute(text(f'CREATE TABLE "{flag}" (on_ boolean)'))
        conn.execute(text(f'CREATE TRIGGER {trigger} BEFORE UPDATE ON "{table}" '
                          f'WHEN EXISTS (SELECT 1 FROM "{flag}") '
                          f"BEGIN SELECT RAISE(ABORT, 'injected fault on {table}'); END"))
    try:
        yield
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP TRIGGER {trigger}"))
            conn.execute(text(f'DROP TABLE "{flag}"'))
