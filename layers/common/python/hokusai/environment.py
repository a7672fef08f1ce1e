"""Every environment variable of the service, declared once.

Each :class:`Variable` says its name, its type, its default and unit, which functions read it, whether
it holds a secret (the ARN of one, or a secret value) and how the stack sets it. Everything else is
derived from :data:`VARIABLES`:

* parsing and validation (``hokusai.config`` reads each value through :meth:`Variable.parse`);
* the functions' environments in the CDK stack (:func:`function_environment`), which refuses a
  variable the function does not read and a value the stack must give but did not;
* the expected-state ``functions`` section the canary's configuration-drift check compares with the
  deployed functions (``hokusai.drift.expected``);
* ``make dev``'s embedded defaults (``local.stack``);
* the configuration table in the README (``python -m hokusai.environment`` prints it; a test checks
  the README holds exactly that table).

The bottom of the package's import graph: standard library only (and ``hokusai.metric_names``, which
imports nothing), so the authorizer's cold start pays nothing for it, and any module may import it
without a cycle.
"""

from __future__ import annotations

import enum
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from hokusai import metric_names

Environ = Mapping[str, str]

AUTHORIZER = "authorizer"
PREDICT = "predict"
HEALTH = "health"
CANARY = "canary"
REVOCATION = "revocation"  # the keys table's stream -> delete a revoked key's Redis entry
PRE_TRAFFIC = "pre_traffic"  # CodeDeploy's pre-traffic hook: the canary's checks on a release's versions
FUNCTIONS = (AUTHORIZER, PREDICT, HEALTH, CANARY, REVOCATION, PRE_TRAFFIC)
CLI = "cli"  # `hokusai keys` / `hokusai models` / `hokusai doctor` on an operator's machine


class ConfigError(ValueError):
    """A configuration value is missing or malformed. The message names the variable."""

    def __init__(self, variable: str, expected: str, got: str | None = None) -> None:
        self.variable = variable
        self.expected = expected
        shown = "" if got is None else f" (got {got!r})"
        super().__init__(f"Invalid configuration: {variable} must be {expected}{shown}")


def redact_url(url: str) -> str:
    """The URL with any password replaced, safe for logs and error messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ":<invalid port>"
    netloc = f"{user}:***@{host}{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class Kind(enum.Enum):
    STRING = "string"
    POSITIVE_INT = "positive integer"
    NON_NEGATIVE_INT = "non-negative integer"
    BOOL = "boolean"
    HTTP_URL = "http(s) URL"
    SECURE_URL = "https URL"
    REDIS_URL = "redis(s) URL"
    JSON_OBJECT = "JSON object"
    ABSOLUTE_PATH = "absolute path"
    ARN = "ARN"
    IDENTIFIER = "identifier"


class Deploy(enum.Enum):
    """How the CDK stack sets a variable (:func:`function_environment`)."""

    VALUE = "value"  # the stack always gives a value of its own (a table name, a URL, a secret ARN)
    DEFAULT = "default"  # the stack writes the declared default unless it gives another value
    WHEN_GIVEN = "when given"  # an optional feature's variable: set only when the stack gives it
    NEVER = "never"  # read on an operator's machine only (CLI) or set by the Lambda runtime


_UNITS = {"ms": " of milliseconds", "s": " of seconds", "bytes": " of bytes", "": ""}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Variable:
    name: str
    kind: Kind
    meaning: str
    read_by: tuple[str, ...]
    default: str | None = None  # as written in an environment; None: required, unless optional
    optional: bool = False  # unset is allowed and turns a feature off
    unit: str = ""  # "ms", "s", "bytes"
    arn_of: str | None = None  # the logical secret (redis_auth, hf_token, canary_key) whose ARN it holds
    sensitive: bool = False  # the value itself is a secret: never logged, never in a template
    deploy: Deploy = Deploy.DEFAULT
    expected: str | None = None  # what a bad value is told to be, when the kind's wording is too vague
    # False: the secret's value is for the function that reads it alone (the authorizer's Redis signing
    # key); the canary and `hokusai doctor` check it exists, never read it.
    value_checked: bool = True

    def parse(self, environ: Environ) -> Any:
        """The typed value, the parsed default, or None for an unset optional variable.

        Raises :class:`ConfigError` naming the variable and the expected form.
        """
        raw = environ.get(self.name)
        if raw is None or raw.strip() == "":
            if self.default is not None:
                return self._convert(self.default)
            if self.optional:
                return None
            raise ConfigError(self.name, "set to a non-empty value", None)
        return self._convert(raw.strip())

    @property
    def parsed_default(self) -> Any:
        return None if self.default is None else self._convert(self.default)

    def _fail(self, expected: str, got: str | None) -> ConfigError:
        return ConfigError(self.name, self.expected or expected, got)

    def _convert(self, raw: str) -> Any:
        return _CONVERTERS.get(self.kind, _as_string)(self, raw)


def _as_string(variable: Variable, raw: str) -> str:
    return raw


def _as_int(variable: Variable, raw: str) -> int:
    positive = variable.kind is Kind.POSITIVE_INT
    wanted = f"a {variable.kind.value}{_UNITS[variable.unit]}"
    try:
        number = int(raw)
    except ValueError:
        raise variable._fail(wanted, raw) from None
    if number < (1 if positive else 0):
        raise variable._fail(wanted, raw)
    return number


def _as_bool(variable: Variable, raw: str) -> bool:
    lowered = raw.lower()
    if lowered not in _TRUE | _FALSE:
        raise variable._fail("one of true/false/1/0/yes/no/on/off", raw)
    return lowered in _TRUE


def _http_url(variable: Variable, raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise variable._fail("an http:// or https:// URL with a host", redact_url(raw))
    return raw.rstrip("/")


def is_secure_service_url(url: str) -> bool:
    """``https://``, or ``http://`` to a loopback address (a service on the same machine: nothing
    crosses a network). Used where a service's answer decides something (the auth service's decides
    Allow), so a plain-HTTP answer from elsewhere could be forged on the way."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return bool(parts.hostname)
    return parts.scheme == "http" and parts.hostname in {"127.0.0.1", "localhost", "::1"}


def _secure_url(variable: Variable, raw: str) -> str:
    """https://, or http:// to a loopback address only (a service on the same machine)."""
    if not is_secure_service_url(raw):
        raise variable._fail("an https:// URL (http:// only to 127.0.0.1 or localhost)", redact_url(raw))
    return raw.rstrip("/")


def _json_object(variable: Variable, raw: str) -> str:
    """Checked to be a non-empty JSON object, kept as text (its owner parses the fields)."""
    try:
        document = json.loads(raw)
    except json.JSONDecodeError as error:
        detail = f"valid JSON ({error.msg} at position {error.pos})"
        raise ConfigError(variable.name, detail, None) from None
    if not isinstance(document, dict) or not document:
        raise variable._fail("a non-empty JSON object", None)
    return raw


def _absolute_path(variable: Variable, raw: str) -> str:
    if not raw.startswith("/"):
        raise variable._fail("an absolute path", raw)
    return raw.rstrip("/") or "/"


def _arn(variable: Variable, raw: str) -> str:
    if not raw.startswith("arn:"):
        raise variable._fail("an ARN (arn:aws:...)", raw)
    return raw


def _identifier(variable: Variable, raw: str) -> str:
    if not raw.replace("-", "").replace("_", "").isalnum():
        raise variable._fail("an identifier (letters, digits, - or _)", raw)
    return raw


def _redis_url(variable: Variable, raw: str) -> str:
    scheme = urlsplit(raw).scheme if "://" in raw else ""
    if scheme not in {"redis", "rediss"}:
        raise variable._fail(
            "a URL starting with redis:// or rediss:// (no scheme is guessed)", redact_url(raw)
        )
    parts = urlsplit(raw)
    if not parts.hostname:
        raise variable._fail("a redis:// or rediss:// URL with a host", redact_url(raw))
    try:
        _ = parts.port
    except ValueError:
        raise variable._fail("a URL whose port is a number", redact_url(raw)) from None
    return raw


_CONVERTERS = {
    Kind.POSITIVE_INT: _as_int,
    Kind.NON_NEGATIVE_INT: _as_int,
    Kind.BOOL: _as_bool,
    Kind.HTTP_URL: _http_url,
    Kind.SECURE_URL: _secure_url,
    Kind.REDIS_URL: _redis_url,
    Kind.JSON_OBJECT: _json_object,
    Kind.ABSOLUTE_PATH: _absolute_path,
    Kind.ARN: _arn,
    Kind.IDENTIFIER: _identifier,
}
_ALL = FUNCTIONS
_REDIS_READERS = (AUTHORIZER, HEALTH, REVOCATION)

VARIABLES: tuple[Variable, ...] = (
    # Powertools reads these itself; declared so that the stack, make dev and the drift check agree.
    Variable("POWERTOOLS_SERVICE_NAME", Kind.STRING, "service name in logs, metrics and traces", _ALL,
             deploy=Deploy.VALUE),
    Variable("POWERTOOLS_METRICS_NAMESPACE", Kind.STRING, "CloudWatch namespace of the EMF metrics", _ALL,
             default=metric_names.NAMESPACE),
    Variable("POWERTOOLS_LOG_LEVEL", Kind.STRING, "log level", _ALL, default="INFO"),
    # Tracing, one setting (context `tracing`, stacks/function.py): spans through the OpenTelemetry API
    # (hokusai.tracing); false imports no tracing package at all.
    Variable("HOKUSAI_TRACING", Kind.BOOL,
             "trace each invocation through the OpenTelemetry API (the SDK comes from the deployment's "
             "layer); false: no tracing package is imported", _ALL, default="false"),
    Variable("AWS_LAMBDA_EXEC_WRAPPER", Kind.ABSOLUTE_PATH,
             "the tracing layer's start-up wrapper (`/opt/otel-instrument`), set with context "
             "`tracingLayerArn`", _ALL, optional=True, deploy=Deploy.WHEN_GIVEN),
    # The keys table: the authorizer's source of truth, and a health check.
    Variable("KEYS_TABLE_NAME", Kind.STRING, "DynamoDB keys table (SHA-256 digests only)",
             (AUTHORIZER, HEALTH, CLI), deploy=Deploy.VALUE),
    Variable("KEYS_TABLE_CONNECT_TIMEOUT_MS", Kind.POSITIVE_INT, "keys-table connect timeout",
             (AUTHORIZER, HEALTH), default="300", unit="ms"),
    Variable("KEYS_TABLE_READ_TIMEOUT_MS", Kind.POSITIVE_INT, "keys-table read timeout",
             (AUTHORIZER, HEALTH), default="500", unit="ms"),
    Variable("KEYS_TABLE_MAX_ATTEMPTS", Kind.POSITIVE_INT, "keys-table attempts per lookup",
             (AUTHORIZER, HEALTH), default="2"),
    # Redis, the L2 cache: one network path for the authorizer, health and revocation.
    Variable("REDIS_URL", Kind.REDIS_URL, "`redis://` or `rediss://host:port/db`; unset: no L2 cache",
             (*_REDIS_READERS, CLI), optional=True, deploy=Deploy.VALUE),
    Variable("REDIS_AUTH_SECRET_ARN", Kind.ARN, "secret holding the ElastiCache auth token",
             _REDIS_READERS, optional=True, arn_of="redis_auth", deploy=Deploy.WHEN_GIVEN,
             expected="a Secrets Manager secret ARN"),
    Variable("REDIS_KEY_PREFIX", Kind.STRING, "namespace of every Redis key (one per stack)",
             (*_REDIS_READERS, CLI), default="hokusai:"),
    Variable("REDIS_CONNECT_TIMEOUT_MS", Kind.POSITIVE_INT, "Redis connect budget (one attempt)",
             _REDIS_READERS, default="50", unit="ms"),
    Variable("REDIS_TIMEOUT_MS", Kind.POSITIVE_INT, "Redis budget per call (one attempt, no retries)",
             _REDIS_READERS, default="50", unit="ms"),
    Variable("REDIS_BREAKER_FAILURES", Kind.POSITIVE_INT, "consecutive failures that open the breaker",
             _REDIS_READERS, default="3"),
    Variable("REDIS_BREAKER_COOLDOWN_MS", Kind.POSITIVE_INT, "open breaker's cool-down before one probe",
             _REDIS_READERS, default="10000", unit="ms"),
    # The authorizer.
    Variable("AUTH_REVOCATION_BOUND_SECONDS", Kind.POSITIVE_INT,
             "a revoked key is refused by every authorizer within this, whatever Redis does: no cached "
             "allow is trusted longer after its keys-table read", (AUTHORIZER, CLI), default="10", unit="s"),
    Variable("AUTH_L1_TTL_SECONDS", Kind.NON_NEGATIVE_INT,
             "in-process cache TTL, at most the revocation bound (0: no in-process cache; unset: the bound)",
             (AUTHORIZER,), optional=True, unit="s", deploy=Deploy.WHEN_GIVEN),
    Variable("AUTH_CACHE_KEY_SECRET_ARN", Kind.ARN,
             "secret holding the key that signs the authorizer's Redis entries; unset: no Redis cache",
             (AUTHORIZER,), optional=True, arn_of="auth_cache_key", deploy=Deploy.VALUE,
             expected="a Secrets Manager secret ARN", value_checked=False),
    Variable("AUTH_NEGATIVE_TTL_SECONDS", Kind.NON_NEGATIVE_INT,
             "how long an unknown key's rejection is cached", (AUTHORIZER,), default="30", unit="s"),
    Variable("AUTH_L1_MAX_ENTRIES", Kind.POSITIVE_INT, "in-process cache size", (AUTHORIZER,),
             default="10000"),
    Variable("AUTH_SERVICE_URL", Kind.SECURE_URL, "HTTPS auth service instead of the keys table",
             (AUTHORIZER,), optional=True, deploy=Deploy.WHEN_GIVEN),
    Variable("AUTH_SERVICE_TIMEOUT_MS", Kind.POSITIVE_INT, "auth service budget per call", (AUTHORIZER,),
             default="500", unit="ms"),
    # The model cache, shared by predict (which loads) and health (which checks reachability).
    Variable("MODEL_REGISTRY", Kind.JSON_OBJECT,
             "JSON: model id -> repo, pinned revision, file, sha256, version", (PREDICT, HEALTH),
             deploy=Deploy.VALUE, expected="a non-empty JSON object of model id -> entry"),
    # WHEN_GIVEN: a SnapStart function has no EFS (Lambda refuses it); predict then loads from S3.
    Variable("MODEL_CACHE_DIR", Kind.ABSOLUTE_PATH, "EFS mount with cached model files", (PREDICT, HEALTH),
             optional=True, deploy=Deploy.WHEN_GIVEN,
             expected="an absolute path (the EFS mount, e.g. /mnt/models)"),
    Variable("MODEL_BUCKET", Kind.STRING, "S3 model cache bucket", (PREDICT, HEALTH), optional=True,
             deploy=Deploy.VALUE),
    Variable("MODEL_BUCKET_PREFIX", Kind.STRING, "key prefix in the S3 model cache", (PREDICT, HEALTH),
             default="models/"),
    # Predict.
    Variable("MAX_BATCH_SIZE", Kind.POSITIVE_INT, "leads per request at most (100 is the contract's cap)",
             (PREDICT,), default="100"),
    Variable("MAX_BODY_BYTES", Kind.POSITIVE_INT, "request body size limit", (PREDICT,), default="262144",
             unit="bytes"),
    Variable("ALLOW_PICKLE", Kind.BOOL, "accept pickle artifacts (arbitrary code on load)", (PREDICT,),
             default="false"),
    # numpy's OpenBLAS starts one thread per core at import: on a shared CPU that made `import numpy`
    # bimodal (about 66 or 122 ms); one thread keeps it steady (bench/predict.py measures both).
    Variable("OPENBLAS_NUM_THREADS", Kind.POSITIVE_INT,
             "OpenBLAS threads for numpy, read by numpy at import (1: steady cold import)", (PREDICT,),
             default="1"),
    Variable("MODEL_HUB_FALLBACK", Kind.BOOL, "try the Hub when no cache has the model", (PREDICT,),
             default="false"),
    Variable("HF_TOKEN_SECRET_ARN", Kind.ARN, "secret holding the HuggingFace token", (PREDICT,),
             optional=True, arn_of="hf_token", deploy=Deploy.WHEN_GIVEN,
             expected="a Secrets Manager secret ARN"),
    Variable("HF_ENDPOINT", Kind.HTTP_URL, "HuggingFace Hub endpoint (a mirror)", (PREDICT,), optional=True,
             deploy=Deploy.WHEN_GIVEN),
    Variable("HF_HOME", Kind.STRING, "writable HuggingFace cache directory", (PREDICT,),
             default="/tmp/hf", deploy=Deploy.WHEN_GIVEN),  # noqa: S108 - Lambda's writable path
    Variable("HF_DOWNLOAD_TIMEOUT_MS", Kind.POSITIVE_INT, "deadline of one Hub download", (PREDICT,),
             default="10000", unit="ms", deploy=Deploy.WHEN_GIVEN),
    Variable("HF_TOKEN", Kind.STRING, "HuggingFace token for `hokusai models fetch`", (CLI,),
             optional=True, sensitive=True, deploy=Deploy.NEVER),
    # Health.
    Variable("HEALTH_DEADLINE_MS", Kind.POSITIVE_INT, "the whole health answer's deadline", (HEALTH,),
             default="300", unit="ms"),
    Variable("SERVICE_VERSION", Kind.STRING, "version reported by /health", (HEALTH,), default="1.0.0"),
    # The canary (and `hokusai doctor`, which takes the same values from flags).
    Variable("API_BASE_URL", Kind.HTTP_URL, "the stage URL the canary calls (ends in /api)", (CANARY, CLI),
             deploy=Deploy.VALUE),
    Variable("EXPECTED_STATE_PARAMETER", Kind.STRING, "SSM parameter with the expected state",
             (CANARY, CLI), deploy=Deploy.VALUE),
    Variable("CANARY_KEY_SECRET_ARN", Kind.ARN, "secret holding the canary's API key",
             (CANARY, PRE_TRAFFIC, CLI),
             optional=True, arn_of="canary_key", deploy=Deploy.VALUE,
             expected="a Secrets Manager secret ARN"),
    Variable("ALERT_TOPIC_ARN", Kind.ARN, "SNS topic the canary's alert goes to", (CANARY,), optional=True,
             deploy=Deploy.VALUE, expected="an SNS topic ARN (arn:aws:sns:...)"),
    Variable("CANARY_MODEL_ID", Kind.IDENTIFIER, "model the canary predicts with",
             (CANARY, PRE_TRAFFIC, CLI),
             default="21", expected="a model id (letters, digits, - or _)"),
    Variable("CANARY_TIMEOUT_MS", Kind.POSITIVE_INT, "each synthetic request's timeout and latency budget",
             (CANARY, CLI), default="2000", unit="ms"),
    # The pre-traffic hook: the versions a release publishes, which it checks before any traffic.
    Variable("RELEASE_AUTHORIZER_VERSION", Kind.ARN, "the release's authorizer version ARN", (PRE_TRAFFIC,),
             deploy=Deploy.VALUE, expected="a Lambda function version ARN"),
    Variable("RELEASE_PREDICT_VERSION", Kind.ARN, "the release's predict version ARN", (PRE_TRAFFIC,),
             deploy=Deploy.VALUE, expected="a Lambda function version ARN"),
    Variable("RELEASE_HEALTH_VERSION", Kind.ARN, "the release's health version ARN", (PRE_TRAFFIC,),
             deploy=Deploy.VALUE, expected="a Lambda function version ARN"),
)  # fmt: skip

BY_NAME: dict[str, Variable] = {variable.name: variable for variable in VARIABLES}


def variable(name: str) -> Variable:
    return BY_NAME[name]


def read(name: str, environ: Environ | None = None) -> Any:
    """The parsed value of one declared variable (``os.environ`` when no mapping is given)."""
    return BY_NAME[name].parse(os.environ if environ is None else environ)


def default(name: str) -> Any:
    """The parsed declared default (for dataclass field defaults: written once, here)."""
    return BY_NAME[name].parsed_default


def read_by(function: str) -> tuple[Variable, ...]:
    return tuple(v for v in VARIABLES if function in v.read_by)


def secret_variables(function: str) -> dict[str, str]:
    """Variable holding a secret ARN -> the logical secret, for one function."""
    return {v.name: v.arn_of for v in read_by(function) if v.arn_of is not None}


def deployed_names(function: str) -> list[str]:
    """The variables a stack sets on a function when it uses no optional feature."""
    return [v.name for v in read_by(function) if v.deploy in (Deploy.VALUE, Deploy.DEFAULT)]


class EnvironmentDeclarationError(ValueError):
    """The stack asked for an environment the declaration does not allow (raised at synth)."""


def function_environment(function: str, values: Mapping[str, str]) -> dict[str, str]:
    """The environment the stack gives ``function``: ``values`` for the variables it sets itself,
    the declared defaults for the rest, nothing the function does not read.

    A value the stack must give and did not, a variable the function does not read, or a literal that
    does not parse is refused here, at synth (CDK tokens, resolved at deploy time, are not parsed).
    """
    readable = {v.name: v for v in read_by(function) if v.deploy is not Deploy.NEVER}
    unknown = sorted(set(values) - set(readable))
    if unknown:
        raise EnvironmentDeclarationError(
            f"{function} does not read {', '.join(unknown)}: declare it in hokusai/environment.py first"
        )
    environment: dict[str, str] = {}
    for name, declared in readable.items():
        if name in values:
            value = values[name]
            if "${Token[" not in value:
                declared.parse({name: value})
            environment[name] = value
        elif declared.deploy is Deploy.VALUE:
            raise EnvironmentDeclarationError(f"the stack must give {function} a value for {name}")
        elif declared.deploy is Deploy.DEFAULT:
            environment[name] = str(declared.default)
    return environment


def embedded_defaults(functions: Iterable[str] = FUNCTIONS) -> dict[str, str]:
    """Every declared default of the given functions' variables (``make dev`` starts from these)."""
    return {
        v.name: v.default
        for v in VARIABLES
        if v.default is not None and v.deploy is not Deploy.NEVER and set(v.read_by) & set(functions)
    }


def markdown_table() -> str:
    """The README's configuration table."""

    def shown_default(v: Variable) -> str:
        if v.default is not None:
            unit = {"ms": " ms", "s": " s", "bytes": " bytes"}.get(v.unit, "")
            return f"`{v.default}`{unit}"
        return "unset" if v.optional else "(required)"

    def notes(v: Variable) -> str:
        extra = []
        if v.arn_of is not None:
            extra.append("a secret's ARN")
        if v.sensitive:
            extra.append("secret value, never logged")
        if v.deploy is Deploy.NEVER:
            extra.append("not set by the stack")
        return v.meaning + (f" ({'; '.join(extra)})" if extra else "")

    lines = ["| variable | read by | type | default | meaning |", "|---|---|---|---|---|"]
    lines += [
        f"| `{v.name}` | {', '.join(v.read_by)} | {v.kind.value} | {shown_default(v)} | {notes(v)} |"
        for v in VARIABLES
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # python -m hokusai.environment: the README table
    print(markdown_table(), end="")
