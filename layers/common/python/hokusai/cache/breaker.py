"""A circuit breaker for the L2 cache.

closed: every call goes through; ``failure_threshold`` consecutive failures open it.
open: calls are skipped (cost: one clock read) until ``cooldown_seconds`` have passed.
half-open: exactly one probe call is let through; success closes, failure re-opens for another
cool-down. Concurrent callers during the probe are skipped, so a dead Redis is paid for at most once
per cool-down per container.

``on_state_change`` is called after the breaker's lock is released: a callback may read the breaker
(or log, or publish a metric that takes its own lock) without deadlocking it.
"""

from __future__ import annotations

import enum
import threading
import time
import weakref
from collections.abc import Callable

from hokusai import snapstart


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(
        self,
        failure_threshold: int,
        cooldown_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        on_state_change: Callable[[BreakerState, BreakerState], None] | None = None,
    ) -> None:
        if failure_threshold <= 0:
            raise ValueError("failure_threshold must be positive")
        if cooldown_seconds <= 0:
            raise ValueError("cooldown_seconds must be positive")
        self.failure_threshold = failure_threshold
        self.cooldown_seconds = cooldown_seconds
        self._clock = clock
        self._on_state_change = on_state_change
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._consecutive_failures = 0
        self._opened_at = 0.0
        self._probe_in_flight = False
        _breakers.add(self)

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state

    def allow(self) -> bool:
        """May a call go through now? In half-open state only one caller gets True."""
        change = None
        with self._lock:
            allowed = True
            if self._state is BreakerState.OPEN:
                if self._clock() - self._opened_at < self.cooldown_seconds:
                    return False
                change = self._transition(BreakerState.HALF_OPEN)
            if self._state is BreakerState.HALF_OPEN:
                allowed = not self._probe_in_flight
                self._probe_in_flight = True
        self._notify(change)
        return allowed

    def record_success(self) -> None:
        change = None
        with self._lock:
            self._consecutive_failures = 0
            self._probe_in_flight = False
            if self._state is not BreakerState.CLOSED:
                change = self._transition(BreakerState.CLOSED)
        self._notify(change)

    def record_failure(self) -> None:
        change = None
        with self._lock:
            self._probe_in_flight = False
            self._consecutive_failures += 1
            if self._state is BreakerState.HALF_OPEN or (
                self._state is BreakerState.CLOSED and self._consecutive_failures >= self.failure_threshold
            ):
                self._opened_at = self._clock()
                change = self._transition(BreakerState.OPEN)
        self._notify(change)

    def reset(self) -> None:
        """Closed, no failure counted, no probe in flight, without a state-change notification
        (SnapStart restore: ``opened_at`` is on the snapshot's monotonic clock, and the failures were
        the snapshot's, not this copy's; a dead Redis opens it again after ``failure_threshold`` calls)."""
        with self._lock:
            self._state = BreakerState.CLOSED
            self._consecutive_failures = 0
            self._opened_at = 0.0
            self._probe_in_flight = False

    def _transition(self, new_state: BreakerState) -> tuple[BreakerState, BreakerState] | None:
        """Under the lock: the new state, and the change to report once the lock is released."""
        old_state, self._state = self._state, new_state
        return (old_state, new_state) if old_state is not new_state else None

    def _notify(self, change: tuple[BreakerState, BreakerState] | None) -> None:
        if change is not None and self._on_state_change is not None:
            self._on_state_change(*change)


_breakers: weakref.WeakSet[CircuitBreaker] = weakref.WeakSet()


def _reset_breakers() -> None:
    for breaker in list(_breakers):
        breaker.reset()


snapstart.on_restore("cache.breakers", _reset_breakers)
