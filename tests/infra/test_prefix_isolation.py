"""Two deployments (``prefix``) in one account and region never feed each other's alarms.

Before: with ``prefix=staging`` the functions still published as ``service=hokusai-*`` into namespace
``Hokusai``, so staging's 5xx fed production's alarms, including the per-version alarms that roll a
CodeDeploy release back.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import context_for_tests

MetricIdentity = tuple[str, str, tuple[tuple[str, str], ...]]


def _synth(outdir: Path, prefix: str) -> dict[str, dict[str, Any]]:
    from app import build_app

    build_app(context_for_tests(prefix=prefix), environ={}, outdir=str(outdir)).synth()
    return {path.name: json.loads(path.read_text()) for path in outdir.glob("*.template.json")}


def _alarm_metrics(templates: dict[str, dict[str, Any]]) -> set[MetricIdentity]:
    """Every metric an alarm of these templates watches (plain or inside a metric math expression)."""
    identities: set[MetricIdentity] = set()
    for template in templates.values():
        for resource in template["Resources"].values():
            if resource["Type"] != "AWS::CloudWatch::Alarm":
                continue
            properties = resource["Properties"]
            stats = [
                query["MetricStat"]["Metric"]
                for query in properties.get("Metrics", [])
                if "MetricStat" in query
            ]
            if "MetricName" in properties:
                stats.append(properties)
            for metric in stats:
                dimensions = tuple(
                    sorted(
                        (item["Name"], json.dumps(item["Value"], sort_keys=True))
                        for item in metric.get("Dimensions", [])
                    )
                )
                identities.add((metric["Namespace"], metric["MetricName"], dimensions))
    return identities


def _published(templates: dict[str, dict[str, Any]]) -> set[tuple[str, str]]:
    """(namespace, service) each function publishes with, and metric filters' namespaces."""
    published: set[tuple[str, str]] = set()
    for template in templates.values():
        for resource in template["Resources"].values():
            if resource["Type"] == "AWS::Lambda::Function":
                variables = resource["Properties"].get("Environment", {}).get("Variables", {})
                if "POWERTOOLS_SERVICE_NAME" in variables:
                    published.add(
                        (
                            variables.get("POWERTOOLS_METRICS_NAMESPACE", "?"),
                            variables["POWERTOOLS_SERVICE_NAME"],
                        )
                    )
            if resource["Type"] == "AWS::Logs::MetricFilter":
                for transformation in resource["Properties"]["MetricTransformations"]:
                    published.add((transformation["MetricNamespace"], "<metric filter>"))
    return published


@pytest.fixture(scope="module")
def two_prefixes(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any]]:
    root = tmp_path_factory.mktemp("prefixes")
    return _synth(root / "hokusai", "hokusai"), _synth(root / "staging", "staging")


@pytest.mark.slow
def test_no_alarm_of_one_prefix_watches_a_metric_of_the_other(
    two_prefixes: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    production, staging = (_alarm_metrics(templates) for templates in two_prefixes)
    assert len(production) >= 10
    assert len(staging) == len(production)
    assert production & staging == set()


@pytest.mark.slow
def test_each_prefix_publishes_in_its_own_namespace_and_service(
    two_prefixes: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    production, staging = (_published(templates) for templates in two_prefixes)
    assert ("Hokusai", "hokusai-predict") in production
    assert ("Hokusai", "<metric filter>") in production
    assert ("Hokusai/staging", "staging-predict") in staging
    assert ("Hokusai/staging", "<metric filter>") in staging
    assert {namespace for namespace, _ in staging} == {"Hokusai/staging"}
    assert production & staging == set()
