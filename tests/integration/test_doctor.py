"""``hokusai doctor``: the canary's checks from a terminal; exit 0 clean / 1 warnings / 2 critical /
3 could not run / 4 drift not checked. Its synthetic checks call the real API (the local stack's
functions behind the API Gateway emulator, through the ``api`` pipe of tests/integration/conftest.py,
which injects a missing 401 where a test needs one)."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from hokusai.drift.cli import CONVENTIONAL_PARAMETER, DRIFT_NOT_CHECKED, USAGE_ERROR, main

from local.deployment import Deployment
from local.moto_server import MotoServer
from tests.helpers import run_python
from tests.integration.conftest import FaultyPipe


def doctor(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def synthetic_flags(deployment: Deployment, api: FaultyPipe) -> list[str]:
    """The synthetic checks' flags and no expected-state parameter."""
    return ["--api-url", api.base_url, "--canary-key-secret", deployment.secret_arns["canary_key"]]


@pytest.fixture
def no_parameter_given(moto_env: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """No --parameter, no EXPECTED_STATE_PARAMETER, and nothing at the conventional name (this moto
    is shared by the session; only the test that writes that parameter creates it, and deletes it)."""
    monkeypatch.delenv("EXPECTED_STATE_PARAMETER", raising=False)
    ssm = boto3.client("ssm")
    with pytest.raises(ssm.exceptions.ParameterNotFound):
        ssm.get_parameter(Name=CONVENTIONAL_PARAMETER)
    yield ssm


def flags(deployment: Deployment, api: FaultyPipe) -> list[str]:
    return [
        "--api-url",
        api.base_url,
        "--parameter",
        deployment.parameter_name,
        "--canary-key-secret",
        deployment.secret_arns["canary_key"],
    ]


def test_clean_deployment_exits_0(deployment: Deployment, api: FaultyPipe) -> None:
    code, out = doctor(*flags(deployment, api))
    assert code == 0, out
    assert "No findings" in out
    assert "PASSED   health" in out and "PASSED   predict" in out and "PASSED   unauthenticated" in out
    assert "0 critical, 0 warning; checked synthetic, security_groups, configuration" in out
    assert deployment.canary_api_key not in out


def test_missing_redis_rule_exits_2_with_the_fix_in_the_table(
    deployment: Deployment, api: FaultyPipe
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


def test_warnings_only_exit_1_and_topic_publishes(deployment: Deployment, api: FaultyPipe) -> None:
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


def test_failing_api_is_critical(deployment: Deployment, api: FaultyPipe) -> None:
    api.require_key = False
    code, out = doctor(*flags(deployment, api))
    assert code == 2
    assert "FAILED   unauthenticated" in out
    assert "WITHOUT an API key" in out


def test_without_a_parameter_drift_is_not_checked_and_it_exits_4(
    deployment: Deployment, api: FaultyPipe, no_parameter_given: Any
) -> None:
    code, out = doctor(*synthetic_flags(deployment, api))
    assert code == DRIFT_NOT_CHECKED == 4, out
    assert "PASSED   health" in out and "PASSED   predict" in out and "PASSED   unauthenticated" in out
    assert (
        "Drift NOT checked: no --parameter / EXPECTED_STATE_PARAMETER, and no parameter "
        "/hokusai/expected-state (the stack's default name).\n"
        "No findings from the synthetic checks; the deployment was not compared.\n"
    ) in out
    assert "matches what the stack declared" not in out  # it never claims a comparison it did not make
    assert "0 critical, 0 warning; checked synthetic in" in out
    assert "Exit 4: drift not checked. Give --parameter <ExpectedStateParameter output>" in out

    code, out = doctor(*synthetic_flags(deployment, api), "--json")
    report = json.loads(out)
    assert code == 4 == report["exit_code"]
    assert report["drift_checked"] is False and report["expected_state_parameter"] is None
    assert report["checked"] == ["synthetic"]


def test_a_critical_finding_still_exits_2_when_drift_is_not_checked(
    deployment: Deployment, api: FaultyPipe, no_parameter_given: Any
) -> None:
    api.require_key = False
    code, out = doctor(*synthetic_flags(deployment, api))
    assert code == 2, out
    assert "FAILED   unauthenticated" in out
    assert "Drift NOT checked: no --parameter / EXPECTED_STATE_PARAMETER" in out


def test_the_conventional_parameter_is_checked_when_none_is_given(
    deployment: Deployment, api: FaultyPipe, no_parameter_given: Any
) -> None:
    ssm = no_parameter_given
    # This deployment's document under the name the monitoring stack gives it on the default prefix.
    ssm.put_parameter(
        Name=CONVENTIONAL_PARAMETER, Value=json.dumps(deployment.document), Type="String", Tier="Advanced"
    )
    try:
        deployment.remove_rule("redis", 6379)
        code, out = doctor(*synthetic_flags(deployment, api))
    finally:
        ssm.delete_parameter(Name=CONVENTIONAL_PARAMETER)
    assert code == 2, out  # the drift the conventional parameter's document reveals
    assert "Expected state: /hokusai/expected-state (the stack's default name; no --parameter given)" in out
    assert "CRITICAL  sg_rule_missing" in out
    assert "checked synthetic, security_groups, configuration" in out
    assert "Drift NOT checked" not in out


def test_usage_errors_exit_3(
    moto_env: MotoServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("API_BASE_URL", "EXPECTED_STATE_PARAMETER"):
        monkeypatch.delenv(name, raising=False)
    assert doctor()[0] == USAGE_ERROR
    assert capsys.readouterr().err == (
        "hokusai doctor: nothing to check: give --parameter (drift) and/or --api-url (synthetic); "
        "no --parameter / EXPECTED_STATE_PARAMETER, and no parameter /hokusai/expected-state "
        "(the stack's default name)\n"
    )
    assert doctor("--api-url", "ftp://example.com/api")[0] == USAGE_ERROR
    assert doctor("--no-such-flag")[0] == USAGE_ERROR
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile-anywhere")
    assert doctor("--parameter", "/x/expected-state")[0] == USAGE_ERROR


def test_runs_as_a_program_against_the_endpoint_the_environment_names(deployment: Deployment) -> None:
    deployment.remove_rule("redis", 6379)
    env = {**os.environ, "EXPECTED_STATE_PARAMETER": deployment.parameter_name}
    env.pop("API_BASE_URL", None)
    completed = run_python("-m", "hokusai.drift.cli", env=env)
    assert completed.returncode == 2, completed.stderr
    assert "sg_rule_missing" in completed.stdout
    assert deployment.group_ids["redis"] in completed.stdout


def test_settings_from_the_stack_outputs(deployment: Deployment, api: FaultyPipe) -> None:
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
