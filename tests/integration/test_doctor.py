"""``hokusai doctor``: the canary's checks from a terminal; exit 0 clean / 1 warnings / 2 critical."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest
from hokusai.drift.cli import USAGE_ERROR, main

from local.deployment import ApiStandIn, Deployment
from local.handlers import ROOT
from local.moto_server import MotoServer


def doctor(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def flags(deployment: Deployment, api: ApiStandIn) -> list[str]:
    return [
        "--api-url",
        api.base_url,
        "--parameter",
        deployment.parameter_name,
        "--canary-key-secret",
        deployment.secret_arns["canary_key"],
    ]


def test_clean_deployment_exits_0(deployment: Deployment, api: ApiStandIn) -> None:
    code, out = doctor(*flags(deployment, api))
    assert code == 0, out
    assert "No findings" in out
    assert "PASSED   health" in out and "PASSED   predict" in out and "PASSED   unauthenticated" in out
    assert "0 critical, 0 warning; checked synthetic, security_groups, configuration" in out
    assert deployment.canary_api_key not in out


def test_missing_redis_rule_exits_2_with_the_fix_in_the_table(
    deployment: Deployment, api: ApiStandIn
) -> None:
    deployment.remove_rule("redis", 6379)
    code, out = doctor(*flags(deployment, api))
    assert code == 2
    redis_sg, functions_sg = deployment.group_ids["redis"], deployment.group_ids["functions"]
    assert "CRITICAL  sg_rule_missing" in out
    assert (
        f"    fix: aws ec2 authorize-security-group-ingress --group-id {redis_sg} "
        f"--protocol tcp --port 6379 --source-group {functions_sg}"
    ) in out
    assert deployment.received_alerts() == []  # no --topic: the doctor only prints


def test_warnings_only_exit_1_and_topic_publishes(deployment: Deployment, api: ApiStandIn) -> None:
    deployment.add_rule_from_cidr("efs", 2049, "10.9.0.0/16")
    code, out = doctor(*flags(deployment, api), "--topic", deployment.topic_arn)
    assert code == 1
    assert "WARNING   sg_rule_extra" in out
    assert "SNS message" in out
    alerts = deployment.received_alerts()
    assert len(alerts) == 1 and "sg_rule_extra" in alerts[0]["Message"]


def test_json_output_and_drift_only(deployment: Deployment) -> None:
    deployment.empty_secret("hf_token")
    code, out = doctor("--parameter", deployment.parameter_name, "--skip-synthetic", "--json")
    report = json.loads(out)
    assert code == 2 == report["exit_code"]
    assert report["synthetic"] == []
    assert [f["kind"] for f in report["findings"]] == ["secret_empty"]
    assert report["findings"][0]["fix"].startswith("aws secretsmanager put-secret-value")


def test_failing_api_is_critical(deployment: Deployment, api: ApiStandIn) -> None:
    api.require_key = False
    code, out = doctor(*flags(deployment, api))
    assert code == 2
    assert "FAILED   unauthenticated" in out
    assert "WITHOUT an API key" in out


def test_usage_errors_exit_3(moto_env: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("API_BASE_URL", "EXPECTED_STATE_PARAMETER"):
        monkeypatch.delenv(name, raising=False)
    assert doctor()[0] == USAGE_ERROR
    assert doctor("--api-url", "ftp://example.com/api")[0] == USAGE_ERROR
    assert doctor("--no-such-flag")[0] == USAGE_ERROR
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile-anywhere")
    assert doctor("--parameter", "/x/expected-state")[0] == USAGE_ERROR


def test_runs_as_a_program_against_the_endpoint_the_environment_names(deployment: Deployment) -> None:
    deployment.remove_rule("redis", 6379)
    env = {**os.environ, "EXPECTED_STATE_PARAMETER": deployment.parameter_name}
    env.pop("API_BASE_URL", None)
    completed = subprocess.run(
        [sys.executable, "-m", "hokusai.drift.cli"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 2, completed.stderr
    assert "sg_rule_missing" in completed.stdout
    assert deployment.group_ids["redis"] in completed.stdout


def test_settings_from_the_stack_outputs(deployment: Deployment, api: ApiStandIn) -> None:
    import boto3

    outputs = {
        "ApiBaseUrl": api.base_url + "/",
        "ExpectedStateParameter": deployment.parameter_name,
        "CanaryKeySecretArn": deployment.secret_arns["canary_key"],
    }
    template = {
        "Resources": {"Marker": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    stack_name = f"{deployment.name}-Monitoring"
    boto3.client("cloudformation").create_stack(StackName=stack_name, TemplateBody=json.dumps(template))
    deployment.remove_rule("redis", 6379)
    code, out = doctor("--from-stacks", deployment.name)
    assert code == 2
    assert "PASSED   predict" in out  # the key secret came from the outputs too
    assert "sg_rule_missing" in out
    assert "checked synthetic, security_groups, configuration" in out
