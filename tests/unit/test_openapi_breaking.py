"""The breaking-change check (issue 23 item 6): the document the predict function serves against the
committed docs/openapi.json. A removed route, status, header, field, enum value or alternative, or a
newly required field, parameter or body, fails, unless docs/openapi.json changes in the same commit
(`make openapi`), where the review sees it; additions pass. docs/api.md says what /v1 promises."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from local.handlers import load_handler
from local.openapi_diff import breaking_changes

ROOT = Path(__file__).resolve().parents[2]
COMMITTED: dict[str, Any] = json.loads((ROOT / "docs" / "openapi.json").read_text())
PREDICT = ("POST", "/v1/models/{model_id}/predict")


@pytest.fixture(scope="module")
def served() -> dict[str, Any]:
    """What GET /v1/openapi.json answers (the handler's own function, as `make openapi` calls it)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MODEL_REGISTRY", (ROOT / "model" / "registry.json").read_text())
        patch.delenv("MODEL_CACHE_DIR", raising=False)
        patch.delenv("MODEL_BUCKET", raising=False)
        return dict(json.loads(load_handler("predict").openapi_json()))


def test_the_served_document_keeps_every_promise_of_the_committed_one(served: dict[str, Any]) -> None:
    broken = breaking_changes(COMMITTED, served)
    assert not broken, (
        "The served OpenAPI document breaks what docs/openapi.json promises to /v1 clients:\n  "
        + "\n  ".join(broken)
        + "\nServe the change under /v2 instead (docs/api.md, 'What may change within /v1'); or, if it is"
        " deliberate and announced, run `make openapi` and commit docs/openapi.json in the same change."
    )


def schemas(doc: dict[str, Any]) -> Any:
    return doc["components"]["schemas"]


def operation(doc: dict[str, Any], method: str, path: str) -> Any:
    return doc["paths"][path][method.lower()]


def remove_route(doc: dict[str, Any]) -> None:
    del doc["paths"]["/v1/models/{model_id}/info"]["get"]


def remove_status(doc: dict[str, Any]) -> None:
    del operation(doc, *PREDICT)["responses"]["413"]


def remove_header(doc: dict[str, Any]) -> None:
    del operation(doc, *PREDICT)["responses"]["429"]["headers"]["Retry-After"]


def remove_answer_field(doc: dict[str, Any]) -> None:
    del schemas(doc)["PredictionOut"]["properties"]["confidence"]


def remove_request_field(doc: dict[str, Any]) -> None:
    del schemas(doc)["Lead"]["properties"]["title"]


def remove_enum_value(doc: dict[str, Any]) -> None:
    schemas(doc)["PredictionOut"]["properties"]["recommendation"]["enum"].remove("Warm")


def require_a_field(doc: dict[str, Any]) -> None:
    schemas(doc)["Lead"]["required"] = ["company_size"]


def require_a_parameter(doc: dict[str, Any]) -> None:
    operation(doc, "GET", "/v1/models")["parameters"] = [
        {"name": "page", "in": "query", "required": True, "schema": {"type": "integer"}}
    ]


def remove_an_alternative(doc: dict[str, Any]) -> None:
    inputs = schemas(doc)["PredictRequest"]["properties"]["inputs"]
    inputs["anyOf"] = [option for option in inputs["anyOf"] if option.get("type") != "array"]


def rename_a_nested_field(doc: dict[str, Any]) -> None:
    metadata = schemas(doc)["PredictionMetadata"]["properties"]
    metadata["key_id"] = metadata.pop("api_key_id")


BREAKS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "route": (remove_route, "GET /v1/models/{model_id}/info: route removed"),
    "status": (remove_status, "POST /v1/models/{model_id}/predict: status 413 removed"),
    "header": (remove_header, "POST /v1/models/{model_id}/predict 429: header Retry-After removed"),
    "answer field": (remove_answer_field, "field 'confidence' removed"),
    "request field": (remove_request_field, "field 'title' removed"),
    "enum value": (remove_enum_value, "enum value(s) removed: ['Warm']"),
    "required field": (require_a_field, "field(s) newly required: ['company_size']"),
    "required parameter": (require_a_parameter, "query parameter 'page' newly required"),
    "alternative": (remove_an_alternative, "anyOf alternative 'array' removed"),
    "renamed field": (rename_a_nested_field, "field 'api_key_id' removed"),
}


@pytest.mark.parametrize("kind", sorted(BREAKS))
def test_each_kind_of_break_is_named(kind: str) -> None:
    change, expected = BREAKS[kind]
    changed = copy.deepcopy(COMMITTED)
    change(changed)
    found = breaking_changes(COMMITTED, changed)
    assert any(expected in line for line in found), found


def test_additions_pass() -> None:
    grown = copy.deepcopy(COMMITTED)
    grown["paths"]["/v1/models/{model_id}/explain"] = copy.deepcopy(
        grown["paths"]["/v1/models/{model_id}/info"]
    )
    operation(grown, *PREDICT)["responses"]["409"] = operation(grown, *PREDICT)["responses"]["400"]
    schemas(grown)["PredictionOut"]["properties"]["explanation"] = {"type": "string"}
    schemas(grown)["PredictionOut"]["properties"]["recommendation"]["enum"].append("Frozen")
    schemas(grown)["PredictionOut"]["required"].append("explanation")  # an answer may promise more
    operation(grown, "GET", "/v1/models")["parameters"] = [
        {"name": "page", "in": "query", "required": False, "schema": {"type": "integer"}}
    ]
    assert breaking_changes(COMMITTED, grown) == []
    assert breaking_changes(COMMITTED, COMMITTED) == []
