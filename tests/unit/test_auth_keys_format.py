"""Key parsing: the format check runs before any I/O, and garbage only ever leads to the 401 path."""

from __future__ import annotations

import hashlib
import secrets
import string

import pytest
from hokusai.auth.headers import extract_key
from hokusai.keys.format import generate_key, is_well_formed, key_digest, new_key_id
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
