"""hokusai.metric_names: one spelling per metric, importable at no cost on the authorizer's cold path."""

from __future__ import annotations

import ast
from pathlib import Path

from hokusai import metric_names
from hokusai.drift import synthetic
from hokusai.drift.findings import Kind
from hokusai.health.runner import OverallStatus


def test_the_module_imports_nothing() -> None:
    tree = ast.parse(Path(metric_names.__file__).read_text())
    imports = [node for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)]
    assert imports == []


def test_tables_cover_every_check_and_status() -> None:
    checks = {synthetic.HEALTH, synthetic.PREDICT, synthetic.UNAUTHENTICATED}
    assert set(metric_names.SYNTHETIC_SUCCESS) == set(metric_names.SYNTHETIC_LATENCY) == checks
    assert set(metric_names.HEALTH_STATUS) == {status.value for status in OverallStatus}


def test_drift_kind_names_keep_their_published_spelling() -> None:
    assert Kind.SG_RULE_MISSING.metric_name == "DriftSGRuleMissing"
    assert Kind.ENV_VAR_MISSING.metric_name == "DriftEnvVarMissing"
    assert len({kind.metric_name for kind in Kind}) == len(Kind)


def test_breaker_open_and_opened_are_two_metrics() -> None:
    """Per skipped request (alarmed) vs per transition: the alarm must count the first."""
    assert metric_names.REDIS_BREAKER_OPEN == "RedisBreakerOpen"
    assert metric_names.REDIS_BREAKER_OPENED == "RedisBreakerOpened"
