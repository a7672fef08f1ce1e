"""Predict: POST /v1/models/{model_id}/predict, GET .../info, GET /v1/models, GET /v1/openapi.json.

Thin: settings and the model service are built once per container (init), the model is loaded at
init when its cache answers, and every route delegates to ``hokusai.models.service``. It serves a
model from its verified ONNX twin (numpy + onnxruntime) when the registry pins one, else from its skops
file (scikit-learn, through ``hokusai.models.scorer``, on first load): docs/models.md.
"""

import json
import re
from dataclasses import dataclass
from typing import Annotated, Any, cast
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from hokusai import api_contract, aws, metric_names, openapi, request_id, snapstart
from hokusai.config import ConfigError, PredictSettings
from hokusai.models import request_body
from hokusai.models.artifacts import Attempt, ModelUnavailableError
from hokusai.models.features import FEATURES
from hokusai.models.registry import ModelSpec
from hokusai.models.schemas import (
    MAX_BATCH,
    ModelHealth,
    ModelInfo,
    ModelList,
    PredictRequest,
    PredictResponse,
    validation_errors,
)
from hokusai.models.service import ModelNotFoundError, ModelService, build_chain, is_allowed
from hokusai.observability import count_server_error, logger, metrics, tracer
from hokusai.responses import with_retry_after
from hokusai.startup import Startup


def _record_attempt(spec: ModelSpec, attempt: Attempt) -> None:
    logger.info(
        "Model artifact lookup",
        extra={"model_id": spec.model_id, "source": attempt.source, "outcome": attempt.outcome,
               "duration_ms": attempt.duration_ms, "reason": attempt.reason},
    )  # fmt: skip


@dataclass(frozen=True)
class Predictor:
    settings: PredictSettings
    service: ModelService


def _build() -> Predictor:
    settings = PredictSettings.from_env()
    # Built on first use: a model on EFS needs no S3 client, and botocore's import is 100-150 ms of init.
    s3 = aws.LazyClient("s3", aws.MODEL_CACHE) if settings.model_bucket else None
    secretsmanager = lambda: aws.client("secretsmanager", aws.MODEL_CACHE)  # noqa: E731
    chain = build_chain(settings, s3, secretsmanager, _record_attempt)
    service = ModelService(settings.registry, chain, settings.allow_pickle)
    # Init preloads from the caches only (bounded, well inside Lambda's 10 s init); the Hub, if
    # needed, is reached by the first request under HF_DOWNLOAD_TIMEOUT_MS.
    caches_only = build_chain(settings, s3, None, _record_attempt, include_hub=False)
    logger.info("Model preload", extra={"outcomes": service.preload(caches_only)})
    return Predictor(settings, service)


# Built in the init phase (the model loads with Lambda's init CPU boost); a bad configuration is
# logged once and every request answers 503 naming the variable.
dependencies = Startup("predict", _build, logger)
dependencies.prime()


class _Resolver(APIGatewayRestResolver):
    """Path parameters as API Gateway hands them to the function: URL-decoded.

    Powertools matches routes on the event's raw ``path``, which keeps the client's escapes
    (``/v1/models/%32%31/info``), and passes the matched text on; API Gateway's ``pathParameters``
    say ``{"model_id": "21"}``. Decoded here, so validation (``max_length``) and the route see the id
    the gateway saw."""

    def _convert_matches_into_route_keys(self, match: re.Match[str]) -> dict[str, str]:
        keys = super()._convert_matches_into_route_keys(match)
        return {name: unquote(value) for name, value in keys.items()}


# strip_prefixes: through the custom domain the event's path keeps the base path (api_contract).
app = _Resolver(enable_validation=True, strip_prefixes=[*api_contract.STRIP_PREFIXES])


def _error(status_code: int, detail: str, **extra: Any) -> Response[str]:
    body = {"detail": detail, "request_id": request_id.current(), **extra}
    return Response(status_code=status_code, content_type="application/json", body=json.dumps(body))


def _caller() -> dict[str, str]:
    context: dict[str, Any] = dict(app.current_event.request_context.authorizer or {})
    return {name: str(context.get(name, "")) for name in ("key_id", "user_id", "scopes")}


def _service() -> ModelService:
    return dependencies.get().service


def _batch_limit() -> int:
    return min(MAX_BATCH, dependencies.get().settings.max_batch_size)


@app.get("/v1/models")
def list_models() -> ModelList:
    scopes = _caller()["scopes"]
    models = [
        {"model_id": spec.model_id, "name": spec.name, "version": spec.version}
        for spec in _service().registry.values()
        if is_allowed(spec.model_id, scopes)
    ]
    return ModelList.model_validate({"models": models})


@app.get("/v1/models/<model_id>/info")
def model_info(model_id: Annotated[str, Path(max_length=64)]) -> ModelInfo:
    spec = _authorized_spec(model_id)
    return ModelInfo.model_validate(
        {
            **spec.to_dict(),
            "features": [f.to_dict() for f in FEATURES],
            "loaded_from": _service().loaded_from(model_id),
        }
    )


@app.get("/v1/models/<model_id>/health")
def model_health(model_id: Annotated[str, Path(max_length=64)]) -> Response[str]:
    """200 when the model is loaded in this container, 503 (Retry-After) when not; it never loads
    one itself, so a probe costs no model download."""
    spec = _authorized_spec(model_id)
    loaded_from = _service().loaded_from(model_id)
    health = ModelHealth(
        model_id=model_id,
        status="loaded" if loaded_from else "not_loaded",
        loaded_from=loaded_from,
        version=spec.version,
        revision=spec.revision,
        sha256=spec.sha256,
    )
    headers = {} if loaded_from else {"Retry-After": "5"}
    return Response(
        status_code=200 if loaded_from else 503,
        content_type="application/json",
        body=health.model_dump_json(),
        headers=headers,
    )


@app.post("/v1/models/<model_id>/predict")
@tracer.capture_method
def predict(
    model_id: Annotated[str, Path(max_length=64)], request: Annotated[PredictRequest, Body()]
) -> PredictResponse:
    _authorized_spec(model_id)
    batch = isinstance(request.inputs, list)
    leads = request.inputs if isinstance(request.inputs, list) else [request.inputs]
    if not leads or len(leads) > _batch_limit():
        raise BatchSizeError(len(leads))
    answer = _service().predict(model_id, [lead.model_dump(exclude_none=True) for lead in leads], _caller())
    if not batch:
        answer["predictions"] = answer["predictions"][0]
    metrics.add_metric(name=metric_names.PREDICTIONS, unit=MetricUnit.Count, value=len(leads))
    return PredictResponse.model_validate(answer)


class BatchSizeError(ValueError):
    pass


class ForbiddenModelError(PermissionError):
    pass


def _authorized_spec(model_id: str) -> ModelSpec:
    spec = _service().spec(model_id)
    if not is_allowed(model_id, _caller()["scopes"]):
        raise ForbiddenModelError(model_id)
    return spec


@app.get("/v1/openapi.json")
def openapi_document() -> Response[str]:
    return Response(status_code=200, content_type="application/json", body=openapi_json())


def openapi_json() -> str:
    """Powertools' document completed from ``hokusai.api_contract`` (servers, security, every status)."""
    generated = json.loads(app.get_openapi_json_schema(title="Hokusai model API", version="1.0.0"))
    return json.dumps(openapi.document(generated))


@app.exception_handler(RequestValidationError)
def invalid_request(error: RequestValidationError) -> Response[str]:
    errors = validation_errors(error.errors(), _inputs_is_batch())
    if any(item["type"] == "json_invalid" for item in errors):
        return _error(400, "Request body is not valid JSON")
    return _error(400, "Invalid request", errors=errors)


def _inputs_is_batch() -> bool:
    try:
        return isinstance(json.loads(app.current_event.body or "null").get("inputs"), list)
    except (ValueError, AttributeError):
        return False


@app.exception_handler(BatchSizeError)
def batch_size(error: BatchSizeError) -> Response[str]:
    return _error(400, f"inputs must hold 1 to {_batch_limit()} leads (got {error.args[0]})")


@app.exception_handler(ModelNotFoundError)
def unknown_model(error: ModelNotFoundError) -> Response[str]:
    return _error(404, f"Model {error.args[0]!r} not found")


@app.exception_handler(ForbiddenModelError)
def forbidden_model(error: ForbiddenModelError) -> Response[str]:
    return _error(403, f"API key not allowed for model {error.args[0]!r}")


@app.exception_handler(ModelUnavailableError)
def model_unavailable(error: ModelUnavailableError) -> Response[str]:
    metrics.add_metric(name=metric_names.MODEL_UNAVAILABLE, unit=MetricUnit.Count, value=1)
    # The operators' detail (cache locations, AWS codes, the fill command) goes to the log only.
    logger.error("Model unavailable", extra={"detail": error.detail})
    response = _error(503, error.client_detail)
    response.headers["Retry-After"] = "5"
    return response


@app.exception_handler(ConfigError)
def misconfigured(error: ConfigError) -> Response[str]:
    return _error(503, f"Service misconfigured: {error}")


@app.exception_handler(Exception)
def unexpected(error: Exception) -> Response[str]:
    from hokusai.models.scorer import UntrustedModelError

    if isinstance(error, UntrustedModelError):
        logger.error("Model refused", extra={"detail": str(error)})
        return _error(503, "The model failed its safety check; retry later (the operators are alerted)")
    logger.exception("Predict failed")
    return _error(503, "Prediction failed, retry shortly")


@app.not_found
def not_found(_: Exception) -> Response[str]:
    return _error(404, "Not found")


def _checked_body(event: dict[str, Any], rid: str) -> dict[str, Any]:
    """The event with its body checked (``hokusai.models.request_body``) and handed to the resolver
    as UTF-8 text; or, for a body that cannot be served as sent, the 4xx answer saying what to send."""
    if event.get("httpMethod") != "POST":
        return event
    try:
        limit = dependencies.get().settings.max_body_bytes
    except ConfigError:
        return event  # the resolver answers 503 naming the variable
    try:
        text = request_body.checked_text(
            event.get("headers"), event.get("body"), bool(event.get("isBase64Encoded")), limit
        )
    except request_body.BodyError as error:
        logger.info("Request body refused", extra={"status": error.status, "detail": error.detail})
        return {
            "statusCode": error.status,
            "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"detail": error.detail, "request_id": rid}),
            "isBase64Encoded": False,
        }
    # The resolver gets what it parses: UTF-8 text, and the media type in the one spelling it knows.
    headers = {k: v for k, v in (event.get("headers") or {}).items() if k.lower() != "content-type"}
    multi = {k: v for k, v in (event.get("multiValueHeaders") or {}).items() if k.lower() != "content-type"}
    headers["Content-Type"] = request_body.JSON_MEDIA_TYPE
    multi["Content-Type"] = [request_body.JSON_MEDIA_TYPE]
    return {**event, "headers": headers, "multiValueHeaders": multi, "body": text, "isBase64Encoded": False}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return _handle(event, context)


def _handle(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """One request, without the Powertools decorators (the SnapStart warm-up calls it directly)."""
    ids = request_id.from_event(event, context)
    request_id.bind(ids, logger)
    try:
        checked = _checked_body(event, ids.value)
        answer = checked if "statusCode" in checked else app.resolve(checked, context)
        count_server_error(answer["statusCode"])
        return request_id.stamp(with_retry_after(answer), ids)
    finally:
        request_id.unbind(logger)


# --------------------------------------------------------------------------------------------- SnapStart
# Before the snapshot (docs/snapstart.md): the dependencies are built, and every model the init loaded
# answers one real request through the whole request path (body check, resolver, validation, the
# scorer, the response model), so imports, models and code are warm in every restored copy.
# A failure is logged as an ERROR ("SnapStart before snapshot hook failed", hokusai.snapstart) and
# the snapshot proceeds: failing it would fail the version's publish, hence the deployment, over what
# may be a transient S3 error, while a copy without the warm state still serves: its first request
# loads what is missing, as any cold start does (remembered load failures are forgotten at restore).
# The warm-up runs outside the Powertools decorators: no log line with an invocation's keys, no
# ColdStart flag consumed, no metric flushed; what it buffered is dropped here and again at restore.
WARM_UP_LEAD: dict[str, Any] = {
    "company_size": 1000, "industry": "Technology", "engagement_score": 75, "website_visits": 10,
    "email_opens": 5, "content_downloads": 3, "demo_requested": True, "budget_confirmed": False,
    "decision_timeline": "Q2 2025", "title": "VP of Sales",
}  # fmt: skip
WARM_UP_ID = "snapstart-warm-up"


class WarmUpError(RuntimeError):
    pass


class _WarmUpContext:
    function_name = WARM_UP_ID
    aws_request_id = WARM_UP_ID


def warm_up_event(model_id: str) -> dict[str, Any]:
    """A REST proxy event as API Gateway sends it after the authorizer allowed the model."""
    headers = {"Content-Type": request_body.JSON_MEDIA_TYPE, request_id.HEADER: WARM_UP_ID}
    return {
        "resource": "/v1/models/{model_id}/predict",
        "path": f"/v1/models/{model_id}/predict",
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"model_id": model_id},
        "stageVariables": None,
        "requestContext": {
            "authorizer": {"key_id": WARM_UP_ID, "user_id": WARM_UP_ID, "scopes": model_id},
            "httpMethod": "POST",
            "path": f"/api/v1/models/{model_id}/predict",
            "requestId": WARM_UP_ID,
            "resourcePath": "/v1/models/{model_id}/predict",
            "stage": "api",
        },
        "body": json.dumps({"inputs": WARM_UP_LEAD}),
        "isBase64Encoded": False,
    }


def warm_up() -> dict[str, str]:
    """Build, then predict once per model loaded at init: model id -> outcome. Raises WarmUpError
    naming every model that is not loaded or did not answer 200 (after trying all of them)."""
    try:
        predictor = dependencies.get()
    except ConfigError:
        return {}  # logged once by Startup; every request answers 503 naming the variable
    outcomes: dict[str, str] = {}
    try:
        for model_id in predictor.service.registry:
            if predictor.service.loaded_from(model_id) is None:
                outcomes[model_id] = "not loaded at init: the first request loads it"
                continue
            answer = _handle(warm_up_event(model_id), cast(LambdaContext, _WarmUpContext()))
            ok = answer["statusCode"] == 200 and "predictions" in json.loads(answer["body"])
            outcomes[model_id] = "ok" if ok else f"answered {answer['statusCode']}: {answer['body'][:200]}"
    finally:
        metrics.clear_metrics()
    failed = {model_id: outcome for model_id, outcome in outcomes.items() if outcome != "ok"}
    if failed:
        raise WarmUpError(f"not warm: {failed}")
    logger.info("SnapStart warm-up", extra={"outcomes": outcomes})
    return outcomes


snapstart.before_snapshot("predict", warm_up)
