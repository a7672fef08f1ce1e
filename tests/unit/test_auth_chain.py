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


class FakePipeline:
    """GET + PTTL queued and sent as one round trip (``get+pttl`` in the calls)."""

    def __init__(self, redis: FakeRedis) -> None:
        self._redis = redis
        self._commands: list[tuple[str, str]] = []

    def get(self, key: str) -> None:
        self._commands.append(("get", key))

    def pttl(self, key: str) -> None:
        self._commands.append(("pttl", key))

    def execute(self) -> list[Any]:
        self._redis._check("+".join(name for name, _ in self._commands))
        return [
            (self._redis.value(key) if name == "get" else self._redis.remaining_ms(key))
            for name, key in self._commands
        ]


class FakeRedis:
    """The commands RedisCache uses; ``fail`` makes every command raise like a timeout.

    ``data`` holds (value, EX seconds); the remaining TTL PTTL reports is ``pttl_ms[key]`` when set
    (a copy written earlier by another container), else the full EX.
    """

    def __init__(self) -> None:
        self.data: dict[str, tuple[bytes, int]] = {}
        self.pttl_ms: dict[str, int] = {}
        self.fail = False
        self.calls: list[str] = []

    def pipeline(self, transaction: bool = True) -> FakePipeline:
        assert transaction is False  # no MULTI/EXEC: one plain round trip
        return FakePipeline(self)

    def value(self, key: str) -> bytes | None:
        entry = self.data.get(key)
        return entry[0] if entry else None

    def remaining_ms(self, key: str) -> int:
        if key not in self.data:
            return -2
        return self.pttl_ms.get(key, self.data[key][1] * 1000)

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
    assert h.redis.calls == ["get+pttl"]  # one Redis call per request at most


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


def _shared_entry(h: Harness, digest: str, remaining_ms: int) -> None:
    """Another container cached ``digest`` in Redis earlier: ``remaining_ms`` of its TTL is left."""
    record = h.source.records[digest]
    h.redis.data[auth_entry_key(digest)] = (json.dumps(record.to_cache()).encode(), 300)
    h.redis.pttl_ms[auth_entry_key(digest)] = remaining_ms


def test_l2_hit_reads_value_and_remaining_ttl_in_one_round_trip(h: Harness) -> None:
    digest = h.add()
    _shared_entry(h, digest, 120_000)
    verdict = h.chain.validate(digest)
    assert verdict.decision is Decision.ALLOW and verdict.layer == "l2"
    assert h.redis.calls == ["get+pttl"] and h.source.calls == 0


def test_l1_copy_of_an_l2_hit_never_outlives_the_redis_entry(h: Harness) -> None:
    digest = h.add()
    _shared_entry(h, digest, 2_500)  # Redis keeps it 2.5 s more; L1's own TTL is 60 s
    assert h.chain.validate(digest).layer == "l2"
    h.clock.now += 2
    assert h.chain.validate(digest).layer == "l1"
    h.clock.now += 1  # 3 s: past the Redis entry's expiry, so past the L1 copy's too
    assert h.chain.validate(digest).layer == "l2"


def test_l1_keeps_its_own_ttl_when_redis_keeps_the_entry_longer(h: Harness) -> None:
    digest = h.add()
    _shared_entry(h, digest, 250_000)
    assert h.chain.validate(digest).layer == "l2"
    h.clock.now += 59
    assert h.chain.validate(digest).layer == "l1"
    h.clock.now += 2
    assert h.chain.validate(digest).layer == "l2"


def test_redis_entry_without_expiry_gives_the_l1_ttl(h: Harness) -> None:
    digest = h.add()
    _shared_entry(h, digest, -1)
    assert h.chain.validate(digest).layer == "l2"
    h.clock.now += 59
    assert h.chain.validate(digest).layer == "l1"


def test_entry_gone_between_get_and_pttl_is_served_but_not_kept_in_l1(h: Harness) -> None:
    digest = h.add()
    _shared_entry(h, digest, -2)
    assert h.chain.validate(digest).layer == "l2"
    assert h.chain.validate(digest).layer == "l2"  # nothing was kept in L1


def test_revoked_key_denied_once_its_redis_entry_is_deleted_and_l1_copy_expires(h: Harness) -> None:
    """The revocation path: the keys-table stream deletes the Redis entry; a warm container's L1
    copy, capped by the entry's remaining TTL (5 s here), then lapses and the source says revoked."""
    digest = h.add()
    _shared_entry(h, digest, 5_000)
    assert h.chain.validate(digest).decision is Decision.ALLOW
    h.source.records[digest] = KeyRecord(key_id="key_x", user_id="u", models=("21",), status="revoked")
    del h.redis.data[auth_entry_key(digest)]
    h.clock.now += 4
    assert h.chain.validate(digest).decision is Decision.ALLOW  # the L1 copy, within its 5 s
    h.clock.now += 2
    verdict = h.chain.validate(digest)
    assert verdict.decision is Decision.DENY and verdict.layer == "source"
