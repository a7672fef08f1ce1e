"""The handlers with events as AWS sends them (tests/events, sources in tests/events/SOURCES.md).

* Through the custom domain (base path mapping ``api``) the proxy event's ``path`` keeps ``/api``
  (``resource`` does not): predict and health strip ``api_contract.STRIP_PREFIXES`` and answer every
  declared route as they answer the execute-api event.
* API Gateway URL-decodes ``pathParameters`` while ``path`` keeps the escapes: predict reads the id
  decoded (``/v1/models/%32%31/info`` is model 21, and the 64-character limit counts decoded text).
* aws-sam-cli's aws-proxy sample (body base64, no Content-Type), a base64 body, the documented REQUEST
  authorizer input.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from hokusai.api_contract import CUSTOM_DOMAIN_BASE_PATH, ROUTES, STRIP_PREFIXES, Route
from hokusai.models.registry import ModelSpec

from local.handlers import LambdaContext, load_event, load_handler
from tests.helpers import predict_handler_on_efs

CUSTOM_DOMAIN = "api.example.test"
SEED_BODY = json.dumps({"inputs": {"company_size": 1000, "industry": "Technology", "demo_requested": True}})
ALL_MODELS = {
    "key_id": "key_0123456789abcdef",
    "user_id": "acme-crm",
    "scopes": "*",
    "principalId": "acme-crm",
}


@pytest.fixture(scope="module")
def predict(demo_model: tuple[bytes, ModelSpec], tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    return predict_handler_on_efs(demo_model, tmp_path_factory, max_body_bytes=262_144)


@pytest.fixture(scope="module")
def health() -> Iterator[ModuleType]:
    """functions/health with its checks' dependencies unbuilt: the runner that names the bad
    configuration (no network; the same answer for every event)."""
    from hokusai.config import ConfigError
    from hokusai.health.service import build_misconfigured_runner

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KEYS_TABLE_NAME", "")
        module = load_handler("health")
        error = ConfigError("KEYS_TABLE_NAME", "must be set", "")
        patch.setattr(module, "_runner", lambda: build_misconfigured_runner(error))
        yield module


def _without_timing(value: Any) -> Any:
    """An answer's body without what differs between two calls: check durations, the timestamp."""
    if isinstance(value, dict):
        return {k: _without_timing(v) for k, v in value.items() if k not in ("duration_ms", "timestamp")}
    if isinstance(value, list):
        return [_without_timing(item) for item in value]
    return value


def call(module: ModuleType, event: dict[str, Any]) -> tuple[int, Any]:
    answer = module.lambda_handler(copy.deepcopy(event), LambdaContext())
    return answer["statusCode"], _without_timing(json.loads(answer["body"]))


def set_header(event: dict[str, Any], name: str, value: str) -> None:
    event["headers"][name] = value
    event["multiValueHeaders"][name] = [value]


def execute_api_event(route: Route, model_id: str = "21") -> dict[str, Any]:
    """``route`` called on the execute-api URL, in the documented shape (apigw_docs_health.json)."""
    event = load_event("apigw_docs_health.json")
    path = route.path.replace("{model_id}", model_id)
    event.update(resource=route.path, path=path, httpMethod=route.method)
    event["pathParameters"] = {"model_id": model_id} if "{model_id}" in route.path else None
    context = event["requestContext"]
    context.update(resourcePath=route.path, httpMethod=route.method, path=f"/api{path}")
    set_header(event, "X-Request-ID", "route-check-1")
    if route.authorized:
        context["authorizer"] = {**ALL_MODELS, "integrationLatency": 9}
    if route.body is not None:
        set_header(event, "Content-Type", "application/json")
        event["body"] = SEED_BODY
    return event


def through_custom_domain(event: dict[str, Any], domain: str = CUSTOM_DOMAIN) -> dict[str, Any]:
    """The same request on ``https://<domain>/api/...``: what API Gateway's event differs in."""
    custom = copy.deepcopy(event)
    custom["path"] = f"/{CUSTOM_DOMAIN_BASE_PATH}{event['path']}"
    custom["requestContext"].update(domainName=domain, domainPrefix=domain.split(".", maxsplit=1)[0])
    set_header(custom, "Host", domain)
    return custom


def test_the_custom_domain_fixture_is_the_execute_api_event_through_the_mapping() -> None:
    """apigw_custom_domain_predict.json differs from its execute-api twin where AWS's does, only."""
    custom = load_event("apigw_custom_domain_predict.json")
    twin = copy.deepcopy(custom)
    twin["path"] = custom["path"].removeprefix(f"/{CUSTOM_DOMAIN_BASE_PATH}")
    twin["requestContext"].update(
        domainName="abc123.execute-api.eu-west-1.amazonaws.com", domainPrefix="abc123"
    )
    set_header(twin, "Host", "abc123.execute-api.eu-west-1.amazonaws.com")
    assert through_custom_domain(twin) == custom
    assert custom["resource"] == custom["requestContext"]["resourcePath"] == "/v1/models/{model_id}/predict"
    assert custom["path"] == custom["requestContext"]["path"] == "/api/v1/models/21/predict"


@pytest.mark.parametrize("route", ROUTES, ids=[f"{r.method} {r.path}" for r in ROUTES])
def test_every_route_answers_the_custom_domain_as_the_execute_api_url(
    route: Route, predict: ModuleType, health: ModuleType
) -> None:
    handler = {"predict": predict, "health": health}[route.function]
    event = execute_api_event(route)
    status, body = call(handler, event)
    assert (status, body) == call(handler, through_custom_domain(event))
    assert status != 404, body  # the route itself answered, not the resolver's not-found


def test_the_custom_domain_fixture_predicts(predict: ModuleType) -> None:
    status, body = call(predict, load_event("apigw_custom_domain_predict.json"))
    assert status == 200, body
    assert body["model_id"] == "21" and 0 <= body["predictions"]["lead_score"] <= 100


def test_without_strip_prefixes_powertools_answers_its_own_404() -> None:
    """Why the prefix is stripped (powertools-lambda-python#773): Powertools routes on ``path``."""
    plain = APIGatewayRestResolver()
    stripping = APIGatewayRestResolver(strip_prefixes=[*STRIP_PREFIXES])
    for app in (plain, stripping):
        app.get("/health")(lambda: {"ok": True})
    event = through_custom_domain(execute_api_event(ROUTES[0]))
    context: Any = LambdaContext()
    assert plain.resolve(copy.deepcopy(event), context)["statusCode"] == 404
    assert stripping.resolve(copy.deepcopy(event), context)["statusCode"] == 200


def test_both_handlers_strip_the_declared_prefix(predict: ModuleType, health: ModuleType) -> None:
    assert (f"/{CUSTOM_DOMAIN_BASE_PATH}",) == STRIP_PREFIXES
    for module in (predict, health):
        assert module.app._strip_prefixes == list(STRIP_PREFIXES)


def test_no_declared_route_starts_with_the_base_path() -> None:
    """A route ``/api/...`` would lose its first segment on the execute-api URL, where the path has
    no base path to strip: choose another base path (api_contract.CUSTOM_DOMAIN_BASE_PATH) first."""
    for route in ROUTES:
        assert route.path.split("/")[1] != CUSTOM_DOMAIN_BASE_PATH, route.path


@pytest.mark.parametrize("path", ["/apiv1/models", "/api", "/v1/api/models", "/apis/v1/models"])
def test_only_a_whole_leading_segment_is_stripped(predict: ModuleType, path: str) -> None:
    event = execute_api_event(Route("GET", "/v1/models", "predict", authorized=True))
    event["path"] = path
    assert call(predict, event) == (404, {"detail": "Not found", "request_id": "route-check-1"})


# ---------------------------------------------------------------- URL-encoded path parameters
def test_an_encoded_model_id_is_the_model(predict: ModuleType) -> None:
    encoded = load_event("apigw_encoded_path_info.json")
    assert encoded["path"] == "/v1/models/%32%31/info" and encoded["pathParameters"] == {"model_id": "21"}
    plain = copy.deepcopy(encoded)
    plain["path"] = plain["requestContext"]["path"] = "/v1/models/21/info"
    status, body = call(predict, encoded)
    assert status == 200, body
    assert body["model_id"] == "21"
    assert (status, body) == call(predict, plain)


@pytest.mark.parametrize(
    ("route", "suffix"),
    [(ROUTES[3], "info"), (ROUTES[4], "health"), (ROUTES[5], "predict")],
    ids=["info", "health", "predict"],
)
def test_every_model_route_reads_the_id_decoded(predict: ModuleType, route: Route, suffix: str) -> None:
    assert route.path.endswith(suffix)
    plain = execute_api_event(route)
    encoded = execute_api_event(route)
    encoded["path"] = encoded["path"].replace("/21/", "/%32%31/")
    assert call(predict, encoded) == call(predict, plain)


def test_the_length_limit_counts_the_decoded_id(predict: ModuleType) -> None:
    route = ROUTES[3]  # GET /v1/models/{model_id}/info
    sixty_four = execute_api_event(route, model_id="%41" * 64)  # 64 characters once decoded
    sixty_four["pathParameters"] = {"model_id": "A" * 64}
    assert call(predict, sixty_four) == (
        404,
        {"detail": f"Model {'A' * 64!r} not found", "request_id": "route-check-1"},
    )
    too_long = execute_api_event(route, model_id="A" * 65)
    status, body = call(predict, too_long)
    assert status == 400 and body["detail"] == "Invalid request"


# ---------------------------------------------------------------- the published samples
def test_the_sam_aws_proxy_sample_predicts(predict: ModuleType) -> None:
    """aws-sam-cli's generated aws-proxy event: body base64 (isBase64Encoded true), no Content-Type,
    pathParameters for a {proxy+} resource, CloudFront headers."""
    event = load_event("apigw_sam_aws_proxy_predict.json")
    assert event["isBase64Encoded"] is True and "Content-Type" not in event["headers"]
    status, body = call(predict, event)
    assert status == 200, body
    assert body["model_id"] == "21"
    assert body["metadata"]["user_id"] == "sam-user"


def test_a_base64_body_predicts_as_the_text_body(predict: ModuleType) -> None:
    encoded = load_event("apigw_base64_body_predict.json")
    assert encoded["isBase64Encoded"] is True
    text = through_custom_domain(encoded)
    text["body"], text["isBase64Encoded"] = load_event("apigw_custom_domain_predict.json")["body"], False
    status, body = call(predict, encoded)
    assert status == 200, body
    assert (status, body) == call(predict, text)


def test_health_answers_the_documented_proxy_event(health: ModuleType) -> None:
    event = load_event("apigw_docs_health.json")
    status, body = call(health, event)
    assert status == 503 and body["status"] == "unhealthy"  # the stubbed runner: configuration invalid
    assert (status, body) == call(health, through_custom_domain(event))


def test_the_authorizer_answers_the_documented_request_event(monkeypatch: pytest.MonkeyPatch) -> None:
    """The AWS docs' REQUEST authorizer input: the key from its headers, the policy on its methodArn."""
    from hokusai.auth.chain import Decision, Verdict
    from hokusai.auth.service import Authorizer
    from hokusai.keys.store import KeyRecord

    seen: list[str] = []

    class OneKey:
        def validate(self, digest: str) -> Verdict:
            seen.append(digest)
            return Verdict(Decision.ALLOW, "source", KeyRecord("key_1", "acme-crm", ("21",)))

    module = load_handler("authorizer")
    monkeypatch.setattr(module.dependencies, "get", lambda: Authorizer(OneKey(), l2_enabled=False))  # type: ignore[arg-type]
    event = load_event("authorizer_request_aws_docs.json")
    event["headers"]["X-API-Key"] = "hk_" + "k" * 43
    event["multiValueHeaders"]["X-API-Key"] = [event["headers"]["X-API-Key"]]
    answer = module.lambda_handler(event, LambdaContext())
    assert len(seen) == 1
    assert answer["principalId"] == "acme-crm"
    assert answer["context"] == {"key_id": "key_1", "user_id": "acme-crm", "scopes": "21"}
    (statement, *_) = answer["policyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    resources = [r for s in answer["policyDocument"]["Statement"] for r in s["Resource"]]
    # The declared routes, method by method (hokusai/auth/policy.py), on the event's own API and stage.
    assert "arn:aws:execute-api:eu-west-1:123456789012:abc123/api/POST/v1/models/21/predict" in resources
