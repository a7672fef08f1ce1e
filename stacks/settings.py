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
LAYERS = ("common", "ml")


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
    def from_context(  # noqa: PLR0912 - one check per context key, in the order docs/deploy.md lists them
        cls, get: Callable[[str], Any], environ: Mapping[str, str] | None = None
    ) -> Settings:
        """``get`` is ``app.node.try_get_context``; ``environ`` supplies CDK_DEFAULT_ACCOUNT/REGION."""
        environ = environ or {}
        account = get("account") or environ.get("CDK_DEFAULT_ACCOUNT")
        if account is not None and not re.fullmatch(r"\d{12}", str(account)):
            raise ContextError("account", "a 12-digit AWS account id", account)
        region = get("region") or environ.get("CDK_DEFAULT_REGION")
        if region is not None and not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", str(region)):
            raise ContextError("region", "an AWS region such as eu-west-1", region)
        prefix = str(get("prefix") or "hokusai")
        if not re.fullmatch(r"[a-z][a-z0-9-]{1,30}", prefix):
            raise ContextError("prefix", "lower-case letters, digits and - (2-31 chars)", prefix)
        email = get("alarmEmail") or None
        if email is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", str(email)):
            raise ContextError("alarmEmail", "an e-mail address or null", email)
        architecture = str(get("architecture") or "arm64")
        if architecture not in ARCHITECTURES:
            raise ContextError("architecture", " or ".join(ARCHITECTURES), architecture)
        zones = _decoded("availabilityZones", get("availabilityZones") or [])
        if not isinstance(zones, list) or any(not isinstance(zone, str) for zone in zones):
            raise ContextError("availabilityZones", "a list of zone names", zones)
        if zones and len(zones) < 2:
            raise ContextError("availabilityZones", "at least two zones (Redis and EFS are multi-AZ)", zones)
        layer_assets = str(get("hokusai:layerAssets") or "build")
        if layer_assets not in LAYER_ASSETS:
            raise ContextError("hokusai:layerAssets", " or ".join(LAYER_ASSETS), layer_assets)
        log_level = str(get("logLevel") or "INFO").upper()
        if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ContextError("logLevel", "DEBUG, INFO, WARNING or ERROR", log_level)
        bucket_prefix = str(get("modelBucketPrefix") or "models/")
        if not bucket_prefix.endswith("/") or bucket_prefix.startswith("/"):
            raise ContextError("modelBucketPrefix", "a key prefix ending in / (e.g. models/)", bucket_prefix)
        retention = _int("logRetentionDays", _or_default(get("logRetentionDays"), 30), minimum=1)
        allowed_retention = set(RETENTION_NAMES)
        if retention not in allowed_retention:
            raise ContextError(
                "logRetentionDays", "a CloudWatch Logs retention (1, 3, 7, 14, 30, 90, ...)", retention
            )
        models = validate_models(get("models"))
        canary_model = str(get("canaryModelId") or "21")
        if canary_model not in models:
            raise ContextError("canaryModelId", f"one of the models ({', '.join(models)})", canary_model)
        throttle = _decoded("throttling", get("throttling") or {})
        if not isinstance(throttle, Mapping):
            raise ContextError("throttling", "an object with rateLimit and burstLimit", throttle)
        plans, default_plan, waf_rate_limit = _limits(get)
        for key, needs in NEEDS_INTERNET_EGRESS.items():
            if get(key) not in (None, False, "false", ""):
                raise ContextError(key, f"unset (or false): {needs}", get(key))
        for url_key in ("hfEndpoint", "authServiceUrl"):
            url = get(url_key)
            if url and not re.fullmatch(r"https?://[^\s/]+.*", str(url)):
                raise ContextError(url_key, "an http(s) URL or null", url)
        return cls(
            models=models,
            account=str(account) if account else None,
            region=str(region) if region else None,
            prefix=prefix,
            alarm_email=str(email) if email else None,
            architecture=architecture,
            memory_mb=_per_function_ints("memoryMb", get("memoryMb"), minimum=128, maximum=10240),
            timeout_seconds=_per_function_ints(
                "timeoutSeconds", get("timeoutSeconds"), minimum=1, maximum=900
            ),
            reserved_concurrency=_per_function_ints(
                "reservedConcurrency",
                get("reservedConcurrency") or {},
                minimum=1,
                maximum=10000,
                allow_null=True,
            ),
            log_retention_days=retention,
            redis_node_type=str(get("redisNodeType") or "cache.t4g.micro"),
            redis_engine_version=str(get("redisEngineVersion") or "7.1"),
            availability_zones=tuple(zones),
            canary_schedule_minutes=_int(
                "canaryScheduleMinutes", _or_default(get("canaryScheduleMinutes"), 5), minimum=1, maximum=60
            ),
            canary_model_id=canary_model,
            canary_key_rotation=_int(
                "canaryKeyRotation", _or_default(get("canaryKeyRotation"), 1), minimum=1
            ),
            throttle_rate_limit=_int("throttling.rateLimit", throttle.get("rateLimit", 100), minimum=1),
            throttle_burst_limit=_int("throttling.burstLimit", throttle.get("burstLimit", 200), minimum=1),
            usage_plans=plans,
            default_plan=default_plan,
            waf_rate_limit=waf_rate_limit,
            domain=custom_domain(get),
            deployment=Deployment.from_context(get("deployment")),
            cold_start=cold_starts(get("coldStart")),
            alarms=Alarms.from_context(get("alarms")),
            service_version=str(get("serviceVersion") or "1.0.0"),
            log_level=log_level,
            model_bucket_prefix=bucket_prefix,
            health_deadline_ms=_int(
                "healthDeadlineMs", _or_default(get("healthDeadlineMs"), 300), minimum=50, maximum=2000
            ),
            hf_endpoint=str(get("hfEndpoint")) if get("hfEndpoint") else None,
            hub_fallback=_bool("hubFallback", _or_default(get("hubFallback"), False)),
            auth_service_url=str(get("authServiceUrl")) if get("authServiceUrl") else None,
            layer_assets=layer_assets,
            layer_dirs=_layer_dirs(get("hokusai:layerDirs")),
        )


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
