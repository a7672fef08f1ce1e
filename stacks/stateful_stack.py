"""Stateful stack: the network, the data and the secrets. Deployed rarely; retained on delete.

Security groups and every one of their rules come from ``hokusai.declared`` (SECURITY_GROUPS, RULES),
the same declaration the canary reads back from the expected-state parameter, so what is deployed and
what is checked cannot disagree (docs/incidents.md section 3: a Redis ingress rule declared but never
applied). Each rule is its own CloudFormation resource, so a failed rule fails the deployment loudly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import (
    CfnOutput,
    Duration,
    Fn,
    RemovalPolicy,
    Stack,
    custom_resources,
)
from aws_cdk import (
    aws_dynamodb as dynamodb,
)
from aws_cdk import (
    aws_ec2 as ec2,
)
from aws_cdk import (
    aws_efs as efs,
)
from aws_cdk import (
    aws_elasticache as elasticache,
)
from aws_cdk import (
    aws_logs as logs,
)
from aws_cdk import (
    aws_s3 as s3,
)
from aws_cdk import (
    aws_s3_deployment as s3deploy,
)
from aws_cdk import (
    aws_secretsmanager as secretsmanager,
)
from constructs import Construct
from hokusai import declared
from hokusai.keys import schema
from hokusai.models import staging
from hokusai.models.registry import parse_registry, s3_key

from stacks.settings import Settings, log_retention

ROOT = Path(__file__).resolve().parent.parent

REDIS_PORT = 6379
EFS_MOUNT_PATH = "/mnt/models"
# Redis (primary + replica) and EFS mount targets span two zones.
ZONE_COUNT = 2
EFS_ACCESS_POINT_PATH = "/models"
# The Lambda functions' POSIX identity on EFS (the access point enforces it).
EFS_POSIX_UID = "1000"
# Gateway endpoints' AWS-managed prefix lists, named com.amazonaws.<region>.<service>.
PREFIX_LIST_SERVICES = {"s3": "s3", "dynamodb": "dynamodb"}


class ModelNotStagedError(ValueError):
    """A registry model has no local copy to stage and predict may not reach the Hub."""


class StatefulStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, **kwargs: object) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        self.settings = settings
        self.vpc = self._vpc()
        self.security_groups = self._security_groups()
        self.prefix_list_ids = self._prefix_list_ids()
        self._rules()
        self.secrets_endpoint = self.vpc.add_interface_endpoint(
            "SecretsManagerEndpoint",
            service=ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
            security_groups=[self.security_groups["endpoints"]],
            # The endpoints group's only ingress is the declared one (functions -> 443); CDK's default
            # would add a second rule open to the whole VPC CIDR.
            open=False,
            private_dns_enabled=True,
            subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
        )
        self.keys_table = self._keys_table()
        self.model_bucket = self._model_bucket()
        self.staged_models = self._stage_models()
        self.file_system, self.access_point = self._file_system()
        self.redis_secret = secretsmanager.Secret(
            self,
            "RedisAuthToken",
            description="ElastiCache Redis AUTH token (REDIS_AUTH_SECRET_ARN). Rotate: docs/deploy.md.",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                # ElastiCache tokens: 16-128 printable characters without / " @.
                exclude_punctuation=True,
                password_length=64,
            ),
        )
        self.hf_token_secret = secretsmanager.Secret(
            self,
            "HuggingFaceToken",
            description=(
                "HuggingFace Hub token for private model repos (HF_TOKEN_SECRET_ARN). "
                "Put the real token after the first deploy: docs/deploy.md."
            ),
        )
        self.canary_key_secret = secretsmanager.Secret(
            self,
            "CanaryApiKey",
            description=(
                "The canary's API key (CANARY_KEY_SECRET_ARN). Written by the HokusaiMonitoring stack's "
                "CanaryKey custom resource on deploy; rotate with canaryKeyRotation: docs/deploy.md."
            ),
        )
        # The key that signs the authorizer's Redis entries (hokusai/auth/entries.py): read by the
        # authorizer alone, so nothing else that holds the Redis token can write an entry it accepts.
        self.auth_cache_key_secret = secretsmanager.Secret(
            self,
            "AuthCacheSigningKey",
            description=(
                "Signs the authorizer's Redis cache entries (AUTH_CACHE_KEY_SECRET_ARN); read by the "
                "authorizer only. Rotate: docs/authorizer.md."
            ),
            generate_secret_string=secretsmanager.SecretStringGenerator(
                exclude_punctuation=True, password_length=64
            ),
        )
        self.redis_url = self._redis()
        CfnOutput(self, "KeysTableName", value=self.keys_table.table_name)
        CfnOutput(self, "ModelBucketName", value=self.model_bucket.bucket_name)
        CfnOutput(self, "RedisUrl", value=self.redis_url)
        CfnOutput(self, "HuggingFaceTokenSecretArn", value=self.hf_token_secret.secret_arn)
        CfnOutput(self, "CanaryKeySecretArn", value=self.canary_key_secret.secret_arn)

    @property
    def availability_zones(self) -> list[str]:
        """The two zones of the VPC, Redis and EFS: context ``availabilityZones`` when given, else the
        first two of the region's zones, chosen by CloudFormation at deploy time (``Fn::GetAZs``).

        Never ``<region>a``/``<region>b`` literals: zone names differ per account (not every account
        has every letter; cfn-lint W3010), and the pinned CLI always binds a region. No lookup at
        synth either, so `cdk synth` stays offline and needs no credentials.
        """
        zones = list(self.settings.availability_zones)
        if zones:
            return zones
        return [Fn.select(index, Fn.get_azs()) for index in range(ZONE_COUNT)]

    # ---------------------------------------------------------------------------------------------
    def _vpc(self) -> ec2.Vpc:
        zones = list(self.settings.availability_zones)
        flow_logs = logs.LogGroup(
            self,
            "VpcFlowLogs",
            retention=log_retention(self.settings.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr("10.42.0.0/16"),
            availability_zones=zones or None,
            max_azs=None if zones else ZONE_COUNT,
            # Isolated subnets only: no NAT gateway, no internet gateway. AWS services are reached
            # through the endpoints below; the Hub is kept off the request path (models sync).
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24
                )
            ],
            gateway_endpoints={
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3),
                "DynamoDB": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.DYNAMODB),
            },
            restrict_default_security_group=False,
            flow_logs={
                "RejectedAndAccepted": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
                    traffic_type=ec2.FlowLogTrafficType.ALL,
                )
            },
        )
        return vpc

    def _security_groups(self) -> dict[str, ec2.SecurityGroup]:
        groups: dict[str, ec2.SecurityGroup] = {}
        for group in declared.SECURITY_GROUPS:
            groups[group.name] = ec2.SecurityGroup(
                self,
                f"{group.name.title()}SecurityGroup",
                vpc=self.vpc,
                description=group.description,
                # Nothing leaves a group unless a declared rule says so.
                allow_all_outbound=False,
            )
        return groups

    def _prefix_list_ids(self) -> dict[str, str]:
        """The gateway endpoints' managed prefix list ids, looked up at deploy time.

        CloudFormation exposes no attribute for them, and a synth-time lookup would need credentials;
        a one-call custom resource keeps `cdk synth` offline.
        """
        ids: dict[str, str] = {}
        for name, service in PREFIX_LIST_SERVICES.items():
            list_name = f"com.amazonaws.{self.region}.{service}"
            call = custom_resources.AwsSdkCall(
                service="EC2",
                action="describeManagedPrefixLists",
                parameters={"Filters": [{"Name": "prefix-list-name", "Values": [list_name]}]},
                physical_resource_id=custom_resources.PhysicalResourceId.of(list_name),
                output_paths=["PrefixLists.0.PrefixListId"],
            )
            lookup = custom_resources.AwsCustomResource(
                self,
                f"{name.title()}PrefixList",
                on_create=call,
                on_update=call,
                policy=custom_resources.AwsCustomResourcePolicy.from_sdk_calls(
                    resources=custom_resources.AwsCustomResourcePolicy.ANY_RESOURCE
                ),
                install_latest_aws_sdk=False,
                log_retention=None,
            )
            ids[name] = lookup.get_response_field("PrefixLists.0.PrefixListId")
        return ids

    def _rules(self) -> None:
        """One CloudFormation resource per declared rule (hokusai.declared.RULES), nothing else."""
        for index, rule in enumerate(declared.RULES):
            group = self.security_groups[rule.group]
            logical_id = f"Rule{index:02d}{rule.group.title()}{rule.direction.title()}{rule.port}"
            peer_group_id = (
                self.security_groups[rule.peer_group].security_group_id if rule.peer_group else None
            )
            prefix_list_id = self.prefix_list_ids[rule.peer_prefix_list] if rule.peer_prefix_list else None
            rule_properties: dict[str, Any] = {
                "group_id": group.security_group_id,
                "ip_protocol": rule.protocol,
                "from_port": rule.port,
                "to_port": rule.port,
                "description": rule.description,
            }
            if rule.direction == "ingress":
                ec2.CfnSecurityGroupIngress(
                    self,
                    logical_id,
                    source_security_group_id=peer_group_id,
                    source_prefix_list_id=prefix_list_id,
                    **rule_properties,
                )
            else:
                ec2.CfnSecurityGroupEgress(
                    self,
                    logical_id,
                    destination_security_group_id=peer_group_id,
                    destination_prefix_list_id=prefix_list_id,
                    **rule_properties,
                )

    def _keys_table(self) -> dynamodb.Table:
        table = dynamodb.Table(
            self,
            "KeysTable",
            partition_key=dynamodb.Attribute(
                name=schema.KEY_HASH_ATTRIBUTE, type=dynamodb.AttributeType.STRING
            ),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            # Revocation reaches the authorizer's Redis through this stream (functions/revocation):
            # the old and new images say whether a change makes the cached entry stale.
            stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        table.add_global_secondary_index(
            index_name=schema.KEY_ID_INDEX,
            partition_key=dynamodb.Attribute(
                name=schema.KEY_ID_ATTRIBUTE, type=dynamodb.AttributeType.STRING
            ),
            projection_type=dynamodb.ProjectionType.ALL,
        )
        return table

    def _stage_models(self) -> dict[str, bool]:
        """Copy every registry model we have locally into the S3 cache at deploy time.

        The bytes are checked against the registry's sha256 here, at synth, so a wrong file stops
        the deploy naming the model and both digests; predict checks them again when it loads. A
        model with no local copy (a private Hub repo nobody fetched) stops synth too, unless the
        context lets predict reach the Hub at run time. Returns model id -> staged.
        """
        settings = self.settings
        bucket = self.model_bucket
        staged: dict[str, bool] = {}
        self.model_stagings: list[s3deploy.BucketDeployment] = []
        for model_id, spec in parse_registry(settings.models).items():
            artifact = staging.local_artifact(ROOT, spec)
            if artifact is None:
                if not settings.hub_fallback:
                    raise ModelNotStagedError(
                        f"model {model_id} ({spec.repo_id}@{spec.revision}/{spec.filename}) is not staged: "
                        f"neither {staging.published_path(ROOT, spec).relative_to(ROOT)} nor "
                        f"{staging.fetched_path(ROOT, spec).relative_to(ROOT)} exists. Run "
                        f"`hokusai models fetch --registry model/registry.json --model {model_id}` "
                        "(reaches the Hub, checks the sha256; the deploy then copies it to the S3 cache)"
                    )
                staged[model_id] = False
                continue
            staging.verify_artifact(artifact, spec)
            files = [spec.filename]
            if spec.has_twin:  # its ONNX twin beside it, checked against its own pin the same way
                twin = staging.local_artifact(ROOT, spec.twin())
                if twin is None or twin.parent != artifact.parent:
                    raise ModelNotStagedError(
                        f"model {model_id}: the registry pins an ONNX twin {spec.twin_filename} but it is "
                        f"not beside {artifact.relative_to(ROOT)}; republish with `make model PUBLISH=1` "
                        "(or `hokusai models publish`)"
                    )
                staging.verify_artifact(twin, spec.twin())
                files.append(str(spec.twin_filename))
            deployment = s3deploy.BucketDeployment(
                self,
                f"StageModel{model_id.title().replace('-', '').replace('_', '')}",
                sources=[
                    s3deploy.Source.asset(
                        str(artifact.parent), exclude=["*", *(f"!{name}" for name in files)]
                    )
                ],
                destination_bucket=bucket,
                destination_key_prefix=s3_key(spec, settings.model_bucket_prefix).rsplit("/", 1)[0] + "/",
                # Other revisions and models share the bucket: never delete what this copy did not put.
                prune=False,
                # The cache outlives a release: the next revision's predict may still be rolling out.
                retain_on_delete=True,
                metadata={"sha256": spec.sha256, "revision": spec.revision},
                memory_limit=256,
            )
            # Predict (service stack, deployed after this one) finds its model on its first request.
            self.model_stagings.append(deployment)
            staged[model_id] = True
        return staged

    def _model_bucket(self) -> s3.Bucket:
        access_logs = s3.Bucket(
            self,
            "AccessLogsBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(365))],
            removal_policy=RemovalPolicy.RETAIN,
        )
        return s3.Bucket(
            self,
            "ModelBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            versioned=True,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="model-bucket/",
            lifecycle_rules=[s3.LifecycleRule(noncurrent_version_expiration=Duration.days(90))],
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _file_system(self) -> tuple[efs.FileSystem, efs.AccessPoint]:
        file_system = efs.FileSystem(
            self,
            "ModelCache",
            vpc=self.vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            security_group=self.security_groups["efs"],
            encrypted=True,
            performance_mode=efs.PerformanceMode.GENERAL_PURPOSE,
            throughput_mode=efs.ThroughputMode.ELASTIC,
            # A cache: every file can be refetched from S3 or the Hub.
            removal_policy=RemovalPolicy.DESTROY,
        )
        access_point = file_system.add_access_point(
            "ModelCacheAccessPoint",
            path=EFS_ACCESS_POINT_PATH,
            posix_user=efs.PosixUser(uid=EFS_POSIX_UID, gid=EFS_POSIX_UID),
            create_acl=efs.Acl(owner_uid=EFS_POSIX_UID, owner_gid=EFS_POSIX_UID, permissions="750"),
        )
        return file_system, access_point

    def _redis(self) -> str:
        isolated = self.vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        subnet_group = elasticache.CfnSubnetGroup(
            self,
            "RedisSubnets",
            description="Hokusai Redis: isolated subnets",
            subnet_ids=isolated.subnet_ids,
        )
        self.redis = elasticache.CfnReplicationGroup(
            self,
            "Redis",
            replication_group_description="Hokusai API-key validation cache (L2)",
            engine="redis",
            engine_version=self.settings.redis_engine_version,
            cache_node_type=self.settings.redis_node_type,
            num_cache_clusters=2,
            automatic_failover_enabled=True,
            multi_az_enabled=True,
            port=REDIS_PORT,
            transit_encryption_enabled=True,
            at_rest_encryption_enabled=True,
            auth_token=self.redis_secret.secret_value.unsafe_unwrap(),
            cache_subnet_group_name=subnet_group.ref,
            security_group_ids=[self.security_groups["redis"].security_group_id],
            snapshot_retention_limit=0,  # a cache: nothing to restore
        )
        return (
            f"rediss://{self.redis.attr_primary_end_point_address}:{self.redis.attr_primary_end_point_port}"
        )
