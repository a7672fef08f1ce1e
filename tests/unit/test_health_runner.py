"""The deadline runner: statuses, timeouts, stuck checks, metrics. No network (unit)."""

from __future__ import annotations

import json
import threading
import time

import pytest
from aws_lambda_powertools import Metrics
from hokusai.health.checks import configuration_check, skipped_check
from hokusai.health.runner import CheckStatus, HealthCheck, HealthRunner, OverallStatus, Probe
from hokusai.health.service import publish_metrics

SLACK_MS = 150  # the box is shared and noisy; the bench shows the real distribution


def ok(deadline: float) -> Probe:
    return Probe.healthy()


def failing(reason: str):
    def run(deadline: float) -> Probe:
        return Probe.unhealthy(reason)

    return run


def test_all_healthy_is_200_with_old_and_new_shape() -> None:
    runner = HealthRunner(
        [HealthCheck("redis", False, ok), HealthCheck("keys_table", True, ok)],
        deadline_ms=300,
        version="9.9.9",
    )
    report = runner.run()
    body = report.body()
    assert report.status is OverallStatus.HEALTHY and report.http_status == 200
    assert body["status"] == "healthy"
    assert body["version"] == "9.9.9"
    assert body["services"] == {"redis": "healthy", "keys_table": "healthy"}
    assert body["checks"]["redis"]["status"] == "healthy"
    assert body["checks"]["redis"]["reason"] is None
    assert body["checks"]["redis"]["duration_ms"] >= 0
    assert body["deadline_ms"] == 300
    assert body["timestamp"].endswith("+00:00")
    assert report.failing == []


def test_non_critical_failure_is_degraded_200_and_named() -> None:
    runner = HealthRunner(
        [
            HealthCheck("redis", False, failing("PING failed: TimeoutError")),
            HealthCheck("keys_table", True, ok),
        ],
        deadline_ms=300,
        version="1",
    )
    report = runner.run()
    assert report.status is OverallStatus.DEGRADED and report.http_status == 200
    assert report.failing == ["redis"]
    assert report.body()["services"]["redis"] == "unhealthy"
    assert report.body()["checks"]["redis"]["reason"] == "PING failed: TimeoutError"


def test_critical_failure_is_unhealthy_503_even_when_redis_also_fails() -> None:
    runner = HealthRunner(
        [
            HealthCheck("redis", False, failing("down")),
            HealthCheck("keys_table", True, failing("ResourceNotFoundException")),
        ],
        deadline_ms=300,
        version="1",
    )
    report = runner.run()
    assert report.status is OverallStatus.UNHEALTHY and report.http_status == 503
    assert set(report.failing) == {"redis", "keys_table"}


def test_skipped_check_counts_as_ok() -> None:
    report = HealthRunner([skipped_check("redis", False, "REDIS_URL not set")], 300, "1").run()
    assert report.status is OverallStatus.HEALTHY
    assert report.checks["redis"].status is CheckStatus.SKIPPED
    assert report.checks["redis"].reason == "REDIS_URL not set"


def test_raising_check_is_unhealthy_not_an_exception() -> None:
    def boom(deadline: float) -> Probe:
        raise ConnectionError("Could not connect to the endpoint URL: http://10.0.0.1")

    report = HealthRunner([HealthCheck("keys_table", True, boom)], 300, "1").run()
    assert report.http_status == 503
    # The public reason names the check and the kind of failure; the host is for the log only.
    assert report.checks["keys_table"].reason == "keys_table check failed: ConnectionError"
    assert "10.0.0.1" not in json.dumps(report.body())
    assert report.details == {
        "keys_table": "ConnectionError: Could not connect to the endpoint URL: http://10.0.0.1"
    }


def test_hanging_check_times_out_by_the_deadline_and_is_not_restarted() -> None:
    release = threading.Event()
    calls: list[float] = []

    def hangs(deadline: float) -> Probe:
        calls.append(deadline)
        release.wait(10)
        return Probe.healthy()

    runner = HealthRunner([HealthCheck("model", True, hangs), HealthCheck("redis", False, ok)], 200, "1")
    try:
        started = time.perf_counter()
        report = runner.run()
        elapsed_ms = (time.perf_counter() - started) * 1000
        assert elapsed_ms < 200 + SLACK_MS
        assert elapsed_ms >= 190  # it did wait for the slow check up to the deadline
        assert report.checks["model"].status is CheckStatus.TIMEOUT
        assert report.checks["model"].reason == "no answer within the 200 ms deadline"
        assert report.checks["redis"].status is CheckStatus.HEALTHY
        assert report.http_status == 503

        # The next request does not queue behind (or duplicate) the stuck probe.
        started = time.perf_counter()
        second = runner.run()
        assert (time.perf_counter() - started) * 1000 < 100
        assert second.checks["model"].status is CheckStatus.TIMEOUT
        assert "previous probe still running" in (second.checks["model"].reason or "")
        assert len(calls) == 1
    finally:
        release.set()

    # Once the stuck probe finishes, the check runs again.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(t.name == "health-model" for t in threading.enumerate()):
        time.sleep(0.01)
    third = runner.run()
    assert third.checks["model"].status is CheckStatus.HEALTHY
    assert len(calls) == 2


def test_checks_run_concurrently_not_one_after_another() -> None:
    def slow(deadline: float) -> Probe:
        time.sleep(0.1)
        return Probe.healthy()

    checks = [HealthCheck(f"c{i}", True, slow) for i in range(4)]
    started = time.perf_counter()
    report = HealthRunner(checks, 1000, "1").run()
    elapsed_ms = (time.perf_counter() - started) * 1000
    assert report.status is OverallStatus.HEALTHY
    assert elapsed_ms < 400 - 50  # sequential would take 400 ms


def test_duplicate_check_names_are_rejected() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        HealthRunner([HealthCheck("a", True, ok), HealthCheck("a", False, ok)], 300, "1")


def test_configuration_check_reports_the_start_up_problem() -> None:
    problem = "Invalid configuration: HEALTH_DEADLINE_MS must be a positive integer of milliseconds"
    report = HealthRunner([configuration_check(problem)], 300, "1").run()
    assert report.http_status == 503
    assert report.checks["configuration"].reason == problem


def test_metrics_one_per_check_and_overall_status() -> None:
    metrics = Metrics(namespace="HokusaiTest", service="health")
    metrics.clear_metrics()
    runner = HealthRunner(
        [HealthCheck("redis", False, failing("down")), HealthCheck("keys_table", True, ok)], 300, "1"
    )
    publish_metrics(runner.run(), metrics)
    metric_set = metrics.metric_set
    assert metric_set["HealthCheckRedis"]["Value"] == [0.0]
    assert metric_set["HealthCheckKeysTable"]["Value"] == [1.0]
    assert metric_set["HealthCheckRedisDuration"]["Unit"] == "Milliseconds"
    assert metric_set["HealthDegraded"]["Value"] == [1.0]
    assert metric_set["HealthHealthy"]["Value"] == [0.0]
    assert metric_set["HealthUnhealthy"]["Value"] == [0.0]
    assert metric_set["HealthCheckTimeouts"]["Value"] == [0.0]
    metrics.clear_metrics()
