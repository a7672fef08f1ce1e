"""The whole API on one machine: moto, Redis, the demo model and key, the functions behind the emulator.

Used by ``make dev`` (``local/dev.py``) and by the e2e tests, which start it in-process on free ports
with their own redis-server so they can kill, pause and restart it.

Each function instance runs in a process of its own, as Lambda runs it (``local/lambda_pool.py``: a pool
per function, up to its reserved concurrency in cdk.json); they all get one environment, built from the
caller's environment (the same variables the functions read, see ``hokusai.config``) with embedded
defaults for what is unset. The keys table's stream reaches the revocation function through a poller
thread (``local/streams.py``), as the deployed event source mapping does.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
from hokusai.environment import VARIABLES, Deploy, embedded_defaults
from hokusai.keys import schema
from hokusai.keys.provisioner import provision_canary_key

from local import usage_plans as local_plans
from local.apigw import (
    IDLE_TIMEOUT_SECONDS,
    READ_TIMEOUT_SECONDS,
    FunctionHost,
    Gateway,
    GatewayIdentity,
    GatewayServer,
)
from local.aws import LocalAws, Provisioned, create_keys_table, create_model_bucket, provision, upload_model
from local.deployment import ACCOUNT_ID, REGION
from local.faults import free_port
from local.lambda_pool import ProcessFunctionHost
from local.redis_server import RedisServer
from local.streams import StreamPoller

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_NAME = "hokusai-local"

# Embedded defaults: the declared defaults (hokusai/environment.py), the values a deployed stack
# sets, plus what differs on one machine. Any of them can be overridden from the environment
# (``make dev`` passes its own environment through).
LOCAL_ONLY: dict[str, str] = {
    "POWERTOOLS_SERVICE_NAME": "hokusai-local",
    "POWERTOOLS_TRACE_DISABLED": "1",  # no X-Ray daemon on a laptop
}
EMBEDDED_DEFAULTS: dict[str, str] = {**embedded_defaults(), **LOCAL_ONLY}
# Variables the local stack reads from its caller's environment: every declared one.
PASSED_THROUGH = (*LOCAL_ONLY, *(v.name for v in VARIABLES if v.deploy is not Deploy.NEVER))


def redis_answers(url: str, timeout_seconds: float = 0.5) -> bool:
    """One PING with a short budget and no retries: is there a usable Redis at ``url``?"""
    client = redis.Redis.from_url(
        url, socket_connect_timeout=timeout_seconds, socket_timeout=timeout_seconds, retry=None
    )
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError, ValueError):  # ValueError: a URL part redis-py cannot use
        return False
    finally:
        client.close()


@dataclass
class RedisChoice:
    """The Redis the local functions use: the caller's ``REDIS_URL`` as given, or a private one."""

    url: str
    password: str | None  # the private redis-server's (goes in the Redis auth secret); None: as given
    server: RedisServer | None  # the private redis-server, stopped with the stack; None: as given
    answered: bool  # did it answer a PING at start-up


def choose_redis(requested_url: str | None, log: Callable[[str], None]) -> RedisChoice:
    """An explicit ``REDIS_URL`` is used as given; a private redis-server only when it is unset.

    A given URL that does not answer is still used, with a warning: replacing it with a private
    redis-server (as this used to) hid the outage a user set out to replay (docs/local.md). A malformed
    one fails here, naming ``REDIS_URL``, before anything starts (``hokusai.config`` is what the
    functions would refuse it with). Unset (or empty, as ``hokusai.config`` reads it) means "no
    preference": a redis-server of our own on a free port with a password, never whatever happens to
    listen on 6379, so ``make dev`` does not write into another project's Redis.
    """
    from hokusai.config import RedisSettings, redact_url

    if requested_url is not None and requested_url.strip():
        RedisSettings.from_env({"REDIS_URL": requested_url})  # ConfigError naming REDIS_URL if malformed
        shown = redact_url(requested_url)
        if redis_answers(requested_url):
            log(f"Redis: using {shown} (REDIS_URL)")
            return RedisChoice(requested_url, None, None, answered=True)
        log(
            f"WARNING: Redis: nothing answers at {shown} (REDIS_URL; one PING, 0.5 s). Using it as "
            "given: until it answers, /health says degraded and the authorizer runs on L1 and DynamoDB. "
            "Unset REDIS_URL to have make dev start its own redis-server."
        )
        return RedisChoice(requested_url, None, None, answered=False)
    password = secrets.token_urlsafe(24)
    server = RedisServer(password=password).start()
    url = f"redis://127.0.0.1:{server.port}/0"  # the password comes from the secret
    log(f"Redis: started redis-server at {url} (password in the Redis auth secret)")
    return RedisChoice(url, password, server, answered=True)


@dataclass
class DemoModel:
    """The demo lead scorer as the registry pins it, and where its artifact is on disk."""

    model_id: str
    registry_entry: dict[str, str]
    artifact: Path
    twin: Path | None = None  # its ONNX twin, published beside it (what predict loads when pinned)


def build_demo_model(root: Path = ROOT) -> DemoModel | None:
    """The demo lead scorer as shipped: the committed published artifact, pinned by model/registry.json.

    Nothing is trained at start-up: the artifact is ``model/published/<repo_id>/<filename>`` (or a copy
    fetched from the Hub under ``model/build/fetched``), verified against the registry's sha256
    (``ArtifactMismatchError`` names both digests). None when the registry or the artifact is absent.
    """
    from hokusai.models.registry import parse_registry
    from hokusai.models.staging import local_artifact, verify_artifact

    registry = root / "model" / "registry.json"
    if not registry.is_file():
        return None
    spec = parse_registry(registry.read_text(), variable=str(registry))["21"]
    artifact = local_artifact(root, spec)
    if artifact is None:
        return None
    verify_artifact(artifact, spec)
    twin = local_artifact(root, spec.twin()) if spec.has_twin else None
    if twin is not None:
        verify_artifact(twin, spec.twin())
    entry = {k: str(v) for k, v in spec.to_dict().items() if k != "model_id"}
    return DemoModel(spec.model_id, entry, artifact, twin)


def warm_model_libraries(demo: DemoModel) -> None:
    """Load the demo artifact once, as predict will, so scikit-learn and skops are imported now.

    The functions run in this process, and importing the ML libraries takes seconds on a busy machine
    (3.7 s measured here on 2 shared cores). Training at start-up used to import them as a side effect;
    without it the first predict paid that import and overran the canary's 2 s budget. Loading the file
    here also proves the shipped artifact deserializes (trusted types only) before the stack says ready.
    """
    from hokusai.models.scorer import deserialize

    deserialize(demo.artifact.read_bytes(), demo.registry_entry["format"], allow_pickle=False)


def _short_hash(path: Path) -> str:
    return hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]


@dataclass
class LocalStack:
    """Start with :meth:`start`, stop with :meth:`stop` (idempotent)."""

    name: str = DEFAULT_NAME
    api_port: int = 0  # 0: a free port
    aws_port: int = 0
    # Used as given (even when it does not answer); None: start our own redis-server (with a password).
    # The caller's REDIS_URL in ``environ``/``overrides`` wins (see :func:`choose_redis`).
    redis_url: str | None = None
    state_dir: Path | None = None  # EFS stand-in, HF_HOME, demo model build; None: a temp dir
    environ: Mapping[str, str] = field(default_factory=dict)  # the caller's environment
    overrides: Mapping[str, str] = field(default_factory=dict)  # win over environ and defaults
    log: Callable[[str], None] = lambda _line: None
    # `make verify`: the functions run from their synthesized assets (local.lambda_runtime) instead of
    # the source tree, and the model is staged from the synthesized bucket deployment, not by us.
    # None: local.lambda_pool.ProcessFunctionHost (a process per function instance).
    function_host: Any = None
    # Per-function reserved concurrency overriding cdk.json's (e.g. a test's small limit).
    reserved_concurrency: Mapping[str, int | None] = field(default_factory=dict)
    # Where the functions' own output goes (a file descriptor; Lambda's would go to CloudWatch Logs).
    function_output: int | None = 2
    # The emulator's HTTP timeouts (local/apigw.py): a request's head and body, an idle connection.
    read_timeout: float | None = None
    idle_timeout: float | None = None
    stage_models: bool = True
    # Plan name -> stacks.settings.UsagePlan; None: cdk.json's usagePlans (local.usage_plans).
    usage_plans: Mapping[str, Any] | None = None
    # The emulator builds events as API Gateway does through this custom domain's base path mapping
    # (``HOKUSAI_DEV_CUSTOM_DOMAIN``, local/dev.py); None: as through the execute-api URL.
    custom_domain: str | None = None

    aws: LocalAws = field(init=False)
    redis_server: RedisServer | None = field(init=False, default=None)
    redis_answered: bool = field(init=False, default=False)  # at start-up; make dev's banner says so
    # The keys table's stream -> functions/revocation, as the deployed event source mapping does.
    stream_poller: StreamPoller | None = field(init=False, default=None)
    server: GatewayServer = field(init=False)
    host: Any = field(init=False, default=None)  # the functions: ProcessFunctionHost, or function_host
    default_plan: str = field(init=False, default="")
    usage_plan_ids: dict[str, str] = field(init=False, default_factory=dict)  # plan name -> moto id
    provisioned: Provisioned = field(init=False)
    environment: dict[str, str] = field(init=False)
    demo_model: DemoModel | None = field(init=False, default=None)
    _saved_environ: dict[str, str | None] = field(init=False, default_factory=dict)
    _temp: tempfile.TemporaryDirectory[str] | None = field(init=False, default=None)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> LocalStack:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        if self.state_dir is None:
            self._temp = tempfile.TemporaryDirectory(prefix="hokusai-local-")
            self.state_dir = Path(self._temp.name)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        settings = {name: value for name, value in self.environ.items() if name in PASSED_THROUGH}
        settings.update(self.overrides)

        # Redis first: a malformed REDIS_URL is refused before anything else is started.
        redis_url, redis_password = self._redis(settings.get("REDIS_URL") or self.redis_url)

        self.aws = LocalAws(self.aws_port or free_port()).start()
        self._set_process_environ(self.aws.env())
        self.log(f"local AWS (moto) at {self.aws.endpoint_url}, region {REGION}")

        identity = GatewayIdentity(
            region=REGION,
            account_id=ACCOUNT_ID,
            api_id=self.name.replace("-", ""),
            custom_domain=self.custom_domain,
        )
        host = self._function_host(identity)
        self.server = GatewayServer(
            Gateway(host, log=self.log, limiter=self._usage_limiter()),
            self.api_port,
            read_timeout=self.read_timeout or READ_TIMEOUT_SECONDS,
            idle_timeout=self.idle_timeout or IDLE_TIMEOUT_SECONDS,
        )

        environment = dict(EMBEDDED_DEFAULTS)
        environment.update(
            {
                "POWERTOOLS_SERVICE_NAME": self.name,
                "KEYS_TABLE_NAME": f"{self.name}-keys",
                "MODEL_BUCKET": f"{self.name}-models",
                "MODEL_CACHE_DIR": str(self.state_dir / "efs"),
                "HF_HOME": str(self.state_dir / "hf"),
                "API_BASE_URL": self.server.base_url,
                # A namespace of its own: two local stacks (two checkouts, a test beside make dev)
                # sharing one Redis never read or delete each other's cached keys.
                "REDIS_KEY_PREFIX": f"hokusai:{self.name}:{_short_hash(self.state_dir)}:",
            }
        )
        environment.update(settings)
        environment["REDIS_URL"] = redis_url
        Path(environment["MODEL_CACHE_DIR"]).mkdir(parents=True, exist_ok=True)
        create_keys_table(self.aws, environment["KEYS_TABLE_NAME"])
        create_model_bucket(self.aws, environment["MODEL_BUCKET"])
        self.demo_model = build_demo_model()
        if self.demo_model is not None and isinstance(host, FunctionHost):
            warm_model_libraries(self.demo_model)
        if self.demo_model is not None and "MODEL_REGISTRY" not in settings:
            self._stage_demo_model(self.demo_model, environment)
        elif self.demo_model is None:
            self.log("no published demo model (model/published, model/registry.json): predict has none")

        self.provisioned = provision(
            self.aws, name=self.name, environment=environment, redis_password=redis_password
        )
        self.environment = self.provisioned.environment
        if hasattr(host, "configure"):
            host.configure(self.environment)
        host.function_names = dict(self.provisioned.deployment.function_names)
        self._set_process_environ(self.environment)
        self.stream_poller = self._start_stream_poller()
        # The canary's key: made as the stack's CanaryKey custom resource makes it (without the
        # CloudFormation protocol), so `make dev` exercises the deployed path.
        secret_arn = self.provisioned.deployment.secret_arns["canary_key"]
        secretsmanager = self.aws.client("secretsmanager")
        provision_canary_key(
            self.key_store(),
            secretsmanager,
            secret_arn,
            [self.environment.get("CANARY_MODEL_ID") or schema.ALL_MODELS],
        )
        # Tests check that the canary's key never leaks into output or alerts, so they need its value;
        # here it lives only in the (local) secret.
        self.provisioned.deployment.canary_api_key = str(
            secretsmanager.get_secret_value(SecretId=secret_arn)["SecretString"]
        )
        if isinstance(host, ProcessFunctionHost):
            # One warm instance of each function clients call (the first request does not pay its init).
            host.prewarm(["authorizer", "predict", "health"])
        self.server.start()
        self.log(f"API Gateway emulator at {self.server.base_url}")
        if self.custom_domain_url:
            self.log(f"  events as through the custom domain {self.custom_domain_url} (base path mapping)")

    def _stage_demo_model(self, demo: DemoModel, environment: dict[str, str]) -> None:
        """The demo model in the registry the functions read and, with ``stage_models``, in the S3 cache
        (its ONNX twin beside it)."""
        entry = demo.registry_entry
        key = f"{environment['MODEL_BUCKET_PREFIX']}{demo.model_id}/{entry['revision']}/{entry['filename']}"
        environment["MODEL_REGISTRY"] = json.dumps({demo.model_id: entry})
        if self.stage_models:
            upload_model(self.aws, environment["MODEL_BUCKET"], key, demo.artifact)
            self.log(f"demo model {demo.model_id} in s3://{environment['MODEL_BUCKET']}/{key}")
            if demo.twin is not None:  # staged beside it, as the stack's deployment does
                twin_key = key.rsplit("/", 1)[0] + "/" + demo.twin.name
                upload_model(self.aws, environment["MODEL_BUCKET"], twin_key, demo.twin)

    def _function_host(self, identity: GatewayIdentity) -> Any:
        """``function_host`` if given, else a process per function instance (local/lambda_pool.py)."""
        assert self.state_dir is not None
        host = self.function_host or ProcessFunctionHost(
            identity,
            reserved=self.reserved_concurrency,
            log=self.log,
            stdout=self.function_output,
            log_dir=self.state_dir / "logs",
        )
        host.identity = identity
        self.host = host
        return host

    def _usage_limiter(self) -> local_plans.UsageLimiter:
        """cdk.json's usage plans (or :attr:`usage_plans`) in moto, enforced by the emulator."""
        prefix, plans, self.default_plan = local_plans.declared()
        self.usage_plans = dict(self.usage_plans or plans)
        if self.default_plan not in self.usage_plans:
            self.default_plan = next(iter(self.usage_plans))
        apigateway = self.aws.client("apigateway")
        self.usage_plan_ids = local_plans.create_plans(apigateway, prefix, self.usage_plans)
        return local_plans.UsageLimiter(
            self.usage_plans, local_plans.MotoPlanKeys(apigateway, self.usage_plan_ids)
        )

    def _start_stream_poller(self) -> StreamPoller:
        """Revocation as deployed: the keys table's stream feeds the revocation handler (in this
        process, with the functions' environment), so a revoke made without ``REDIS_URL`` still
        deletes the key's Redis entry (``local/streams.py``)."""
        from local.handlers import load_handler

        host = self.host
        if isinstance(host, ProcessFunctionHost):  # a process of its own, as the other functions

            def revocation(event: dict[str, Any], _context: Any) -> Any:
                return host.invoke("revocation", event, str(uuid.uuid4()))

            handler = revocation
        else:
            handler = load_handler("revocation").lambda_handler
        return StreamPoller(
            self.aws.client("dynamodb"),
            self.aws.client("dynamodbstreams"),
            self.environment["KEYS_TABLE_NAME"],
            handler,
            log=self.log,
        ).start()

    def _redis(self, requested_url: str | None) -> tuple[str, str | None]:
        choice = choose_redis(requested_url, self.log)
        self.redis_server = choice.server
        self.redis_answered = choice.answered
        return choice.url, choice.password

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            if hasattr(self, "server"):
                self.server.stop()
        if self.stream_poller is not None:
            self.stream_poller.stop()
            self.stream_poller = None
        if self.host is not None and hasattr(self.host, "stop"):
            with contextlib.suppress(Exception):
                self.host.stop()  # every function instance's process
        if self.redis_server is not None:
            self.redis_server.stop()
            self.redis_server = None
        if hasattr(self, "aws"):
            self.aws.stop()
        for name, value in self._saved_environ.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_environ.clear()
        if self._temp is not None:
            self._temp.cleanup()
            self._temp = None

    def _set_process_environ(self, values: Mapping[str, str]) -> None:
        # The functions read their configuration at import (hokusai.config), from this process's
        # environment; restored by stop().
        for name, value in values.items():
            self._saved_environ.setdefault(name, os.environ.get(name))
            os.environ[name] = value

    # ------------------------------------------------------------------ what users and tests need
    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def custom_domain_url(self) -> str | None:
        """``https://<custom domain>/api`` when the emulator plays a custom domain, else None."""
        return self.server.custom_domain_url if hasattr(self, "server") else None

    @property
    def deployment(self) -> Any:
        return self.provisioned.deployment

    def key_store(self) -> Any:
        """The real key store (``hokusai.keys.store.KeyStore``) on the local keys table, if it exists."""
        try:
            from hokusai.keys.store import KeyStore
        except ImportError:
            return None
        return KeyStore(self.aws.client("dynamodb"), self.environment["KEYS_TABLE_NAME"])

    def create_key(
        self, user_id: str, models: list[str] | None = None, *, plan: str | None = None
    ) -> tuple[str, str]:
        """A new key through the key store: ``(api_key, key_id)``; only its SHA-256 is stored.

        ``plan``: on that usage plan, as ``hokusai keys create --plan`` makes it (limits enforced)."""
        store = self.key_store()
        if store is not None and plan is not None:
            from hokusai.keys.format import new_key_id
            from hokusai.keys.usage import CLI_CREATOR, create_usage_key

            key_id = new_key_id()
            usage_key = create_usage_key(
                self.aws.client("apigateway"), plan, self.usage_plan_ids[plan], key_id, created_by=CLI_CREATOR
            )
            api_key, record = store.create(
                user_id, models or [schema.ALL_MODELS], usage_key=usage_key, key_id=key_id
            )
            return str(api_key), str(record.key_id)
        if store is not None:
            api_key, record = store.create(user_id, models or [schema.ALL_MODELS], description="make dev")
            return str(api_key), str(record.key_id)
        # Until the key store lands: the same item, per hokusai/keys/schema.py.
        api_key = "hk_" + secrets.token_urlsafe(32)
        key_id = "key_" + secrets.token_hex(8)
        item: dict[str, Any] = {
            schema.KEY_HASH_ATTRIBUTE: {"S": hashlib.sha256(api_key.encode()).hexdigest()},
            schema.KEY_ID_ATTRIBUTE: {"S": key_id},
            "user_id": {"S": user_id},
            "models": {"L": [{"S": m} for m in (models or [schema.ALL_MODELS])]},
            "status": {"S": "active"},
            "created_at": {"S": datetime.now(UTC).isoformat()},
        }
        self.aws.client("dynamodb").put_item(TableName=self.environment["KEYS_TABLE_NAME"], Item=item)
        return api_key, key_id

    def operator_env(self) -> dict[str, str]:
        """What an operator's shell needs for ``hokusai keys`` / ``hokusai doctor`` / ``aws`` here.

        ``REDIS_URL`` carries the local Redis's password (if any) so ``hokusai keys revoke`` can
        delete the L2 entry; a deployed Redis's token stays in Secrets Manager.
        """
        redis_url = self.environment["REDIS_URL"]
        if self.redis_server is not None and self.redis_server.password:
            redis_url = self.redis_server.url
        return {
            **self.aws.env(),
            "KEYS_TABLE_NAME": self.environment["KEYS_TABLE_NAME"],
            "REDIS_URL": redis_url,
            "REDIS_KEY_PREFIX": self.environment["REDIS_KEY_PREFIX"],
        }

    def revoke_key(self, key_id: str, *, with_redis_url: bool = True) -> str:
        """``hokusai keys revoke`` as an operator runs it: marks the item revoked, deletes the L2 entry.

        ``with_redis_url=False``: as from outside a deployment's VPC, without ``REDIS_URL``; the keys
        table's stream then deletes the entry (:attr:`stream_poller`, ``functions/revocation``)."""
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("REDIS_", "AUTH_", "KEYS_"))
        }
        operator = self.operator_env()
        if not with_redis_url:
            del operator["REDIS_URL"]
        completed = subprocess.run(
            [sys.executable, "-m", "hokusai.cli", "keys", "revoke", key_id],
            env={**env, **operator},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if completed.returncode != 0:
            raise RuntimeError(f"hokusai keys revoke failed: {completed.stdout}{completed.stderr}")
        return completed.stdout.strip()

    def create_demo_key(self, user_id: str = "demo-user") -> tuple[str, str]:
        return self.create_key(user_id)

    def wait_until_listening(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.server.port), 0.2):
                return
            time.sleep(0.02)
        raise RuntimeError("the API Gateway emulator is not listening")
