"""Per-key limits in the local stack: the usage plans the stack declares, in moto and enforced.

The plans are cdk.json's (``usagePlans``, parsed by :func:`stacks.settings.usage_plans`, the very
parser synth uses), created in moto as ``<prefix>-<plan>`` so that ``hokusai keys create --plan``
works against the local stack as against a deployment. :class:`UsageLimiter` is what API Gateway does
with the authorizer's ``usageIdentifierKey``: a token bucket per usage key (``rateLimit`` tokens per
second, at most ``burstLimit``) and a count per UTC day (``quotaPerDay``), answered THROTTLED or
QUOTA_EXCEEDED (the declared 429 gateway responses, with ``Retry-After``).

Not emulated: API Gateway's 403 for an authorized method answered without a usage key (a key made
before usage plans); here such a request passes unlimited.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stacks.settings import UsagePlan, usage_plans

ROOT = Path(__file__).resolve().parents[1]


def declared(root: Path = ROOT) -> tuple[str, dict[str, UsagePlan], str]:
    """cdk.json's ``prefix``, ``usagePlans`` and ``defaultPlan``, validated as synth validates them."""
    context = json.loads((root / "cdk.json").read_text())["context"]
    plans = usage_plans(context.get("usagePlans"))
    return (
        str(context.get("prefix") or "hokusai"),
        plans,
        str(context.get("defaultPlan") or next(iter(plans))),
    )


def create_plans(apigateway: Any, prefix: str, plans: Mapping[str, UsagePlan]) -> dict[str, str]:
    """The plans in moto, named and limited as the stack declares them: plan name -> usage plan id."""
    return {
        plan.name: str(
            apigateway.create_usage_plan(
                name=plan.deployed_name(prefix),
                throttle={"rateLimit": plan.rate_limit, "burstLimit": plan.burst_limit},
                quota={"limit": plan.quota_per_day, "period": "DAY"},
            )["id"]
        )
        for plan in plans.values()
    }


@dataclass
class _Bucket:
    tokens: float
    updated: float
    day: str = ""
    used_today: int = 0


@dataclass
class UsageLimiter:
    """``check(usage key value)`` -> None (go on), ``"THROTTLED"`` or ``"QUOTA_EXCEEDED"``.

    ``plan_of`` maps a usage key's value to its plan name (None: on no plan of ours)."""

    plans: Mapping[str, UsagePlan]
    plan_of: Callable[[str], str | None]
    clock: Callable[[], float] = time.monotonic
    today: Callable[[], str] = lambda: datetime.now(UTC).date().isoformat()
    _buckets: dict[str, _Bucket] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, usage_key: object) -> str | None:
        if not isinstance(usage_key, str) or not usage_key:
            return None
        name = self.plan_of(usage_key)
        plan = self.plans.get(name) if name else None
        if plan is None:
            return None
        now, day = self.clock(), self.today()
        with self._lock:
            bucket = self._buckets.setdefault(usage_key, _Bucket(tokens=plan.burst_limit, updated=now))
            bucket.tokens = min(plan.burst_limit, bucket.tokens + (now - bucket.updated) * plan.rate_limit)
            bucket.updated = now
            if bucket.day != day:
                bucket.day, bucket.used_today = day, 0
            if bucket.used_today >= plan.quota_per_day:
                return "QUOTA_EXCEEDED"
            if bucket.tokens < 1:
                return "THROTTLED"
            bucket.tokens -= 1
            bucket.used_today += 1
            return None


class MotoPlanKeys:
    """Usage key value -> plan name, from moto's usage plan keys (re-read on an unknown value)."""

    def __init__(self, apigateway: Any, plan_ids: Mapping[str, str]) -> None:
        self._apigateway = apigateway
        self._plan_ids = dict(plan_ids)
        self._plans: dict[str, str] = {}
        self._lock = threading.Lock()
        self._last_read = -math.inf

    def __call__(self, value: str) -> str | None:
        with self._lock:
            if value not in self._plans and time.monotonic() - self._last_read > 0.05:
                self._read()
            return self._plans.get(value)

    def _read(self) -> None:
        live = {
            str(key["id"]) for key in self._apigateway.get_api_keys(limit=500).get("items", [])
        }  # moto keeps a deleted key on its plan: only keys that still exist count
        plans: dict[str, str] = {}
        for name, plan_id in self._plan_ids.items():
            for key in self._apigateway.get_usage_plan_keys(usagePlanId=plan_id, limit=500).get("items", []):
                if str(key["id"]) in live and key.get("value"):
                    plans[str(key["value"])] = name
        self._plans = plans
        self._last_read = time.monotonic()
