"""Faults while the local stack runs: Redis stopped, silenced, restarted; the keys table gone; a revoke.

The cache is an optimisation (docs/incidents.md sections 1 and 2): with Redis dead or silent, predictions keep
working at a few milliseconds' cost and health says "degraded" (HTTP 200) naming Redis, within its
deadline; with the source of truth unreachable, keys already cached are still served.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from local.stack import LocalStack
from tests.e2e.conftest import Client, assert_error
from tests.helpers import running_stack

L1_TTL_SECONDS = 2
BREAKER_COOLDOWN_MS = 300


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with running_stack(
        AUTH_L1_TTL_SECONDS=str(L1_TTL_SECONDS),
        AUTH_NEGATIVE_TTL_SECONDS="1",
        REDIS_BREAKER_COOLDOWN_MS=str(BREAKER_COOLDOWN_MS),
    ) as started:
        yield started


@pytest.fixture(scope="module")
def client(stack: LocalStack) -> Client:
    return Client(stack.base_url)


@pytest.fixture
def redis(stack: LocalStack) -> Iterator[Any]:
    server = stack.redis_server
    assert server is not None
    yield server
    server.resume()  # whatever the test did, leave a running Redis for the next one
    if server._process is None or server._process.poll() is not None:
        server.start()


def until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def health(client: Client) -> tuple[int, dict[str, Any], float]:
    started = time.perf_counter()
    response = client.get("/health")
    return response.status_code, response.json(), time.perf_counter() - started


def new_key(stack: LocalStack) -> str:
    return stack.create_key("fault-user")[0]


# ------------------------------------------------------------------------------ health under faults
@pytest.mark.parametrize("fault", ["kill", "pause"])
def test_redis_down_or_silent_health_is_degraded_within_its_deadline(
    client: Client, redis: Any, fault: str
) -> None:
    status, body, _ = health(client)
    assert (status, body["status"]) == (200, "healthy"), body
    getattr(redis, fault)()
    status, body, elapsed = health(client)
    assert status == 200, body  # degraded but serving: the gateway must keep routing to us
    assert body["status"] == "degraded"
    # Redis's own 50 ms client timeout (REDIS_TIMEOUT_MS) answers well inside health's 300 ms deadline:
    # the check reports the failed PING itself, never a "timeout" of the whole check.
    assert body["services"]["redis"] == "unhealthy"
    assert body["checks"]["redis"]["status"] == "unhealthy"
    assert body["checks"]["redis"]["reason"].startswith("PING failed: ")
    assert body["services"]["keys_table"] == "healthy"
    assert elapsed < 1.5  # a 300 ms deadline, generous slack for this box


def test_redis_restart_recovers_health(client: Client, redis: Any) -> None:
    redis.kill()
    assert health(client)[1]["status"] == "degraded"
    redis.start()
    assert until(lambda: health(client)[1]["status"] == "healthy"), health(client)[1]


def test_keys_table_unreachable_health_is_unhealthy_503(stack: LocalStack, client: Client) -> None:
    stack.aws.stop()
    try:
        status, body, elapsed = health(client)
        assert status == 503, body
        assert body["status"] == "unhealthy"
        assert body["services"]["keys_table"] == "unhealthy"
        assert elapsed < 1.5
    finally:
        stack.aws.start()
    assert until(lambda: health(client)[0] == 200)


# ------------------------------------------------------------------------------ predictions under faults
def timed_predict(client: Client, api_key: str) -> tuple[requests.Response, float]:
    started = time.perf_counter()
    response = client.predict(api_key)
    return response, time.perf_counter() - started


@pytest.mark.parametrize("fault", ["kill", "pause"])
def test_predictions_keep_working_without_redis(
    stack: LocalStack, client: Client, redis: Any, fault: str
) -> None:
    cached = new_key(stack)
    assert client.predict(cached).status_code == 200  # warm: L1 + L2
    getattr(redis, fault)()
    fresh = new_key(stack)  # never seen: L1 miss, Redis fails, the keys table answers
    for api_key in [cached, fresh] * 5:
        response, elapsed = timed_predict(client, api_key)
        assert response.status_code == 200, response.text
        assert elapsed < 1.0  # the seed's outage paid 4+ s per request here
    assert_error(client.predict("hk_" + secrets.token_urlsafe(32)), 401, "API key required")


def test_redis_restart_recovers_the_l2_cache(stack: LocalStack, client: Client, redis: Any) -> None:
    redis.kill()
    assert client.predict(new_key(stack)).status_code == 200
    redis.start()
    time.sleep(BREAKER_COOLDOWN_MS / 1000 + 0.2)  # the breaker half-opens after its cool-down
    api_key = new_key(stack)
    assert client.predict(api_key).status_code == 200
    import redis as redis_py

    connection = redis_py.Redis(host="127.0.0.1", port=redis.port, password=redis.password)
    assert until(lambda: connection.dbsize() > 0), "nothing was written to Redis after recovery"


def test_keys_table_unreachable_cached_keys_still_served(stack: LocalStack, client: Client) -> None:
    cached = new_key(stack)
    assert client.predict(cached).status_code == 200
    uncached = new_key(stack)
    stack.aws.stop()
    try:
        time.sleep(L1_TTL_SECONDS + 0.2)  # past L1: the answer now comes from Redis (L2)
        response, elapsed = timed_predict(client, cached)
        assert response.status_code == 200, response.text
        assert elapsed < 2.0
        refused = client.predict(uncached)
        body = assert_error(refused, 503)
        assert refused.headers["Retry-After"]
        assert body["detail"] == "Authentication temporarily unavailable, retry shortly"
    finally:
        stack.aws.start()


def test_revoked_key_is_refused_within_the_l1_ttl(stack: LocalStack, client: Client) -> None:
    api_key, key_id = stack.create_key("revoked-user")
    before = client.predict(api_key)
    assert before.status_code == 200, before.text  # the authorizer let it through
    revoked = stack.revoke_key(key_id).splitlines()
    assert revoked[0].endswith("Redis entry deleted")
    assert revoked[1].startswith("every authorizer refuses it within 10 s (AUTH_REVOCATION_BOUND_SECONDS)")
    revoked_at = time.monotonic()
    assert until(lambda: client.predict(api_key).status_code == 401, timeout=L1_TTL_SECONDS + 3)
    assert time.monotonic() - revoked_at <= L1_TTL_SECONDS + 1.5
    assert_error(client.predict(api_key), 401, "API key required")
