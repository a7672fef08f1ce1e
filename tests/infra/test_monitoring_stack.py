"""Monitoring: the canary outside the VPC, the expected-state document, alarms that say what to do."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk.assertions import Capture, Match
from hokusai import declared

from tests.infra.conftest import Synthesized, cdk_json_context

STACK = "HokusaiMonitoring"


def _canary(synthesized: Synthesized) -> tuple[str, dict[str, Any]]:
    return synthesized.function(STACK, "hokusai-canary")


def _canary_statements(synthesized: Synthesized) -> list[dict[str, Any]]:
    return synthesized.role_statements(STACK, "hokusai-canary")


def _expected_state(synthesized: Synthesized) -> tuple[dict[str, Any], dict[str, Any]]:
    """The parameter's JSON with each CloudFormation token replaced by a placeholder, and the tokens."""
    (parameter,) = synthesized.resources(STACK, "AWS::SSM::Parameter").values()
    parts = parameter["Properties"]["Value"]["Fn::Join"][1]
    tokens: dict[str, Any] = {}
    placeholders: dict[str, str] = {}  # the same reference always gets the same placeholder
    text = ""
    for part in parts:
        if isinstance(part, str):
            text += part
        else:
            key = json.dumps(part, sort_keys=True)
            if key not in placeholders:
                placeholders[key] = f"TOKEN{len(placeholders)}"
                tokens[placeholders[key]] = part
            text += placeholders[key]
    return json.loads(text), tokens


def test_canary_runs_outside_the_vpc_on_a_schedule(synthesized: Synthesized) -> None:
    logical_id, properties = _canary(synthesized)
    assert "VpcConfig" not in properties
    assert properties["Runtime"] == "python3.12"
    assert properties["TracingConfig"] == {"Mode": "Active"}
    minutes = cdk_json_context()["canaryScheduleMinutes"]
    synthesized.templates[STACK].has_resource_properties(
        "AWS::Events::Rule",
        {
            "ScheduleExpression": f"rate({minutes} minutes)",
            "State": "ENABLED",
            "Targets": [Match.object_like({"Arn": {"Fn::GetAtt": [logical_id, "Arn"]}})],
        },
    )
    variables = properties["Environment"]["Variables"]
    assert set(variables) == {
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
        "POWERTOOLS_LOG_LEVEL",
        "HOKUSAI_TRACING",
        "API_BASE_URL",
        "CANARY_KEY_SECRET_ARN",
        "EXPECTED_STATE_PARAMETER",
        "ALERT_TOPIC_ARN",
        "CANARY_MODEL_ID",
        "CANARY_TIMEOUT_MS",
    }
    assert variables["EXPECTED_STATE_PARAMETER"] == "/hokusai/expected-state"
    assert variables["CANARY_MODEL_ID"] == cdk_json_context()["canaryModelId"]
    assert "HokusaiService" in json.dumps(variables["API_BASE_URL"])  # the service stack's API URL


def test_expected_state_parameter_equals_the_deployed_rules(synthesized: Synthesized) -> None:
    document, tokens = _expected_state(synthesized)
    assert document["version"] == declared.DOCUMENT_VERSION
    # Each group id in the document is the export of that very group in the stateful stack.
    groups = document["security_groups"]
    assert set(groups) == {group.name for group in declared.SECURITY_GROUPS}
    for name, placeholder in groups.items():
        assert f"{name.title()}SecurityGroup" in tokens[placeholder]["Fn::ImportValue"]
    prefix_lists = {
        rule["peer"]["name"]: rule["peer"]["prefix_list_id"]
        for rule in document["rules"]
        if rule["peer"]["kind"] == "prefix_list"
    }
    for name, placeholder in prefix_lists.items():
        assert f"{name.title()}PrefixList" in tokens[placeholder]["Fn::ImportValue"]
    expected = declared.expected_state_document(groups, prefix_lists, document["functions"])
    assert document["rules"] == expected["rules"]
    # ... and the stateful stack's rule resources are those rules, one for one.
    deployed = []
    stateful = synthesized.raw["HokusaiStateful"]["Resources"]
    for resource in stateful.values():
        if resource["Type"] not in ("AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress"):
            continue
        properties = resource["Properties"]
        deployed.append(
            (
                properties["GroupId"]["Fn::GetAtt"][0],
                "ingress" if resource["Type"].endswith("Ingress") else "egress",
                properties["FromPort"],
                properties["Description"],
            )
        )

    def logical(placeholder: str) -> str:
        export = tokens[placeholder]["Fn::ImportValue"]
        (match,) = [logical_id for logical_id in stateful if f"GetAtt{logical_id}GroupId" in export]
        return match

    documented = [
        (logical(rule["group_id"]), rule["direction"], rule["from_port"], rule["description"])
        for rule in document["rules"]
    ]
    assert sorted(deployed) == sorted(documented)


def test_expected_state_declares_every_function_as_deployed(synthesized: Synthesized) -> None:
    document, tokens = _expected_state(synthesized)
    functions = document["functions"]
    assert set(functions) == {"authorizer", "predict", "health", "canary", "revocation", "pre_traffic"}
    service = synthesized.raw["HokusaiService"]["Resources"]
    monitoring = synthesized.raw[STACK]["Resources"]
    deployed = {
        resource["Properties"]["FunctionName"]: resource["Properties"]
        for resource in [*service.values(), *monitoring.values()]
        if resource["Type"] == "AWS::Lambda::Function" and "FunctionName" in resource["Properties"]
    }
    for name, declared_function in functions.items():
        properties = deployed[declared_function["function_name"]]
        variables = properties["Environment"]["Variables"]
        assert set(declared_function["environment"]) | set(declared_function["secrets"]) == set(variables)
        # Predict references no secret: with every model staged it never needs the Hub token.
        assert bool(declared_function["secrets"]) == (name != "predict"), name
        for variable, placeholder in declared_function["secrets"].items():
            assert variable.endswith("_SECRET_ARN")
            # The declared ARN is the very secret the function's variable holds.
            assert variables[variable] == tokens[placeholder]
        if name in ("canary", "pre_traffic"):  # outside the VPC: they call the API and AWS APIs only
            assert declared_function["security_groups"] == []
        else:
            assert declared_function["security_groups"] == ["functions"]


def test_canary_least_privilege(synthesized: Synthesized) -> None:
    statements = _canary_statements(synthesized)
    by_action: dict[str, list[dict[str, Any]]] = {}
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        for action in actions:
            by_action.setdefault(action, []).append(statement)
    (ssm,) = by_action["ssm:GetParameter"]
    # Only the expected-state parameter (the stack's one SSM parameter): its ARN built from its Ref.
    (parameter,) = synthesized.resources(STACK, "AWS::SSM::Parameter")
    assert parameter.startswith("ExpectedState")
    assert ssm["Resource"]["Fn::Join"][1][-2:] == [":parameter", {"Ref": parameter}]
    (lambda_statement,) = by_action["lambda:GetFunctionConfiguration"]
    resources = json.dumps(lambda_statement["Resource"])
    for name in ("authorizer", "predict", "health", "canary", "revocation", "pre-traffic"):
        assert f':function:hokusai-{name}"' in resources
    assert len(lambda_statement["Resource"]) == 6
    (secrets,) = by_action["secretsmanager:GetSecretValue"]
    assert len(secrets["Resource"]) == 3
    (metrics,) = by_action["cloudwatch:PutMetricData"]
    assert metrics["Condition"] == {"StringEquals": {"cloudwatch:namespace": "Hokusai"}}
    (publish,) = by_action["sns:Publish"]
    assert "Alerts" in json.dumps(publish["Resource"])
    for action, items in by_action.items():
        for statement in items:
            if statement["Resource"] == "*":
                assert action in {
                    "ec2:DescribeSecurityGroupRules",
                    "ec2:DescribeSecurityGroups",
                    "xray:PutTraceSegments",
                    "xray:PutTelemetryRecords",
                    "cloudwatch:PutMetricData",
                }, action


def test_topic_tls_only_and_encrypted(synthesized: Synthesized) -> None:
    template = synthesized.templates[STACK]
    template.has_resource_properties(
        "AWS::SNS::Topic", {"KmsMasterKeyId": {"Fn::GetAtt": [Match.string_like_regexp("AlertsKey"), "Arn"]}}
    )
    template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
                        )
                    ]
                )
            }
        },
    )
    template.has_resource_properties(
        "AWS::KMS::Key",
        {
            "EnableKeyRotation": True,
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [Match.object_like({"Principal": {"Service": "cloudwatch.amazonaws.com"}})]
                )
            },
        },
    )
    # No e-mail in cdk.json by default: no subscription.
    template.resource_count_is("AWS::SNS::Subscription", 0)


def _alarm(synthesized: Synthesized, suffix: str) -> dict[str, Any]:
    for resource in synthesized.resources(STACK, "AWS::CloudWatch::Alarm").values():
        if resource["Properties"]["AlarmName"] == f"hokusai-{suffix}":
            return dict(resource["Properties"])
    raise AssertionError(f"no alarm hokusai-{suffix}")


def test_heartbeat_alarm_treats_missing_canary_data_as_breaching(synthesized: Synthesized) -> None:
    alarm = _alarm(synthesized, "canary-heartbeat")
    assert alarm["TreatMissingData"] == "breaching"
    assert alarm["MetricName"] == "CanaryRunDuration"
    assert alarm["Namespace"] == "Hokusai"
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "hokusai-canary"}]
    assert alarm["ComparisonOperator"] == "LessThanThreshold"


def test_every_alarm_says_what_it_means_and_the_first_command(synthesized: Synthesized) -> None:
    names = {
        resource["Properties"]["AlarmName"].removeprefix("hokusai-")
        for resource in synthesized.resources(STACK, "AWS::CloudWatch::Alarm").values()
    }
    assert {
        "canary-failed",
        "drift-found",
        "canary-heartbeat",
        "authorizer-errors",
        "redis-breaker-open",
        "api-5xx-rate",
        "api-latency-p95",
        "revocation-failed",
        "revocation-stalled",
    } <= names
    for name in names:
        alarm = _alarm(synthesized, name)
        description = alarm["AlarmDescription"]
        assert "First command:" in description, name
        assert len(alarm["AlarmActions"]) == 1 and "Alerts" in json.dumps(alarm["AlarmActions"])
        assert alarm["OKActions"] == alarm["AlarmActions"]


def test_latency_alarm_is_p95_over_one_second_and_5xx_is_a_rate(synthesized: Synthesized) -> None:
    latency = _alarm(synthesized, "api-latency-p95")
    assert latency["ExtendedStatistic"] == "p95"
    assert latency["MetricName"] == "Latency"
    assert latency["Threshold"] == cdk_json_context()["alarms"]["latencyP95Ms"] == 1000
    errors = _alarm(synthesized, "api-5xx-rate")
    (expression, metric) = sorted(errors["Metrics"], key=lambda m: "Expression" not in m)
    assert expression["Expression"] == "100 * errors"
    assert metric["MetricStat"]["Metric"]["MetricName"] == "5XXError"
    assert metric["MetricStat"]["Stat"] == "Average"


def test_composite_service_impaired_alarm(synthesized: Synthesized) -> None:
    rule = Capture()
    synthesized.templates[STACK].has_resource_properties(
        "AWS::CloudWatch::CompositeAlarm",
        {"AlarmName": "hokusai-service-impaired", "AlarmRule": rule, "AlarmActions": Match.any_value()},
    )
    text = json.dumps(rule.as_object())
    for member in ("CanaryFailed", "CanaryHeartbeat", "Api5xxRate", "ApiLatencyP95", "AuthorizerErrors"):
        assert member.lower() in text.lower().replace("-", ""), member
    assert text.count("ALARM(") == 6


def test_authorizer_errors_count_error_logs_and_503s_not_rejected_keys(synthesized: Synthesized) -> None:
    synthesized.templates[STACK].has_resource_properties(
        "AWS::Logs::MetricFilter",
        {
            "FilterPattern": '{ $.level = "ERROR" }',
            "LogGroupName": {"Fn::ImportValue": Match.string_like_regexp("AuthorizerLogs")},
            "MetricTransformations": [
                {"MetricNamespace": "Hokusai", "MetricName": "AuthorizerErrorLogs", "MetricValue": "1"}
            ],
        },
    )
    alarm = _alarm(synthesized, "authorizer-errors")
    expressions = [m["Expression"] for m in alarm["Metrics"] if "Expression" in m]
    assert expressions == ["FILL(logged, 0) + FILL(unavailable, 0)"]
    names = {m["MetricStat"]["Metric"]["MetricName"] for m in alarm["Metrics"] if "MetricStat" in m}
    assert names == {"AuthorizerErrorLogs", "AuthorizerFailure"}
    assert "Errors" not in names  # Lambda's Errors counts every 401 (raise Exception("Unauthorized"))


def test_dashboard_shows_api_canary_drift_and_alarms(synthesized: Synthesized) -> None:
    (dashboard,) = synthesized.resources(STACK, "AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for metric in ("SyntheticPredictSuccess", "DriftCritical", "RedisBreakerOpen", "Latency", "5XXError"):
        assert metric in body
    assert "alarm" in body.lower()


def test_outputs_hokusai_doctor_reads_are_exported(synthesized: Synthesized) -> None:
    """`hokusai doctor --from-stacks Hokusai` fills its settings from these CloudFormation outputs."""
    from hokusai.drift.cli import STACK_OUTPUTS

    outputs = {name for stack in synthesized.raw.values() for name in stack.get("Outputs", {})}
    assert set(STACK_OUTPUTS) <= outputs
    assert {"KeysTableName", "AlertTopicArn", "ModelBucketName"} <= outputs


def test_expected_state_fits_the_parameter_tier(synthesized: Synthesized) -> None:
    """With real-length ids and ARNs the document needs the advanced tier (4 KB < size <= 8 KB)."""
    document, tokens = _expected_state(synthesized)
    text = json.dumps(document, separators=(",", ":"))
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:RedisAuthToken0123456789AB-AbCdEf"
    for placeholder, token in tokens.items():
        reference = json.dumps(token)
        value = (
            arn
            if "Secret" in reference or "Token" in reference or "Key" in reference
            else "sg-0123456789abcdef0"
        )
        text = text.replace(placeholder, value)
    (parameter,) = synthesized.resources(STACK, "AWS::SSM::Parameter").values()
    assert len(text.encode()) <= 8192
    assert parameter["Properties"]["Tier"] == ("Advanced" if len(text.encode()) > 4096 else "Standard")


def test_expected_state_says_which_models_are_staged(synthesized: Synthesized) -> None:
    document, _ = _expected_state(synthesized)
    assert document["models"] == {"hub_fallback": False, "staged": ["21"], "hub": []}
