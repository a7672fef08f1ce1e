"""cdk-nag AwsSolutions on every stack with no unsuppressed finding, reasoned suppressions, cfn-lint."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import STACK_IDS, Synthesized, synthesis_errors


def _entries(synthesized: Synthesized, stack: str, kind: str) -> list[tuple[str, str]]:
    return [
        (path, str(entry["data"]).splitlines()[0])
        for path, entries in synthesized.metadata(stack).items()
        for entry in entries
        if entry["type"] == kind
    ]


def _nag_suppressions(template: dict[str, Any]) -> list[dict[str, Any]]:
    """Stack-level (template Metadata) and resource-level suppressions."""
    holders = [template, *template["Resources"].values()]
    return [
        rule
        for holder in holders
        for rule in holder.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    ]


def _nag_report(synthesized: Synthesized, stack: str) -> list[dict[str, str]]:
    report = synthesized.outdir / f"AwsSolutions--{stack}-NagReport.csv"
    with report.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("stack", STACK_IDS)
def test_cdk_nag_aws_solutions_has_no_unsuppressed_errors_or_warnings(
    synthesized_in_every_environment: Synthesized, stack: str
) -> None:
    """Agnostic, CLI without credentials (region bound) and account + region bound: a suppression
    written for one spelling of a region or account must still match in the others."""
    assert _entries(synthesized_in_every_environment, stack, "aws:cdk:error") == []
    assert _entries(synthesized_in_every_environment, stack, "aws:cdk:warning") == []


def test_synthesis_errors_reads_every_error_annotation(tmp_path: Path) -> None:
    (tmp_path / "A.metadata.json").write_text(
        json.dumps(
            {
                "/A/Role": [{"type": "aws:cdk:error", "data": "AwsSolutions-IAM5[x]: wildcard\nmore"}],
                "/A/Fn": [{"type": "aws:cdk:warning", "data": "not an error"}],
            }
        )
    )
    assert synthesis_errors(tmp_path) == ["/A/Role: AwsSolutions-IAM5[x]: wildcard"]


@pytest.mark.parametrize("stack", STACK_IDS)
def test_cdk_nag_report_every_rule_compliant_or_suppressed_with_a_reason(
    synthesized: Synthesized, stack: str
) -> None:
    """The checks really ran (their report lists the stack's rules) and nothing is left open."""
    rows = _nag_report(synthesized, stack)
    assert len(rows) >= 5
    assert {row["Compliance"] for row in rows} <= {"Compliant", "Suppressed", "N/A"}
    assert any(row["Compliance"] == "Compliant" for row in rows)
    for row in rows:
        if row["Compliance"] == "Suppressed":
            assert len(row["Exception Reason"]) >= 60, row


def test_the_expected_rules_were_suppressed_not_skipped(synthesized: Synthesized) -> None:
    suppressed = {
        row["Rule ID"]
        for stack in STACK_IDS
        for row in _nag_report(synthesized, stack)
        if row["Compliance"] == "Suppressed"
    }
    assert {"AwsSolutions-L1", "AwsSolutions-IAM4", "AwsSolutions-IAM5", "AwsSolutions-APIG4"} <= suppressed


def test_every_suppression_names_a_rule_and_a_real_reason(synthesized: Synthesized) -> None:
    rules = [rule for stack in STACK_IDS for rule in _nag_suppressions(synthesized.raw[stack])]
    assert rules
    for rule in rules:
        assert rule["id"].startswith("AwsSolutions-")
        assert len(rule["reason"]) >= 60, rule
    wildcards = [rule for rule in rules if rule["id"] == "AwsSolutions-IAM5"]
    assert all(rule.get("applies_to") for rule in wildcards), "IAM5 suppressions must list what they accept"


def cfn_lint_findings(synthesized: Synthesized) -> list[dict[str, Any]]:
    """cfn-lint's findings (JSON) on every synthesized template."""
    from aws_cdk import Token

    templates = [str(synthesized.outdir / f"{stack}.template.json") for stack in STACK_IDS]
    region = synthesized.stacks[STACK_IDS[0]].region
    # A region-bound template is checked against its own region's specs (zones, resource types).
    regions = ["--regions", region] if not Token.is_unresolved(region) else []
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--format", "json", *regions, *templates],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    findings: list[dict[str, Any]] = json.loads(completed.stdout or "[]")
    return findings


def test_cfn_lint_finds_no_errors(synthesized_in_every_environment: Synthesized) -> None:
    """Region-bound templates too: cfn-lint checks zones, partitions and resource specs per region."""
    findings = cfn_lint_findings(synthesized_in_every_environment)
    errors = [f for f in findings if f["Level"] == "Error"]
    assert errors == [], errors
    # Only W3005 (CDK's redundant DependsOn on function roles) is tolerated.
    assert {f["Rule"]["Id"] for f in findings if f["Level"] == "Warning"} <= {"W3005"}
