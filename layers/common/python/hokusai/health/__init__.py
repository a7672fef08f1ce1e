"""Deadline-bounded health checks: every dependency probed concurrently, one answer in time."""

from hokusai.health.runner import (
    CheckResult,
    CheckStatus,
    HealthCheck,
    HealthReport,
    HealthRunner,
    OverallStatus,
    Probe,
)

__all__ = [
    "CheckResult",
    "CheckStatus",
    "HealthCheck",
    "HealthReport",
    "HealthRunner",
    "OverallStatus",
    "Probe",
]
