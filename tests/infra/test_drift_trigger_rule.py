"""The EventBridge rule that runs the canary's drift check when a declared security group changes."""

from __future__ import annotations

from typing import Any

from hokusai import declared
from hokusai.drift import trigger

from tests.infra.conftest import Synthesized

STACK = "HokusaiMonitoring"


def _rules(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    return synthesized.resources(STACK, "AWS::Events::Rule")


def _canary_id(synthesized: Synthesized) -> str:
    (logical_id,) = [
        logical_id
        for logical_id, resource in synthesized.resources(STACK, "AWS::Lambda::Function").items()
        if resource["Properties"].get("FunctionName") == "hokusai-canary"
    ]
    return logical_id


def _group_exports(synthesized: Synthesized) -> dict[str, str]:
    """Logical id of each declared security group in the stateful stack."""
    groups = synthesized.resources("HokusaiStateful", "AWS::EC2::SecurityGroup")
    return {
        logical_id: resource["Properties"].get("GroupDescription", "")
        for logical_id, resource in groups.items()
    }


def test_security_group_changes_invoke_the_canary_with_a_short_retry(synthesized: Synthesized) -> None:
    rules = [
        rule["Properties"] for rule in _rules(synthesized).values() if "EventPattern" in rule["Properties"]
    ]
    (rule,) = rules
    pattern = rule["EventPattern"]
    assert rule["State"] == "ENABLED"
    assert pattern["source"] == ["aws.ec2"]
    assert pattern["detail-type"] == ["AWS API Call via CloudTrail"]
    detail = pattern["detail"]
    assert detail["eventSource"] == ["ec2.amazonaws.com"]
    assert detail["eventName"] == [
        "AuthorizeSecurityGroupIngress",
        "AuthorizeSecurityGroupEgress",
        "RevokeSecurityGroupIngress",
        "RevokeSecurityGroupEgress",
        "ModifySecurityGroupRules",
        "DeleteSecurityGroup",
    ]
    assert detail["errorCode"] == [{"exists": False}]
    by_group_id, by_modify_request = detail["$or"]
    group_ids = by_group_id["requestParameters"]["groupId"]
    assert by_modify_request == {
        "requestParameters": {"ModifySecurityGroupRulesRequest": {"GroupId": group_ids}}
    }
    # Exactly the declared groups, each the stateful stack's own group (an import of its GroupId).
    assert len(group_ids) == len(declared.SECURITY_GROUPS)
    stateful_groups = set(_group_exports(synthesized))
    referenced = {str(group_id) for group_id in group_ids}
    assert all("ImportValue" in text for text in referenced)
    assert len(referenced) == len(group_ids)
    assert all(any(logical_id in text for logical_id in stateful_groups) for text in referenced)
    assert detail == trigger.event_pattern_detail(group_ids)

    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [_canary_id(synthesized), "Arn"]}
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 4, "MaximumEventAgeInSeconds": 600}
    assert "DeadLetterConfig" not in target


def test_the_schedule_stays_as_the_backstop(synthesized: Synthesized) -> None:
    schedules = [
        rule["Properties"]
        for rule in _rules(synthesized).values()
        if "ScheduleExpression" in rule["Properties"]
    ]
    (schedule,) = schedules
    (target,) = schedule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [_canary_id(synthesized), "Arn"]}


def test_eventbridge_may_invoke_the_canary_from_the_change_rule_only_as_that_rule(
    synthesized: Synthesized,
) -> None:
    canary = _canary_id(synthesized)
    change_rule = next(
        logical_id for logical_id, rule in _rules(synthesized).items() if "EventPattern" in rule["Properties"]
    )
    permissions = [
        p["Properties"]
        for p in synthesized.resources(STACK, "AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [canary, "Arn"]}
        and p["Properties"]["Principal"] == "events.amazonaws.com"
    ]
    assert {"Fn::GetAtt": [change_rule, "Arn"]} in [p["SourceArn"] for p in permissions]
    assert all(p["Action"] == "lambda:InvokeFunction" for p in permissions)
