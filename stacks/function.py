"""One Hokusai Lambda function, the house way: what every stack deploys a function with.

:func:`hokusai_function` makes ``functions/<name>`` a function named ``<prefix>-<name>`` with its own
log group (named, retained per context, destroyed with the stack), its own role (the Function's
default; the stack grants it statement by statement), ``handler.lambda_handler`` (checked in the
source), Python 3.12 on the context's architecture, the given layers, tracing as the context's one
``tracing`` setting says (:func:`traced`: Lambda's active tracing, ``HOKUSAI_TRACING``, the tracing layer),
the memory, timeout and reserved concurrency of the context, and, for the functions in the VPC, the
private isolated subnets and one security group. The environment is the caller's, complete.

The log group and the function are made in the caller's scope with the ids the stacks always used
(``<Id>Logs``, ``<Id>``), so the CloudFormation logical ids, and the deployed resources, stay put.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Annotations, Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.settings import ColdStart, Settings, log_retention

FUNCTIONS_DIR = Path(__file__).resolve().parent.parent / "functions"
RUNTIME = lambda_.Runtime.PYTHON_3_12
HANDLER = "handler.lambda_handler"


def handler_entry_point(function: str) -> str:
    """``handler.lambda_handler``, the house convention, checked in the source so synth fails loudly
    if a handler is renamed (read with ``ast``, not imported: importing would run its start-up code)."""
    source = FUNCTIONS_DIR / function / "handler.py"
    if not source.is_file():
        return HANDLER
    defined = {
        node.name
        for node in ast.parse(source.read_text()).body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    if "lambda_handler" not in defined:
        raise ValueError(f"{source} does not define lambda_handler")
    return HANDLER


# The start-up wrapper of AWS's OpenTelemetry Lambda layer (context tracingLayerArn).
TRACING_WRAPPER = "/opt/otel-instrument"


def traced(settings: Settings, tracing: bool = True) -> bool:
    """Whether a function is traced: the context's one ``tracing`` setting, unless the function never
    is (``tracing=False``: the revocation stream consumer and the canary-key provisioner)."""
    return tracing and settings.tracing == "on"


def tracing_environment(settings: Settings, tracing: bool = True) -> dict[str, str]:
    """The variables that follow from :func:`traced`: every function's environment includes these, and
    :func:`hokusai_function` refuses an environment that disagrees with its Lambda tracing."""
    on = traced(settings, tracing)
    values = {"HOKUSAI_TRACING": "true" if on else "false"}
    if on and settings.tracing_layer_arn:
        values["AWS_LAMBDA_EXEC_WRAPPER"] = TRACING_WRAPPER
    return values


def architecture(settings: Settings) -> lambda_.Architecture:
    return lambda_.Architecture.ARM_64 if settings.architecture == "arm64" else lambda_.Architecture.X86_64


@dataclass(frozen=True)
class InVpc:
    """Where a function in the VPC runs: the private isolated subnets, behind one security group
    (the functions group, allowAllOutbound false: its egress is exactly the declared rules)."""

    vpc: ec2.IVpc
    security_group: ec2.ISecurityGroup


def hokusai_function(
    scope: Construct,
    name: str,
    *,
    settings: Settings,
    layers: Sequence[lambda_.ILayerVersion],
    environment: Mapping[str, str],
    construct_id: str | None = None,
    description: str | None = None,
    memory_mb: int | None = None,
    default_timeout_seconds: int = 5,
    tracing: bool = True,
    retry_attempts: int | None = None,
    in_vpc: InVpc | None = None,
    snapstart: bool = False,
) -> lambda_.Function:
    """``functions/<name>`` as a function; ``construct_id`` defaults to ``Name`` (its log group
    ``NameLogs``). Memory, timeout and reserved concurrency come from the context's per-function
    settings; ``memory_mb`` and ``default_timeout_seconds`` serve where the context says nothing."""
    construct_id = construct_id or name.title()
    function_name = settings.function_name(name)
    on = traced(settings, tracing)
    expected = tracing_environment(settings, tracing)
    if {key: environment.get(key) for key in expected} != expected:
        raise ValueError(
            f"{name}: its environment must carry {expected} (stacks/function.py tracing_environment), "
            f"got { {key: environment.get(key) for key in expected} }"
        )
    layers = list(layers)
    if on and settings.tracing_layer_arn:
        layers.append(
            lambda_.LayerVersion.from_layer_version_arn(
                scope, f"{construct_id}TracingLayer", settings.tracing_layer_arn
            )
        )
    log_group = logs.LogGroup(
        scope,
        f"{construct_id}Logs",
        log_group_name=f"/aws/lambda/{function_name}",
        retention=log_retention(settings.log_retention_days),
        removal_policy=RemovalPolicy.DESTROY,
    )
    function = lambda_.Function(
        scope,
        construct_id,
        function_name=function_name,
        description=description or f"Hokusai {name} (functions/{name}/handler.py)",
        runtime=RUNTIME,
        architecture=architecture(settings),
        handler=handler_entry_point(name),
        code=lambda_.Code.from_asset(str(FUNCTIONS_DIR / name), exclude=["__pycache__", "*.pyc"]),
        layers=list(layers),
        memory_size=settings.memory_mb.get(name) or memory_mb,
        timeout=Duration.seconds(settings.timeout_seconds.get(name) or default_timeout_seconds),
        reserved_concurrent_executions=settings.reserved_concurrency.get(name),
        environment=dict(environment),
        tracing=lambda_.Tracing.ACTIVE if on else lambda_.Tracing.DISABLED,
        log_group=log_group,
        retry_attempts=retry_attempts,
        vpc=in_vpc.vpc if in_vpc else None,
        vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED) if in_vpc else None,
        security_groups=[in_vpc.security_group] if in_vpc else None,
        # Init runs once when a version is published; its containers restore that snapshot.
        snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if snapstart else None,
        # A released function's versions outlive the release: rolling back by hand moves the alias to
        # the previous one (docs/deploy.md), so CloudFormation must not delete it.
        current_version_options=lambda_.VersionOptions(removal_policy=RemovalPolicy.RETAIN),
    )
    if snapstart:
        Annotations.of(function).acknowledge_warning(
            "@aws-cdk/aws-lambda:snapStartRequirePublish",
            "published: every SnapStart function is a released function, whose current_version the "
            "live alias points at (stacks/rollout.py)",
        )
    return function


class ColdStartError(ValueError):
    """A ``coldStart`` mode Lambda cannot deploy (raised at synth, naming the context key)."""


def check_cold_start(function: str, cold_start: ColdStart, *, mounts_efs: bool) -> None:
    """Refuse the combinations Lambda refuses at deploy time, with the way out.

    SnapStart does not support EFS (the snapshot cannot hold a mounted file system) nor provisioned
    concurrency (both pre-initialise containers; Lambda accepts only one per version).
    """
    key = f"coldStart.{function}"
    if cold_start.snapstart and cold_start.provisioned:
        raise ColdStartError(
            f"Invalid CDK context: {key} is {cold_start.mode!r}: SnapStart and provisioned concurrency "
            "cannot be combined on one function; choose snapstart or provisioned:N"
        )
    if cold_start.snapstart and mounts_efs:
        raise ColdStartError(
            f"Invalid CDK context: {key} is 'snapstart', but {function} mounts the EFS model cache and "
            "SnapStart does not support EFS. Set coldStart.predict to snapstart as well (then neither "
            "predict nor health mounts EFS: the model loads from the S3 cache into the snapshot), or "
            f"use provisioned:N for {function}"
        )
