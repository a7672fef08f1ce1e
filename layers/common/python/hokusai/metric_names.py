"""Every CloudWatch metric the functions publish and the stacks alarm on or graph, named once.

The functions publish with Powertools (EMF) in the deployment's :func:`namespace`, with the dimension
:data:`SERVICE_DIMENSION` = :func:`service` (``<prefix>-<function>``); ``stacks/monitoring_stack.py``
builds its alarms and dashboard from the same constants, so an alarm cannot watch a name nobody
publishes. Names made per check, kind or status are functions (or tables) here, for the same reason.

No imports: the authorizer loads this module on its cold path.
"""

NAMESPACE = "Hokusai"
SERVICE_DIMENSION = "service"  # Powertools' dimension, from POWERTOOLS_SERVICE_NAME
DEFAULT_PREFIX = "hokusai"  # cdk.json's ``prefix``: the deployment's name


def namespace(prefix: str) -> str:
    """The deployment's namespace: two deployments (``prefix``) in one account and region never share
    a metric, so staging's errors cannot feed production's alarms or roll back its release. The
    default deployment keeps ``Hokusai`` (its alarms' and dashboards' history stays where it is)."""
    return NAMESPACE if prefix == DEFAULT_PREFIX else f"{NAMESPACE}/{prefix}"


def service(prefix: str, function: str) -> str:
    """The ``service`` dimension (POWERTOOLS_SERVICE_NAME) of ``function`` in deployment ``prefix``."""
    return f"{prefix}-{function}"


VERSION_DIMENSION = "ExecutedVersion"  # the function version that answered (Lambda's own name for it)

# ------------------------------------------------------------------------ every released function
# AWS's own: the age of the oldest record a stream event source mapping still retries (milliseconds),
# namespace AWS/Lambda, dimension FunctionName (the revocation function's stalled-stream alarm).
LAMBDA_NAMESPACE = "AWS/Lambda"
LAMBDA_ITERATOR_AGE = "IteratorAge"

# 1 per 5xx answer, with SERVICE_DIMENSION and VERSION_DIMENSION: the rollout's alarms watch only the
# version being deployed (stacks/rollout.py), which no service-wide metric can tell apart.
SERVER_ERRORS_BY_VERSION = "ServerErrorsByVersion"

# ------------------------------------------------------------------------ authorizer (hokusai.auth)
AUTH_ALLOWED = "AuthAllowed"
AUTH_DENIED = "AuthDenied"
AUTHORIZER_FAILURE = "AuthorizerFailure"  # 1 per 503 answer: key store unreachable, nothing cached
AUTH_MALFORMED = "AuthMalformed"
AUTH_CACHE_HIT_L1 = "AuthCacheHitL1"
AUTH_CACHE_HIT_L2 = "AuthCacheHitL2"
# 1 per Redis entry refused: unsigned, mistyped, or an allow older than the revocation bound.
AUTH_L2_ENTRY_REFUSED = "AuthL2EntryRefused"
AUTH_SOURCE_LOOKUP = "AuthSourceLookup"
AUTH_VALIDATOR_LATENCY = "AuthValidatorLatency"
REDIS_BREAKER_OPEN = "RedisBreakerOpen"  # 1 per request that skipped Redis, breaker open (alarmed)
REDIS_BREAKER_OPENED = "RedisBreakerOpened"  # 1 per transition to open (not the same metric)
REDIS_BREAKER_STATE_CHANGE = "RedisBreakerStateChange"
REDIS_TIMEOUT = "RedisTimeout"
REDIS_ERROR = "RedisError"
REDIS_AUTH_TOKEN_UNAVAILABLE = "RedisAuthTokenUnavailable"  # noqa: S105 - a metric name, no secret
AUTH_CACHE_KEY_UNAVAILABLE = "AuthCacheKeyUnavailable"  # the L2 signing key: no L2 without it
# Not published by code: the monitoring stack's metric filter on the authorizer's ERROR log lines.
AUTHORIZER_ERROR_LOGS = "AuthorizerErrorLogs"

# ------------------------------------------------------------------------ predict
PREDICTIONS = "Predictions"
MODEL_UNAVAILABLE = "ModelUnavailable"

# ------------------------------------------------------------------------ health (hokusai.health)
HEALTH_HEALTHY = "HealthHealthy"
HEALTH_DEGRADED = "HealthDegraded"
HEALTH_UNHEALTHY = "HealthUnhealthy"
# By hokusai.health.runner.OverallStatus value: 1 for the answer's status, 0 for the others.
HEALTH_STATUS = {"healthy": HEALTH_HEALTHY, "degraded": HEALTH_DEGRADED, "unhealthy": HEALTH_UNHEALTHY}
HEALTH_LATENCY = "HealthLatency"
HEALTH_CHECK_TIMEOUTS = "HealthCheckTimeouts"


def health_check(check: str) -> str:
    """``HealthCheck<Check>`` 1/0 per check (``check`` in CamelCase: ``Redis``, ``KeysTable``)."""
    return f"HealthCheck{check}"


def health_check_duration(check: str) -> str:
    return f"HealthCheck{check}Duration"


# ------------------------------------------------------------------------ canary (hokusai.drift)
# By hokusai.drift.synthetic check name.
SYNTHETIC_SUCCESS = {
    "health": "SyntheticHealthSuccess",
    "predict": "SyntheticPredictSuccess",
    "unauthenticated": "SyntheticUnauthenticatedSuccess",
}
SYNTHETIC_LATENCY = {
    "health": "SyntheticHealthLatency",
    "predict": "SyntheticPredictLatency",
    "unauthenticated": "SyntheticUnauthenticatedLatency",
}
DRIFT_CRITICAL = "DriftCritical"
DRIFT_WARNING = "DriftWarning"
CANARY_RUN_DURATION = "CanaryRunDuration"  # every run: its absence is the heartbeat alarm
CANARY_ALERT_PUBLISH_FAILED = "CanaryAlertPublishFailed"


def drift_kind(kind: str) -> str:
    """``Drift<Kind>`` per finding kind (``hokusai.drift.findings.Kind`` value, e.g. ``sg_rule_missing``
    -> ``DriftSGRuleMissing``)."""
    return "Drift" + "".join(part.title() for part in kind.split("_")).replace("Sg", "SG")
