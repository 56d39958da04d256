"""Load each function's handler the way Lambda does: from template.yaml's CodeUri and Handler."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


class _CloudFormationLoader(yaml.SafeLoader):
    """Reads !Ref, !Sub, !GetAtt ... as plain values; only CodeUri and Handler matter here."""


_CloudFormationLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def template() -> dict[str, Any]:
    return yaml.load((ROOT / "template.yaml").read_text(), Loader=_CloudFormationLoader)


def function_definitions() -> dict[str, tuple[Path, str]]:
    """Logical id -> (code directory, handler) for every AWS::Serverless::Function."""
    doc = template()
    default_handler = doc.get("Globals", {}).get("Function", {}).get("Handler")
    found = {}
    for logical_id, resource in doc["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        properties = resource["Properties"]
        found[logical_id] = (ROOT / properties["CodeUri"], properties.get("Handler", default_handler))
    return found


def load_handler(code_dir: Path, handler: str, logical_id: str) -> Handler:
    module_name, _, function_name = handler.rpartition(".")
    path = code_dir / (module_name.replace(".", "/") + ".py")
    spec = importlib.util.spec_from_file_location(f"function_{logical_id}", path)
    assert spec and spec.loader, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, function_name)


@dataclass(frozen=True)
class Functions:
    list_invoices: Handler
    create_checkout: Handler
    verify_session: Handler
    stripe_webhook: Handler
    reconcile: Handler


def load_all() -> Functions:
    handlers = {logical_id: load_handler(path, handler, logical_id)
                for logical_id, (path, handler) in function_definitions().items()}
    return Functions(
        list_invoices=handlers["ListInvoicesFunction"],
        create_checkout=handlers["CreateCheckoutFunction"],
        verify_session=handlers["VerifySessionFunction"],
        stripe_webhook=handlers["StripeWebhookFunction"],
        reconcile=handlers["ReconcileFunction"],
    )
