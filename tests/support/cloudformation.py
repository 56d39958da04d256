"""template.yaml as CloudFormation would see it for given parameter values: the resources whose Condition holds,
with every `Fn::If` taken and every parameter `Ref` replaced by its value (other intrinsics are left as they are).
Read with cfn-lint's decoder, which keeps every intrinsic function (local.template keeps only what the local
tools need)."""

from __future__ import annotations

from functools import cache
from typing import Any

from local.template import TEMPLATE

_NO_VALUE = object()
# The condition functions, taken as CloudFormation takes them: (argument, resolve, holds) -> value
_FUNCTIONS: dict[str, Any] = {
    "Fn::If": lambda a, resolve, holds: resolve(a[1] if holds(a[0]) else a[2]),
    "Fn::Equals": lambda a, resolve, _holds: resolve(a[0]) == resolve(a[1]),
    "Fn::Not": lambda a, resolve, _holds: not resolve(a[0]),
    "Condition": lambda a, _resolve, holds: holds(a),
}


@cache
def raw_template() -> dict[str, Any]:
    from cfnlint.decode import decode_str

    decoded, problems = decode_str(TEMPLATE.read_text())
    assert not problems, problems
    return dict(decoded)


def deployed(**parameters: str) -> dict[str, Any]:
    """{"Resources": ..., "Globals": ..., "Outputs": ...} for these parameter values (defaults for the rest)."""
    template = raw_template()
    values = {name: str(parameters.get(name, spec.get("Default", ""))) for name, spec in
              template["Parameters"].items()}

    def holds(condition: str) -> bool:
        return bool(resolve(template["Conditions"][condition]))

    def resolve(node: Any) -> Any:
        if isinstance(node, dict) and len(node) == 1:
            (key, argument), = node.items()
            if key in _FUNCTIONS:
                return _FUNCTIONS[key](argument, resolve, holds)
            if key == "Ref" and argument == "AWS::NoValue":
                return _NO_VALUE
            if key == "Ref" and argument in values:
                return values[argument]
        if isinstance(node, dict):
            resolved = {k: resolve(v) for k, v in node.items()}
            return {k: v for k, v in resolved.items() if v is not _NO_VALUE}
        if isinstance(node, list):
            return [item for item in (resolve(v) for v in node) if item is not _NO_VALUE]
        return node

    return {
        "Resources": {name: resolve(resource) for name, resource in template["Resources"].items()
                      if "Condition" not in resource or holds(resource["Condition"])},
        "Globals": resolve(template.get("Globals", {})),
        "Outputs": {name: resolve(output) for name, output in template.get("Outputs", {}).items()
                    if "Condition" not in output or holds(output["Condition"])},
    }


def of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {name: resource for name, resource in resources.items() if resource["Type"] == kind}
