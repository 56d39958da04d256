"""The reference portal page, served at PORTAL_URL by `make dev`: the files of portal/ as they are (no build
step), the page's settings as /config.js, and a stand-in for the Firebase Auth emulator's email/password
sign-in for the seeded contacts (unless the page is pointed at the real emulator).

    PYTHONPATH=layers/common:. python -m local.portal_server --port 3000 --api-url http://127.0.0.1:3001 \
        --stripe-js-url http://127.0.0.1:12111/js/stripe.js          (`make dev` starts it for you)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO
from urllib.parse import urlsplit

from local.api_server import serve_until_stopped
from local.seed import COMPANIES, CONTACTS
from local.template import ROOT
from local.token import SignInRefused, sign_in_with_password

PORTAL_DIR = ROOT / "portal"
PAGES = {"/": "index.html", "/dashboard": "dashboard.html"}
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8"}
# The path the Auth emulator (and Google) serve the Identity Toolkit REST API under.
IDENTITY_TOOLKIT = "/identitytoolkit.googleapis.com"
SIGN_IN_PATH = IDENTITY_TOOLKIT + "/v1/accounts:signInWithPassword"


@dataclass(frozen=True)
class PortalConfig:
    """What the page needs to know (portal/*.js read it as window.PORTAL_CONFIG). Against real services only
    these values change: Stripe.js's URL and the publishable key, the Identity Toolkit URL and the API key."""

    api_url: str
    stripe_js_url: str
    stripe_publishable_key: str
    identity_toolkit_url: str  # absolute, or a path on this server (its Auth emulator stand-in)
    firebase_api_key: str
    contact_names: dict[str, str]
    demo_accounts: list[dict[str, str]]

    def script(self) -> bytes:
        # camelCase, as JavaScript names them
        settings = {re.sub(r"_(\w)", lambda m: m[1].upper(), field): value for field, value in asdict(self).items()}
        return f"window.PORTAL_CONFIG = {json.dumps(settings, indent=2)};\n".encode()

    def content_security_policy(self) -> str:
        """Nothing but this server, the API, the sign-in service and Stripe: no page resource from elsewhere."""
        stripe = _origin(self.stripe_js_url)
        sign_in = _origin(self.identity_toolkit_url) if "://" in self.identity_toolkit_url else ""
        return "; ".join([
            "default-src 'self'", f"script-src 'self' {stripe}", f"frame-src {stripe}",
            f"connect-src 'self' {_origin(self.api_url)} {sign_in}".rstrip(),
            "img-src 'self' data:", "style-src 'self'", "base-uri 'none'", "form-action 'self'",
        ])


def local_config(
    *, api_url: str, stripe_js_url: str, publishable_key: str, auth_emulator_url: str | None
) -> PortalConfig:
    return PortalConfig(
        api_url=api_url,
        stripe_js_url=stripe_js_url,
        stripe_publishable_key=publishable_key,
        identity_toolkit_url=(auth_emulator_url or "").rstrip("/") + IDENTITY_TOOLKIT,
        firebase_api_key="local-api-key",  # the emulator takes any key
        contact_names={person.id: person.full_name for person in CONTACTS},
        demo_accounts=[{"name": person.full_name, "company": COMPANIES[person.company_id], "email": person.email,
                        "password": person.password} for person in CONTACTS],
    )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    config: PortalConfig
    project_id: str
    log: TextIO


class _RequestHandler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "LocalPortal"

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/config.js":
            self._send(200, "text/javascript; charset=utf-8", self.server.config.script())
            return
        name = PAGES.get(path) or path.removeprefix("/")
        file = PORTAL_DIR / name
        # Only the files of portal/ itself: no directories, no way out of it.
        if "/" in name or file.suffix not in CONTENT_TYPES or not file.is_file():
            self._send(404, "text/plain; charset=utf-8", b"not found\n")
            return
        self._send(200, CONTENT_TYPES[file.suffix], file.read_bytes())

    def do_POST(self) -> None:
        if urlsplit(self.path).path != SIGN_IN_PATH:
            self._send(404, "text/plain; charset=utf-8", b"not found\n")
            return
        try:
            request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            answer = sign_in_with_password(self.server.project_id, str(request.get("email") or ""),
                                           str(request.get("password") or ""))
        except (ValueError, AttributeError):
            self._send_json(400, _identity_toolkit_error("INVALID_JSON"))
        except SignInRefused as refused:
            self._send_json(400, _identity_toolkit_error(str(refused)))
        else:
            self._send_json(200, answer)

    def _send_json(self, status: int, body: Mapping[str, Any]) -> None:
        self._send(status, "application/json; charset=utf-8", json.dumps(body).encode())

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")  # edits to portal/ show on reload
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Content-Security-Policy", self.server.config.content_security_policy())
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        # The path only: a query string may carry a session id, and a sign-in body is never logged.
        status = args[1] if len(args) > 1 else ""
        print(f"portal {self.command} {urlsplit(self.path).path} {status}", file=self.server.log, flush=True)


def _identity_toolkit_error(message: str) -> dict[str, Any]:
    return {"error": {"code": 400, "message": message,
                      "errors": [{"message": message, "domain": "global", "reason": "invalid"}]}}


def serve(config: PortalConfig, project_id: str, host: str, port: int, log: TextIO = sys.stdout) -> _Server:
    server = _Server((host, port), _RequestHandler)
    server.config, server.project_id, server.log = config, project_id, log
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve the reference portal page of the local stack.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--stripe-js-url", required=True, help="Stripe.js, or the Stripe double's stand-in")
    parser.add_argument("--publishable-key", required=True)
    parser.add_argument("--auth-emulator-url", help="the Firebase Auth emulator (default: this server's stand-in)")
    args = parser.parse_args(argv)
    config = local_config(api_url=args.api_url, stripe_js_url=args.stripe_js_url,
                          publishable_key=args.publishable_key, auth_emulator_url=args.auth_emulator_url)
    server = serve(config, os.environ.get("FIREBASE_PROJECT_ID", "demo-billing"), args.host, args.port)
    print(f"portal listening on http://{args.host}:{server.server_port} (sign-in: {config.identity_toolkit_url})",
          flush=True)
    serve_until_stopped(server)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
