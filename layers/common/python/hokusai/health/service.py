"""Wire the health checks from settings, run them, and publish one metric per check.

The handler calls :func:`build_runner` once per container (clients are created in the init phase,
not on the request path) and :func:`answer` on every request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from hokusai import aws, metric_names
from hokusai.cache.redis_cache import RedisCache, connect
from hokusai.config import ConfigError, HealthSettings, RedisSettings
from hokusai.health.checks import (
    CONFIGURATION,
    KEYS_TABLE,
    MODEL,
    REDIS,
    ArtifactLocation,
    RedisProbe,
    configuration_check,
    keys_table_check,
    model_artifact_check,
    redis_check,
    skipped_check,
)
from hokusai.health.runner import CheckStatus, HealthReport, HealthRunner, OverallStatus
from hokusai.models.registry import efs_path, parse_registry, s3_key

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.event_handler import Response
    from botocore.client import BaseClient


CHECK_METRIC_NAMES = {
    REDIS: "Redis",
    KEYS_TABLE: "KeysTable",
    MODEL: "Model",
    CONFIGURATION: "Configuration",
}


def bounded_client(service: str, timeout_ms: int) -> BaseClient:
    """A boto3 client that gives up within ``timeout_ms``: one slow dependency must not hold the
    answer past its deadline (the runner reports it as a timeout anyway)."""
    return aws.client(service, aws.Budget.deadline(timeout_ms))


def redis_cache_factory(
    settings: RedisSettings, secretsmanager: Callable[[], BaseClient]
) -> Callable[[], RedisCache | None]:
    """Build the cache the way the authorizer does (``hokusai.cache.redis_cache.connect``), when the
    check first runs: an unreadable auth token is then the Redis check's failure, with its reason."""
    return lambda: connect(settings, secretsmanager)


def artifact_locations(settings: HealthSettings) -> list[ArtifactLocation]:
    """Where each registered model should be cached: the predict function's own layout
    (``hokusai.models.registry``), so health checks exactly the objects predict would read.
    Raises ConfigError when the registry is malformed (reported by the configuration check).
    """
    if settings.model_registry_json is None:
        return []
    return [
        ArtifactLocation(
            model_id=model_id,
            efs_path=efs_path(spec, settings.model_cache_dir) if settings.model_cache_dir else None,
            s3_bucket=settings.model_bucket,
            s3_key=s3_key(spec, settings.model_bucket_prefix) if settings.model_bucket else None,
        )
        for model_id, spec in parse_registry(settings.model_registry_json).items()
    ]


def build_runner(
    settings: HealthSettings,
    *,
    dynamodb: BaseClient,
    s3: BaseClient | None,
    redis_cache: Callable[[], RedisCache | None],
    on_config_problem: Callable[[str], None] | None = None,
    warm: bool = True,
) -> HealthRunner:
    """All four checks. A malformed registry does not stop the others: it fails configuration."""
    problem: str | None = None
    try:
        locations = artifact_locations(settings)
        model = model_artifact_check(locations, s3)
    except ConfigError as error:
        problem = str(error)
        if on_config_problem is not None:
            on_config_problem(problem)
        model = skipped_check(MODEL, True, "not checked: MODEL_REGISTRY is invalid")
    redis_probe = RedisProbe(redis_cache)
    if warm:
        redis_probe.warm()
    checks = [
        redis_check(redis_probe),
        keys_table_check(dynamodb, settings.keys_table.table_name),
        model,
        configuration_check(problem),
    ]
    return HealthRunner(checks, settings.deadline_ms, settings.version)


def build_misconfigured_runner(
    error: ConfigError, version: str = "1.0.0", deadline_ms: int = 300
) -> HealthRunner:
    """Start-up settings were invalid: answer 503 naming the variable instead of crashing the init.

    A Lambda that fails its init answers API Gateway with a bare 502; this keeps the JSON contract
    and tells the on-call engineer which variable to fix.
    """
    reason = "not checked: configuration is invalid"
    checks = [
        skipped_check(REDIS, False, reason),
        skipped_check(KEYS_TABLE, True, reason),
        skipped_check(MODEL, True, reason),
        configuration_check(str(error)),
    ]
    return HealthRunner(checks, deadline_ms, version)


def publish_metrics(report: HealthReport, metrics: Metrics) -> None:
    """Per check: ``HealthCheck<Name>`` 1/0 and ``HealthCheck<Name>Duration`` (ms); overall status
    as ``HealthHealthy`` / ``HealthDegraded`` / ``HealthUnhealthy`` 1/0, and ``HealthCheckTimeouts``."""
    from aws_lambda_powertools.metrics import MetricUnit

    for name, result in report.checks.items():
        check = CHECK_METRIC_NAMES.get(name, name.title().replace("_", ""))
        metrics.add_metric(
            name=metric_names.health_check(check), unit=MetricUnit.Count, value=1 if result.status.ok else 0
        )
        metrics.add_metric(
            name=metric_names.health_check_duration(check),
            unit=MetricUnit.Milliseconds,
            value=result.duration_ms,
        )
    for status in OverallStatus:
        metrics.add_metric(
            name=metric_names.HEALTH_STATUS[status.value],
            unit=MetricUnit.Count,
            value=1 if report.status is status else 0,
        )
    timeouts = sum(1 for r in report.checks.values() if r.status is CheckStatus.TIMEOUT)
    metrics.add_metric(name=metric_names.HEALTH_CHECK_TIMEOUTS, unit=MetricUnit.Count, value=timeouts)
    metrics.add_metric(
        name=metric_names.HEALTH_LATENCY, unit=MetricUnit.Milliseconds, value=report.elapsed_ms
    )


def answer(runner: HealthRunner, metrics: Metrics, log_warning: Callable[..., None]) -> Response[str]:
    """GET /health: run the checks under the deadline, publish their metrics, log a failing report
    (the exception texts: hosts, paths, resources, here only), answer the report's body."""
    from hokusai.responses import json_answer

    report = runner.run()
    publish_metrics(report, metrics)
    if report.failing:
        log_warning(
            "Health check failing",
            extra={
                "status": report.status.value,
                "failing": report.failing,
                "checks": report.body()["checks"],
                "details": report.details,
            },
        )
    return json_answer(report.http_status, report.body(), {"Cache-Control": "no-store"})
