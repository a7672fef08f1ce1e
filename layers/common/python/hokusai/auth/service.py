"""Wiring for the authorizer function: the chain from settings, metrics, and the answer to one event.

Nothing here does network I/O at import. ``build_authorizer`` runs once per container (on the first
invocation): it may read the ElastiCache auth token from Secrets Manager with a bounded client
(``hokusai.aws``); if that fails, the authorizer runs without L2 (logged and counted), it never crashes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hokusai import metric_names
from hokusai.auth.chain import HttpAuthService, SourceOfTruth, ValidatorChain, Verdict
from hokusai.auth.entries import EntrySigner
from hokusai.auth.headers import extract_key
from hokusai.auth.policy import allow_policy
from hokusai.aws import SecretUnreadable
from hokusai.cache.breaker import BreakerState
from hokusai.cache.redis_cache import RedisCache, connect
from hokusai.cache.ttl import TTLCache
from hokusai.config import AuthorizerSettings
from hokusai.keys.format import key_digest
from hokusai.keys.store import KeyStore

UNAUTHORIZED = "Unauthorized"  # exact text: API Gateway maps it to 401 (UNAUTHORIZED gateway response)


class AuthorizerUnavailable(Exception):
    """Source of truth unreachable and nothing cached: AUTHORIZER_FAILURE -> 503 + Retry-After."""


Observer = Callable[[str, float, str], None]
Log = Callable[..., None]


@dataclass
class Authorizer:
    chain: ValidatorChain
    l2_enabled: bool
    observe: Observer | None = None

    def authorize(self, event: Mapping[str, Any], log: Log | None = None) -> dict[str, Any]:
        """The Allow policy for a valid key; raises Exception("Unauthorized") or AuthorizerUnavailable."""
        api_key = extract_key(event.get("headers"))
        if api_key is None:
            if log is not None:
                log("Missing or malformed API key", outcome="malformed")
            if self.observe is not None:
                self.observe(metric_names.AUTH_MALFORMED, 1, "Count")
            raise Exception(UNAUTHORIZED)
        verdict: Verdict = self.chain.validate(key_digest(api_key))
        del api_key
        key_id = verdict.record.key_id if verdict.record is not None else None
        if verdict.allowed and verdict.record is not None:
            if log is not None:
                log("API key accepted", outcome="allow", layer=verdict.layer, key_id=key_id)
            return allow_policy(str(event.get("methodArn", "")), verdict.record)
        if log is not None:
            log(
                "API key refused",
                outcome=verdict.decision.value,
                layer=verdict.layer,
                key_id=key_id,
                reason=verdict.reason,
            )
        if verdict.decision.value == "unavailable":
            raise AuthorizerUnavailable("key store unavailable and key not cached")
        raise Exception(UNAUTHORIZED)


def bounded_secrets_client() -> Any:
    from hokusai.aws import SECRET_AT_COLD_START, client

    return client("secretsmanager", SECRET_AT_COLD_START)


def _entry_signer(
    settings: AuthorizerSettings,
    secrets_client_factory: Callable[[], Any],
    observe: Observer,
    log_warning: Log,
) -> EntrySigner | None:
    """The Redis entries' signer, from ``AUTH_CACHE_KEY_SECRET_ARN``; None (no L2, logged and
    counted once) when it is unset or cannot be read."""
    arn = settings.cache_key_secret_arn
    reason = "AUTH_CACHE_KEY_SECRET_ARN is not set"
    if arn is not None:
        from hokusai.aws import read_secret

        try:
            return EntrySigner(read_secret(secrets_client_factory(), arn).encode())
        except SecretUnreadable as error:
            reason = error.reason
        except ValueError as error:  # too short to be a signing key
            reason = str(error)
        except Exception as error:  # no region, no endpoint: the same answer as a failed read
            reason = f"could not be read ({type(error).__name__})"
    observe(metric_names.AUTH_CACHE_KEY_UNAVAILABLE, 1, "Count")
    log_warning("Redis cache signing key unavailable: running without L2 cache", error=reason)
    return None


def build_authorizer(
    settings: AuthorizerSettings,
    *,
    observe: Observer,
    log_warning: Log,
    source: SourceOfTruth | None = None,
    secrets_client_factory: Callable[[], Any] = bounded_secrets_client,
) -> Authorizer:
    def on_redis_error(operation: str, error_class: str) -> None:
        observe(
            metric_names.REDIS_TIMEOUT if "Timeout" in error_class else metric_names.REDIS_ERROR, 1, "Count"
        )
        log_warning("Redis call failed", operation=operation, error=error_class)

    def on_breaker_change(old: BreakerState, new: BreakerState) -> None:
        observe(metric_names.REDIS_BREAKER_STATE_CHANGE, 1, "Count")
        if new is BreakerState.OPEN:
            observe(metric_names.REDIS_BREAKER_OPENED, 1, "Count")
        log_warning("Redis circuit breaker changed state", old=old.value, new=new.value)

    l2: RedisCache | None = None
    signer: EntrySigner | None = None
    started = time.perf_counter()
    if settings.redis.url is not None:
        # No Redis cache without the signing key: an unsigned entry is never trusted nor written.
        signer = _entry_signer(settings, secrets_client_factory, observe, log_warning)
    if signer is not None:
        try:
            l2 = connect(
                settings.redis,
                secrets_client_factory,
                on_error=on_redis_error,
                on_state_change=on_breaker_change,
            )
        except SecretUnreadable as error:
            observe(metric_names.REDIS_AUTH_TOKEN_UNAVAILABLE, 1, "Count")
            log_warning(
                "Redis auth token unavailable: running without L2 cache",
                error=error.reason,
                elapsed_ms=round((time.perf_counter() - started) * 1000, 1),
            )
    if source is None:
        if settings.auth_service_url:
            source = HttpAuthService(settings.auth_service_url, settings.auth_service_timeout_ms)
        else:
            source = KeyStore.from_settings(settings.keys_table)
    chain = ValidatorChain(
        source,
        l1=TTLCache(settings.l1_max_entries),
        l2=l2,
        signer=signer,
        revocation_bound_seconds=settings.revocation_bound_seconds,
        l1_ttl_seconds=settings.l1_ttl_seconds,
        negative_ttl_seconds=settings.negative_ttl_seconds,
        l2_prefix=settings.redis.key_prefix,
        observe=observe,
        warn=log_warning,
    )
    return Authorizer(chain, l2_enabled=l2 is not None, observe=observe)
