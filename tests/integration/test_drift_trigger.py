"""Drift caught when it happens: the canary handler invoked by the recorded CloudTrail-via-EventBridge
event of a RevokeSecurityGroupIngress on the deployment's Redis group (moto server, real boto3).

The event pattern the stack deploys (``hokusai.drift.trigger.event_pattern_detail``) is checked
against the same event through a rule with that pattern on moto's event bus (moto's matcher)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hokusai.drift.trigger import CLOUDTRAIL_DETAIL_TYPE, EC2_SOURCE, event_pattern_detail

from local.deployment import Deployment
from local.handlers import LambdaContext, load_event, load_handler
from tests.integration.test_canary import emf_metrics

CALLER_ARN = "arn:aws:sts::123456789012:assumed-role/ExampleOperatorRole/jane.doe"
# Never called: a change-triggered run makes no synthetic requests (a request here would fail).
UNREACHABLE_API = "http://127.0.0.1:9/api/"


def revoke_event(group_id: str, rule_ids: list[str]) -> dict[str, Any]:
    """The recorded event, as CloudTrail would record the revoke the test made."""
    event = copy.deepcopy(load_event("cloudtrail_revoke_sg_ingress.json"))
    event["detail"]["requestParameters"] = {
        "groupId": group_id,
        "securityGroupRuleIds": {"items": [{"securityGroupRuleId": rule_id} for rule_id in rule_ids]},
    }
    return event


def invoke_canary(
    deployment: Deployment,
    event: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> tuple[dict[str, Any], dict[str, float]]:
    for name, value in deployment.canary_env(UNREACHABLE_API).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "hokusai-canary")
    handler = load_handler("canary")
    capsys.readouterr()
    result = handler.lambda_handler(event, LambdaContext())
    return result, emf_metrics(capsys.readouterr().out)


def pattern(deployment: Deployment) -> str:
    return json.dumps(
        {
            "source": [EC2_SOURCE],
            "detail-type": [CLOUDTRAIL_DETAIL_TYPE],
            "detail": event_pattern_detail(sorted(deployment.group_ids.values())),
        }
    )


def matches(deployment: Deployment, event: dict[str, Any]) -> bool:
    """Whether the stack's pattern matches ``event``: a rule with that pattern on moto's default bus,
    an SQS target, the event put on the bus, and what reached the queue (moto does not implement
    TestEventPattern; its rule matching supports ``$or`` and ``exists``)."""
    events, sqs = deployment.client("events"), deployment.client("sqs")
    name = f"{deployment.name}-sg-change"
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(Name=name, EventPattern=pattern(deployment), State="ENABLED")
    events.put_targets(Rule=name, Targets=[{"Id": "queue", "Arn": queue_arn}])
    answer = events.put_events(
        Entries=[
            {
                "Source": event["source"],
                "DetailType": event["detail-type"],
                "Detail": json.dumps(event["detail"]),
                "Resources": event["resources"],
            }
        ]
    )
    assert answer["FailedEntryCount"] == 0
    received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    for message in received:
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    assert len(received) <= 1
    return bool(received) and json.loads(received[0]["Body"])["detail"] == event["detail"]


def test_revoked_redis_rule_is_reported_naming_the_rule_the_fix_and_who_revoked_it(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rule_ids = deployment.remove_rule("redis", 6379)
    redis_sg, functions_sg = deployment.group_ids["redis"], deployment.group_ids["functions"]
    event = revoke_event(redis_sg, rule_ids)
    assert matches(deployment, event)

    result, metrics = invoke_canary(deployment, event, monkeypatch, capsys)

    assert result["checked"] == ["security_groups"]  # no synthetic requests, no configuration check
    assert result["change"]["event_name"] == "RevokeSecurityGroupIngress"
    assert result["change"]["group_id"] == redis_sg
    assert result["change"]["rule_ids"] == rule_ids
    (finding,) = result["findings"]
    fix = (
        f"aws ec2 authorize-security-group-ingress --group-id {redis_sg} "
        f"--protocol tcp --port 6379 --source-group {functions_sg}"
    )
    assert finding["kind"] == "sg_rule_missing"
    assert f"ingress tcp port 6379 from security group functions ({functions_sg})" in finding["detail"]
    assert finding["fix"] == fix
    assert CALLER_ARN in finding["changed_by"]
    assert metrics["DriftSGRuleMissing"] == 1 and metrics["DriftCritical"] == 1
    assert "SyntheticHealthSuccess" not in metrics  # not measured: not reported as passed or failed

    (alert,) = deployment.received_alerts()
    message = alert["Message"]
    assert alert["Subject"].startswith(
        f"[Hokusai] 1 critical, 0 warning: sg_rule_missing security group redis ({redis_sg})"
    )
    block = message.split("[CRITICAL] sg_rule_missing")[1]
    assert f"missing rule: ingress tcp port 6379 from security group functions ({functions_sg})" in block
    assert f"fix: {fix}" in block
    changed_by = next(line for line in block.splitlines() if line.strip().startswith("changed by:"))
    for expected in (
        "RevokeSecurityGroupIngress",
        redis_sg,
        *rule_ids,
        "2026-11-23T07:31:12Z",
        CALLER_ARN,
        "AROAEXAMPLEOPERATOR01:jane.doe",
        "session issued by ExampleOperatorRole",
        "from 198.51.100.23",
    ):
        assert expected in changed_by, expected


def test_world_open_rule_added_is_reported_with_the_caller_and_the_revoke_command(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rule_id = deployment.open_to_world("redis", 6379)
    redis_sg = deployment.group_ids["redis"]
    event = revoke_event(redis_sg, [])
    event["detail"]["eventName"] = "AuthorizeSecurityGroupIngress"
    event["detail"]["requestParameters"] = {
        "groupId": redis_sg,
        "ipPermissions": {
            "items": [
                {
                    "ipProtocol": "tcp",
                    "fromPort": 6379,
                    "toPort": 6379,
                    "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]},
                }
            ]
        },
    }
    assert matches(deployment, event)

    result, _ = invoke_canary(deployment, event, monkeypatch, capsys)

    (finding,) = result["findings"]
    assert finding["kind"] == "sg_rule_world_open"
    assert finding["fix"] == (
        f"aws ec2 revoke-security-group-ingress --group-id {redis_sg} --security-group-rule-ids {rule_id}"
    )
    assert "AuthorizeSecurityGroupIngress" in finding["changed_by"] and CALLER_ARN in finding["changed_by"]
    (alert,) = deployment.received_alerts()
    assert f"changed by: AuthorizeSecurityGroupIngress on {redis_sg}" in alert["Message"]


def test_a_change_that_leaves_no_drift_sends_nothing(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # E.g. the on-call engineer's fix command: its own CloudTrail event triggers a clean run.
    event = revoke_event(deployment.group_ids["redis"], [])
    event["detail"]["eventName"] = "AuthorizeSecurityGroupIngress"
    result, metrics = invoke_canary(deployment, event, monkeypatch, capsys)
    assert result["findings"] == [] and result["sns_message_id"] is None
    assert metrics["DriftCritical"] == 0
    assert deployment.received_alerts() == []


def test_pattern_ignores_other_groups_failed_calls_and_other_calls(deployment: Deployment) -> None:
    ours = revoke_event(deployment.group_ids["redis"], ["sgr-0f1e2d3c4b5a69788"])
    assert matches(deployment, ours)
    other_group = revoke_event("sg-0ffffffffffffffff", ["sgr-0f1e2d3c4b5a69788"])
    assert not matches(deployment, other_group)
    denied = copy.deepcopy(ours)
    denied["detail"]["errorCode"] = "Client.UnauthorizedOperation"
    assert not matches(deployment, denied)
    describe = copy.deepcopy(ours)
    describe["detail"]["eventName"] = "DescribeSecurityGroupRules"
    assert not matches(deployment, describe)
    modify = copy.deepcopy(ours)
    modify["detail"]["eventName"] = "ModifySecurityGroupRules"
    modify["detail"]["requestParameters"] = {
        "ModifySecurityGroupRulesRequest": {
            "GroupId": deployment.group_ids["redis"],
            "SecurityGroupRule": {"SecurityGroupRuleId": "sgr-0f1e2d3c4b5a69788", "tag": 1},
        }
    }
    assert matches(deployment, modify)
    deleted = revoke_event(deployment.group_ids["efs"], [])
    deleted["detail"]["eventName"] = "DeleteSecurityGroup"
    deleted["detail"]["requestParameters"] = {"groupId": deployment.group_ids["efs"]}
    assert matches(deployment, deleted)
