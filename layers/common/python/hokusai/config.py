"""Settings from the environment, validated once at start-up.

This is the one module that reads ``os.environ``. Each function builds its settings at import time
(cold start); a bad value raises :class:`ConfigError` naming the variable and the expected form, so
a misconfigured deployment fails once, loudly, instead of guessing (INCIDENTS.md section 4: a
``REDIS_URL`` without a scheme was silently "fixed" on every start).

Plain dataclasses, not pydantic: the authorizer and health functions must cold-start without it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

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


class ConfigError(ValueError):
    """A configuration value is missing or malformed. The message names the variable."""

    def __init__(self, variable: str, expected: str, got: str | None = None) -> None:
        self.variable = variable
        self.expected = expected
        shown = "" if got is None else f" (got {got!r})"
        super().__init__(f"Invalid configuration: {variable} must be {expected}{shown}")


Environ = Mapping[str, str]


def _environ(environ: Environ | None) -> Environ:
    return os.environ if environ is None else environ


def redact_url(url: str) -> str:
    """The URL with any password replaced, safe for logs and error messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ":<invalid port>"
    netloc = f"{user}:***@{host}{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def env_str(environ: Environ, name: str, *, default: str | None = None) -> str:
    """A required string (or the default when one is given and the variable is unset)."""
    value = environ.get(name)
    if value is None or value.strip() == "":
        if default is not None:
            return default
        raise ConfigError(name, "set to a non-empty value", None)
    return value.strip()


def env_optional_str(environ: Environ, name: str) -> str | None:
    value = environ.get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def env_positive_int(environ: Environ, name: str, *, default: int, unit: str = "") -> int:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(name, f"a positive integer{unit}", raw) from None
    if value <= 0:
        raise ConfigError(name, f"a positive integer{unit}", raw)
    return value


def env_non_negative_int(environ: Environ, name: str, *, default: int, unit: str = "") -> int:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(name, f"a non-negative integer{unit}", raw) from None
    if value < 0:
        raise ConfigError(name, f"a non-negative integer{unit}", raw)
    return value


def env_bool(environ: Environ, name: str, *, default: bool) -> bool:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(name, "one of true/false/1/0/yes/no/on/off", raw)


def env_http_url(environ: Environ, name: str, *, required: bool) -> str | None:
    raw = env_str(environ, name) if required else env_optional_str(environ, name)
    if raw is None:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(name, "an http:// or https:// URL with a host", redact_url(raw))
    return raw.rstrip("/")


def env_json(environ: Environ, name: str, *, default: Any = None) -> Any:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        if default is not None:
            return default
        raise ConfigError(name, "set to a JSON document", None)
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        raise ConfigError(name, f"valid JSON ({error.msg} at position {error.pos})", None) from None


# --------------------------------------------------------------------------------------------------
# Redis (L2 cache), shared by the authorizer and the health function so both see the same network path
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RedisSettings:
    """How to reach the L2 cache, and how little we are willing to wait for it.

    ``url`` is None when no Redis is configured: the authorizer then runs on L1 + source of truth.
    """

    url: str | None
    connect_timeout_ms: int = 50
    timeout_ms: int = 50
    breaker_failure_threshold: int = 3
    breaker_cooldown_ms: int = 10_000
    auth_secret_arn: str | None = None

    @classmethod
    def from_env(cls, environ: Environ | None = None) -> RedisSettings:
        env = _environ(environ)
        url = env_optional_str(env, "REDIS_URL")
        if url is not None:
            scheme = urlsplit(url).scheme if "://" in url else ""
            if scheme not in {"redis", "rediss"}:
                raise ConfigError(
                    "REDIS_URL",
                    "a URL starting with redis:// or rediss:// (no scheme is guessed)",
                    redact_url(url),
                )
            parts = urlsplit(url)
            if not parts.hostname:
                raise ConfigError("REDIS_URL", "a redis:// or rediss:// URL with a host", redact_url(url))
            try:
                _ = parts.port
            except ValueError:
                raise ConfigError("REDIS_URL", "a URL whose port is a number", redact_url(url)) from None
        return cls(
            url=url,
            connect_timeout_ms=env_positive_int(
                env, "REDIS_CONNECT_TIMEOUT_MS", default=50, unit=" of milliseconds"
            ),
            timeout_ms=env_positive_int(env, "REDIS_TIMEOUT_MS", default=50, unit=" of milliseconds"),
            breaker_failure_threshold=env_positive_int(env, "REDIS_BREAKER_FAILURES", default=3),
            breaker_cooldown_ms=env_positive_int(
                env, "REDIS_BREAKER_COOLDOWN_MS", default=10_000, unit=" of milliseconds"
            ),
            auth_secret_arn=env_optional_str(env, "REDIS_AUTH_SECRET_ARN"),
        )


@dataclass(frozen=True)
class KeysTableSettings:
    """The DynamoDB table holding API keys (by SHA-256 digest): the source of truth."""

    table_name: str
    # Bounded AWS calls: botocore's defaults (60 s timeouts, retries) would recreate incident 1.
    connect_timeout_ms: int = 300
    read_timeout_ms: int = 500
    max_attempts: int = 2

    @classmethod
    def from_env(cls, environ: Environ | None = None) -> KeysTableSettings:
        env = _environ(environ)
        return cls(
            table_name=env_str(env, "KEYS_TABLE_NAME"),
            connect_timeout_ms=env_positive_int(env, "KEYS_TABLE_CONNECT_TIMEOUT_MS", default=300),
            read_timeout_ms=env_positive_int(env, "KEYS_TABLE_READ_TIMEOUT_MS", default=500),
            max_attempts=env_positive_int(env, "KEYS_TABLE_MAX_ATTEMPTS", default=2),
        )


# --------------------------------------------------------------------------------------------------
# Per-function settings. Each function owns one section below.
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuthorizerSettings:
    redis: RedisSettings
    keys_table: KeysTableSettings
    l1_ttl_seconds: int = 60
    l2_ttl_seconds: int = 300
    negative_ttl_seconds: int = 30
    l1_max_entries: int = 10_000
    auth_service_url: str | None = None
    auth_service_timeout_ms: int = 500

    @classmethod
    def from_env(cls, environ: Environ | None = None) -> AuthorizerSettings:
        env = _environ(environ)
        return cls(
            redis=RedisSettings.from_env(env),
            keys_table=KeysTableSettings.from_env(env),
            l1_ttl_seconds=env_non_negative_int(env, "AUTH_L1_TTL_SECONDS", default=60, unit=" of seconds"),
            l2_ttl_seconds=env_positive_int(env, "AUTH_L2_TTL_SECONDS", default=300, unit=" of seconds"),
            negative_ttl_seconds=env_non_negative_int(
                env, "AUTH_NEGATIVE_TTL_SECONDS", default=30, unit=" of seconds"
            ),
            l1_max_entries=env_positive_int(env, "AUTH_L1_MAX_ENTRIES", default=10_000),
            auth_service_url=env_http_url(env, "AUTH_SERVICE_URL", required=False),
            auth_service_timeout_ms=env_positive_int(
                env, "AUTH_SERVICE_TIMEOUT_MS", default=500, unit=" of milliseconds"
            ),
        )


@dataclass(frozen=True)
class HealthSettings:
    """Owned by the health issue; see docs/operations.md.

    The model locations are kept as raw strings: the health function checks that the artifact is
    *reachable* (EFS path exists or S3 HeadObject), it never loads it, so it needs no ML imports.
    """

    redis: RedisSettings
    keys_table: KeysTableSettings
    deadline_ms: int = 300
    version: str = "1.0.0"
    model_registry_json: str | None = None
    model_cache_dir: str | None = None
    model_bucket: str | None = None
    model_bucket_prefix: str = "models/"

    @classmethod
    def from_env(cls, environ: Environ | None = None) -> HealthSettings:
        env = _environ(environ)
        registry = env_optional_str(env, "MODEL_REGISTRY")
        if registry is not None:
            # Fail at start-up on a registry that is not even JSON; its fields are checked by the
            # configuration check (hokusai.models.registry), which names the model and field.
            document = env_json(env, "MODEL_REGISTRY")
            if not isinstance(document, dict) or not document:
                raise ConfigError("MODEL_REGISTRY", "a non-empty JSON object of model id -> entry", None)
        cache_dir = env_optional_str(env, "MODEL_CACHE_DIR")
        if cache_dir is not None and not cache_dir.startswith("/"):
            raise ConfigError(
                "MODEL_CACHE_DIR", "an absolute path (the EFS mount, e.g. /mnt/models)", cache_dir
            )
        return cls(
            redis=RedisSettings.from_env(env),
            keys_table=KeysTableSettings.from_env(env),
            deadline_ms=env_positive_int(env, "HEALTH_DEADLINE_MS", default=300, unit=" of milliseconds"),
            version=env_str(env, "SERVICE_VERSION", default="1.0.0"),
            model_registry_json=registry,
            model_cache_dir=cache_dir.rstrip("/") if cache_dir else None,
            model_bucket=env_optional_str(env, "MODEL_BUCKET"),
            model_bucket_prefix=env_str(env, "MODEL_BUCKET_PREFIX", default="models/"),
        )


@dataclass(frozen=True)
class PredictSettings:
    """The predict function: which models, where their artifacts are cached, request limits.

    See docs/models.md. ``registry`` maps model ids to ``hokusai.models.registry.ModelSpec``.
    """

    registry: dict[str, Any]
    model_cache_dir: str | None = None
    model_bucket: str | None = None
    model_bucket_prefix: str = "models/"
    hf_token_secret_arn: str | None = None
    hf_endpoint: str | None = None
    hf_home: str = "/tmp/hf"  # noqa: S108 - Lambda's only writable path besides the EFS mount
    hf_download_timeout_ms: int = 10_000
    max_batch_size: int = 100
    max_body_bytes: int = 262_144
    allow_pickle: bool = False
    # Off by default: the functions sit in isolated subnets with no route to the Hub, so trying it
    # would only cost HF_DOWNLOAD_TIMEOUT_MS before the same 503. `make deploy` stages every model.
    hub_fallback: bool = False

    @classmethod
    def from_env(cls, environ: Environ | None = None) -> PredictSettings:
        from hokusai.models.registry import parse_registry  # lazy: registry imports ConfigError from here

        env = _environ(environ)
        return cls(
            registry=parse_registry(env_str(env, "MODEL_REGISTRY")),
            model_cache_dir=env_optional_str(env, "MODEL_CACHE_DIR"),
            model_bucket=env_optional_str(env, "MODEL_BUCKET"),
            model_bucket_prefix=env_str(env, "MODEL_BUCKET_PREFIX", default="models/"),
            hf_token_secret_arn=env_optional_str(env, "HF_TOKEN_SECRET_ARN"),
            hf_endpoint=env_http_url(env, "HF_ENDPOINT", required=False),
            hf_home=env_str(env, "HF_HOME", default="/tmp/hf"),  # noqa: S108
            hf_download_timeout_ms=env_positive_int(
                env, "HF_DOWNLOAD_TIMEOUT_MS", default=10_000, unit=" of milliseconds"
            ),
            max_batch_size=env_positive_int(env, "MAX_BATCH_SIZE", default=100),
            max_body_bytes=env_positive_int(env, "MAX_BODY_BYTES", default=262_144, unit=" of bytes"),
            allow_pickle=env_bool(env, "ALLOW_PICKLE", default=False),
            hub_fallback=env_bool(env, "MODEL_HUB_FALLBACK", default=False),
        )


@dataclass(frozen=True)
class CanarySettings:
    """Owned by the canary issue; see docs/operations.md.

    ``api_base_url`` is the stage URL (ends in ``/api``). ``timeout_ms`` bounds each synthetic request
    and is also its latency budget: an answer slower than that fails the check (INCIDENTS.md section 5:
    every endpoint answers within 2 s).
    """

    api_base_url: str | None
    expected_state_parameter: str | None = None
    canary_key_secret_arn: str | None = None
    alert_topic_arn: str | None = None
    canary_model_id: str = "21"
    timeout_ms: int = 2000

    @classmethod
    def from_env(cls, environ: Environ | None = None, *, require_all: bool = True) -> CanarySettings:
        """``require_all``: the scheduled canary needs the API URL and the parameter; ``hokusai doctor``
        takes them from flags and lets the environment fill in what was not given."""
        env = _environ(environ)
        parameter = (
            env_str(env, "EXPECTED_STATE_PARAMETER")
            if require_all
            else env_optional_str(env, "EXPECTED_STATE_PARAMETER")
        )
        topic = env_optional_str(env, "ALERT_TOPIC_ARN")
        if topic is not None and not topic.startswith("arn:"):
            raise ConfigError("ALERT_TOPIC_ARN", "an SNS topic ARN (arn:aws:sns:...)", topic)
        secret = env_optional_str(env, "CANARY_KEY_SECRET_ARN")
        if secret is not None and not secret.startswith("arn:"):
            raise ConfigError("CANARY_KEY_SECRET_ARN", "a Secrets Manager secret ARN", secret)
        model_id = env_str(env, "CANARY_MODEL_ID", default="21")
        if not model_id.replace("-", "").replace("_", "").isalnum():
            raise ConfigError("CANARY_MODEL_ID", "a model id (letters, digits, - or _)", model_id)
        return cls(
            api_base_url=env_http_url(env, "API_BASE_URL", required=require_all),
            expected_state_parameter=parameter,
            canary_key_secret_arn=secret,
            alert_topic_arn=topic,
            canary_model_id=model_id,
            timeout_ms=env_positive_int(env, "CANARY_TIMEOUT_MS", default=2000, unit=" of milliseconds"),
        )
