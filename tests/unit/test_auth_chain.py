"""The validator chain's rules, with in-memory parts (the real Redis/DynamoDB runs are integration tests)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hokusai.auth.chain import Decision, ValidatorChain
from hokusai.cache.breaker import CircuitBreaker
from hokusai.cache.redis_cache import RedisCache, auth_entry_key
from hokusai.cache.ttl import TTLCache
from hokusai.keys.format import generate_key, key_digest
from hokusai.keys.store import KeyRecord, StoreUnavailable

NOW = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


class Source:
    def __init__(self) -> None:
        self.records: dict[str, KeyRecord] = {}
        self.down = False
        self.calls = 0

    def get(self, digest: str) -> KeyRecord | None:
        self.calls += 1
        if self.down:
            raise StoreUnavailable("EndpointConnectionError")
        return self.records.get(digest)


class FakeRedis:
    """The three commands RedisCache uses; ``fail`` makes every command raise like a timeout."""

    def __init__(self) -> None:
        self.data: dict[str, tuple[bytes, int]] = {}
        self.fail = False
        self.calls: list[str] = []

    def _check(self, name: str) -> None:
        self.calls.append(name)
        if self.fail:
            raise TimeoutError("Timeout reading from socket")

    def get(self, key: str) -> bytes | None:
        self._check("get")
        entry = self.data.get(key)
        return entry[0] if entry else None

    def set(self, key: str, value: bytes, ex: int) -> bool:
        self._check("set")
        self.data[key] = (value, ex)
        return True

    def delete(self, key: str) -> int:
        self._check("delete")
        return 1 if self.data.pop(key, None) else 0


class Harness:
    def __init__(self, l1_ttl: int = 60, l2_ttl: int = 300, negative_ttl: int = 30) -> None:
        self.clock = Clock()
        self.source = Source()
        self.redis = FakeRedis()
        self.metrics: list[str] = []
        cache = RedisCache(self.redis, CircuitBreaker(3, 10))  # type: ignore[arg-type]
        self.chain = ValidatorChain(
            self.source,
            l1=TTLCache(100, clock=self.clock),
            l2=cache,
            l1_ttl_seconds=l1_ttl,
            l2_ttl_seconds=l2_ttl,
            negative_ttl_seconds=negative_ttl,
            observe=lambda name, value, unit: self.metrics.append(name),
            clock=self.clock,
        )

    def add(self, models: tuple[str, ...] = ("21",), **fields: Any) -> str:
        key = generate_key()
        self.source.records[key_digest(key)] = KeyRecord(key_id="key_x", user_id="u", models=models, **fields)
        return key_digest(key)


@pytest.fixture
def h() -> Harness:
    return Harness()


def test_source_then_l1_then_l2_layers(h: Harness) -> None:
    digest = h.add()
    assert (h.chain.validate(digest).layer, h.chain.validate(digest).layer) == ("source", "l1")
    assert h.source.calls == 1
    value, ttl = h.redis.data[auth_entry_key(digest)]
    assert ttl == 300 and json.loads(value)["key_id"] == "key_x"
    # A second container (empty L1) sharing the same Redis.
    other = Harness()
    other.redis.data = h.redis.data
    verdict = other.chain.validate(digest)
    assert verdict.decision is Decision.ALLOW and verdict.layer == "l2" and other.source.calls == 0
    assert "AuthCacheHitL2" in other.metrics and "AuthCacheHitL1" in h.metrics


def test_unknown_key_is_cached_negative_briefly(h: Harness) -> None:
    digest = key_digest(generate_key())
    assert h.chain.validate(digest).decision is Decision.DENY
    assert h.chain.validate(digest).decision is Decision.DENY
    assert h.source.calls == 1
    assert h.redis.data[auth_entry_key(digest)][1] == 30
    h.clock.now += 31
    h.redis.data.clear()  # Redis expired its copy too (EX 30)
    h.chain.validate(digest)
    assert h.source.calls == 2


def test_failed_l2_read_skips_write_back(h: Harness) -> None:
    digest = h.add()
    h.redis.fail = True
    assert h.chain.validate(digest).decision is Decision.ALLOW
    assert h.redis.calls == ["get"]  # one Redis call per request at most


def test_breaker_open_skips_redis_and_is_counted(h: Harness) -> None:
    h.redis.fail = True
    for _ in range(3):
        h.chain.validate(key_digest(generate_key()))
    calls = len(h.redis.calls)
    h.chain.validate(key_digest(generate_key()))
    assert len(h.redis.calls) == calls
    assert "RedisBreakerOpen" in h.metrics


def test_cache_ttl_capped_by_expiry_and_expiry_checked_on_hits(h: Harness) -> None:
    digest = h.add(expires_at=int(NOW) + 20)
    assert h.chain.validate(digest).decision is Decision.ALLOW
    assert h.redis.data[auth_entry_key(digest)][1] == 20
    h.clock.now += 21
    verdict = h.chain.validate(digest)
    assert verdict.decision is Decision.DENY


def test_expired_entry_in_l2_is_refused_even_if_redis_kept_it(h: Harness) -> None:
    digest = key_digest(generate_key())
    entry = {
        "key_id": "key_y",
        "user_id": "u",
        "models": ["21"],
        "status": "active",
        "expires_at": int(NOW) - 1,
    }
    h.redis.data[auth_entry_key(digest)] = (json.dumps(entry).encode(), 300)
    verdict = h.chain.validate(digest)
    assert verdict.decision is Decision.DENY and verdict.reason == "expired key"


@pytest.mark.parametrize("status", ["revoked", "unexpected"])
def test_non_active_records_are_denied_and_cached_negative(h: Harness, status: str) -> None:
    digest = h.add(status=status)
    assert h.chain.validate(digest).decision is Decision.DENY
    assert json.loads(h.redis.data[auth_entry_key(digest)][0]) == "negative"


def test_source_down_cold_is_unavailable_warm_is_allowed(h: Harness) -> None:
    warm = h.add()
    h.chain.validate(warm)
    h.source.down = True
    assert h.chain.validate(warm).decision is Decision.ALLOW
    cold = h.add()
    verdict = h.chain.validate(cold)
    assert verdict.decision is Decision.UNAVAILABLE and not verdict.allowed
    assert "AuthorizerFailure" in h.metrics


def test_garbage_in_l2_is_ignored_and_overwritten(h: Harness) -> None:
    digest = h.add()
    h.redis.data[auth_entry_key(digest)] = (b"{not json", 300)
    assert h.chain.validate(digest).layer == "source"
    assert json.loads(h.redis.data[auth_entry_key(digest)][0])["key_id"] == "key_x"
