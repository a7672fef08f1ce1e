"""Authorizer wiring: the Redis token at cold start never crashes the function; secrets are read in
the one documented format (``hokusai.aws.read_secret``)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hokusai.auth.service import build_authorizer
from hokusai.aws import SecretUnreadable, read_secret
from hokusai.config import AuthorizerSettings

REDIS_SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:redis-AbCdEf"
SIGNING_SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:signing-AbCdEf"
SIGNING_KEY = "s" * 64


class Secrets:
    """One value for every secret, or per ARN (``by_arn``); None: the read times out."""

    def __init__(self, value: str | None, by_arn: dict[str, str | None] | None = None) -> None:
        self.value = value
        self.by_arn = by_arn or {}
        self.calls = 0
        self.read: list[str] = []

    def get_secret_value(self, SecretId: str) -> dict[str, Any]:
        self.calls += 1
        self.read.append(SecretId)
        value = self.by_arn.get(SecretId, self.value)
        if value is None:
            raise TimeoutError("Connect timeout on endpoint URL")
        return {"SecretString": value}


def _settings(**extra: str) -> AuthorizerSettings:
    return AuthorizerSettings.from_env(
        {
            "KEYS_TABLE_NAME": "keys",
            "REDIS_URL": "rediss://cache.internal:6379/0",
            "REDIS_AUTH_SECRET_ARN": REDIS_SECRET,
            **extra,
        }
    )


NO_SOURCE = type("NoSource", (), {"get": lambda self, digest: None})()


@pytest.mark.parametrize(
    ("stored", "token"),
    [
        ("plain-token-value-123", "plain-token-value-123"),
        ("  padded-token\n", "padded-token"),  # a file written with a trailing newline
        ("1234567890123456", "1234567890123456"),  # valid JSON number: still the token
    ],
)
def test_the_secret_string_is_the_value_itself(stored: str, token: str) -> None:
    assert read_secret(Secrets(stored), "arn:secret") == token


@pytest.mark.parametrize(
    ("stored", "reason"),
    [
        (json.dumps({"token": "from-json"}), "holds a JSON document: put the value itself"),
        ("", "is empty: put the value itself"),
        ("   ", "is empty: put the value itself"),
        (None, "could not be read (TimeoutError)"),
    ],
)
def test_other_secret_strings_are_refused_naming_the_secret(stored: str | None, reason: str) -> None:
    with pytest.raises(SecretUnreadable) as refused:
        read_secret(Secrets(stored), "arn:secret")
    assert str(refused.value).startswith(f"secret arn:secret {reason}")
    if stored and stored.strip():
        assert stored not in str(refused.value)


@pytest.mark.parametrize("stored", [None, json.dumps({"user": "x"})])
def test_token_failure_runs_without_l2_and_is_counted(stored: str | None) -> None:
    observed: list[tuple[str, float, str]] = []
    warnings: list[str] = []
    secrets_client = Secrets(stored, {SIGNING_SECRET: SIGNING_KEY})
    authorizer = build_authorizer(
        _settings(AUTH_CACHE_KEY_SECRET_ARN=SIGNING_SECRET),
        observe=lambda name, value, unit: observed.append((name, value, unit)),
        log_warning=lambda message, **fields: warnings.append(message),
        source=NO_SOURCE,
        secrets_client_factory=lambda: secrets_client,
    )
    assert not authorizer.l2_enabled and authorizer.chain.l2 is None
    assert observed == [("RedisAuthTokenUnavailable", 1, "Count")]
    assert secrets_client.read == [SIGNING_SECRET, REDIS_SECRET]
    assert warnings == ["Redis auth token unavailable: running without L2 cache"]


@pytest.mark.parametrize(
    ("signing", "reason"),
    [
        ("unset", "AUTH_CACHE_KEY_SECRET_ARN is not set"),
        (None, "could not be read (TimeoutError)"),
        ("short", "the cache signing key must be at least 32 bytes"),
    ],
)
def test_without_the_signing_key_there_is_no_l2_at_all(signing: str | None, reason: str) -> None:
    """An unsigned Redis entry is never trusted nor written: no key, no Redis (not even the token read)."""
    observed: list[tuple[str, float, str]] = []
    warnings: list[tuple[str, dict[str, Any]]] = []
    extra = {} if signing == "unset" else {"AUTH_CACHE_KEY_SECRET_ARN": SIGNING_SECRET}
    secrets_client = Secrets("redis-token-0123456789", {SIGNING_SECRET: signing})
    authorizer = build_authorizer(
        _settings(**extra),
        observe=lambda name, value, unit: observed.append((name, value, unit)),
        log_warning=lambda message, **fields: warnings.append((message, fields)),
        source=NO_SOURCE,
        secrets_client_factory=lambda: secrets_client,
    )
    assert not authorizer.l2_enabled and authorizer.chain.l2 is None
    assert observed == [("AuthCacheKeyUnavailable", 1, "Count")]
    assert REDIS_SECRET not in secrets_client.read
    assert warnings == [("Redis cache signing key unavailable: running without L2 cache", {"error": reason})]


def test_with_the_signing_key_and_the_token_the_chain_has_l2() -> None:
    secrets_client = Secrets("redis-token-0123456789", {SIGNING_SECRET: SIGNING_KEY})
    authorizer = build_authorizer(
        _settings(AUTH_CACHE_KEY_SECRET_ARN=SIGNING_SECRET),
        observe=lambda *a: None,
        log_warning=lambda *a, **k: None,
        source=NO_SOURCE,
        secrets_client_factory=lambda: secrets_client,
    )
    assert authorizer.l2_enabled and authorizer.chain.l2 is not None
    assert authorizer.chain.revocation_bound_seconds == 10
    assert secrets_client.read == [SIGNING_SECRET, REDIS_SECRET]


def test_no_redis_url_means_no_l2_and_no_secret_read() -> None:
    settings = AuthorizerSettings.from_env({"KEYS_TABLE_NAME": "keys"})
    secrets_client = Secrets("unused")
    authorizer = build_authorizer(
        settings,
        observe=lambda *a: None,
        log_warning=lambda *a, **k: None,
        source=type("NoSource", (), {"get": lambda self, digest: None})(),
        secrets_client_factory=lambda: secrets_client,
    )
    assert not authorizer.l2_enabled and secrets_client.calls == 0
