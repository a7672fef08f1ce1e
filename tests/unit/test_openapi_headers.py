"""The document declares every header the answers carry (issue 23 item 5): X-Request-ID on every
response, Retry-After on every 429 and 503, Allow on 405, each marked required; and a function's 503
carries Retry-After whichever route gave it (hokusai.responses.with_retry_after)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hokusai.responses import with_retry_after

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT: dict[str, Any] = json.loads((ROOT / "docs" / "openapi.json").read_text())
REQUIRED_BY_STATUS = {
    "401": {"WWW-Authenticate"},
    "405": {"Allow"},
    "429": {"Retry-After"},
    "503": {"Retry-After"},
}


def responses() -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path} {status}", response)
        for path, operations in DOCUMENT["paths"].items()
        for method, operation in operations.items()
        for status, response in operation["responses"].items()
    ]


def header(reference: dict[str, Any]) -> dict[str, Any]:
    name = reference["$ref"].rsplit("/", 1)[1]
    return dict(DOCUMENT["components"]["headers"][name])


@pytest.mark.parametrize(("name", "response"), responses(), ids=[name for name, _ in responses()])
def test_every_response_declares_the_headers_it_carries(name: str, response: dict[str, Any]) -> None:
    status = name.rsplit(" ", 1)[1]
    declared = response.get("headers", {})
    for wanted in {"X-Request-ID"} | REQUIRED_BY_STATUS.get(status, set()):
        assert wanted in declared, f"{name} does not declare {wanted}"
        assert header(declared[wanted]).get("required") is True, f"{name}: {wanted} is not required"


def test_a_503_says_when_to_retry_unless_the_route_did() -> None:
    answer = with_retry_after({"statusCode": 503, "headers": {}, "multiValueHeaders": {}, "body": "{}"})
    assert answer["headers"]["Retry-After"] == "5"
    assert answer["multiValueHeaders"]["Retry-After"] == ["5"]
    own = with_retry_after({"statusCode": 503, "multiValueHeaders": {"retry-after": ["30"]}})
    assert "Retry-After" not in own.get("headers", {})
    assert with_retry_after({"statusCode": 500, "headers": {}}) == {"statusCode": 500, "headers": {}}


@pytest.mark.parametrize(
    ("function", "variable", "value", "event"),
    [
        ("predict", "MODEL_REGISTRY", "{not json", "predict_seed.json"),
        ("health", "REDIS_TIMEOUT_MS", "soon", "health_get.json"),
    ],
)
def test_a_misconfigured_function_answers_503_with_retry_after(
    monkeypatch: pytest.MonkeyPatch, function: str, variable: str, value: str, event: str
) -> None:
    from local.handlers import LambdaContext, load_event, load_handler

    monkeypatch.setenv("KEYS_TABLE_NAME", "keys")
    monkeypatch.setenv(variable, value)
    handler = load_handler(function)
    answer = handler.lambda_handler(load_event(event), LambdaContext())
    assert answer["statusCode"] == 503
    assert answer["headers"]["Retry-After"] == "5"
    assert answer["headers"]["X-Request-ID"]


def test_the_document_is_valid_openapi_3_1() -> None:
    """openapi-spec-validator (moto[server] brings it): the document a generator reads is valid."""
    from openapi_spec_validator import validate
    from openapi_spec_validator.validation.validators import OpenAPIV31SpecValidator

    assert DOCUMENT["openapi"].startswith("3.1")
    validate(DOCUMENT, cls=OpenAPIV31SpecValidator)
