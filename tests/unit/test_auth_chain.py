"""The validator chain's rules, with in-memory parts (the real Redis/DynamoDB runs are integration tests).

The revocation bound (``AUTH_REVOCATION_BOUND_SECONDS``, 10 s here as deployed): no cached allow is
trusted longer than that after its keys-table read, in L1 or L2, whatever Redis holds; Redis entries
are signed, and anything that does not verify is a miss, never an allow.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
from hokusai.auth import chain as chain_module
from hokusai.auth.chain import Decision, ValidatorChain, Verdict
from hokusai.auth.entries import CachedAnswer, EntrySigner
from hokusai.cache.breaker import BreakerState, CircuitBreaker
from hokusai.cache.redis_cache import RedisCache, auth_entry_key
from hokusai.cache.ttl import TTLCache
from hokusai.keys import store
from hokusai.keys.format import generate_key, key_digest
from hokusai.keys.store import KeyRecord, StoreUnavailable

NOW = 1_800_000_000.0
BOUND = 10
SIGNING_KEY = b"k" * 32
SIGNER = EntrySigner(SIGNING_KEY)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


class Source:
    def __init__(self) -> None:
        self.records: dict[str, KeyRecord] = {}
        self.down = False
        self.calls = 0

    def get(self, digest: str) -> KeyRecord | None:
        self.calls += 1
        if self.down:
            raise StoreUnavailable("EndpointConnectionError")
        return self.records.get(digest)


class FakePipeline:
    """GET + PTTL queued and sent as one round trip (``get+pttl`` in the calls)."""

    def __init__(self, redis: FakeRedis) -> None:
        self._redis = redis
        self._commands: list[tuple[str, str]] = []

    def get(self, key: str) -> None:
        self._commands.append(("get", key))

    def pttl(self, key: str) -> None:
        self._commands.append(("pttl", key))

    def execute(self) -> list[Any]:
        self._redis._check("+".join(name for name, _ in self._commands))
        return [
            (self._redis.value(key) if name == "get" else self._redis.remaining_ms(key))
            for name, key in self._commands
        ]


class FakeRedis:
    """The commands RedisCache uses; ``fail`` makes every command raise like a timeout.

    ``data`` holds (value, EX seconds); the remaining TTL PTTL reports is ``pttl_ms[key]`` when set
    (a copy written earlier by another container), else the full EX.
    """

    def __init__(self) -> None:
        self.data: dict[str, tuple[bytes, int]] = {}
        self.pttl_ms: dict[str, int] = {}
        self.fail = False
        self.calls: list[str] = []

    def pipeline(self, transaction: bool = True) -> FakePipeline:
        assert transaction is False  # no MULTI/EXEC: one plain round trip
        return FakePipeline(self)

    def value(self, key: str) -> bytes | None:
        entry = self.data.get(key)
        return entry[0] if entry else None

    def remaining_ms(self, key: str) -> int:
        if key not in self.data:
            return -2
        return self.pttl_ms.get(key, self.data[key][1] * 1000)

    def _check(self, name: str) -> None:
        self.calls.append(name)
        if self.fail:
            raise TimeoutError("Timeout reading from socket")

    def get(self, key: str) -> bytes | None:
        self._check("get")
        entry = self.data.get(key)
        return entry[0] if entry else None

    def set(self, key: str, value: bytes, ex: int) -> bool:
        self._check("set")
        self.data[key] = (value, ex)
        return True

    def delete(self, key: str) -> int:
        self._check("delete")
        return 1 if self.data.pop(key, None) else 0


class Harness:
    def __init__(
        self,
        l1_ttl: int | None = None,
        negative_ttl: int = 30,
        bound: int = BOUND,
        signer: EntrySigner | None = SIGNER,
        prefix: str | None = None,
    ) -> None:
        self.clock = Clock()
        self.source = Source()
        self.redis = FakeRedis()
        self.observed: list[tuple[str, float, str]] = []
        self.warnings: list[tuple[str, dict[str, Any]]] = []
        self.cache = RedisCache(self.redis, CircuitBreaker(3, 10))  # type: ignore[arg-type]
        self.chain = ValidatorChain(
            self.source,
            l1=TTLCache(100, clock=self.clock),
            l2=self.cache,
            signer=signer,
            revocation_bound_seconds=bound,
            l1_ttl_seconds=l1_ttl,
            negative_ttl_seconds=negative_ttl,
            observe=lambda name, value, unit: self.observed.append((name, value, unit)),
            warn=lambda message, **fields: self.warnings.append((message, fields)),
            clock=self.clock,
            **({} if prefix is None else {"l2_prefix": prefix}),
        )

    @property
    def metrics(self) -> list[str]:
        return [name for name, _, _ in self.observed]

    def counts(self) -> list[tuple[str, float, str]]:
        """Everything observed but the latency (its value varies)."""
        return [item for item in self.observed if item[0] != "AuthValidatorLatency"]

    def add(self, models: tuple[str, ...] = ("21",), **fields: Any) -> str:
        key = generate_key()
        self.source.records[key_digest(key)] = KeyRecord(key_id="key_x", user_id="u", models=models, **fields)
        return key_digest(key)

    def entry(self, digest: str) -> CachedAnswer | None:
        return SIGNER.decode(digest, self.redis.data[auth_entry_key(digest)][0], self.clock.now)

    def put(self, digest: str, raw: bytes, ttl: int = 300) -> None:
        self.redis.data[auth_entry_key(digest)] = (raw, ttl)


@pytest.fixture
def h() -> Harness:
    return Harness()


# The chain judges expiry on its own clock (NOW here). KeyRecord falls back to the wall clock when
# given no time: pinned far past NOW, so a judgement made on it instead shows (an expiring key would
# be refused).
WALL_CLOCK = 4_000_000_000.0


@pytest.fixture(autouse=True)
def _wall_clock_far_from_the_chains(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "time", SimpleNamespace(time=lambda: WALL_CLOCK))


def _signed(digest: str, record: dict[str, Any] | None, checked_at: float) -> bytes:
    return SIGNER.encode(digest, CachedAnswer(record, checked_at))


def _record(**changes: Any) -> dict[str, Any]:
    return {
        "key_id": "key_x",
        "user_id": "u",
        "models": ["21"],
        "status": "active",
        "expires_at": None,
        "usage_key_value": "",
        **changes,
    }


# ------------------------------------------------------------------------------------------- layers
def test_source_then_l1_then_l2_layers(h: Harness) -> None:
    digest = h.add()
    assert (h.chain.validate(digest).layer, h.chain.validate(digest).layer) == ("source", "l1")
    assert h.source.calls == 1
    raw, ttl = h.redis.data[auth_entry_key(digest)]
    assert ttl == BOUND  # Redis drops it when the bound is reached
    assert raw.startswith(b"v1.")
    assert h.entry(digest) == CachedAnswer(_record(), NOW)
    # A second container (empty L1) sharing the same Redis.
    other = Harness()
    other.redis.data = h.redis.data
    verdict = other.chain.validate(digest)
    assert verdict.decision is Decision.ALLOW and verdict.layer == "l2" and other.source.calls == 0
    assert other.counts() == [("AuthCacheHitL2", 1, "Count"), ("AuthAllowed", 1, "Count")]
    assert h.counts() == [
        ("AuthSourceLookup", 1, "Count"),
        ("AuthAllowed", 1, "Count"),
        ("AuthCacheHitL1", 1, "Count"),
        ("AuthAllowed", 1, "Count"),
    ]
    latencies = [item for item in h.observed if item[0] == "AuthValidatorLatency"]
    assert len(latencies) == 2 and all(unit == "Milliseconds" and value >= 0 for _, value, unit in latencies)


def test_unknown_key_is_cached_negative_briefly(h: Harness) -> None:
    digest = key_digest(generate_key())
    assert h.chain.validate(digest).decision is Decision.DENY
    assert h.chain.validate(digest).decision is Decision.DENY
    assert h.source.calls == 1
    assert h.redis.data[auth_entry_key(digest)][1] == 30
    assert h.entry(digest) == CachedAnswer(None, NOW)
    assert h.counts()[:2] == [("AuthSourceLookup", 1, "Count"), ("AuthDenied", 1, "Count")]
    h.clock.now += 29.9
    h.chain.validate(digest)
    assert h.source.calls == 1  # still the L1 copy
    h.clock.now += 0.2
    h.redis.data.clear()  # Redis expired its copy too (EX 30)
    h.chain.validate(digest)
    assert h.source.calls == 2


def test_failed_l2_read_skips_write_back(h: Harness) -> None:
    digest = h.add()
    h.redis.fail = True
    assert h.chain.validate(digest).decision is Decision.ALLOW
    assert h.redis.calls == ["get+pttl"]  # one Redis call per request at most
    assert "RedisBreakerOpen" not in h.metrics  # an error is not a skip


def test_breaker_open_skips_redis_and_is_counted_once_per_skip(h: Harness) -> None:
    h.redis.fail = True
    for _ in range(3):
        h.chain.validate(key_digest(generate_key()))
    assert "RedisBreakerOpen" not in h.metrics  # three errors, no skip yet
    calls = len(h.redis.calls)
    h.chain.validate(key_digest(generate_key()))
    assert len(h.redis.calls) == calls
    assert [item for item in h.observed if item[0] == "RedisBreakerOpen"] == [
        ("RedisBreakerOpen", 1, "Count")
    ]


def test_cache_ttl_capped_by_expiry_and_expiry_checked_on_hits(h: Harness) -> None:
    digest = h.add(expires_at=int(NOW) + 8)
    assert h.chain.validate(digest).decision is Decision.ALLOW
    assert h.redis.data[auth_entry_key(digest)][1] == 8
    h.clock.now += 8
    verdict = h.chain.validate(digest)
    assert verdict.decision is Decision.DENY


def test_a_key_with_under_a_second_left_is_not_written_to_redis(h: Harness) -> None:
    """Redis refuses EX 0 ("invalid expire time"): writing it would count a Redis failure against the
    breaker. The allow is still answered (and kept in L1 for what is left)."""
    digest = h.add(expires_at=int(NOW) + 1)
    h.clock.now = NOW + 0.5
    assert h.chain.validate(digest).decision is Decision.ALLOW
    assert "set" not in h.redis.calls and auth_entry_key(digest) not in h.redis.data
    assert h.chain.validate(digest).layer == "l1"


def test_expired_entry_in_l2_is_refused_even_if_redis_kept_it(h: Harness) -> None:
    digest = key_digest(generate_key())
    h.put(digest, _signed(digest, _record(key_id="key_y", expires_at=int(NOW) - 1), NOW - 1))
    verdict = h.chain.validate(digest)
    assert verdict.decision is Decision.DENY and verdict.reason == "expired key" and verdict.layer == "l2"


@pytest.mark.parametrize("status", ["revoked", "unexpected"])
def test_non_active_records_are_denied_and_cached_negative(h: Harness, status: str) -> None:
    digest = h.add(status=status)
    verdict = h.chain.validate(digest)
    assert verdict.decision is Decision.DENY and verdict.reason == "revoked key"
    assert h.entry(digest) == CachedAnswer(None, NOW)


def test_source_down_cold_is_unavailable_warm_is_allowed_within_the_bound(h: Harness) -> None:
    warm = h.add()
    h.chain.validate(warm)
    h.source.down = True
    assert h.chain.validate(warm).decision is Decision.ALLOW
    cold = h.add()
    verdict = h.chain.validate(cold)
    assert verdict.decision is Decision.UNAVAILABLE and not verdict.allowed
    assert ("AuthorizerFailure", 1, "Count") in h.observed
    # Past the bound even a warm key needs the table: a cached allow is never trusted longer.
    h.clock.now += BOUND
    h.redis.data.clear()
    assert h.chain.validate(warm).decision is Decision.UNAVAILABLE


# ------------------------------------------------------------------------------- L1 and the bound
def test_l1_copy_lasts_the_bound_from_the_table_read(h: Harness) -> None:
    digest = h.add()
    assert h.chain.validate(digest).layer == "source"
    h.clock.now += BOUND - 0.1
    assert h.chain.validate(digest).layer == "l1"
    h.clock.now += 0.1
    h.redis.data.clear()
    assert h.chain.validate(digest).layer == "source"


def test_l1_copy_of_an_l2_hit_lasts_only_what_is_left_of_the_bound(h: Harness) -> None:
    digest = h.add()
    h.put(digest, _signed(digest, _record(), NOW - 7), ttl=300)
    h.redis.pttl_ms[auth_entry_key(digest)] = 250_000  # Redis would keep it longer: irrelevant
    assert h.chain.validate(digest).layer == "l2"
    h.clock.now += 2.9
    assert h.chain.validate(digest).layer == "l1"
    h.clock.now += 0.1  # 10 s since the table read
    del h.redis.data[auth_entry_key(digest)]
    assert h.chain.validate(digest).layer == "source"


def test_l1_copy_of_an_l2_hit_never_outlives_the_redis_entry(h: Harness) -> None:
    digest = h.add()
    h.put(digest, _signed(digest, _record(), NOW))
    h.redis.pttl_ms[auth_entry_key(digest)] = 2_500  # deleted sooner than the bound
    assert h.chain.validate(digest).layer == "l2"
    h.clock.now += 2
    assert h.chain.validate(digest).layer == "l1"
    h.clock.now += 1
    assert h.chain.validate(digest).layer == "l2"


def test_entry_gone_between_get_and_pttl_is_served_but_not_kept_in_l1(h: Harness) -> None:
    digest = h.add()
    h.put(digest, _signed(digest, _record(), NOW))
    h.redis.pttl_ms[auth_entry_key(digest)] = -2
    assert h.chain.validate(digest).layer == "l2"
    assert h.chain.validate(digest).layer == "l2"  # nothing was kept in L1


def test_l1_ttl_zero_keeps_nothing_in_process() -> None:
    h = Harness(l1_ttl=0)
    digest = h.add()
    assert [h.chain.validate(digest).layer for _ in range(2)] == ["source", "l2"]


def test_a_shorter_l1_ttl_is_kept_and_a_longer_one_refused() -> None:
    h = Harness(l1_ttl=3)
    digest = h.add()
    h.chain.validate(digest)
    h.clock.now += 2.9
    assert h.chain.validate(digest).layer == "l1"
    h.clock.now += 0.1
    assert h.chain.validate(digest).layer == "l2"
    with pytest.raises(ValueError, match="between 0 and revocation_bound_seconds"):
        Harness(l1_ttl=BOUND + 1)
    with pytest.raises(ValueError, match="must be positive"):
        Harness(bound=0)


# ------------------------------------------------------------------- revocation, whatever Redis does
def test_revoked_key_refused_at_the_bound_though_its_redis_entry_survived(h: Harness) -> None:
    """The revocation stream's delete failed (Redis paused past its retries): the entry is still in
    Redis, yet no authorizer accepts the key once the bound has passed since the entry's table read."""
    digest = h.add()
    assert h.chain.validate(digest).decision is Decision.ALLOW
    h.source.records[digest] = KeyRecord(key_id="key_x", user_id="u", models=("21",), status="revoked")
    h.clock.now += BOUND - 1
    assert h.chain.validate(digest).decision is Decision.ALLOW  # within the bound
    h.clock.now += 1
    # Redis kept the entry (its EX has not been honoured: a restore, a paused server, a failover).
    h.redis.pttl_ms[auth_entry_key(digest)] = 250_000
    other = Harness()
    other.clock.now = h.clock.now
    other.redis.data = h.redis.data
    other.source.records = h.source.records
    other_first = other.chain.validate(digest)  # empty L1: reads the surviving entry, too old
    assert other_first.decision is Decision.DENY and other_first.layer == "source"
    assert other.warnings[0][1]["reason"] == "stale"
    verdict = h.chain.validate(digest)  # L1 copy lapsed at the bound; Redis now says negative
    assert verdict.decision is Decision.DENY and verdict.layer == "l2"


def test_an_allow_restored_from_an_old_snapshot_is_stale_logged_and_replaced(h: Harness) -> None:
    digest = h.add(status="revoked")
    h.put(digest, _signed(digest, _record(), NOW - 3600))
    verdict = h.chain.validate(digest)
    assert verdict.decision is Decision.DENY and verdict.layer == "source"
    assert h.counts()[0] == ("AuthL2EntryRefused", 1, "Count")
    assert h.warnings == [
        (
            "Redis cache entry older than the revocation bound: read again from the keys table",
            {"reason": "stale", "key_id": "key_x", "age_seconds": 3600.0, "bound_seconds": BOUND},
        )
    ]
    assert h.entry(digest) == CachedAnswer(None, NOW)  # overwritten with what the table says now


def test_an_old_negative_entry_still_denies_without_a_table_read(h: Harness) -> None:
    digest = key_digest(generate_key())
    h.put(digest, _signed(digest, None, NOW - 3600), ttl=30)
    verdict = h.chain.validate(digest)
    assert verdict.decision is Decision.DENY and verdict.layer == "l2" and h.source.calls == 0


# ------------------------------------------------------------------------ entries nobody signed
FORGED = {
    "old unsigned format": lambda d: json.dumps(_record()).encode(),
    "garbage": lambda d: b"{not json",
    "another signing key": lambda d: EntrySigner(b"z" * 32).encode(d, CachedAnswer(_record(), NOW)),
    "another key's entry": lambda d: _signed("0" * 64, _record(), NOW),
    "another version": lambda d: b"v2" + _signed(d, _record(), NOW)[2:],
    "payload changed after signing": lambda d: _signed(d, _record(), NOW).replace(b'"u"', b'"v"'),
}


@pytest.mark.parametrize("forge", sorted(FORGED))
def test_an_entry_that_does_not_verify_is_a_miss_counted_logged_and_overwritten(
    h: Harness, forge: str
) -> None:
    digest = h.add(status="revoked")  # the table says no: a forged allow must not say yes
    h.put(digest, FORGED[forge](digest))
    verdict = h.chain.validate(digest)
    assert verdict.decision is Decision.DENY and verdict.layer == "source"
    assert h.counts()[0] == ("AuthL2EntryRefused", 1, "Count")
    assert h.warnings == [
        ("Redis cache entry refused: not signed by this deployment's authorizers", {"reason": "unsigned"})
    ]
    assert h.entry(digest) == CachedAnswer(None, NOW)


# ------------------------------------------------------------------------- verdicts and metrics
def test_every_verdict_is_exact(h: Harness) -> None:
    """decision, layer, record and reason, for each way a key is judged."""
    cached_negative = "unknown, revoked or expired key (cached)"
    unknown = key_digest(generate_key())
    assert h.chain.validate(unknown) == Verdict(Decision.DENY, "source", None, "unknown key")
    assert h.chain.validate(unknown) == Verdict(Decision.DENY, "l1", None, cached_negative)

    allowed = h.add(expires_at=int(NOW) + 8, usage_key_value="v" * 20)
    record = h.source.records[allowed]
    assert h.chain.validate(allowed) == Verdict(Decision.ALLOW, "source", record, "")
    assert h.chain.validate(allowed) == Verdict(Decision.ALLOW, "l1", record, "")

    revoked = h.add(status="revoked")
    assert h.chain.validate(revoked) == Verdict(
        Decision.DENY, "source", h.source.records[revoked], "revoked key"
    )
    expired = h.add(expires_at=int(NOW))
    assert h.chain.validate(expired) == Verdict(
        Decision.DENY, "source", h.source.records[expired], "expired key"
    )
    assert h.chain.validate(expired) == Verdict(Decision.DENY, "l1", None, cached_negative)

    other = Harness()  # a second container sharing the Redis entries
    other.redis.data = h.redis.data
    assert other.chain.validate(unknown) == Verdict(Decision.DENY, "l2", None, cached_negative)
    assert other.chain.validate(allowed) == Verdict(Decision.ALLOW, "l2", record, "")
    assert other.chain.validate(revoked) == Verdict(Decision.DENY, "l2", None, cached_negative)
    assert other.source.calls == 0

    h.source.down = True
    cold = h.add()
    assert h.chain.validate(cold) == Verdict(
        Decision.UNAVAILABLE, "none", None, "source unavailable: EndpointConnectionError"
    )


def test_a_revoked_or_expired_record_in_redis_is_judged_with_its_record(h: Harness) -> None:
    digest = key_digest(generate_key())
    h.put(digest, _signed(digest, _record(status="revoked"), NOW))
    assert h.chain.validate(digest) == Verdict(
        Decision.DENY,
        "l2",
        KeyRecord(key_id="key_x", user_id="u", models=("21",), status="revoked"),
        "revoked key",
    )
    digest = key_digest(generate_key())
    h.put(digest, _signed(digest, _record(expires_at=int(NOW)), NOW - 1))
    assert h.chain.validate(digest) == Verdict(
        Decision.DENY,
        "l2",
        KeyRecord(key_id="key_x", user_id="u", models=("21",), expires_at=int(NOW)),
        "expired key",
    )


def test_expiry_is_judged_on_the_chains_clock_in_every_layer(h: Harness) -> None:
    """The wall clock (WALL_CLOCK) says the key has long expired; the chain's clock says 8 s left."""
    digest = h.add(expires_at=int(NOW) + 8)
    assert [h.chain.validate(digest).decision for _ in range(2)] == [Decision.ALLOW, Decision.ALLOW]
    assert h.entry(digest) == CachedAnswer(_record(expires_at=int(NOW) + 8), NOW)  # a positive entry
    other = Harness()
    other.redis.data = h.redis.data
    assert other.chain.validate(digest).decision is Decision.ALLOW
    h.clock.now += 8
    assert h.chain.validate(digest).decision is Decision.DENY


def test_each_path_observes_exact_metric_names_values_and_units(h: Harness) -> None:
    unknown = key_digest(generate_key())
    h.chain.validate(unknown)
    h.chain.validate(unknown)
    assert h.counts() == [
        ("AuthSourceLookup", 1, "Count"),
        ("AuthDenied", 1, "Count"),
        ("AuthCacheHitL1", 1, "Count"),
        ("AuthDenied", 1, "Count"),
    ]
    h.observed.clear()
    h.source.down = True
    h.chain.validate(h.add())
    assert h.counts() == [("AuthorizerFailure", 1, "Count")]  # no lookup counted: it failed
    h.observed.clear()
    h.source.down = False
    forged = h.add()
    h.put(forged, b"v1.forged.{}")
    h.chain.validate(forged)
    assert h.counts() == [
        ("AuthL2EntryRefused", 1, "Count"),
        ("AuthSourceLookup", 1, "Count"),
        ("AuthAllowed", 1, "Count"),
    ]


def test_the_latency_is_observed_in_milliseconds(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    ticks = iter([8.0, 8.0078125])  # 1/128 s apart: exact in binary
    monkeypatch.setattr(chain_module, "time", SimpleNamespace(perf_counter=lambda: next(ticks)))
    h.chain.validate(key_digest(generate_key()))
    assert h.observed[-2] == ("AuthValidatorLatency", 7.8125, "Milliseconds")


def test_a_stale_entry_is_logged_with_its_age_to_a_tenth_of_a_second(h: Harness) -> None:
    digest = h.add()
    h.put(digest, _signed(digest, _record(), NOW - 3600.26))
    h.chain.validate(digest)
    assert h.warnings[0][1]["age_seconds"] == 3600.3


# ------------------------------------------------------------------------- no signer, no L2
def test_without_a_signing_key_redis_is_neither_read_nor_written() -> None:
    h = Harness(signer=None)
    assert h.chain.l2 is None
    digest = h.add()
    h.put(digest, _signed(digest, _record(status="revoked"), NOW))  # would deny if it were read
    assert h.chain.validate(digest) == Verdict(Decision.ALLOW, "source", h.source.records[digest], "")
    assert h.chain.validate(digest).layer == "l1"
    assert h.redis.calls == []
    assert h.chain.revocation_bound_seconds == BOUND


def test_a_disabled_l2_is_not_called(h: Harness) -> None:
    disabled = RedisCache(None, CircuitBreaker(1, 10))
    chain = ValidatorChain(
        h.source,
        l1=TTLCache(10),
        l2=disabled,
        signer=SIGNER,
        revocation_bound_seconds=10,
        negative_ttl_seconds=30,
    )
    digest = h.add()
    assert chain.validate(digest).layer == "source"
    assert chain.l2 is disabled and disabled.breaker.state is BreakerState.CLOSED


# ----------------------------------------------------------------------------- the settings
def test_a_bound_of_one_second_is_accepted_and_the_refusals_are_exact() -> None:
    h = Harness(bound=1)
    digest = h.add()
    h.chain.validate(digest)
    assert h.redis.data[auth_entry_key(digest)][1] == 1
    with pytest.raises(ValueError, match=r"^revocation_bound_seconds must be positive$"):
        Harness(bound=-1)
    with pytest.raises(ValueError, match=r"^l1_ttl_seconds must be between 0 and revocation_bound_seconds$"):
        Harness(l1_ttl=-1)
    assert Harness(l1_ttl=BOUND).chain.revocation_bound_seconds == BOUND


def test_entries_live_under_the_stacks_prefix() -> None:
    h = Harness(prefix="stack-b:")
    digest = h.add()
    h.chain.validate(digest)
    assert list(h.redis.data) == [auth_entry_key(digest, "stack-b:")] == [f"stack-b:auth:v1:{digest}"]
    other = Harness(prefix="stack-b:")
    other.redis.data = h.redis.data
    assert other.chain.validate(digest).layer == "l2"
    # Another stack's entry (the default prefix) is not this one's.
    third = Harness()
    third.redis.data = h.redis.data
    assert third.chain.validate(digest).layer == "source"


# ------------------------------------------------------------------------- TTLs, to the second
def test_a_negative_ttl_of_zero_caches_nothing() -> None:
    h = Harness(negative_ttl=0)
    digest = key_digest(generate_key())
    assert [h.chain.validate(digest).layer for _ in range(2)] == ["source", "source"]
    assert h.redis.data == {} and h.redis.calls == ["get+pttl", "get+pttl"]


@pytest.mark.parametrize(("left", "ex"), [(1, 1), (2, 2), (9, 9)])
def test_a_key_near_its_expiry_is_kept_in_redis_until_then(left: int, ex: int) -> None:
    h = Harness()
    digest = h.add(expires_at=int(NOW) + left)
    h.chain.validate(digest)
    assert h.redis.data[auth_entry_key(digest)][1] == ex


def test_an_l1_copy_of_a_redis_entry_lasts_what_redis_has_left_to_the_millisecond(h: Harness) -> None:
    digest = h.add()
    h.put(digest, _signed(digest, _record(), NOW))
    h.redis.pttl_ms[auth_entry_key(digest)] = 2_500
    assert h.chain.validate(digest).layer == "l2"
    h.clock.now += 2.499
    assert h.chain.validate(digest).layer == "l1"
    h.clock.now += 0.001
    assert h.chain.validate(digest).layer == "l2"


def test_less_than_a_second_left_in_redis_is_still_kept_in_l1(h: Harness) -> None:
    digest = h.add()
    h.put(digest, _signed(digest, _record(), NOW))
    h.redis.pttl_ms[auth_entry_key(digest)] = 800
    assert h.chain.validate(digest).layer == "l2"
    h.clock.now += 0.5
    assert h.chain.validate(digest).layer == "l1"


def test_a_redis_entry_without_expiry_is_kept_in_l1_until_the_bound(h: Harness) -> None:
    digest = h.add()
    h.put(digest, _signed(digest, _record(), NOW - 4))
    h.redis.pttl_ms[auth_entry_key(digest)] = -1  # PTTL -1: no expiry (written by hand, say)
    assert h.chain.validate(digest).layer == "l2"
    h.clock.now += 5.9
    assert h.chain.validate(digest).layer == "l1"
    h.clock.now += 0.1  # 10 s since the table read: too old, in L1 and in Redis
    assert h.chain.validate(digest).layer == "source"
