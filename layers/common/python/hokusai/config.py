"""Settings from the environment, validated once at start-up.

Each function's settings are a frozen dataclass read from the environment through the declarations
in :mod:`hokusai.environment` (name, type, default, unit: written there once). A bad value raises
:class:`ConfigError` naming the variable and the expected form, so a misconfigured deployment fails
once, loudly, instead of guessing (docs/incidents.md section 4: a ``REDIS_URL`` without a scheme was
silently "fixed" on every start). ``hokusai.startup`` turns that error into a clear answer.

Plain dataclasses, not pydantic: the authorizer and health functions must cold-start without it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from hokusai.environment import ConfigError, Environ, redact_url, variable
from hokusai.models.registry import ModelSpec, parse_registry

__all__ = [
    "AuthorizerSettings",
    "CanarySettings",
    "ConfigError",
    "HealthSettings",
    "KeysTableSettings",
    "PreTrafficSettings",
    "PredictSettings",
    "RedisSettings",
    "RevocationSettings",
    "redact_url",
]


def setting(
    name: str,
    *,
    parse: Callable[[Any], Any] | None = None,
    required_here: bool = True,
    from_flags: bool = False,
) -> Any:
    """A settings field read from the declared variable ``name``, with its declared default.

    ``parse`` turns the checked text into the field's value (the model registry). ``required_here``
    False: a variable another function requires is optional for this one (None when unset).
    ``from_flags``: a command may give the value as a flag instead (``hokusai doctor --api-url``),
    so it is required only when the settings are read strictly.
    """
    declared = variable(name)
    metadata = {"variable": name, "parse": parse, "required_here": required_here, "from_flags": from_flags}
    if declared.default is None and not declared.optional and required_here and not from_flags:
        return field(metadata=metadata)  # required: no default, the constructor must be given it
    return field(default=declared.parsed_default, metadata=metadata)


def part(settings_class: type) -> Any:
    """A settings field that is a settings group of its own (Redis, the keys table)."""
    return field(metadata={"part": settings_class})


class FromEnvironment:
    """``from_env``: every field read through its declaration (:func:`setting`, :func:`part`)."""

    @classmethod
    def from_env(cls, environ: Environ | None = None) -> Any:
        return _read(cls, os.environ if environ is None else environ, lenient=False)


def _read(settings_class: type, environ: Environ, *, lenient: bool) -> Any:
    values: dict[str, Any] = {}
    for item in fields(settings_class):
        if "part" in item.metadata:
            values[item.name] = _read(item.metadata["part"], environ, lenient=lenient)
            continue
        declared = variable(item.metadata["variable"])
        optional_here = (lenient and item.metadata["from_flags"]) or not item.metadata["required_here"]
        if optional_here and not (environ.get(declared.name) or "").strip():
            values[item.name] = None
            continue
        value = declared.parse(environ)
        values[item.name] = item.metadata["parse"](value) if item.metadata["parse"] else value
    return settings_class(**values)


# --------------------------------------------------------------------------------------------------
# Redis (L2 cache), shared by the authorizer and the health function so both see the same network path
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RedisSettings(FromEnvironment):
    """How to reach the L2 cache, and how little we are willing to wait for it.

    ``url`` is None when no Redis is configured: the authorizer then runs on L1 + source of truth.
    """

    url: str | None = setting("REDIS_URL")
    connect_timeout_ms: int = setting("REDIS_CONNECT_TIMEOUT_MS")
    timeout_ms: int = setting("REDIS_TIMEOUT_MS")
    breaker_failure_threshold: int = setting("REDIS_BREAKER_FAILURES")
    breaker_cooldown_ms: int = setting("REDIS_BREAKER_COOLDOWN_MS")
    auth_secret_arn: str | None = setting("REDIS_AUTH_SECRET_ARN")
    key_prefix: str = setting("REDIS_KEY_PREFIX")


@dataclass(frozen=True)
class KeysTableSettings(FromEnvironment):
    """The DynamoDB table holding API keys (by SHA-256 digest): the source of truth."""

    table_name: str = setting("KEYS_TABLE_NAME")
    # Bounded AWS calls: botocore's defaults (60 s timeouts, retries) would recreate incident 1.
    connect_timeout_ms: int = setting("KEYS_TABLE_CONNECT_TIMEOUT_MS")
    read_timeout_ms: int = setting("KEYS_TABLE_READ_TIMEOUT_MS")
    max_attempts: int = setting("KEYS_TABLE_MAX_ATTEMPTS")


# --------------------------------------------------------------------------------------------------
# Per-function settings. Each function owns one class below.
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuthorizerSettings(FromEnvironment):
    redis: RedisSettings = part(RedisSettings)
    keys_table: KeysTableSettings = part(KeysTableSettings)
    revocation_bound_seconds: int = setting("AUTH_REVOCATION_BOUND_SECONDS")
    l1_ttl_seconds: int | None = setting("AUTH_L1_TTL_SECONDS")
    cache_key_secret_arn: str | None = setting("AUTH_CACHE_KEY_SECRET_ARN")
    negative_ttl_seconds: int = setting("AUTH_NEGATIVE_TTL_SECONDS")
    l1_max_entries: int = setting("AUTH_L1_MAX_ENTRIES")
    auth_service_url: str | None = setting("AUTH_SERVICE_URL")
    auth_service_timeout_ms: int = setting("AUTH_SERVICE_TIMEOUT_MS")

    def __post_init__(self) -> None:
        # Checked once, at start-up, naming the variable: an in-process copy must not outlive the bound.
        if self.l1_ttl_seconds is not None and self.l1_ttl_seconds > self.revocation_bound_seconds:
            raise ConfigError(
                "AUTH_L1_TTL_SECONDS",
                f"at most AUTH_REVOCATION_BOUND_SECONDS ({self.revocation_bound_seconds} s)",
                str(self.l1_ttl_seconds),
            )


@dataclass(frozen=True)
class HealthSettings(FromEnvironment):
    """See docs/operations.md.

    The registry is kept as checked text: a malformed entry is reported by the configuration check
    (naming the model and field) instead of stopping the other checks. The health function checks
    that each artifact is *reachable* (EFS path exists or S3 HeadObject), it never loads one, so it
    needs no ML imports.
    """

    redis: RedisSettings = part(RedisSettings)
    keys_table: KeysTableSettings = part(KeysTableSettings)
    deadline_ms: int = setting("HEALTH_DEADLINE_MS")
    version: str = setting("SERVICE_VERSION")
    model_registry_json: str | None = setting("MODEL_REGISTRY", required_here=False)
    model_cache_dir: str | None = setting("MODEL_CACHE_DIR")
    model_bucket: str | None = setting("MODEL_BUCKET")
    model_bucket_prefix: str = setting("MODEL_BUCKET_PREFIX")


@dataclass(frozen=True)
class PredictSettings(FromEnvironment):
    """The predict function: which models, where their artifacts are cached, request limits.

    See docs/models.md.
    """

    registry: dict[str, ModelSpec] = setting("MODEL_REGISTRY", parse=parse_registry)
    model_cache_dir: str | None = setting("MODEL_CACHE_DIR")
    model_bucket: str | None = setting("MODEL_BUCKET")
    model_bucket_prefix: str = setting("MODEL_BUCKET_PREFIX")
    hf_token_secret_arn: str | None = setting("HF_TOKEN_SECRET_ARN")
    hf_endpoint: str | None = setting("HF_ENDPOINT")
    hf_home: str = setting("HF_HOME")
    hf_download_timeout_ms: int = setting("HF_DOWNLOAD_TIMEOUT_MS")
    max_batch_size: int = setting("MAX_BATCH_SIZE")
    max_body_bytes: int = setting("MAX_BODY_BYTES")
    allow_pickle: bool = setting("ALLOW_PICKLE")
    # Off by default: the functions sit in isolated subnets with no route to the Hub, so trying it
    # would only cost HF_DOWNLOAD_TIMEOUT_MS before the same 503. `make deploy` stages every model.
    hub_fallback: bool = setting("MODEL_HUB_FALLBACK")


@dataclass(frozen=True)
class RevocationSettings(FromEnvironment):
    """The keys table's stream consumer: the authorizer's Redis, to delete revoked keys' entries
    (``hokusai.keys.revocation``, docs/authorizer.md)."""

    redis: RedisSettings = part(RedisSettings)


@dataclass(frozen=True)
class CanarySettings(FromEnvironment):
    """See docs/operations.md.

    ``api_base_url`` is the stage URL (ends in ``/api``). ``timeout_ms`` bounds each synthetic request
    and is also its latency budget: an answer slower than that fails the check (docs/incidents.md section 5:
    every endpoint answers within 2 s).
    """

    api_base_url: str | None = setting("API_BASE_URL", from_flags=True)
    expected_state_parameter: str | None = setting("EXPECTED_STATE_PARAMETER", from_flags=True)
    canary_key_secret_arn: str | None = setting("CANARY_KEY_SECRET_ARN")
    alert_topic_arn: str | None = setting("ALERT_TOPIC_ARN")
    canary_model_id: str = setting("CANARY_MODEL_ID")
    timeout_ms: int = setting("CANARY_TIMEOUT_MS")

    @classmethod
    def from_env(cls, environ: Environ | None = None, *, require_all: bool = True) -> CanarySettings:
        """``require_all``: the scheduled canary needs every value; ``hokusai doctor`` takes the API
        URL and the parameter from flags and lets the environment fill in what was not given."""
        settings: CanarySettings = _read(
            cls, os.environ if environ is None else environ, lenient=not require_all
        )
        return settings


@dataclass(frozen=True)
class PreTrafficSettings(FromEnvironment):
    """The pre-traffic hook (``hokusai.rollout``): the release's version ARNs, the canary's key and
    model. The stack gives a new set of versions with every release."""

    authorizer_version: str = setting("RELEASE_AUTHORIZER_VERSION")
    predict_version: str = setting("RELEASE_PREDICT_VERSION")
    health_version: str = setting("RELEASE_HEALTH_VERSION")
    canary_key_secret_arn: str | None = setting("CANARY_KEY_SECRET_ARN")
    canary_model_id: str = setting("CANARY_MODEL_ID")

    @property
    def versions(self) -> dict[str, str]:
        return {
            "authorizer": self.authorizer_version,
            "predict": self.predict_version,
            "health": self.health_version,
        }
