"""The health checks: Redis, keys table, model artifact, configuration.

Each check is built from its dependencies (clients passed in, so tests give it real servers) and
bounds its own I/O by the deadline it receives. None of them imports scikit-learn: the model check
asks whether the artifact is *reachable* (the EFS file exists or S3 answers HeadObject), it never
loads it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hokusai.aws import SecretUnreadable
from hokusai.cache.redis_cache import CacheOutcome, RedisCache
from hokusai.health.runner import HealthCheck, Probe, error_text, safe_reason

if TYPE_CHECKING:
    from botocore.client import BaseClient

REDIS = "redis"
KEYS_TABLE = "keys_table"
MODEL = "model"
CONFIGURATION = "configuration"


def _remaining_ms(deadline: float) -> float:
    return max(0.0, (deadline - time.monotonic()) * 1000)


def _aws_error(error: Exception) -> str:
    """botocore ClientError -> "Code: message"; anything else -> class name and message (the log)."""
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        details = response.get("Error", {})
        code = details.get("Code", type(error).__name__)
        message = str(details.get("Message", "")).splitlines()[0] if details.get("Message") else ""
        return f"{code}: {message}"[:300] if message else str(code)
    return error_text(error)


def _aws_kind(error: Exception) -> str:
    """The kind of an AWS failure, safe to show: the error code (``ResourceNotFoundException``,
    ``404``) or the exception class (``ConnectTimeoutError``), never the message (it names resources)."""
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code") or type(error).__name__)[:100]
    return safe_reason(error)


# --------------------------------------------------------------------------------------------------
# Redis: the same client settings, budgets and breaker as the authorizer (non-critical: degraded)
# --------------------------------------------------------------------------------------------------


class RedisProbe:
    """PING through :class:`RedisCache`, so health sees exactly what the authorizer sees.

    The cache is built on first use, in the check's own thread: when Redis needs an auth token from
    Secrets Manager, fetching it counts against the deadline instead of blocking the answer.
    """

    def __init__(self, cache_factory: Callable[[], RedisCache | None]) -> None:
        self._cache_factory = cache_factory
        self._cache: RedisCache | None = None
        self._built = False

    def warm(self) -> None:
        """Build the client now (Lambda init phase): redis-py's import alone costs ~150 ms, which
        would otherwise land on the first request. A failure here is retried by the first check."""
        try:
            self._ensure_built()
        except Exception:  # the check reports it, with its reason, on the first request
            return

    def _ensure_built(self) -> None:
        if not self._built:
            self._cache = self._cache_factory()
            self._built = True

    def __call__(self, deadline: float) -> Probe:
        try:
            self._ensure_built()
        except SecretUnreadable as error:  # its reason is an AWS error code or "empty", never the ARN
            return Probe.unhealthy(f"Redis auth token secret {error.reason}", error_text(error))
        cache = self._cache
        if cache is None or not cache.enabled:
            return Probe.skipped("REDIS_URL not set: no L2 cache configured")
        result = cache.ping()
        if result.outcome is CacheOutcome.HIT:
            return Probe.healthy()
        if result.outcome is CacheOutcome.SKIPPED:
            return Probe.unhealthy(
                "circuit breaker open after repeated failures; Redis is skipped until the cool-down ends"
            )
        return Probe.unhealthy(f"PING failed: {result.error} after {result.elapsed_ms:.0f} ms")


def redis_check(probe: RedisProbe) -> HealthCheck:
    return HealthCheck(REDIS, critical=False, run=probe)


# --------------------------------------------------------------------------------------------------
# Keys table: DescribeTable with a bounded client (critical: no table, no authentication)
# --------------------------------------------------------------------------------------------------

SERVING_TABLE_STATES = {"ACTIVE", "UPDATING"}


def keys_table_check(dynamodb: BaseClient, table_name: str) -> HealthCheck:
    def run(deadline: float) -> Probe:
        try:
            table = dynamodb.describe_table(TableName=table_name)["Table"]
        except Exception as error:
            return Probe.unhealthy(
                f"DescribeTable failed: {_aws_kind(error)}", f"{table_name}: {_aws_error(error)}"
            )
        state = table.get("TableStatus", "UNKNOWN")
        if state not in SERVING_TABLE_STATES:
            return Probe.unhealthy(f"table is {state}", f"table {table_name} is {state}")
        return Probe.healthy()

    return HealthCheck(KEYS_TABLE, critical=True, run=run)


# --------------------------------------------------------------------------------------------------
# Model artifact: EFS file exists, else S3 HeadObject (critical: no model, no predictions)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArtifactLocation:
    model_id: str
    efs_path: str | None  # None: no EFS cache configured
    s3_bucket: str | None  # None: no S3 cache configured
    s3_key: str | None


def model_artifact_check(locations: Sequence[ArtifactLocation], s3: BaseClient | None) -> HealthCheck:
    """Every registered model must be reachable in a cache the predict function reads.

    A model that is only on the Hub counts as unavailable: production must not need the Hub at
    request time (docs/models.md), and a Hub download would not fit a cold start anyway.
    """

    def run(deadline: float) -> Probe:
        if not locations:
            return Probe.skipped("MODEL_REGISTRY not set: no model to check")
        found: list[str] = []
        for location in locations:
            layer, problem, detail = _locate(location, s3)
            if layer is None:
                return Probe.unhealthy(f"model {location.model_id}: {problem}", detail)
            found.append(f"{location.model_id}@{layer}")
        return Probe.healthy("; ".join(found))

    return HealthCheck(MODEL, critical=True, run=run)


def _locate(location: ArtifactLocation, s3: BaseClient | None) -> tuple[str | None, str, str | None]:
    """(layer, public problem, logged detail): the problem names the layer and the kind of failure,
    the detail adds the path, bucket, key and error message."""
    problems: list[str] = []
    details: list[str] = []
    if location.efs_path is not None:
        # os.path.isfile on a hung NFS mount blocks: that is why every check has its own thread.
        if os.path.isfile(location.efs_path):
            return "efs", "", None
        problems.append("not on EFS")
        details.append(f"not on EFS ({location.efs_path})")
    if location.s3_bucket is not None and location.s3_key is not None and s3 is not None:
        try:
            s3.head_object(Bucket=location.s3_bucket, Key=location.s3_key)
            return "s3", "", None
        except Exception as error:
            problems.append(f"S3 HeadObject failed: {_aws_kind(error)}")
            details.append(f"S3 HeadObject s3://{location.s3_bucket}/{location.s3_key}: {_aws_error(error)}")
    if not problems:
        return None, "neither MODEL_CACHE_DIR nor MODEL_BUCKET is configured", None
    return None, "; ".join(problems), "; ".join(details)


# --------------------------------------------------------------------------------------------------
# Configuration: settings loaded at start-up, registry entries complete (critical)
# --------------------------------------------------------------------------------------------------


def configuration_check(problem: str | None) -> HealthCheck:
    """``problem`` is decided once at start-up (settings are validated then, never per request)."""

    def run(deadline: float) -> Probe:
        if problem is not None:
            return Probe.unhealthy(problem)
        return Probe.healthy()

    return HealthCheck(CONFIGURATION, critical=True, run=run)


def skipped_check(name: str, critical: bool, reason: str) -> HealthCheck:
    """A check that could not be built (its settings are invalid): reported, never run."""

    def run(deadline: float) -> Probe:
        return Probe.skipped(reason)

    return HealthCheck(name, critical=critical, run=run)
