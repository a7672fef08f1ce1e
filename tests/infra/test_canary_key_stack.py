"""The CanaryKey custom resource in HokusaiMonitoring: its properties, its function (outside the VPC),
least privilege, no key anywhere in a template, and the canary waiting for it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hokusai.keys import schema

from stacks.settings import ContextError, Settings
from tests.infra.conftest import Synthesized, cdk_json_context

STACK = "HokusaiMonitoring"


def _function(synthesized: Synthesized, name: str) -> tuple[str, dict[str, Any]]:
    for logical_id, resource in synthesized.resources(STACK, "AWS::Lambda::Function").items():
        if resource["Properties"].get("FunctionName") == name:
            return logical_id, resource
    raise AssertionError(f"no function {name}")


def _plan_import(synthesized: Synthesized) -> str:
    """The export name under which the monitoring stack imports the default usage plan's id."""
    text = json.dumps(synthesized.raw[STACK])
    (name,) = {
        part for part in text.split('"') if part.startswith("HokusaiService:ExportsOutputRefApiUsagePlan")
    }
    return name


def _grants(statements: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """action -> its resource(s) (one, or a list when several statements grant it), and -> conditions."""
    resources: dict[str, list[Any]] = {}
    conditions: dict[str, list[Any]] = {}
    for statement in statements:
        assert statement["Effect"] == "Allow"
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        for action in actions:
            resources.setdefault(action, []).append(statement["Resource"])
            conditions.setdefault(action, []).append(statement.get("Condition"))
    granted = {action: found[0] if len(found) == 1 else found for action, found in resources.items()}
    return granted, conditions


def _custom_resource(synthesized: Synthesized) -> tuple[str, dict[str, Any]]:
    ((logical_id, resource),) = synthesized.resources(STACK, "Custom::CanaryKey").items()
    return logical_id, resource


def _logical_id(synthesized: Synthesized, resource_type: str, prefix: str) -> str:
    (logical_id,) = [name for name in synthesized.resources(STACK, resource_type) if name.startswith(prefix)]
    return logical_id


def _export(synthesized: Synthesized, value: Any) -> str:
    """The name of the HokusaiStateful export a cross-stack reference imports."""
    return str(value["Fn::ImportValue"])


def test_custom_resource_has_its_properties_and_is_served_by_its_own_function(
    synthesized: Synthesized,
) -> None:
    function_id, _ = _function(synthesized, "hokusai-canary-key")
    _, resource = _custom_resource(synthesized)
    properties = resource["Properties"]
    assert properties["ServiceToken"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert set(properties) == {
        "ServiceToken",
        "ServiceTimeout",
        "TableName",
        "SecretArn",
        "ModelIds",
        "Rotation",
        "UsagePlanId",
        "UsagePlan",
    }
    assert properties["UsagePlan"] == cdk_json_context()["defaultPlan"]
    assert "UsagePlan" in _export(synthesized, properties["UsagePlanId"])
    assert "KeysTable" in _export(synthesized, properties["TableName"])
    assert "CanaryApiKey" in _export(synthesized, properties["SecretArn"])
    context = cdk_json_context()
    assert properties["ModelIds"] == [context["canaryModelId"]]
    assert properties["Rotation"] == str(context["canaryKeyRotation"])
    assert int(properties["ServiceTimeout"]) <= 600
    # A plain CustomResource: no provider framework (Node.js) function in the stack.
    runtimes = {
        r["Properties"]["Runtime"] for r in synthesized.resources(STACK, "AWS::Lambda::Function").values()
    }
    assert runtimes == {"python3.12"}
    assert function_id in resource["DependsOn"]


def test_its_function_runs_outside_any_vpc_with_the_common_layer_and_no_retries(
    synthesized: Synthesized,
) -> None:
    function_id, function = _function(synthesized, "hokusai-canary-key")
    properties = function["Properties"]
    assert "VpcConfig" not in properties
    assert properties["Handler"] == "handler.lambda_handler"
    assert properties["Runtime"] == "python3.12"
    # The monitoring stack's own LayerVersion, never an import of the service stack's (whose ARN changes
    # on every release: tests/infra/test_second_release.py).
    (layer,) = properties["Layers"]
    assert layer == {"Ref": _logical_id(synthesized, "AWS::Lambda::LayerVersion", "CommonLayer")}
    assert properties["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == "hokusai-canary-key"
    (log_group,) = [
        g for g in synthesized.resources(STACK, "AWS::Logs::LogGroup").values()
        if g["Properties"].get("LogGroupName") == "/aws/lambda/hokusai-canary-key"
    ]  # fmt: skip
    assert log_group["Properties"]["RetentionInDays"] == cdk_json_context()["logRetentionDays"]
    (invoke_config,) = [
        c["Properties"]
        for c in synthesized.resources(STACK, "AWS::Lambda::EventInvokeConfig").values()
        if c["Properties"]["FunctionName"] == {"Ref": function_id}
    ]
    assert invoke_config["MaximumRetryAttempts"] == 0


def test_its_role_may_only_write_keys_and_put_the_canary_secret(synthesized: Synthesized) -> None:
    _, function = _function(synthesized, "hokusai-canary-key")
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = [
        statement
        for policy in synthesized.resources(STACK, "AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    granted, conditions = _grants(statements)
    assert set(granted) == {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:Query",
        "secretsmanager:PutSecretValue",
        "apigateway:POST",
        "apigateway:PUT",
        "apigateway:DELETE",
    }
    # The companion usage plan key: created (POST /apikeys) with the provisioner's tag, put on the plan,
    # deleted on revocation only when it carries that tag (issue 20 e: it could delete every key).
    posted = json.dumps(granted["apigateway:POST"])
    assert "::/apikeys" in posted and "/usageplans/" in posted and "UsagePlan" in posted
    plan_id = {"Fn::ImportValue": _plan_import(synthesized)}
    own_tag = {"Fn::Join": ["", ["canary-key:", plan_id]]}
    assert {"StringEquals": {"aws:RequestTag/hokusai:created-by": own_tag}} in conditions["apigateway:POST"]
    assert json.dumps(granted["apigateway:DELETE"]).endswith('::/apikeys/*"]]}')
    assert conditions["apigateway:DELETE"] == [
        {"StringEquals": {"aws:ResourceTag/hokusai:created-by": own_tag}}
    ]
    assert "/tags/arn%3A" in json.dumps(granted["apigateway:PUT"]) and "%2Fapikeys%2F*" in json.dumps(
        granted["apigateway:PUT"]
    )
    assert conditions["apigateway:PUT"] == [
        {
            "StringEquals": {"aws:RequestTag/hokusai:created-by": own_tag},
            "Null": {"aws:ResourceTag/hokusai:created-by": "true"},
        }
    ]
    table_arn = granted["dynamodb:PutItem"]
    assert "KeysTable" in _export(synthesized, table_arn) and "Arn" in _export(synthesized, table_arn)
    assert granted["dynamodb:GetItem"] == granted["dynamodb:UpdateItem"] == table_arn
    assert granted["dynamodb:Query"] == {"Fn::Join": ["", [table_arn, f"/index/{schema.KEY_ID_INDEX}"]]}
    assert "CanaryApiKey" in _export(synthesized, granted["secretsmanager:PutSecretValue"])
    # Only AWS's logging policy besides: nothing that reads secrets or scans the table.
    roles = synthesized.resources(STACK, "AWS::IAM::Role")
    managed = json.dumps(roles[role]["Properties"].get("ManagedPolicyArns", []))
    assert "AWSLambdaBasicExecutionRole" in managed and "VPCAccess" not in managed


def test_the_canary_waits_for_its_key(synthesized: Synthesized) -> None:
    _, canary = _function(synthesized, "hokusai-canary")
    key_id, _ = _custom_resource(synthesized)
    assert key_id in canary["DependsOn"]


def test_no_api_key_in_any_template_or_output(synthesized: Synthesized) -> None:
    for stack, template in synthesized.raw.items():
        assert "hk_" not in json.dumps(template), stack
    for path in synthesized.outdir.glob("*.json"):
        assert "hk_" not in path.read_text(), path.name


def test_canary_key_rotation_is_validated_and_changes_only_the_rotation_property() -> None:
    context = cdk_json_context()
    assert context["canaryKeyRotation"] == 1
    assert Settings.from_context({**context, "canaryKeyRotation": "7"}.get).canary_key_rotation == 7
    assert Settings.from_context({**context, "canaryKeyRotation": None}.get).canary_key_rotation == 1
    for bad in (0, -1, "two", 1.5, True):
        with pytest.raises(ContextError, match="canaryKeyRotation must be an integer"):
            Settings.from_context({**context, "canaryKeyRotation": bad}.get)
