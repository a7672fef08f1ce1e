"""cdk-nag AwsSolutions suppressions: each names the rule, what it covers, and why it does not apply.

Kept narrow: IAM4/IAM5 suppressions list the exact managed policy or wildcard they accept
(``applies_to``), so a new wildcard elsewhere still fails the check.
"""

from __future__ import annotations

from aws_cdk import DefaultStackSynthesizer, Stack, Token
from cdk_nag import NagPackSuppression, NagSuppressions, RegexAppliesTo
from hokusai import api_contract

LAMBDA_BASIC = "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
LAMBDA_VPC = "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
MODEL_PREFIX_OBJECTS = r"/^Resource::<ModelBucket[A-Za-z0-9]+\.Arn>\/.*\*$/g"
APIGW_LOGS = "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"

RUNTIME = NagPackSuppression(
    id="AwsSolutions-L1",
    reason=(
        "Python 3.12 is deliberate: the ML layer's wheels (scikit-learn, numpy, scipy) are built for "
        "cp312 by `make layers` and every engineer tests on 3.12. Move runtime and layer build together."
    ),
)
MANAGED_LOGGING = NagPackSuppression(
    id="AwsSolutions-IAM4",
    reason=(
        "AWSLambdaBasicExecutionRole (write own logs) and, for functions in the VPC, "
        "AWSLambdaVPCAccessExecutionRole (create/delete the function's ENIs) are AWS's minimal policies "
        "for what every Lambda function needs; the functions' own permissions are inline and scoped."
    ),
    applies_to=[LAMBDA_BASIC, LAMBDA_VPC],
)
XRAY = NagPackSuppression(
    id="AwsSolutions-IAM5",
    reason=(
        "Resource::* is X-Ray's xray:PutTraceSegments/PutTelemetryRecords (added by tracing=ACTIVE), "
        "which supports no resource-level permissions."
    ),
    applies_to=["Resource::*"],
)
PREFIX_LIST_LOOKUP = NagPackSuppression(
    id="AwsSolutions-IAM5",
    reason=(
        "ec2:DescribeManagedPrefixLists (read-only lookup of the gateway endpoints' prefix list ids at "
        "deploy time) supports no resource-level permissions."
    ),
    applies_to=["Resource::*"],
)
PREFIX_LIST_PROVIDER_LOGGING = NagPackSuppression(
    id="AwsSolutions-IAM4",
    reason=(
        "The AwsCustomResource provider (prefix list lookup) logs with AWSLambdaBasicExecutionRole, "
        "AWS's minimal logging policy."
    ),
    applies_to=[LAMBDA_BASIC],
)
API_KEYS_NOT_COGNITO = NagPackSuppression(
    id="AwsSolutions-COG4",
    reason=(
        "Clients are third-party services authenticating with Hokusai API keys (Authorization: Bearer / "
        "X-API-Key), checked by the REQUEST authorizer; there are no Cognito users. /health and "
        "/v1/openapi.json are public by contract."
    ),
)
PUBLIC_BY_CONTRACT = NagPackSuppression(
    id="AwsSolutions-APIG4",
    reason=(
        "Public by contract (hokusai/api_contract.py): load balancers, dashboards and the canary read "
        "/health without a key; the OpenAPI document holds no data."
    ),
)

CODEDEPLOY_LAMBDA_ROLE = NagPackSuppression(
    id="AwsSolutions-IAM4",
    reason=(
        "AWSCodeDeployRoleForLambdaLimited is AWS's service-role policy for CodeDeploy's Lambda "
        "deployments (aws-cdk-lib's LambdaDeploymentGroup role): read the deployment group's alarms, "
        "read and move the alias between versions, publish deployment notifications; it lets CodeDeploy "
        "invoke only functions named CodeDeployHook_*. Our pre-traffic hook is granted by its own ARN."
    ),
    applies_to=[
        "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSCodeDeployRoleForLambdaLimited"
    ],
)
HOOK_INVOKE = NagPackSuppression(
    id="AwsSolutions-IAM5",
    reason=(
        "lambda:InvokeFunction on the pre-traffic hook and its qualified ARNs (<hook ARN>:*, as "
        "aws-cdk-lib grants a hook): one function, the deployment group's own hook."
    ),
    applies_to=[RegexAppliesTo(regex=r"/^Resource::<PreTrafficHook[A-Za-z0-9]+\.Arn>:\*$/g")],
)
METHOD_NOT_ALLOWED_MOCK = NagPackSuppression(
    id="AwsSolutions-APIG4",
    reason=(
        "The ANY method on each declared path is a MOCK integration that answers 405 with the path's "
        "declared methods (api_contract.METHOD_NOT_ALLOWED); no function runs and no data is returned, "
        "so there is nothing to authorize. Every declared method keeps its own authorizer."
    ),
)
METHOD_NOT_ALLOWED_NOT_COGNITO = NagPackSuppression(
    id="AwsSolutions-COG4", reason=METHOD_NOT_ALLOWED_MOCK.reason
)


def _spelled(stack: Stack, value: str, pseudo: str) -> str:
    """How cdk-nag spells ``value`` in a finding: ``<AWS::Region>`` while it is the pseudo parameter
    (environment-agnostic synth), the literal once the stack is bound. The pinned CDK CLI always
    binds a region (us-east-1 without credentials) and, with credentials, the account too; a
    suppression written for one spelling does not match the other."""
    return f"<{pseudo}>" if Token.is_unresolved(value) else value


def asset_bucket_objects(stack: Stack) -> str:
    """The CDK bootstrap asset bucket's objects, as the BucketDeployment's policy names them."""
    qualifier = stack.node.try_get_context("@aws-cdk/core:bootstrapQualifier") or (
        DefaultStackSynthesizer.DEFAULT_QUALIFIER
    )
    account = _spelled(stack, stack.account, "AWS::AccountId")
    region = _spelled(stack, stack.region, "AWS::Region")
    return f"Resource::arn:<AWS::Partition>:s3:::cdk-{qualifier}-assets-{account}-{region}/*"


def api_keys(stack: Stack) -> str:
    """Every API Gateway API key of the stack's region (``/apikeys/*``)."""
    region = _spelled(stack, stack.region, "AWS::Region")
    return f"Resource::arn:<AWS::Partition>:apigateway:{region}::/apikeys/*"


def api_key_tags(stack: Stack) -> str:
    """The tags of every API key of the stack's region (``/tags/<URL-encoded /apikeys/* ARN>``)."""
    region = _spelled(stack, stack.region, "AWS::Region")
    encoded = f"arn%3A<AWS::Partition>%3Aapigateway%3A{region}%3A%3A%2Fapikeys%2F*"
    return f"Resource::arn:<AWS::Partition>:apigateway:{region}::/tags/{encoded}"


def _at(stack: Stack, path: str, suppressions: list[NagPackSuppression]) -> None:
    """Suppress on the construct at ``/<stack>/<path>`` (its construct path)."""
    NagSuppressions.add_resource_suppressions_by_path(stack, f"/{stack.stack_name}/{path}", suppressions)


def suppress(stateful: Stack, service: Stack, monitoring: Stack) -> None:
    _at(
        stateful,
        "Redis",
        [
            NagPackSuppression(
                id="AwsSolutions-AEC5",
                reason=(
                    "Port 6379 is the declared port (hokusai/declared.py, checked by the canary); the "
                    "redis group admits only the functions group, so a different port hides nothing."
                ),
            )
        ],
    )
    for secret, why in (
        (
            "RedisAuthToken",
            "changing the ElastiCache AUTH token needs a coordinated modify-replication-group "
            "(ROTATE then SET strategy); docs/deploy.md has the procedure.",
        ),
        (
            "HuggingFaceToken",
            "the value is a HuggingFace token issued outside AWS; it is rotated by hand "
            "(docs/deploy.md, 'Rotate the HF token').",
        ),
        (
            "CanaryApiKey",
            "the value is a Hokusai API key written by the CanaryKey custom resource (HokusaiMonitoring); "
            "it is rotated by incrementing the canaryKeyRotation context and deploying, which also "
            "revokes the old key in the keys table (docs/deploy.md). A Secrets Manager rotation "
            "Lambda would change the secret without the stack knowing the key id to revoke.",
        ),
        (
            "AuthCacheSigningKey",
            "a new value only makes every Redis entry a miss (read again from the keys table, "
            "re-signed); authorizers read the key at their cold start, so a rotation is a "
            "put-secret-value when convenient (docs/authorizer.md) and needs no rotation Lambda.",
        ),
    ):
        _at(
            stateful,
            f"{secret}/Resource",
            [NagPackSuppression(id="AwsSolutions-SMG4", reason=f"No automatic rotation: {why}")],
        )
    for lookup in ("S3PrefixList", "DynamodbPrefixList"):
        _at(stateful, f"{lookup}/CustomResourcePolicy/Resource", [PREFIX_LIST_LOOKUP])
    NagSuppressions.add_stack_suppressions(stateful, [PREFIX_LIST_PROVIDER_LOGGING])

    # CDK's bucket-deployment singleton function, which copies the shipped models into the S3 cache.
    for handler in [c for c in stateful.node.children if "CDKBucketDeployment" in c.node.id]:
        NagSuppressions.add_resource_suppressions(
            handler,
            [
                NagPackSuppression(
                    id="AwsSolutions-L1",
                    reason=(
                        "CDK's BucketDeployment handler: aws-cdk-lib pins its runtime with the AWS CLI "
                        "layer it ships; it runs only at deploy time, to stage the registry's models."
                    ),
                ),
                NagPackSuppression(
                    id="AwsSolutions-IAM4",
                    reason="BucketDeployment's handler logs with AWSLambdaBasicExecutionRole.",
                    applies_to=[LAMBDA_BASIC],
                ),
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason=(
                        "BucketDeployment's grants (aws-cdk-lib): read the CDK asset bucket's objects, "
                        "write the model bucket's objects (s3 sync). It copies only the staged model "
                        "files, checked against the registry's sha256 at synth."
                    ),
                    applies_to=[
                        "Action::s3:GetBucket*",
                        "Action::s3:GetObject*",
                        "Action::s3:List*",
                        "Action::s3:Abort*",
                        "Action::s3:DeleteObject*",
                        asset_bucket_objects(stateful),
                        RegexAppliesTo(regex=r"/^Resource::<ModelBucket[A-Za-z0-9]+\.Arn>\/\*$/g"),
                    ],
                ),
            ],
            apply_to_children=True,
        )
    NagSuppressions.add_stack_suppressions(service, [RUNTIME, MANAGED_LOGGING, API_KEYS_NOT_COGNITO])
    for function in ("Authorizer", "Predict", "Health"):
        reasons = [XRAY]
        if function in ("Predict", "Health"):
            reasons.append(
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason=(
                        "Model artifacts are objects under the configured prefix "
                        "(models/<id>/<revision>/<file>): get/put (predict) and get/head (health) are "
                        "scoped to that prefix of the one model bucket."
                    ),
                    applies_to=[RegexAppliesTo(regex=MODEL_PREFIX_OBJECTS)],
                )
            )
        _at(service, f"{function}/ServiceRole/DefaultPolicy/Resource", reasons)
    _at(service, "PreTrafficHook/ServiceRole/DefaultPolicy/Resource", [XRAY])
    for function in ("Authorizer", "Predict", "Health"):
        _at(service, f"Rollout/{function}DeploymentGroup/ServiceRole/Resource", [CODEDEPLOY_LAMBDA_ROLE])
        _at(service, f"Rollout/{function}DeploymentGroup/ServiceRole/DefaultPolicy/Resource", [HOOK_INVOKE])
    _at(
        service,
        "Revocation/ServiceRole/DefaultPolicy/Resource",
        [
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                reason=(
                    "Resource::* is dynamodb:ListStreams alone (added by the keys-table stream's event "
                    "source, aws-cdk-lib grantStreamRead), which supports no resource-level permissions and "
                    "returns stream ARNs only; reading records (DescribeStream, GetRecords, "
                    "GetShardIterator) is granted on the keys table's stream ARN alone."
                ),
                applies_to=["Resource::*"],
            )
        ],
    )
    _at(
        service,
        "RevocationFailures/Resource",
        [
            NagPackSuppression(
                id="AwsSolutions-SQS3",
                reason=(
                    "This queue is itself the revocation stream's on-failure destination (the failed "
                    "batches' metadata, never an item); it is alarmed (revocation-failed) and read by an "
                    "operator, nothing consumes it, so a DLQ behind it would hold nothing."
                ),
            )
        ],
    )
    _at(
        service,
        "Api/CloudWatchRole/Resource",
        [
            NagPackSuppression(
                id="AwsSolutions-IAM4",
                reason=(
                    "API Gateway's account-level logging role needs AmazonAPIGatewayPushToCloudWatchLogs "
                    "to write execution and access logs (APIG1/APIG6)."
                ),
                applies_to=[APIGW_LOGS],
            )
        ],
    )
    if getattr(service, "web_acl", None) is None:  # with wafRateLimit the stage has a web ACL
        _at(
            service,
            "Api/DeploymentStage.api/Resource",
            [
                NagPackSuppression(
                    id="AwsSolutions-APIG3",
                    reason=(
                        "No WAF (context wafRateLimit unset): every data route requires a key, checked "
                        "by the authorizer, and is limited per key by the key's usage plan (rate, burst, "
                        "daily quota); the stage is throttled as a whole (context throttling). Requests "
                        "without a valid key are not limited per client: the authorizer answers them 401 "
                        "(a malformed key without I/O, an unknown one from its negative caches after "
                        "one lookup). Set wafRateLimit for a per-IP rate-based rule."
                    ),
                )
            ],
        )
    for route in api_contract.ROUTES:
        if not route.authorized:
            _at(service, f"Api/Default{route.path}/{route.method}/Resource", [PUBLIC_BY_CONTRACT])
    for path in {route.path for route in api_contract.ROUTES}:
        _at(
            service,
            f"Api/Default{path}/ANY/Resource",
            [METHOD_NOT_ALLOWED_MOCK, METHOD_NOT_ALLOWED_NOT_COGNITO],
        )

    NagSuppressions.add_stack_suppressions(monitoring, [RUNTIME, MANAGED_LOGGING])
    _at(
        monitoring,
        "CanaryKeyProvisioner/ServiceRole/DefaultPolicy/Resource",
        [
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                reason=(
                    "apigateway:DELETE on /apikeys/* and PUT on their /tags: the canary's companion usage "
                    "plan key gets an id from API Gateway at run time (no narrower resource); both are "
                    "conditioned on the hokusai:created-by tag of this deployment's canary key (DELETE: "
                    "the key carries it; tag on create: the request carries it and the key had none), "
                    "so no customer's key can be deleted or re-tagged."
                ),
                applies_to=[api_keys(monitoring), api_key_tags(monitoring)],
            )
        ],
    )
    _at(
        monitoring,
        "Canary/ServiceRole/DefaultPolicy/Resource",
        [
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                reason=(
                    "Resource::* covers only actions without resource-level permissions: "
                    "ec2:DescribeSecurityGroupRules/DescribeSecurityGroups (drift check), X-Ray "
                    "PutTraceSegments, and cloudwatch:PutMetricData, which is scoped by the "
                    "cloudwatch:namespace = Hokusai condition instead."
                ),
                applies_to=["Resource::*"],
            ),
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                reason=(
                    "kms:GenerateDataKey* on the alert topic's own key (granted by topic.grant_publish): "
                    "publishing to an encrypted topic needs GenerateDataKey and "
                    "GenerateDataKeyWithoutPlaintext."
                ),
                applies_to=["Action::kms:GenerateDataKey*"],
            ),
        ],
    )
