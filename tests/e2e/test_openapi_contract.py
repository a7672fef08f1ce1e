"""The local stack's answers match docs/openapi.json: for each status a request produces, the body
validates against the schema documented for that path, method and status (``$ref`` resolved here,
then ``local.json_schema``'s draft-04 validator on the keywords it implements)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from local import json_schema
from local.stack import LocalStack
from tests.helpers import running_stack

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT: dict[str, Any] = json.loads((ROOT / "docs" / "openapi.json").read_text())
SEED_LEAD = {"company_size": 1000, "industry": "Technology", "engagement_score": 80}


def resolved(schema: Any) -> Any:
    """The schema with every local ``$ref`` replaced by its target and only the keywords the
    validator implements kept (``maximum``, ``maxLength``, ``enum``, ``default``... are dropped:
    they constrain values, not the shape this test checks)."""
    if isinstance(schema, list):
        return [resolved(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        target: Any = DOCUMENT
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return resolved(target)
    kept: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "properties":
            kept[key] = {name: resolved(sub) for name, sub in value.items()}
        elif key in {"items", "additionalProperties"}:
            kept[key] = resolved(value) if isinstance(value, dict) else value
        elif key in {"anyOf", "oneOf"}:
            kept[key] = resolved(value)
        elif key in json_schema.KEYWORDS | json_schema.ANNOTATIONS:
            kept[key] = value
    return kept


def documented(path: str, method: str, status: int) -> dict[str, Any]:
    operations = DOCUMENT["paths"][path]
    # A 405 answers a method the path does not serve: any of the path's operations documents it.
    operation = operations.get(method.lower()) or next(iter(operations.values()))
    responses = operation["responses"]
    assert str(status) in responses, f"{method} {path}: {status} is not documented"
    return dict(resolved(responses[str(status)]["content"]["application/json"]["schema"]))


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with running_stack() as started:
        yield started


def key(stack: LocalStack) -> dict[str, str]:
    return {"X-API-Key": stack.deployment.canary_api_key}


CASES: list[tuple[str, str, str, int, dict[str, Any]]] = [
    # (id, method, path template, status, request kwargs); "KEY" headers are the canary key.
    ("200 predict", "POST", "/v1/models/{model_id}/predict", 200, {"json": {"inputs": SEED_LEAD}}),
    ("200 batch", "POST", "/v1/models/{model_id}/predict", 200, {"json": {"inputs": [SEED_LEAD, {}]}}),
    ("200 models", "GET", "/v1/models", 200, {}),
    ("200 info", "GET", "/v1/models/{model_id}/info", 200, {}),
    ("200 health", "GET", "/health", 200, {}),
    ("400 field", "POST", "/v1/models/{model_id}/predict", 400, {"json": {"inputs": {"company_size": "x"}}}),
    ("400 batch", "POST", "/v1/models/{model_id}/predict", 400, {"json": {"inputs": [{}] * 101}}),
    ("400 gateway", "POST", "/v1/models/{model_id}/predict", 400, {"json": {"leads": []}}),
    ("401", "GET", "/v1/models", 401, {"no_key": True}),
    # The canary key is scoped to its model: the authorizer denies another id (ACCESS_DENIED).
    ("403 model", "GET", "/v1/models/{model_id}/info", 403, {"model_id": "no-such-model"}),
    ("405", "GET", "/v1/models/{model_id}/predict", 405, {}),
    (
        "413",
        "POST",
        "/v1/models/{model_id}/predict",
        413,
        {"data": b'{"inputs": {}}' + b" " * (7 * 1024 * 1024)},
    ),
    (
        "415",
        "POST",
        "/v1/models/{model_id}/predict",
        415,
        {"data": b'{"inputs": {}}', "content_type": "text/plain"},
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "status", "options"), [case[1:] for case in CASES], ids=[c[0] for c in CASES]
)
def test_answer_matches_documented_schema(
    stack: LocalStack, method: str, path: str, status: int, options: dict[str, Any]
) -> None:
    options = dict(options)
    headers = {} if options.pop("no_key", False) or path == "/health" else key(stack)
    if "content_type" in options:
        headers["Content-Type"] = options.pop("content_type")
    elif "data" in options:
        headers["Content-Type"] = "application/json"
    url = stack.base_url + path.replace("{model_id}", options.pop("model_id", "21"))
    response = requests.request(method, url, headers=headers, timeout=60, **options)
    assert response.status_code == status, response.text
    schema = documented(path, method, status)
    json_schema.check(schema)
    problems = json_schema.validate(response.json(), schema)
    assert not problems, f"{method} {path} {status}: {problems} in {response.text[:500]}"


def test_document_declares_servers_security_and_limits() -> None:
    assert DOCUMENT["servers"][0]["url"] == "/api"
    assert set(DOCUMENT["components"]["securitySchemes"]) == {"Bearer", "ApiKey"}
    inputs = DOCUMENT["components"]["schemas"]["PredictRequest"]["properties"]["inputs"]["anyOf"]
    assert [option.get("maxItems") for option in inputs if option.get("type") == "array"] == [100]
    assert "422" not in json.dumps(DOCUMENT["paths"])
