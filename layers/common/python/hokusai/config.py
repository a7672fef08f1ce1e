"""Settings from the environment, validated once at start-up.

Each function's settings are a frozen dataclass read from the environment through the declarations
in :mod:`hokusai.environment` (name, type, default, unit: written there once). A bad value raises
:class:`ConfigError` naming the variable and the expected form, so a misconfigured deployment fails
once, loudly, instead of guessing (INCIDENTS.md section 4: a ``REDIS_URL`` without a scheme was
silently "fixed" on every start). ``hokusai.startup`` turns that error into a clear answer.

Plain dataclasses, not pydantic: the authorizer and health functions must cold-start without it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from hokusai.environment import ConfigError, Environ, default, redact_url, variable
from hokusai.models.registry import ModelSpec, parse_registry

__all__ = [
    "AuthorizerSettings",
    "CanarySettings",
    "ConfigError",
    "HealthSettings",
    "KeysTableSettings",
    "PredictSettings",
    "RedisSettings",
    "redact_url",
]


class _Reader:
    """``read("NAME")``: one declared variable from one environment mapping."""

    def __init__(self, environ: Environ | None) -> None:
        self.environ: Environ = os.environ if environ is None else environ

    def __call__(self, name: str) -> Any:
        return variable(name).parse(self.environ)

    def if_set(self, name: str) -> Any:
        """For a variable one function requires and another can do without: None when unset."""
        return self(name) if (self.environ.get(name) or "").strip() else None


# --------------------------------------------------------------------------------------------------
# Redis (L2 cache), shared by the authorizer and the health function so both see the same network path
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RedisSettings:
    """How to reach the L2 cache, and how little we are willing to wait for it.

    ``url`` is None when no Redis is configured: the authorizer then runs on L1 + source of truth.
    """

    url: str | None
    connect_timeout_ms: int = default("REDIS_CONNECT_TIMEOUT_MS")
    timeout_ms: int = default("REDIS_TIMEOUT_MS")
    breaker_failure_threshold: int = default("REDIS_BREAKER_FAILURES")
    breaker_cooldown_ms: int = default("REDIS_BREAKER_COOLDOWN_MS")
    auth_secret_arn: str | None = None
    key_prefix: str = default("REDIS_KEY_PREFIX")

    @classmethod
    def from_env(cls, environ: Environ | None = None) -> RedisSettings:
        read = _Reader(environ)
        return cls(
            url=read("REDIS_URL"),
            connect_timeout_ms=read("REDIS_CONNECT_TIMEOUT_MS"),
            timeout_ms=read("REDIS_TIMEOUT_MS"),
            breaker_failure_threshold=read("REDIS_BREAKER_FAILURES"),
            breaker_cooldown_ms=read("REDIS_BREAKER_COOLDOWN_MS"),
            auth_secret_arn=read("REDIS_AUTH_SECRET_ARN"),
            key_prefix=read("REDIS_KEY_PREFIX"),
        )


@dataclass(frozen=True)
class KeysTableSettings:
    """The DynamoDB table holding API keys (by SHA-256 digest): the source of truth."""

    table_name: str
    # Bounded AWS calls: botocore's defaults (60 s timeouts, retries) would recreate incident 1.
    connect_timeout_ms: int = default("KEYS_TABLE_CONNECT_TIMEOUT_MS")
    read_timeout_ms: int = default("KEYS_TABLE_READ_TIMEOUT_MS")
    max_attempts: int = default("KEYS_TABLE_MAX_ATTEMPTS")

    @classmethod
    def from_env(cls, environ: Environ | None = None) -> KeysTableSettings:
        read = _Reader(environ)
        return cls(
            table_name=read("KEYS_TABLE_NAME"),
            connect_timeout_ms=read("KEYS_TABLE_CONNECT_TIMEOUT_MS"),
            read_timeout_ms=read("KEYS_TABLE_READ_TIMEOUT_MS"),
            max_attempts=read("KEYS_TABLE_MAX_ATTEMPTS"),
        )


# --------------------------------------------------------------------------------------------------
# Per-function settings. Each function owns one section below.
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuthorizerSettings:
    redis: RedisSettings
    keys_table: KeysTableSettings
    l1_ttl_seconds: int = default("AUTH_L1_TTL_SECONDS")
    l2_ttl_seconds: int = default("AUTH_L2_TTL_SECONDS")
    negative_ttl_seconds: int = default("AUTH_NEGATIVE_TTL_SECONDS")
    l1_max_entries: int = default("AUTH_L1_MAX_ENTRIES")
    auth_service_url: str | None = None
    auth_service_timeout_ms: int = default("AUTH_SERVICE_TIMEOUT_MS")

    @classmethod
    def from_env(cls, environ: Environ | None = None) -> AuthorizerSettings:
        read = _Reader(environ)
        return cls(
            redis=RedisSettings.from_env(read.environ),
            keys_table=KeysTableSettings.from_env(read.environ),
            l1_ttl_seconds=read("AUTH_L1_TTL_SECONDS"),
            l2_ttl_seconds=read("AUTH_L2_TTL_SECONDS"),
            negative_ttl_seconds=read("AUTH_NEGATIVE_TTL_SECONDS"),
            l1_max_entries=read("AUTH_L1_MAX_ENTRIES"),
            auth_service_url=read("AUTH_SERVICE_URL"),
            auth_service_timeout_ms=read("AUTH_SERVICE_TIMEOUT_MS"),
        )


@dataclass(frozen=True)
class HealthSettings:
    """See docs/operations.md.

    The registry is parsed here only as far as health needs: a malformed entry is reported by the
    configuration check (naming the model and field) instead of stopping the other checks, so the
    raw document is kept. The health function checks that each artifact is *reachable* (EFS path
    exists or S3 HeadObject), it never loads one, so it needs no ML imports.
    """

    redis: RedisSettings
    keys_table: KeysTableSettings
    deadline_ms: int = default("HEALTH_DEADLINE_MS")
    version: str = default("SERVICE_VERSION")
    model_registry_json: str | None = None
    model_cache_dir: str | None = None
    model_bucket: str | None = None
    model_bucket_prefix: str = default("MODEL_BUCKET_PREFIX")

    @classmethod
    def from_env(cls, environ: Environ | None = None) -> HealthSettings:
        read = _Reader(environ)
        return cls(
            redis=RedisSettings.from_env(read.environ),
            keys_table=KeysTableSettings.from_env(read.environ),
            deadline_ms=read("HEALTH_DEADLINE_MS"),
            version=read("SERVICE_VERSION"),
            model_registry_json=read.if_set("MODEL_REGISTRY"),
            model_cache_dir=read("MODEL_CACHE_DIR"),
            model_bucket=read("MODEL_BUCKET"),
            model_bucket_prefix=read("MODEL_BUCKET_PREFIX"),
        )


@dataclass(frozen=True)
class PredictSettings:
    """The predict function: which models, where their artifacts are cached, request limits.

    See docs/models.md.
    """

    registry: dict[str, ModelSpec]
    model_cache_dir: str | None = None
    model_bucket: str | None = None
    model_bucket_prefix: str = default("MODEL_BUCKET_PREFIX")
    hf_token_secret_arn: str | None = None
    hf_endpoint: str | None = None
    hf_home: str = default("HF_HOME")
    hf_download_timeout_ms: int = default("HF_DOWNLOAD_TIMEOUT_MS")
    max_batch_size: int = default("MAX_BATCH_SIZE")
    max_body_bytes: int = default("MAX_BODY_BYTES")
    allow_pickle: bool = default("ALLOW_PICKLE")
    # Off by default: the functions sit in isolated subnets with no route to the Hub, so trying it
    # would only cost HF_DOWNLOAD_TIMEOUT_MS before the same 503. `make deploy` stages every model.
    hub_fallback: bool = default("MODEL_HUB_FALLBACK")

    @classmethod
    def from_env(cls, environ: Environ | None = None) -> PredictSettings:
        read = _Reader(environ)
        return cls(
            registry=parse_registry(read("MODEL_REGISTRY")),
            model_cache_dir=read("MODEL_CACHE_DIR"),
            model_bucket=read("MODEL_BUCKET"),
            model_bucket_prefix=read("MODEL_BUCKET_PREFIX"),
            hf_token_secret_arn=read("HF_TOKEN_SECRET_ARN"),
            hf_endpoint=read("HF_ENDPOINT"),
            hf_home=read("HF_HOME"),
            hf_download_timeout_ms=read("HF_DOWNLOAD_TIMEOUT_MS"),
            max_batch_size=read("MAX_BATCH_SIZE"),
            max_body_bytes=read("MAX_BODY_BYTES"),
            allow_pickle=read("ALLOW_PICKLE"),
            hub_fallback=read("MODEL_HUB_FALLBACK"),
        )


@dataclass(frozen=True)
class CanarySettings:
    """See docs/operations.md.

    ``api_base_url`` is the stage URL (ends in ``/api``). ``timeout_ms`` bounds each synthetic request
    and is also its latency budget: an answer slower than that fails the check (INCIDENTS.md section 5:
    every endpoint answers within 2 s).
    """

    api_base_url: str | None
    expected_state_parameter: str | None = None
    canary_key_secret_arn: str | None = None
    alert_topic_arn: str | None = None
    canary_model_id: str = default("CANARY_MODEL_ID")
    timeout_ms: int = default("CANARY_TIMEOUT_MS")

    @classmethod
    def from_env(cls, environ: Environ | None = None, *, require_all: bool = True) -> CanarySettings:
        """``require_all``: the scheduled canary needs the API URL and the parameter; ``hokusai doctor``
        takes them from flags and lets the environment fill in what was not given."""
        read = _Reader(environ)
        required_by_canary = read if require_all else read.if_set
        return cls(
            api_base_url=required_by_canary("API_BASE_URL"),
            expected_state_parameter=required_by_canary("EXPECTED_STATE_PARAMETER"),
            canary_key_secret_arn=read("CANARY_KEY_SECRET_ARN"),
            alert_topic_arn=read("ALERT_TOPIC_ARN"),
            canary_model_id=read("CANARY_MODEL_ID"),
            timeout_ms=read("CANARY_TIMEOUT_MS"),
        )
