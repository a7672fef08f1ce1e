"""Security-group drift: the declared rules (expected-state document) versus the deployed ones.

- a declared rule that is not deployed is critical (docs/incidents.md section 3: the Redis ingress rule
  had never been applied, and Redis connections hung);
- an undeclared rule open to the world (0.0.0.0/0, ::/0) is critical;
- any other undeclared rule in a declared group is a warning.

Rules are compared by what they allow (group, direction, protocol, ports, peer), not by description.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hokusai.drift.aws import api_error_finding
from hokusai.drift.findings import Finding, Kind, Severity

if TYPE_CHECKING:
    from botocore.client import BaseClient

WORLD = {"0.0.0.0/0", "::/0"}
PROTOCOL_NAMES = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "-1": "all"}


@dataclass(frozen=True)
class RuleKey:
    """What a rule allows. ``peer`` is ("security_group", id) / ("cidr", block) / ("prefix_list", id)."""

    group_id: str
    egress: bool
    protocol: str
    from_port: int
    to_port: int
    peer: tuple[str, str]


def _protocol(value: Any) -> str:
    text = str(value).lower()
    return PROTOCOL_NAMES.get(text, text)


def expected_key(rule: Mapping[str, Any]) -> RuleKey:
    peer = rule["peer"]
    kind = peer["kind"]
    if kind == "security_group":
        value = peer["group_id"]
    elif kind == "cidr":
        value = peer["cidr"]
    elif kind == "prefix_list":
        value = peer["prefix_list_id"]
    else:
        raise ValueError(f"unknown peer kind {kind!r}")
    return RuleKey(
        group_id=rule["group_id"],
        egress=rule["direction"] == "egress",
        protocol=_protocol(rule["protocol"]),
        from_port=int(rule["from_port"]),
        to_port=int(rule["to_port"]),
        peer=(kind, value),
    )


def actual_key(rule: Mapping[str, Any]) -> RuleKey | None:
    if rule.get("ReferencedGroupInfo", {}).get("GroupId"):
        peer = ("security_group", rule["ReferencedGroupInfo"]["GroupId"])
    elif rule.get("CidrIpv4"):
        peer = ("cidr", rule["CidrIpv4"])
    elif rule.get("CidrIpv6"):
        peer = ("cidr", rule["CidrIpv6"])
    elif rule.get("PrefixListId"):
        peer = ("prefix_list", rule["PrefixListId"])
    else:
        return None
    return RuleKey(
        group_id=rule["GroupId"],
        egress=bool(rule.get("IsEgress")),
        protocol=_protocol(rule.get("IpProtocol", "-1")),
        from_port=int(rule.get("FromPort", -1)),
        to_port=int(rule.get("ToPort", -1)),
        peer=peer,
    )


def is_cdk_placeholder(rule: Mapping[str, Any]) -> bool:
    """CDK's "disallow all traffic" egress rule on groups with allowAllOutbound=false.

    CDK removes the default allow-all egress rule by adding this rule, which matches no packet.
    """
    return (
        bool(rule.get("IsEgress"))
        and rule.get("CidrIpv4") == "255.255.255.255/32"
        and _protocol(rule.get("IpProtocol")) == "icmp"
        and rule.get("FromPort") == 252
        and rule.get("ToPort") == 86
    )


def _ports(from_port: int, to_port: int) -> str:
    if from_port == -1:
        return "all ports"
    return f"port {from_port}" if from_port == to_port else f"ports {from_port}-{to_port}"


def _peer_words(peer: tuple[str, str], names: Mapping[str, str]) -> str:
    kind, value = peer
    if kind == "security_group":
        name = names.get(value)
        return f"security group {name} ({value})" if name else f"security group {value}"
    if kind == "prefix_list":
        return f"prefix list {value}"
    return value


def describe_rule(key: RuleKey, names: Mapping[str, str]) -> str:
    direction = "egress" if key.egress else "ingress"
    preposition = "to" if key.egress else "from"
    return (
        f"{direction} {key.protocol} {_ports(key.from_port, key.to_port)} "
        f"{preposition} {_peer_words(key.peer, names)}"
    )


def _group_words(group_id: str, names: Mapping[str, str]) -> str:
    name = names.get(group_id)
    return f"security group {name} ({group_id})" if name else f"security group {group_id}"


def authorize_command(key: RuleKey, description: str | None) -> str:
    """The exact command that adds the rule back, with its declared description."""
    action = "authorize-security-group-egress" if key.egress else "authorize-security-group-ingress"
    kind, value = key.peer
    if not key.egress and kind == "security_group" and key.from_port == key.to_port:
        # The short form on-call engineers know (and that the incident report asked for).
        command = ["aws", "ec2", action, "--group-id", key.group_id, "--protocol", key.protocol]
        return shlex.join([*command, "--port", str(key.from_port), "--source-group", value])
    permission: dict[str, Any] = {
        "IpProtocol": "-1" if key.protocol == "all" else key.protocol,
        "FromPort": key.from_port,
        "ToPort": key.to_port,
    }
    extra = {"Description": description} if description else {}
    if kind == "security_group":
        permission["UserIdGroupPairs"] = [{"GroupId": value, **extra}]
    elif kind == "prefix_list":
        permission["PrefixListIds"] = [{"PrefixListId": value, **extra}]
    elif ":" in value:
        permission["Ipv6Ranges"] = [{"CidrIpv6": value, **extra}]
    else:
        permission["IpRanges"] = [{"CidrIp": value, **extra}]
    return shlex.join(
        ["aws", "ec2", action, "--group-id", key.group_id, "--ip-permissions", json.dumps([permission])]
    )


def revoke_command(group_id: str, egress: bool, rule_id: str) -> str:
    action = "revoke-security-group-egress" if egress else "revoke-security-group-ingress"
    return shlex.join(["aws", "ec2", action, "--group-id", group_id, "--security-group-rule-ids", rule_id])


def _paginate(ec2: BaseClient, operation: str, result_key: str, **kwargs: Any) -> list[dict[str, Any]]:
    paginator = ec2.get_paginator(operation)
    items: list[dict[str, Any]] = []
    for page in paginator.paginate(**kwargs):
        items.extend(page.get(result_key, []))
    return items


def check_security_groups(ec2: BaseClient, document: Mapping[str, Any]) -> list[Finding]:
    groups: dict[str, str] = dict(document.get("security_groups", {}))
    names = {group_id: name for name, group_id in groups.items()}
    # Peer groups named in rules but not held in the document's group list still get a name.
    for rule in document.get("rules", []):
        peer = rule.get("peer", {})
        if peer.get("kind") == "security_group" and peer.get("group_id") and peer.get("name"):
            names.setdefault(peer["group_id"], peer["name"])
    group_ids = sorted(set(groups.values()))
    if not group_ids:
        return []

    try:
        existing = {
            group["GroupId"]
            for group in _paginate(
                ec2,
                "describe_security_groups",
                "SecurityGroups",
                Filters=[{"Name": "group-id", "Values": group_ids}],
            )
        }
        actual_rules = _paginate(
            ec2,
            "describe_security_group_rules",
            "SecurityGroupRules",
            Filters=[{"Name": "group-id", "Values": group_ids}],
        )
    except Exception as error:
        return [api_error_finding("ec2:DescribeSecurityGroupRules", "security groups", error)]

    findings: list[Finding] = []
    for name, group_id in sorted(groups.items()):
        if group_id not in existing:
            findings.append(
                Finding(
                    Kind.SG_MISSING,
                    Severity.CRITICAL,
                    f"security group {name} ({group_id})",
                    "declared security group does not exist: none of its rules can be in place",
                    "cdk deploy --all  # the stacks create the group and its rules; then run hokusai doctor",
                )
            )

    actual_by_key: dict[RuleKey, list[dict[str, Any]]] = {}
    for rule in actual_rules:
        key = actual_key(rule)
        if key is not None:
            actual_by_key.setdefault(key, []).append(rule)

    expected: dict[RuleKey, Mapping[str, Any]] = {}
    for rule in document.get("rules", []):
        expected[expected_key(rule)] = rule

    for key, rule in expected.items():
        if key.group_id not in existing or key in actual_by_key:
            continue
        findings.append(
            Finding(
                Kind.SG_RULE_MISSING,
                Severity.CRITICAL,
                _group_words(key.group_id, names),
                f"missing rule: {describe_rule(key, names)} ({rule.get('description', 'no description')})",
                authorize_command(key, rule.get("description")),
            )
        )

    findings.extend(_extra_rule_findings(actual_rules, expected, names))
    return findings


def _extra_rule_findings(
    actual_rules: Iterable[Mapping[str, Any]],
    expected: Mapping[RuleKey, Any],
    names: Mapping[str, str],
) -> list[Finding]:
    findings = []
    for rule in actual_rules:
        key = actual_key(rule)
        if key is None or key in expected or is_cdk_placeholder(rule):
            continue
        world_open = key.peer[0] == "cidr" and key.peer[1] in WORLD
        what = describe_rule(key, names)
        findings.append(
            Finding(
                Kind.SG_RULE_WORLD_OPEN if world_open else Kind.SG_RULE_EXTRA,
                Severity.CRITICAL if world_open else Severity.WARNING,
                _group_words(key.group_id, names),
                (
                    f"undeclared rule open to the world: {what} ({rule['SecurityGroupRuleId']})"
                    if world_open
                    else f"undeclared rule: {what} ({rule['SecurityGroupRuleId']})"
                ),
                revoke_command(key.group_id, key.egress, rule["SecurityGroupRuleId"]),
            )
        )
    return findings
