"""Run health checks concurrently and answer by one deadline, whatever the checks do.

Why threads that are never joined (docs/incidents.md section 2): the seed's ``/health`` pinged Redis
synchronously and took ~2 s, so the load balancer marked healthy targets unhealthy. Here each check
runs in its own daemon thread; the caller waits for all of them *at most* until the deadline and
reports any that has not answered as ``timeout``. A stuck check keeps its thread, but nobody waits
for it: the answer goes out on time, and the next request does not start a second copy of a check
that is still stuck (it is reported as ``timeout`` at once), so stuck threads cannot pile up.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, wait
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


class CheckStatus(enum.Enum):
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    TIMEOUT = "timeout"  # no answer by the deadline
    SKIPPED = "skipped"  # not configured or not applicable: neither good nor bad news

    @property
    def ok(self) -> bool:
        return self in {CheckStatus.HEALTHY, CheckStatus.SKIPPED}


class OverallStatus(enum.Enum):
    HEALTHY = "healthy"  # 200
    DEGRADED = "degraded"  # 200: serving, a non-critical dependency (Redis) is failing
    UNHEALTHY = "unhealthy"  # 503: cannot serve (keys table, model or configuration)

    @property
    def http_status(self) -> int:
        return 503 if self is OverallStatus.UNHEALTHY else 200


@dataclass(frozen=True)
class Probe:
    """What a check function returns: its verdict and, when not healthy, why.

    ``reason`` is public (unauthenticated ``/health``): it names the operation and the kind of
    failure (``PING failed: TimeoutError after 50 ms``), never a host, port, path, bucket or table.
    ``detail`` is the exception text, for the WARNING log line only.
    """

    status: CheckStatus
    reason: str | None = None
    detail: str | None = None

    @classmethod
    def healthy(cls, reason: str | None = None) -> Probe:
        return cls(CheckStatus.HEALTHY, reason)

    @classmethod
    def unhealthy(cls, reason: str, detail: str | None = None) -> Probe:
        return cls(CheckStatus.UNHEALTHY, reason, detail)

    @classmethod
    def skipped(cls, reason: str) -> Probe:
        return cls(CheckStatus.SKIPPED, reason)


# A check receives the absolute deadline (time.monotonic() seconds) so it can bound its own I/O.
CheckFunction = Callable[[float], Probe]


@dataclass(frozen=True)
class HealthCheck:
    name: str
    critical: bool  # failing critical check -> unhealthy (503); non-critical -> degraded (200)
    run: CheckFunction


@dataclass(frozen=True)
class CheckResult:
    name: str
    critical: bool
    status: CheckStatus
    duration_ms: float
    reason: str | None = None
    detail: str | None = None  # logged, never in the answer

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status.value, "duration_ms": round(self.duration_ms, 1), "reason": self.reason}


@dataclass(frozen=True)
class HealthReport:
    status: OverallStatus
    checks: dict[str, CheckResult]
    deadline_ms: int
    elapsed_ms: float
    version: str
    timestamp: str

    @property
    def http_status(self) -> int:
        return self.status.http_status

    @property
    def failing(self) -> list[str]:
        return [name for name, result in self.checks.items() if not result.status.ok]

    @property
    def details(self) -> dict[str, str]:
        """The failing checks' exception texts: for the WARNING log line, never for the answer."""
        return {name: result.detail for name, result in self.checks.items() if result.detail}

    def body(self) -> dict[str, Any]:
        """The old shape dashboards read (status, version, services, timestamp) plus checks and deadline."""
        return {
            "status": self.status.value,
            "version": self.version,
            "services": {name: result.status.value for name, result in self.checks.items()},
            "checks": {name: result.as_dict() for name, result in self.checks.items()},
            "deadline_ms": self.deadline_ms,
            "timestamp": self.timestamp,
        }


def overall_status(results: Iterable[CheckResult]) -> OverallStatus:
    status = OverallStatus.HEALTHY
    for result in results:
        if result.status.ok:
            continue
        if result.critical:
            return OverallStatus.UNHEALTHY
        status = OverallStatus.DEGRADED
    return status


def safe_reason(error: BaseException) -> str:
    """An exception as a public reason: its kind (the class name) only. The message can name hosts,
    ports, paths and resources (``Error 111 connecting to 10.0.3.7:6379``); it goes to
    :func:`error_text`, i.e. the log."""
    return type(error).__name__


def error_text(error: BaseException) -> str:
    """An exception for the WARNING log: the class name and the first line of the message, bounded.

    Check errors come from AWS and Redis clients, whose messages name resources, never API keys;
    the key-masking log filter still applies to the log line.
    """
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    text = f"{type(error).__name__}: {message}" if message else type(error).__name__
    return text[:300]


class HealthRunner:
    def __init__(
        self,
        checks: Iterable[HealthCheck],
        deadline_ms: int,
        version: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.checks = tuple(checks)
        names = [check.name for check in self.checks]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate health check names: {names}")
        self.deadline_ms = deadline_ms
        self.version = version
        self._clock = clock
        self._lock = threading.Lock()
        self._in_flight: dict[str, tuple[float, Future[CheckResult]]] = {}

    def run(self) -> HealthReport:
        started = self._clock()
        deadline = started + self.deadline_ms / 1000
        results: dict[str, CheckResult] = {}
        pending: dict[str, Future[CheckResult]] = {}
        for check in self.checks:
            with self._lock:
                previous = self._in_flight.get(check.name)
                if previous is not None and not previous[1].done():
                    stuck_for_ms = (started - previous[0]) * 1000
                    results[check.name] = CheckResult(
                        check.name,
                        check.critical,
                        CheckStatus.TIMEOUT,
                        0.0,
                        f"previous probe still running after {stuck_for_ms:.0f} ms; not started again",
                    )
                    continue
                future: Future[CheckResult] = Future()
                self._in_flight[check.name] = (started, future)
            pending[check.name] = future
            threading.Thread(
                target=self._run_one,
                args=(check, future, deadline),
                name=f"health-{check.name}",
                daemon=True,  # never joined: a stuck check must not hold the answer or the process
            ).start()

        wait(list(pending.values()), timeout=max(0.0, deadline - self._clock()))
        for name, future in pending.items():
            check = next(c for c in self.checks if c.name == name)
            if future.done():
                results[name] = future.result()
            else:
                results[name] = CheckResult(
                    name,
                    check.critical,
                    CheckStatus.TIMEOUT,
                    (self._clock() - started) * 1000,
                    f"no answer within the {self.deadline_ms} ms deadline",
                )
        ordered = {check.name: results[check.name] for check in self.checks}
        return HealthReport(
            status=overall_status(ordered.values()),
            checks=ordered,
            deadline_ms=self.deadline_ms,
            elapsed_ms=(self._clock() - started) * 1000,
            version=self.version,
            timestamp=datetime.now(UTC).isoformat(),
        )

    def _run_one(self, check: HealthCheck, future: Future[CheckResult], deadline: float) -> None:
        started = self._clock()
        try:
            probe = check.run(deadline)
        except Exception as error:  # a check that raises is an unhealthy dependency, never a 500
            probe = Probe.unhealthy(f"{check.name} check failed: {safe_reason(error)}", error_text(error))
        duration_ms = (self._clock() - started) * 1000
        future.set_result(
            CheckResult(check.name, check.critical, probe.status, duration_ms, probe.reason, probe.detail)
        )
