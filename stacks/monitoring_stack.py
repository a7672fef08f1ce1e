"""Monitoring stack: the canary and its schedule, the expected-state parameter, the alert topic,
the alarms (each saying what it means and the first command to run) and a dashboard.

Metric names are the ones the functions publish (namespace ``Hokusai``, dimension ``service`` =
``hokusai-<function>``, set by Powertools from POWERTOOLS_SERVICE_NAME): the constants of
``hokusai.metric_names``, which the publishing code uses too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_cdk import (
    ArnFormat,
    CfnOutput,
    CustomResource,
    Duration,
    RemovalPolicy,
    Stack,
)
from aws_cdk import (
    aws_cloudwatch as cloudwatch,
)
from aws_cdk import (
    aws_cloudwatch_actions as cloudwatch_actions,
)
from aws_cdk import (
    aws_events as events,
)
from aws_cdk import (
    aws_events_targets as targets,
)
from aws_cdk import (
    aws_iam as iam,
)
from aws_cdk import (
    aws_kms as kms,
)
from aws_cdk import (
    aws_lambda as lambda_,
)
from aws_cdk import (
    aws_logs as logs,
)
from aws_cdk import (
    aws_sns as sns,
)
from aws_cdk import (
    aws_sns_subscriptions as subscriptions,
)
from aws_cdk import (
    aws_ssm as ssm,
)
from constructs import Construct
from hokusai import declared, metric_names
from hokusai.drift import trigger
from hokusai.drift.expected import FUNCTION_SECRETS, functions_section, models_section
from hokusai.environment import function_environment
from hokusai.keys import schema
from hokusai.keys.schema import CREATED_BY_TAG, canary_key_creator

from stacks.function import hokusai_function, tracing_environment
from stacks.service_stack import ServiceStack, layer_version, powertools_values
from stacks.settings import FUNCTIONS, Settings
from stacks.stateful_stack import StatefulStack

PERIOD = Duration.minutes(5)


@dataclass(frozen=True)
class Trigger:
    """When an alarm fires: ``comparison`` against ``threshold`` in ``periods`` consecutive periods
    (``datapoints`` of them; None: all). Missing data does not breach unless said."""

    comparison: cloudwatch.ComparisonOperator
    threshold: float
    periods: int = 1
    datapoints: int | None = None
    missing_data_breaches: bool = False


def at_least(threshold: float, periods: int = 1, datapoints: int | None = None) -> Trigger:
    return Trigger(
        cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD, threshold, periods, datapoints
    )


def above(threshold: float, periods: int = 1) -> Trigger:
    return Trigger(cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD, threshold, periods)


@dataclass(frozen=True)
class AlarmSpec:
    """One alarm: ``<prefix>-<name>``, what it watches, when it fires, and its description: what it
    means and the first command to run (the on-call engineer reads both in the alert)."""

    name: str
    metric: cloudwatch.IMetric
    trigger: Trigger
    meaning: str
    first_command: str

    @property
    def description(self) -> str:
        return f"{self.meaning} First command: {self.first_command}"


# Clients are affected or nobody can tell: the members of the service-impaired composite alarm.
IMPAIRING = (
    "canary-failed",
    "canary-heartbeat",
    "api-5xx-rate",
    "api-latency-p95",
    "health-unhealthy",
    "authorizer-errors",
)


# A stream record retried this long means Redis has been unreachable from the revocation function.
REVOCATION_STALLED_MS = 5 * 60 * 1000


def api_key_tags_arn(stack: Stack) -> str:
    """The tags of every API key of the stack's region, as API Gateway names them in a TagResource
    (``/tags/<URL-encoded key ARN>``)."""
    encoded_keys = f"arn%3A{stack.partition}%3Aapigateway%3A{stack.region}%3A%3A%2Fapikeys%2F*"
    return f"arn:{stack.partition}:apigateway:{stack.region}::/tags/{encoded_keys}"


class MonitoringStack(Stack):
    """Watches one service stack: its settings and stateful stack are the service's own."""

    def __init__(self, scope: Construct, construct_id: str, *, service: ServiceStack, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.service = service
        self.settings: Settings = service.settings
        self.stateful: StatefulStack = service.stateful
        settings = self.settings
        self.parameter_name = f"/{settings.prefix}/expected-state"
        # This deployment's own namespace: another prefix in the account never feeds these alarms.
        self.namespace = metric_names.namespace(settings.prefix)
        self.topic = self._topic()
        # Its own LayerVersion of the common layer (same asset): never the service stack's, whose ARN
        # changes on every release (stacks/service_stack.layer_version).
        self.common_layer = layer_version(
            self,
            "common",
            settings,
            "hokusai package + requirements/runtime.txt (powertools, redis, pydantic)",
        )
        self.canary_key = self._canary_key()
        self.canary = self._canary()
        # The canary's first run must find its key in the secret (one deploy, a working canary).
        self.canary.node.add_dependency(self.canary_key)
        self.expected_state = self._expected_state_parameter()
        self._grant_canary()
        events.Rule(
            self,
            "CanarySchedule",
            description="Runs the Hokusai canary (synthetic requests + drift checks)",
            schedule=events.Schedule.rate(Duration.minutes(settings.canary_schedule_minutes)),
            targets=[targets.LambdaFunction(self.canary, retry_attempts=0)],
        )
        self._security_group_change_rule()
        self.alarms = self._alarms()
        self._dashboard()
        CfnOutput(self, "AlertTopicArn", value=self.topic.topic_arn)
        CfnOutput(self, "ExpectedStateParameter", value=self.parameter_name)

    # ---------------------------------------------------------------------------------------------
    def _security_group_change_rule(self) -> events.Rule:
        """Drift caught when it happens: every successful security-group call on a declared group,
        as CloudTrail records it (needs a trail logging management events; docs/operations.md),
        invokes the canary, which checks the security groups and names the caller.

        Lambda queues the asynchronous invoke while the canary (reserved concurrency 1) is busy.
        EventBridge retries a failed delivery for 10 minutes only: by then the schedule, the
        backstop, has run anyway, so no dead-letter queue.
        """
        group_ids = [group.security_group_id for group in self.stateful.security_groups.values()]
        return events.Rule(
            self,
            "CanaryOnSecurityGroupChange",
            description=(
                "Runs the Hokusai canary's security-group drift check when a declared security group "
                "is changed (CloudTrail: hokusai/drift/trigger.py)"
            ),
            event_pattern=events.EventPattern(
                source=[trigger.EC2_SOURCE],
                detail_type=[trigger.CLOUDTRAIL_DETAIL_TYPE],
                detail=trigger.event_pattern_detail(group_ids),
            ),
            targets=[
                targets.LambdaFunction(self.canary, retry_attempts=4, max_event_age=Duration.minutes(10))
            ],
        )

    def _topic(self) -> sns.Topic:
        key = kms.Key(
            self,
            "AlertsKey",
            description="Encrypts the Hokusai alert topic",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.DESTROY,
        )
        # CloudWatch alarms publish to an encrypted topic only if the key lets them.
        key.add_to_resource_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": self.account}},
            )
        )
        topic = sns.Topic(
            self,
            "Alerts",
            topic_name=f"{self.settings.prefix}-alerts",
            display_name="Hokusai alerts",
            master_key=key,
            enforce_ssl=True,
        )
        if self.settings.alarm_email:
            topic.add_subscription(subscriptions.EmailSubscription(self.settings.alarm_email))
        return topic

    def _canary(self) -> lambda_.Function:
        settings = self.settings
        environment = function_environment(
            "canary",
            powertools_values("canary", settings)
            | tracing_environment(settings)
            | {
                "API_BASE_URL": self.service.client_base_url,
                "CANARY_KEY_SECRET_ARN": self.stateful.canary_key_secret.secret_arn,
                "EXPECTED_STATE_PARAMETER": self.parameter_name,
                "ALERT_TOPIC_ARN": self.topic.topic_arn,
                "CANARY_MODEL_ID": settings.canary_model_id,
            },
        )
        self.canary_environment = environment
        # Outside the VPC on purpose: it calls the API like a client does.
        return hokusai_function(
            self,
            "canary",
            settings=settings,
            layers=[self.common_layer],
            environment=environment,
            description="Hokusai canary: synthetic requests and drift checks (functions/canary/handler.py)",
            default_timeout_seconds=60,
        )

    def _canary_key(self) -> CustomResource:
        """The canary's API key, made at deploy time (hokusai.keys.provisioner has the sequence).

        The key goes from the function straight into the secret: the template, the outputs and the
        response to CloudFormation carry only its key id.
        """
        settings = self.settings
        table = self.stateful.keys_table
        secret = self.stateful.canary_key_secret
        function = hokusai_function(
            self,
            "canary_key",
            construct_id="CanaryKeyProvisioner",
            settings=settings,
            layers=[self.common_layer],
            description=(
                "Hokusai canary key custom resource: creates, rotates and revokes the canary's API key "
                "(functions/canary_key/handler.py)"
            ),
            environment={
                "POWERTOOLS_SERVICE_NAME": metric_names.service(settings.prefix, "canary-key"),
                "POWERTOOLS_METRICS_NAMESPACE": self.namespace,
                "POWERTOOLS_LOG_LEVEL": settings.log_level,
                # Runs a few times per deploy: never traced (no X-Ray permissions, no tracing import).
                **tracing_environment(settings, tracing=False),
            },
            memory_mb=256,
            default_timeout_seconds=60,
            tracing=False,
            # CloudFormation invokes it asynchronously: a retried Create would make a second key.
            retry_attempts=0,
        )
        function.add_to_role_policy(
            iam.PolicyStatement(
                # create = PutItem; revoke = Query on the key-id index, then GetItem and UpdateItem.
                actions=["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
                resources=[table.table_arn],
            )
        )
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["dynamodb:Query"],
                resources=[f"{table.table_arn}/index/{schema.KEY_ID_INDEX}"],
            )
        )
        function.add_to_role_policy(
            iam.PolicyStatement(actions=["secretsmanager:PutSecretValue"], resources=[secret.secret_arn])
        )
        # The canary's companion API Gateway key on the default usage plan (hokusai.keys.usage):
        # create it (POST /apikeys) tagged as the provisioner's, add it to the plan, delete it on
        # revocation: only keys carrying that tag (aws:ResourceTag), never a customer's key.
        plan = self.service.usage_plans[settings.default_plan]
        apigateway_arn = f"arn:{self.partition}:apigateway:{self.region}::"
        created_by = {f"aws:RequestTag/{CREATED_BY_TAG}": canary_key_creator(plan.usage_plan_id)}
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["apigateway:POST"],
                resources=[f"{apigateway_arn}/apikeys"],
                conditions={"StringEquals": created_by},
            )
        )
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["apigateway:POST"],
                resources=[f"{apigateway_arn}/usageplans/{plan.usage_plan_id}/keys"],
            )
        )
        function.add_to_role_policy(
            # Tag on create (API Gateway authorizes the tags of a new key as a PUT on /tags/<its ARN>):
            # only with the provisioner's own tag, and only on a key that has none yet, so it cannot
            # mark a customer's key (tagged keys-cli by `hokusai keys create`) as its own.
            iam.PolicyStatement(
                actions=["apigateway:PUT"],
                resources=[api_key_tags_arn(self)],
                conditions={
                    "StringEquals": created_by,
                    "Null": {f"aws:ResourceTag/{CREATED_BY_TAG}": "true"},
                },
            )
        )
        function.add_to_role_policy(
            # API key ids are made by API Gateway at run time: the tag names the keys it made.
            iam.PolicyStatement(
                actions=["apigateway:DELETE"],
                resources=[f"{apigateway_arn}/apikeys/*"],
                conditions={
                    "StringEquals": {
                        f"aws:ResourceTag/{CREATED_BY_TAG}": canary_key_creator(plan.usage_plan_id)
                    }
                },
            )
        )
        resource = CustomResource(
            self,
            "CanaryKey",
            service_token=function.function_arn,
            resource_type="Custom::CanaryKey",
            properties={
                "TableName": table.table_name,
                "SecretArn": secret.secret_arn,
                "ModelIds": [settings.canary_model_id],
                # Any change makes a new key; cdk.json's canaryKeyRotation is the knob for "just rotate".
                "Rotation": str(settings.canary_key_rotation),
                "UsagePlanId": plan.usage_plan_id,
                "UsagePlan": settings.default_plan,
            },
            # A lost response fails the deploy in minutes, not CloudFormation's default hour.
            service_timeout=Duration.minutes(5),
        )
        # The whole function first, including its no-retry invoke config: the very first Create
        # must not be retried into a second key.
        resource.node.add_dependency(function)
        return resource

    def functions_document(self) -> dict[str, dict[str, Any]]:
        """The ``functions`` section of the expected-state document, built by the same
        ``hokusai.drift.expected.functions_section`` the local stack and the tests use."""
        environments = {**self.service.environments, "canary": self.canary_environment}
        secret_arns = {
            logical_secret: environments[function][variable]
            for function, secrets in FUNCTION_SECRETS.items()
            for variable, logical_secret in secrets.items()
            if variable in environments[function]
        }
        return functions_section(
            {name: self.settings.function_name(name) for name in FUNCTIONS},
            secret_arns,
            {name: list(environments[name]) for name in FUNCTIONS},
        )

    def _expected_state_parameter(self) -> ssm.StringParameter:
        document = declared.expected_state_document(
            {name: group.security_group_id for name, group in self.stateful.security_groups.items()},
            self.stateful.prefix_list_ids,
            self.functions_document(),
        )
        document["models"] = models_section(self.service.staged_models, self.settings.hub_fallback)
        return ssm.StringParameter(
            self,
            "ExpectedState",
            parameter_name=self.parameter_name,
            description="Declared security groups, rules and function configuration (hokusai/declared.py)",
            string_value=self.to_json_string(document),
            # The document is ~5 KB: over the standard tier's 4 KB.
            tier=ssm.ParameterTier.ADVANCED,
        )

    def _grant_canary(self) -> None:
        canary = self.canary
        self.expected_state.grant_read(canary)
        canary.add_to_role_policy(
            iam.PolicyStatement(
                # These EC2 describe calls support no resource-level scoping.
                actions=["ec2:DescribeSecurityGroupRules", "ec2:DescribeSecurityGroups"],
                resources=["*"],
            )
        )
        canary.add_to_role_policy(
            iam.PolicyStatement(
                actions=["lambda:GetFunctionConfiguration"],
                resources=[
                    self.format_arn(
                        service="lambda",
                        resource="function",
                        resource_name=self.settings.function_name(name),
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                    for name in FUNCTIONS
                ],
            )
        )
        canary.add_to_role_policy(
            iam.PolicyStatement(
                actions=["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"],
                resources=[
                    self.stateful.redis_secret.secret_arn,
                    self.stateful.hf_token_secret.secret_arn,
                    self.stateful.canary_key_secret.secret_arn,
                ],
            )
        )
        # The authorizer's signing key: checked to exist, never read (hokusai.drift.configuration).
        canary.add_to_role_policy(
            iam.PolicyStatement(
                actions=["secretsmanager:DescribeSecret"],
                resources=[self.stateful.auth_cache_key_secret.secret_arn],
            )
        )
        self.topic.grant_publish(canary)
        canary.add_to_role_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],  # PutMetricData has no resources; the namespace condition scopes it
                conditions={"StringEquals": {"cloudwatch:namespace": self.namespace}},
            )
        )

    # ---------------------------------------------------------------------------------------------
    def _metric(
        self,
        name: str,
        function: str | None = None,
        statistic: str = "Maximum",
        period: Duration = PERIOD,
    ) -> cloudwatch.Metric:
        """A metric in the Hokusai namespace; ``function``: published by that function (Powertools'
        ``service`` dimension), None: made by a metric filter (no dimension)."""
        return cloudwatch.Metric(
            namespace=self.namespace,
            metric_name=name,
            dimensions_map=(
                {metric_names.SERVICE_DIMENSION: metric_names.service(self.settings.prefix, function)}
                if function
                else None
            ),
            statistic=statistic,
            period=period,
        )

    def _failed_synthetic_checks(self) -> cloudwatch.MathExpression:
        synthetic = {
            f"s{index}": self._metric(name, "canary", "Minimum")
            for index, name in enumerate(metric_names.SYNTHETIC_SUCCESS.values())
        }
        # Failed synthetic checks in the period; FILL(…, 1): a skipped check (no key yet) is not a failure.
        return cloudwatch.MathExpression(
            expression=" + ".join(f"(1 - FILL({key}, 1))" for key in synthetic),
            using_metrics=synthetic,
            label="Failed synthetic checks",
            period=PERIOD,
        )

    def _authorizer_errors(self) -> cloudwatch.MathExpression:
        # From the authorizer's own log group (Powertools JSON, level ERROR): works whatever EMF names
        # the authorizer publishes, and counts crashes that never reach a metric.
        logs.MetricFilter(
            self,
            "AuthorizerErrorLogs",
            log_group=self.service.log_groups["authorizer"],
            metric_namespace=self.namespace,
            metric_name=metric_names.AUTHORIZER_ERROR_LOGS,
            filter_pattern=logs.FilterPattern.string_value("$.level", "=", "ERROR"),
            metric_value="1",
        )
        return cloudwatch.MathExpression(
            # A rejected key is not an error (the authorizer raises "Unauthorized" for a 401, which Lambda
            # counts in its Errors metric): count ERROR log lines and 503 answers instead.
            expression="FILL(logged, 0) + FILL(unavailable, 0)",
            using_metrics={
                "logged": self._metric(metric_names.AUTHORIZER_ERROR_LOGS, statistic="Sum"),
                "unavailable": self._metric(metric_names.AUTHORIZER_FAILURE, "authorizer", "Sum"),
            },
            label="Authorizer errors (ERROR logs + 503 answers)",
            period=PERIOD,
        )

    def _api_5xx_rate(self) -> cloudwatch.MathExpression:
        return cloudwatch.MathExpression(
            # 5XXError's Average is the fraction of requests that failed.
            expression="100 * errors",
            using_metrics={
                "errors": self.service.api.metric_server_error(statistic="Average", period=PERIOD)
            },
            label="5xx rate (%)",
            period=PERIOD,
        )

    def _alarm_specs(self) -> tuple[AlarmSpec, ...]:
        """Every alarm of the stack, in the dashboard's order."""
        settings = self.settings
        thresholds = settings.alarms
        canary_logs = f"aws logs tail /aws/lambda/{settings.function_name('canary')} --since 30m"
        authorizer_logs = f"aws logs tail /aws/lambda/{settings.function_name('authorizer')} --since 30m"
        # Reads the API URL, the expected-state parameter and the canary key from the stacks' outputs.
        doctor = f"hokusai doctor --from-stacks {settings.stack_prefix}"
        runs = thresholds.canary_failed_runs
        return (
            AlarmSpec(
                "canary-failed",
                self._failed_synthetic_checks(),
                at_least(1, periods=runs, datapoints=runs),
                "The canary's requests, made like a client's (GET /health, an authenticated predict, a "
                "request without a key that must get 401), failed in "
                f"{runs} consecutive runs: clients are probably failing too.",
                f"{canary_logs} (then: {doctor})",
            ),
            AlarmSpec(
                "drift-found",
                self._metric(metric_names.DRIFT_CRITICAL, "canary"),
                at_least(1),
                "The canary found critical drift: a declared security-group rule is missing, a rule is "
                "open to the world, a function lacks a declared variable or secret, or a secret is "
                "missing/empty. The SNS message names it and the exact fix command.",
                doctor,
            ),
            AlarmSpec(
                "drift-warning",
                self._metric(metric_names.DRIFT_WARNING, "canary"),
                at_least(1),
                "The canary found non-critical drift (an undeclared security-group rule).",
                doctor,
            ),
            AlarmSpec(
                "canary-heartbeat",
                self._metric(
                    metric_names.CANARY_RUN_DURATION,
                    "canary",
                    "SampleCount",
                    Duration.minutes(max(5, settings.canary_schedule_minutes)),
                ),
                # Missing data is the symptom this alarm exists for.
                Trigger(cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD, 1, 2, missing_data_breaches=True),
                "No canary run reported in the last "
                f"{2 * settings.canary_schedule_minutes} minutes: nothing is watching the API or its "
                "drift. The canary crashes (a start-up 'Invalid configuration' names the variable) or its "
                "schedule is disabled.",
                canary_logs,
            ),
            AlarmSpec(
                "authorizer-errors",
                self._authorizer_errors(),
                at_least(thresholds.authorizer_failures),
                "The authorizer logged errors or answered 503 (AUTHORIZER_FAILURE, Retry-After): usually "
                "the keys table is unreachable and nothing was cached, so clients with uncached keys are "
                "refused. Check DynamoDB, the DynamoDB gateway endpoint and the functions egress rules.",
                f"{authorizer_logs} --filter-pattern ERROR (then: {doctor})",
            ),
            AlarmSpec(
                "redis-breaker-open",
                # Requests that skipped Redis while the breaker was open (not RedisBreakerOpened, which
                # counts the breaker's transitions).
                self._metric(metric_names.REDIS_BREAKER_OPEN, "authorizer", "Sum"),
                at_least(thresholds.breaker_open),
                "The authorizer's Redis circuit breaker is open: Redis is slow or unreachable and requests "
                "go to DynamoDB (still served, a few ms slower). The seed incident was a missing "
                "functions -> redis rule on 6379.",
                doctor,
            ),
            AlarmSpec(
                "revocation-stalled",
                # By the function's declared name (no cross-stack reference to the function).
                cloudwatch.Metric(
                    namespace=metric_names.LAMBDA_NAMESPACE,
                    metric_name=metric_names.LAMBDA_ITERATOR_AGE,
                    dimensions_map={"FunctionName": settings.function_name("revocation")},
                    statistic="Maximum",
                    period=PERIOD,
                ),
                at_least(REVOCATION_STALLED_MS),
                "The revocation function has been retrying a keys-table stream record for more than "
                f"{REVOCATION_STALLED_MS // 60000} minutes: it cannot delete a revoked key's Redis "
                "entry (Redis unreachable from the function, its token unreadable). Revoked keys are "
                "still refused within AUTH_REVOCATION_BOUND_SECONDS (the authorizers re-read the keys "
                "table); the record is retried until Redis answers.",
                f"aws logs tail /aws/lambda/{settings.function_name('revocation')} --since 1h "
                f"--filter-pattern WARNING (then: {doctor})",
            ),
            AlarmSpec(
                "revocation-failed",
                self.service.revocation_failures.metric_approximate_number_of_messages_visible(
                    statistic="Maximum", period=PERIOD
                ),
                at_least(1),
                "Keys-table stream records reached the revocation function's on-failure queue: they "
                "were retried for the stream's whole 24 h retention without Redis answering. Revoked "
                "keys are still refused within AUTH_REVOCATION_BOUND_SECONDS; Redis has been "
                "unreachable from the function for a day (its rule, its token).",
                f"aws logs tail /aws/lambda/{settings.function_name('revocation')} --since 1h "
                f"--filter-pattern WARNING (then: {doctor})",
            ),
            AlarmSpec(
                "health-degraded",
                self._metric(metric_names.HEALTH_DEGRADED, "health"),
                at_least(1, periods=2),
                "GET /health answered 'degraded' (serving, but a dependency such as Redis is failing) "
                "for 10 minutes. The body's 'checks' names the dependency.",
                f"curl -s <ApiBaseUrl>health ; then {doctor}",
            ),
            AlarmSpec(
                "health-unhealthy",
                self._metric(metric_names.HEALTH_UNHEALTHY, "health"),
                at_least(1),
                "GET /health answered 'unhealthy' (503): the keys table or the model is unavailable, "
                "predictions fail.",
                f"curl -s <ApiBaseUrl>health (the 'checks' object says which and why); then {doctor}",
            ),
            AlarmSpec(
                "api-5xx-rate",
                self._api_5xx_rate(),
                above(thresholds.api_5xx_rate_percent),
                f"More than {thresholds.api_5xx_rate_percent}% of API requests answered 5xx in 5 minutes "
                f"({settings.prefix}-api, stage api). 503s from the authorizer mean the keys table is "
                "unreachable; other 5xx are function failures.",
                f"aws logs tail /aws/lambda/{settings.function_name('predict')} --since 15m "
                "--filter-pattern ERROR",
            ),
            AlarmSpec(
                "api-latency-p95",
                self.service.api.metric_latency(statistic="p95", period=PERIOD),
                above(thresholds.latency_p95_ms, periods=2),
                f"API p95 latency above {thresholds.latency_p95_ms} ms for 10 minutes (target: p95 < 1 s "
                "end to end). Usually a slow dependency: Redis timing out before the breaker opens, a cold "
                "model load, or DynamoDB.",
                "curl -s <ApiBaseUrl>health (per-check durations); then the X-Ray service map",
            ),
        )

    def _alarm(self, spec: AlarmSpec) -> cloudwatch.Alarm:
        trigger = spec.trigger
        alarm = cloudwatch.Alarm(
            self,
            spec.name,
            alarm_name=f"{self.settings.prefix}-{spec.name}",
            alarm_description=spec.description,
            metric=spec.metric,
            threshold=trigger.threshold,
            comparison_operator=trigger.comparison,
            evaluation_periods=trigger.periods,
            datapoints_to_alarm=trigger.datapoints,
            treat_missing_data=(
                cloudwatch.TreatMissingData.BREACHING
                if trigger.missing_data_breaches
                else cloudwatch.TreatMissingData.NOT_BREACHING
            ),
        )
        self._notify(alarm)
        return alarm

    def _notify(self, alarm: cloudwatch.AlarmBase) -> None:
        alarm.add_alarm_action(cloudwatch_actions.SnsAction(self.topic))
        alarm.add_ok_action(cloudwatch_actions.SnsAction(self.topic))

    def _alarms(self) -> dict[str, cloudwatch.IAlarm]:
        alarms: dict[str, cloudwatch.IAlarm] = {spec.name: self._alarm(spec) for spec in self._alarm_specs()}
        impaired = cloudwatch.CompositeAlarm(
            self,
            "service-impaired",
            composite_alarm_name=f"{self.settings.prefix}-service-impaired",
            alarm_description=(
                "Clients are affected or nobody can tell: the canary fails or is silent, the API answers "
                "5xx or slowly, /health is unhealthy, or the authorizer cannot validate keys. The member "
                "alarm in ALARM says which; its description has the first command."
            ),
            alarm_rule=cloudwatch.AlarmRule.any_of(
                *(
                    cloudwatch.AlarmRule.from_alarm(alarms[name], cloudwatch.AlarmState.ALARM)
                    for name in IMPAIRING
                )
            ),
        )
        self._notify(impaired)
        alarms["service-impaired"] = impaired
        return alarms

    def _dashboard(self) -> None:
        api = self.service.api
        dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=f"{self.settings.prefix}-service",
            default_interval=Duration.hours(6),
        )
        dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(
                title="Alarms", alarms=list(self.alarms.values()), width=24, height=4
            )
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="API requests and errors",
                left=[api.metric_count(period=Duration.minutes(1))],
                right=[
                    api.metric_client_error(period=Duration.minutes(1)),
                    api.metric_server_error(period=Duration.minutes(1)),
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="API latency (ms)",
                left=[
                    api.metric_latency(statistic=statistic, period=Duration.minutes(1))
                    for statistic in ("p50", "p95", "p99")
                ],
                left_annotations=[
                    cloudwatch.HorizontalAnnotation(
                        value=self.settings.alarms.latency_p95_ms, label="p95 alarm"
                    )
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Canary synthetic checks (1 = passed)",
                left=[
                    self._metric(name, "canary", "Minimum")
                    for name in metric_names.SYNTHETIC_SUCCESS.values()
                ],
                width=8,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Drift findings",
                left=[
                    self._metric(metric_names.DRIFT_CRITICAL, "canary"),
                    self._metric(metric_names.DRIFT_WARNING, "canary"),
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Authorizer: 503s, Redis breaker, ERROR logs",
                left=[
                    self._metric(metric_names.AUTHORIZER_FAILURE, "authorizer", "Sum"),
                    self._metric(metric_names.REDIS_BREAKER_OPEN, "authorizer", "Sum"),
                    self._metric(metric_names.AUTHORIZER_ERROR_LOGS, statistic="Sum"),
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Health status (1/0)",
                left=[
                    self._metric(metric_names.HEALTH_DEGRADED, "health"),
                    self._metric(metric_names.HEALTH_UNHEALTHY, "health"),
                ],
                right=[self._metric(metric_names.HEALTH_LATENCY, "health", "p95")],
                width=8,
            ),
        )
        functions = [*self.service.functions.values(), self.canary]
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Function errors",
                left=[function.metric_errors(period=Duration.minutes(5)) for function in functions],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Function duration p95 (ms)",
                left=[
                    function.metric_duration(statistic="p95", period=Duration.minutes(5))
                    for function in functions
                ],
                width=12,
            ),
        )
