"""The emulator's draft-04 validator: the request bodies API Gateway's validator accepts and refuses."""

from __future__ import annotations

from typing import Any

import pytest
from hokusai.api_contract import PREDICT_REQUEST

from local import json_schema


@pytest.mark.parametrize(
    "body",
    [
        {"inputs": {}},
        {"inputs": [{}, {}]},
        {"inputs": {"company_size": "a thousand"}},
        {"inputs": [], "x": 1},
    ],
)
def test_the_predict_model_accepts_any_object_or_array_of_inputs(body: Any) -> None:
    assert json_schema.validate(body, PREDICT_REQUEST.schema) == []


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({}, "missing required property 'inputs'"),
        ({"wrong": {}}, "missing required property 'inputs'"),
        ({"inputs": 1}, "/inputs: instance type"),
        ({"inputs": "lead"}, "/inputs: instance type"),
        ({"inputs": None}, "/inputs: instance type"),
        ([], "/: instance type"),
        (None, "/: instance type"),
    ],
)
def test_the_predict_model_refuses(body: Any, error: str) -> None:
    (found,) = json_schema.validate(body, PREDICT_REQUEST.schema)
    assert error in found


@pytest.mark.parametrize(
    ("instance", "kind", "valid"),
    [
        (1, "integer", True),
        (1.5, "integer", False),
        (True, "integer", False),
        (True, "boolean", True),
        (1.5, "number", True),
        (True, "number", False),
        ("1", "string", True),
        (None, "null", True),
    ],
)
def test_types(instance: Any, kind: str, valid: bool) -> None:
    assert (json_schema.validate(instance, {"type": kind}) == []) is valid


def test_array_bounds_items_and_additional_properties() -> None:
    schema = {
        "type": "array",
        "minItems": 1,
        "maxItems": 2,
        "items": {"type": "object", "properties": {"a": {"type": "integer"}}, "additionalProperties": False},
    }
    assert json_schema.validate([{"a": 1}], schema) == []
    assert "fewer than 1" in json_schema.validate([], schema)[0]
    assert "more than 2" in json_schema.validate([{}, {}, {}], schema)[0]
    assert json_schema.validate([{"a": 1, "b": 2}], schema) == ["/0: property 'b' is not allowed"]
    assert "/0/a: instance type" in json_schema.validate([{"a": "x"}], schema)[0]


def test_one_of_means_exactly_one_and_any_of_at_least_one() -> None:
    one = {"oneOf": [{"type": "number"}, {"type": "integer"}]}
    assert json_schema.validate(1.5, one) == []
    assert "matches 2 of oneOf" in json_schema.validate(1, one)[0]
    assert "matches 0 of oneOf" in json_schema.validate("x", one)[0]
    any_ = {"anyOf": [{"type": "number"}, {"type": "integer"}]}
    assert json_schema.validate(1, any_) == []
    assert json_schema.validate("x", any_) == ["/: instance matches none of anyOf"]


def test_a_keyword_it_does_not_implement_is_refused_wherever_it_is() -> None:
    schema = {"type": "object", "properties": {"inputs": {"type": "string", "pattern": "^a"}}}
    with pytest.raises(json_schema.UnsupportedKeyword, match="pattern"):
        json_schema.validate({}, schema)  # even when the body never reaches that property


@pytest.mark.parametrize("body", [b"", b"not json", b'{"inputs": NaN}', b"\xff"])
def test_bodies_that_are_not_json(body: bytes) -> None:
    with pytest.raises(json_schema.InvalidJson):
        json_schema.parse(body)
