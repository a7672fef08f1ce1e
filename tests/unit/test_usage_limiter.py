"""local.usage_plans.UsageLimiter: API Gateway's per-key token bucket and daily quota."""

from __future__ import annotations

from local.usage_plans import UsageLimiter
from stacks.settings import UsagePlan


def limiter(plan: UsagePlan, now: list[float], day: list[str]) -> UsageLimiter:
    return UsageLimiter(
        {plan.name: plan},
        plan_of=lambda value: plan.name if value == "on-plan" else None,
        clock=lambda: now[0],
        today=lambda: day[0],
    )


def test_burst_then_the_steady_rate() -> None:
    now, day = [0.0], ["2026-12-03"]
    limits = limiter(UsagePlan("p", rate_limit=2, burst_limit=3, quota_per_day=1000), now, day)
    assert [limits.check("on-plan") for _ in range(4)] == [None, None, None, "THROTTLED"]
    now[0] = 0.5  # one token back at 2 per second
    assert [limits.check("on-plan") for _ in range(2)] == [None, "THROTTLED"]
    now[0] = 100.0  # refilled to the burst, never beyond
    assert [limits.check("on-plan") for _ in range(4)] == [None, None, None, "THROTTLED"]


def test_daily_quota_until_the_next_utc_day() -> None:
    now, day = [0.0], ["2026-12-03"]
    limits = limiter(UsagePlan("p", rate_limit=100, burst_limit=100, quota_per_day=2), now, day)
    assert [limits.check("on-plan") for _ in range(3)] == [None, None, "QUOTA_EXCEEDED"]
    day[0] = "2026-12-04"
    assert limits.check("on-plan") is None


def test_no_usage_key_or_a_key_on_no_plan_is_not_limited() -> None:
    now, day = [0.0], ["2026-12-03"]
    limits = limiter(UsagePlan("p", rate_limit=1, burst_limit=1, quota_per_day=1), now, day)
    assert [limits.check(None) for _ in range(3)] == [None, None, None]
    assert [limits.check("elsewhere") for _ in range(3)] == [None, None, None]
