"""Authorizer wiring: the Redis token at cold start never crashes the function."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hokusai.auth.service import build_authorizer, read_redis_token
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
        (json.dumps({"token": "from-json"}), "from-json"),
        (json.dumps({"password": "pw-json"}), "pw-json"),
        ("1234567890123456", "1234567890123456"),  # valid JSON number: still the token
    ],
)
def test_token_formats(stored: str, token: str) -> None:
    assert read_redis_token("arn", lambda: Secrets(stored)) == token


def test_json_without_token_field_is_rejected() -> None:
    with pytest.raises(ValueError, match="no token"):
        read_redis_token("arn", lambda: Secrets(json.dumps({"user": "x"})))


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
