"""Key parsing: the format check runs before any I/O, and garbage only ever leads to the 401 path."""

from __future__ import annotations

import base64
import hashlib
import secrets
import string

import pytest
from hokusai.auth.headers import extract_key
from hokusai.keys.format import (
    KEY_PREFIX,
    MAX_KEY_CHARS,
    MIN_KEY_BODY_CHARS,
    generate_key,
    is_well_formed,
    key_digest,
    new_key_id,
    short_digest,
)
from hokusai.observability import API_KEY_PATTERN
from hypothesis import given, settings
from hypothesis import strategies as st


def test_generated_keys_are_well_formed_unique_and_masked_by_the_log_filter() -> None:
    keys = {generate_key() for _ in range(200)}
    assert len(keys) == 200
    for key in keys:
        assert key.startswith("hk_") and len(key) >= 35
        assert is_well_formed(key)
        assert API_KEY_PATTERN.fullmatch(key)


def test_digest_is_sha256_hex_of_the_key() -> None:
    key = generate_key()
    assert key_digest(key) == hashlib.sha256(key.encode()).hexdigest()
    assert len(key_digest(key)) == 64 and key not in key_digest(key)
    assert new_key_id().startswith("key_") and new_key_id() != new_key_id()


URL_SAFE_ALPHABET = string.ascii_letters + string.digits + "-_"


def test_the_format_constants() -> None:
    """Changing any of these invalidates every issued key or widens what reaches the caches."""
    assert (KEY_PREFIX, MIN_KEY_BODY_CHARS, MAX_KEY_CHARS) == ("hk_", 32, 256)


def test_a_generated_key_is_the_prefix_and_32_random_bytes_in_url_safe_base64() -> None:
    for _ in range(50):
        key = generate_key()
        assert len(key) == len(KEY_PREFIX) + 43 == 46
        assert key.startswith(KEY_PREFIX)
        body = key[len(KEY_PREFIX) :]
        assert set(body) <= set(URL_SAFE_ALPHABET)
        assert len(base64.urlsafe_b64decode(body + "=")) == 32


def test_the_body_alphabet_is_url_safe_base64_exactly() -> None:
    filler = "a" * (MIN_KEY_BODY_CHARS - 1)
    for char in URL_SAFE_ALPHABET:
        assert is_well_formed(KEY_PREFIX + filler + char), char
        assert is_well_formed(KEY_PREFIX + char + filler), char
    others = [chr(c) for c in range(32, 127) if chr(c) not in URL_SAFE_ALPHABET]
    others += ["\t", "\n", "\x00", "é", "\u0663", "\uff41", "\u212a"]  # Arabic 3, fullwidth a, Kelvin K
    for char in others:
        assert not is_well_formed(KEY_PREFIX + filler + char), repr(char)
        assert not is_well_formed(KEY_PREFIX + char + filler), repr(char)


def test_the_length_bounds_are_exact() -> None:
    assert is_well_formed(KEY_PREFIX + "a" * MIN_KEY_BODY_CHARS)
    assert not is_well_formed(KEY_PREFIX + "a" * (MIN_KEY_BODY_CHARS - 1))
    longest = KEY_PREFIX + "a" * (MAX_KEY_CHARS - len(KEY_PREFIX))
    assert len(longest) == MAX_KEY_CHARS and is_well_formed(longest)
    assert not is_well_formed(longest + "a")


def test_key_ids_and_short_digests() -> None:
    ids = {new_key_id() for _ in range(50)}
    assert len(ids) == 50
    for key_id in ids:
        assert key_id.startswith("key_") and len(key_id) == 4 + 16
        assert set(key_id[4:]) <= set(string.hexdigits.lower())
    assert short_digest("0123456789abcdef" * 4) == "01234567…"
    assert key_digest("hk_test") == "63ef7dbe87637cad24f00e2c33091e3600a403b2641eca95c1ba2593270afc44"


@pytest.mark.parametrize(
    "candidate",
    [
        "",
        "hk_",
        "hk_" + "a" * 31,  # one short
        "HK_" + secrets.token_urlsafe(32),
        "hk-" + secrets.token_urlsafe(32),
        "hk_" + secrets.token_urlsafe(32) + "!",
        "hk_" + secrets.token_urlsafe(32) + " ",
        "hk_" + "a" * 300,  # absurdly long
        None,
        42,
    ],
)
def test_malformed_keys_are_rejected(candidate: object) -> None:
    assert not is_well_formed(candidate)


@pytest.mark.parametrize(
    ("headers", "which"),
    [
        ({"Authorization": "Bearer {k}"}, True),
        ({"authorization": "bearer {k}"}, True),
        ({"AUTHORIZATION": "BEARER   {k}  "}, True),
        ({"X-API-Key": "{k}"}, True),
        ({"x-api-key": " {k} "}, True),
        ({"X-Api-Key": "{k}", "Authorization": "Basic dXNlcjpwYXNz"}, True),
        ({"Authorization": "{k}"}, False),  # no scheme
        ({"Authorization": "Basic {k}"}, False),
        ({"X-API-Key": "Bearer {k}"}, False),
        ({}, False),
    ],
)
def test_header_extraction(headers: dict[str, str], which: bool) -> None:
    key = generate_key()
    filled = {name: value.format(k=key) for name, value in headers.items()}
    assert extract_key(filled) == (key if which else None)


header_names = st.sampled_from(["Authorization", "authorization", "X-API-Key", "x-api-key", "Host", ""])
header_values = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=string.ascii_letters + string.digits + "-_ ", max_size=80).map(
        lambda t: "Bearer hk_" + t
    ),
    st.text(alphabet=string.ascii_letters + string.digits + "-_", max_size=80).map(lambda t: "hk_" + t),
    st.none(),
    st.integers(),
    st.lists(st.text(max_size=5), max_size=3),
)


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(st.dictionaries(header_names, header_values, max_size=4), st.none(), st.text(), st.integers())
)
def test_garbage_never_raises_and_only_well_formed_keys_pass(headers: object) -> None:
    found = extract_key(headers)  # type: ignore[arg-type]
    assert found is None or is_well_formed(found)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_handler_parser_on_arbitrary_strings_takes_the_401_path(value: str) -> None:
    from hokusai.auth.service import UNAUTHORIZED, Authorizer

    class MustNotBeCalled:
        def validate(self, digest: str) -> None:
            raise AssertionError("a malformed key must not reach the validator chain")

    authorizer = Authorizer(chain=MustNotBeCalled(), l2_enabled=False)  # type: ignore[arg-type]
    if is_well_formed(value.strip()):
        return
    for headers in ({"Authorization": f"Bearer {value}"}, {"X-API-Key": value}):
        with pytest.raises(Exception, match=f"^{UNAUTHORIZED}$"):
            authorizer.authorize({"headers": headers, "methodArn": "arn:aws:execute-api:r:1:a/api/GET/x"})
