"""The fast layer (`make test-fast`): the pure pieces, table-driven, in seconds. No database, no double, no socket.

The suite's autouse fixtures (tests/conftest.py) provision PostgreSQL, the Stripe double and Google's certificates
for every test; here they are replaced by ones that provision nothing, and any attempt to open a connection or
listen fails the test (`SocketUsed`), so that a test needing the network cannot hide in this layer.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest


class SocketUsed(AssertionError):
    """A unit test reached for the network."""


@pytest.fixture(scope="session")
def service_environment() -> None:
    """No services: nothing here talks to a database, Stripe or Google."""


@pytest.fixture
def clean_state() -> None:
    """Nothing to clean: no test here writes anywhere."""


@pytest.fixture(autouse=True)
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def refuse(self: socket.socket, *args: Any, **kwargs: Any) -> Any:
        raise SocketUsed(f"a unit test used a socket ({args[0] if args else ''}): it belongs in the integration tests")

    for method in ("connect", "connect_ex", "bind", "sendto"):
        monkeypatch.setattr(socket.socket, method, refuse)
    yield
