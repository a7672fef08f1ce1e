"""Two local stacks sharing one Redis keep to their own key namespace (``REDIS_KEY_PREFIX``)."""

from __future__ import annotations

import redis
from hokusai.cache.redis_cache import auth_entry_key
from hokusai.keys.format import key_digest

from tests.e2e.conftest import Client
from tests.helpers import running_stack


def test_two_stacks_on_one_redis_never_share_cached_keys() -> None:
    with running_stack() as first:
        assert first.redis_server is not None
        shared_url = first.redis_server.url
        with running_stack(REDIS_URL=shared_url) as second:
            prefixes = (first.environment["REDIS_KEY_PREFIX"], second.environment["REDIS_KEY_PREFIX"])
            assert prefixes[0] != prefixes[1]
            assert all(prefix.startswith("hokusai:hokusai-test-") for prefix in prefixes)
            keys = [stack.create_key("namespace-user")[0] for stack in (first, second)]
            for stack, api_key in zip((first, second), keys, strict=True):
                assert Client(stack.base_url).predict(api_key).status_code == 200
            store = redis.Redis.from_url(shared_url)
            cached = {name.decode() for name in store.scan_iter(match="hokusai:*auth:v1:*")}
            assert cached == {
                auth_entry_key(key_digest(keys[0]), prefixes[0]),
                auth_entry_key(key_digest(keys[1]), prefixes[1]),
            }
            # The second stack's key is unknown to the first: its Redis entry is not visible there.
            assert Client(first.base_url).predict(keys[1]).status_code == 401
