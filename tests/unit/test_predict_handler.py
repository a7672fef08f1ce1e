"""The predict handler with real API Gateway proxy events; the model comes from a temp dir (EFS)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hokusai import metric_names
from hokusai.models.features import FEATURES
from hokusai.models.registry import ModelSpec, efs_path

from local.handlers import ROOT, LambdaContext, load_event, load_handler
from tests.helpers import predict_handler_on_efs


@pytest.fixture(scope="module")
def handler(demo_model: tuple[bytes, ModelSpec], tmp_path_factory: pytest.TempPathFactory) -> Any:
    return predict_handler_on_efs(demo_model, tmp_path_factory, max_body_bytes=4096)


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


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The JSON log lines written so far in the test, as the function's log stream holds them."""
    from hokusai.observability import logger

    stream = io.StringIO()
    capture = logging.StreamHandler(stream)
    capture.setFormatter(logger.registered_formatter)
    logger.addHandler(capture)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        logger.removeHandler(capture)


GATEWAY_REQUEST_ID = "6f1d3c5e-9a47-4a4e-8f0b-1d2c3b4a5e6f"  # requestContext.requestId of the events


def test_request_id_is_the_gateways_when_the_client_sends_none(handler: Any) -> None:
    event_headers = {"Content-Type": "application/json"}
    _, _, headers = call(handler, headers=event_headers, multiValueHeaders={})
    assert headers["X-Request-ID"] == GATEWAY_REQUEST_ID


@pytest.mark.parametrize("unsafe", ["x" * 129, "id with spaces", "id\u00e9", "<script>", ""])
def test_unsafe_client_request_ids_are_replaced_by_the_gateways(
    handler: Any, unsafe: str, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    status, body, headers = call(
        handler,
        raw="not json",
        headers={"Content-Type": "application/json", "X-Request-ID": unsafe},
    )
    assert status == 400
    assert headers["X-Request-ID"] == body["request_id"] == GATEWAY_REQUEST_ID
    lines = log_lines()
    assert lines, "the request logs at least one line"
    assert {line.get("correlation_id") for line in lines} == {GATEWAY_REQUEST_ID}
    assert {line.get("client_request_id") for line in lines} == {unsafe}


def test_every_log_line_of_a_request_carries_its_id(
    handler: Any, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    status, body, headers = call(handler, raw="not json")
    assert status == 400
    assert headers["X-Request-ID"] == body["request_id"] == "client-req-0001"
    lines = log_lines()
    assert lines
    assert {line.get("correlation_id") for line in lines} == {"client-req-0001"}
    assert all("client_request_id" not in line for line in lines)


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


def test_model_health_says_loaded_from_where_and_which_artifact(
    handler: Any, demo_model: tuple[bytes, ModelSpec]
) -> None:
    _, spec = demo_model
    event = load_event("predict_info.json")
    event["path"] = event["path"].replace("/info", "/health")
    event["resource"] = "/v1/models/{model_id}/health"
    answer = handler.lambda_handler(event, LambdaContext())
    assert answer["statusCode"] == 200
    assert json.loads(answer["body"]) == {
        "model_id": "21",
        "status": "loaded",
        "loaded_from": "efs",
        "version": spec.version,
        "revision": spec.revision,
        "sha256": spec.sha256,
    }
    event["requestContext"]["authorizer"]["scopes"] = "22"
    assert handler.lambda_handler(event, LambdaContext())["statusCode"] == 403


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
    # One id per request: the client's safe X-Request-ID, in the body and the header alike.
    assert body["request_id"] == answer["headers"]["X-Request-ID"] == "client-req-0001"


def test_artifact_with_an_untrusted_type_answers_503_and_logs_the_type(
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
    # Served from its skops file (no twin pinned): the skops reader's trust list is what is tested here.
    bad = dataclasses.replace(
        spec, sha256=hashlib.sha256(payload).hexdigest(), twin_filename=None, twin_sha256=None
    )
    path = Path(efs_path(bad, str(tmp_path)))
    path.parent.mkdir(parents=True)
    path.write_bytes(payload)
    monkeypatch.setenv("MODEL_REGISTRY", json.dumps({"21": bad.to_dict()}))
    monkeypatch.setenv("MODEL_CACHE_DIR", str(tmp_path))
    module = load_handler("predict")
    lines = io.StringIO()
    stream = module.logger.registered_handler.setStream(lines)
    try:
        answer = module.lambda_handler(load_event("predict_seed.json"), LambdaContext())
    finally:
        module.logger.registered_handler.setStream(stream)
    assert answer["statusCode"] == 503
    detail = json.loads(answer["body"])["detail"]
    # The client is told what to do; the operators' log names the refused type and the file.
    assert detail == "The model failed its safety check; retry later (the operators are alerted)"
    assert "untrusted types: os.system" in lines.getvalue()


LEAD = json.dumps({"inputs": {"industry": "Technology"}})
TOO_DEEP = "Request body nests arrays and objects more than 32 levels deep"
SEND_JSON = "send the body as JSON with Content-Type: application/json"
NOT_UTF8 = "Latin-1 and UTF-16 are not accepted): send the JSON encoded as UTF-8"
NOT_UTF8_AT = "Request body is not valid UTF-8 (byte {}; " + NOT_UTF8


def _raw_call(handler: Any, headers: dict[str, str], raw: bytes, *, base64_encoded: bool) -> tuple[int, dict]:
    import base64

    event = load_event("predict_seed.json")
    event["headers"] = {**event["headers"], **headers}
    event["multiValueHeaders"] = {name: [value] for name, value in event["headers"].items()}
    if base64_encoded:
        event["body"], event["isBase64Encoded"] = base64.b64encode(raw).decode(), True
    else:
        event["body"], event["isBase64Encoded"] = raw.decode("utf-8"), False
    answer = handler.lambda_handler(event, LambdaContext())
    body = json.loads(answer["body"])
    assert answer["headers"]["X-Request-ID"] == "client-req-0001"
    if answer["statusCode"] != 200:
        assert body["request_id"] == "client-req-0001"
    return answer["statusCode"], body


@pytest.mark.parametrize(
    ("content_type", "status", "detail"),
    [
        ("application/json", 200, None),
        ("Application/JSON", 200, None),
        ("application/json; charset=utf-8", 200, None),
        ('application/json;charset="UTF-8"', 200, None),
        ("application/vnd.api+json", 200, None),
        ("text/plain", 415, f"Content-Type text/plain is not supported: {SEND_JSON}"),
        (
            "application/octet-stream",
            415,
            f"Content-Type application/octet-stream is not supported: {SEND_JSON}",
        ),
        (
            "application/x-www-form-urlencoded",
            415,
            "Content-Type application/x-www-form-urlencoded is not supported (what curl -d sends; add "
            f"-H 'Content-Type: application/json'): {SEND_JSON}",
        ),
        ("json", 415, f"Content-Type 'json' is not a media type: {SEND_JSON}"),
        ("", 415, f"Content-Type '' is not a media type: {SEND_JSON}"),
        (
            "application/json; charset=iso-8859-1",
            415,
            "charset 'iso-8859-1' is not supported: send the body as UTF-8 (charset=utf-8 or no charset)",
        ),
    ],
)
@pytest.mark.parametrize("base64_encoded", [False, True])
def test_content_types(
    handler: Any, content_type: str, status: int, detail: str | None, base64_encoded: bool
) -> None:
    got, body = _raw_call(
        handler, {"Content-Type": content_type}, LEAD.encode(), base64_encoded=base64_encoded
    )
    assert (got, body.get("detail")) == (status, detail)
    if status == 200:
        assert body["predictions"]["lead_score"] >= 0


def test_gzip_is_415_uncompressed_json_is_asked_for(handler: Any) -> None:
    import gzip

    got, body = _raw_call(
        handler,
        {"Content-Encoding": "gzip"},
        gzip.compress(LEAD.encode()),
        base64_encoded=True,
    )
    assert (got, body["detail"]) == (
        415,
        "Content-Encoding 'gzip' is not supported: send the JSON body uncompressed "
        "(no Content-Encoding header)",
    )
    got, _ = _raw_call(handler, {"Content-Encoding": "identity"}, LEAD.encode(), base64_encoded=False)
    assert got == 200


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        ('{"inputs": {"industry": "Caf\u00e9"}}'.encode("latin-1"), NOT_UTF8_AT.format("28 is 0xe9")),
        (LEAD.encode("utf-16"), NOT_UTF8_AT.format("0 is 0xff")),
        (
            LEAD.encode("utf-16-le"),
            "Request body holds NUL bytes (UTF-16?), it is not UTF-8 JSON: send the JSON encoded as UTF-8",
        ),
        (b"[" * 1000 + b"]" * 1000, TOO_DEEP),
        (b'{"inputs": ' + b"[" * 40 + b"]" * 40 + b"}", TOO_DEEP),
        (
            b'{"inputs": {"company_size": 1' + b"0" * 4000 + b"}}",  # the fixture's limit is 4096 bytes
            "Request body holds an integer of 4001 digits; integers may have at most 32 digits",
        ),
        (
            b'{"inputs": {"engagement_score": NaN}}',
            "Request body is not valid JSON: NaN is not a JSON number (send a finite number)",
        ),
        (b"", 'Request body is empty: send {"inputs": {...}} as JSON'),
        (b"inputs=1", "Request body is not valid JSON: Expecting value (line 1, column 1)"),
    ],
)
def test_bodies_that_are_not_utf8_json_within_limits_are_400(handler: Any, raw: bytes, detail: str) -> None:
    got, body = _raw_call(handler, {}, raw, base64_encoded=True)
    assert (got, body["detail"]) == (400, detail)


def test_a_utf8_byte_order_mark_is_ignored(handler: Any) -> None:
    got, _ = _raw_call(handler, {}, b"\xef\xbb\xbf" + LEAD.encode(), base64_encoded=True)
    assert got == 200


def test_oversized_base64_body_is_413_by_its_decoded_size(handler: Any) -> None:
    fits = json.dumps({"inputs": {"title": "x" * 100}}).encode()
    assert _raw_call(handler, {}, fits, base64_encoded=True)[0] == 200
    big = json.dumps({"inputs": {"title": "x" * 4100}}).encode()
    assert _raw_call(handler, {}, big, base64_encoded=True) == (
        413,
        {"detail": "Request body larger than 4096 bytes", "request_id": "client-req-0001"},
    )


def test_client_mistakes_log_nothing_above_info(
    handler: Any, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        _raw_call(handler, {"Content-Type": content_type}, LEAD.encode(), base64_encoded=False)
    _raw_call(handler, {}, b"[" * 1000 + b"]" * 1000, base64_encoded=False)
    _raw_call(handler, {}, b"\xff\xfe", base64_encoded=True)
    levels = {line["level"] for line in log_lines()}
    assert levels == {"INFO"}


@pytest.mark.parametrize(
    "spelling", ["technology", " Technology", "TECHNOLOGY", "  technology\t", "Technology"]
)
def test_categories_are_matched_whatever_the_case_and_surrounding_space(handler: Any, spelling: str) -> None:
    lead = {
        "industry": spelling,
        "engagement_score": 50,
        "title": " vp of sales ",
        "decision_timeline": "q1 2025",
    }
    status, body, _ = call(handler, {"inputs": lead})
    canonical = {**lead, "industry": "Technology", "title": "VP of Sales", "decision_timeline": "Q1 2025"}
    _, expected, _ = call(handler, {"inputs": canonical})
    assert status == 200
    assert body["predictions"] == expected["predictions"]
    assert "warnings" not in body["predictions"]
    assert "Industry: Technology" in body["predictions"]["factors"]


def test_an_unknown_category_is_scored_as_unknown_with_a_warning_naming_it(handler: Any) -> None:
    status, body, _ = call(handler, {"inputs": [{"industry": "Biotech"}, {"industry": "unknown"}, {}]})
    assert status == 200
    first, explicit_unknown, nothing = body["predictions"]
    assert first["warnings"] == [
        "industry: unknown category 'Biotech', it contributes nothing to the score (known: Education, "
        "Finance, Healthcare, Manufacturing, Other, Retail, Technology)"
    ]
    assert {k: v for k, v in first.items() if k != "warnings"} == nothing
    assert "warnings" not in explicit_unknown and "warnings" not in nothing


def _emf_records(output: str, metric: str) -> list[dict[str, Any]]:
    records = []
    for line in output.splitlines():
        if line.startswith("{") and f'"{metric}"' in line:
            record = json.loads(line)
            if any(m["Name"] == metric for d in record["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]):
                records.append(record)
    return records


def test_a_5xx_answer_counts_once_for_the_version_that_gave_it(
    demo_model: tuple[bytes, ModelSpec],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """ServerErrorsByVersion, dimensioned by service and ExecutedVersion (AWS_LAMBDA_FUNCTION_VERSION):
    what the rollout's alarms watch on the version being deployed (stacks/rollout.py)."""
    _, spec = demo_model
    monkeypatch.setenv("MODEL_REGISTRY", json.dumps({"21": spec.to_dict()}))
    monkeypatch.setenv("MODEL_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("MAX_BATCH_SIZE", "lots")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_VERSION", "8")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "hokusai-predict")
    module = load_handler("predict")
    capsys.readouterr()
    assert module.lambda_handler(load_event("predict_seed.json"), LambdaContext())["statusCode"] == 503
    (record,) = _emf_records(capsys.readouterr().out, metric_names.SERVER_ERRORS_BY_VERSION)
    (declaration,) = record["_aws"]["CloudWatchMetrics"]
    assert declaration["Namespace"] == metric_names.NAMESPACE
    assert sorted(declaration["Dimensions"][0]) == sorted(
        [metric_names.SERVICE_DIMENSION, metric_names.VERSION_DIMENSION]
    )
    assert record[metric_names.VERSION_DIMENSION] == "8"
    assert record[metric_names.SERVICE_DIMENSION] == "hokusai-predict"
    assert record[metric_names.SERVER_ERRORS_BY_VERSION] == [1.0]  # one answer, one count


def test_a_client_mistake_is_not_a_server_error_of_the_version(
    handler: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    event = load_event("predict_seed.json")
    event["body"] = '{"inputs": []}'
    capsys.readouterr()
    assert handler.lambda_handler(event, LambdaContext())["statusCode"] == 400
    assert _emf_records(capsys.readouterr().out, metric_names.SERVER_ERRORS_BY_VERSION) == []
