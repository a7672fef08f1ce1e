"""The local AWS: moto in server mode, in this process, provisioned like ``cdk deploy`` would leave it.

The security groups, rules, functions' configuration, secrets, alert topic and expected-state SSM
parameter come from ``local/deployment.py`` (built from ``hokusai/declared.py`` and
``hokusai/drift/expected.py``, the same declarations the stack uses), so the canary and
``hokusai doctor`` see a deployment, not a second hand-written copy. This module adds what only the
local stack needs: the functions' configuration set to the values the local functions really run
with, the keys table (``hokusai/keys/schema.py``) and the model bucket with the demo model.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from hokusai import metric_names
from hokusai.drift.expected import FUNCTION_ENV, FUNCTION_SECRETS, functions_section
from hokusai.keys import schema
from moto.server import ThreadedMotoServer

from local.deployment import REGION, Deployment, deploy

DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


def port_is_free(port: int) -> bool:
    """Can a server listen on 127.0.0.1:``port`` now? A live listener makes it taken; the TIME_WAIT
    connections a stopped run leaves behind (for about a minute) do not.

    The probe binds with SO_REUSEADDR, as the servers it guards do (``GatewayServer`` and moto's
    werkzeug server set ``allow_reuse_address``): without it, ``make dev`` restarted right after
    Ctrl-C called its own last run's TIME_WAIT sockets "another program" (issue 11). Linux still
    refuses an SO_REUSEADDR bind next to a socket in LISTEN, so a real listener is still seen.
    """
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class LocalAws:
    """moto's ThreadedMotoServer on 127.0.0.1:<port>. Its state lives in this process (moto's
    backends), so :meth:`stop` then :meth:`start` on the same port is an outage, not a wipe."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._server: ThreadedMotoServer | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {
            **DUMMY_CREDENTIALS,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL": self.endpoint_url,
        }

    def start(self) -> LocalAws:
        # moto's werkzeug prints one access-log line per AWS call; the stack's own log says enough.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            with contextlib.suppress(Exception):
                self._server.stop()
            self._server = None

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=self.endpoint_url,
            aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=DUMMY_CREDENTIALS["AWS_SESSION_TOKEN"],
        )


def create_keys_table(aws: LocalAws, table_name: str) -> None:
    """The keys table as the stateful stack declares it (hokusai/keys/schema.py)."""
    aws.client("dynamodb").create_table(**schema.create_table_arguments(table_name))


def create_model_bucket(aws: LocalAws, bucket: str) -> None:
    aws.client("s3").create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})


def upload_model(aws: LocalAws, bucket: str, key: str, path: Path) -> str:
    """Put the artifact in the S3 cache; returns its sha256 (what the registry pins)."""
    data = path.read_bytes()
    aws.client("s3").put_object(Bucket=bucket, Key=key, Body=data)
    return hashlib.sha256(data).hexdigest()


@dataclass
class Provisioned:
    deployment: Deployment
    environment: dict[str, str]  # every variable the local functions run with (secret ARNs included)


def provision(
    aws: LocalAws,
    *,
    name: str,
    environment: Mapping[str, str],
    redis_password: str | None,
) -> Provisioned:
    """Deploy the declared resources into moto with the functions configured as they run locally.

    ``environment``: the local functions' variables (one process runs them all, so one map);
    ``redis_password``: the local Redis's password, stored in the Redis auth secret; None when the
    Redis in use has none, in which case no Redis auth secret is declared or passed (as a stack
    without an auth token would do).
    """
    per_function = {
        function: {variable: environment[variable] for variable in variables if variable in environment}
        for function, variables in FUNCTION_ENV.items()
    }
    for function, variables_of in per_function.items():
        variables_of["POWERTOOLS_SERVICE_NAME"] = metric_names.service(metric_names.DEFAULT_PREFIX, function)
    deployment = deploy(aws.endpoint_url, name=name, environment=per_function)
    secret_arns = dict(deployment.secret_arns)
    if redis_password is None:
        secret_arns.pop("redis_auth")
        for function, secrets_of in FUNCTION_SECRETS.items():
            if "REDIS_AUTH_SECRET_ARN" in secrets_of:
                deployment.drop_env_var(function, "REDIS_AUTH_SECRET_ARN")
        deployment.document["functions"] = functions_section(deployment.function_names, secret_arns)
        aws.client("ssm").put_parameter(
            Name=deployment.parameter_name,
            Value=json.dumps(deployment.document),
            Type="String",
            Tier="Advanced",
            Overwrite=True,
        )
    else:
        aws.client("secretsmanager").put_secret_value(
            SecretId=secret_arns["redis_auth"], SecretString=redis_password
        )
    deployment.secret_arns = secret_arns
    local_env = dict(environment)
    local_env["EXPECTED_STATE_PARAMETER"] = deployment.parameter_name
    local_env["ALERT_TOPIC_ARN"] = deployment.topic_arn
    for secrets_of in FUNCTION_SECRETS.values():
        for variable, secret in secrets_of.items():
            if secret in secret_arns:
                local_env[variable] = secret_arns[secret]
    return Provisioned(deployment, local_env)
