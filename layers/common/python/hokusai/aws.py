"""AWS access for every function and command: bounded clients and secrets, in one place.

**Budgets.** botocore's defaults (60 s connect and read timeouts, 3 to 5 attempts) turn one slow
dependency into a stuck request (docs/incidents.md section 1), so no client is built without a
:class:`Budget`, and each caller picks the budget of its path: :data:`SECRET_AT_COLD_START`,
:data:`MODEL_CACHE`, :data:`OPERATOR`, :data:`DEPLOYMENT`, or :meth:`Budget.deadline` for health.
``AWS_ENDPOINT_URL`` (moto, the local stack), ``AWS_PROFILE`` and the region are honoured by botocore.

**Secrets.** Every secret the service reads (the ElastiCache auth token, the HuggingFace token, the
canary's API key) holds its value itself as the SecretString, as the stack creates them and as
``aws secretsmanager put-secret-value --secret-string file://value.txt`` stores one; surrounding
white space is ignored. A JSON document or an empty value is refused with :class:`SecretUnreadable`
naming the secret (never guessed at: the value is never logged, and neither is a field of it).

botocore is imported on first use, not at import: the authorizer's import stays free of it until a
client is needed. Clients come from one botocore session per process (:func:`_session`); boto3
itself is only imported by :func:`operator_region` (commands, not functions).
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hokusai import snapstart

if TYPE_CHECKING:
    from botocore.client import BaseClient


@dataclass(frozen=True)
class Budget:
    """How long one AWS call may take: connect and read timeouts (seconds), attempts in all."""

    connect_seconds: float
    read_seconds: float
    attempts: int

    @classmethod
    def deadline(cls, milliseconds: int) -> Budget:
        """One attempt that gives up within ``milliseconds`` (the health answer's deadline)."""
        seconds = max(0.05, milliseconds / 1000)
        return cls(seconds, seconds, 1)

    @classmethod
    def from_ms(cls, connect_ms: int, read_ms: int, attempts: int) -> Budget:
        return cls(connect_ms / 1000, read_ms / 1000, attempts)


# The authorizer reads the Redis token once per container, before answering its first request.
SECRET_AT_COLD_START = Budget(1, 1, 1)
# Predict reads a model from the S3 cache (a few MB) and, with the Hub fallback, its token.
MODEL_CACHE = Budget(2, 5, 2)
# The canary, `hokusai doctor` and the CLIs: off the request path, but they must end well inside
# their own timeouts when an endpoint hangs; throttling is retried.
OPERATOR = Budget(3, 5, 3)
# Custom resources: a deploy waits on them; nobody waits on a request.
DEPLOYMENT = Budget(3, 10, 3)


def client(service: str, budget: Budget, region: str | None = None) -> BaseClient:
    """A client whose every call ends within ``budget``; in ``region`` when given (botocore itself
    reads only ``AWS_DEFAULT_REGION`` and the profile, not ``AWS_REGION``: see :func:`operator_region`)."""
    from botocore.config import Config

    config = Config(
        connect_timeout=budget.connect_seconds,
        read_timeout=budget.read_seconds,
        retries={"total_max_attempts": budget.attempts, "mode": "standard"},
    )
    aws_client: BaseClient = _session().create_client(service, config=config, region_name=region or None)
    _clients.add(aws_client)
    return aws_client


class LazyClient:
    """:func:`client` built on first use: a function that may never call the service (predict, whose
    model is usually on EFS) does not import botocore at init (100-150 ms of its cold start)."""

    def __init__(self, service: str, budget: Budget, region: str | None = None) -> None:
        self._arguments = (service, budget, region)
        self._client: BaseClient | None = None
        self._lock = threading.Lock()

    def get(self) -> BaseClient:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = client(*self._arguments)
        return self._client

    def __getattr__(self, name: str) -> Any:
        return getattr(self.get(), name)


_SESSION: list[Any] = []  # at most one botocore session
_SESSION_LOCK = threading.Lock()


def _session() -> Any:
    """The process's one botocore session, as ``boto3.client`` used (boto3's default session): its
    loader caches the endpoint and service-model JSON, so every client after the first reuses them.
    botocore directly, not boto3: the same clients without importing boto3 and s3transfer (40-70 ms
    of each cold start; issue 10). Nothing here uses boto3's resources or transfer methods."""
    with _SESSION_LOCK:
        if not _SESSION:
            import botocore.session

            _SESSION.append(botocore.session.get_session())
        return _SESSION[0]


# Every client built here, for SnapStart: a pooled HTTPS connection from snapshot time is dead in a
# restored copy, and a one-attempt budget would spend its only attempt on it.
_clients: weakref.WeakSet[Any] = weakref.WeakSet()


def close_connections() -> None:
    """Drop the pooled connections of every client built by :func:`client` (SnapStart restore).

    ``BaseClient.close()`` empties urllib3's pools (closing a socket does not wait for the peer); the
    client stays usable and connects again on its next call. Credentials and endpoints are kept."""
    for aws_client in list(_clients):
        aws_client.close()


snapstart.on_restore("aws.connections", close_connections)


REGION_VARIABLES = ("AWS_REGION", "AWS_DEFAULT_REGION")


class NoRegion(Exception):
    """Neither region variable is set and the profile names no region."""

    def __init__(self) -> None:
        super().__init__(
            f"no AWS region: set {' or '.join(REGION_VARIABLES)} (or a region in the AWS profile)"
        )


def operator_region() -> str:
    """The region a command runs in: ``AWS_REGION``, else ``AWS_DEFAULT_REGION``, else the profile's.

    Lambda sets both variables; an operator's shell often only ``AWS_REGION``, which boto3 ignores
    (a raw ``NoRegionError`` otherwise). Raises :class:`NoRegion`."""
    import os

    for name in REGION_VARIABLES:
        value = (os.environ.get(name) or "").strip()
        if value:
            return value
    import boto3

    try:
        profile_region = boto3.session.Session().region_name
    except Exception:  # a broken profile: the same answer as none
        profile_region = None
    if profile_region:
        return str(profile_region)
    raise NoRegion


def error_code(error: BaseException) -> str | None:
    """The AWS error code of a botocore ``ClientError`` (``AccessDenied``, ...), else None."""
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code else None
    return None


class SecretUnreadable(Exception):
    """A secret could not be read or holds no usable value. The message names the secret's ARN and
    the reason (an AWS error code, "empty", "a JSON document"), never the value."""

    def __init__(self, secret_arn: str, reason: str) -> None:
        self.secret_arn = secret_arn
        self.reason = reason
        super().__init__(f"secret {secret_arn} {reason}")


def read_secret(secretsmanager: Any, secret_arn: str) -> str:
    """The secret's value, in the one format described above; raises :class:`SecretUnreadable`."""
    try:
        answer = secretsmanager.get_secret_value(SecretId=secret_arn)
    except Exception as error:
        raise SecretUnreadable(
            secret_arn, f"could not be read ({error_code(error) or type(error).__name__})"
        ) from None
    value = str(answer.get("SecretString") or "").strip()
    del answer
    if not value:
        raise SecretUnreadable(secret_arn, "is empty: put the value itself as its SecretString")
    if value.startswith(("{", "[")):
        raise SecretUnreadable(
            secret_arn, "holds a JSON document: put the value itself as its SecretString, not JSON"
        )
    return value
