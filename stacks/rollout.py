"""Safe rollout: a version per release behind a ``live`` alias, shifted by CodeDeploy, rolled back on
an alarm of the new version or a failed pre-traffic check.

For each released function (authorizer, predict, health):

* ``function.current_version`` publishes a version whenever its code or configuration changes, and
  the ``live`` alias points at it; API Gateway's integrations and the authorizer invoke the alias
  (never ``$LATEST``), so only what CodeDeploy routes to reaches clients;
* a CodeDeploy deployment group shifts the alias from the old version to the new one as context
  ``deployment`` says (10 % for 5 minutes, then all, by default);
* before any traffic moves, the pre-traffic hook (``functions/pre_traffic``) runs the canary's checks
  against the three new versions and reports Failed when one fails: the deployment stops and the
  alias stays where it was;
* during the shift, alarms on the *new version only* (Lambda's ``ExecutedVersion`` dimension, with
  ``Resource`` = the alias) stop and roll back the deployment: its errors (predict, health: the
  authorizer's Errors metric also counts every 401, so it is not used), its 5xx answers (the
  ``ServerErrorsByVersion`` metric each function publishes with its version), its p95 duration.

Why alarms per version, named with the version: an alarm that is in ALARM because of a bad release
must not block the deployment of its fix. The fix is a new version, so its alarms are new alarms
(their name holds the version number: CloudFormation replaces them) and start with no data; the old
version's alarms go with the old release. The stack's service alarms (api-5xx-rate and the rest) are
deliberately not deployment-group alarms for the same reason: during an incident they are in ALARM,
and the fix has to get through.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_codedeploy as codedeploy
from aws_cdk import aws_lambda as lambda_
from constructs import Construct
from hokusai import metric_names
from hokusai.declared import LIVE_ALIAS

from stacks.settings import Deployment, Settings

ROLLOUT_PERIOD = Duration.minutes(1)


@dataclass(frozen=True)
class LiveFunction:
    """A released function: the function, the version this synth publishes, the ``live`` alias."""

    name: str
    function: lambda_.Function
    version: lambda_.IVersion
    alias: lambda_.Alias


def live_alias(scope: Construct, name: str, function: lambda_.Function, provisioned: int) -> LiveFunction:
    """The ``live`` alias on the function's current version (``<Id>Live``), with ``provisioned``
    initialised containers when the context's coldStart asks for them."""
    version = function.current_version
    alias = lambda_.Alias(
        scope,
        f"{function.node.id}Live",
        alias_name=LIVE_ALIAS,
        version=version,
        description=f"What clients reach: moved by CodeDeploy ({name} deployment group)",
        provisioned_concurrent_executions=provisioned or None,
    )
    return LiveFunction(name, function, version, alias)


def deployment_group_name(settings: Settings, function: str) -> str:
    """``<prefix>-<function>``: what ``aws deploy`` commands (docs/deploy.md, the alarms) name."""
    return f"{settings.prefix}-{function}"


def deployment_config(scope: Construct, deployment: Deployment) -> codedeploy.ILambdaDeploymentConfig:
    if deployment.strategy == "allAtOnce":
        return codedeploy.LambdaDeploymentConfig.ALL_AT_ONCE
    interval = Duration.minutes(deployment.interval_minutes)
    routing: codedeploy.TrafficRouting
    if deployment.strategy == "linear":
        routing = codedeploy.TimeBasedLinearTrafficRouting(
            interval=interval, percentage=deployment.percentage
        )
    else:
        routing = codedeploy.TimeBasedCanaryTrafficRouting(
            interval=interval, percentage=deployment.percentage
        )
    return codedeploy.LambdaDeploymentConfig(scope, "DeploymentConfig", traffic_routing=routing)


class Rollout(Construct):
    """One CodeDeploy application, one deployment group per released function, their alarms."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        live: Mapping[str, LiveFunction],
        pre_traffic_hook: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        self.settings = settings
        self.application = codedeploy.LambdaApplication(self, "Application", application_name=settings.prefix)
        self.config = deployment_config(self, settings.deployment)
        self.alarms: dict[str, list[cloudwatch.Alarm]] = {}
        self.groups: dict[str, codedeploy.LambdaDeploymentGroup] = {}
        for name, released in live.items():
            self.alarms[name] = self._release_alarms(released)
            self.groups[name] = codedeploy.LambdaDeploymentGroup(
                self,
                f"{released.function.node.id}DeploymentGroup",
                application=self.application,
                deployment_group_name=deployment_group_name(settings, name),
                alias=released.alias,
                deployment_config=self.config,
                alarms=self.alarms[name],
                pre_hook=pre_traffic_hook,
                auto_rollback=codedeploy.AutoRollbackConfig(
                    failed_deployment=True, stopped_deployment=True, deployment_in_alarm=True
                ),
            )

    def _release_alarms(self, released: LiveFunction) -> list[cloudwatch.Alarm]:
        settings = self.settings
        function_name = settings.function_name(released.name)
        version = released.version.version
        on_new_version = {
            "FunctionName": function_name,
            "Resource": f"{function_name}:{LIVE_ALIAS}",
            "ExecutedVersion": version,
        }

        def lambda_metric(metric_name: str, statistic: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace="AWS/Lambda",
                metric_name=metric_name,
                dimensions_map=on_new_version,
                statistic=statistic,
                period=ROLLOUT_PERIOD,
            )

        server_errors = cloudwatch.Metric(
            namespace=metric_names.namespace(self.settings.prefix),
            metric_name=metric_names.SERVER_ERRORS_BY_VERSION,
            dimensions_map={
                metric_names.SERVICE_DIMENSION: metric_names.service(self.settings.prefix, released.name),
                metric_names.VERSION_DIMENSION: version,
            },
            statistic="Sum",
            period=ROLLOUT_PERIOD,
        )
        signals: list[tuple[str, cloudwatch.IMetric, float, int, str]] = [
            (
                "5xx",
                server_errors,
                1,
                1,
                "answered 5xx (503 from predict or health, AUTHORIZER_FAILURE from the authorizer)",
            ),
            (
                "p95",
                lambda_metric("Duration", "p95"),
                settings.alarms.latency_p95_ms,
                2,
                f"p95 duration above {settings.alarms.latency_p95_ms} ms for 2 minutes",
            ),
        ]
        if released.name != "authorizer":  # its Errors metric counts every 401 ("Unauthorized")
            signals.insert(0, ("errors", lambda_metric("Errors", "Sum"), 1, 1, "crashed or timed out"))
        alarms = []
        for signal, metric, threshold, periods, meaning in signals:
            alarms.append(
                cloudwatch.Alarm(
                    self,
                    f"{released.function.node.id}Release{signal.title()}",
                    # The version in the name: a new release gets new alarms (see the module docstring).
                    alarm_name=f"{function_name}-release-{signal}-v{version}",
                    alarm_description=(
                        f"The new version of {function_name} (behind its {LIVE_ALIAS} alias) {meaning}: "
                        "CodeDeploy stops the rollout and moves the alias back to the previous version. "
                        f"First command: aws deploy list-deployments --application-name {settings.prefix} "
                        f"--deployment-group-name {deployment_group_name(settings, released.name)} "
                        "(then get-deployment "
                        "on the newest id)"
                    ),
                    metric=metric,
                    threshold=threshold,
                    comparison_operator=(
                        cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
                        if signal != "p95"
                        else cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
                    ),
                    evaluation_periods=periods,
                    datapoints_to_alarm=periods,
                    # No data is no traffic on the new version yet: not a reason to roll back.
                    treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                )
            )
        return alarms
