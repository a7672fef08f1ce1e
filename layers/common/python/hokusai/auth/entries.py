"""The authorizer's cached answers: when the keys table said it, and (in Redis) signed.

A cached answer is what the keys table said about one digest (the key's cached record, or
"negative": unknown, revoked or expired) and **when** it was read (``checked_at``, wall-clock
seconds). The chain trusts a positive answer only while it is younger than the revocation bound
(``AUTH_REVOCATION_BOUND_SECONDS``), in process or in Redis, so a revoked key is refused within the
bound whatever Redis does: an entry that survived a failed delete, a failover or a restore from an old
snapshot is simply too old, and is read again from the table.

In Redis an entry is ``v1.<hmac>.<payload>``: the HMAC-SHA256, under a key only the authorizers hold
(``AUTH_CACHE_KEY_SECRET_ARN``), of the digest the entry is stored under and the payload. Whoever
else holds the Redis token (health, the revocation function, the canary, an operator) can delete
entries, never write one the authorizer accepts: a forged "allow", an entry copied from another
key's slot, or one with a field missing or of the wrong type is a miss, never an allow.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from dataclasses import dataclass
from typing import Any

from hokusai.keys.store import ACTIVE, REVOKED, KeyRecord

ENTRY_VERSION = b"v1"
MIN_SIGNING_KEY_BYTES = 32
# Clocks of Lambda hosts are NTP-synchronised; an entry read "in the future" by more than this was not
# written by an authorizer of this deployment.
CLOCK_SKEW_SECONDS = 2.0
# The cached record's fields and their types, exactly (usage_key_value: the companion API Gateway
# key's value, the authorizer's usageIdentifierKey; "" for a key without a plan).
RECORD_FIELDS: dict[str, tuple[type, ...]] = {
    "key_id": (str,),
    "user_id": (str,),
    "models": (list,),
    "status": (str,),
    "expires_at": (int, type(None)),
    "usage_key_value": (str,),
}


@dataclass(frozen=True)
class CachedAnswer:
    """What the keys table said about a digest at ``checked_at``: ``record`` (its cached form) or
    None (negative: unknown, revoked or expired)."""

    record: dict[str, Any] | None
    checked_at: float

    @property
    def negative(self) -> bool:
        return self.record is None

    def age(self, now: float) -> float:
        return now - self.checked_at

    def key_record(self) -> KeyRecord:
        assert self.record is not None
        return KeyRecord.from_cache(self.record)


def valid_record(record: Any) -> bool:
    """Exactly the fields :meth:`KeyRecord.to_cache` writes, each of its type; a known status."""
    if not isinstance(record, dict) or set(record) != set(RECORD_FIELDS):
        return False
    for name, types in RECORD_FIELDS.items():
        value = record[name]
        # bool is an int in Python; an expiry of True is not a timestamp.
        if not isinstance(value, types) or isinstance(value, bool):
            return False
    return record["status"] in (ACTIVE, REVOKED) and all(isinstance(m, str) for m in record["models"])


class EntrySigner:
    """Encodes and verifies the Redis form of a :class:`CachedAnswer` (see the module docstring)."""

    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_SIGNING_KEY_BYTES:
            raise ValueError(f"the cache signing key must be at least {MIN_SIGNING_KEY_BYTES} bytes")
        self._key = key

    def _mac(self, digest: str, payload: bytes) -> bytes:
        # The digest is signed with the payload: an entry is valid only under the key it was written
        # for, so a valid "allow" of one key cannot be copied onto another key's slot.
        message = digest.encode("ascii") + b"\n" + payload
        return hmac.new(self._key, message, hashlib.sha256).hexdigest().encode("ascii")

    def encode(self, digest: str, answer: CachedAnswer) -> bytes:
        payload = json.dumps(
            {"checked_at": answer.checked_at, "record": answer.record},
            sort_keys=True,
            separators=(",", ":"),
        ).encode()
        return b".".join((ENTRY_VERSION, self._mac(digest, payload), payload))

    def decode(self, digest: str, raw: bytes, now: float) -> CachedAnswer | None:
        """The answer, or None if the entry is not one this deployment's authorizers wrote whole:
        another version, a wrong or missing signature, a field missing or mistyped, a time ahead."""
        try:
            version, mac, payload = raw.split(b".", 2)
        except ValueError:
            return None
        if version != ENTRY_VERSION or not hmac.compare_digest(mac, self._mac(digest, payload)):
            return None
        try:
            data = json.loads(payload)
        except ValueError:
            return None
        if not isinstance(data, dict) or set(data) != {"checked_at", "record"}:
            return None
        checked_at, record = data["checked_at"], data["record"]
        if isinstance(checked_at, bool) or not isinstance(checked_at, int | float):
            return None
        if not math.isfinite(checked_at) or checked_at > now + CLOCK_SKEW_SECONDS:
            return None
        if record is not None and not valid_record(record):
            return None
        return CachedAnswer(record, float(checked_at))
