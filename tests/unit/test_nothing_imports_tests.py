"""Nothing outside `tests/` imports `tests` (issue 10): the functions, the layer, the migrations, the doubles, the
harness, the local tools, the benchmarks and the scripts stand on their own, and the tests depend on them, never the
reverse. Every Python file of the repository is parsed (`ast`), so an import is found however it is spelt."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from local.template import ROOT

# Not the project's sources: virtualenvs, SAM's build, the local stack's state, git, npm's packages, caches.
_NOT_SOURCES = {"tests", "node_modules", "__pycache__"}


def source_files(root: Path = ROOT) -> Iterator[Path]:
    for path in sorted(root.iterdir()):
        if path.name.startswith(".") or path.name in _NOT_SOURCES:
            continue
        if path.is_dir():
            yield from source_files(path)
        elif path.suffix == ".py":
            yield path


def imports_of_tests(source: str) -> list[str]:
    """The modules of the `tests` package that `source` imports: `import tests...`, `from tests... import`, and
    `importlib.import_module("tests...")` / `__import__("tests...")` with a literal name."""
    found: list[str] = []
    if "tests" not in source:  # no spelling of such an import lacks the word: nothing to parse
        return found
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if _is_tests(alias.name)]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and _is_tests(node.module):
            found.append(node.module)
        elif isinstance(node, ast.Call) and _names_an_importer(node.func) and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str) and _is_tests(first.value):
                found.append(first.value)
    return found


def _is_tests(module: str) -> bool:
    return module == "tests" or module.startswith("tests.")


def _names_an_importer(func: ast.expr) -> bool:
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    return name in ("import_module", "__import__")


@pytest.mark.parametrize(("source", "expected"), [
    ("from tests.support.scenarios import paid_after_an_edit", ["tests.support.scenarios"]),
    ("import tests.conftest as suite", ["tests.conftest"]),
    ("import json, tests", ["tests"]),
    ("from tests import conftest", ["tests"]),
    ("def f():\n    from tests.doubles import stripe_double", ["tests.doubles"]),
    ("import importlib\nimportlib.import_module('tests.support.world')", ["tests.support.world"]),
    ("__import__('tests')", ["tests"]),
    ("from testsuite import x\nimport testing\nfrom . import tests\nfrom .tests import y", []),
    ("text = 'from tests import x'  # a string is no import", []),
])
def test_an_import_of_tests_is_found_however_it_is_spelt(source: str, expected: list[str]) -> None:
    assert imports_of_tests(source) == expected


def test_the_walk_reads_every_part_of_the_project() -> None:
    parts = {path.relative_to(ROOT).parts[0] for path in source_files()}
    assert {"functions", "layers", "migrations", "stripe_double", "google_double", "harness", "local", "bench",
            "scripts"} <= parts
    assert "tests" not in parts


def test_nothing_outside_tests_imports_tests() -> None:
    importers = {str(path.relative_to(ROOT)): found for path in source_files()
                 if (found := imports_of_tests(path.read_text()))}
    assert importers == {}
