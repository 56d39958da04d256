"""Ports on this machine: a free one to listen on, and waiting until a started server listens."""

from __future__ import annotations

import socket
import subprocess
import time
from typing import Any


def free_port() -> int:
    """A port nothing listens on now (the caller binds it soon: another process may take it meanwhile)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_listening(port: int, process: subprocess.Popen[Any], name: str, timeout: float = 60.0) -> None:
    """Return once something accepts connections on 127.0.0.1:`port`; RuntimeError if `process` (the server
    started for it) exits first or the time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the {name} exited with status {process.returncode} while starting (see above)")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the {name} did not listen on port {port} within {timeout:.0f} s")
