"""Cold start (issue 10): the canary builds at init only the clients every run uses; SNS, needed
only when a run has findings to publish, is built then (once per container)."""

from __future__ import annotations

from typing import Any

import pytest
from hokusai.drift import aws as drift_aws
from hokusai.drift.findings import Finding, Kind, Severity
from hokusai.drift.runner import CanaryClients, CanaryReport, publish_alert

TOPIC = "arn:aws:sns:eu-west-1:123456789012:hokusai-alerts"


class FakeSns:
    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []

    def publish(self, **kwargs: Any) -> dict[str, str]:
        self.published.append(kwargs)
        return {"MessageId": f"m-{len(self.published)}"}


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    services: list[str] = []

    def client(service: str) -> Any:
        services.append(service)
        return FakeSns() if service == "sns" else object()

    monkeypatch.setattr(drift_aws, "client", client)
    return services


def report(findings: list[Finding]) -> CanaryReport:
    return CanaryReport(findings=findings, synthetic=[], duration_ms=1.0)


FINDING = Finding(Kind.CHECK_ERROR, Severity.WARNING, "function hokusai-predict", "throttled", "run again")


def test_init_builds_no_sns_client(built: list[str]) -> None:
    CanaryClients.from_environment()
    assert built == ["ssm", "ec2", "lambda", "secretsmanager"]


def test_a_clean_run_never_builds_it(built: list[str]) -> None:
    clients = CanaryClients.from_environment()
    assert publish_alert(report([]), clients, TOPIC) is None
    assert "sns" not in built and clients.sns is None


def test_a_run_with_findings_builds_it_once_and_publishes(built: list[str]) -> None:
    clients = CanaryClients.from_environment()
    assert publish_alert(report([FINDING]), clients, TOPIC) == "m-1"
    assert publish_alert(report([FINDING]), clients, TOPIC) == "m-2"
    assert built.count("sns") == 1
    assert isinstance(clients.sns, FakeSns)
    assert [message["TopicArn"] for message in clients.sns.published] == [TOPIC, TOPIC]


def test_a_client_given_directly_still_works() -> None:
    sns = FakeSns()
    assert publish_alert(report([FINDING]), sns, TOPIC) == "m-1"
    assert publish_alert(report([FINDING]), CanaryClients(*[object()] * 4), TOPIC) is None  # no SNS at all
