from __future__ import annotations

import pytest
from hokusai.cache.breaker import BreakerState, CircuitBreaker


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_threshold_consecutive_failures() -> None:
    breaker = CircuitBreaker(3, 10, clock=FakeClock())
    for _ in range(2):
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()


def test_success_resets_the_failure_count() -> None:
    breaker = CircuitBreaker(2, 10, clock=FakeClock())
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED


def test_half_open_lets_exactly_one_probe_through() -> None:
    clock = FakeClock()
    transitions: list[tuple[BreakerState, BreakerState]] = []
    breaker = CircuitBreaker(1, 5, clock=clock, on_state_change=lambda a, b: transitions.append((a, b)))
    breaker.record_failure()
    clock.now = 4.9
    assert not breaker.allow()
    clock.now = 5.0
    assert breaker.allow()  # the probe
    assert breaker.state is BreakerState.HALF_OPEN
    assert not breaker.allow()  # concurrent callers skip while the probe is out
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert transitions == [
        (BreakerState.CLOSED, BreakerState.OPEN),
        (BreakerState.OPEN, BreakerState.HALF_OPEN),
        (BreakerState.HALF_OPEN, BreakerState.CLOSED),
    ]


def test_failed_probe_reopens_for_a_full_cooldown() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(1, 5, clock=clock)
    breaker.record_failure()
    clock.now = 6
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    clock.now = 10.9
    assert not breaker.allow()
    clock.now = 11.0
    assert breaker.allow()


class Changes:
    def __init__(self) -> None:
        self.seen: list[tuple[BreakerState, BreakerState]] = []

    def __call__(self, old: BreakerState, new: BreakerState) -> None:
        self.seen.append((old, new))


def _internals(breaker: CircuitBreaker) -> dict[str, object]:
    """Everything the breaker remembers between calls (not its lock, clock or callback)."""
    return {
        name: value
        for name, value in vars(breaker).items()
        if name not in {"_lock", "_clock", "_on_state_change"}
    }


@pytest.mark.parametrize(
    ("threshold", "cooldown", "message"),
    [
        (0, 10, "failure_threshold must be positive"),
        (-1, 10, "failure_threshold must be positive"),
        (1, 0, "cooldown_seconds must be positive"),
        (1, -0.5, "cooldown_seconds must be positive"),
    ],
)
def test_the_threshold_and_the_cooldown_must_be_positive(
    threshold: int, cooldown: float, message: str
) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        CircuitBreaker(threshold, cooldown)


@pytest.mark.parametrize("cooldown", [0.5, 1])
def test_a_cooldown_under_two_seconds_is_kept_exactly(cooldown: float) -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(1, cooldown, clock=clock)
    assert (breaker.failure_threshold, breaker.cooldown_seconds) == (1, cooldown)
    breaker.record_failure()
    clock.now = cooldown - 0.01
    assert not breaker.allow()
    clock.now = cooldown
    assert breaker.allow()


def test_a_threshold_of_one_opens_at_the_first_failure() -> None:
    changes = Changes()
    breaker = CircuitBreaker(1, 10, clock=FakeClock(), on_state_change=changes)
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert changes.seen == [(BreakerState.CLOSED, BreakerState.OPEN)]


def test_every_transition_is_reported_once_and_nothing_else_is() -> None:
    clock = FakeClock()
    changes = Changes()
    breaker = CircuitBreaker(2, 10, clock=clock, on_state_change=changes)
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert changes.seen == []  # never two in a row
    breaker.record_failure()  # opens at 0
    clock.now = 9.99
    assert [breaker.allow() for _ in range(3)] == [False, False, False]  # skips: no transition
    clock.now = 10
    assert [breaker.allow() for _ in range(3)] == [True, False, False]  # one probe
    breaker.record_failure()  # the probe failed: open again, from 10
    clock.now = 19.99
    assert not breaker.allow()
    clock.now = 20
    assert breaker.allow()
    breaker.record_success()
    assert [breaker.allow() for _ in range(3)] == [True, True, True]
    assert changes.seen == [
        (BreakerState.CLOSED, BreakerState.OPEN),
        (BreakerState.OPEN, BreakerState.HALF_OPEN),
        (BreakerState.HALF_OPEN, BreakerState.OPEN),
        (BreakerState.OPEN, BreakerState.HALF_OPEN),
        (BreakerState.HALF_OPEN, BreakerState.CLOSED),
    ]


def test_a_late_failure_while_open_does_not_extend_the_cooldown() -> None:
    """A call let through before the breaker opened may fail after it did: the breaker stays open
    from the first opening, and says nothing."""
    clock = FakeClock()
    changes = Changes()
    breaker = CircuitBreaker(1, 10, clock=clock, on_state_change=changes)
    breaker.record_failure()
    clock.now = 6
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    clock.now = 10
    assert breaker.allow()
    assert changes.seen == [
        (BreakerState.CLOSED, BreakerState.OPEN),
        (BreakerState.OPEN, BreakerState.HALF_OPEN),
    ]


def test_a_late_success_while_open_closes_it() -> None:
    clock = FakeClock()
    changes = Changes()
    breaker = CircuitBreaker(1, 10, clock=clock, on_state_change=changes)
    breaker.record_failure()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert [breaker.allow() for _ in range(2)] == [True, True]
    assert changes.seen == [
        (BreakerState.CLOSED, BreakerState.OPEN),
        (BreakerState.OPEN, BreakerState.CLOSED),
    ]


def test_failures_count_again_from_zero_once_closed() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(3, 10, clock=clock)
    for _ in range(3):
        breaker.record_failure()
    clock.now = 10
    assert breaker.allow()
    breaker.record_success()
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN


def test_reset_puts_the_breaker_back_exactly_as_built() -> None:
    """SnapStart restore (``reset``): closed, no failure counted, no probe in flight, no opening time
    from the snapshot's clock, and no notification."""
    clock = FakeClock()
    changes = Changes()
    fresh = CircuitBreaker(2, 10, clock=clock)
    breaker = CircuitBreaker(2, 10, clock=clock, on_state_change=changes)
    assert _internals(breaker) == _internals(fresh)
    clock.now = 3
    breaker.record_failure()
    breaker.record_failure()  # open at 3
    clock.now = 13
    assert breaker.allow()  # half-open, the probe out
    seen = list(changes.seen)
    breaker.reset()
    assert _internals(breaker) == _internals(fresh)
    assert changes.seen == seen
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED  # one failure since the reset, threshold two


def test_a_recovered_breaker_is_a_closed_one_with_nothing_left_over() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(1, 10, clock=clock)
    clock.now = 3
    breaker.record_failure()
    clock.now = 13
    assert breaker.allow()
    breaker.record_success()
    left = _internals(breaker)
    assert left.pop("_opened_at") == 3  # when it last opened: read again only after the next opening
    expected = _internals(CircuitBreaker(1, 10, clock=clock))
    expected.pop("_opened_at")
    assert left == expected
