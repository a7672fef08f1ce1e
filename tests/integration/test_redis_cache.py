"""RedisCache (L2) against real redis-server processes and fault servers: never raises, one attempt."""

from __future__ import annotations

import time

import pytest
from hokusai.cache.breaker import BreakerState
from hokusai.cache.redis_cache import CacheOutcome, RedisCache
from hokusai.config import RedisSettings

from local.faults import never_connects_port, refused_port, silent_server
from local.redis_server import RedisServer, running_redis

pytestmark = pytest.mark.timeout(60)


def cache(url: str, *, cooldown_ms: int = 10_000, password: str | None = None) -> RedisCache:
    settings = RedisSettings(url=url, connect_timeout_ms=50, timeout_ms=50, breaker_cooldown_ms=cooldown_ms)
    return RedisCache.from_settings(settings, password)


def timed(call: object) -> tuple[object, float]:
    started = time.perf_counter()
    result = call()  # type: ignore[operator]
    return result, time.perf_counter() - started


def test_round_trip(redis_server: RedisServer) -> None:
    l2 = cache(redis_server.url)
    assert l2.get("k").outcome is CacheOutcome.MISS
    assert l2.set("k", b"v", 5).outcome is CacheOutcome.STORED
    hit = l2.get("k")
    assert hit.outcome is CacheOutcome.HIT and hit.value == b"v"
    assert l2.delete("k").outcome is CacheOutcome.DELETED
    assert l2.get("k").outcome is CacheOutcome.MISS


def test_get_with_ttl_reads_value_and_remaining_ttl_in_one_round_trip(redis_server: RedisServer) -> None:
    l2 = cache(redis_server.url)
    assert l2.get_with_ttl("t").outcome is CacheOutcome.MISS
    l2.set("t", b"v", 30)
    hit = l2.get_with_ttl("t")
    assert hit.outcome is CacheOutcome.HIT and hit.value == b"v"
    assert hit.ttl_ms is not None and 25_000 < hit.ttl_ms <= 30_000
    l2._client.set("forever", b"v")  # type: ignore[union-attr]
    assert l2.get_with_ttl("forever").ttl_ms is None


def test_get_with_ttl_on_a_silent_server_is_one_attempt() -> None:
    with silent_server() as server:
        l2 = cache(f"redis://127.0.0.1:{server.port}/0")
        result, elapsed = timed(lambda: l2.get_with_ttl("k"))
        assert result.outcome is CacheOutcome.ERROR and elapsed < 0.5  # type: ignore[attr-defined]
        time.sleep(0.05)
        assert server.connections_accepted == 1


def test_silent_server_one_attempt_per_call_within_budget() -> None:
    with silent_server() as server:
        l2 = cache(f"redis://127.0.0.1:{server.port}/0")
        for expected_connections in (1, 2, 3):
            result, elapsed = timed(lambda: l2.get("k"))
            assert result.outcome is CacheOutcome.ERROR  # type: ignore[attr-defined]
            assert result.error == "TimeoutError"  # type: ignore[attr-defined]
            assert 0.04 < elapsed < 0.5
            time.sleep(0.05)
            assert server.connections_accepted == expected_connections  # no retries
        assert l2.breaker.state is BreakerState.OPEN
        result, elapsed = timed(lambda: l2.get("k"))
        assert result.outcome is CacheOutcome.SKIPPED and elapsed < 0.01  # type: ignore[attr-defined]
        assert server.connections_accepted == 3


def test_refused_and_never_connecting_are_bounded() -> None:
    with refused_port() as port:
        result, elapsed = timed(lambda: cache(f"redis://127.0.0.1:{port}/0").get("k"))
        assert result.outcome is CacheOutcome.ERROR and elapsed < 0.3  # type: ignore[attr-defined]
    with never_connects_port() as port:
        result, elapsed = timed(lambda: cache(f"redis://127.0.0.1:{port}/0").get("k"))
        assert result.outcome is CacheOutcome.ERROR and elapsed < 0.5  # type: ignore[attr-defined]


def test_wrong_password_is_an_error_not_an_exception() -> None:
    with running_redis(password="right-password-for-test") as server:
        result = cache(server.url_with_password("wrong")).get("k")
        assert result.outcome is CacheOutcome.ERROR
        assert (
            cache(f"redis://127.0.0.1:{server.port}/0", password="right-password-for-test")
            .set("k", b"v", 5)
            .outcome
            is CacheOutcome.STORED
        )


def test_killed_then_restarted_half_open_probe_closes_the_breaker(redis_server: RedisServer) -> None:
    l2 = cache(redis_server.url, cooldown_ms=200)
    assert l2.set("k", b"v", 60).outcome is CacheOutcome.STORED
    redis_server.kill()
    for _ in range(3):
        assert l2.get("k").outcome is CacheOutcome.ERROR
    assert l2.get("k").outcome is CacheOutcome.SKIPPED
    redis_server.restart()
    time.sleep(0.25)
    assert l2.get("k").outcome is CacheOutcome.MISS  # the probe; the restarted server kept nothing
    assert l2.breaker.state is BreakerState.CLOSED
