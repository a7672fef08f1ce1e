"""The canary (outside the VPC): scheduled every 5 minutes, and on every CloudTrail-recorded change
to a declared security group.

A scheduled run: synthetic requests against the API, security-group and configuration drift against
the expected-state parameter. A change (``hokusai.drift.trigger``): security-group drift only, the
alert naming who made the change. EMF metrics every run, and one SNS message when there are
findings. The same code path as ``hokusai doctor`` (``hokusai.drift.runner.run_canary``).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from hokusai import metric_names
from hokusai.config import CanarySettings, ConfigError
from hokusai.drift.runner import CanaryClients, counts_for_log, publish_alert, publish_metrics, run_canary
from hokusai.drift.trigger import security_group_change
from hokusai.observability import logger, metrics, tracer
from hokusai.startup import Startup


def _build() -> tuple[CanarySettings, CanaryClients]:
    return CanarySettings.from_env(), CanaryClients.from_environment()


# A bad configuration is logged once (ERROR, naming the variable) and fails every run, so the
# canary-errors alarm fires; the import itself never crashes.
dependencies = Startup("canary", _build, logger)
dependencies.prime()


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        settings, clients = dependencies.get()
    except ConfigError as error:
        logger.error("Canary run failed: invalid configuration", extra={"variable": error.variable})
        raise
    change = security_group_change(event)
    report = run_canary(settings, clients, change=change)
    publish_metrics(report, metrics)
    message_id = None
    try:
        message_id = publish_alert(report, clients, settings.alert_topic_arn)
    except Exception:
        # The findings are still in the metrics (and their alarms); say loudly that the message failed.
        logger.exception("Could not publish the canary alert to SNS")
        metrics.add_metric(name=metric_names.CANARY_ALERT_PUBLISH_FAILED, unit="Count", value=1)
    logger.info(
        "Canary run",
        extra={
            "trigger": change.as_dict() if change else "schedule",
            "critical": report.critical,
            "warnings": report.warnings,
            "findings_by_kind": counts_for_log(report),
            "synthetic": {r.name: r.status.value for r in report.synthetic},
            "duration_ms": round(report.duration_ms, 1),
            "sns_message_id": message_id,
        },
    )
    findings = [
        finding.as_dict()
        | ({"changed_by": change.describe()} if change and report.caused_by_change(finding) else {})
        for finding in report.findings
    ]
    for finding_dict in findings:
        logger.warning("Canary finding", extra=finding_dict)
    return {
        "critical": report.critical,
        "warnings": report.warnings,
        "findings": findings,
        "checked": report.checked,
        "change": change.as_dict() if change else None,
        "sns_message_id": message_id,
    }
