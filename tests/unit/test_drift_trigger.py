"""The canary tells a security-group change (CloudTrail via EventBridge) from its schedule, and reads
who made the change (hokusai.drift.trigger); the alert names it beside the findings on that group."""

from __future__ import annotations

import copy
from typing import Any

from hokusai.drift.findings import Finding, Kind, Severity
from hokusai.drift.runner import CanaryReport, alert_message
from hokusai.drift.trigger import (
    CLOUDTRAIL_DETAIL_TYPE,
    SECURITY_GROUP_EVENT_NAMES,
    event_pattern_detail,
    security_group_change,
)

from local.handlers import load_event

RECORDED = "cloudtrail_revoke_sg_ingress.json"


def test_schedule_event_is_not_a_change() -> None:
    assert security_group_change(load_event("canary_schedule.json")) is None
    assert security_group_change({}) is None  # a manual test invoke: a full run


def test_recorded_revoke_names_the_call_the_group_the_rule_and_the_caller() -> None:
    change = security_group_change(load_event(RECORDED))
    assert change is not None
    assert change.event_name == "RevokeSecurityGroupIngress"
    assert change.event_time == "2026-11-23T07:31:12Z"
    assert change.event_id == "0c5e8d2a-4f1b-4a7e-b3c9-6d2e1f0a8b57"
    assert change.region == "eu-west-1"
    assert change.group_id == "sg-0a1b2c3d4e5f60718"
    assert change.rule_ids == ("sgr-0f1e2d3c4b5a69788",)
    caller = change.caller
    assert caller.type == "AssumedRole"
    assert caller.arn == "arn:aws:sts::123456789012:assumed-role/ExampleOperatorRole/jane.doe"
    assert caller.principal_id == "AROAEXAMPLEOPERATOR01:jane.doe"
    assert caller.session_issuer == "ExampleOperatorRole"
    assert caller.source_ip == "198.51.100.23"
    assert change.describe() == (
        "RevokeSecurityGroupIngress on sg-0a1b2c3d4e5f60718 (rules sgr-0f1e2d3c4b5a69788) at "
        "2026-11-23T07:31:12Z by arn:aws:sts::123456789012:assumed-role/ExampleOperatorRole/jane.doe "
        "(principal AROAEXAMPLEOPERATOR01:jane.doe, session issued by ExampleOperatorRole) from 198.51.100.23"
    )


def _event(detail_changes: dict[str, Any]) -> dict[str, Any]:
    event = copy.deepcopy(load_event(RECORDED))
    event["detail"].update(detail_changes)
    return event


def test_modify_security_group_rules_carries_the_group_in_its_request_object() -> None:
    change = security_group_change(
        _event(
            {
                "eventName": "ModifySecurityGroupRules",
                "requestParameters": {
                    "ModifySecurityGroupRulesRequest": {
                        "GroupId": "sg-0a1b2c3d4e5f60718",
                        "SecurityGroupRule": {
                            "SecurityGroupRuleId": "sgr-0f1e2d3c4b5a69788",
                            "SecurityGroupRule": {
                                "IPProtocol": "tcp",
                                "FromPort": 6379,
                                "ToPort": 6379,
                                "CidrIpv4": "0.0.0.0/0",
                            },
                            "tag": 1,
                        },
                    }
                },
            }
        )
    )
    assert change is not None
    assert change.group_id == "sg-0a1b2c3d4e5f60718"
    assert change.rule_ids == ("sgr-0f1e2d3c4b5a69788",)


def test_an_authorize_by_ip_permissions_and_a_console_caller_without_arn() -> None:
    change = security_group_change(
        _event(
            {
                "eventName": "AuthorizeSecurityGroupIngress",
                "userIdentity": {"type": "AWSService", "invokedBy": "cloudformation.amazonaws.com"},
                "sourceIPAddress": "cloudformation.amazonaws.com",
                "requestParameters": {
                    "groupId": "sg-0a1b2c3d4e5f60718",
                    "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 6379, "toPort": 6379}]},
                },
            }
        )
    )
    assert change is not None
    assert change.rule_ids == ()
    assert change.caller.describe() == "cloudformation.amazonaws.com from cloudformation.amazonaws.com"


def test_a_cloudtrail_event_of_another_service_is_not_a_change() -> None:
    event = load_event(RECORDED)
    event["source"] = "aws.s3"
    assert security_group_change(event) is None


def test_event_pattern_filters_on_both_places_of_the_group_id_and_drops_failed_calls() -> None:
    detail = event_pattern_detail(["sg-1", "sg-2"])
    assert detail["eventName"] == list(SECURITY_GROUP_EVENT_NAMES)
    assert len(SECURITY_GROUP_EVENT_NAMES) == 6
    assert detail["errorCode"] == [{"exists": False}]
    assert detail["$or"] == [
        {"requestParameters": {"groupId": ["sg-1", "sg-2"]}},
        {"requestParameters": {"ModifySecurityGroupRulesRequest": {"GroupId": ["sg-1", "sg-2"]}}},
    ]
    assert load_event(RECORDED)["detail-type"] == CLOUDTRAIL_DETAIL_TYPE


def test_alert_names_the_caller_beside_findings_on_the_changed_group_only() -> None:
    change = security_group_change(load_event(RECORDED))
    on_group = Finding(
        Kind.SG_RULE_MISSING,
        Severity.CRITICAL,
        "security group redis (sg-0a1b2c3d4e5f60718)",
        "missing rule: ingress tcp port 6379 from security group functions (sg-0f0f)",
        "aws ec2 authorize-security-group-ingress --group-id sg-0a1b2c3d4e5f60718 --protocol tcp "
        "--port 6379 --source-group sg-0f0f",
    )
    elsewhere = Finding(Kind.SG_RULE_EXTRA, Severity.WARNING, "security group efs (sg-0e0e)", "x", "y")
    report = CanaryReport([on_group, elsewhere], [], 12.0, ["security_groups"], change)
    assert report.caused_by_change(on_group) and not report.caused_by_change(elsewhere)
    message = alert_message(report)
    assert "Triggered by a security-group change (CloudTrail event 0c5e8d2a-" in message
    block = message.split("[CRITICAL]")[1].split("[WARNING]")[0]
    assert "missing rule: ingress tcp port 6379" in block
    assert "changed by: RevokeSecurityGroupIngress on sg-0a1b2c3d4e5f60718" in block
    assert "assumed-role/ExampleOperatorRole/jane.doe" in block and "198.51.100.23" in block
    assert "fix: aws ec2 authorize-security-group-ingress --group-id sg-0a1b2c3d4e5f60718" in block
    assert "changed by" not in message.split("[WARNING]")[1]
    # A scheduled run's message has no change line.
    assert "changed by" not in alert_message(CanaryReport([on_group], [], 1.0, []))
