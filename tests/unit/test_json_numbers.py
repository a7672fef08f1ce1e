"""Numbers as JSON means them (issue 23 item 4): an integer field takes an integral number written with a
fraction or an exponent (``6490.0``, ``6.49e3``) and refuses a non-integral one with a 400 naming the
field; the published document (docs/openapi.json) says ``integer``, and JSON Schema's ``integer`` is
exactly that set of numbers, so the document and the answers agree."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hokusai.models.features import FEATURES
from hokusai.models.registry import ModelSpec

from local.handlers import LambdaContext, load_event
from tests.helpers import predict_handler_on_efs

ROOT = Path(__file__).resolve().parents[2]
INTEGER_FIELDS = [feature.name for feature in FEATURES if feature.kind == "integer"]


@pytest.fixture(scope="module")
def handler(demo_model: tuple[bytes, ModelSpec], tmp_path_factory: pytest.TempPathFactory) -> Any:
    return predict_handler_on_efs(demo_model, tmp_path_factory, max_body_bytes=4096)


def call(handler: Any, raw: str) -> tuple[int, dict[str, Any]]:
    """``raw`` is the body byte for byte: ``6.49e3`` reaches the function as the client wrote it."""
    event = load_event("predict_seed.json")
    event["body"] = raw
    answer = handler.lambda_handler(event, LambdaContext())
    return answer["statusCode"], json.loads(answer["body"])


@pytest.mark.parametrize("field", INTEGER_FIELDS)
@pytest.mark.parametrize("written", ["6490.0", "6.49e3", "6490e0", "649E+1"])
def test_an_integral_number_is_the_integer_however_it_is_written(
    handler: Any, field: str, written: str
) -> None:
    status, plain = call(handler, '{"inputs": {"%s": 6490}}' % field)  # noqa: UP031
    assert status == 200, plain
    status, body = call(handler, '{"inputs": {"%s": %s}}' % (field, written))  # noqa: UP031
    assert status == 200, body
    assert body["predictions"] == plain["predictions"]


@pytest.mark.parametrize("field", INTEGER_FIELDS)
def test_a_number_with_a_fraction_is_refused_naming_the_field(handler: Any, field: str) -> None:
    status, body = call(handler, '{"inputs": {"%s": 6490.5}}' % field)  # noqa: UP031
    assert status == 400
    assert body["detail"] == "Invalid request"
    assert body["errors"] == [
        {
            "field": f"inputs.{field}",
            "message": "Input should be a valid integer, got a number with a fractional part",
            "type": "int_from_float",
        }
    ]


@pytest.mark.parametrize(
    ("raw", "field", "kind"),
    [
        ('{"inputs": [{}, {"email_opens": 2.25}]}', "inputs.1.email_opens", "int_from_float"),
        ('{"inputs": {"company_size": 1e400}}', "inputs.company_size", "int_type"),  # infinity
        ('{"inputs": {"company_size": true}}', "inputs.company_size", "int_type"),
        ('{"inputs": {"company_size": "6490"}}', "inputs.company_size", "int_type"),
        ('{"inputs": {"company_size": 1e300}}', "inputs.company_size", "less_than_equal"),
        ('{"inputs": {"company_size": 0.0}}', "inputs.company_size", "greater_than_equal"),
    ],
)
def test_what_is_still_refused(handler: Any, raw: str, field: str, kind: str) -> None:
    status, body = call(handler, raw)
    assert status == 400, body
    assert [(error["field"], error["type"]) for error in body["errors"]] == [(field, kind)]


def test_the_document_says_integer_and_json_schema_means_the_same_numbers() -> None:
    document = json.loads((ROOT / "docs" / "openapi.json").read_text())
    lead = document["components"]["schemas"]["Lead"]["properties"]
    for field in INTEGER_FIELDS:
        (integer,) = [option for option in lead[field]["anyOf"] if option.get("type") != "null"]
        assert integer["type"] == "integer"
        validator = jsonschema.Draft202012Validator({"type": "integer"})
        assert validator.is_valid(json.loads("6490.0")) and validator.is_valid(json.loads("6.49e3"))
        assert not validator.is_valid(6490.5)
