"""GET /health: every dependency checked concurrently, one answer within HEALTH_DEADLINE_MS.

Thin by design: settings and clients are built once per container (init phase, ``hokusai.startup``),
the checks live in ``hokusai.health``. No scikit-learn, no pydantic on this import path (tests assert it).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from hokusai import api_contract, request_id, snapstart
from hokusai.config import ConfigError, HealthSettings
from hokusai.health.runner import HealthRunner
from hokusai.health.service import (
    answer,
    bounded_client,
    build_misconfigured_runner,
    build_runner,
    redis_cache_factory,
)
from hokusai.observability import count_server_error, logger, metrics, tracer
from hokusai.responses import json_error, with_retry_after
from hokusai.startup import Startup


def _build() -> HealthRunner:
    settings = HealthSettings.from_env()
    # Each AWS call gets the whole deadline at most: the runner reports it as a timeout anyway.
    dynamodb = bounded_client("dynamodb", settings.deadline_ms)
    s3 = bounded_client("s3", settings.deadline_ms) if settings.model_bucket else None
    return build_runner(
        settings,
        dynamodb=dynamodb,
        s3=s3,
        # The Redis token is fetched once, normally during init (through the VPC endpoint, whose
        # first TLS handshake can take longer than a health deadline); a retry inside a check is
        # still cut off by the deadline.
        redis_cache=redis_cache_factory(
            settings.redis, lambda: bounded_client("secretsmanager", max(2000, settings.deadline_ms))
        ),
        on_config_problem=lambda problem: logger.error("Invalid configuration", extra={"error": problem}),
    )


# Built in the init phase (clients, the Redis connection pool); a bad configuration is logged once
# and every request answers 503 with the configuration check naming the variable.
dependencies = Startup("health", _build, logger)
dependencies.prime()


def warm_up() -> None:
    """SnapStart, before the snapshot (docs/snapstart.md): the dependencies built (``prime`` at
    import did it: the clients and the Redis client are in the snapshot; a ConfigError is kept and
    answered on every request). No check runs: a check's result must be the restored copy's own."""
    dependencies.prime()


snapstart.before_snapshot("health", warm_up)


def _runner() -> HealthRunner:
    try:
        return dependencies.get()
    except ConfigError as error:
        return build_misconfigured_runner(error)


# strip_prefixes: through the custom domain the event's path keeps the base path (api_contract).
app = APIGatewayRestResolver(strip_prefixes=[*api_contract.STRIP_PREFIXES])


@app.get("/health")
@tracer.capture_method
def health() -> Response[str]:
    return answer(_runner(), metrics, logger.warning)


@app.not_found
def not_found(_: Exception) -> Response[str]:
    return json_error(404, "Not found")


@app.exception_handler(Exception)
def unexpected_error(error: Exception) -> Response[str]:
    # The runner never raises; this keeps the JSON contract if something else does.
    logger.exception("Health handler failed")
    return json_error(503, "Health check failed to run, retry shortly")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    ids = request_id.from_event(event, context)
    request_id.bind(ids, logger)
    try:
        answer = app.resolve(event, context)
        count_server_error(answer["statusCode"])
        return request_id.stamp(with_retry_after(answer), ids)
    finally:
        request_id.unbind(logger)
