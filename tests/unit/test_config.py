from __future__ import annotations

import pytest
from hokusai.config import AuthorizerSettings, ConfigError, RedisSettings, redact_url

BASE = {"KEYS_TABLE_NAME": "keys"}


def test_defaults_are_the_documented_budgets() -> None:
    settings = AuthorizerSettings.from_env(BASE)
    assert settings.redis.url is None
    assert settings.redis.connect_timeout_ms == 50
    assert settings.redis.timeout_ms == 50
    assert settings.revocation_bound_seconds == 10
    assert settings.l1_ttl_seconds is None
    assert settings.negative_ttl_seconds == 30


@pytest.mark.parametrize("url", ["cache.example.com:6379", "http://cache:6379", "cache", "tcp://x:1"])
def test_redis_url_without_redis_scheme_is_rejected_not_guessed(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        RedisSettings.from_env({"REDIS_URL": url})
    assert caught.value.variable == "REDIS_URL"
    assert "redis:// or rediss://" in str(caught.value)


def test_redis_url_password_never_appears_in_the_error() -> None:
    with pytest.raises(ConfigError) as caught:
        RedisSettings.from_env({"REDIS_URL": "redis://:s3cret-pw@cache:notaport"})
    assert "s3cret-pw" not in str(caught.value)
    assert caught.value.variable == "REDIS_URL"


@pytest.mark.parametrize("url", ["redis://cache:6379/0", "rediss://user:pw@cache.example.com:6380"])
def test_valid_redis_urls(url: str) -> None:
    assert RedisSettings.from_env({"REDIS_URL": url}).url == url


@pytest.mark.parametrize(
    "variable",
    ["REDIS_CONNECT_TIMEOUT_MS", "REDIS_TIMEOUT_MS", "REDIS_BREAKER_FAILURES", "REDIS_BREAKER_COOLDOWN_MS"],
)
@pytest.mark.parametrize("value", ["0", "-5", "fast", "1.5"])
def test_budgets_must_be_positive_integers(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        RedisSettings.from_env({variable: value})
    assert caught.value.variable == variable
    assert "positive integer" in str(caught.value)


def test_missing_table_name_names_the_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        AuthorizerSettings.from_env({})
    assert caught.value.variable == "KEYS_TABLE_NAME"


@pytest.mark.parametrize("value", ["", "   "])
def test_blank_table_name_is_missing(value: str) -> None:
    with pytest.raises(ConfigError, match="KEYS_TABLE_NAME"):
        AuthorizerSettings.from_env({"KEYS_TABLE_NAME": value})


def test_auth_service_url_must_be_http() -> None:
    with pytest.raises(ConfigError, match="AUTH_SERVICE_URL"):
        AuthorizerSettings.from_env({**BASE, "AUTH_SERVICE_URL": "auth.internal"})


def test_ttls_are_validated() -> None:
    with pytest.raises(ConfigError, match="AUTH_REVOCATION_BOUND_SECONDS"):
        AuthorizerSettings.from_env({**BASE, "AUTH_REVOCATION_BOUND_SECONDS": "0"})
    with pytest.raises(ConfigError, match="AUTH_L1_TTL_SECONDS"):
        AuthorizerSettings.from_env({**BASE, "AUTH_L1_TTL_SECONDS": "-1"})
    assert AuthorizerSettings.from_env({**BASE, "AUTH_L1_TTL_SECONDS": "0"}).l1_ttl_seconds == 0


def test_redact_url() -> None:
    assert redact_url("rediss://default:pw@host:6379/0") == "rediss://default:***@host:6379/0"
    assert redact_url("redis://host:6379") == "redis://host:6379"
