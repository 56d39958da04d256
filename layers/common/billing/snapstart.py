"""Lambda SnapStart runtime hooks.

With SnapStart, Lambda runs a function's init (imports, settings, secrets) once, when a version is published,
snapshots the memory, and starts every new container of that version from the snapshot. Two things must not
cross the snapshot:

- open sockets: a pooled database connection would be restored in many containers at once, all sharing one
  server session that is long gone. The pool is emptied before the snapshot; each restored container opens its
  own connection on its first request (and keeps it for the warm ones).
- pseudo-random state: every container restored from one snapshot would draw the same numbers (the Stripe SDK's
  retry jitter, Powertools' log sampling), so `random` is reseeded from the OS after restore. Ids and secrets
  here come from os.urandom (uuid4, secrets), which needs nothing.

And one thing should: whatever a first request would otherwise build without I/O (the engine, which imports
pg8000 and its dialect; the Stripe client) is built before the snapshot, so restored containers skip it.

`snapshot_restore_py` ships only inside Lambda's managed Python runtimes (3.12+). Elsewhere (tests, local runs,
`sam local`) nothing takes snapshots, so registering does nothing; the hooks stay plain functions that tests
call directly.
"""

from __future__ import annotations

import random

from billing import db
from billing.settings import settings


def before_snapshot() -> None:
    db.dispose()
    _build_clients()


def after_restore() -> None:
    random.seed()  # from os.urandom: each restored container gets its own sequence


def register_runtime_hooks() -> bool:
    """Register the hooks with Lambda's runtime; False where there is no SnapStart runtime (not on Lambda)."""
    try:
        from snapshot_restore_py import register_after_restore, register_before_snapshot
    except ImportError:
        return False
    register_before_snapshot(before_snapshot)
    register_after_restore(after_restore)
    return True


def _build_clients() -> None:
    """Only the clients this function's settings name: the list function never imports the Stripe SDK."""
    config = settings()
    if config.database_url:
        db.engine()  # no connection yet: the pool stays empty
    if config.stripe_secret_key:
        from billing import stripe_gateway

        stripe_gateway.client()
