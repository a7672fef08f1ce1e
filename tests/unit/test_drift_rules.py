"""Pure drift logic: rule matching, fix commands, findings rendering, exit codes (no network)."""

from __future__ import annotations

import json
import shlex

from aws_lambda_powertools import Metrics
from hokusai import declared
from hokusai.drift import findings
from hokusai.drift.findings import Finding, Kind, Severity
from hokusai.drift.runner import CanaryReport, alert_message, publish_metrics
from hokusai.drift.security_groups import (
    RuleKey,
    actual_key,
    authorize_command,
    describe_rule,
    expected_key,
    is_cdk_placeholder,
    revoke_command,
)
from hokusai.drift.synthetic import SyntheticResult, SyntheticStatus

GROUPS = {"functions": "sg-0f0f", "redis": "sg-0r0r", "efs": "sg-0e0e", "endpoints": "sg-0d0d"}
PREFIX_LISTS = {"s3": "pl-63a5400a", "dynamodb": "pl-6da54004"}
DOCUMENT = declared.expected_state_document(GROUPS, PREFIX_LISTS, {})


def finding(severity: Severity, kind: Kind = Kind.SG_RULE_EXTRA) -> Finding:
    return Finding(kind, severity, "security group redis (sg-0r0r)", "detail", "aws ec2 ...")


def test_declared_rules_match_what_describe_security_group_rules_returns() -> None:
    redis_rule = next(r for r in DOCUMENT["rules"] if r["group"] == "redis")
    actual = {
        "SecurityGroupRuleId": "sgr-1",
        "GroupId": "sg-0r0r",
        "IsEgress": False,
        "IpProtocol": "tcp",
        "FromPort": 6379,
        "ToPort": 6379,
        "ReferencedGroupInfo": {"GroupId": "sg-0f0f", "UserId": "123456789012"},
    }
    assert expected_key(redis_rule) == actual_key(actual)
    # A numeric protocol ("6") is the same rule as "tcp".
    assert actual_key({**actual, "IpProtocol": "6"}) == expected_key(redis_rule)
    # Another port or peer is another rule.
    assert actual_key({**actual, "FromPort": 6380, "ToPort": 6380}) != expected_key(redis_rule)
    s3_rule = next(r for r in DOCUMENT["rules"] if r["peer"].get("name") == "s3")
    assert expected_key(s3_rule).peer == ("prefix_list", "pl-63a5400a")
    assert expected_key(s3_rule).egress is True


def test_cdk_placeholder_egress_rule_is_recognised() -> None:
    placeholder = {
        "IsEgress": True,
        "IpProtocol": "icmp",
        "FromPort": 252,
        "ToPort": 86,
        "CidrIpv4": "255.255.255.255/32",
    }
    assert is_cdk_placeholder(placeholder)
    assert not is_cdk_placeholder({**placeholder, "CidrIpv4": "0.0.0.0/0"})
    assert not is_cdk_placeholder({**placeholder, "IsEgress": False})


def test_authorize_command_short_form_for_ingress_from_a_group() -> None:
    key = RuleKey("sg-0r0r", False, "tcp", 6379, 6379, ("security_group", "sg-0f0f"))
    assert authorize_command(key, "Functions to Redis") == (
        "aws ec2 authorize-security-group-ingress --group-id sg-0r0r --protocol tcp --port 6379 "
        "--source-group sg-0f0f"
    )


def test_authorize_command_ip_permissions_keep_the_description_and_parse_back() -> None:
    key = RuleKey("sg-0f0f", True, "tcp", 443, 443, ("prefix_list", "pl-63a5400a"))
    command = authorize_command(key, "Functions to S3 via gateway endpoint")
    argv = shlex.split(command)
    assert argv[:6] == [
        "aws",
        "ec2",
        "authorize-security-group-egress",
        "--group-id",
        "sg-0f0f",
        "--ip-permissions",
    ]
    assert json.loads(argv[6]) == [
        {
            "IpProtocol": "tcp",
            "FromPort": 443,
            "ToPort": 443,
            "PrefixListIds": [
                {"PrefixListId": "pl-63a5400a", "Description": "Functions to S3 via gateway endpoint"}
            ],
        }
    ]
    ipv6 = RuleKey("sg-0f0f", False, "tcp", 80, 81, ("cidr", "2001:db8::/32"))
    assert json.loads(shlex.split(authorize_command(ipv6, None))[6])[0]["Ipv6Ranges"] == [
        {"CidrIpv6": "2001:db8::/32"}
    ]


def test_revoke_command_and_rule_words() -> None:
    assert revoke_command("sg-0r0r", False, "sgr-9") == (
        "aws ec2 revoke-security-group-ingress --group-id sg-0r0r --security-group-rule-ids sgr-9"
    )
    assert revoke_command("sg-0f0f", True, "sgr-8").startswith("aws ec2 revoke-security-group-egress")
    names = {v: k for k, v in GROUPS.items()}
    assert (
        describe_rule(RuleKey("sg-0r0r", False, "tcp", 6379, 6379, ("security_group", "sg-0f0f")), names)
        == "ingress tcp port 6379 from security group functions (sg-0f0f)"
    )
    assert (
        describe_rule(RuleKey("sg-0r0r", False, "all", -1, -1, ("cidr", "0.0.0.0/0")), names)
        == "ingress all all ports from 0.0.0.0/0"
    )


def test_exit_codes() -> None:
    assert findings.exit_code([]) == 0
    assert findings.exit_code([finding(Severity.WARNING)]) == 1
    assert findings.exit_code([finding(Severity.WARNING), finding(Severity.CRITICAL)]) == 2


def test_counts_include_every_kind_with_zero() -> None:
    counts = findings.counts_by_kind([finding(Severity.WARNING), finding(Severity.WARNING)])
    assert set(counts) == set(Kind)
    assert counts[Kind.SG_RULE_EXTRA] == 2
    assert sum(counts.values()) == 2


def test_rendering_puts_critical_first_and_every_fix_on_its_own_line() -> None:
    listed = [
        Finding(
            Kind.SG_RULE_EXTRA, Severity.WARNING, "security group efs (sg-0e0e)", "extra", "aws ec2 revoke-x"
        ),
        Finding(Kind.SECRET_EMPTY, Severity.CRITICAL, "secret arn:x", "empty", "aws secretsmanager put-y"),
    ]
    text = findings.render_text(listed)
    assert text.index("[CRITICAL] secret_empty") < text.index("[WARNING] sg_rule_extra")
    assert "  fix: aws secretsmanager put-y" in text
    table = findings.render_table(listed).splitlines()
    assert table[0].split() == ["SEVERITY", "KIND", "RESOURCE", "DETAIL"]
    assert table[1].startswith("CRITICAL  secret_empty")
    assert table[2] == "    fix: aws secretsmanager put-y"
    assert findings.render_table([]).startswith("No findings")


def test_alert_subject_is_short_ascii() -> None:
    listed = [finding(Severity.CRITICAL, Kind.SG_RULE_MISSING)] * 3 + [finding(Severity.WARNING)]
    subject = findings.alert_subject(listed)
    assert subject.startswith("[Hokusai] 3 critical, 1 warning: sg_rule_missing security group redis")
    assert len(subject) <= 100 and subject.isascii()


def test_canary_metrics_every_kind_and_each_synthetic_check() -> None:
    metrics = Metrics(namespace="HokusaiTest", service="canary")
    metrics.clear_metrics()
    report = CanaryReport(
        findings=[finding(Severity.CRITICAL, Kind.SG_RULE_MISSING)],
        synthetic=[
            SyntheticResult("health", "GET", "u", SyntheticStatus.PASSED, 12.0, 200, "healthy", "curl"),
            SyntheticResult("predict", "POST", "u", SyntheticStatus.SKIPPED, 0.0, None, "no key", "curl"),
            SyntheticResult(
                "unauthenticated", "POST", "u", SyntheticStatus.FAILED, 5.0, 200, "no 401", "curl"
            ),
        ],
        duration_ms=42.0,
    )
    publish_metrics(report, metrics)
    values = {name: entry["Value"][0] for name, entry in metrics.metric_set.items()}
    assert values["SyntheticHealthSuccess"] == 1 and values["SyntheticHealthLatency"] == 12.0
    assert values["SyntheticUnauthenticatedSuccess"] == 0
    assert "SyntheticPredictSuccess" not in values  # skipped: no data rather than a false 0 or 1
    assert values["DriftSGRuleMissing"] == 1
    assert all(values[k.metric_name] == 0 for k in Kind if k is not Kind.SG_RULE_MISSING)
    assert values["DriftCritical"] == 1 and values["DriftWarning"] == 0
    metrics.clear_metrics()
    assert "1 critical and 0 warning" in alert_message(report)


def test_functions_section_declares_what_the_stack_sets() -> None:
    from hokusai.drift.expected import functions_section

    names = {"predict": "svc-predict", "canary": "svc-canary"}
    arns = {"hf_token": "arn:aws:secretsmanager:eu-west-1:1:secret:hf-AbCdEf"}
    section = functions_section(names, arns, {"predict": ["MODEL_REGISTRY", "HF_TOKEN_SECRET_ARN"]})
    assert section["predict"] == {
        "function_name": "svc-predict",
        "environment": ["MODEL_REGISTRY"],
        "secrets": {"HF_TOKEN_SECRET_ARN": arns["hf_token"]},
        "security_groups": ["functions"],
    }
    # The canary runs outside the VPC, and its key secret was not passed: nothing declared for it.
    assert section["canary"]["security_groups"] == []
    assert section["canary"]["secrets"] == {}
    assert section["canary"]["environment"] == []
    assert set(section) == {"predict", "canary"}
    default = functions_section({"health": "svc-health"}, {})
    assert "HEALTH_DEADLINE_MS" in default["health"]["environment"]
    assert "REDIS_AUTH_SECRET_ARN" not in default["health"]["environment"]
