"""AuthorizerSettings: every rejection names the variable."""

from __future__ import annotations

import pytest
from hokusai.config import AuthorizerSettings, ConfigError

BASE = {"KEYS_TABLE_NAME": "hokusai-keys"}


def test_defaults() -> None:
    s = AuthorizerSettings.from_env(BASE)
    assert (s.revocation_bound_seconds, s.l1_ttl_seconds, s.negative_ttl_seconds) == (10, None, 30)
    assert s.cache_key_secret_arn is None
    assert s.redis.url is None and s.auth_service_url is None and s.auth_service_timeout_ms == 500


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("AUTH_NEGATIVE_TTL_SECONDS", "-3"),
        ("AUTH_NEGATIVE_TTL_SECONDS", "soon"),
        ("AUTH_L1_MAX_ENTRIES", "0"),
        ("AUTH_SERVICE_TIMEOUT_MS", "0"),
        ("AUTH_SERVICE_URL", "ftp://auth.internal"),
        ("AUTH_REVOCATION_BOUND_SECONDS", "five minutes"),
        ("AUTH_REVOCATION_BOUND_SECONDS", "0"),
        ("AUTH_L1_TTL_SECONDS", "11"),
        ("AUTH_CACHE_KEY_SECRET_ARN", "my-secret"),
        ("AUTH_SERVICE_URL", "http://auth.internal"),
        ("AUTH_SERVICE_URL", "https://"),
        ("REDIS_URL", "cache.internal:6379"),
        ("REDIS_TIMEOUT_MS", "0"),
        ("REDIS_BREAKER_FAILURES", "0"),
        ("KEYS_TABLE_MAX_ATTEMPTS", "0"),
    ],
)
def test_rejections_name_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        AuthorizerSettings.from_env({**BASE, variable: value})
    assert caught.value.variable == variable
    assert variable in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://auth.internal",
        "https://auth.internal:8443/base/",
        "http://127.0.0.1:9000",
        "http://localhost",
    ],
)
def test_the_auth_service_must_be_https_or_on_this_machine(url: str) -> None:
    assert AuthorizerSettings.from_env({**BASE, "AUTH_SERVICE_URL": url}).auth_service_url == url.rstrip("/")


def test_the_l1_ttl_may_be_shorter_than_the_bound_never_longer() -> None:
    assert AuthorizerSettings.from_env({**BASE, "AUTH_L1_TTL_SECONDS": "0"}).l1_ttl_seconds == 0
    assert AuthorizerSettings.from_env({**BASE, "AUTH_L1_TTL_SECONDS": "10"}).l1_ttl_seconds == 10
    with pytest.raises(ConfigError) as caught:
        AuthorizerSettings.from_env(
            {**BASE, "AUTH_REVOCATION_BOUND_SECONDS": "5", "AUTH_L1_TTL_SECONDS": "6"}
        )
    assert str(caught.value) == (
        "Invalid configuration: AUTH_L1_TTL_SECONDS must be at most AUTH_REVOCATION_BOUND_SECONDS (5 s) "
        "(got '6')"
    )
