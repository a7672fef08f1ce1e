"""REST API REQUEST authorizer: API key -> Allow policy for the key's models, 401, or 503.

Thin by design: the chain (L1 -> Redis -> DynamoDB) and the policy live in ``hokusai.auth``.
Import does no network I/O and loads no ML or pydantic modules (a test checks ``sys.modules``);
the authorizer is built on the first invocation (``hokusai.startup``) and reused while the container
lives; a bad configuration answers 503 (AUTHORIZER_FAILURE) and is logged once naming the variable.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import event_source
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerRequestEvent,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from hokusai import metric_names, snapstart
from hokusai.auth.service import Authorizer, AuthorizerUnavailable, build_authorizer
from hokusai.config import AuthorizerSettings, ConfigError
from hokusai.observability import count_server_error, logger, metrics, tracer
from hokusai.startup import Startup


def _observe(name: str, value: float, unit: str) -> None:
    metrics.add_metric(name=name, unit=MetricUnit(unit), value=value)


def _log_info(message: str, **fields: Any) -> None:
    logger.info(message, extra=fields)


def _log_warning(message: str, **fields: Any) -> None:
    logger.warning(message, extra=fields)


def _build() -> Authorizer:
    return build_authorizer(AuthorizerSettings.from_env(), observe=_observe, log_warning=_log_warning)


# Built on the first invocation, not at import: reading the Redis token is network I/O.
dependencies = Startup("authorizer", _build, logger)


def warm_up() -> None:
    """SnapStart, before the snapshot (docs/snapstart.md): build now, at publish time (the Redis
    token is read then; no Redis command, no key lookup is made), so no restored copy pays it on its
    first request. A ConfigError is logged once by Startup and answered on every request; any other
    failure is logged by hokusai.snapstart and the snapshot proceeds (the first request builds)."""
    try:
        dependencies.get()
    except ConfigError:
        return


snapstart.before_snapshot("authorizer", warm_up)


# capture_response=False: the policy names the caller's scopes; keep it out of traces.
@logger.inject_lambda_context(clear_state=True, log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@event_source(data_class=APIGatewayAuthorizerRequestEvent)
def lambda_handler(event: APIGatewayAuthorizerRequestEvent, context: LambdaContext) -> dict[str, Any]:
    request_context = event.raw_event.get("requestContext") or {}
    logger.append_keys(request_id=request_context.get("requestId"), path=event.path, method=event.http_method)
    try:
        authorizer = dependencies.get()
    except ConfigError as error:
        _observe(metric_names.AUTHORIZER_FAILURE, 1, "Count")
        count_server_error(503)
        raise AuthorizerUnavailable(f"invalid configuration: {error.variable}") from None
    try:
        return authorizer.authorize({"headers": event.headers, "methodArn": event.method_arn}, log=_log_info)
    except AuthorizerUnavailable:
        logger.error("Authorizer unavailable: key store unreachable and key not cached")
        count_server_error(503)  # the gateway answers AUTHORIZER_FAILURE, a 503
        raise
