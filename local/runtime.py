"""A stand-in for the Lambda runtime: load a function from template.yaml and invoke its handler with an event and
a context object, in this process.

The layer's per-container state (settings, engine, Stripe client, firebase-admin app) is built for one request
at a time, as Lambda runs a container; `FunctionHost` keeps that promise with one lock around every invocation.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from local.template import FunctionDefinition, Handler, functions, load_handler


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int
    timeout_seconds: int
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = "local"
    _started: float = field(default_factory=time.monotonic, repr=False)

    def __post_init__(self) -> None:
        self.log_group_name = f"/aws/lambda/{self.function_name}"

    @property
    def invoked_function_arn(self) -> str:
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        return f"arn:aws:lambda:{region}:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        elapsed = time.monotonic() - self._started
        return max(0, int((self.timeout_seconds - elapsed) * 1000))


class FunctionHost:
    """The functions of template.yaml, imported on first use (a cold start) and invoked one at a time."""

    def __init__(self, names: list[str] | None = None) -> None:
        definitions = functions()
        unknown = sorted(set(names or []) - set(definitions))
        if unknown:
            raise KeyError(f"not in template.yaml: {', '.join(unknown)}; functions: {', '.join(definitions)}")
        self.definitions: dict[str, FunctionDefinition] = {
            name: definition for name, definition in definitions.items() if names is None or name in names
        }
        self._handlers: dict[str, Handler] = {}
        self._lock = threading.Lock()

    def invoke(self, name: str, event: dict[str, Any]) -> Any:
        definition = self.definitions[name]
        with self._lock:
            handler = self._handlers.get(name)
            if handler is None:
                # A function validates its settings at import: a missing one fails here, like a cold start.
                handler = load_handler(definition.code_dir, definition.handler, name)
                self._handlers[name] = handler
            context = LambdaContext(name, definition.memory_mb, definition.timeout_seconds)
            return handler(event, context)

    def load_all(self) -> None:
        """Import every function now, so that a missing setting stops the server at start."""
        with self._lock:
            for name, definition in self.definitions.items():
                if name not in self._handlers:
                    self._handlers[name] = load_handler(definition.code_dir, definition.handler, name)
