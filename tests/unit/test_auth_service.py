"""Authorizer wiring: the Redis token at cold start never crashes the function; secrets are read in
the one documented format (``hokusai.aws.read_secret``)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hokusai.auth.service import build_authorizer
from hokusai.aws import SecretUnreadable, read_secret
from hokusai.config import AuthorizerSettings


class Secrets:
    def __init__(self, value: str | None) -> None:
        self.value = value
        self.calls = 0

    def get_secret_value(self, SecretId: str) -> dict[str, Any]:
        self.calls += 1
        if self.value is None:
            raise TimeoutError("Connect timeout on endpoint URL")
        return {"SecretString": self.value}


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
    settings = AuthorizerSettings.from_env(
        {
            "KEYS_TABLE_NAME": "keys",
            "REDIS_URL": "rediss://cache.internal:6379/0",
            "REDIS_AUTH_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:redis-AbCdEf",
        }
    )
    observed: list[str] = []
    warnings: list[str] = []
    secrets_client = Secrets(stored)
    authorizer = build_authorizer(
        settings,
        observe=lambda name, value, unit: observed.append(name),
        log_warning=lambda message, **fields: warnings.append(message),
        source=type("NoSource", (), {"get": lambda self, digest: None})(),
        secrets_client_factory=lambda: secrets_client,
    )
    assert not authorizer.l2_enabled and authorizer.chain.l2 is None
    assert observed == ["RedisAuthTokenUnavailable"] and secrets_client.calls == 1
    assert "without L2" in warnings[0]


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
