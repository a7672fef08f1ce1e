"""The package's rooms and the arrows between them (docs/architecture.md draws this map).

- contracts: what the stacks, the functions, the emulator and the docs all read (routes, rules,
  environment variables, metric names, the keys table's shape, the model registry). They import only
  each other, so the stacks never pull the functions' runtime into a synth.
- operator tools: the ``hokusai`` command (keys, models, doctor, preflight). They may import anything.
- runtime: everything the functions run. It never imports an operator tool.

A test below fails when an import crosses a boundary the map forbids; every module of the package is
in exactly one room (a new module gets a room before it lands).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from local.handlers import ROOT
from tests.unit.test_import_graph import _graph as _read_graph

_GRAPH = _read_graph()


def _graph() -> dict[str, set[str]]:
    return _GRAPH


CONTRACTS = frozenset(
    {
        "hokusai.api_contract",
        "hokusai.declared",
        "hokusai.environment",
        "hokusai.metric_names",
        "hokusai.keys.schema",
        "hokusai.models.registry",
        "hokusai.models.staging",
        "hokusai.drift.expected",
        "hokusai.drift.trigger",
    }
)
OPERATOR_TOOLS = frozenset(
    {
        "hokusai.cli",
        "hokusai.keys.cli",
        "hokusai.models.cli",
        "hokusai.drift.cli",
        "hokusai.preflight",
        # Publish time only (skl2onnx, onnx): makes and gates a model's ONNX twin.
        "hokusai.models.twin",
    }
)
# Package __init__ modules hold no code that imports across rooms.
PACKAGES = frozenset({"hokusai", "hokusai.auth", "hokusai.cache", "hokusai.drift", "hokusai.health",
                      "hokusai.keys", "hokusai.models"})  # fmt: skip


def _room(module: str) -> str:
    if module in CONTRACTS:
        return "contracts"
    if module in OPERATOR_TOOLS:
        return "operator tools"
    return "runtime"


def _hokusai_imports(path: Path) -> set[str]:
    """Modules of the package a file imports, ``from hokusai.x import y`` resolved to hokusai.x.y when
    y is a module."""
    graph = _graph()
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in graph}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hokusai"):
            submodules = {f"{node.module}.{alias.name}" for alias in node.names} & graph.keys()
            found |= submodules or ({node.module} & graph.keys())
    return found - PACKAGES


def test_every_module_is_in_one_room() -> None:
    modules = set(_graph()) - PACKAGES
    assert modules >= CONTRACTS and modules >= OPERATOR_TOOLS
    assert not CONTRACTS & OPERATOR_TOOLS


def test_contracts_import_only_contracts() -> None:
    graph = _graph()
    crossing = {
        m: sorted(graph[m] - CONTRACTS - PACKAGES) for m in CONTRACTS if graph[m] - CONTRACTS - PACKAGES
    }
    assert crossing == {}


def test_the_runtime_never_imports_an_operator_tool() -> None:
    graph = _graph()
    crossing = {
        m: sorted(graph[m] & OPERATOR_TOOLS)
        for m in graph
        if _room(m) != "operator tools" and graph[m] & OPERATOR_TOOLS
    }
    assert crossing == {}


@pytest.mark.parametrize("path", sorted((ROOT / "stacks").glob("*.py")), ids=lambda p: p.name)
def test_the_stacks_read_only_contracts(path: Path) -> None:
    assert {m for m in _hokusai_imports(path) if _room(m) != "contracts"} == set()


@pytest.mark.parametrize(
    "path", sorted((ROOT / "functions").glob("*/handler.py")), ids=lambda p: p.parent.name
)
def test_the_functions_import_no_operator_tool(path: Path) -> None:
    assert _hokusai_imports(path) & OPERATOR_TOOLS == set()


def test_the_check_sees_a_crossing() -> None:
    """The map's checks are not vacuous: a runtime module importing an operator tool is a crossing."""
    graph = {**_graph(), "hokusai.auth.chain": {"hokusai.keys.cli"}}
    assert {m for m in graph if _room(m) == "runtime" and graph[m] & OPERATOR_TOOLS} == {"hokusai.auth.chain"}
