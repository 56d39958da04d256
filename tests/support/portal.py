"""The portal's own database as it may be: Prisma's schema need not declare "firebaseUid" unique, and then one Firebase
user can end up as two contacts. Tests take the unique constraint away for a while (PostgreSQL and SQLite alike)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text

_PG_CONSTRAINT = '"Contact_firebaseUid_key"'  # PostgreSQL's name for migration 0001's unique=True
_SQLITE_REBUILD = """
CREATE TABLE "Contact_rebuilt" (id TEXT PRIMARY KEY, "firebaseUid" TEXT {unique}, email TEXT,
                                "contactCompanyId" TEXT REFERENCES "Company"(id));
INSERT INTO "Contact_rebuilt" SELECT id, "firebaseUid", email, "contactCompanyId" FROM "Contact";
DROP TABLE "Contact";
ALTER TABLE "Contact_rebuilt" RENAME TO "Contact";
"""


@contextmanager
def firebase_uid_not_unique(engine: Engine) -> Iterator[None]:
    """While inside, "Contact"."firebaseUid" may repeat. Duplicates must be gone again before the block ends."""
    _set_unique(engine, False)
    try:
        yield
    finally:
        _set_unique(engine, True)


def _set_unique(engine: Engine, unique: bool) -> None:
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            conn.execute(text(f'ALTER TABLE "Contact" ADD CONSTRAINT {_PG_CONSTRAINT} UNIQUE ("firebaseUid")' if unique
                              else f'ALTER TABLE "Contact" DROP CONSTRAINT {_PG_CONSTRAINT}'))
        return
    # SQLite cannot drop a column's UNIQUE: the table is rebuilt, with foreign keys off meanwhile (SQLite's own
    # procedure for changes ALTER TABLE cannot make). The connection is in autocommit (billing/db_sqlite.py sets it so).
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("PRAGMA foreign_keys = OFF")
        cursor.executescript(_SQLITE_REBUILD.format(unique="UNIQUE" if unique else ""))
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        raw.close()
