"""The monitoring stack watches only metrics that code publishes, under their hokusai.metric_names names."""

from __future__ import annotations

import json
import re
from typing import Any

from hokusai import metric_names

from tests.infra.conftest import ROOT, Synthesized

STACK = "HokusaiMonitoring"
# Where metrics are published: the shared package and the handlers (not the stacks).
PUBLISHERS = [
    path
    for folder in (ROOT / "layers" / "common" / "python" / "hokusai", ROOT / "functions")
    for path in folder.rglob("*.py")
    if path.name != "metric_names.py"
]


def _watched(synthesized: Synthesized) -> set[str]:
    """Every metric name in the Hokusai namespace the alarms and the dashboard read."""
    names: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("Namespace") == metric_names.NAMESPACE and "MetricName" in node:
                names.add(node["MetricName"])
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            # A dashboard metric: [namespace, name, dimension, value, ...]
            if len(node) > 1 and node[0] == metric_names.NAMESPACE and isinstance(node[1], str):
                names.add(node[1])
            for value in node:
                visit(value)

    for resource in synthesized.resources(STACK, "AWS::CloudWatch::Alarm").values():
        visit(resource["Properties"])
    (dashboard,) = synthesized.resources(STACK, "AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]
    parts = body["Fn::Join"][1] if isinstance(body, dict) else [body]
    visit(json.loads("".join(part if isinstance(part, str) else "TOKEN" for part in parts)))
    return names


def _constants_holding(name: str) -> set[str]:
    held = set()
    for constant, value in vars(metric_names).items():
        if not constant.isupper():
            continue
        if value == name or (isinstance(value, dict) and name in value.values()):
            held.add(constant)
    return held


def test_every_watched_metric_is_a_constant_that_code_publishes(synthesized: Synthesized) -> None:
    watched = _watched(synthesized)
    assert {metric_names.REDIS_BREAKER_OPEN, metric_names.CANARY_RUN_DURATION} <= watched
    sources = "\n".join(path.read_text() for path in PUBLISHERS)
    filters = {
        transformation["MetricName"]
        for metric_filter in synthesized.resources(STACK, "AWS::Logs::MetricFilter").values()
        for transformation in metric_filter["Properties"]["MetricTransformations"]
    }
    for name in sorted(watched):
        constants = _constants_holding(name)
        assert constants, f"{name} is not in hokusai.metric_names"
        if name in filters:  # made from log lines by the stack itself
            continue
        used = [c for c in constants if re.search(rf"metric_names\.{c}\b", sources)]
        assert used, f"nothing publishes {name} ({', '.join(sorted(constants))})"


def test_no_metric_name_literals_left_in_the_package() -> None:
    """``add_metric(name="...")`` / ``observe("...")`` with a literal would bypass the constants."""
    package = ROOT / "layers" / "common" / "python" / "hokusai"
    literal = re.compile(r"""(add_metric\(\s*name=|observe\(\s*)f?["']""")
    offenders = [
        str(path.relative_to(ROOT)) for path in package.rglob("*.py") if literal.search(path.read_text())
    ]
    assert offenders == []


def test_stacks_spell_no_metric_name_themselves() -> None:
    literal = re.compile(r"""metric_name=["']""")
    stacks = sorted((ROOT / "stacks").glob("*.py"))
    assert [path.name for path in stacks if literal.search(path.read_text())] == []
