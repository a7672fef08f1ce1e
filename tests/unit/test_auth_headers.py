"""Where the key comes from (``hokusai.auth.headers.extract_key``): the edges of ``Authorization:
Bearer <key>`` and ``X-API-Key: <key>``, each answer exact (the key, or None: the 401 path)."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import pytest
from hokusai.auth.headers import extract_key
from hokusai.keys.format import KEY_PREFIX, MAX_KEY_CHARS

KEY = KEY_PREFIX + "A" * 43  # a generated key's length
OTHER = KEY_PREFIX + "B" * 43
LONGEST = KEY_PREFIX + "C" * (MAX_KEY_CHARS - len(KEY_PREFIX))


def test_the_longest_key_fits_with_its_scheme_and_up_to_nine_spaces_of_padding() -> None:
    """The Authorization value is looked at only up to MAX_KEY_CHARS + 16 characters: "Bearer ", the
    longest key and 9 spaces is 272; one more character and the header is ignored."""
    assert len(LONGEST) == MAX_KEY_CHARS == 256
    exact = "Bearer " + LONGEST + " " * 9
    assert len(exact) == MAX_KEY_CHARS + 16
    assert extract_key({"Authorization": exact}) == LONGEST
    assert extract_key({"Authorization": exact + " "}) is None
    assert extract_key({"Authorization": " " + exact}) is None
    # An over-long Authorization does not hide a good X-API-Key.
    assert extract_key({"Authorization": exact + " ", "X-API-Key": KEY}) == KEY


def test_a_short_authorization_value_with_a_key_is_read() -> None:
    assert extract_key({"Authorization": "Bearer " + KEY}) == KEY
    assert extract_key({"Authorization": "bearer\t" + KEY}) is None  # the scheme ends at a space
    assert extract_key({"Authorization": "Bearer  " + KEY}) == KEY  # extra spaces are stripped


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        # Authorization wins over X-API-Key when both carry a well-formed key.
        ({"Authorization": f"Bearer {KEY}", "X-API-Key": OTHER}, KEY),
        ({"X-API-Key": OTHER, "Authorization": f"Bearer {KEY}"}, KEY),
        # ... and X-API-Key is the fallback for anything else in Authorization.
        ({"Authorization": f"Basic {KEY}", "X-API-Key": OTHER}, OTHER),
        ({"Authorization": "Bearer hk_short", "X-API-Key": OTHER}, OTHER),
        ({"Authorization": "Bearer", "X-API-Key": OTHER}, OTHER),
        ({"Authorization": "", "X-API-Key": OTHER}, OTHER),
        ({"Authorization": None, "X-API-Key": OTHER}, OTHER),
        ({"Authorization": [f"Bearer {KEY}"], "X-API-Key": OTHER}, OTHER),
        # Neither well-formed: None.
        ({"Authorization": f"Token {KEY}", "X-API-Key": "hk_short"}, None),
        ({"X-API-Key": ""}, None),
        ({"X-API-Key": None}, None),
        ({"X-API-Key": 42}, None),
        ({"X-API-Key": f"{KEY} {OTHER}"}, None),
        ({"Authorization": f"Bearer {KEY} {OTHER}"}, None),
        ({"Authorization": f"Bearer {KEY}x!"}, None),
        ({"Api-Key": KEY}, None),  # not a header we read
        ({"X-API-Key-Extra": KEY}, None),
        ({"Authorization-X": f"Bearer {KEY}"}, None),
    ],
)
def test_which_header_answers(headers: dict[str, Any], expected: str | None) -> None:
    assert extract_key(headers) == expected


def test_the_last_header_of_a_name_wins_whatever_its_case() -> None:
    """A mapping may hold one header under two spellings (a hand-made event): the later one counts."""
    assert extract_key(OrderedDict([("authorization", f"Bearer {OTHER}"), ("AUTHORIZATION", "x")])) is None
    assert extract_key(OrderedDict([("AUTHORIZATION", "x"), ("authorization", f"Bearer {KEY}")])) == KEY
    assert extract_key(OrderedDict([("x-api-key", "x"), ("X-API-KEY", KEY)])) == KEY


def test_names_that_are_not_strings_are_skipped_not_the_end_of_the_headers() -> None:
    headers: dict[Any, Any] = {1: "x", None: KEY, ("Authorization",): KEY, "Authorization": f"Bearer {KEY}"}
    assert extract_key(headers) == KEY
    with_bytes: dict[Any, Any] = {b"X-API-Key": KEY, "X-API-Key": OTHER}
    assert extract_key(with_bytes) == OTHER


@pytest.mark.parametrize("headers", [None, "Authorization: Bearer x", [("X-API-Key", KEY)], 7, {}])
def test_anything_but_a_mapping_of_headers_is_none(headers: Any) -> None:
    assert extract_key(headers) is None
