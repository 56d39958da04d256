"""Start the functions' layer afresh in this process, as a new Lambda container starts: settings read again from
the environment (secrets included), and everything a container keeps between requests dropped — the database
engine and its pool, the Stripe client and any key read since start, firebase-admin's app and the tokens and
revocation answers it remembers. The functions already imported stay imported (their handlers are the same code).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import firebase_admin

from billing import auth, db, stripe_gateway
from billing import settings as layer_settings


def restart() -> None:
    db.dispose()
    stripe_gateway.client.cache_clear()
    stripe_gateway._rolled_api_key = None
    stripe_gateway._rolled_webhook_secrets = None
    if auth._firebase_app.cache_info().currsize:
        firebase_admin.delete_app(auth._firebase_app())
    for cached in (auth._firebase_app, auth._verifier, auth._checks_revocation):
        cached.cache_clear()
    auth._verified.clear()
    auth._not_revoked.clear()
    layer_settings.configure()


@contextmanager
def new_container(**environment: str | None) -> Iterator[None]:
    """A container started with these environment changes (None unsets); afterwards, one started as before."""
    saved = {name: os.environ.get(name) for name in environment}
    _apply(environment)
    try:
        restart()
        yield
    finally:
        _apply(saved)
        restart()


def _apply(environment: dict[str, str | None]) -> None:
    for name, value in environment.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
