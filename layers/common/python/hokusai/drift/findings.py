"""Findings: what the canary and ``hokusai doctor`` report, and how they are rendered.

A finding names the resource, says what is missing or extra, and carries the exact AWS CLI command
that fixes it (docs/incidents.md section 3: the missing Redis rule took 40+ minutes of manual
``describe-security-groups`` to find). Findings never contain secret values or API keys.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from hokusai import metric_names


class Severity(enum.Enum):
    CRITICAL = "critical"
    WARNING = "warning"


class Kind(enum.Enum):
    """Every kind of finding; each has a metric (``Drift<Metric>``), published as 0 when none."""

    SG_RULE_MISSING = "sg_rule_missing"  # a declared rule is not deployed (the seed incident)
    SG_RULE_WORLD_OPEN = "sg_rule_world_open"  # an undeclared rule open to 0.0.0.0/0 or ::/0
    SG_RULE_EXTRA = "sg_rule_extra"  # another undeclared rule
    SG_MISSING = "sg_missing"  # a declared security group does not exist
    FUNCTION_MISSING = "function_missing"
    ENV_VAR_MISSING = "env_var_missing"  # a declared variable is absent from a function
    SECRET_REF_MISMATCH = "secret_ref_mismatch"  # noqa: S105 - the variable names another secret than declared
    SECRET_MISSING = "secret_missing"  # noqa: S105 - the secret does not exist or is scheduled for deletion
    SECRET_EMPTY = "secret_empty"  # noqa: S105 - the secret has no current value, or an empty one
    FUNCTION_SG_MISMATCH = "function_sg_mismatch"  # a function's VPC security groups differ
    SYNTHETIC_FAILED = "synthetic_failed"  # a request like a client's did not get the right answer
    EXPECTED_STATE_UNAVAILABLE = "expected_state_unavailable"  # the SSM document is missing/invalid
    CHECK_ERROR = "check_error"  # an AWS API error (AccessDenied, throttling) stopped a check

    @property
    def metric_name(self) -> str:
        return metric_names.drift_kind(self.value)


@dataclass(frozen=True)
class Finding:
    kind: Kind
    severity: Severity
    resource: str  # e.g. "security group redis (sg-0abc)" or "function hokusai-predict"
    detail: str  # what is missing or extra, in words
    fix: str  # the exact command (or, when no command can fix it, the action)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = self.kind.value
        data["severity"] = self.severity.value
        return data


def exit_code(findings: Iterable[Finding]) -> int:
    """``hokusai doctor``'s exit status: 0 clean, 1 warnings only, 2 any critical."""
    severities = {finding.severity for finding in findings}
    if Severity.CRITICAL in severities:
        return 2
    if Severity.WARNING in severities:
        return 1
    return 0


def counts_by_kind(findings: Iterable[Finding]) -> dict[Kind, int]:
    counts = dict.fromkeys(Kind, 0)
    for finding in findings:
        counts[finding.kind] += 1
    return counts


def sorted_findings(findings: Iterable[Finding]) -> list[Finding]:
    order = {Severity.CRITICAL: 0, Severity.WARNING: 1}
    return sorted(findings, key=lambda f: (order[f.severity], f.kind.value, f.resource))


def render_text(findings: Sequence[Finding], note: Callable[[Finding], str | None] | None = None) -> str:
    """One block per finding: severity, kind, resource, detail and the fix command (SNS, terminal);
    ``note(finding)``, when it says something, adds a ``changed by:`` line (who made the change)."""
    if not findings:
        return "No findings: the deployment matches what the stack declared."
    blocks = []
    for finding in sorted_findings(findings):
        said = note(finding) if note is not None else None
        blocks.append(
            f"[{finding.severity.value.upper()}] {finding.kind.value}: {finding.resource}\n"
            f"  {finding.detail}\n" + (f"  changed by: {said}\n" if said else "") + f"  fix: {finding.fix}"
        )
    return "\n\n".join(blocks)


def render_table(findings: Sequence[Finding]) -> str:
    """A terminal table (severity | kind | resource | detail), each row followed by its fix command."""
    if not findings:
        return "No findings: the deployment matches what the stack declared."
    rows = [(f.severity.value.upper(), f.kind.value, f.resource, f.detail) for f in sorted_findings(findings)]
    header = ("SEVERITY", "KIND", "RESOURCE", "DETAIL")
    widths = [max(len(header[i]), *(len(row[i]) for row in rows)) for i in range(3)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header[:3], widths, strict=True)) + "  " + header[3]]
    for finding, row in zip(sorted_findings(findings), rows, strict=True):
        lines.append("  ".join(c.ljust(w) for c, w in zip(row[:3], widths, strict=True)) + "  " + row[3])
        lines.append("    fix: " + finding.fix)
    return "\n".join(lines)


def alert_subject(findings: Sequence[Finding], prefix: str = "Hokusai") -> str:
    """An SNS subject (ASCII, at most 100 characters)."""
    critical = sum(1 for f in findings if f.severity is Severity.CRITICAL)
    warnings = len(findings) - critical
    first = sorted_findings(findings)[0]
    subject = f"[{prefix}] {critical} critical, {warnings} warning: {first.kind.value} {first.resource}"
    return subject.encode("ascii", "replace").decode("ascii")[:100]
