"""CodeDeploy's pre-traffic hook: the canary's checks on a release's new versions (``hokusai.rollout``).

Invoked by CodeDeploy once per deployment group (authorizer, predict, health) before the ``live``
alias moves; it checks all three new versions each time and always reports a verdict. Invoked by
hand (``aws lambda invoke --function-name <prefix>-pre-traffic out.json``) it checks the release and
reports to nobody: the answer lists each check.
"""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from hokusai import aws, gateway, rollout
from hokusai.config import PreTrafficSettings
from hokusai.drift.runner import canary_key_reader
from hokusai.observability import logger, tracer
from hokusai.startup import Startup


def _build() -> tuple[PreTrafficSettings, Any, Any]:
    settings = PreTrafficSettings.from_env()
    # Each invocation is one request to a new version, which may be cold: the functions' own timeouts
    # bound it (predict's is the longest, 29 s by default). One attempt: a retry would hide a failure.
    lambda_client = aws.client("lambda", aws.Budget(3, 30, 1))
    return settings, lambda_client, aws.client("secretsmanager", aws.OPERATOR)


dependencies = Startup("pre_traffic", _build, logger)
dependencies.prime()


@functools.cache
def _codedeploy() -> Any:
    """Apart from the settings: a misconfigured hook must still report Failed."""
    return aws.client("codedeploy", aws.DEPLOYMENT)


def _identity(context: LambdaContext) -> gateway.GatewayIdentity:
    # arn:aws:lambda:<region>:<account>:function:<name>: the method ARNs the authorizer sees are ours.
    parts = context.invoked_function_arn.split(":")
    return gateway.GatewayIdentity(region=parts[3], account_id=parts[4], api_id="pre-traffic")


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    hook = rollout.HookInvocation.from_event(event)
    results: list[rollout.SyntheticResult] = []
    status = rollout.FAILED
    try:
        settings, lambda_client, secretsmanager = dependencies.get()
        release = rollout.Release(settings.versions)
        logger.info("Checking the release before traffic", extra={"versions": settings.versions})
        results = rollout.check_release(
            rollout.lambda_invoke(lambda_client, release),
            _identity(context),
            api_key=canary_key_reader(secretsmanager, settings.canary_key_secret_arn),
            model_id=settings.canary_model_id,
            log=lambda line: logger.warning("Gateway", extra={"detail": line}),
        )
        status = rollout.verdict(results)
    except Exception:
        # Reported as Failed below: the deployment stops and rolls back now, not after the hook timeout.
        logger.exception("Pre-traffic check could not run")
    finally:
        outcomes = [rollout.result_for_log(result) for result in results]
        log = logger.info if status == rollout.SUCCEEDED else logger.warning
        deployment = hook.deployment_id if hook else "none (invoked by hand)"
        log("Pre-traffic check", extra={"status": status, "checks": outcomes, "deployment": deployment})
        if hook is not None:
            hook.report(_codedeploy(), status)
    return {"status": status, "checks": outcomes}
