"""hokusai.models.request_body: media types as HTTP defines them, and the body's limits."""

from __future__ import annotations

import pytest
from hokusai.models import request_body
from hokusai.models.request_body import BodyError, MediaType, parse_media_type


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("application/json", MediaType("application", "json", {})),
        ("Application/JSON", MediaType("application", "json", {})),
        (" application/json ; charset=UTF-8 ", MediaType("application", "json", {"charset": "UTF-8"})),
        (
            'application/json;charset="utf-8";q=1',
            MediaType("application", "json", {"charset": "utf-8", "q": "1"}),
        ),
        ("application/vnd.api+json", MediaType("application", "vnd.api+json", {})),
        ("application/json;", MediaType("application", "json", {})),
        ("json", None),
        ("application/", None),
        ("application/json; charset", None),
        ("", None),
    ],
)
def test_media_types(value: str, parsed: MediaType | None) -> None:
    assert parse_media_type(value) == parsed


@pytest.mark.parametrize(
    ("essence", "is_json"),
    [
        ("application/json", True),
        ("application/problem+json", True),
        ("text/json", False),
        ("text/plain", False),
    ],
)
def test_json_media_types(essence: str, is_json: bool) -> None:
    media = parse_media_type(essence)
    assert media is not None and media.is_json is is_json


def _error(text: str) -> BodyError:
    with pytest.raises(BodyError) as caught:
        request_body.parse_json(text)
    return caught.value


def test_python_int_limit_is_never_reached() -> None:
    error = _error('{"inputs": {"company_size": ' + "9" * 5000 + "}}")
    assert (error.status, error.detail) == (
        400,
        "Request body holds an integer of 5000 digits; integers may have at most 32 digits",
    )
    assert request_body.parse_json('{"a": -' + "9" * 32 + "}") == {"a": -int("9" * 32)}


@pytest.mark.parametrize("depth", [33, 900, 5000, 100_000])
def test_nesting_deeper_than_the_limit_is_400_at_any_depth(depth: int) -> None:
    error = _error("[" * depth + "]" * depth)
    assert (error.status, error.detail) == (
        400,
        "Request body nests arrays and objects more than 32 levels deep",
    )


def test_nesting_up_to_the_limit_is_accepted() -> None:
    assert request_body.parse_json('{"a": ' * 31 + "[]" + "}" * 31) is not None
