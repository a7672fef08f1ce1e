"""Drift detection against a deploy-like moto environment (server mode, boto3 over HTTP).

Reproduces docs/incidents.md section 3: the Redis ingress rule never applied, the HuggingFace token
secret missing from the deployment, plus a world-open Redis port. Every finding must name the
resource and carry the command that fixes it; the fix commands are run with the real AWS CLI
against moto to prove they do.
"""

from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hokusai.drift.findings import Kind, Severity
from hokusai.drift.runner import CanaryClients, publish_alert, run_canary

from local.deployment import Deployment


def drift(deployment: Deployment, clients: CanaryClients | None = None):
    return run_canary(deployment.canary_settings(None), clients or CanaryClients.from_environment())


def kinds(report) -> list[Kind]:
    return sorted((f.kind for f in report.findings), key=lambda k: k.value)


def test_healthy_deployment_has_no_findings_and_sends_no_message(deployment: Deployment) -> None:
    report = drift(deployment)
    assert report.findings == []
    assert report.exit_code == 0
    assert report.checked == ["security_groups", "configuration"]
    assert publish_alert(report, deployment.client("sns"), deployment.topic_arn) is None
    assert deployment.received_alerts() == []


def test_missing_redis_ingress_rule_is_critical_with_fix_command_and_one_sns_message(
    deployment: Deployment,
) -> None:
    deployment.remove_rule("redis", 6379)
    report = drift(deployment)
    redis_sg, functions_sg = deployment.group_ids["redis"], deployment.group_ids["functions"]

    assert kinds(report) == [Kind.SG_RULE_MISSING]
    finding = report.findings[0]
    assert finding.severity is Severity.CRITICAL
    assert finding.resource == f"security group redis ({redis_sg})"
    assert f"ingress tcp port 6379 from security group functions ({functions_sg})" in finding.detail
    assert finding.fix == (
        f"aws ec2 authorize-security-group-ingress --group-id {redis_sg} "
        f"--protocol tcp --port 6379 --source-group {functions_sg}"
    )
    assert report.exit_code == 2

    message_id = publish_alert(report, deployment.client("sns"), deployment.topic_arn)
    assert message_id
    alerts = deployment.received_alerts()
    assert len(alerts) == 1
    assert alerts[0]["Subject"].startswith("[Hokusai] 1 critical, 0 warning: sg_rule_missing")
    assert finding.fix in alerts[0]["Message"]
    assert f"security group redis ({redis_sg})" in alerts[0]["Message"]


def test_world_open_rules_are_critical_and_other_extra_rules_warn(deployment: Deployment) -> None:
    ipv4_rule = deployment.open_to_world("redis", 6379)
    ipv6_rule = deployment.open_to_world("redis", 6379, "::/0")
    report = drift(deployment)
    assert kinds(report) == [Kind.SG_RULE_WORLD_OPEN, Kind.SG_RULE_WORLD_OPEN]
    assert all(f.severity is Severity.CRITICAL for f in report.findings)
    fixes = {f.fix for f in report.findings}
    redis_sg = deployment.group_ids["redis"]
    assert fixes == {
        f"aws ec2 revoke-security-group-ingress --group-id {redis_sg} --security-group-rule-ids {ipv4_rule}",
        f"aws ec2 revoke-security-group-ingress --group-id {redis_sg} --security-group-rule-ids {ipv6_rule}",
    }
    assert any("0.0.0.0/0" in f.detail for f in report.findings)
    assert any("::/0" in f.detail for f in report.findings)


def test_an_extra_private_rule_is_only_a_warning(deployment: Deployment) -> None:
    deployment.add_rule_from_cidr("efs", 2049, "10.9.0.0/16")
    report = drift(deployment)
    assert kinds(report) == [Kind.SG_RULE_EXTRA]
    assert report.findings[0].severity is Severity.WARNING
    assert "10.9.0.0/16" in report.findings[0].detail
    assert report.exit_code == 1


def test_missing_egress_rule_to_a_prefix_list_gets_an_ip_permissions_fix(deployment: Deployment) -> None:
    deployment.remove_rule("functions", 2049, egress=True)
    report = drift(deployment)
    assert kinds(report) == [Kind.SG_RULE_MISSING]
    finding = report.findings[0]
    assert finding.resource == f"security group functions ({deployment.group_ids['functions']})"
    assert "egress tcp port 2049 to security group efs" in finding.detail
    functions_sg = deployment.group_ids["functions"]
    assert finding.fix.startswith(
        f"aws ec2 authorize-security-group-egress --group-id {functions_sg} --ip-permissions "
    )
    assert deployment.group_ids["efs"] in finding.fix


def test_empty_hugging_face_token_secret_is_named(deployment: Deployment) -> None:
    deployment.empty_secret("hf_token")
    report = drift(deployment)
    arn = deployment.secret_arns["hf_token"]
    assert kinds(report) == [Kind.SECRET_EMPTY]
    finding = report.findings[0]
    assert finding.resource == f"secret {arn}"
    assert "HF_TOKEN_SECRET_ARN" in finding.detail and deployment.function_names["predict"] in finding.detail
    assert finding.fix == (
        f"aws secretsmanager put-secret-value --secret-id {arn} --secret-string file://value.txt"
    )


def test_deleted_secret_is_critical_with_restore_or_create(deployment: Deployment) -> None:
    deployment.delete_secret("hf_token")  # with a recovery window: restorable
    deployment.delete_secret("canary_key", force=True)  # gone for good
    report = drift(deployment)
    assert kinds(report) == [Kind.SECRET_MISSING, Kind.SECRET_MISSING]
    by_resource = {f.resource: f for f in report.findings}
    restorable = by_resource[f"secret {deployment.secret_arns['hf_token']}"]
    assert (
        restorable.fix
        == f"aws secretsmanager restore-secret --secret-id {deployment.secret_arns['hf_token']}"
    )
    gone = by_resource[f"secret {deployment.secret_arns['canary_key']}"]
    assert gone.fix.startswith(
        f"aws secretsmanager create-secret --name {deployment.name}/canary_key --secret-string file://value.txt"
    )
    assert "CANARY_KEY_SECRET_ARN" in gone.fix


def test_dropped_secret_variable_is_named_with_a_fix_that_keeps_the_other_variables(
    deployment: Deployment,
) -> None:
    deployment.drop_env_var("predict", "HF_TOKEN_SECRET_ARN")
    report = drift(deployment)
    assert kinds(report) == [Kind.ENV_VAR_MISSING]
    finding = report.findings[0]
    predict = deployment.function_names["predict"]
    assert finding.resource == f"function {predict}"
    assert "HF_TOKEN_SECRET_ARN" in finding.detail
    assert deployment.secret_arns["hf_token"] in finding.fix
    assert finding.fix.startswith(f"aws lambda update-function-configuration --function-name {predict}")
    assert "jq" in finding.fix  # sets one key, never rewrites the others


def test_secret_variable_pointing_elsewhere_and_dropped_plain_variable(deployment: Deployment) -> None:
    deployment.set_env_var("health", "REDIS_AUTH_SECRET_ARN", deployment.secret_arns["hf_token"])
    deployment.drop_env_var("authorizer", "KEYS_TABLE_NAME")
    report = drift(deployment)
    assert kinds(report) == [Kind.ENV_VAR_MISSING, Kind.SECRET_REF_MISMATCH]
    mismatch = next(f for f in report.findings if f.kind is Kind.SECRET_REF_MISMATCH)
    assert mismatch.resource == f"function {deployment.function_names['health']}"
    assert deployment.secret_arns["redis_auth"] in mismatch.detail
    missing = next(f for f in report.findings if f.kind is Kind.ENV_VAR_MISSING)
    assert "KEYS_TABLE_NAME" in missing.detail


def test_function_in_the_wrong_security_group_is_critical(deployment: Deployment) -> None:
    lambda_ = deployment.client("lambda")
    lambda_.update_function_configuration(
        FunctionName=deployment.function_names["authorizer"],
        VpcConfig={"SubnetIds": deployment.subnet_ids, "SecurityGroupIds": [deployment.group_ids["redis"]]},
    )
    report = drift(deployment)
    assert kinds(report) == [Kind.FUNCTION_SG_MISMATCH]
    finding = report.findings[0]
    assert finding.severity is Severity.CRITICAL
    assert f"missing functions ({deployment.group_ids['functions']})" in finding.detail
    assert f"extra {deployment.group_ids['redis']}" in finding.detail
    assert f"SecurityGroupIds={deployment.group_ids['functions']}" in finding.fix


def test_missing_function_and_missing_parameter(deployment: Deployment) -> None:
    deployment.client("lambda").delete_function(FunctionName=deployment.function_names["health"])
    report = drift(deployment)
    assert kinds(report) == [Kind.FUNCTION_MISSING]
    assert report.findings[0].resource == f"function {deployment.function_names['health']}"

    deployment.client("ssm").delete_parameter(Name=deployment.parameter_name)
    report = drift(deployment)
    assert kinds(report) == [Kind.EXPECTED_STATE_UNAVAILABLE]
    assert deployment.parameter_name in report.findings[0].resource


def test_every_problem_at_once_is_reported_in_one_run_and_one_message(deployment: Deployment) -> None:
    deployment.remove_rule("redis", 6379)
    deployment.open_to_world("redis", 6379)
    deployment.empty_secret("hf_token")
    deployment.drop_env_var("predict", "MODEL_BUCKET")
    report = drift(deployment)
    assert kinds(report) == [
        Kind.ENV_VAR_MISSING,
        Kind.SECRET_EMPTY,
        Kind.SG_RULE_MISSING,
        Kind.SG_RULE_WORLD_OPEN,
    ]
    publish_alert(report, deployment.client("sns"), deployment.topic_arn)
    alerts = deployment.received_alerts()
    assert len(alerts) == 1
    for finding in report.findings:
        assert finding.fix in alerts[0]["Message"]


# --------------------------------------------------------------------------------------------------
# AWS API errors become findings; the other checks still run
# --------------------------------------------------------------------------------------------------


class AwsErrorServer:
    """Answers every AWS call with one error, as AWS would (query/XML and JSON protocols)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        error = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return

            def _reply(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                error.calls += 1
                body = (
                    f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error>"
                    "</Errors><RequestID>req-1</RequestID></Response>"
                ).encode()
                content_type = "text/xml"
                if self.headers.get("X-Amz-Target") or "json" in (self.headers.get("Content-Type") or ""):
                    body = f'{{"__type": "{code}", "message": "{message}"}}'.encode()
                    content_type = "application/x-amz-json-1.1"
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("x-amzn-ErrorType", code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _reply

        self.calls = 0
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def denied() -> Iterator[AwsErrorServer]:
    server = AwsErrorServer(403, "UnauthorizedOperation", "You are not authorized to perform this operation.")
    yield server
    server.close()


@pytest.fixture
def throttled() -> Iterator[AwsErrorServer]:
    server = AwsErrorServer(400, "ThrottlingException", "Rate exceeded")
    yield server
    server.close()


def test_access_denied_on_ec2_is_a_critical_finding_and_configuration_is_still_checked(
    deployment: Deployment, denied: AwsErrorServer
) -> None:
    import boto3

    deployment.drop_env_var("predict", "HF_TOKEN_SECRET_ARN")
    clients = CanaryClients.from_environment()
    clients.ec2 = boto3.client("ec2", endpoint_url=denied.url, region_name="eu-west-1")
    report = drift(deployment, clients)
    assert kinds(report) == [Kind.CHECK_ERROR, Kind.ENV_VAR_MISSING]
    error = next(f for f in report.findings if f.kind is Kind.CHECK_ERROR)
    assert error.severity is Severity.CRITICAL
    assert "ec2:DescribeSecurityGroupRules" in error.detail
    assert "UnauthorizedOperation" in error.detail
    assert denied.calls >= 1


def test_throttled_lambda_is_a_warning_per_function_and_security_groups_are_still_checked(
    deployment: Deployment, throttled: AwsErrorServer
) -> None:
    import boto3
    from botocore.config import Config

    deployment.remove_rule("redis", 6379)
    clients = CanaryClients.from_environment()
    clients.lambda_ = boto3.client(
        "lambda",
        endpoint_url=throttled.url,
        region_name="eu-west-1",
        config=Config(retries={"total_max_attempts": 1}),
    )
    report = drift(deployment, clients)
    errors = [f for f in report.findings if f.kind is Kind.CHECK_ERROR]
    assert len(errors) == len(deployment.function_names) == 6  # one per declared function
    assert all(f.severity is Severity.WARNING and "ThrottlingException" in f.detail for f in errors)
    assert Kind.SG_RULE_MISSING in kinds(report)
    assert report.exit_code == 2


# --------------------------------------------------------------------------------------------------
# The fix commands work: run them with the real AWS CLI against moto, then check again
# --------------------------------------------------------------------------------------------------

AWS_CLI = shutil.which("aws")


def run_fix(command: str, deployment: Deployment, cwd: Path) -> None:
    env = {**os.environ, "AWS_ENDPOINT_URL": deployment.endpoint_url or "", "AWS_PAGER": ""}
    completed = subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert completed.returncode == 0, completed.stderr


@pytest.mark.skipif(
    AWS_CLI is None or shutil.which("jq") is None,
    reason="optional machine tools: needs the AWS CLI (aws) and jq",
)
def test_fix_commands_repair_the_drift(deployment: Deployment, tmp_path: Path) -> None:
    deployment.remove_rule("redis", 6379)
    deployment.remove_rule("functions", 443, egress=True)  # three egress rules on 443: all gone
    deployment.drop_env_var("predict", "HF_TOKEN_SECRET_ARN")
    deployment.empty_secret("hf_token")
    report = drift(deployment)
    assert len(report.findings) == 6
    (tmp_path / "value.txt").write_text("hf_" + os.urandom(12).hex())
    for finding in report.findings:
        run_fix(finding.fix, deployment, tmp_path)
    assert drift(deployment).findings == []
