"""AuthorizerSettings: every rejection names the variable."""

from __future__ import annotations

import pytest
from hokusai.config import AuthorizerSettings, ConfigError

BASE = {"KEYS_TABLE_NAME": "hokusai-keys"}


def test_defaults() -> None:
    s = AuthorizerSettings.from_env(BASE)
    assert (s.l1_ttl_seconds, s.l2_ttl_seconds, s.negative_ttl_seconds) == (60, 300, 30)
    assert s.redis.url is None and s.auth_service_url is None and s.auth_service_timeout_ms == 500


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("AUTH_NEGATIVE_TTL_SECONDS", "-3"),
        ("AUTH_NEGATIVE_TTL_SECONDS", "soon"),
        ("AUTH_L1_MAX_ENTRIES", "0"),
        ("AUTH_SERVICE_TIMEOUT_MS", "0"),
        ("AUTH_SERVICE_URL", "ftp://auth.internal"),
        ("AUTH_L2_TTL_SECONDS", "five minutes"),
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
