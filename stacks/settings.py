"""The deployment's settings, read once from CDK context (cdk.json, or ``cdk -c key=value``).

Every value a platform team can change lives in cdk.json's ``context``; this module validates it and
fails synth with one message naming the context key (the same rule as ``hokusai.config`` for the
functions: bad configuration fails once, loudly). Values given with ``-c`` arrive as strings, so
objects and numbers are also accepted as JSON text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

FUNCTIONS = ("authorizer", "predict", "health", "canary", "revocation", "pre_traffic")
# Behind a `live` alias, released by CodeDeploy (hokusai.rollout): the functions clients' requests reach.
RELEASED_FUNCTIONS = ("authorizer", "predict", "health")
DEPLOYMENT_STRATEGIES = ("canary", "linear", "allAtOnce")
COLD_START_MODES = ("none", "snapstart", "provisioned:N")
# The functions that run in the VPC (the canary calls the API from outside, like a client, and the
# pre-traffic hook calls Lambda's API; revocation consumes the keys table's stream to delete revoked
# keys' Redis entries).
VPC_FUNCTIONS = ("authorizer", "predict", "health", "revocation")
ARCHITECTURES = ("arm64", "x86_64")
MODEL_FIELDS = ("repo_id", "revision", "filename", "sha256", "version", "name", "format")
LAYER_ASSETS = ("build", "placeholder")
LAYERS = ("common", "ml", "onnx")


# Context keys that would make a function reach the internet at run time. The functions run in
# isolated subnets (no NAT gateway, no internet gateway) and their security group allows HTTPS only to
# the VPC endpoints and the S3/DynamoDB prefix lists, so neither would work once deployed; they are
# refused here instead of failing on the first request. Adding a NAT and a 0.0.0.0/0:443 egress rule
# would let any code in the functions send data anywhere, which this design rules out.
NEEDS_INTERNET_EGRESS = {
    "hubFallback": (
        "predict has no route to the Hub (isolated subnets, no NAT); stage the model before deploying "
        "with `hokusai models fetch --registry model/registry.json --model <id>`, and the deploy copies "
        "it to the S3 cache (docs/deploy.md)"
    ),
    "authServiceUrl": (
        "the authorizer has no route to an external auth service (isolated subnets, no NAT); keys are "
        "checked against the keys table (`hokusai keys`)"
    ),
}


class ContextError(ValueError):
    """A context value is missing or malformed. The message names the key."""

    def __init__(self, key: str, expected: str, got: Any = None) -> None:
        shown = "" if got is None else f" (got {got!r})"
        super().__init__(f"Invalid CDK context: {key} must be {expected}{shown}")


def _decoded(key: str, value: Any) -> Any:
    """``-c key=value`` gives strings: accept JSON text for objects, lists, numbers and booleans."""
    if isinstance(value, str) and value.strip()[:1] in {"{", "[", "t", "f", "n"} | set("0123456789"):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            if value.strip()[:1] in {"{", "["}:
                raise ContextError(key, "valid JSON", value) from None
    return value


def _or_default(value: Any, default: Any) -> Any:
    """Context value, or the default when unset (0 and "" are values, and get rejected if invalid)."""
    return default if value is None else value


def _int(key: str, value: Any, *, minimum: int, maximum: int | None = None) -> int:
    value = _decoded(key, value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ContextError(key, "an integer", value)
    if value < minimum or (maximum is not None and value > maximum):
        bound = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise ContextError(key, f"an integer {bound}", value)
    return value


def _bool(key: str, value: Any) -> bool:
    value = _decoded(key, value)
    if not isinstance(value, bool):
        raise ContextError(key, "true or false", value)
    return value


def _layer_dirs(value: Any) -> dict[str, str]:
    """Test-/verify-only: other built layer directories (each holding python/ and manifest.json)."""
    key = "hokusai:layerDirs"
    value = _decoded(key, value) or {}
    if not isinstance(value, Mapping) or any(name not in LAYERS for name in value):
        raise ContextError(key, f"an object with keys among {', '.join(LAYERS)}", value)
    for name, directory in value.items():
        if not isinstance(directory, str) or not directory.strip():
            raise ContextError(f"{key}.{name}", "a directory path", directory)
    return {str(name): str(directory) for name, directory in value.items()}


def _per_function_ints(
    key: str, value: Any, *, minimum: int, maximum: int, allow_null: bool = False
) -> dict[str, int | None]:
    value = _decoded(key, value)
    if not isinstance(value, Mapping):
        raise ContextError(key, f"an object with keys {', '.join(FUNCTIONS)}", value)
    unknown = set(value) - set(FUNCTIONS)
    if unknown:
        raise ContextError(key, f"an object with keys among {', '.join(FUNCTIONS)}", sorted(unknown))
    result: dict[str, int | None] = {}
    for name in FUNCTIONS:
        item = value.get(name)
        if item is None:
            if not allow_null:
                raise ContextError(f"{key}.{name}", "set")
            result[name] = None
        else:
            result[name] = _int(f"{key}.{name}", item, minimum=minimum, maximum=maximum)
    return result


def validate_models(value: Any) -> dict[str, dict[str, str]]:
    """The model registry (``model/registry.json``'s shape): id -> the seven agreed fields."""
    value = _decoded("models", value)
    if not isinstance(value, Mapping) or not value:
        raise ContextError("models", "a non-empty object of model id -> registry entry", value)
    models: dict[str, dict[str, str]] = {}
    for model_id, entry in value.items():
        if not re.fullmatch(r"[A-Za-z0-9_-]+", str(model_id)):
            raise ContextError("models", "keyed by model ids (letters, digits, - or _)", model_id)
        if not isinstance(entry, Mapping):
            raise ContextError(f"models.{model_id}", "an object", entry)
        missing = [name for name in MODEL_FIELDS if not entry.get(name)]
        if missing:
            raise ContextError(f"models.{model_id}", f"an entry with {', '.join(missing)}", None)
        models[str(model_id)] = dict(entry)
    return models


@dataclass(frozen=True)
class Alarms:
    latency_p95_ms: int = 1000
    api_5xx_rate_percent: int = 5
    authorizer_failures: int = 1
    breaker_open: int = 1
    canary_failed_runs: int = 2

    @classmethod
    def from_context(cls, value: Any) -> Alarms:
        value = _decoded("alarms", value) or {}
        if not isinstance(value, Mapping):
            raise ContextError("alarms", "an object", value)
        known = {
            "latencyP95Ms": "latency_p95_ms",
            "api5xxRatePercent": "api_5xx_rate_percent",
            "authorizerFailures": "authorizer_failures",
            "breakerOpen": "breaker_open",
            "canaryFailedRuns": "canary_failed_runs",
        }
        unknown = set(value) - set(known)
        if unknown:
            raise ContextError("alarms", f"an object with keys among {', '.join(known)}", sorted(unknown))
        fields = {
            attribute: _int(f"alarms.{key}", value[key], minimum=1)
            for key, attribute in known.items()
            if key in value
        }
        if fields.get("api_5xx_rate_percent", 1) > 100:
            raise ContextError("alarms.api5xxRatePercent", "a percentage (1-100)", value["api5xxRatePercent"])
        return cls(**fields)


PLAN_NAME = re.compile(r"[a-z][a-z0-9-]{0,30}")


@dataclass(frozen=True)
class UsagePlan:
    """One API Gateway usage plan: per-key steady rate and burst (requests/s) and a daily quota.

    Deployed as ``<prefix>-<name>``; ``hokusai keys create --plan <name>`` finds it by that name."""

    name: str
    rate_limit: int
    burst_limit: int
    quota_per_day: int

    def deployed_name(self, prefix: str) -> str:
        return f"{prefix}-{self.name}"


DEFAULT_USAGE_PLANS = {"standard": UsagePlan("standard", 10, 20, 100_000)}


def usage_plans(value: Any) -> dict[str, UsagePlan]:
    """``usagePlans``: plan name -> {rateLimit, burstLimit, quotaPerDay}, all positive integers."""
    key = "usagePlans"
    value = _decoded(key, value)
    if value is None:
        return dict(DEFAULT_USAGE_PLANS)
    if not isinstance(value, Mapping) or not value:
        raise ContextError(
            key, "a non-empty object of plan name -> {rateLimit, burstLimit, quotaPerDay}", value
        )
    fields = ("rateLimit", "burstLimit", "quotaPerDay")
    plans: dict[str, UsagePlan] = {}
    for name, given in value.items():
        if not isinstance(name, str) or not PLAN_NAME.fullmatch(name):
            raise ContextError(key, "keyed by plan names (a-z, digits and -, 1-31 chars)", name)
        entry = _decoded(f"{key}.{name}", given)
        if not isinstance(entry, Mapping) or set(entry) != set(fields):
            raise ContextError(f"{key}.{name}", f"an object with exactly {', '.join(fields)}", entry)
        rate, burst, quota = (_int(f"{key}.{name}.{field}", entry[field], minimum=1) for field in fields)
        if burst < rate:
            raise ContextError(f"{key}.{name}.burstLimit", f"at least rateLimit ({rate})", burst)
        plans[name] = UsagePlan(name, rate, burst, quota)
    return plans


def _limits(get: Callable[[str], Any]) -> tuple[dict[str, UsagePlan], str, int | None]:
    """``usagePlans``, ``defaultPlan`` (one of them) and ``wafRateLimit`` (null: no web ACL)."""
    plans = usage_plans(get("usagePlans"))
    default_plan = str(get("defaultPlan") or next(iter(plans)))
    if default_plan not in plans:
        raise ContextError("defaultPlan", f"one of the usagePlans ({', '.join(plans)})", default_plan)
    waf_limit = get("wafRateLimit")
    # WAF's rate-based rules count requests per IP over 5 minutes, from 10 (RateBasedStatement.Limit).
    waf_rate_limit = (
        None if waf_limit is None else _int("wafRateLimit", waf_limit, minimum=10, maximum=2_000_000_000)
    )
    return plans, default_plan, waf_rate_limit


@dataclass(frozen=True)
class Deployment:
    """Context ``deployment``: how CodeDeploy shifts each released function's ``live`` alias.

    ``canary``: ``percentage`` of traffic for ``intervalMinutes``, then all of it; ``linear``:
    ``percentage`` more every ``intervalMinutes``; ``allAtOnce``: at once (the pre-traffic hook still
    runs first). The default is 10 % for 5 minutes.
    """

    strategy: str = "canary"
    percentage: int = 10
    interval_minutes: int = 5

    @classmethod
    def from_context(cls, value: Any) -> Deployment:
        value = _decoded("deployment", value) or {}
        if not isinstance(value, Mapping):
            raise ContextError("deployment", "an object with strategy, percentage, intervalMinutes", value)
        unknown = sorted(set(value) - {"strategy", "percentage", "intervalMinutes"})
        if unknown:
            expected = "an object with keys among strategy, percentage, intervalMinutes"
            raise ContextError("deployment", expected, unknown)
        strategy = str(value.get("strategy") or "canary")
        if strategy not in DEPLOYMENT_STRATEGIES:
            raise ContextError("deployment.strategy", " or ".join(DEPLOYMENT_STRATEGIES), strategy)
        if strategy == "allAtOnce":
            return cls(strategy, 100, 0)
        return cls(
            strategy,
            _int("deployment.percentage", _or_default(value.get("percentage"), 10), minimum=1, maximum=99),
            # CodeDeploy's time-based routing counts whole minutes, up to 2880.
            _int("deployment.intervalMinutes", _or_default(value.get("intervalMinutes"), 5), minimum=1,
                 maximum=2880),
        )  # fmt: skip


@dataclass(frozen=True)
class ColdStart:
    """One released function's cold-start mode (context ``coldStart``, e.g. ``{"predict": "snapstart"}``).

    ``none``: on-demand containers; ``snapstart``: SnapStart on published versions (init runs at
    publish time, containers restore its snapshot); ``provisioned:N``: N initialised containers kept
    on the ``live`` alias. Modes join with ``+``, so an impossible pair can be written, and is refused
    (:func:`stacks.function.check_cold_start`).
    """

    snapstart: bool = False
    provisioned: int = 0

    @classmethod
    def parse(cls, key: str, value: Any) -> ColdStart:
        text = str(value).strip()
        snapstart, provisioned = False, 0
        for part in text.split("+"):
            mode = part.strip()
            if mode == "none":
                continue
            if mode == "snapstart":
                snapstart = True
            elif re.fullmatch(r"provisioned:\d+", mode):
                provisioned = _int(key, int(mode.split(":", 1)[1]), minimum=1, maximum=10000)
            else:
                raise ContextError(key, "none, snapstart or provisioned:N (N containers)", value)
        return cls(snapstart, provisioned)

    @property
    def mode(self) -> str:
        modes = (["snapstart"] if self.snapstart else []) + (
            [f"provisioned:{self.provisioned}"] if self.provisioned else []
        )
        return "+".join(modes) or "none"


def cold_starts(value: Any) -> dict[str, ColdStart]:
    value = _decoded("coldStart", value) or {}
    if not isinstance(value, Mapping):
        raise ContextError("coldStart", f"an object with keys among {', '.join(RELEASED_FUNCTIONS)}", value)
    unknown = sorted(set(value) - set(RELEASED_FUNCTIONS))
    if unknown:
        expected = f"an object with keys among {', '.join(RELEASED_FUNCTIONS)} (the released functions)"
        raise ContextError("coldStart", expected, unknown)
    return {
        name: ColdStart.parse(f"coldStart.{name}", value.get(name, "none")) for name in RELEASED_FUNCTIONS
    }


@dataclass(frozen=True)
class CustomDomain:
    """Context ``domainName`` + ``certificateArn`` (+ ``hostedZoneId`` for the alias record): the
    seed's clients keep ``https://<domain>/api/v1/...`` (base path ``api`` mapped to the stage)."""

    domain_name: str
    certificate_arn: str
    hosted_zone_id: str | None = None


_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_ACM_ARN = re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]{36}$")


def custom_domain(get: Callable[[str], Any]) -> CustomDomain | None:
    """None unless ``domainName`` is set; then ``certificateArn`` is required (an ACM certificate in
    the stack's region: a REGIONAL endpoint), ``hostedZoneId`` optional."""
    name, certificate, zone = get("domainName"), get("certificateArn"), get("hostedZoneId")
    if not name:
        for key, value in (("certificateArn", certificate), ("hostedZoneId", zone)):
            if value:
                raise ContextError(key, "set only together with domainName", value)
        return None
    if not _DOMAIN.fullmatch(str(name)):
        raise ContextError("domainName", "a lower-case DNS name such as api.hokus.ai", name)
    if not certificate or not _ACM_ARN.fullmatch(str(certificate)):
        raise ContextError(
            "certificateArn", "an ACM certificate ARN for domainName, in the stack region", certificate
        )
    if zone and not re.fullmatch(r"Z[A-Z0-9]{1,31}", str(zone)):
        raise ContextError("hostedZoneId", "a Route 53 hosted zone id (Z...) or null", zone)
    return CustomDomain(str(name), str(certificate), str(zone) if zone else None)


@dataclass(frozen=True)
class Settings:
    """Everything the three stacks need; built by :meth:`from_context` (see docs/deploy.md)."""

    models: dict[str, dict[str, str]]
    account: str | None = None
    region: str | None = None
    prefix: str = "hokusai"
    alarm_email: str | None = None
    architecture: str = "arm64"
    memory_mb: dict[str, int | None] = field(default_factory=dict)
    timeout_seconds: dict[str, int | None] = field(default_factory=dict)
    reserved_concurrency: dict[str, int | None] = field(default_factory=dict)
    log_retention_days: int = 30
    redis_node_type: str = "cache.t4g.micro"
    redis_engine_version: str = "7.1"
    availability_zones: tuple[str, ...] = ()
    canary_schedule_minutes: int = 5
    canary_model_id: str = "21"
    # Incremented by a platform team to rotate the canary's key (the CanaryKey custom resource).
    canary_key_rotation: int = 1
    throttle_rate_limit: int = 100
    throttle_burst_limit: int = 200
    # Per key (hokusai keys create --plan): API Gateway usage plans, the authorizer names the key's.
    usage_plans: dict[str, UsagePlan] = field(default_factory=lambda: dict(DEFAULT_USAGE_PLANS))
    default_plan: str = "standard"
    # Per client IP over 5 minutes (WAF rate-based rule on the stage); None: no web ACL.
    waf_rate_limit: int | None = None
    domain: CustomDomain | None = None
    deployment: Deployment = field(default_factory=Deployment)
    cold_start: dict[str, ColdStart] = field(
        default_factory=lambda: {name: ColdStart() for name in RELEASED_FUNCTIONS}
    )
    alarms: Alarms = field(default_factory=Alarms)
    service_version: str = "1.0.0"
    log_level: str = "INFO"
    model_bucket_prefix: str = "models/"
    health_deadline_ms: int = 300
    hf_endpoint: str | None = None
    # Predict may try the Hub at run time only when asked: the functions sit in isolated subnets, so
    # by default every model is staged into S3 at deploy time and the Hub is never on the request path.
    hub_fallback: bool = False
    auth_service_url: str | None = None
    # Tracing, one setting (stacks/function.py, hokusai/tracing.py): "on" or "off"; with "on", the
    # layer that supplies the OpenTelemetry SDK and exporter (AWS's OpenTelemetry Lambda layer), if any.
    tracing: str = "on"
    tracing_layer_arn: str | None = None
    layer_assets: str = "build"  # "placeholder": test-only, see docs/deploy.md
    # Test-/verify-only: layer name -> built layer directory instead of layers/<name>/build.
    layer_dirs: dict[str, str] = field(default_factory=dict)

    @property
    def stack_prefix(self) -> str:
        return "".join(part.title() for part in re.split(r"[-_]", self.prefix))

    def function_name(self, function: str) -> str:
        """``<prefix>-<function>``, ``_`` written ``-`` (``pre_traffic`` -> ``hokusai-pre-traffic``)."""
        return f"{self.prefix}-{function.replace('_', '-')}"

    @classmethod
    def from_context(cls, get: Get, environ: Mapping[str, str] | None = None) -> Settings:
        """``get`` is ``app.node.try_get_context``; ``environ`` supplies CDK_DEFAULT_ACCOUNT/REGION.

        Each key is read by its entry in :data:`CONTEXT` (the one declaration: the docs table is
        written from it by `make docs`); a bad value stops synth naming the key."""
        fields: dict[str, Any] = {}
        for entry in CONTEXT:
            fields |= entry.read(get, environ or {})
        return cls(**fields)


RETENTION_NAMES = {
    1: "ONE_DAY",
    3: "THREE_DAYS",
    5: "FIVE_DAYS",
    7: "ONE_WEEK",
    14: "TWO_WEEKS",
    30: "ONE_MONTH",
    60: "TWO_MONTHS",
    90: "THREE_MONTHS",
    120: "FOUR_MONTHS",
    150: "FIVE_MONTHS",
    180: "SIX_MONTHS",
    365: "ONE_YEAR",
    400: "THIRTEEN_MONTHS",
    545: "EIGHTEEN_MONTHS",
    731: "TWO_YEARS",
    1096: "THREE_YEARS",
    1827: "FIVE_YEARS",
    3653: "TEN_YEARS",
}


def log_retention(days: int) -> Any:
    """CloudWatch Logs retention enum for a number of days (validated by Settings.from_context)."""
    from aws_cdk import aws_logs

    return getattr(aws_logs.RetentionDays, RETENTION_NAMES[days])


# --------------------------------------------------------------------------------------------------
# The CDK context, declared once: each entry reads its keys (validated, defaults applied) into the
# Settings fields it owns; docs/deploy.md's table is written from these entries (`make docs`, a test
# checks it). Entries are in the table's order.
# --------------------------------------------------------------------------------------------------
Get = Callable[[str], Any]
Reader = Callable[[Get, Mapping[str, str]], dict[str, Any]]


@dataclass(frozen=True)
class ContextEntry:
    keys: tuple[str, ...]
    default: str  # as the docs table shows it
    meaning: str
    read: Reader


def _read_environment(get: Get, environ: Mapping[str, str]) -> dict[str, Any]:
    account = get("account") or environ.get("CDK_DEFAULT_ACCOUNT")
    if account is not None and not re.fullmatch(r"\d{12}", str(account)):
        raise ContextError("account", "a 12-digit AWS account id", account)
    region = get("region") or environ.get("CDK_DEFAULT_REGION")
    if region is not None and not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", str(region)):
        raise ContextError("region", "an AWS region such as eu-west-1", region)
    return {"account": str(account) if account else None, "region": str(region) if region else None}


def _read_zones(get: Get, _environ: Mapping[str, str]) -> dict[str, Any]:
    zones = _decoded("availabilityZones", get("availabilityZones") or [])
    if not isinstance(zones, list) or any(not isinstance(zone, str) for zone in zones):
        raise ContextError("availabilityZones", "a list of zone names", zones)
    if zones and len(zones) < 2:
        raise ContextError("availabilityZones", "at least two zones (Redis and EFS are multi-AZ)", zones)
    return {"availability_zones": tuple(zones)}


def _read_prefix(get: Get, _environ: Mapping[str, str]) -> dict[str, Any]:
    prefix = str(get("prefix") or "hokusai")
    if not re.fullmatch(r"[a-z][a-z0-9-]{1,30}", prefix):
        raise ContextError("prefix", "lower-case letters, digits and - (2-31 chars)", prefix)
    return {"prefix": prefix}


def _read_alarm_email(get: Get, _environ: Mapping[str, str]) -> dict[str, Any]:
    email = get("alarmEmail") or None
    if email is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", str(email)):
        raise ContextError("alarmEmail", "an e-mail address or null", email)
    return {"alarm_email": str(email) if email else None}


def _read_models(get: Get, _environ: Mapping[str, str]) -> dict[str, Any]:
    return {"models": validate_models(get("models"))}


def _read_architecture(get: Get, _environ: Mapping[str, str]) -> dict[str, Any]:
    architecture = str(get("architecture") or "arm64")
    if architecture not in ARCHITECTURES:
        raise ContextError("architecture", " or ".join(ARCHITECTURES), architecture)
    return {"architecture": architecture}


def _read_memory(get: Get, _environ: Mapping[str, str]) -> dict[str, Any]:
    return {"memory_mb": _per_function_ints("memoryMb", get("memoryMb"), minimum=128, maximum=10240)}


def _read_timeouts(get: Get, _environ: Mapping[str, str]) -> dict[str, Any]:
    return {
        "timeout_seconds": _per_function_ints("timeoutSeconds", get("timeoutSeconds"), minimum=1, maximum=900)
    }


def _read_reserved_concurrency(get: Get, _environ: Mapping[str, str]) -> dict[str, Any]:
    reserved = _per_function_ints(
        "reservedConcurrency", get("reservedConcurrency") or {}, minimum=1, maximum=10000, allow_null=True
    )
    return {"reserved_concurrency": reserved}


def _read_throttling(get: Get, _environ: Mapping[str, str]) -> dict[str, Any]:
    throttle = _decoded("throttling", get("throttling") or {})
    if not isinstance(throttle, Mapping):
        raise ContextError("throttling", "an object with rateLimit and burstLimit", throttle)
    return {
        "throttle_rate_limit": _int("throttling.rateLimit", throttle.get("rateLimit", 100), minimum=1),
        "throttle_burst_limit": _int("throttling.burstLimit", throttle.get("burstLimit", 200), minimum=1),
    }


def _read_usage_plans(get: Get, _environ: Mapping[str, str]) -> dict[str, Any]:
    """usagePlans, defaultPlan and wafRateLimit together (the default plan must be one of the plans)."""
    plans, default_plan, waf_rate_limit = _limits(get)
    return {"usage_plans": plans, "default_plan": default_plan, "waf_rate_limit": waf_rate_limit}


def _read_nothing(_get: Get, _environ: Mapping[str, str]) -> dict[str, Any]:
    """Read with another key of the same concern (see the entry that reads it)."""
    return {}


def _read_deployment(get: Get, _environ: Mapping[str, str]) -> dict[str, Any]:
    return {"deployment": Deployment.from_context(get("deployment"))}


def _read_cold_start(get: Get, _environ: Mapping[str, str]) -> dict[str, Any]:
    return {"cold_start": cold_starts(get("coldStart"))}


def _read_domain(get: Get, _environ: Mapping[str, str]) -> dict[str, Any]:
    return {"domain": custom_domain(get)}


def _read_log_retention(get: Get, _environ: Mapping[str, str]) -> dict[str, Any]:
    retention = _int("logRetentionDays", _or_default(get("logRetentionDays"), 30), minimum=1)
    if retention not in RETENTION_NAMES:
        raise ContextError(
            "logRetentionDays", "a CloudWatch Logs retention (1, 3, 7, 14, 30, 90, ...)", retention
        )
    return {"log_retention_days": retention}


def _read_log_level(get: Get, _environ: Mapping[str, str]) -> dict[str, Any]:
    log_level = str(get("logLevel") or "INFO").upper()
    if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ContextError("logLevel", "DEBUG, INFO, WARNING or ERROR", log_level)
    return {"log_level": log_level}


def _read_redis(get: Get, _environ: Mapping[str, str]) -> dict[str, Any]:
    return {
        "redis_node_type": str(get("redisNodeType") or "cache.t4g.micro"),
        "redis_engine_version": str(get("redisEngineVersion") or "7.1"),
    }


def _read_canary_schedule(get: Get, _environ: Mapping[str, str]) -> dict[str, Any]:
    minutes = _int(
        "canaryScheduleMinutes", _or_default(get("canaryScheduleMinutes"), 5), minimum=1, maximum=60
    )
    return {"canary_schedule_minutes": minutes}


def _read_canary_model(get: Get, _environ: Mapping[str, str]) -> dict[str, Any]:
    models = validate_models(get("models"))
    canary_model = str(get("canaryModelId") or "21")
    if canary_model not in models:
        raise ContextError("canaryModelId", f"one of the models ({', '.join(models)})", canary_model)
    return {"canary_model_id": canary_model}


def _read_canary_key_rotation(get: Get, _environ: Mapping[str, str]) -> dict[str, Any]:
    return {
        "canary_key_rotation": _int("canaryKeyRotation", _or_default(get("canaryKeyRotation"), 1), minimum=1)
    }


def _read_alarms(get: Get, _environ: Mapping[str, str]) -> dict[str, Any]:
    return {"alarms": Alarms.from_context(get("alarms"))}


def _read_service_version(get: Get, _environ: Mapping[str, str]) -> dict[str, Any]:
    return {"service_version": str(get("serviceVersion") or "1.0.0")}


def _read_model_bucket_prefix(get: Get, _environ: Mapping[str, str]) -> dict[str, Any]:
    bucket_prefix = str(get("modelBucketPrefix") or "models/")
    if not bucket_prefix.endswith("/") or bucket_prefix.startswith("/"):
        raise ContextError("modelBucketPrefix", "a key prefix ending in / (e.g. models/)", bucket_prefix)
    return {"model_bucket_prefix": bucket_prefix}


def _read_health_deadline(get: Get, _environ: Mapping[str, str]) -> dict[str, Any]:
    deadline = _int("healthDeadlineMs", _or_default(get("healthDeadlineMs"), 300), minimum=50, maximum=2000)
    return {"health_deadline_ms": deadline}


def _http_url(get: Get, key: str) -> str | None:
    url = get(key)
    if url and not re.fullmatch(r"https?://[^\s/]+.*", str(url)):
        raise ContextError(key, "an http(s) URL or null", url)
    return str(url) if url else None


def _read_hf_endpoint(get: Get, _environ: Mapping[str, str]) -> dict[str, Any]:
    return {"hf_endpoint": _http_url(get, "hfEndpoint")}


TRACING_MODES = ("on", "off")


def _read_tracing(get: Get, _environ: Mapping[str, str]) -> dict[str, Any]:
    mode = str(_or_default(get("tracing"), "on"))
    if mode not in TRACING_MODES:
        raise ContextError("tracing", " or ".join(TRACING_MODES), mode)
    arn = get("tracingLayerArn")
    if arn and not re.fullmatch(
        r"arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:layer:[A-Za-z0-9_-]+:\d+", str(arn)
    ):
        raise ContextError("tracingLayerArn", "a Lambda layer version ARN or null", arn)
    return {"tracing": mode, "tracing_layer_arn": str(arn) if arn else None}


def _read_refused_egress(get: Get, _environ: Mapping[str, str]) -> dict[str, Any]:
    for key, needs in NEEDS_INTERNET_EGRESS.items():
        if get(key) not in (None, False, "false", ""):
            raise ContextError(key, f"unset (or false): {needs}", get(key))
    return {"hub_fallback": False, "auth_service_url": None}


def _read_layer_assets(get: Get, _environ: Mapping[str, str]) -> dict[str, Any]:
    layer_assets = str(get("hokusai:layerAssets") or "build")
    if layer_assets not in LAYER_ASSETS:
        raise ContextError("hokusai:layerAssets", " or ".join(LAYER_ASSETS), layer_assets)
    return {"layer_assets": layer_assets, "layer_dirs": _layer_dirs(get("hokusai:layerDirs"))}


CONTEXT: tuple[ContextEntry, ...] = (
    ContextEntry(
        ("account", "region"),
        "`null`",
        (
            "target environment; `null` = the CLI's `CDK_DEFAULT_ACCOUNT` / `CDK_DEFAULT_REGION` (your "
            "credentials), or an environment-agnostic template for a bare `python app.py`"
        ),
        _read_environment,
    ),
    ContextEntry(
        ("availabilityZones",),
        "`[]`",
        (
            "two or more zone names of your account (`hokusai preflight` checks they exist); empty = the "
            "region's first two zones, chosen by CloudFormation at deploy time (`Fn::GetAZs`: no lookup at "
            "synth, no zone letter your account may not have)"
        ),
        _read_zones,
    ),
    ContextEntry(
        ("prefix",),
        "`hokusai`",
        (
            "names: functions `hokusai-<name>`, stacks `Hokusai*`, alarms `hokusai-*`, parameter "
            "`/hokusai/expected-state`, and the metrics: namespace `Hokusai` (`Hokusai/<prefix>` for any "
            "other prefix) with `service=<prefix>-<function>`, so two deployments in one account never "
            "feed each other's alarms. One prefix per deployment in an account"
        ),
        _read_prefix,
    ),
    ContextEntry(
        ("alarmEmail",),
        "`null`",
        "e-mail subscribed to the alert topic (confirm the mail AWS sends)",
        _read_alarm_email,
    ),
    ContextEntry(
        ("models",),
        "model 21",
        (
            "the model registry: a copy of `model/registry.json` (id -> `repo_id`, `revision`, `filename`, "
            "`sha256`, `version`, `name`, `format`); a test checks they are equal"
        ),
        _read_models,
    ),
    ContextEntry(
        ("architecture",),
        "`arm64`",
        "`arm64` or `x86_64`, for the functions and the layers (`make layers` reads it)",
        _read_architecture,
    ),
    ContextEntry(
        ("memoryMb",),
        "authorizer 512, predict 2048, health 256, canary 256, revocation 256, pre_traffic 256",
        "per function",
        _read_memory,
    ),
    ContextEntry(
        ("timeoutSeconds",),
        "authorizer 5, predict 29, health 5, canary 60, revocation 30, pre_traffic 120",
        (
            "per function (API Gateway gives up at 29 s; the pre-traffic hook waits for up to three cold "
            "new versions)"
        ),
        _read_timeouts,
    ),
    ContextEntry(
        ("reservedConcurrency",),
        "authorizer `null`, predict 50, health 10, canary 1, revocation `null`, pre_traffic 3",
        (
            "protects downstreams: predict bounds EFS/S3 load, health (public) bounds Redis/DynamoDB "
            "probes, the canary never overlaps itself; the authorizer scales with traffic (the stage "
            "throttle bounds it). `null` = none"
        ),
        _read_reserved_concurrency,
    ),
    ContextEntry(
        ("throttling",),
        '`{"rateLimit": 100, "burstLimit": 200}`',
        "API stage throttling (requests per second / burst)",
        _read_throttling,
    ),
    ContextEntry(
        ("usagePlans",),
        '`{"standard": {"rateLimit": 10, "burstLimit": 20, "quotaPerDay": 100000}}`',
        (
            "per-key limits: one API Gateway usage plan per entry, named `<prefix>-<name>` (positive "
            "integers, `burstLimit` >= `rateLimit`)"
        ),
        _read_usage_plans,
    ),
    ContextEntry(
        ("defaultPlan",),
        '`"standard"`',
        "the plan `hokusai keys create` uses without `--plan`, and the canary's key's plan",
        _read_nothing,
    ),
    ContextEntry(
        ("deployment",),
        '`{"strategy": "canary", "percentage": 10, "intervalMinutes": 5}`',
        (
            "how CodeDeploy moves each released function's `live` alias to a new version (see \"Rolling "
            'out a release"): `canary` (`percentage` for `intervalMinutes`, then all), `linear` '
            "(`percentage` more every `intervalMinutes`), `allAtOnce`. The pre-traffic hook and the "
            "rollback alarms apply to all three"
        ),
        _read_deployment,
    ),
    ContextEntry(
        ("coldStart",),
        '`{"authorizer": "none", "predict": "none", "health": "none"}`',
        (
            "per released function: `none`, `snapstart` (SnapStart on published versions; predict and "
            "health then load the model from S3, not EFS) or `provisioned:N` (N initialised containers on "
            'the `live` alias). See "Cold-start modes"'
        ),
        _read_cold_start,
    ),
    ContextEntry(
        ("wafRateLimit",),
        "`null`",
        (
            "requests per client IP per 5 minutes (>= 10): a WAFv2 web ACL with a rate-based rule on the "
            "stage; `null`: no web ACL"
        ),
        _read_nothing,
    ),
    ContextEntry(
        ("domainName", "certificateArn", "hostedZoneId"),
        "unset",
        (
            'a custom domain (see "A custom domain" below): the ACM certificate (same region, REGIONAL '
            "endpoint) is required with `domainName`; with `hostedZoneId` the stack writes the alias A "
            "record"
        ),
        _read_domain,
    ),
    ContextEntry(
        ("logRetentionDays",),
        "30",
        (
            "all function, API access and VPC flow log groups (a CloudWatch value: 1, 3, 5, 7, 14, 30, 60, "
            "90, ...)"
        ),
        _read_log_retention,
    ),
    ContextEntry(
        ("logLevel",),
        "`INFO`",
        "`POWERTOOLS_LOG_LEVEL`",
        _read_log_level,
    ),
    ContextEntry(
        ("redisNodeType", "redisEngineVersion"),
        "`cache.t4g.micro`, `7.1`",
        "ElastiCache (two nodes, automatic fail-over)",
        _read_redis,
    ),
    ContextEntry(
        ("canaryScheduleMinutes",),
        "5",
        "canary period (the heartbeat alarm allows two missed runs)",
        _read_canary_schedule,
    ),
    ContextEntry(
        ("canaryModelId",),
        "`21`",
        "model the canary's synthetic predict calls",
        _read_canary_model,
    ),
    ContextEntry(
        ("canaryKeyRotation",),
        "1",
        (
            "an integer >= 1; increment it (and `make deploy`) to rotate the canary's API key, see "
            '"Rotate secrets"'
        ),
        _read_canary_key_rotation,
    ),
    ContextEntry(
        ("alarms",),
        (
            "`latencyP95Ms` 1000, `api5xxRatePercent` 5, `authorizerFailures` 1, `breakerOpen` 1, "
            "`canaryFailedRuns` 2"
        ),
        "alarm thresholds",
        _read_alarms,
    ),
    ContextEntry(
        ("serviceVersion",),
        "`1.0.0`",
        "reported by `/health`",
        _read_service_version,
    ),
    ContextEntry(
        ("modelBucketPrefix",),
        "`models/`",
        "S3 key prefix of the model cache",
        _read_model_bucket_prefix,
    ),
    ContextEntry(
        ("healthDeadlineMs",),
        "300",
        "`/health`'s total deadline",
        _read_health_deadline,
    ),
    ContextEntry(
        ("hfEndpoint",),
        "`null`",
        "the HuggingFace endpoint `hokusai models fetch` and the staging read (default: the Hub)",
        _read_hf_endpoint,
    ),
    ContextEntry(
        ("tracing", "tracingLayerArn"),
        "`on`, `null`",
        (
            "`on`: every function but revocation and the canary-key provisioner gets Lambda's active "
            "tracing (a segment per invocation) and `HOKUSAI_TRACING=true` (our spans through the "
            "OpenTelemetry API, hokusai/tracing.py); `tracingLayerArn` adds the layer that supplies the "
            "OpenTelemetry SDK and exporter (AWS's OpenTelemetry Lambda layer for Python, its wrapper "
            "`/opt/otel-instrument`). `off`: no tracing, and no function imports a tracing package"
        ),
        _read_tracing,
    ),
    ContextEntry(
        ("hubFallback", "authServiceUrl"),
        "unset",
        (
            "**refused at synth**: each needs internet egress from the functions, which run in isolated "
            "subnets (no NAT) with HTTPS allowed only to the VPC endpoints. Stage models with `hokusai "
            "models fetch` instead (the deploy copies them to S3); keys live in the keys table"
        ),
        _read_refused_egress,
    ),
    ContextEntry(
        ("hokusai:layerAssets",),
        "`build`",
        (
            "**test-only**: `placeholder` points both layers at `layers/placeholder/` so `make test` "
            "synthesizes without building them. Never deploy a placeholder synth: the functions would "
            "start without their dependencies"
        ),
        _read_layer_assets,
    ),
)


def context_table() -> str:
    """docs/deploy.md's context table, from :data:`CONTEXT` (`make docs`)."""
    lines = ["| key | default | meaning |", "|---|---|---|"]
    for entry in CONTEXT:
        keys = ", ".join(f"`{key}`" for key in entry.keys)
        lines.append(f"| {keys} | {entry.default} | {entry.meaning} |")
    return "\n".join(lines) + "\n"
