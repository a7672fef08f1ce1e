"""The breaker calls its observer after releasing its lock: an observer may read the breaker."""

from __future__ import annotations

import threading

from hokusai.cache.breaker import BreakerState, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_an_observer_reading_the_breaker_does_not_deadlock_it() -> None:
    """Before: the callback ran under the breaker's (non-reentrant) lock, so reading ``state`` from it
    hung the request forever. Each transition is driven in a thread with a deadline."""
    clock = Clock()
    seen: list[tuple[BreakerState, BreakerState, BreakerState]] = []
    breaker: CircuitBreaker

    def observe(old: BreakerState, new: BreakerState) -> None:
        seen.append((old, new, breaker.state))

    breaker = CircuitBreaker(2, 10, clock=clock, on_state_change=observe)

    def drive() -> None:
        breaker.record_failure()
        breaker.record_failure()  # opens
        clock.now = 10
        assert breaker.allow() is True  # half-open: the probe
        assert breaker.allow() is False  # one probe at a time
        breaker.record_success()  # closes

    worker = threading.Thread(target=drive, daemon=True)
    worker.start()
    worker.join(timeout=5)
    assert not worker.is_alive(), "the observer deadlocked the breaker"
    assert seen == [
        (BreakerState.CLOSED, BreakerState.OPEN, BreakerState.OPEN),
        (BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.HALF_OPEN),
        (BreakerState.HALF_OPEN, BreakerState.CLOSED, BreakerState.CLOSED),
    ]


def test_a_closed_breaker_allows_without_notifying() -> None:
    calls: list[object] = []
    breaker = CircuitBreaker(3, 10, on_state_change=lambda *change: calls.append(change))
    assert [breaker.allow() for _ in range(3)] == [True, True, True]
    breaker.record_success()
    assert calls == []
