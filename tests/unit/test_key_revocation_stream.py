"""The keys table's stream records -> which Redis entries are stale, and the purger's answers."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hokusai.cache.breaker import CircuitBreaker
from hokusai.cache.redis_cache import RedisCache, auth_entry_key
from hokusai.keys.revocation import RedisEntryNotDeleted, StaleEntryPurger, stale_entry

from local.handlers import load_event

DIGEST = "aed7248e75b6a5116ea0b7b30cfb7f80ac273c21c8d10516e84a9e40bca4ea1b"
PREFIX = "hokusai:test:"


def revoke_record() -> dict[str, Any]:
    (record,) = load_event("dynamodb_stream_revoke.json")["Records"]
    return copy.deepcopy(record)


class FakeRedis:
    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.fail = False
        self.deleted: list[str] = []

    def delete(self, key: str) -> int:
        if self.fail:
            raise ConnectionError("Connection refused")
        self.deleted.append(key)
        return 1 if self.data.pop(key, None) else 0


def purger(redis: FakeRedis, log: list[dict[str, Any]] | None = None) -> StaleEntryPurger:
    cache = RedisCache(redis, CircuitBreaker(3, 10))  # type: ignore[arg-type]
    return StaleEntryPurger(
        cache, PREFIX, lambda message, **fields: (log if log is not None else []).append(fields)
    )


def test_the_recorded_revocation_is_stale() -> None:
    stale = stale_entry(revoke_record())
    assert stale is not None
    assert (stale.digest, stale.key_id, stale.reason) == (DIGEST, "key_3f1c9a7e52b04d18", "not active")


def test_removed_item_is_stale() -> None:
    record = revoke_record()
    record["eventName"] = "REMOVE"
    del record["dynamodb"]["NewImage"]
    stale = stale_entry(record)
    assert stale is not None and stale.reason == "removed" and stale.key_id == "key_3f1c9a7e52b04d18"


def test_active_item_whose_description_changed_is_not_stale() -> None:
    record = revoke_record()
    new = record["dynamodb"]["NewImage"]
    new["status"] = {"S": "active"}
    del new["revoked_at"]
    new["description"] = {"S": "renamed"}
    assert stale_entry(record) is None


@pytest.mark.parametrize(
    ("attribute", "value"),
    [
        ("models", {"L": [{"S": "22"}]}),
        ("expires_at", {"N": "1800000000"}),
        ("user_id", {"S": "other"}),
        # hokusai keys set-plan: the usageIdentifierKey the authorizer answers changes with the plan.
        ("plan", {"S": "gold"}),
        ("usage_key_value", {"S": "a-new-companion-key-value"}),
    ],
)
def test_active_item_whose_cached_field_changed_is_stale(attribute: str, value: dict[str, Any]) -> None:
    record = revoke_record()
    new = record["dynamodb"]["NewImage"]
    new["status"] = {"S": "active"}
    new[attribute] = value
    stale = stale_entry(record)
    assert stale is not None and stale.reason == "changed"


def test_insert_and_records_without_a_digest_are_not_stale() -> None:
    record = revoke_record()
    record["eventName"] = "INSERT"
    assert stale_entry(record) is None
    record = revoke_record()
    record["dynamodb"]["Keys"] = {}
    assert stale_entry(record) is None


def test_keys_only_view_modify_is_stale_to_be_safe() -> None:
    record = revoke_record()
    del record["dynamodb"]["NewImage"], record["dynamodb"]["OldImage"]
    stale = stale_entry(record)
    assert stale is not None and stale.key_id is None


def test_purger_deletes_the_namespaced_entry_and_logs_no_digest() -> None:
    redis, log = FakeRedis(), []  # type: ignore[var-annotated]
    redis.data[auth_entry_key(DIGEST, PREFIX)] = b"{}"
    assert purger(redis, log).handle(revoke_record()) is not None
    assert redis.deleted == [f"{PREFIX}auth:v1:{DIGEST}"] and not redis.data
    assert log == [{"key_id": "key_3f1c9a7e52b04d18", "digest_prefix": DIGEST[:8], "reason": "not active"}]
    assert DIGEST not in repr(log)


def test_purger_does_nothing_for_a_record_that_makes_nothing_stale() -> None:
    redis = FakeRedis()
    record = revoke_record()
    record["eventName"] = "INSERT"
    assert purger(redis).handle(record) is None and redis.deleted == []


def test_redis_failure_raises_so_the_record_is_retried_and_names_no_digest() -> None:
    redis = FakeRedis()
    redis.fail = True
    with pytest.raises(RedisEntryNotDeleted) as raised:
        purger(redis).handle(revoke_record())
    assert DIGEST[:8] in str(raised.value) and DIGEST not in str(raised.value)
    assert "ConnectionError" in str(raised.value)


def test_open_breaker_is_a_failure_too() -> None:
    redis = FakeRedis()
    redis.fail = True
    cache = RedisCache(redis, CircuitBreaker(1, 60))  # type: ignore[arg-type]
    stale_purger = StaleEntryPurger(cache, PREFIX)
    with pytest.raises(RedisEntryNotDeleted):
        stale_purger.handle(revoke_record())
    redis.fail = False
    with pytest.raises(RedisEntryNotDeleted, match="skipped"):
        stale_purger.handle(revoke_record())  # no call made while open: not a success


def test_without_redis_nothing_is_cached_and_nothing_fails() -> None:
    assert StaleEntryPurger(None).handle(revoke_record()) is not None
