"""The pre-traffic hook (functions/pre_traffic, hokusai.rollout) against real functions.

The release's "versions" are the real authorizer, predict and health handlers of the local stack
(moto, its own redis-server, the canary key it provisioned). The hook reaches them as it does in AWS:
boto3's Lambda ``Invoke`` over HTTP, and reports its verdict with boto3's CodeDeploy
``PutLifecycleEventHookExecutionStatus``, both answered by ``local.lambda_api`` (moto has neither).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from local.apigw import FunctionHost, GatewayIdentity, LocalLambdaContext
from local.handlers import load_event, load_handler
from local.lambda_api import Invoke, LambdaAndCodeDeploy
from local.lambda_pool import ProcessFunctionHost
from local.stack import LocalStack

ACCOUNT = "123456789012"
REGION = "eu-west-1"
EVENT = load_event("codedeploy_pre_traffic_hook.json")


def version_arn(function: str, version: int) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:hokusai-{function}:{version}"


@pytest.fixture(scope="module")
def release_host(stack: LocalStack) -> ProcessFunctionHost:
    """The stack's warm functions (a process per instance, local/lambda_pool.py): the release under test."""
    host = stack.server.gateway.host
    assert isinstance(host, ProcessFunctionHost)
    return host


@pytest.fixture(scope="module")
def broken_predict(stack: LocalStack) -> Iterator[FunctionHost]:
    """A predict version built with a bad configuration (MAX_BATCH_SIZE=0): it answers 503 naming the
    variable on every request, as a release with a broken environment would."""
    host = FunctionHost(GatewayIdentity(region=REGION, account_id=ACCOUNT))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MAX_BATCH_SIZE", "0")
        host.load("predict")
    yield host


@pytest.fixture
def aws_apis(
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[[dict[str, tuple[str, Invoke]]], LambdaAndCodeDeploy]]:
    servers: list[LambdaAndCodeDeploy] = []

    def start(versions: dict[str, tuple[str, Invoke]]) -> LambdaAndCodeDeploy:
        server = LambdaAndCodeDeploy(versions)
        servers.append(server)
        # botocore's per-service endpoints: Lambda and CodeDeploy here, Secrets Manager stays moto's.
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", server.url)
        monkeypatch.setenv("AWS_ENDPOINT_URL_CODEDEPLOY", server.url)
        return server

    yield start
    for server in servers:
        server.close()


def good_release(host: FunctionHost | ProcessFunctionHost) -> dict[str, tuple[str, Invoke]]:
    return {version_arn(name, 7): (name, host.invoke) for name in ("authorizer", "predict", "health")}


def load_hook(monkeypatch: pytest.MonkeyPatch, stack: LocalStack, **overrides: str | None) -> Any:
    values: dict[str, str | None] = {
        "RELEASE_AUTHORIZER_VERSION": version_arn("authorizer", 7),
        "RELEASE_PREDICT_VERSION": version_arn("predict", 7),
        "RELEASE_HEALTH_VERSION": version_arn("health", 7),
        "CANARY_KEY_SECRET_ARN": stack.deployment.secret_arns["canary_key"],
        "CANARY_MODEL_ID": "21",
        "POWERTOOLS_SERVICE_NAME": "hokusai-pre_traffic",
        **overrides,
    }
    for name, value in values.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    return load_handler("pre_traffic")


def context() -> LocalLambdaContext:
    return LocalLambdaContext("hokusai-pre-traffic", str(uuid.uuid4()), 120, GatewayIdentity(REGION, ACCOUNT))


def test_a_good_release_passes_the_canarys_checks_and_codedeploy_hears_succeeded(
    stack: LocalStack, release_host: ProcessFunctionHost, aws_apis: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    apis = aws_apis(good_release(release_host))
    hook = load_hook(monkeypatch, stack)
    answer = hook.lambda_handler(dict(EVENT), context())
    print(json.dumps(answer, indent=1))
    assert answer["status"] == "Succeeded"
    assert {check["check"]: check["status"] for check in answer["checks"]} == {
        "health": "passed",
        "predict": "passed",
        "unauthenticated": "passed",
    }
    assert [check["http_status"] for check in answer["checks"]] == [200, 200, 401]
    # Only the release's versions were invoked: the authorizer for both predicts, never an alias.
    assert sorted(set(apis.invoked)) == sorted(good_release(release_host))
    assert apis.invoked.count(version_arn("authorizer", 7)) == 2
    assert apis.verdicts == [
        {
            "deploymentId": EVENT["DeploymentId"],
            "lifecycleEventHookExecutionId": EVENT["LifecycleEventHookExecutionId"],
            "status": "Succeeded",
        }
    ]


def test_a_release_whose_predict_answers_503_is_failed_before_any_traffic(
    stack: LocalStack,
    release_host: ProcessFunctionHost,
    broken_predict: FunctionHost,
    aws_apis: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    versions = good_release(release_host)
    versions[version_arn("predict", 8)] = ("predict", broken_predict.invoke)
    apis = aws_apis(versions)
    hook = load_hook(monkeypatch, stack, RELEASE_PREDICT_VERSION=version_arn("predict", 8))
    answer = hook.lambda_handler(dict(EVENT), context())
    print(json.dumps(answer, indent=1))
    checks = {check["check"]: check for check in answer["checks"]}
    assert answer["status"] == "Failed"
    assert checks["predict"]["status"] == "failed"
    assert checks["predict"]["http_status"] == 503
    assert "MAX_BATCH_SIZE" in checks["predict"]["reason"]
    assert checks["health"]["status"] == checks["unauthenticated"]["status"] == "passed"
    assert [verdict["status"] for verdict in apis.verdicts] == ["Failed"]


def test_a_release_whose_authorizer_crashes_is_failed(
    stack: LocalStack, release_host: ProcessFunctionHost, aws_apis: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new authorizer version that cannot answer (here: not deployed at all, Invoke answers 404)."""
    apis = aws_apis(good_release(release_host))
    hook = load_hook(monkeypatch, stack, RELEASE_AUTHORIZER_VERSION=version_arn("authorizer", 9))
    answer = hook.lambda_handler(dict(EVENT), context())
    checks = {check["check"]: check for check in answer["checks"]}
    assert answer["status"] == "Failed"
    # The gateway answers an authorizer that cannot be invoked with AUTHORIZER_FAILURE (503).
    assert checks["predict"]["http_status"] == checks["unauthenticated"]["http_status"] == 503
    assert checks["health"]["status"] == "passed"
    assert [verdict["status"] for verdict in apis.verdicts] == ["Failed"]


def test_without_a_readable_canary_key_the_release_is_not_let_through(
    stack: LocalStack, release_host: ProcessFunctionHost, aws_apis: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    apis = aws_apis(good_release(release_host))
    hook = load_hook(monkeypatch, stack, CANARY_KEY_SECRET_ARN=None)
    answer = hook.lambda_handler(dict(EVENT), context())
    checks = {check["check"]: check for check in answer["checks"]}
    assert answer["status"] == "Failed"
    assert checks["predict"]["status"] == "failed"
    assert checks["predict"]["reason"].endswith("the release cannot be checked")
    assert [verdict["status"] for verdict in apis.verdicts] == ["Failed"]


def test_a_misconfigured_hook_still_reports_failed_at_once(
    stack: LocalStack, release_host: ProcessFunctionHost, aws_apis: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not after CodeDeploy's one-hour hook timeout: the verdict does not depend on the settings."""
    apis = aws_apis(good_release(release_host))
    hook = load_hook(monkeypatch, stack, RELEASE_HEALTH_VERSION="hokusai-health")
    answer = hook.lambda_handler(dict(EVENT), context())
    assert answer == {"status": "Failed", "checks": []}
    assert apis.invoked == []
    assert [verdict["status"] for verdict in apis.verdicts] == ["Failed"]


def test_invoked_by_hand_it_checks_the_release_and_reports_to_nobody(
    stack: LocalStack, release_host: ProcessFunctionHost, aws_apis: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    apis = aws_apis(good_release(release_host))
    hook = load_hook(monkeypatch, stack)
    answer = hook.lambda_handler({}, context())
    assert answer["status"] == "Succeeded"
    assert len(answer["checks"]) == 3
    assert apis.verdicts == []
