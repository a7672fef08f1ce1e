"""The validator chain: L1 in-process cache -> L2 Redis -> source of truth (DynamoDB or HTTP service).

Everything is keyed by the key's SHA-256 digest; the key itself never enters this module.

Budget rules (docs/incidents.md, the Redis outage):
* L2 costs at most one Redis call per request on the read side. A failed or skipped L2 read skips the
  L2 write-back, so a dead Redis costs at most one timeout (~50 ms) per request, and nothing once the
  breaker is open.
* Source unreachable and nothing cached -> ``Verdict.unavailable`` (503 upstream), never an Allow.

The revocation bound (``AUTH_REVOCATION_BOUND_SECONDS``, docs/authorizer.md): every cached answer
carries the time of the keys-table read it came from (:class:`hokusai.auth.entries.CachedAnswer`),
and a positive answer is trusted only while younger than the bound, in L1 and in L2 alike. A key
revoked in the table is therefore refused by every authorizer within the bound whatever Redis does
(paused, killed, failed over, restored with old data): the revocation stream's delete of the Redis
entry makes it faster, never correct. Redis entries are signed (``hokusai.auth.entries``): an entry
that does not verify, lacks a field or is too old is a miss, never an allow.
"""

from __future__ import annotations

import enum
import json
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from hokusai import metric_names, snapstart
from hokusai.auth.entries import CachedAnswer, EntrySigner
from hokusai.cache.redis_cache import DEFAULT_KEY_PREFIX, CacheOutcome, RedisCache, auth_entry_key
from hokusai.cache.ttl import TTLCache
from hokusai.environment import is_secure_service_url
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
# A warning worth a log line (a Redis entry refused): message and fields, never a key.
Warn = Callable[..., None]


def _ignore(_name: str, _value: float, _unit: str) -> None:
    return None


def _no_warning(_message: str, **_fields: object) -> None:
    return None


# The auth service's answer decides Allow: https, or http to loopback only (one rule, with the
# variable's own check: hokusai.environment).
is_secure_auth_service_url = is_secure_service_url


class HttpAuthService:
    """Source of truth behind an HTTP auth service: ``GET {base}/v1/keys/{digest}``.

    200 + JSON record -> the record; 404 -> unknown; anything else, a record with a field missing, or
    a timeout -> StoreUnavailable (never an Allow). Only the digest travels; the request is bounded by
    ``timeout_ms`` (one attempt, no retries).
    """

    def __init__(self, base_url: str, timeout_ms: int) -> None:
        if not is_secure_auth_service_url(base_url):
            raise ValueError("the auth service URL must be https:// (or http:// to a loopback address)")
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout_ms / 1000

    def get(self, digest: str) -> KeyRecord | None:
        import urllib.error
        import urllib.request

        request = urllib.request.Request(  # noqa: S310 (https, or http to loopback: checked above)
            f"{self._base_url}/v1/keys/{digest}", headers={"Accept": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310 (checked above)
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
        l1: TTLCache[CachedAnswer],
        l2: RedisCache | None,
        signer: EntrySigner | None,
        revocation_bound_seconds: int,
        negative_ttl_seconds: int,
        l1_ttl_seconds: int | None = None,
        l2_prefix: str = DEFAULT_KEY_PREFIX,
        observe: Observer = _ignore,
        warn: Warn = _no_warning,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``signer`` None: no L2 at all (an unsigned Redis entry is never trusted nor written).
        ``l1_ttl_seconds``: a shorter in-process TTL than the bound (0: no L1); never longer."""
        if revocation_bound_seconds <= 0:
            raise ValueError("revocation_bound_seconds must be positive")
        self._source = source
        self._l1 = l1
        self._l2 = l2 if signer is not None else None
        self._signer = signer
        self._bound = revocation_bound_seconds
        self._l1_ttl = revocation_bound_seconds if l1_ttl_seconds is None else l1_ttl_seconds
        if not 0 <= self._l1_ttl <= revocation_bound_seconds:
            raise ValueError("l1_ttl_seconds must be between 0 and revocation_bound_seconds")
        self._negative_ttl = negative_ttl_seconds
        self._l2_prefix = l2_prefix
        self._observe = observe
        self._warn = warn
        self._clock = clock
        _chains.add(self)

    @property
    def l2(self) -> RedisCache | None:
        return self._l2

    @property
    def revocation_bound_seconds(self) -> int:
        return self._bound

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
                answer = self._trusted_l2_answer(digest, result.value, now)
                if answer is not None:
                    self._observe(metric_names.AUTH_CACHE_HIT_L2, 1, "Count")
                    remaining = None if result.ttl_ms is None else result.ttl_ms / 1000
                    self._remember_l1(digest, answer, now, remaining)
                    return self._from_cache(answer, "l2", now)
                write_back_l2 = True  # refused entry: overwrite it with what the table says now
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

        usable = record is not None and record.is_usable(now)
        fresh = CachedAnswer(record.to_cache() if usable and record is not None else None, now)
        self._remember_l1(digest, fresh, now)
        if write_back_l2 and self._l2 is not None and self._signer is not None:
            # Whole seconds for Redis, rounded down: never later than the bound. Under one second left
            # (a key about to expire) is not written: Redis refuses EX 0, which would count as a
            # Redis failure against the breaker.
            ttl = int(self._ttl(fresh, self._bound, now))
            if ttl >= 1:
                self._l2.set(auth_entry_key(digest, self._l2_prefix), self._signer.encode(digest, fresh), ttl)
        if record is None:
            return Verdict(Decision.DENY, "source", reason="unknown key")
        return self._judge(record, "source", now)

    def _trusted_l2_answer(self, digest: str, raw: bytes, now: float) -> CachedAnswer | None:
        """The entry's answer if this deployment's authorizers wrote it whole and, for an allow, it is
        younger than the bound; None (a miss, logged and counted) otherwise."""
        assert self._signer is not None
        answer = self._signer.decode(digest, raw, now)
        if answer is None:
            self._observe(metric_names.AUTH_L2_ENTRY_REFUSED, 1, "Count")
            self._warn(
                "Redis cache entry refused: not signed by this deployment's authorizers", reason="unsigned"
            )
            return None
        if not answer.negative and answer.age(now) >= self._bound:
            # Redis kept it past its TTL: a failed delete, a failover, a restore from an old snapshot.
            self._observe(metric_names.AUTH_L2_ENTRY_REFUSED, 1, "Count")
            self._warn(
                "Redis cache entry older than the revocation bound: read again from the keys table",
                reason="stale",
                key_id=(answer.record or {}).get("key_id"),
                age_seconds=round(answer.age(now), 1),
                bound_seconds=self._bound,
            )
            return None
        return answer

    def _remember_l1(
        self, digest: str, answer: CachedAnswer, now: float, l2_remaining: float | None = None
    ) -> None:
        """``l2_remaining``: the seconds Redis still keeps the entry this copy came from (None: from
        the source of truth, or a Redis entry without expiry); the copy never outlives it."""
        ttl = self._ttl(answer, self._l1_ttl, now)
        if l2_remaining is not None:
            ttl = min(ttl, l2_remaining)
        if ttl > 0:
            self._l1.set(digest, answer, ttl)

    def _ttl(self, answer: CachedAnswer, positive_ttl: int, now: float) -> float:
        """How long ``answer`` may still be kept: a negative one for the negative TTL; a positive one
        never past the bound since its table read, nor past the key's own expiry."""
        if answer.record is None:
            return self._negative_ttl
        ttl = min(float(positive_ttl), self._bound - answer.age(now))
        expires_at = answer.record.get("expires_at")
        if expires_at is not None:
            ttl = min(ttl, expires_at - now)
        return max(0.0, ttl)

    def _from_cache(self, answer: CachedAnswer, layer: str, now: float) -> Verdict:
        if answer.record is None:
            return Verdict(Decision.DENY, layer, reason="unknown, revoked or expired key (cached)")
        return self._judge(answer.key_record(), layer, now)

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
    "CachedAnswer",
    "Decision",
    "HttpAuthService",
    "SourceOfTruth",
    "Validator",
    "ValidatorChain",
    "Verdict",
]
