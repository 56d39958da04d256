"""Stripe's form encoding, decoded: the bracket notation the SDK sends (``a[b][0][c]=v``, ``expand[]=x``)."""

from __future__ import annotations

import re
import typing
from collections.abc import Iterable
from typing import Any

Json = dict[str, Any]


class FormError(ValueError):
    """A form body that cannot be turned into nested parameters."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


_KEY_RE = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_SEGMENT_RE = re.compile(r"\[([^\[\]]*)\]")


def parse_form(pairs: Iterable[tuple[str, str]]) -> Json:
    """Decode Stripe's bracket notation (``a[b][0][c]=v``, ``expand[]=x``) into dicts/lists.

    Dicts whose keys are all indexes become lists, except under ``metadata`` where
    numeric keys are ordinary keys.
    """
    root: Json = {}
    for raw_key, value in pairs:
        match = _KEY_RE.match(raw_key)
        if match is None:
            raise FormError(f"Invalid parameter name: {raw_key}", raw_key)
        parts = [match.group(1), *_SEGMENT_RE.findall(match.group(2))]
        node = root
        for depth, part in enumerate(parts):
            key = part if part != "" else str(len(node))
            if depth == len(parts) - 1:
                if isinstance(node.get(key), dict):
                    raise FormError("Invalid hash", raw_key)
                node[key] = value
            else:
                child = node.setdefault(key, {})
                if not isinstance(child, dict):
                    raise FormError("Invalid hash", raw_key)
                node = child
    return typing.cast(Json, _listify(root, None))


def _listify(node: Any, key: str | None) -> Any:
    if not isinstance(node, dict):
        return node
    if key != "metadata" and node and all(k.isdigit() for k in node):
        return [_listify(node[k], k) for k in sorted(node, key=int)]
    return {k: _listify(v, k) for k, v in node.items()}
