"""What template.yaml declares, read once for everything that runs the functions off AWS: the functions'
code and handler (the tests, the local API, `make invoke`), their HTTP API routes (the local API) and their
schedules (the local scheduler).

Nothing is written twice: a route or handler added to the template is served locally without other changes.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


class _CloudFormationLoader(yaml.SafeLoader):
    """Reads `!Ref X` as {"Ref": "X"}, a one-string `!Sub S` as {"Fn::Sub": "S"}, and other intrinsic functions
    (!If, !GetAtt ...) as None: only literal properties and references between resources matter here."""


def _intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Any:
    if tag_suffix in ("Ref", "Sub") and isinstance(node, yaml.ScalarNode):
        return {"Ref" if tag_suffix == "Ref" else "Fn::Sub": loader.construct_scalar(node)}
    return None


_CloudFormationLoader.add_multi_constructor("!", _intrinsic)


@cache
def template(path: Path = TEMPLATE) -> dict[str, Any]:
    document: dict[str, Any] = yaml.load(path.read_text(), Loader=_CloudFormationLoader)  # noqa: S506 (safe loader)
    return document


@dataclass(frozen=True)
class FunctionDefinition:
    logical_id: str
    code_dir: Path
    handler: str  # "module.function", relative to code_dir
    timeout_seconds: int
    memory_mb: int


def functions() -> dict[str, FunctionDefinition]:
    """Logical id -> definition, for every AWS::Serverless::Function (Globals applied)."""
    doc = template()
    defaults = doc.get("Globals", {}).get("Function", {})
    found = {}
    for logical_id, resource in doc["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        properties = resource["Properties"]
        found[logical_id] = FunctionDefinition(
            logical_id=logical_id,
            code_dir=ROOT / properties["CodeUri"],
            handler=properties.get("Handler", defaults.get("Handler")),
            timeout_seconds=int(properties.get("Timeout", defaults.get("Timeout", 3))),
            memory_mb=int(properties.get("MemorySize", defaults.get("MemorySize", 128))),
        )
    return found


def literal_environment() -> dict[str, str]:
    """The non-empty literal environment values the template gives functions (Globals first, then each
    function's); references to parameters and secrets are left out (local settings stand in for them)."""
    functions = [r for r in template()["Resources"].values() if r.get("Type") == "AWS::Serverless::Function"]
    found: dict[str, str] = {}
    for variables in _environment_variables(functions):
        found |= {name: str(value) for name, value in variables.items() if isinstance(value, str | int) and value}
    return found


def environment_names(logical_id: str) -> set[str]:
    """The names of the environment variables a function is given (Globals and its own), whatever their value."""
    return {name for variables in _environment_variables([template()["Resources"][logical_id]]) for name in variables}


def _environment_variables(functions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The Environment.Variables blocks of Globals and then of each of `functions`."""
    blocks = [template().get("Globals", {}).get("Function", {}), *(f["Properties"] for f in functions)]
    return [(block.get("Environment") or {}).get("Variables") or {} for block in blocks]


def function_definitions() -> dict[str, tuple[Path, str]]:
    """Logical id -> (code directory, handler) for every AWS::Serverless::Function."""
    return {logical_id: (f.code_dir, f.handler) for logical_id, f in functions().items()}


def load_handler(code_dir: Path, handler: str, logical_id: str) -> Handler:
    """Import the handler from its file, under a module name of its own (every function's module is `app`). The code
    directory goes on the import path, as Lambda puts its task root there: a function's own modules beside `app`
    (functions/invoice_pdf/invoice_pdf.py) import as they do on Lambda."""
    module_name, _, function_name = handler.rpartition(".")
    if str(code_dir) not in sys.path:
        sys.path.append(str(code_dir))
    path = code_dir / (module_name.replace(".", "/") + ".py")
    spec = importlib.util.spec_from_file_location(f"function_{logical_id}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {handler} of {logical_id} from {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    loaded: Handler = getattr(module, function_name)
    return loaded


@dataclass(frozen=True)
class Route:
    """One HTTP API route: `METHOD /path/{param}` -> a function."""

    method: str
    path: str
    function: str
    authorized: bool  # behind the API's JWT authorizer (a request without Authorization is refused before it)

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """The path parameters if this route serves `method path`, else None."""
        if self.method not in (method, "ANY"):
            return None
        found = _path_pattern(self.path).fullmatch(path)
        return found.groupdict() if found else None


def http_routes() -> list[Route]:
    """Every HttpApi event of every function, in template order, then every route declared on its own (the
    webhook's, which a parameter chooses: an event cannot be conditional)."""
    doc = template()
    resources = doc["Resources"]
    routes = []
    for logical_id in functions():
        for event in (resources[logical_id]["Properties"].get("Events") or {}).values():
            if event.get("Type") != "HttpApi":
                continue
            properties = event.get("Properties") or {}
            api = resources.get(_referenced(properties.get("ApiId")), {})
            default_authorizer = (api.get("Properties") or {}).get("Auth", {}).get("DefaultAuthorizer")
            authorizer = (properties.get("Auth") or {}).get("Authorizer", default_authorizer)
            routes.append(Route(
                method=str(properties.get("Method", "ANY")).upper(),
                path=properties.get("Path", "/"),
                function=logical_id,
                authorized=bool(authorizer) and authorizer != "NONE",
            ))
    return routes + _declared_routes(resources)


def _declared_routes(resources: dict[str, Any]) -> list[Route]:
    """AWS::ApiGatewayV2::Route resources whose target is a Lambda proxy integration of one of the functions."""
    routes = []
    for resource in resources.values():
        if resource.get("Type") != "AWS::ApiGatewayV2::Route":
            continue
        properties = resource["Properties"]
        method, path = str(properties["RouteKey"]).split(" ", 1)
        target = re.fullmatch(r"integrations/\$\{(\w+)\}", (properties.get("Target") or {}).get("Fn::Sub", ""))
        if target is None:
            continue
        integration = resources[target[1]]["Properties"]
        routes.append(Route(method=method.upper(), path=path, function=_function_of(integration["IntegrationUri"]),
                            authorized=properties.get("AuthorizationType", "NONE") != "NONE"))
    return routes


def _function_of(reference: Any) -> str:
    """The function a `!Ref Function` or `!Ref Function.Alias` names."""
    return _referenced(reference).split(".")[0]


def most_specific_first(routes: list[Route]) -> list[Route]:
    """The order API Gateway tries routes in: literal segments before {parameters}, longer paths first."""
    return sorted(routes, key=lambda r: (r.path.count("{"), -r.path.count("/"), r.path))


def function_url_routes() -> list[Route]:
    """The HTTP routes of the functions that can have a Function URL (the webhook, when WebhookIngress chooses
    it): locally the route serves as that URL."""
    resources = template()["Resources"]
    with_url = {_function_of(r["Properties"]["TargetFunctionArn"]) for r in resources.values()
                if r.get("Type") == "AWS::Lambda::Url"}
    return [r for r in http_routes() if r.function in with_url]


@dataclass(frozen=True)
class Schedule:
    """A function EventBridge (Scheduler) invokes on AWS at a fixed rate."""

    function: str
    expression: str  # as in the template: rate(10 minutes)
    every_seconds: int


_RATE = re.compile(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def scheduled_functions() -> list[Schedule]:
    """Every Schedule/ScheduleV2 event with a rate() expression, in template order."""
    resources = template()["Resources"]
    found = []
    for logical_id in functions():
        for event in (resources[logical_id]["Properties"].get("Events") or {}).values():
            if event.get("Type") not in ("Schedule", "ScheduleV2"):
                continue
            expression = str((event.get("Properties") or {}).get("ScheduleExpression", ""))
            rate = _RATE.fullmatch(expression)
            if rate is None:
                raise ValueError(f"{logical_id}: only rate() schedules are run locally, not {expression!r}")
            found.append(Schedule(logical_id, expression, int(rate[1]) * _UNIT_SECONDS[rate[2].rstrip("s")]))
    return found


def _referenced(value: Any) -> str:
    return str(value["Ref"]) if isinstance(value, dict) and "Ref" in value else ""


@cache
def _path_pattern(path: str) -> re.Pattern[str]:
    regex = ""
    for part in re.split(r"(\{[^}]+\})", path):
        if part.startswith("{") and part.endswith("}"):
            name = part[1:-1]
            greedy = name.endswith("+")
            regex += f"(?P<{name.rstrip('+')}>{'.+' if greedy else '[^/]+'})"
        else:
            regex += re.escape(part)
    return re.compile(regex)
