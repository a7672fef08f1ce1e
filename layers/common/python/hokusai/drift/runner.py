"""One canary run: synthetic requests, security-group drift, configuration drift, then report.

A run triggered by a security-group change (``hokusai.drift.trigger``) checks the security groups
only, to answer within seconds, and its alert names the change and its caller beside each finding
on the changed group; the scheduled run checks everything.

The scheduled canary (``functions/canary/handler.py``) and ``hokusai doctor`` both call
:func:`run_canary`, so what the on-call engineer sees in the terminal is what the alarm saw.
Every part runs on its own: an AWS error or a bug in one check becomes a finding and the others
still run (one failing check never hides the others).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hokusai import metric_names
from hokusai.aws import read_secret
from hokusai.drift.aws import api_error_finding, error_code
from hokusai.drift.configuration import check_functions
from hokusai.drift.findings import (
    Finding,
    Kind,
    Severity,
    alert_subject,
    counts_by_kind,
    exit_code,
    render_text,
)
from hokusai.drift.security_groups import check_security_groups
from hokusai.drift.synthetic import (
    SyntheticChecks,
    SyntheticResult,
    SyntheticStatus,
)
from hokusai.drift.trigger import SecurityGroupChange

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics
    from botocore.client import BaseClient

    from hokusai.config import CanarySettings


@dataclass
class CanaryClients:
    ssm: BaseClient
    ec2: BaseClient
    lambda_: BaseClient
    secretsmanager: BaseClient
    sns: BaseClient | None = None
    # Only a run with findings publishes (most runs have none): SNS is built then, not at init
    # (issue 10: ~10 ms of the canary's cold start). See :meth:`alert_client`.
    sns_factory: Callable[[], BaseClient] | None = field(default=None, repr=False)

    @classmethod
    def from_environment(cls) -> CanaryClients:
        """Clients for whatever AWS the environment names (AWS_PROFILE, AWS_ENDPOINT_URL, region):
        every run's four now, SNS when an alert is published."""
        from hokusai.drift.aws import client

        return cls(
            ssm=client("ssm"),
            ec2=client("ec2"),
            lambda_=client("lambda"),
            secretsmanager=client("secretsmanager"),
            sns_factory=lambda: client("sns"),
        )

    def alert_client(self) -> BaseClient | None:
        """The SNS client, built on first use (then kept for the container's next runs)."""
        if self.sns is None and self.sns_factory is not None:
            self.sns = self.sns_factory()
        return self.sns


@dataclass
class CanaryReport:
    findings: list[Finding]
    synthetic: list[SyntheticResult]
    duration_ms: float
    checked: list[str] = field(default_factory=list)  # which parts ran, for the summary
    change: SecurityGroupChange | None = None  # the CloudTrail-recorded change that triggered the run

    def caused_by_change(self, finding: Finding) -> bool:
        """The finding is on the group the triggering call changed."""
        group_id = self.change.group_id if self.change else None
        return group_id is not None and finding.resource.endswith(f"({group_id})")

    @property
    def exit_code(self) -> int:
        return exit_code(self.findings)

    @property
    def critical(self) -> int:
        return sum(1 for f in self.findings if f.severity is Severity.CRITICAL)

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if f.severity is Severity.WARNING)

    def as_dict(self) -> dict[str, Any]:
        return {
            "exit_code": self.exit_code,
            "critical": self.critical,
            "warnings": self.warnings,
            "duration_ms": round(self.duration_ms, 1),
            "checked": self.checked,
            "change": self.change.as_dict() if self.change else None,
            "synthetic": [
                {
                    "name": r.name,
                    "status": r.status.value,
                    "http_status": r.http_status,
                    "latency_ms": round(r.latency_ms, 1),
                    "reason": r.reason,
                }
                for r in self.synthetic
            ],
            "findings": [f.as_dict() for f in self.findings],
        }


def load_expected_state(ssm: BaseClient, parameter: str) -> tuple[dict[str, Any] | None, Finding | None]:
    try:
        value = ssm.get_parameter(Name=parameter)["Parameter"]["Value"]
    except Exception as error:
        if error_code(error) == "ParameterNotFound":
            return None, Finding(
                Kind.EXPECTED_STATE_UNAVAILABLE,
                Severity.CRITICAL,
                f"SSM parameter {parameter}",
                "the expected-state document does not exist: no drift can be checked",
                "cdk deploy --all  # the monitoring stack writes the parameter from hokusai/declared.py",
            )
        return None, api_error_finding("ssm:GetParameter", f"SSM parameter {parameter}", error)
    try:
        document = json.loads(value)
        if not isinstance(document, dict) or document.get("version") != 1:
            raise ValueError(f"unsupported document version {document.get('version')!r}")
    except (ValueError, AttributeError) as error:
        return None, Finding(
            Kind.EXPECTED_STATE_UNAVAILABLE,
            Severity.CRITICAL,
            f"SSM parameter {parameter}",
            f"the expected-state document is not valid ({str(error)[:200]}): no drift can be checked",
            "cdk deploy --all  # rewrites the parameter",
        )
    return document, None


def canary_key_reader(secretsmanager: BaseClient, secret_arn: str | None) -> Callable[[], str | None]:
    """Read the canary's API key when the check runs (so a rotated key is picked up every run), in
    the one secret format of ``hokusai.aws.read_secret`` (raises ``SecretUnreadable``)."""

    def read() -> str | None:
        return None if secret_arn is None else read_secret(secretsmanager, secret_arn)

    return read


def _guarded(name: str, check: Callable[[], list[Finding]]) -> list[Finding]:
    try:
        return check()
    except Exception as error:  # a bug or an unexpected answer: a finding, never a crashed run
        return [api_error_finding(name, name, error)]


def _synthetic_finding(result: SyntheticResult) -> Finding:
    return Finding(
        Kind.SYNTHETIC_FAILED,
        Severity.CRITICAL,
        f"{result.method} {result.url}",
        f"{result.name} check failed: {result.reason}",
        result.reproduce,
    )


def run_canary(
    settings: CanarySettings,
    clients: CanaryClients,
    *,
    synthetic: SyntheticChecks | None = None,
    change: SecurityGroupChange | None = None,
) -> CanaryReport:
    """Every check; with ``change`` (a security-group call recorded by CloudTrail) only the
    security groups: the synthetic and configuration checks stay with the schedule."""
    started = time.perf_counter()
    findings: list[Finding] = []
    checked: list[str] = []

    results: list[SyntheticResult] = []
    if change is not None:
        synthetic = None
    elif synthetic is None and settings.api_base_url:
        synthetic = SyntheticChecks(
            settings.api_base_url,
            model_id=settings.canary_model_id,
            timeout_ms=settings.timeout_ms,
            api_key=canary_key_reader(clients.secretsmanager, settings.canary_key_secret_arn),
        )
    if synthetic is not None:
        checked.append("synthetic")
        try:
            results = synthetic.run()
        except Exception as error:  # pragma: no cover - each check already turns errors into results
            findings.append(api_error_finding("synthetic checks", synthetic.base_url, error))
        findings.extend(_synthetic_finding(r) for r in results if r.status is SyntheticStatus.FAILED)

    if settings.expected_state_parameter:
        document, problem = load_expected_state(clients.ssm, settings.expected_state_parameter)
        if problem is not None:
            findings.append(problem)
        if document is not None:
            checked.append("security_groups")
            findings.extend(
                _guarded("security-group drift", lambda: check_security_groups(clients.ec2, document))
            )
        if document is not None and change is None:
            checked.append("configuration")
            findings.extend(
                _guarded(
                    "configuration drift",
                    lambda: check_functions(clients.lambda_, clients.secretsmanager, document),
                )
            )
    return CanaryReport(findings, results, (time.perf_counter() - started) * 1000, checked, change)


def publish_metrics(report: CanaryReport, metrics: Metrics) -> None:
    """Every run, so missing data means the canary itself is broken:

    ``Synthetic<Check>Success`` 1/0 and ``Synthetic<Check>Latency`` (ms) per synthetic check that ran;
    ``Drift<Kind>`` per finding kind (0 when none); ``DriftCritical``, ``DriftWarning``;
    ``CanaryRunDuration`` (ms).
    """
    from aws_lambda_powertools.metrics import MetricUnit

    for result in report.synthetic:
        if result.status is SyntheticStatus.SKIPPED:
            continue
        success = metric_names.SYNTHETIC_SUCCESS[result.name]
        metrics.add_metric(name=success, unit=MetricUnit.Count, value=int(result.passed))
        latency = metric_names.SYNTHETIC_LATENCY[result.name]
        metrics.add_metric(name=latency, unit=MetricUnit.Milliseconds, value=result.latency_ms)
    for kind, count in counts_by_kind(report.findings).items():
        metrics.add_metric(name=kind.metric_name, unit=MetricUnit.Count, value=count)
    metrics.add_metric(name=metric_names.DRIFT_CRITICAL, unit=MetricUnit.Count, value=report.critical)
    metrics.add_metric(name=metric_names.DRIFT_WARNING, unit=MetricUnit.Count, value=report.warnings)
    metrics.add_metric(
        name=metric_names.CANARY_RUN_DURATION, unit=MetricUnit.Milliseconds, value=report.duration_ms
    )


def publish_alert(
    report: CanaryReport, sns: BaseClient | CanaryClients | None, topic_arn: str | None
) -> str | None:
    """One SNS message per run with every finding; none when there is nothing to say.

    ``sns``: a client, or the run's :class:`CanaryClients` (whose SNS client is then built only
    when there is something to publish). Returns the message id, or None when nothing was sent. A
    publish error (building the client included) is raised to the caller (the canary logs it and its
    own error metric/alarm covers it).
    """
    if not report.findings or sns is None or topic_arn is None:
        return None
    if isinstance(sns, CanaryClients):
        sns = sns.alert_client()
        if sns is None:
            return None
    message = alert_message(report)
    response = sns.publish(TopicArn=topic_arn, Subject=alert_subject(report.findings), Message=message)
    return str(response["MessageId"])


def alert_message(report: CanaryReport) -> str:
    summary = (
        f"Hokusai canary: {report.critical} critical and {report.warnings} warning finding(s).\n"
        "Each finding names the resource, what is missing or extra, and the command that fixes it.\n"
        "Run `hokusai doctor` to check again from a terminal (docs/operations.md).\n"
    )
    change = report.change
    if change is not None:
        summary += (
            f"Triggered by a security-group change (CloudTrail event {change.event_id or '-'}): "
            f"{change.describe()}. Only the security groups were checked; the scheduled run checks "
            "the rest.\n"
        )

    def changed_by(finding: Finding) -> str | None:
        return change.describe() if change is not None and report.caused_by_change(finding) else None

    return summary + "\n" + render_text(report.findings, note=changed_by) + "\n"


def summary_lines(report: CanaryReport) -> list[str]:
    lines = []
    for result in report.synthetic:
        code = result.http_status if result.http_status is not None else "-"
        lines.append(
            f"{result.status.value.upper():7}  {result.name:15}  HTTP {code}  "
            f"{result.latency_ms:7.1f} ms  {result.reason}"
        )
    return lines


def counts_for_log(report: CanaryReport) -> Mapping[str, int]:
    return {kind.value: count for kind, count in counts_by_kind(report.findings).items() if count}
