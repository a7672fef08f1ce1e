"""The validator chain: L1 in-process cache -> L2 Redis -> source of truth (DynamoDB or HTTP service).

Everything is keyed by the key's SHA-256 digest; the key itself never enters this module.

Budget rules (INCIDENTS.md section 1):
* L2 costs at most one Redis call per request on the read side. A failed or skipped L2 read skips the
  L2 write-back, so a dead Redis costs at most one timeout (~50 ms) per request, and nothing once the
  breaker is open.
* Expiry is checked on every hit: cached entries carry ``expires_at`` and their TTLs are capped by it.
* L1 never keeps an entry longer than Redis does: an L2 hit reads the entry's remaining TTL in the same
  round trip (GET + PTTL pipelined) and caps the L1 TTL by it, so a Redis entry deleted at revocation
  (``hokusai.keys.revocation``, the keys-table stream) is not re-armed for a full L1 TTL by a late hit.
* Source unreachable and nothing cached -> ``Verdict.unavailable`` (503 upstream), never an Allow.
"""

from __future__ import annotations

import enum
import json
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from hokusai import metric_names, snapstart
from hokusai.cache.redis_cache import DEFAULT_KEY_PREFIX, CacheOutcome, RedisCache, auth_entry_key
from hokusai.cache.ttl import TTLCache
from hokusai.keys.store import KeyRecord, StoreUnavailable


class Decision(enum.Enum):
    ALLOW = "allow"
    DENY = "deny"  # unknown, revoked, expired (malformed never gets here)
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    layer: str  # "l1" | "l2" | "source" | "none"
    record: KeyRecord | None = None
    reason: str = ""

    @property
    def allowed(self) -> bool:
        return self.decision is Decision.ALLOW


class SourceOfTruth(Protocol):
    """Looks a digest up: the record, None if unknown; raises StoreUnavailable if it cannot answer."""

    def get(self, digest: str) -> KeyRecord | None: ...


class Validator(Protocol):
    def validate(self, digest: str) -> Verdict: ...


# What the chain tells its observer: (metric name, value, unit) with unit "Count" or "Milliseconds".
Observer = Callable[[str, float, str], None]

_NEGATIVE = "negative"


def _ignore(_name: str, _value: float, _unit: str) -> None:
    return None


class HttpAuthService:
    """Source of truth behind an HTTP auth service: ``GET {base}/v1/keys/{digest}``.

    200 + JSON record -> the record; 404 -> unknown; anything else or a timeout -> StoreUnavailable.
    Only the digest travels; the request is bounded by ``timeout_ms`` (one attempt, no retries).
    """

    def __init__(self, base_url: str, timeout_ms: int) -> None:
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout_ms / 1000

    def get(self, digest: str) -> KeyRecord | None:
        import urllib.error
        import urllib.request

        request = urllib.request.Request(  # noqa: S310 (AUTH_SERVICE_URL is checked to be http(s))
            f"{self._base_url}/v1/keys/{digest}", headers={"Accept": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310 (http(s) checked by config)
                body = json.loads(response.read(65536))
            return KeyRecord.from_cache(body)
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            raise StoreUnavailable(f"HTTP {error.code}") from None
        except Exception as error:
            raise StoreUnavailable(type(error).__name__) from None


class ValidatorChain:
    def __init__(
        self,
        source: SourceOfTruth,
        *,
        l1: TTLCache[Any],
        l2: RedisCache | None,
        l1_ttl_seconds: int,
        l2_ttl_seconds: int,
        negative_ttl_seconds: int,
        l2_prefix: str = DEFAULT_KEY_PREFIX,
        observe: Observer = _ignore,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._source = source
        self._l1 = l1
        self._l2 = l2
        self._l1_ttl = l1_ttl_seconds
        self._l2_ttl = l2_ttl_seconds
        self._negative_ttl = negative_ttl_seconds
        self._l2_prefix = l2_prefix
        self._observe = observe
        self._clock = clock
        _chains.add(self)

    @property
    def l2(self) -> RedisCache | None:
        return self._l2

    def forget_cached_keys(self) -> None:
        """Empty L1 (SnapStart restore: its expiries are on the snapshot's monotonic clock, and a key
        revoked since the snapshot must not be answered from a copy of it)."""
        self._l1.clear()

    def validate(self, digest: str) -> Verdict:
        started = time.perf_counter()
        verdict = self._validate(digest)
        self._observe(
            metric_names.AUTH_VALIDATOR_LATENCY, (time.perf_counter() - started) * 1000, "Milliseconds"
        )
        self._observe(
            {
                Decision.ALLOW: metric_names.AUTH_ALLOWED,
                Decision.DENY: metric_names.AUTH_DENIED,
                Decision.UNAVAILABLE: metric_names.AUTHORIZER_FAILURE,
            }[verdict.decision],
            1,
            "Count",
        )
        return verdict

    # -------------------------------------------------------------------------------------------
    def _validate(self, digest: str) -> Verdict:
        now = self._clock()
        cached = self._l1.get(digest)
        if cached is not None:
            self._observe(metric_names.AUTH_CACHE_HIT_L1, 1, "Count")
            return self._from_cache(cached, "l1", now)

        write_back_l2 = False
        if self._l2 is not None and self._l2.enabled:
            result = self._l2.get_with_ttl(auth_entry_key(digest, self._l2_prefix))
            if result.outcome is CacheOutcome.HIT and result.value is not None:
                entry = self._decode(result.value)
                if entry is not None:
                    self._observe(metric_names.AUTH_CACHE_HIT_L2, 1, "Count")
                    remaining = None if result.ttl_ms is None else result.ttl_ms / 1000
                    self._remember_l1(digest, entry, now, remaining)
                    return self._from_cache(entry, "l2", now)
                write_back_l2 = True  # unreadable entry: overwrite it
            elif result.outcome is CacheOutcome.MISS:
                write_back_l2 = True
            elif result.outcome is CacheOutcome.SKIPPED:
                self._observe(metric_names.REDIS_BREAKER_OPEN, 1, "Count")
            # ERROR: already counted by the cache's error observer; no write-back (one timeout max).

        try:
            record = self._source.get(digest)
        except StoreUnavailable as error:
            return Verdict(Decision.UNAVAILABLE, "none", reason=f"source unavailable: {error}")
        self._observe(metric_names.AUTH_SOURCE_LOOKUP, 1, "Count")

        fresh: Any = record.to_cache() if record is not None and record.is_usable(now) else _NEGATIVE
        self._remember_l1(digest, fresh, now)
        if write_back_l2 and self._l2 is not None:
            ttl = self._ttl(fresh, self._l2_ttl, now)
            if ttl > 0:
                self._l2.set(auth_entry_key(digest, self._l2_prefix), json.dumps(fresh).encode(), ttl)
        if record is None:
            return Verdict(Decision.DENY, "source", reason="unknown key")
        return self._judge(record, "source", now)

    def _remember_l1(self, digest: str, entry: Any, now: float, l2_remaining: float | None = None) -> None:
        """``l2_remaining``: the seconds Redis still keeps the entry this copy came from (None: from
        the source of truth, or a Redis entry without expiry); the copy never outlives it."""
        ttl: float = self._ttl(entry, self._l1_ttl, now)
        if l2_remaining is not None:
            ttl = min(ttl, l2_remaining)
        if ttl > 0:
            self._l1.set(digest, entry, ttl)

    def _ttl(self, entry: Any, positive_ttl: int, now: float) -> int:
        if entry == _NEGATIVE:
            return self._negative_ttl
        expires_at = entry.get("expires_at")
        if expires_at is None:
            return positive_ttl
        # A cached entry never outlives the key.
        return max(0, min(positive_ttl, int(expires_at - now)))

    @staticmethod
    def _decode(raw: bytes) -> Any:
        try:
            entry = json.loads(raw)
            if entry == _NEGATIVE:
                return entry
            KeyRecord.from_cache(entry)
            return entry
        except Exception:
            return None

    def _from_cache(self, entry: Any, layer: str, now: float) -> Verdict:
        if entry == _NEGATIVE:
            return Verdict(Decision.DENY, layer, reason="unknown, revoked or expired key (cached)")
        return self._judge(KeyRecord.from_cache(entry), layer, now)

    @staticmethod
    def _judge(record: KeyRecord, layer: str, now: float) -> Verdict:
        if record.status != "active":
            return Verdict(Decision.DENY, layer, record, reason="revoked key")
        if record.is_expired(now):
            return Verdict(Decision.DENY, layer, record, reason="expired key")
        return Verdict(Decision.ALLOW, layer, record)


_chains: weakref.WeakSet[ValidatorChain] = weakref.WeakSet()


def _forget_cached_keys() -> None:
    for chain in list(_chains):
        chain.forget_cached_keys()


snapstart.on_restore("auth.l1", _forget_cached_keys)


__all__ = [
    "Decision",
    "HttpAuthService",
    "SourceOfTruth",
    "Validator",
    "ValidatorChain",
    "Verdict",
]
