"""Revocation in a deployment: the keys table's stream -> the revocation function (in the VPC) ->
the Redis entry deleted; failures retried (partial batch response), bounded, then queued and alarmed."""

from __future__ import annotations

import json
from typing import Any

from hokusai.keys import schema

from tests.infra.conftest import Synthesized, cdk_json_context

SERVICE = "HokusaiService"


def _one(synthesized: Synthesized, stack: str, resource_type: str) -> tuple[str, dict[str, Any]]:
    (item,) = synthesized.resources(stack, resource_type).items()
    return item[0], item[1]["Properties"]


def _revocation(synthesized: Synthesized) -> tuple[str, dict[str, Any]]:
    return synthesized.function(SERVICE, "hokusai-revocation")


def _statements(synthesized: Synthesized) -> list[dict[str, Any]]:
    return synthesized.role_statements(SERVICE, "hokusai-revocation")


def _exported(synthesized: Synthesized, value: Any) -> str:
    """The stateful stack's logical id behind a cross-stack import (Fn::ImportValue)."""
    name = value["Fn::ImportValue"]
    for output in synthesized.raw["HokusaiStateful"]["Outputs"].values():
        if output.get("Export", {}).get("Name") == name:
            return json.dumps(output["Value"])
    raise AssertionError(f"no export {name}")


def test_keys_table_streams_old_and_new_images(synthesized: Synthesized) -> None:
    _, table = _one(synthesized, "HokusaiStateful", "AWS::DynamoDB::Table")
    assert table["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    # The local stack's table (make dev, the tests) streams the same images.
    local = schema.create_table_arguments("t")["StreamSpecification"]
    assert local == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert table["KeySchema"] == [{"AttributeName": "key_hash", "KeyType": "HASH"}]


def test_the_mapping_reports_item_failures_bisects_retries_until_redis_answers_and_queues_failures(
    synthesized: Synthesized,
) -> None:
    _, mapping = _one(synthesized, SERVICE, "AWS::Lambda::EventSourceMapping")
    function_id, _ = _revocation(synthesized)
    assert mapping["FunctionName"] == {"Ref": function_id}
    assert "KeysTable" in _exported(synthesized, mapping["EventSourceArn"])
    assert "StreamArn" in _exported(synthesized, mapping["EventSourceArn"])
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True
    # A failed delete is retried until Redis answers (-1), within the stream's 24 h retention: no
    # record is dropped after a few retries while Redis is paused.
    assert mapping["MaximumRetryAttempts"] == -1
    assert "MaximumRecordAgeInSeconds" not in mapping
    assert mapping["StartingPosition"] == "TRIM_HORIZON"
    queue_id, queue = _one(synthesized, SERVICE, "AWS::SQS::Queue")
    assert mapping["DestinationConfig"] == {"OnFailure": {"Destination": {"Fn::GetAtt": [queue_id, "Arn"]}}}
    assert queue["SqsManagedSseEnabled"] is True


def test_the_failure_queue_is_alarmed_with_a_first_command(synthesized: Synthesized) -> None:
    (alarm,) = [
        resource["Properties"]
        for resource in synthesized.resources("HokusaiMonitoring", "AWS::CloudWatch::Alarm").values()
        if resource["Properties"]["AlarmName"] == "hokusai-revocation-failed"
    ]
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["Namespace"] == "AWS/SQS"
    assert "RevocationFailures" in json.dumps(alarm["Dimensions"])
    assert alarm["Threshold"] == 1 and alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert "First command: aws logs tail /aws/lambda/hokusai-revocation" in alarm["AlarmDescription"]


def test_a_stalled_stream_is_alarmed_after_five_minutes_with_a_first_command(
    synthesized: Synthesized,
) -> None:
    (alarm,) = [
        resource["Properties"]
        for resource in synthesized.resources("HokusaiMonitoring", "AWS::CloudWatch::Alarm").values()
        if resource["Properties"]["AlarmName"] == "hokusai-revocation-stalled"
    ]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (
        "AWS/Lambda",
        "IteratorAge",
        "Maximum",
    )
    assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": "hokusai-revocation"}]
    assert alarm["Threshold"] == 300_000 and alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["Period"] == 300
    assert "still refused within AUTH_REVOCATION_BOUND_SECONDS" in alarm["AlarmDescription"]
    assert "First command: aws logs tail /aws/lambda/hokusai-revocation" in alarm["AlarmDescription"]


def test_the_function_runs_in_the_vpc_behind_the_functions_group(synthesized: Synthesized) -> None:
    _, properties = _revocation(synthesized)
    context = cdk_json_context()
    (group,) = properties["VpcConfig"]["SecurityGroupIds"]
    assert "FunctionsSecurityGroup" in _exported(synthesized, group)
    assert all(
        "isolated" in _exported(synthesized, subnet) for subnet in properties["VpcConfig"]["SubnetIds"]
    )
    assert properties["MemorySize"] == context["memoryMb"]["revocation"]
    assert properties["Timeout"] == context["timeoutSeconds"]["revocation"]
    assert properties["Handler"] == "handler.lambda_handler"
    assert "TracingConfig" not in properties  # no X-Ray, so no xray:* on Resource::*
    variables = properties["Environment"]["Variables"]
    assert variables["REDIS_URL"]["Fn::Join"][1][0] == "rediss://"
    assert "RedisAuthToken" in _exported(synthesized, variables["REDIS_AUTH_SECRET_ARN"])


def test_least_privilege_revocation(synthesized: Synthesized) -> None:
    by_actions = {
        tuple(sorted([s["Action"]] if isinstance(s["Action"], str) else s["Action"])): s
        for s in _statements(synthesized)
    }
    assert set(by_actions) == {
        ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"),
        ("dynamodb:ListStreams",),
        ("secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"),
        ("sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"),
    }
    stream = by_actions["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"]
    assert "StreamArn" in _exported(synthesized, stream["Resource"])  # this table's stream only
    assert by_actions["dynamodb:ListStreams",]["Resource"] == "*"  # no resource-level permission
    secret = by_actions["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]
    assert "RedisAuthToken" in _exported(synthesized, secret["Resource"])
    queue = by_actions["sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"]
    assert "RevocationFailures" in json.dumps(queue["Resource"])
    assert all(statement["Effect"] == "Allow" for statement in by_actions.values())
    # Nothing else: no table read, no write anywhere.
    assert not any(a.startswith(("dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan")) for a in
                   [a for actions in by_actions for a in actions])  # fmt: skip


def test_the_expected_state_declares_the_function_for_the_drift_check(synthesized: Synthesized) -> None:
    parameter = next(iter(synthesized.resources("HokusaiMonitoring", "AWS::SSM::Parameter").values()))
    text = json.dumps(parameter["Properties"]["Value"])
    assert "hokusai-revocation" in text
