"""The HTTP API, locally: every route template.yaml declares, served by turning each HTTP request into the HTTP
API (payload format 2.0) event API Gateway would send and calling the function's handler with it — the same
code path as on Lambda. The webhook route stands in for the Function URL.

What API Gateway itself does in front of the functions is reproduced where a client can tell: the JWT
authorizer's refusal of a request without an Authorization header (the token itself is checked by the
function), the CORS answers for the portal's origin, and the payload limit.

    PYTHONPATH=layers/common python -m local.api_server --port 3001     (`make dev` starts it for you)
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import sys
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from local.runtime import FunctionHost
from local.template import Route, http_routes, most_specific_first, template

# API Gateway's own limit; the functions refuse far smaller bodies themselves (billing.http.MAX_BODY_BYTES).
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
# Template parameters that the local settings stand in for.
_PARAMETER_SETTINGS = {"PortalUrl": "PORTAL_URL", "FirebaseProjectId": "FIREBASE_PROJECT_ID"}
_TEXT_TYPES = ("text/", "application/json", "+json", "application/x-www-form-urlencoded", "application/xml", "+xml")


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    @classmethod
    def json(cls, status: int, body: Any, headers: Iterable[tuple[str, str]] = ()) -> HttpResponse:
        return cls(status, [("content-type", "application/json"), *headers], json.dumps(body).encode())


@dataclass(frozen=True)
class Cors:
    allow_origins: frozenset[str]
    allow_methods: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()
    max_age: int | None = None

    def headers_for(self, origin: str | None) -> list[tuple[str, str]]:
        if not origin or not ({origin, "*"} & self.allow_origins):
            return []
        return [("access-control-allow-origin", origin), ("vary", "origin")]

    def preflight(self, origin: str | None) -> HttpResponse:
        headers = self.headers_for(origin)
        if headers:
            headers += [
                ("access-control-allow-methods", ",".join(self.allow_methods)),
                ("access-control-allow-headers", ",".join(h.lower() for h in self.allow_headers)),
            ]
            if self.max_age is not None:
                headers.append(("access-control-max-age", str(self.max_age)))
        return HttpResponse(204, headers, b"")


def cors_from_template(settings: Mapping[str, str]) -> Cors | None:
    """The HTTP API's CorsConfiguration, with `!Ref PortalUrl` read from the PORTAL_URL setting."""
    for resource in template()["Resources"].values():
        if resource.get("Type") != "AWS::Serverless::HttpApi":
            continue
        config = (resource.get("Properties") or {}).get("CorsConfiguration")
        if not config:
            return None
        origins = set()
        for origin in config.get("AllowOrigins") or []:
            if isinstance(origin, dict) and "Ref" in origin:
                origin = settings.get(_PARAMETER_SETTINGS.get(origin["Ref"], ""), "")
            if origin:
                parts = urlsplit(origin)
                origins.add(f"{parts.scheme}://{parts.netloc}" if parts.netloc else origin)
        return Cors(
            allow_origins=frozenset(origins),
            allow_methods=tuple(config.get("AllowMethods") or ()),
            allow_headers=tuple(config.get("AllowHeaders") or ()),
            max_age=config.get("MaxAge"),
        )
    return None


@dataclass
class LocalHttpApi:
    """Routes requests to functions; transport-independent so that tests can call `respond` directly."""

    host: FunctionHost
    routes: list[Route]
    cors: Cors | None = None
    log: Any = field(default=sys.stderr, repr=False)

    def respond(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes, source_ip: str = "127.0.0.1"
    ) -> HttpResponse:
        started = time.monotonic()
        split = urlsplit(target)
        lowered = _header_map(headers)
        origin = lowered.get("origin")
        cors_headers = self.cors.headers_for(origin) if self.cors else []
        if method == "OPTIONS" and self.cors and "access-control-request-method" in lowered:
            return self.cors.preflight(origin)

        route, path_parameters = self.route_for(method, split.path)
        if route is None:
            return HttpResponse.json(404, {"message": "Not Found"}, cors_headers)
        if route.authorized and not lowered.get("authorization"):
            # The JWT authorizer answers before any function runs (the function checks the token itself).
            return HttpResponse.json(401, {"message": "Unauthorized"}, cors_headers)

        event = http_api_event(route, path_parameters, method, split.path, split.query, headers, body, source_ip)
        try:
            result = self.host.invoke(route.function, event)
            response = lambda_result_to_http(result)
        except Exception as error:  # what API Gateway answers when the function itself fails
            print(f"api  {route.function} failed: {type(error).__name__}: {error}", file=self.log, flush=True)
            response = HttpResponse.json(500, {"message": "Internal Server Error"})
        elapsed_ms = (time.monotonic() - started) * 1000
        # The path only: never headers (tokens, signatures) or bodies (client secrets).
        print(f"api  {method} {split.path} -> {route.function} {response.status} ({elapsed_ms:.0f} ms)",
              file=self.log, flush=True)
        return HttpResponse(response.status, response.headers + cors_headers, response.body)

    def route_for(self, method: str, path: str) -> tuple[Route | None, dict[str, str]]:
        for route in most_specific_first(self.routes):
            parameters = route.match(method, path)
            if parameters is not None:
                return route, parameters
        return None, {}


def http_api_event(
    route: Route,
    path_parameters: Mapping[str, str],
    method: str,
    raw_path: str,
    raw_query: str,
    headers: list[tuple[str, str]],
    body: bytes,
    source_ip: str,
) -> dict[str, Any]:
    """The event API Gateway's HTTP API sends a Lambda integration (payload format version 2.0)."""
    lowered = _header_map(h for h in headers if h[0].lower() != "cookie")
    cookies = [c.strip() for name, value in headers if name.lower() == "cookie" for c in value.split(";") if c.strip()]
    now = datetime.now(UTC)
    domain = lowered.get("host", "127.0.0.1")
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": lowered,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": domain,
            "domainPrefix": domain.split(".")[0],
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex[:16],
            "routeKey": route.route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if raw_query:
        query: dict[str, str] = {}
        for name, value in parse_qsl(raw_query, keep_blank_values=True):
            query[name] = f"{query[name]},{value}" if name in query else value
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    if body:
        if _is_text(lowered.get("content-type", ""), body):
            event["body"] = body.decode("utf-8")
        else:  # binary bodies arrive base64-encoded
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
    return event


def lambda_result_to_http(result: Any) -> HttpResponse:
    """How the HTTP API turns a handler's return value (payload format 2.0) into the HTTP response."""
    if not (isinstance(result, dict) and "statusCode" in result):
        # Format 2.0 also accepts any JSON value: it is the body of a 200.
        return HttpResponse.json(200, result)
    headers = [(str(k).lower(), str(v)) for k, v in (result.get("headers") or {}).items()]
    headers += [("set-cookie", str(cookie)) for cookie in result.get("cookies") or []]
    raw = result.get("body") or ""
    body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode("utf-8")
    return HttpResponse(int(result["statusCode"]), headers, body)


def _header_map(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Lower-cased names; repeated headers joined with commas, as API Gateway does."""
    joined: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    return joined


def _is_text(content_type: str, body: bytes) -> bool:
    if not any(marker in content_type.lower() for marker in _TEXT_TYPES) and content_type:
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    api: LocalHttpApi


class _RequestHandler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "LocalHttpApi"

    def _dispatch(self) -> None:
        try:
            body = self._read_body()
        except ValueError as error:
            self._send(HttpResponse.json(413 if "large" in str(error) else 400, {"message": str(error)}))
            return
        response = self.server.api.respond(
            self.command, self.path, list(self.headers.items()), body, self.client_address[0]
        )
        self._send(response)

    def _read_body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            total = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                total += size
                if total > MAX_PAYLOAD_BYTES:
                    raise ValueError("Request Entity Too Large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("content-length") or 0)
        if length > MAX_PAYLOAD_BYTES:
            raise ValueError("Request Entity Too Large")
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, response: HttpResponse) -> None:
        try:
            self.send_response(response.status)
            for name, value in response.headers:
                if name not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(name, value)
            self.send_header("content-length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _dispatch

    def __getattr__(self, name: str) -> Any:
        """Any other method (TRACE, QUERY ...) reaches the routing too, as at API Gateway: a route of another
        method is its 404, not http.server's 501."""
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def log_message(self, format: str, *args: Any) -> None:  # LocalHttpApi logs each request itself
        pass


def serve(api: LocalHttpApi, host: str, port: int) -> _Server:
    server = _Server((host, port), _RequestHandler)
    server.api = api
    return server


def build_api(environ: Mapping[str, str]) -> LocalHttpApi:
    routes = http_routes()
    host = FunctionHost(sorted({route.function for route in routes}))
    host.load_all()
    return LocalHttpApi(host, routes, cors_from_template(environ))


def stop_on_sigterm() -> None:
    """Let SIGTERM (what `make dev` and the tests send) unwind like Ctrl-C, so servers close their sockets; once:
    a second signal would interrupt the closing itself (the one after that is `make dev`'s kill)."""

    def interrupt(signum: int, frame: Any) -> None:
        ignore_interrupts()
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)


def ignore_interrupts() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def serve_until_stopped(server: ThreadingHTTPServer) -> None:
    """Serve until Ctrl-C or SIGTERM, then close the socket."""
    stop_on_sigterm()
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve template.yaml's HTTP API routes with the local functions.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3001)
    args = parser.parse_args(argv)
    api = build_api(os.environ)
    server = serve(api, args.host, args.port)
    print(f"api  listening on http://{args.host}:{server.server_port}", flush=True)
    for route in api.routes:
        print(f"api    {route.route_key:<58} -> {route.function}", flush=True)
    serve_until_stopped(server)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
