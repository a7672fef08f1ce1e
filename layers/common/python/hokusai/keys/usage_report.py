"""``hokusai keys usage KEY_ID [--days N]``: a key's requests per day against its plan's quota.

The numbers are API Gateway's own usage records (``GetUsage``) of the key's companion API Gateway key
on its usage plan (hokusai.keys.usage): one ``[used, remaining]`` pair per day from ``startDate``
to ``endDate``, dates in UTC, the quota's own period (``DAY`` for the plans cdk.json declares). A
key on no plan has no records: :func:`read_usage` is not called for it (``KeyOnNoPlan``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

from hokusai.keys.store import KeyRecord
from hokusai.keys.usage import deployed_plan_name

MAX_DAYS = 90
DEFAULT_DAYS = 7


class KeyOnNoPlan(LookupError):
    """The key has no companion key on a usage plan; the message says how to put it on one."""

    def __init__(self, record: KeyRecord) -> None:
        super().__init__(
            f"key_id {record.key_id} (user {record.user_id}) is on no usage plan: API Gateway keeps no "
            f"usage records for it (and, where plans are enforced, refuses it 403). Put it on one with: "
            f"hokusai keys set-plan {record.key_id} --plan <plan>"
        )


@dataclass(frozen=True)
class DayUsage:
    date: str  # YYYY-MM-DD, UTC
    requests: int
    remaining: int | None  # of the quota's period, as API Gateway counts it; None: not reported


@dataclass(frozen=True)
class UsageReport:
    key_id: str
    user_id: str
    plan: str
    usage_plan: str  # the deployed plan's name, <prefix>-<plan>
    usage_plan_id: str
    quota_limit: int | None  # None: the plan has no quota
    quota_period: str | None  # DAY, WEEK or MONTH
    rate_limit: float | None
    burst_limit: int | None
    days: tuple[DayUsage, ...]

    @property
    def total(self) -> int:
        return sum(day.requests for day in self.days)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "days": [asdict(day) for day in self.days], "total": self.total}


def read_usage(
    apigateway: Any, record: KeyRecord, prefix: str, plan_id: str, *, days: int, today: date
) -> UsageReport:
    """The last ``days`` days up to ``today`` (UTC), both included; a day without a record is 0."""
    if not record.usage_key_id or not record.plan:
        raise KeyOnNoPlan(record)
    plan = apigateway.get_usage_plan(usagePlanId=plan_id)
    start = today - timedelta(days=days - 1)
    rows: list[Any] = []
    position: str | None = None
    while True:
        arguments: dict[str, Any] = {
            "usagePlanId": plan_id,
            "keyId": record.usage_key_id,
            "startDate": start.isoformat(),
            "endDate": today.isoformat(),
        }
        if position:
            arguments["position"] = position
        answer = apigateway.get_usage(**arguments)
        rows.extend(answer.get("items", {}).get(record.usage_key_id, []))
        position = answer.get("position")
        if not position:
            break
    quota = plan.get("quota") or {}
    throttle = plan.get("throttle") or {}
    return UsageReport(
        key_id=record.key_id,
        user_id=record.user_id,
        plan=record.plan,
        usage_plan=str(plan.get("name") or deployed_plan_name(prefix, record.plan)),
        usage_plan_id=plan_id,
        quota_limit=int(quota["limit"]) if "limit" in quota else None,
        quota_period=str(quota["period"]) if "period" in quota else None,
        rate_limit=float(throttle["rateLimit"]) if "rateLimit" in throttle else None,
        burst_limit=int(throttle["burstLimit"]) if "burstLimit" in throttle else None,
        days=tuple(_day(start + timedelta(days=i), rows[i] if i < len(rows) else None) for i in range(days)),
    )


def _day(day: date, row: Any) -> DayUsage:
    if not isinstance(row, list | tuple) or not row:
        return DayUsage(day.isoformat(), 0, None)
    remaining = int(row[1]) if len(row) > 1 and row[1] is not None else None
    return DayUsage(day.isoformat(), int(row[0]), remaining)


def render(report: UsageReport) -> list[str]:
    """The report as lines for a terminal: one per day, then the total."""
    if report.quota_limit is not None:
        quota = f"quota {report.quota_limit} requests per {report.quota_period}"
    else:
        quota = "no quota"
    limits = (
        f"rate {report.rate_limit:g}/s, burst {report.burst_limit}" if report.rate_limit else "no rate limit"
    )
    lines = [
        f"key_id {report.key_id} (user {report.user_id}), plan {report.plan} "
        f"({report.usage_plan}, id {report.usage_plan_id}): {quota}; {limits}",
        f"{'DATE (UTC)':12} {'REQUESTS':>9} {'REMAINING':>10} {'OF QUOTA':>9}",
    ]
    for day in report.days:
        remaining = "-" if day.remaining is None else str(day.remaining)
        share = f"{100 * day.requests / report.quota_limit:.1f}%" if report.quota_limit else "-"
        lines.append(f"{day.date:12} {day.requests:>9} {remaining:>10} {share:>9}")
    lines.append(f"total {report.total} requests in {len(report.days)} days (API Gateway's usage records)")
    return lines
