"""JSON over HTTP, as a client of the local servers (and of the Auth emulator) speaks it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


def request_json(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """The status and the decoded JSON answer (error statuses included); OSError when nothing answers."""
    request = urllib.request.Request(  # noqa: S310 (local URLs the caller chose)
        url, method=method, data=json.dumps(body).encode() if body is not None else None,
        headers={"content-type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")
