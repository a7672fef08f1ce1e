"""L2: Redis behind a tiny timeout budget, one attempt per call and a circuit breaker.

Why each choice (docs/incidents.md section 1): the seed's client waited 2 s to connect and 2 s to read,
pinged at start-up and read *and* wrote on every request, so a silent Redis cost 4+ s per request.
Here a call costs at most one connect or read timeout (~50 ms), redis-py's own retries are switched
off (its default policy retries with backoff and multiplies the timeout), there is no ping, and after
``failure_threshold`` consecutive failures the breaker skips Redis entirely for a cool-down.

Every method returns an outcome instead of raising: the cache is an optimisation, never a failure.
"""

from __future__ import annotations

import contextlib
import enum
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hokusai import snapstart
from hokusai.cache.breaker import BreakerState, CircuitBreaker
from hokusai.config import RedisSettings
from hokusai.environment import default

DEFAULT_KEY_PREFIX: str = default("REDIS_KEY_PREFIX")

if TYPE_CHECKING:
    import redis


class CacheOutcome(enum.Enum):
    HIT = "hit"
    MISS = "miss"
    STORED = "stored"
    DELETED = "deleted"
    ERROR = "error"  # the call was made and failed (refused, timeout, auth ...)
    SKIPPED = "skipped"  # the breaker is open: no call was made
    DISABLED = "disabled"  # no Redis configured


@dataclass(frozen=True)
class CacheResult:
    outcome: CacheOutcome
    value: bytes | None = None
    error: str | None = None  # exception class name, never the message (it may echo a key)
    elapsed_ms: float = 0.0
    # get_with_ttl's HIT: the entry's remaining time to live in Redis (None: the entry never expires).
    ttl_ms: int | None = None


ErrorObserver = Callable[[str, str], None]  # (operation, error class name)


def build_redis_client(settings: RedisSettings, password: str | None = None) -> redis.Redis:
    """A redis-py client that makes exactly one attempt per command within the budget."""
    import redis as redis_lib
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    if settings.url is None:
        raise ValueError("RedisSettings.url is not set")
    kwargs: dict[str, Any] = {
        "socket_connect_timeout": settings.connect_timeout_ms / 1000,
        "socket_timeout": settings.timeout_ms / 1000,
        # Zero retries: one attempt. (retry=None would fall back to redis-py's default policy.)
        "retry": Retry(NoBackoff(), 0),
        "retry_on_error": [],
        "health_check_interval": 0,  # no extra PING round trips
        "socket_keepalive": True,
        "max_connections": 16,
    }
    if password is not None:
        kwargs["password"] = password
    return redis_lib.Redis.from_url(settings.url, **kwargs)


def auth_entry_key(digest: str, prefix: str = DEFAULT_KEY_PREFIX) -> str:
    """Where the authorizer caches one key's record: under the stack's namespace
    (``REDIS_KEY_PREFIX``), so two stacks sharing one Redis never read each other's entries."""
    return f"{prefix}auth:v1:{digest}"


def connect(
    settings: RedisSettings,
    secrets_client: Callable[[], Any] | None = None,
    *,
    on_error: ErrorObserver | None = None,
    on_state_change: Callable[[BreakerState, BreakerState], None] | None = None,
) -> RedisCache | None:
    """The L2 cache the settings describe, shared by the authorizer, health and the key CLI.

    None when ``REDIS_URL`` is unset. With ``REDIS_AUTH_SECRET_ARN`` the auth token is read through
    ``secrets_client()`` (a bounded Secrets Manager client; raises ``hokusai.aws.SecretUnreadable``);
    no Redis command is sent here (no ping at start-up: the first call pays the connect).
    """
    if settings.url is None:
        return None
    password = None
    if settings.auth_secret_arn is not None:
        from hokusai.aws import SecretUnreadable, read_secret

        if secrets_client is None:
            raise SecretUnreadable(settings.auth_secret_arn, "needs a Secrets Manager client to be read")
        try:
            secretsmanager = secrets_client()
        except Exception as error:  # e.g. no region configured: the same answer as a failed read
            raise SecretUnreadable(
                settings.auth_secret_arn, f"could not be read ({type(error).__name__})"
            ) from None
        password = read_secret(secretsmanager, settings.auth_secret_arn)
    return RedisCache.from_settings(settings, password, on_error=on_error, on_state_change=on_state_change)


class RedisCache:
    def __init__(
        self,
        client: redis.Redis | None,
        breaker: CircuitBreaker,
        on_error: ErrorObserver | None = None,
        rebuild: Callable[[], redis.Redis] | None = None,
    ) -> None:
        """``rebuild``: a new client like ``client`` (its connection pool empty), for
        :meth:`reconnect`; without it, reconnect only closes the client's pooled connections."""
        self._client = client
        self.breaker = breaker
        self._on_error = on_error
        self._rebuild = rebuild
        _caches.add(self)

    @classmethod
    def from_settings(
        cls,
        settings: RedisSettings,
        password: str | None = None,
        on_error: ErrorObserver | None = None,
        on_state_change: Callable[[BreakerState, BreakerState], None] | None = None,
    ) -> RedisCache:
        breaker = CircuitBreaker(
            settings.breaker_failure_threshold,
            settings.breaker_cooldown_ms / 1000,
            on_state_change=on_state_change,
        )
        if not settings.url:
            return cls(None, breaker, on_error)
        return cls(
            build_redis_client(settings, password),
            breaker,
            on_error,
            rebuild=lambda: build_redis_client(settings, password),
        )

    @property
    def enabled(self) -> bool:
        return self._client is not None

    def get(self, key: str) -> CacheResult:
        return self._call("get", lambda c: c.get(key))

    def get_with_ttl(self, key: str) -> CacheResult:
        """GET and PTTL in one pipeline: one round trip, one call of the budget. A HIT carries
        ``ttl_ms``, so a copy of the entry (the authorizer's L1) can be kept no longer than Redis keeps it,
        and a deleted entry (revocation) is not served from a copy beyond that."""

        def command(client: redis.Redis) -> Any:
            pipeline = client.pipeline(transaction=False)
            pipeline.get(key)
            pipeline.pttl(key)
            return pipeline.execute()

        return self._call("get_with_ttl", command)

    def set(self, key: str, value: bytes, ttl_seconds: int) -> CacheResult:
        return self._call("set", lambda c: c.set(key, value, ex=ttl_seconds))

    def delete(self, key: str) -> CacheResult:
        return self._call("delete", lambda c: c.delete(key))

    def ping(self) -> CacheResult:
        return self._call("ping", lambda c: c.ping())

    def _call(self, operation: str, command: Callable[[redis.Redis], Any]) -> CacheResult:
        if self._client is None:
            return CacheResult(CacheOutcome.DISABLED)
        if not self.breaker.allow():
            return CacheResult(CacheOutcome.SKIPPED)
        started = time.perf_counter()
        try:
            reply = command(self._client)
        except Exception as error:
            self.breaker.record_failure()
            if self._on_error is not None:
                self._on_error(operation, type(error).__name__)
            return CacheResult(
                CacheOutcome.ERROR,
                error=type(error).__name__,
                elapsed_ms=(time.perf_counter() - started) * 1000,
            )
        self.breaker.record_success()
        elapsed_ms = (time.perf_counter() - started) * 1000
        if operation == "get":
            if reply is None:
                return CacheResult(CacheOutcome.MISS, elapsed_ms=elapsed_ms)
            return CacheResult(CacheOutcome.HIT, value=bytes(reply), elapsed_ms=elapsed_ms)
        if operation == "get_with_ttl":
            value, pttl = reply
            if value is None:
                return CacheResult(CacheOutcome.MISS, elapsed_ms=elapsed_ms)
            # PTTL: -1 no expiry, -2 gone since the GET (answered in the same round trip: as good as 0).
            ttl_ms = None if pttl == -1 else max(0, int(pttl))
            return CacheResult(CacheOutcome.HIT, value=bytes(value), elapsed_ms=elapsed_ms, ttl_ms=ttl_ms)
        if operation == "delete":
            return CacheResult(CacheOutcome.DELETED, elapsed_ms=elapsed_ms)
        if operation == "set":
            return CacheResult(CacheOutcome.STORED, elapsed_ms=elapsed_ms)
        return CacheResult(CacheOutcome.HIT, elapsed_ms=elapsed_ms)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def reconnect(self) -> None:
        """A new client with an empty connection pool (SnapStart restore: a socket from snapshot time
        is dead, and one attempt per call would spend it there). The old client's connections are
        closed without a round trip (redis-py's close sends nothing; closing a socket does not wait
        for the peer); a failure there is ignored, the old client is dropped either way. No command
        is sent: the next call connects, within its usual budget."""
        old = self._client
        if old is None:
            return
        if self._rebuild is not None:
            self._client = self._rebuild()
        with contextlib.suppress(Exception):  # a dead socket may fail to close: dropped anyway
            old.connection_pool.disconnect()


_caches: weakref.WeakSet[RedisCache] = weakref.WeakSet()


def _reconnect_all() -> None:
    for cache in list(_caches):
        cache.reconnect()


snapstart.on_restore("cache.redis", _reconnect_all)
