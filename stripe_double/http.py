"""The double's HTTP transport: a threaded HTTP/1.0 server (one request per connection, so SDK connection pools
inherited by forked children stay harmless) that hands each request to an app answering `Response`s — the API
alone (`StripeDouble.start()`), or the API with the payment page and the control endpoints (`server.LocalStripe`).
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import urlsplit


@dataclass
class Response:
    """What to send back, whatever the transport."""

    status: int
    headers: dict[str, str]
    body: bytes
    delay: float = 0.0  # seconds to wait before answering (hang_next)
    drop: bool = False  # close the connection without answering (drop_next)
    interrupt: threading.Event | None = field(default=None, repr=False)

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def wait(self) -> None:
        """Sleep for ``delay`` unless the double is reset or stopped meanwhile."""
        if self.delay > 0:
            (self.interrupt or threading.Event()).wait(self.delay)


class App(Protocol):
    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Response: ...


RequestLog = Callable[[str, str, str], None]  # method, path (never the query: it may hold secrets), status


class HttpServer:
    """Serves an app from a daemon thread on host:port (0: any free port) until `stop()`."""

    def __init__(self, app: App, log: RequestLog | None = None) -> None:
        self.app, self.log = app, log
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self, host: str = "127.0.0.1", port: int = 0, name: str = "stripe-http") -> HttpServer:
        if self._server is not None:
            raise RuntimeError("already started")
        server = _Server((host, port), _Handler)
        server.http = self
        self._server = server
        serve = functools.partial(server.serve_forever, poll_interval=0.05)  # stops promptly
        self._thread = threading.Thread(target=serve, name=name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = self._thread = None

    @property
    def started(self) -> bool:
        return self._server is not None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    http: HttpServer


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "StripeDouble"

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        response = self.server.http.app.handle(self.command, self.path, dict(self.headers.items()), body)
        if response.drop:
            self.close_connection = True
            return
        response.wait()
        try:
            self.send_response(response.status)
            for name, value in response.headers.items():
                if name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (e.g. timed out)

    do_GET = do_POST = do_DELETE = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        log = self.server.http.log
        if log is not None:
            log(self.command, urlsplit(self.path).path, str(args[1]) if len(args) > 1 else "")
