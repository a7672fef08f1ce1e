"""A client we did not write (issue 23 item 2): openapi-python-client generates a Python client from the
served ``/v1/openapi.json``; it calls every route with both auth schemes and parses the successes and
the errors (400, 401, 403, 404, 413, 415, 429, 503) into its typed models. A document that lies about
a status, a field or a shape fails here the way it would fail a customer's build."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests

from local.stack import LocalStack
from stacks.settings import UsagePlan
from tests.helpers import run_program

PACKAGE = "hokusai_generated_client"
# A daily quota of one request: the second is refused 429 (QUOTA_EXCEEDED) whatever the machine's speed.
PLANS = {"one-a-day": UsagePlan("one-a-day", rate_limit=100, burst_limit=100, quota_per_day=1)}
LEAD = {"company_size": 1000, "industry": "Technology", "engagement_score": 80.0, "demo_requested": True}


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    import uuid

    started = LocalStack(
        name=f"hokusai-test-{uuid.uuid4().hex[:6]}",
        overrides={"POWERTOOLS_LOG_LEVEL": "WARNING"},
        usage_plans=PLANS,
    ).start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def client_package(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The client generated from the document the stack serves, imported as :data:`PACKAGE`."""
    workspace = tmp_path_factory.mktemp("generated")
    served = requests.get(f"{stack.base_url}/v1/openapi.json", timeout=60)
    assert served.status_code == 200, served.text
    (workspace / "openapi.json").write_text(served.text)
    (workspace / "config.yaml").write_text("post_hooks: []\n")  # no formatter run: offline, no ruff on PATH
    generator = Path(sys.executable).with_name("openapi-python-client")
    command = [str(generator), "generate", "--path", "openapi.json", "--output-path", PACKAGE]
    completed = run_program(
        [*command, "--meta", "none", "--config", "config.yaml"],
        {"PATH": "/usr/bin:/bin", "HOME": str(workspace)},
        cwd=workspace,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "Warning" not in completed.stdout + completed.stderr, completed.stdout + completed.stderr
    sys.path.insert(0, str(workspace))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(workspace))
        for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def api(package: ModuleType, operation: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.api.default.{operation}")


def models(package: ModuleType) -> Any:
    return importlib.import_module(f"{PACKAGE}.models")


def authenticated(package: ModuleType, stack: LocalStack, api_key: str, scheme: str) -> Any:
    client = importlib.import_module(f"{PACKAGE}.client")
    if scheme == "Bearer":
        return client.AuthenticatedClient(base_url=stack.base_url, token=api_key, timeout=60.0)
    return client.AuthenticatedClient(
        base_url=stack.base_url, token=api_key, prefix="", auth_header_name="X-API-Key", timeout=60.0
    )


def error(answer: Any, status: int, package: ModuleType) -> Any:
    """The answer parsed into the client's Error model, with the request id in body and header."""
    assert answer.status_code == status, answer.content
    assert isinstance(answer.parsed, models(package).Error), answer.parsed
    assert answer.parsed.detail and answer.parsed.request_id == answer.headers["X-Request-ID"]
    return answer.parsed


def lead(package: ModuleType, **fields: Any) -> Any:
    return models(package).Lead.from_dict({**LEAD, **fields})


def predict(package: ModuleType, client: Any, inputs: Any, model_id: str = "21") -> Any:
    body = models(package).PredictRequest(inputs=inputs)
    return api(package, "predict_v1_models_model_id_predict_post").sync_detailed(
        model_id, client=client, body=body
    )


@pytest.mark.parametrize("scheme", ["Bearer", "X-API-Key"])
def test_every_route_answers_into_the_typed_models(
    stack: LocalStack, client_package: ModuleType, scheme: str
) -> None:
    package, typed = client_package, models(client_package)
    api_key, key_id = stack.create_key(f"generated-{scheme}", ["21"])
    client = authenticated(package, stack, api_key, scheme)

    listed = api(package, "list_models_v1_models_get").sync(client=client)
    assert isinstance(listed, typed.ModelList)
    assert [model.model_id for model in listed.models] == ["21"]

    info = api(package, "model_info_v1_models_model_id_info_get").sync("21", client=client)
    assert isinstance(info, typed.ModelInfo)
    assert {feature.name for feature in info.features} >= set(LEAD)
    assert all(isinstance(feature, typed.FeatureInfo) for feature in info.features)

    loaded = api(package, "model_health_v1_models_model_id_health_get").sync("21", client=client)
    assert isinstance(loaded, typed.ModelHealth)
    assert loaded.status == typed.ModelHealthStatus.LOADED

    health_client = importlib.import_module(f"{PACKAGE}.client").Client(base_url=stack.base_url, timeout=60.0)
    report = api(package, "health_health_get").sync(client=health_client)
    assert isinstance(report, typed.HealthReport)
    assert report.status in set(typed.HealthReportStatus)
    document = api(package, "openapi_document_v1_openapi_json_get").sync(client=health_client)
    assert document is not None and document.to_dict()["openapi"].startswith("3.1")

    one = predict(package, client, lead(package))
    assert isinstance(one.parsed, typed.PredictResponse), one.content
    assert isinstance(one.parsed.predictions, typed.PredictionOut)
    assert one.parsed.predictions.recommendation in set(typed.PredictionOutRecommendation)
    assert one.parsed.metadata.api_key_id == key_id
    for size in (3, 100):
        batch = predict(package, client, [lead(package, website_visits=i) for i in range(size)])
        assert isinstance(batch.parsed, typed.PredictResponse), batch.content
        assert isinstance(batch.parsed.predictions, list) and len(batch.parsed.predictions) == size
        assert all(isinstance(p, typed.PredictionOut) for p in batch.parsed.predictions)


def test_errors_parse_into_the_typed_error(stack: LocalStack, client_package: ModuleType) -> None:
    package, typed = client_package, models(client_package)
    api_key, _ = stack.create_key("generated-errors", ["21"])
    client = authenticated(package, stack, api_key, "Bearer")
    info = api(package, "model_info_v1_models_model_id_info_get")

    invalid = error(predict(package, client, lead(package, company_size=6490.5)), 400, package)
    assert [(e.field, e.type_) for e in invalid.errors] == [("inputs.company_size", "int_from_float")]
    assert all(isinstance(e, typed.FieldError) for e in invalid.errors)

    unknown_key = authenticated(package, stack, "hk_" + "A" * 43, "X-API-Key")
    assert error(info.sync_detailed("21", client=unknown_key), 401, package).detail == "API key required"

    # A key scoped to model 21 asking for another model: the authorizer's policy denies it.
    error(info.sync_detailed("22", client=client), 403, package)
    every_model_key, _ = stack.create_key("generated-every-model", ["*"])
    every_model = authenticated(package, stack, every_model_key, "Bearer")
    assert "not found" in error(info.sync_detailed("22", client=every_model), 404, package).detail

    too_large = predict(package, client, lead(package, title="x" * 300_000))
    error(too_large, 413, package)
    gzip_claimed = client.with_headers({"Content-Encoding": "gzip"})
    error(predict(package, gzip_claimed, lead(package)), 415, package)


def test_quota_exceeded_parses_into_the_typed_error_with_retry_after(
    stack: LocalStack, client_package: ModuleType
) -> None:
    package = client_package
    api_key, _ = stack.create_key("generated-quota", ["21"], plan="one-a-day")
    client = authenticated(package, stack, api_key, "X-API-Key")
    models_route = api(package, "list_models_v1_models_get")
    assert models_route.sync_detailed(client=client).status_code == 200
    refused = models_route.sync_detailed(client=client)
    assert error(refused, 429, package).detail == "Quota exceeded"
    assert int(refused.headers["Retry-After"]) > 0


def test_unavailable_parses_into_the_typed_error_and_health_report(
    stack: LocalStack, client_package: ModuleType
) -> None:
    """The keys table unreachable: a key no cache has seen gets the authorizer's 503, /health its
    unhealthy report; both say when to retry."""
    package, typed = client_package, models(client_package)
    api_key, _ = stack.create_key("generated-unavailable", ["21"])
    client = authenticated(package, stack, api_key, "Bearer")
    health_client = importlib.import_module(f"{PACKAGE}.client").Client(base_url=stack.base_url, timeout=60.0)
    stack.aws.stop()
    try:
        refused = api(package, "list_models_v1_models_get").sync_detailed(client=client)
        assert error(refused, 503, package).detail.startswith("Authentication temporarily unavailable")
        assert int(refused.headers["Retry-After"]) > 0
        report = api(package, "health_health_get").sync_detailed(client=health_client)
        assert report.status_code == 503
        assert isinstance(report.parsed, typed.HealthReport)
        assert report.parsed.status == typed.HealthReportStatus.UNHEALTHY
        assert int(report.headers["Retry-After"]) > 0
    finally:
        stack.aws.start()
