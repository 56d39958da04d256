"""Faults injected inside PostgreSQL: a trigger that makes every UPDATE of a table fail while it is switched on."""

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
