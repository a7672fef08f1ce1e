"""L1 (``hokusai.cache.ttl.TTLCache``): entries expire at their TTL on the cache's clock, and a full
cache evicts its oldest entry first."""

from __future__ import annotations

import pytest
from hokusai.cache.ttl import TTLCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_an_entry_lives_until_its_ttl_and_not_a_moment_longer(clock: Clock) -> None:
    cache: TTLCache[str] = TTLCache(10, clock=clock)
    cache.set("a", "A", 1)
    assert cache.get("a") == "A" and len(cache) == 1
    clock.now += 0.999
    assert cache.get("a") == "A"
    clock.now += 0.001  # exactly at the expiry: gone, and dropped from the cache
    assert cache.get("a") is None
    assert len(cache) == 0


def test_a_fractional_ttl_is_kept(clock: Clock) -> None:
    cache: TTLCache[str] = TTLCache(10, clock=clock)
    cache.set("a", "A", 0.25)
    clock.now += 0.2
    assert cache.get("a") == "A"
    clock.now += 0.05
    assert cache.get("a") is None


@pytest.mark.parametrize("ttl", [0, -1, -0.5])
def test_a_ttl_of_zero_or_less_stores_nothing_and_evicts_nothing(clock: Clock, ttl: float) -> None:
    cache: TTLCache[str] = TTLCache(1, clock=clock)
    cache.set("old", "O", 5)
    cache.set("a", "A", ttl)
    assert len(cache) == 1
    assert cache.get("a") is None
    assert cache.get("old") == "O"


def test_setting_again_replaces_the_value_and_restarts_the_ttl(clock: Clock) -> None:
    cache: TTLCache[str] = TTLCache(10, clock=clock)
    cache.set("a", "A", 5)
    clock.now += 4
    cache.set("a", "A2", 5)
    clock.now += 4
    assert cache.get("a") == "A2" and len(cache) == 1


def test_a_full_cache_evicts_its_oldest_entry(clock: Clock) -> None:
    cache: TTLCache[str] = TTLCache(2, clock=clock)
    cache.set("a", "A", 60)
    cache.set("b", "B", 60)
    assert (cache.get("a"), cache.get("b"), len(cache)) == ("A", "B", 2)  # at capacity: both kept
    cache.set("c", "C", 60)
    assert len(cache) == 2
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (None, "B", "C")
    cache.set("d", "D", 60)
    assert (cache.get("b"), cache.get("c"), cache.get("d")) == (None, "C", "D")


def test_oldest_means_least_recently_set_not_least_recently_read(clock: Clock) -> None:
    cache: TTLCache[str] = TTLCache(2, clock=clock)
    cache.set("a", "A", 60)
    cache.set("b", "B", 60)
    cache.set("a", "A2", 60)  # set again: now the newest
    assert cache.get("b") == "B"  # a read does not make it newer
    cache.set("c", "C", 60)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == ("A2", None, "C")


def test_one_entry_cache_keeps_the_last_one(clock: Clock) -> None:
    cache: TTLCache[str] = TTLCache(1, clock=clock)
    cache.set("a", "A", 60)
    assert cache.get("a") == "A"
    cache.set("b", "B", 60)
    assert (cache.get("a"), cache.get("b"), len(cache)) == (None, "B", 1)


def test_a_flood_of_distinct_keys_never_grows_it_past_its_bound(clock: Clock) -> None:
    cache: TTLCache[int] = TTLCache(100, clock=clock)
    for i in range(1000):
        cache.set(f"k{i}", i, 60)
    assert len(cache) == 100
    assert cache.get("k899") is None and cache.get("k900") == 900 and cache.get("k999") == 999


def test_delete_and_clear(clock: Clock) -> None:
    cache: TTLCache[str] = TTLCache(10, clock=clock)
    cache.set("a", "A", 60)
    cache.set("b", "B", 60)
    cache.delete("a")
    assert (cache.get("a"), cache.get("b"), len(cache)) == (None, "B", 1)
    cache.delete("a")  # already gone: nothing happens
    cache.delete("never-set")
    assert len(cache) == 1
    cache.clear()
    assert (cache.get("b"), len(cache)) == (None, 0)


def test_a_key_never_set_is_a_miss(clock: Clock) -> None:
    cache: TTLCache[str] = TTLCache(10, clock=clock)
    assert cache.get("missing") is None and len(cache) == 0


@pytest.mark.parametrize("max_entries", [0, -1])
def test_the_bound_must_be_positive(max_entries: int) -> None:
    with pytest.raises(ValueError, match=r"^max_entries must be positive$"):
        TTLCache(max_entries)
    assert len(TTLCache(1)) == 0
