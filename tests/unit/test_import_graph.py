"""Dependencies point one way: no import cycle inside ``hokusai``, and nothing outside tests/ imports
tests/. Read from the source with ``ast``, every import counted: module-level, lazy (inside a
function) and under TYPE_CHECKING alike, so a cycle cannot hide behind a deferred import."""

from __future__ import annotations

import ast
from pathlib import Path

from local.handlers import ROOT

PACKAGE_ROOT = ROOT / "layers" / "common" / "python"
OUTSIDE_TESTS = ["functions", "layers", "local", "bench", "stacks", "model", "app.py"]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(path): path for path in (PACKAGE_ROOT / "hokusai").rglob("*.py")}
    return {
        name: {imported for imported in _imports(ast.parse(path.read_text())) if imported in modules} - {name}
        for name, path in modules.items()
    }


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for successor in sorted(graph[node]):
            if state.get(successor) == "open":
                return [*stack[stack.index(successor) :], successor]
            if successor not in state and (found := visit(successor)):
                return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_package_has_no_import_cycle() -> None:
    graph = _graph()
    assert "hokusai.config" in graph and "hokusai.environment" in graph["hokusai.config"]
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_nothing_outside_tests_imports_tests() -> None:
    offenders = []
    for entry in OUTSIDE_TESTS:
        paths = [ROOT / entry] if entry.endswith(".py") else (ROOT / entry).rglob("*.py")
        for path in paths:
            if "/build/" in str(path) or "site-packages" in str(path):
                continue
            imports = _imports(ast.parse(path.read_text()))
            if any(name == "tests" or name.startswith("tests.") for name in imports):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
