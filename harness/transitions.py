"""Every status change of an invoice logged by a trigger in the database itself, so that a test (or the storm) sees
the transitions, not just the final state: "_TransitionLog" ("invoiceId", "from", "to", "paidAt"), on PostgreSQL
and on SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text

_TABLE = 'CREATE TABLE "_TransitionLog" ("invoiceId" text, "from" text, "to" text, "paidAt" timestamptz)'
_STATEMENTS = {
    "postgresql": (
        [
            _TABLE,
            """CREATE FUNCTION _log_transition() RETURNS trigger AS $$ BEGIN
                 IF NEW.status IS DISTINCT FROM OLD.status THEN
                   INSERT INTO "_TransitionLog" VALUES (NEW.id, OLD.status, NEW.status, NEW."paidAt");
                 END IF; RETURN NEW; END $$ LANGUAGE plpgsql""",
            'CREATE TRIGGER log_transition AFTER UPDATE ON "Invoice" FOR EACH ROW EXECUTE FUNCTION _log_transition()',
        ],
        ['DROP TRIGGER IF EXISTS log_transition ON "Invoice"', "DROP FUNCTION IF EXISTS _log_transition()",
         'DROP TABLE IF EXISTS "_TransitionLog"'],
    ),
    "sqlite": (
        [
            _TABLE,
            """CREATE TRIGGER log_transition AFTER UPDATE OF status ON "Invoice"
               WHEN OLD.status IS NOT NEW.status
               BEGIN INSERT INTO "_TransitionLog" VALUES (NEW.id, OLD.status, NEW.status, NEW."paidAt"); END""",
        ],
        ["DROP TRIGGER IF EXISTS log_transition", 'DROP TABLE IF EXISTS "_TransitionLog"'],
    ),
}


def install(engine: Engine) -> None:
    _run(engine, _STATEMENTS[engine.dialect.name][0])


def remove(engine: Engine) -> None:
    _run(engine, _STATEMENTS[engine.dialect.name][1])


@contextmanager
def transition_log(engine: Engine) -> Iterator[None]:
    """While inside, every status change of an invoice is a row of "_TransitionLog"."""
    install(engine)
    try:
        yield
    finally:
        remove(engine)


def _run(engine: Engine, statements: list[str]) -> None:
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))
