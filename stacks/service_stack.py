"""Service stack: the layers, the three API functions, the REST API built from api_contract, and the
revocation function on the keys table's stream (deletes revoked keys' Redis entries).

The canary lives in the monitoring stack (it runs outside the VPC, on a schedule). Each function gets
its own role with only the actions and resources it uses; environment variables are exactly the
agreed ones (``hokusai.config`` reads them); the monitoring stack declares them in the expected-state
document with ``hokusai.drift.expected.functions_section`` for the canary's configuration-drift check.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aws_cdk import (
    Annotations,
    CfnOutput,
    Duration,
    RemovalPolicy,
    Stack,
)
from aws_cdk import (
    aws_apigateway as apigateway,
)
from aws_cdk import (
    aws_certificatemanager as acm,
)
from aws_cdk import (
    aws_ec2 as ec2,
)
from aws_cdk import (
    aws_iam as iam,
)
from aws_cdk import (
    aws_lambda as lambda_,
)
from aws_cdk import (
    aws_lambda_event_sources as event_sources,
)
from aws_cdk import (
    aws_logs as logs,
)
from aws_cdk import (
    aws_route53 as route53,
)
from aws_cdk import (
    aws_route53_targets as route53_targets,
)
from aws_cdk import (
    aws_sqs as sqs,
)
from aws_cdk import (
    aws_wafv2 as wafv2,
)
from constructs import Construct
from hokusai import api_contract, metric_names
from hokusai.environment import function_environment, variable

from stacks.function import (
    RUNTIME,
    InVpc,
    architecture,
    check_cold_start,
    hokusai_function,
    tracing_environment,
)
from stacks.layer_manifest import PYTHON_VERSION, check_layer
from stacks.rollout import LiveFunction, Rollout, live_alias
from stacks.settings import RELEASED_FUNCTIONS, Settings, log_retention
from stacks.stateful_stack import EFS_MOUNT_PATH, StatefulStack

ROOT = Path(__file__).resolve().parent.parent
LAYER_DIRS = {
    "common": ROOT / "layers" / "common" / "build",
    "ml": ROOT / "layers" / "ml" / "build",
    "onnx": ROOT / "layers" / "onnx" / "build",
}
LAYER_DESCRIPTIONS = {
    "ml": "scikit-learn, numpy, scipy, skops, huggingface_hub (layers/ml/requirements.txt)",
    "onnx": "numpy, onnxruntime: serving from verified ONNX twins (layers/onnx/requirements.txt)",
}
# Test-only: a tiny directory standing in for both layers so `make test` synthesizes without
# building ~200 MB of wheels (context hokusai:layerAssets=placeholder; never deploy it).
PLACEHOLDER_LAYER_DIR = ROOT / "layers" / "placeholder"
# The revocation stream's retries: until Redis answers (-1: Lambda's "infinite"), within the stream's
# 24 h retention (docs/authorizer.md).
REVOCATION_RETRY_ATTEMPTS = -1


def powertools_values(function: str, settings: Settings) -> dict[str, str]:
    """What Powertools reads in every function: its service name and namespace (both the
    deployment's own: ``hokusai.metric_names``), the log level."""
    return {
        "POWERTOOLS_SERVICE_NAME": metric_names.service(settings.prefix, function),
        "POWERTOOLS_METRICS_NAMESPACE": metric_names.namespace(settings.prefix),
        "POWERTOOLS_LOG_LEVEL": settings.log_level,
    }


def predict_layer(settings: Settings) -> tuple[str, str]:
    """Which layer predict runs on, and why (said at synth): the lean ``onnx`` layer when every model
    in the registry has a pinned ONNX twin (hokusai.models.twin) and the Hub fallback is off, else the
    full scikit-learn ``ml`` layer (which then serves every model from its skops file)."""
    without = sorted(model_id for model_id, entry in settings.models.items() if not entry.get("twin_sha256"))
    if without:
        return "ml", f"full ML layer (scikit-learn): no ONNX twin for model(s) {', '.join(without)}"
    if settings.hub_fallback:
        return "ml", "full ML layer (scikit-learn): the Hub fallback needs huggingface_hub"
    return "onnx", "lean layer (numpy + onnxruntime, no scikit-learn): every model has an ONNX twin"


def layer_asset_dir(layer: str, settings: Settings) -> Path:
    """The built layer directory, refused unless its manifest says it was built for this synth's
    architecture and Python: a mismatch would only show at the first cold start, as an import error
    of a native module (e.g. ``pydantic_core._pydantic_core``)."""
    if settings.layer_assets == "placeholder":
        return PLACEHOLDER_LAYER_DIR
    override = settings.layer_dirs.get(layer)
    # Relative overrides are relative to the repo root, where cdk and make run.
    directory = (ROOT / override) if override else LAYER_DIRS[layer]
    if not (directory / "python").is_dir():
        raise FileNotFoundError(
            f"{directory}/python is missing: run `make layers` first (it builds the {layer} layer "
            "offline-ready; `cdk synth` then needs no network)"
        )
    check_layer(directory, architecture=settings.architecture, python_version=PYTHON_VERSION, root=ROOT)
    return directory


def layer_version(scope: Construct, layer: str, settings: Settings, description: str) -> lambda_.LayerVersion:
    """A LayerVersion of the built ``layer`` in ``scope``'s own stack.

    Each stack that runs functions builds its own LayerVersion from the same asset (uploaded once: the
    asset hash is the same): a LayerVersion is replaced on every release that changes the package, so
    its ARN must never be a cross-stack export (CloudFormation refuses to change an export in use;
    tests/infra/test_second_release.py).
    """
    return lambda_.LayerVersion(
        scope,
        f"{layer.title()}Layer",
        code=lambda_.Code.from_asset(str(layer_asset_dir(layer, settings))),
        compatible_runtimes=[RUNTIME],
        compatible_architectures=[architecture(settings)],
        description=description,
    )


# JSON Schema keywords whose values are schemas themselves (one, a list, or a map of them).
_SUBSCHEMA = {"items", "not", "additionalProperties", "additionalItems"}
_SUBSCHEMA_LISTS = {"allOf", "anyOf", "oneOf"}
_SUBSCHEMA_MAPS = {"properties", "patternProperties", "definitions"}


def json_schema(schema: Mapping[str, Any]) -> apigateway.JsonSchema:
    """A JSON Schema written as plain JSON (``hokusai.api_contract``) as CDK's ``JsonSchema``, keyword
    for keyword (``minItems`` -> ``min_items``); a keyword CDK does not know is a TypeError at synth."""
    options: dict[str, Any] = {}
    for keyword, value in schema.items():
        if keyword == "$schema":
            if value != api_contract.JSON_SCHEMA_DRAFT4:
                raise ValueError(f"API Gateway models are JSON Schema draft-04, not {value}")
            options["schema"] = apigateway.JsonSchemaVersion.DRAFT4
        elif keyword == "$ref":
            options["ref"] = value
        elif keyword == "type":
            types = [apigateway.JsonSchemaType[name.upper()] for name in _as_list(value)]
            options["type"] = types if isinstance(value, list) else types[0]
        elif keyword in _SUBSCHEMA_MAPS:
            options[_snake(keyword)] = {name: json_schema(item) for name, item in value.items()}
        elif keyword in _SUBSCHEMA_LISTS or (keyword in _SUBSCHEMA and isinstance(value, list)):
            options[_snake(keyword)] = [json_schema(item) for item in value]
        elif keyword in _SUBSCHEMA and not isinstance(value, bool):
            options[_snake(keyword)] = json_schema(value)
        else:
            options[_snake(keyword)] = value
    return apigateway.JsonSchema(**options)


def _snake(keyword: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", keyword).lower()


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


class ServiceStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        stateful: StatefulStack,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.settings = settings
        self.stateful = stateful
        self.architecture = architecture(settings)
        self.common_layer = self._layer(
            "common", "hokusai package + requirements/runtime.txt (powertools, redis, pydantic)"
        )
        # predict's model layer, lean or full (said at synth as an info annotation on predict).
        (self.predict_layer_name, why), self.ml_layer = self._predict_layer()
        registry = json.dumps(settings.models, sort_keys=True, separators=(",", ":"))
        functions_sg = stateful.security_groups["functions"]
        self.secret_arns = {
            "redis": stateful.redis_secret.secret_arn,
            "hf_token": stateful.hf_token_secret.secret_arn,
            "canary_key": stateful.canary_key_secret.secret_arn,
            "auth_cache_key": stateful.auth_cache_key_secret.secret_arn,
        }
        # SnapStart does not support EFS: with predict in snapstart mode the model loads from the S3
        # cache into the snapshot, and neither predict nor health mounts the EFS cache.
        self.model_cache_on_efs = not settings.cold_start["predict"].snapstart
        self._check_cold_starts()
        # Only the values that come from this deployment; every other variable gets its declared
        # default, and a variable a function does not read is refused (hokusai/environment.py).
        model_cache = {
            "MODEL_REGISTRY": registry,
            "MODEL_BUCKET": stateful.model_bucket.bucket_name,
            "MODEL_BUCKET_PREFIX": settings.model_bucket_prefix,
        }
        if self.model_cache_on_efs:
            model_cache["MODEL_CACHE_DIR"] = EFS_MOUNT_PATH
        redis = {"REDIS_URL": stateful.redis_url, "REDIS_AUTH_SECRET_ARN": self.secret_arns["redis"]}
        keys_table = {"KEYS_TABLE_NAME": stateful.keys_table.table_name}
        authorizer_values = {
            **keys_table,
            **redis,
            "AUTH_CACHE_KEY_SECRET_ARN": self.secret_arns["auth_cache_key"],
        }
        if settings.auth_service_url:
            authorizer_values["AUTH_SERVICE_URL"] = settings.auth_service_url
        predict_values = {**model_cache, "MODEL_HUB_FALLBACK": "true" if settings.hub_fallback else "false"}
        if settings.hub_fallback:
            # Only then does predict need the token and a writable HF_HOME (the canary checks the
            # secret only where a function references it).
            predict_values |= {
                "HF_TOKEN_SECRET_ARN": self.secret_arns["hf_token"],
                "HF_HOME": str(variable("HF_HOME").default),
                "HF_DOWNLOAD_TIMEOUT_MS": str(variable("HF_DOWNLOAD_TIMEOUT_MS").default),
            }
            if settings.hf_endpoint:
                predict_values["HF_ENDPOINT"] = settings.hf_endpoint
        health_values = {
            **keys_table,
            **redis,
            **model_cache,
            "HEALTH_DEADLINE_MS": str(settings.health_deadline_ms),
            "SERVICE_VERSION": settings.service_version,
        }
        authorizer_environment = self._environment("authorizer", authorizer_values)
        predict_environment = self._environment("predict", predict_values)
        health_environment = self._environment("health", health_values)
        # The stream consumer reaches Redis exactly as the authorizer does, and reads nothing else.
        revocation_environment = self._environment("revocation", dict(redis), tracing=False)
        self.environments: dict[str, dict[str, str]] = {}
        self.log_groups: dict[str, logs.ILogGroup] = {}
        self.authorizer = self._function(
            "authorizer", authorizer_environment, [self.common_layer], functions_sg
        )
        self.predict = self._function(
            "predict", predict_environment, [self.common_layer, self.ml_layer], functions_sg, said=why
        )
        self.health = self._function("health", health_environment, [self.common_layer], functions_sg)
        # No X-Ray: it serves no request, and so needs no xray:* (Resource::*) grant.
        self.revocation = self._function(
            "revocation", revocation_environment, [self.common_layer], functions_sg, tracing=False
        )
        self.functions = {
            "authorizer": self.authorizer,
            "predict": self.predict,
            "health": self.health,
            "revocation": self.revocation,
        }
        self.revocation_failures = self._revocation_stream()
        self.staged_models = stateful.staged_models
        if self.model_cache_on_efs:
            self._mount_model_cache(self.predict, writable=True)
            self._mount_model_cache(self.health, writable=False)
        self._grant()
        self._release()
        self.api = self._api()
        self.usage_plans = self._usage_plans(self.api)
        waf_limit = settings.waf_rate_limit
        self.web_acl = self._web_acl(self.api, waf_limit) if waf_limit is not None else None
        CfnOutput(self, "ApiBaseUrl", value=self.api.url, description="Clients' base URL (ends in /api/)")
        self.domain = self._custom_domain(self.api) if settings.domain is not None else None
        # The URL clients use: the custom domain when there is one (so the canary walks through the
        # same mapping, certificate and DNS record as they do, and pages someone when one breaks).
        self.client_base_url = (
            f"https://{settings.domain.domain_name}/{api_contract.CUSTOM_DOMAIN_BASE_PATH}/"
            if settings.domain is not None
            else self.api.url
        )

    def _custom_domain(self, api: apigateway.RestApi) -> apigateway.DomainName:
        """``https://<domainName>/api/...``: the base path ``api`` maps to the stage, whose own paths
        start at ``/v1``, so the seed's client URLs work unchanged. TLS 1.2, REGIONAL (the certificate
        lives in the stack's region); with ``hostedZoneId`` an alias A record points the name at it."""
        domain = self.settings.domain
        assert domain is not None
        name = apigateway.DomainName(
            self,
            "ApiDomain",
            domain_name=domain.domain_name,
            certificate=acm.Certificate.from_certificate_arn(self, "ApiCertificate", domain.certificate_arn),
            endpoint_type=apigateway.EndpointType.REGIONAL,
            security_policy=apigateway.SecurityPolicy.TLS_1_2,
        )
        name.add_base_path_mapping(
            api, base_path=api_contract.CUSTOM_DOMAIN_BASE_PATH, stage=api.deployment_stage
        )
        if domain.hosted_zone_id:
            zone = route53.HostedZone.from_hosted_zone_attributes(
                self, "ApiZone", hosted_zone_id=domain.hosted_zone_id, zone_name=domain.domain_name
            )
            route53.ARecord(
                self,
                "ApiAliasRecord",
                zone=zone,
                record_name=domain.domain_name,
                target=route53.RecordTarget.from_alias(route53_targets.ApiGatewayDomain(name)),
            )
        CfnOutput(
            self,
            "CustomDomainBaseUrl",
            value=f"https://{domain.domain_name}/{api_contract.CUSTOM_DOMAIN_BASE_PATH}",
            description="Clients' base URL on the custom domain",
        )
        CfnOutput(
            self,
            "CustomDomainTarget",
            value=name.domain_name_alias_domain_name,
            description="Point the domain's DNS (CNAME or alias) here when hostedZoneId is not given",
        )
        return name

    def _environment(self, name: str, values: dict[str, str], *, tracing: bool = True) -> dict[str, str]:
        return function_environment(
            name,
            powertools_values(name, self.settings) | tracing_environment(self.settings, tracing) | values,
        )

    # ---------------------------------------------------------------------------------------------
    def _layer(self, layer: str, description: str) -> lambda_.LayerVersion:
        return layer_version(self, layer, self.settings, description)

    def _predict_layer(self) -> tuple[tuple[str, str], lambda_.LayerVersion]:
        name, why = predict_layer(self.settings)
        return (name, why), self._layer(name, LAYER_DESCRIPTIONS[name])

    def _function(
        self,
        name: str,
        environment: dict[str, str],
        layers: list[lambda_.ILayerVersion],
        security_group: ec2.ISecurityGroup,
        *,
        tracing: bool = True,
        said: str | None = None,
    ) -> lambda_.Function:
        """A function in the VPC (stacks/function.py), remembered with its environment and log group;
        ``said``: which layer it runs on and why, printed at synth."""
        self.environments[name] = environment
        cold_start = self.settings.cold_start.get(name)
        function = hokusai_function(
            self,
            name,
            settings=self.settings,
            layers=layers,
            environment=environment,
            tracing=tracing,
            in_vpc=InVpc(self.stateful.vpc, security_group),
            snapstart=bool(cold_start and cold_start.snapstart),
        )
        self.log_groups[name] = function.log_group
        if said:
            Annotations.of(function).add_info(f"{name} runs on the {said}")
        return function

    def _release(self) -> None:
        """What clients reach: each released function's `live` alias, moved by CodeDeploy after the
        pre-traffic hook passed (stacks/rollout.py)."""
        self.live: dict[str, LiveFunction] = {
            name: live_alias(self, name, self.functions[name], self.settings.cold_start[name].provisioned)
            for name in RELEASED_FUNCTIONS
        }
        self.pre_traffic = self._pre_traffic_hook()
        self.rollout = Rollout(
            self, "Rollout", settings=self.settings, live=self.live, pre_traffic_hook=self.pre_traffic
        )

    def _check_cold_starts(self) -> None:
        for name in RELEASED_FUNCTIONS:
            mounts_efs = self.model_cache_on_efs and name in ("predict", "health")
            check_cold_start(name, self.settings.cold_start[name], mounts_efs=mounts_efs)

    def _pre_traffic_hook(self) -> lambda_.Function:
        """CodeDeploy's pre-traffic hook (hokusai.rollout): outside the VPC, like the canary, since
        it calls only AWS APIs (Lambda Invoke on the release's versions, Secrets Manager for the
        canary key, CodeDeploy for the verdict). Its environment names this release's versions, so
        it changes with every release and CloudFormation updates it before the aliases move."""
        name = "pre_traffic"
        environment = self._environment(
            name,
            {
                "RELEASE_AUTHORIZER_VERSION": self.live["authorizer"].version.function_arn,
                "RELEASE_PREDICT_VERSION": self.live["predict"].version.function_arn,
                "RELEASE_HEALTH_VERSION": self.live["health"].version.function_arn,
                "CANARY_KEY_SECRET_ARN": self.secret_arns["canary_key"],
                "CANARY_MODEL_ID": self.settings.canary_model_id,
            },
        )
        self.environments[name] = environment
        hook = hokusai_function(
            self,
            name,
            construct_id="PreTrafficHook",
            settings=self.settings,
            layers=[self.common_layer],
            environment=environment,
            description="Hokusai pre-traffic hook: the canary's checks on a release's new versions",
            default_timeout_seconds=120,
            # CodeDeploy invokes it once per deployment group; a retry would report a second verdict.
            retry_attempts=0,
        )
        self.log_groups[name] = hook.log_group
        for released in self.live.values():
            released.version.grant_invoke(hook)
        self.stateful.canary_key_secret.grant_read(hook)
        return hook

    def _revocation_stream(self) -> sqs.Queue:
        """The keys table's stream -> the revocation function, which deletes a revoked (or changed)
        key's Redis entry at once. It is the fast path: the guarantee is the revocation bound
        (AUTH_REVOCATION_BOUND_SECONDS, hokusai/auth/chain.py), which holds without it.

        A record whose entry could not be deleted (Redis unreachable) is reported in
        ``batchItemFailures`` and retried until Redis answers (``retry_attempts=-1``, no maximum
        record age: the stream's 24 h retention is the only limit), so no delete is dropped while
        Redis is down; the mapping's IteratorAge then grows, and the monitoring stack's
        ``revocation-stalled`` alarm says so. Only a record older than the stream's retention reaches
        the on-failure queue (its metadata: shard and sequence numbers, never an item), which is
        alarmed too (``revocation-failed``)."""
        failures = sqs.Queue(
            self,
            "RevocationFailures",
            queue_name=f"{self.settings.prefix}-revocation-failures",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        self.revocation.add_event_source(
            event_sources.DynamoEventSource(
                self.stateful.keys_table,
                # From the oldest record kept: a revocation made while the mapping was being created
                # (first deploy) is not skipped.
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=100,
                bisect_batch_on_error=True,
                retry_attempts=REVOCATION_RETRY_ATTEMPTS,
                report_batch_item_failures=True,
                on_failure=event_sources.SqsDlq(failures),
            )
        )
        return failures

    def _mount_model_cache(self, function: lambda_.Function, *, writable: bool) -> None:
        """Mount the EFS access point without the L2 ``filesystem`` prop: that prop would add a second,
        undeclared functions -> EFS ingress rule; the declared one already exists."""
        stateful = self.stateful
        cfn_function = function.node.default_child
        assert isinstance(cfn_function, lambda_.CfnFunction)
        cfn_function.file_system_configs = [
            lambda_.CfnFunction.FileSystemConfigProperty(
                arn=stateful.access_point.access_point_arn, local_mount_path=EFS_MOUNT_PATH
            )
        ]
        # Lambda refuses a file system whose mount targets are not yet available.
        function.node.add_dependency(stateful.file_system.mount_targets_available)
        actions = ["elasticfilesystem:ClientMount"]
        if writable:
            actions.append("elasticfilesystem:ClientWrite")
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=actions,
                resources=[stateful.file_system.file_system_arn],
                conditions={
                    "StringEquals": {
                        "elasticfilesystem:AccessPointArn": stateful.access_point.access_point_arn
                    }
                },
            )
        )

    def _grant(self) -> None:
        stateful = self.stateful
        table = stateful.keys_table
        prefix_objects = stateful.model_bucket.arn_for_objects(f"{self.settings.model_bucket_prefix}*")
        # Authorizer: one GetItem per cache miss (key_hash is the partition key), and the Redis token.
        self.authorizer.add_to_role_policy(
            iam.PolicyStatement(actions=["dynamodb:GetItem"], resources=[table.table_arn])
        )
        stateful.redis_secret.grant_read(self.authorizer)
        # The Redis entries' signing key: the authorizer's alone (hokusai/auth/entries.py).
        stateful.auth_cache_key_secret.grant_read(self.authorizer)
        # Predict: the model cache prefix in S3 (read, write-through, discard a corrupt copy) and the
        # Hub token. ListBucket on the bucket (not its objects) makes a missing model a 404, which the
        # loader treats as a miss and falls through; without it S3 answers 403 and the chain stops.
        self.predict.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], resources=[prefix_objects]
            )
        )
        list_bucket = iam.PolicyStatement(
            actions=["s3:ListBucket"], resources=[stateful.model_bucket.bucket_arn]
        )
        self.predict.add_to_role_policy(list_bucket)
        if self.settings.hub_fallback:
            stateful.hf_token_secret.grant_read(self.predict)
        # Revocation: the Redis token (the stream read and the on-failure queue are granted by the event
        # source: DescribeStream/GetRecords/GetShardIterator on this table's stream only, ListStreams).
        stateful.redis_secret.grant_read(self.revocation)
        # Health: is the table there, can one item be read, is the model object there (HeadObject is
        # authorised by s3:GetObject), and the Redis token to reach Redis as the authorizer does.
        self.health.add_to_role_policy(
            iam.PolicyStatement(
                actions=["dynamodb:DescribeTable", "dynamodb:GetItem"], resources=[table.table_arn]
            )
        )
        self.health.add_to_role_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[prefix_objects])
        )
        # So a missing model reads "404 Not Found" in /health, not a misleading "403 Forbidden".
        self.health.add_to_role_policy(list_bucket)
        stateful.redis_secret.grant_read(self.health)

    def _usage_plans(self, api: apigateway.RestApi) -> dict[str, apigateway.UsagePlan]:
        """One usage plan per declared plan, on the stage, named ``<prefix>-<plan>`` (the CLI finds it
        by that name: ``hokusai keys create --plan <plan>``)."""
        plans = {}
        for plan in self.settings.usage_plans.values():
            plans[plan.name] = api.add_usage_plan(
                f"UsagePlan{plan.name.title().replace('-', '')}",
                name=plan.deployed_name(self.settings.prefix),
                description=f"hokusai keys create --plan {plan.name}",
                throttle=apigateway.ThrottleSettings(
                    rate_limit=plan.rate_limit, burst_limit=plan.burst_limit
                ),
                quota=apigateway.QuotaSettings(limit=plan.quota_per_day, period=apigateway.Period.DAY),
                api_stages=[apigateway.UsagePlanPerApiStage(api=api, stage=api.deployment_stage)],
            )
        return plans

    def _web_acl(self, api: apigateway.RestApi, limit: int) -> wafv2.CfnWebACL:
        """A rate-based rule per client IP (``wafRateLimit`` requests per 5 minutes) on the stage."""
        visibility = wafv2.CfnWebACL.VisibilityConfigProperty(
            cloud_watch_metrics_enabled=True,
            metric_name=f"{self.settings.prefix}-api",
            sampled_requests_enabled=True,
        )
        acl = wafv2.CfnWebACL(
            self,
            "ApiWebAcl",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=visibility,
            rules=[
                wafv2.CfnWebACL.RuleProperty(
                    name="rate-per-ip",
                    priority=0,
                    action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                            limit=limit, aggregate_key_type="IP"
                        )
                    ),
                    visibility_config=wafv2.CfnWebACL.VisibilityConfigProperty(
                        cloud_watch_metrics_enabled=True,
                        metric_name=f"{self.settings.prefix}-rate-per-ip",
                        sampled_requests_enabled=True,
                    ),
                )
            ],
        )
        wafv2.CfnWebACLAssociation(
            self,
            "ApiWebAclAssociation",
            resource_arn=api.deployment_stage.stage_arn,
            web_acl_arn=acl.attr_arn,
        )
        return acl

    def _method_not_allowed(self, api: apigateway.RestApi) -> None:
        """``ANY`` on each declared resource answers 405 with ``Allow`` (api_contract.METHOD_NOT_ALLOWED):
        a declared method wins over ``ANY``, so only the methods the resource does not serve reach it.
        A MOCK integration: no function runs, nothing is authorized, nothing but the method list is told."""
        answer = api_contract.METHOD_NOT_ALLOWED
        for path in sorted({route.path for route in api_contract.ROUTES}):
            headers = answer.headers(path)
            integration = apigateway.MockIntegration(
                request_templates={api_contract.JSON_CONTENT_TYPE: '{"statusCode": 405}'},
                passthrough_behavior=apigateway.PassthroughBehavior.WHEN_NO_TEMPLATES,
                integration_responses=[
                    apigateway.IntegrationResponse(
                        status_code=str(answer.status_code),
                        response_parameters={
                            f"method.response.header.{name}": f"'{value}'" for name, value in headers.items()
                        },
                        response_templates={api_contract.JSON_CONTENT_TYPE: answer.template(path)},
                    )
                ],
            )
            api.root.resource_for_path(path).add_method(
                "ANY",
                integration,
                authorization_type=apigateway.AuthorizationType.NONE,
                method_responses=[
                    apigateway.MethodResponse(
                        status_code=str(answer.status_code),
                        response_parameters={f"method.response.header.{name}": True for name in headers},
                    )
                ],
            )

    def _api(self) -> apigateway.RestApi:
        settings = self.settings
        access_logs = logs.LogGroup(
            self,
            "ApiAccessLogs",
            retention=log_retention(settings.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        api = apigateway.RestApi(
            self,
            "Api",
            rest_api_name=f"{settings.prefix}-api",
            description="Hokusai model-serving API (clients' base URL ends in /api)",
            endpoint_types=[apigateway.EndpointType.REGIONAL],
            # Per-key limits: the authorizer names the key's usage plan key (usageIdentifierKey).
            api_key_source_type=apigateway.ApiKeySourceType.AUTHORIZER,
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN,
            deploy_options=apigateway.StageOptions(
                stage_name=api_contract.STAGE_NAME,
                throttling_rate_limit=settings.throttle_rate_limit,
                throttling_burst_limit=settings.throttle_burst_limit,
                tracing_enabled=True,
                metrics_enabled=True,
                logging_level=apigateway.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,  # request bodies hold no keys, but headers do: never log them
                access_log_destination=apigateway.LogGroupLogDestination(access_logs),
                access_log_format=apigateway.AccessLogFormat.json_with_standard_fields(
                    caller=False,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=False,
                ),
            ),
        )
        self.authorizer_construct = apigateway.RequestAuthorizer(
            self,
            "ApiKeyAuthorizer",
            handler=self.live["authorizer"].alias,
            # No identity source: a client sends either Authorization or X-API-Key, and API Gateway can
            # only require all of its identity sources. That is also why its result cache is off.
            identity_sources=[],
            results_cache_ttl=Duration.seconds(0),
        )
        validator = apigateway.RequestValidator(
            self,
            "Validator",
            rest_api=api,
            request_validator_name="body-and-parameters",
            validate_request_body=True,
            validate_request_parameters=True,
        )
        # The bodies api_contract declares, validated against the very schema the emulator uses.
        models = {
            route.body: api.add_model(
                route.body.name,
                content_type=route.body.content_type,
                model_name=route.body.name,
                schema=json_schema(route.body.schema),
            )
            for route in api_contract.ROUTES
            if route.body is not None
        }
        for route in api_contract.ROUTES:
            resource = api.root.resource_for_path(route.path)
            parameters = {
                f"method.request.path.{segment[1:-1]}": True
                for segment in route.path.split("/")
                if segment.startswith("{")
            }
            options: dict[str, Any] = {
                "request_validator": validator,
                "request_parameters": parameters or None,
            }
            if route.body is not None:
                options["request_models"] = {route.body.content_type: models[route.body]}
            if route.authorized:
                options["authorizer"] = self.authorizer_construct
                options["authorization_type"] = apigateway.AuthorizationType.CUSTOM
                # Usage plans apply only to methods that require an API key; with the AUTHORIZER
                # source, that key is the authorizer's usageIdentifierKey, never a client header.
                options["api_key_required"] = True
            else:
                options["authorization_type"] = apigateway.AuthorizationType.NONE
            resource.add_method(
                route.method,
                apigateway.LambdaIntegration(self.live[route.function].alias, proxy=True),
                **options,
            )
        self._method_not_allowed(api)
        for response in api_contract.GATEWAY_RESPONSES:
            api.add_gateway_response(
                f"Response{response.response_type.title().replace('_', '')}",
                type=apigateway.ResponseType.of(response.response_type),
                status_code=str(response.status_code) if response.status_code is not None else None,
                response_headers=response.response_parameters(),
                templates={api_contract.JSON_CONTENT_TYPE: response.template()},
            )
        return api
