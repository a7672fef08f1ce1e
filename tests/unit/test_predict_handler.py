"""The predict handler with real API Gateway proxy events; the model comes from a temp dir (EFS)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hokusai.models.features import FEATURES
from hokusai.models.registry import ModelSpec, efs_path

from local.handlers import ROOT, LambdaContext, load_event, load_handler


@pytest.fixture(scope="module")
def handler(demo_model: tuple[bytes, ModelSpec], tmp_path_factory: pytest.TempPathFactory) -> Any:
    data, spec = demo_model
    efs = tmp_path_factory.mktemp("efs")
    path = Path(efs_path(spec, str(efs)))
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MODEL_REGISTRY", json.dumps({"21": spec.to_dict()}))
        patch.setenv("MODEL_CACHE_DIR", str(efs))
        patch.setenv("HF_HOME", str(tmp_path_factory.mktemp("hf")))
        patch.setenv("MAX_BATCH_SIZE", "5")
        patch.setenv("MAX_BODY_BYTES", "4096")
        patch.delenv("MODEL_BUCKET", raising=False)
        module = load_handler("predict")
    assert module.dependencies.get().service.loaded_from("21") == "efs"
    return module


def call(
    handler: Any, body: Any = None, raw: str | None = None, **changes: Any
) -> tuple[int, dict[str, Any], dict]:
    event = load_event("predict_seed.json")
    if body is not None:
        event["body"] = json.dumps(body)
    if raw is not None:
        event["body"] = raw
    event.update(changes)
    answer = handler.lambda_handler(event, LambdaContext())
    return answer["statusCode"], json.loads(answer["body"]), answer["headers"]


def test_seed_request_answers_in_the_seed_shape(handler: Any) -> None:
    status, body, headers = call(handler)
    assert status == 200
    assert body["predictions"]["recommendation"] in {"Hot", "Warm", "Cold"}
    assert body["metadata"]["api_key_id"] == "key_0123456789abcdef"
    assert headers["X-Request-ID"] == "client-req-0001"
    assert body["timestamp"].count("T") == 1
    assert "+" not in body["timestamp"]


def test_partial_inputs_use_documented_defaults(handler: Any) -> None:
    status, partial, _ = call(handler, {"inputs": {"company_size": 1000}})
    assert status == 200
    defaults = {feature.name: feature.default for feature in FEATURES}
    _, explicit, _ = call(handler, {"inputs": {**defaults, "company_size": 1000}})
    assert partial["predictions"] == explicit["predictions"]


def test_batch_returns_a_list_in_order(handler: Any) -> None:
    leads = [{"engagement_score": 10}, {"engagement_score": 90, "demo_requested": True}, {}]
    status, body, _ = call(handler, {"inputs": leads})
    assert status == 200
    assert isinstance(body["predictions"], list)
    assert len(body["predictions"]) == 3
    assert body["predictions"][1]["lead_score"] > body["predictions"][0]["lead_score"]


@pytest.mark.parametrize(
    ("inputs", "field", "kind"),
    [
        ({"company_size": "1000"}, "inputs.company_size", "int_type"),
        ({"demo_requested": "yes"}, "inputs.demo_requested", "bool_type"),
        ({"engagement_score": 101}, "inputs.engagement_score", "less_than_equal"),
        ({"company_size": 0}, "inputs.company_size", "greater_than_equal"),
        ({"compnay_size": 10}, "inputs.compnay_size", "extra_forbidden"),
        ([{"website_visits": -1}], "inputs.0.website_visits", "greater_than_equal"),
    ],
)
def test_bad_fields_are_listed_one_by_one(handler: Any, inputs: Any, field: str, kind: str) -> None:
    status, body, _ = call(handler, {"inputs": inputs})
    assert status == 400
    assert {"field": field, "type": kind} in [
        {"field": e["field"], "type": e["type"]} for e in body["errors"]
    ]
    assert body["request_id"]


@pytest.mark.parametrize(
    ("raw", "status", "detail"),
    [
        ("not json", 400, "not valid JSON"),
        ('{"inputs": []}', 400, "1 to 5 leads"),
        (json.dumps({"inputs": [{}] * 6}), 400, "1 to 5 leads"),
        ("{}", 400, "Invalid request"),
        (json.dumps({"inputs": {"title": "x" * 5000}}), 413, "larger than 4096 bytes"),
    ],
)
def test_bad_bodies(handler: Any, raw: str, status: int, detail: str) -> None:
    got, body, _ = call(handler, raw=raw)
    assert got == status
    assert detail in body["detail"]


def test_unknown_model_is_404_and_other_scope_is_403(handler: Any) -> None:
    status, body, _ = call(handler, path="/v1/models/99/predict", pathParameters={"model_id": "99"})
    assert (status, body["detail"]) == (404, "Model '99' not found")
    event = load_event("predict_seed.json")
    context = {**event["requestContext"], "authorizer": {"key_id": "k", "user_id": "u", "scopes": "22,23"}}
    status, body, _ = call(handler, requestContext=context)
    assert status == 403
    assert "not allowed for model '21'" in body["detail"]


def test_request_id_is_generated_when_the_client_sends_none(handler: Any) -> None:
    event_headers = {"Content-Type": "application/json"}
    _, _, headers = call(handler, headers=event_headers, multiValueHeaders={})
    assert len(headers["X-Request-ID"]) == 36


@pytest.mark.parametrize("unsafe", ["x" * 129, "id with spaces", "id\u00e9", "<script>"])
def test_unsafe_client_request_ids_are_replaced(handler: Any, unsafe: str) -> None:
    _, _, headers = call(handler, headers={"Content-Type": "application/json", "X-Request-ID": unsafe})
    assert headers["X-Request-ID"] != unsafe
    assert len(headers["X-Request-ID"]) == 36


def test_list_and_openapi_document_matches_docs(handler: Any) -> None:
    status, body, _ = call(handler, httpMethod="GET", path="/v1/models", resource="/v1/models", body=None)
    assert status == 200
    assert body["models"][0]["model_id"] == "21"
    status, document, _ = call(
        handler, httpMethod="GET", path="/v1/openapi.json", resource="/v1/openapi.json", body=None
    )
    assert status == 200
    assert "/v1/models/{model_id}/predict" in document["paths"]
    committed = json.loads((ROOT / "docs" / "openapi.json").read_text())
    assert document == committed, "docs/openapi.json is stale: run `make openapi`"


def test_batch_event_answers_each_lead_in_order(handler: Any) -> None:
    event = load_event("predict_batch.json")
    leads = json.loads(event["body"])["inputs"]
    answer = handler.lambda_handler(event, LambdaContext())
    body = json.loads(answer["body"])
    assert answer["statusCode"] == 200
    assert answer["headers"]["X-Request-ID"] == "client-req-0003"
    assert len(body["predictions"]) == len(leads)
    for lead, prediction in zip(leads, body["predictions"], strict=True):
        _, single, _ = call(handler, {"inputs": lead})
        assert prediction == single["predictions"]


def test_info_reports_the_pinned_artifact_and_respects_scopes(
    handler: Any, demo_model: tuple[bytes, ModelSpec]
) -> None:
    _, spec = demo_model
    event = load_event("predict_info.json")
    answer = handler.lambda_handler(event, LambdaContext())
    info = json.loads(answer["body"])
    assert answer["statusCode"] == 200
    assert answer["headers"]["X-Request-ID"] == "client-req-0002"
    assert (info["model_id"], info["revision"], info["sha256"]) == ("21", spec.revision, spec.sha256)
    assert [feature["name"] for feature in info["features"]] == [feature.name for feature in FEATURES]
    assert info["loaded_from"] == "efs"
    event["requestContext"]["authorizer"]["scopes"] = "22"
    denied = handler.lambda_handler(event, LambdaContext())
    assert denied["statusCode"] == 403
    assert json.loads(denied["body"])["request_id"]
    event["requestContext"]["authorizer"]["scopes"] = "*"
    event["path"], event["pathParameters"] = "/v1/models/99/info", {"model_id": "99"}
    missing = handler.lambda_handler(event, LambdaContext())
    assert missing["statusCode"] == 404


def test_bad_configuration_answers_503_naming_the_variable(
    demo_model: tuple[bytes, ModelSpec], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, spec = demo_model
    monkeypatch.setenv("MODEL_REGISTRY", json.dumps({"21": spec.to_dict()}))
    monkeypatch.setenv("MODEL_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("MAX_BATCH_SIZE", "lots")
    module = load_handler("predict")  # must not raise at import
    answer = module.lambda_handler(load_event("predict_seed.json"), LambdaContext())
    body = json.loads(answer["body"])
    assert answer["statusCode"] == 503
    assert "MAX_BATCH_SIZE" in body["detail"]
    assert body["request_id"] == "6f1d3c5e-9a47-4a4e-8f0b-1d2c3b4a5e6f"


def test_artifact_with_an_untrusted_type_answers_503_naming_it(
    demo_model: tuple[bytes, ModelSpec], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses
    import hashlib
    import io
    import zipfile

    data, spec = demo_model
    source = zipfile.ZipFile(io.BytesIO(data))
    schema = json.loads(source.read("schema.json"))
    schema["__module__"], schema["__class__"] = "os", "system"
    tampered = io.BytesIO()
    with zipfile.ZipFile(tampered, "w") as target:
        for name in source.namelist():
            target.writestr(name, json.dumps(schema) if name == "schema.json" else source.read(name))
    payload = tampered.getvalue()
    bad = dataclasses.replace(spec, sha256=hashlib.sha256(payload).hexdigest())
    path = Path(efs_path(bad, str(tmp_path)))
    path.parent.mkdir(parents=True)
    path.write_bytes(payload)
    monkeypatch.setenv("MODEL_REGISTRY", json.dumps({"21": bad.to_dict()}))
    monkeypatch.setenv("MODEL_CACHE_DIR", str(tmp_path))
    module = load_handler("predict")
    answer = module.lambda_handler(load_event("predict_seed.json"), LambdaContext())
    assert answer["statusCode"] == 503
    assert "untrusted types: os.system" in json.loads(answer["body"])["detail"]
