"""Revocation as deployed, on the local stack: ``hokusai keys revoke`` WITHOUT ``REDIS_URL`` (as from
outside the VPC), and the keys table's stream -> the revocation function deletes the Redis entry.

The stream is the fast path, not the guarantee (the revocation bound is: tests/e2e/test_revocation_bound.py).
Here the bound is 30 s and AUTH_L1_TTL_SECONDS 2, so only the stream's delete can make the key answer
401 within a few seconds: the test fails if the delete never happens.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator

import pytest
import redis
from hokusai.cache.redis_cache import auth_entry_key

from local.stack import LocalStack
from tests.e2e.conftest import Client, assert_error
from tests.helpers import running_stack

pytestmark = pytest.mark.timeout(180)

L1_TTL_SECONDS = 2
BOUND_SECONDS = 30


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with running_stack(
        AUTH_L1_TTL_SECONDS=str(L1_TTL_SECONDS), AUTH_REVOCATION_BOUND_SECONDS=str(BOUND_SECONDS)
    ) as started:
        yield started


@pytest.fixture
def client(stack: LocalStack) -> Client:
    return Client(stack.base_url)


def until(condition: Callable[[], bool], timeout: float, interval: float = 0.1) -> float | None:
    """Seconds until ``condition()`` held, or None if it did not within ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(interval)
    return None


def test_revoke_without_redis_url_deletes_the_entry_and_the_key_is_refused(
    stack: LocalStack, client: Client
) -> None:
    assert stack.redis_server is not None
    cache = redis.Redis.from_url(stack.redis_server.url)
    api_key, key_id = stack.create_key("stream-revoked", ["21"])
    entry = auth_entry_key(
        hashlib.sha256(api_key.encode()).hexdigest(), stack.environment["REDIS_KEY_PREFIX"]
    )

    first = client.predict(api_key)
    assert first.status_code == 200, first.text
    assert cache.get(entry) is not None  # cached in L2 (and in the authorizer's L1)
    assert BOUND_SECONDS - 5 < cache.ttl(entry) <= BOUND_SECONDS  # an entry lives the bound at most

    output = stack.revoke_key(key_id, with_redis_url=False)
    revoked_at = time.monotonic()
    assert "REDIS_URL not set" in output and "stream" in output  # the CLI itself deleted nothing

    deleted_after = until(lambda: cache.get(entry) is None, timeout=15)
    assert deleted_after is not None, "the stream did not delete the Redis entry within 15 s"
    refused_after = until(lambda: client.predict(api_key).status_code == 401, timeout=L1_TTL_SECONDS + 10)
    assert refused_after is not None, "the key still answered after the L1 TTL"
    # Well inside the 30 s bound: the stream's delete, not the bound, refused it.
    assert time.monotonic() - revoked_at < BOUND_SECONDS - 5
    assert_error(client.predict(api_key), 401, "API key required")
    assert stack.stream_poller is not None and stack.stream_poller.delivered >= 1


def test_a_change_that_keeps_the_key_active_leaves_its_entry(stack: LocalStack, client: Client) -> None:
    """Only stale entries are deleted: a description change is not a reason to drop the cache."""
    assert stack.redis_server is not None
    cache = redis.Redis.from_url(stack.redis_server.url)
    api_key, _ = stack.create_key("stream-kept", ["21"])
    digest = hashlib.sha256(api_key.encode()).hexdigest()
    entry = auth_entry_key(digest, stack.environment["REDIS_KEY_PREFIX"])
    assert client.predict(api_key).status_code == 200
    poller = stack.stream_poller
    assert poller is not None
    delivered = poller.delivered
    stack.aws.client("dynamodb").update_item(
        TableName=stack.environment["KEYS_TABLE_NAME"],
        Key={"key_hash": {"S": digest}},
        UpdateExpression="SET description = :d",
        ExpressionAttributeValues={":d": {"S": "renamed"}},
    )
    assert until(lambda: poller.delivered > delivered, timeout=15) is not None  # the record was handled
    assert cache.get(entry) is not None
    assert client.predict(api_key).status_code == 200
