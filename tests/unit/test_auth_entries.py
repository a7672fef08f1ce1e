"""The authorizer's Redis entries: signed, bound to their digest, complete, or a miss."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest
from hokusai.auth.entries import (
    CLOCK_SKEW_SECONDS,
    MIN_SIGNING_KEY_BYTES,
    CachedAnswer,
    EntrySigner,
    valid_record,
)
from hokusai.keys.store import KeyRecord

KEY = bytes(range(32))
DIGEST = "a" * 64
NOW = 1_800_000_000.0
RECORD = {
    "key_id": "key_0123456789abcdef",
    "user_id": "acme",
    "models": ["21", "22"],
    "status": "active",
    "expires_at": 1_900_000_000,
    "usage_key_value": "usage-key-value-0123456789",
}


def signed_payload(payload: bytes, digest: str = DIGEST, key: bytes = KEY) -> bytes:
    """An entry with a valid signature around any payload (what a writer holding the key could make)."""
    mac = hmac.new(key, digest.encode() + b"\n" + payload, hashlib.sha256).hexdigest().encode()
    return b"v1." + mac + b"." + payload


def test_round_trip_is_exact_and_the_wire_form_is_documented() -> None:
    signer = EntrySigner(KEY)
    raw = signer.encode(DIGEST, CachedAnswer(RECORD, NOW))
    payload = json.dumps(
        {"checked_at": NOW, "record": RECORD}, sort_keys=True, separators=(",", ":")
    ).encode()
    assert raw == signed_payload(payload)
    assert signer.decode(DIGEST, raw, NOW) == CachedAnswer(RECORD, NOW)
    negative = signer.encode(DIGEST, CachedAnswer(None, NOW - 5))
    assert signer.decode(DIGEST, negative, NOW) == CachedAnswer(None, NOW - 5)
    assert CachedAnswer(None, NOW - 5).negative and CachedAnswer(None, NOW - 5).age(NOW) == 5


def test_the_cached_record_round_trips_through_key_record() -> None:
    record = KeyRecord(
        key_id="key_1", user_id="u", models=("21",), expires_at=1_900_000_000, usage_key_value="v" * 20
    )
    assert valid_record(record.to_cache())
    assert CachedAnswer(record.to_cache(), NOW).key_record() == KeyRecord(
        key_id="key_1", user_id="u", models=("21",), expires_at=1_900_000_000, usage_key_value="v" * 20
    )


def test_a_short_signing_key_is_refused() -> None:
    assert MIN_SIGNING_KEY_BYTES == 32
    with pytest.raises(ValueError, match="at least 32 bytes"):
        EntrySigner(b"k" * 31)
    EntrySigner(b"k" * 32)


def _payload(**changes: Any) -> dict[str, Any]:
    return {"checked_at": NOW, "record": dict(RECORD), **changes}


def _without(field: str) -> dict[str, Any]:
    record = dict(RECORD)
    del record[field]
    return _payload(record=record)


MALFORMED: dict[str, Any] = {
    **{f"record without {field}": _without(field) for field in RECORD},
    "record with an extra field": _payload(record={**RECORD, "admin": True}),
    "status unknown": _payload(record={**RECORD, "status": "superuser"}),
    "models not a list": _payload(record={**RECORD, "models": "21"}),
    "a model not a string": _payload(record={**RECORD, "models": [21]}),
    "expiry a boolean": _payload(record={**RECORD, "expires_at": True}),
    "expiry a string": _payload(record={**RECORD, "expires_at": "never"}),
    "key id not a string": _payload(record={**RECORD, "key_id": 7}),
    "record a list": _payload(record=[RECORD]),
    "no checked_at": {"record": RECORD},
    "an extra top-level field": {**_payload(), "ttl": 1},
    "checked_at a string": _payload(checked_at="now"),
    "checked_at a boolean": _payload(checked_at=True),
    "checked_at in the future": _payload(checked_at=NOW + CLOCK_SKEW_SECONDS + 0.5),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_signed_but_malformed_entry_is_a_miss(case: str) -> None:
    raw = signed_payload(json.dumps(MALFORMED[case]).encode())
    assert EntrySigner(KEY).decode(DIGEST, raw, NOW) is None


@pytest.mark.parametrize("text", [b"NaN", b"Infinity", b"-Infinity"])
def test_a_non_finite_time_is_a_miss(text: bytes) -> None:
    payload = b'{"checked_at":' + text + b',"record":null}'
    assert EntrySigner(KEY).decode(DIGEST, signed_payload(payload), NOW) is None


def test_a_time_within_the_clock_skew_is_accepted() -> None:
    raw = signed_payload(json.dumps(_payload(checked_at=NOW + CLOCK_SKEW_SECONDS)).encode())
    assert EntrySigner(KEY).decode(DIGEST, raw, NOW) == CachedAnswer(RECORD, NOW + CLOCK_SKEW_SECONDS)


@pytest.mark.parametrize(
    "raw",
    [b"", b"v1", b"v1.", b"v1.abc", b"v1..{}", b"not-an-entry", b'"negative"', json.dumps(RECORD).encode()],
)
def test_anything_without_a_valid_signature_is_a_miss(raw: bytes) -> None:
    assert EntrySigner(KEY).decode(DIGEST, raw, NOW) is None


def test_a_valid_entry_is_bound_to_its_digest_and_its_signing_key() -> None:
    raw = EntrySigner(KEY).encode(DIGEST, CachedAnswer(RECORD, NOW))
    assert EntrySigner(KEY).decode("b" * 64, raw, NOW) is None
    assert EntrySigner(bytes(reversed(KEY))).decode(DIGEST, raw, NOW) is None
    assert EntrySigner(KEY).decode(DIGEST, raw.replace(b"v1.", b"v2.", 1), NOW) is None
