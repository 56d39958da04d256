"""docs/openapi.yaml as the tests' contract: every response a route test receives is checked against the
document's schema for that route and status (one helper, wired into the `api` fixture)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]  # no stubs in requirements-dev
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
_BASE = "urn:openapi"
_SIGNATURES = {"application/pdf": b"%PDF-"}


@cache
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(DOCUMENT.read_text())
    return loaded


@cache
def _registry() -> Registry:
    return Registry().with_resource(_BASE, Resource.from_contents(document(), default_specification=DRAFT202012))


def _resolved(node: dict[str, Any]) -> dict[str, Any]:
    """A response object, following a $ref into components/responses."""
    while "$ref" in node:
        node = _registry().resolver(_BASE).lookup(_BASE + node["$ref"]).contents
    return node


class ContractViolation(AssertionError):
    pass


def check_response(route_key: str, status: int, body: Any) -> None:
    """Fail unless `body` is what docs/openapi.yaml says `route_key` ("GET /api/admin/invoices") answers with
    `status`: the status must be documented for the route, and the body must match its schema."""
    method, path = route_key.split(" ", 1)
    operation = document()["paths"].get(path, {}).get(method.lower())
    if operation is None:
        raise ContractViolation(f"{route_key} is not in docs/openapi.yaml")
    response = operation["responses"].get(str(status))
    if response is None:
        raise ContractViolation(f"{route_key} answered {status}, which docs/openapi.yaml does not document: {body}")
    content = _resolved(response)["content"]
    if "application/json" not in content:  # a document (the invoice PDF): the body is its bytes, by its signature
        (media_type,) = content
        if not (isinstance(body, bytes) and body.startswith(_SIGNATURES[media_type])):
            raise ContractViolation(f"{route_key} {status}: not {media_type}: {body[:40]!r}")
        return
    schema = content["application/json"]["schema"]
    # $refs in the schema are relative to the whole document
    validator = Draft202012Validator({"$id": _BASE + "/check", **{"allOf": [_absolute(schema)]}},
                                     registry=_registry())
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
    if errors:
        raise ContractViolation(f"{route_key} {status}: {errors[0].message} at {list(errors[0].path)}: {body}")


def _absolute(node: Any) -> Any:
    """The schema with its $refs ("#/components/...") pointing into the document."""
    if isinstance(node, dict):
        return {key: (_BASE + value if key == "$ref" and value.startswith("#") else _absolute(value))
                for key, value in node.items()}
    if isinstance(node, list):
        return [_absolute(item) for item in node]
    return node
