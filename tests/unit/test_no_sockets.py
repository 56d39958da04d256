"""The fast layer's guard itself: a test here that reaches for the network fails, so none can hide in this layer."""

from __future__ import annotations

import socket

import pytest

from tests.unit.conftest import SocketUsed


@pytest.mark.parametrize(
    "use",
    [
        lambda: socket.create_connection(("127.0.0.1", 5432), timeout=1),
        lambda: socket.socket().bind(("127.0.0.1", 0)),
        lambda: socket.socket(socket.AF_UNIX).connect("/var/run/postgresql/.s.PGSQL.5432"),
    ],
    ids=["connect", "listen", "a unix socket"],
)
def test_a_socket_fails_the_test(use) -> None:
    with pytest.raises(SocketUsed):
        use()
