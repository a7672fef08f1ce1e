"""Which Redis the local stack uses: ``REDIS_URL`` as given (even a dead one, so an outage can be
replayed, docs/local.md), a private redis-server only when it is unset (issue 11). Real redis-servers
and a port nobody listens on."""

from __future__ import annotations

import pytest
import redis
from hokusai.config import ConfigError

from local.faults import refused_port
from local.redis_server import RedisServer, running_redis
from local.stack import RedisChoice, choose_redis


def choose(requested_url: str | None) -> tuple[RedisChoice, list[str]]:
    lines: list[str] = []
    return choose_redis(requested_url, lines.append), lines


def test_an_explicit_url_nothing_answers_is_used_as_given_with_a_warning() -> None:
    with refused_port() as port:
        url = f"redis://127.0.0.1:{port}/0"
        choice, log = choose(url)
    assert (choice.url, choice.password, choice.server, choice.answered) == (url, None, None, False)
    assert log == [
        f"WARNING: Redis: nothing answers at {url} (REDIS_URL; one PING, 0.5 s). Using it as given: until "
        "it answers, /health says degraded and the authorizer runs on L1 and DynamoDB. Unset REDIS_URL "
        "to have make dev start its own redis-server."
    ]


def test_the_warning_does_not_show_the_urls_password() -> None:
    with refused_port() as port:
        choice, log = choose(f"redis://:s3cret-token@127.0.0.1:{port}/0")
    assert choice.url == f"redis://:s3cret-token@127.0.0.1:{port}/0"  # the functions get it as given
    assert len(log) == 1
    assert log[0].startswith(f"WARNING: Redis: nothing answers at redis://:***@127.0.0.1:{port}/0 ")


def test_an_explicit_url_that_answers_is_used_and_nothing_is_started() -> None:
    with running_redis(password="local-pass") as server:
        choice, log = choose(server.url)
    assert (choice.url, choice.password, choice.server, choice.answered) == (server.url, None, None, True)
    assert log == [f"Redis: using redis://:***@127.0.0.1:{server.port}/0 (REDIS_URL)"]


@pytest.mark.parametrize("unset", [None, ""])
def test_unset_starts_a_private_password_protected_redis_server(unset: str | None) -> None:
    choice, log = choose(unset)
    assert isinstance(choice.server, RedisServer)
    try:
        assert choice.url == f"redis://127.0.0.1:{choice.server.port}/0"  # the password is in the secret
        assert choice.password is not None and choice.answered is True
        with redis.Redis.from_url(choice.url, password=choice.password) as client:
            assert client.ping() is True
        with redis.Redis.from_url(choice.url) as client, pytest.raises(redis.AuthenticationError):
            client.ping()
        assert log == [f"Redis: started redis-server at {choice.url} (password in the Redis auth secret)"]
    finally:
        choice.server.stop()


@pytest.mark.parametrize("url", ["localhost:6379", "http://127.0.0.1:6379/0", "redis://127.0.0.1:port/0"])
def test_a_malformed_url_fails_naming_redis_url(url: str) -> None:
    with pytest.raises(ConfigError) as raised:
        choose(url)
    assert raised.value.variable == "REDIS_URL"
