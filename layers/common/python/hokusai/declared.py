"""What the stack declares about the network and the functions, as data.

One declaration serves three readers, so they cannot disagree:
- the CDK stateful/service stacks create the security groups and rules from ``SECURITY_GROUPS`` and
  ``RULES``, and write :func:`expected_state_document` to an SSM parameter at deploy time;
- the local stack (``make dev``) creates the same groups and rules in moto EC2 and writes the same
  parameter;
- the canary and ``hokusai doctor`` read that parameter and compare it with what is deployed.

Document format (JSON, version 1)::

    {"version": 1,
     "security_groups": {"redis": "sg-...", "functions": "sg-...", ...},
     "rules": [{"group": "redis", "group_id": "sg-...", "direction": "ingress", "protocol": "tcp",
                "from_port": 6379, "to_port": 6379,
                "peer": {"kind": "security_group", "name": "functions", "group_id": "sg-..."},
                "description": "..."}, ...],
     "functions": {"<logical name>": {"function_name": "...",
                                      "environment": ["VAR", ...],
                                      "secrets": {"VAR_HOLDING_ARN": "arn:aws:secretsmanager:..."},
                                      "security_groups": ["functions"]}}}

``peer.kind`` is ``security_group``, ``cidr`` (``cidr``: "a.b.c.d/n" or IPv6) or ``prefix_list``
(``prefix_list_id``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DOCUMENT_VERSION = 1
# Every released function is reached through this alias (CodeDeploy moves it between versions):
# the stacks create it, the pre-traffic hook checks the versions behind it (hokusai.rollout).
LIVE_ALIAS = "live"


@dataclass(frozen=True)
class SecurityGroupDecl:
    name: str  # logical name, also used in findings
    description: str


@dataclass(frozen=True)
class RuleDecl:
    group: str  # the group that holds the rule
    direction: str  # "ingress" | "egress"
    protocol: str  # "tcp"
    port: int
    peer_group: str | None  # logical name of the peer security group
    description: str
    peer_prefix_list: str | None = None  # "s3" | "dynamodb" (gateway endpoints' managed prefix lists)


SECURITY_GROUPS: tuple[SecurityGroupDecl, ...] = (
    SecurityGroupDecl("functions", "Hokusai Lambda functions in the VPC (authorizer, predict, health)"),
    # (revocation runs behind it too; the group description is not changed: that would replace the group)
    SecurityGroupDecl("redis", "Hokusai ElastiCache Redis (API-key cache)"),
    SecurityGroupDecl("efs", "Hokusai EFS model cache"),
    SecurityGroupDecl("endpoints", "Hokusai VPC interface endpoints (Secrets Manager and others)"),
)

RULES: tuple[RuleDecl, ...] = (
    RuleDecl(
        "redis",
        "ingress",
        "tcp",
        6379,
        "functions",
        "Functions to Redis: API-key cache (authorizer, health, revocation)",
    ),
    RuleDecl("efs", "ingress", "tcp", 2049, "functions", "Functions to EFS: model cache (predict, health)"),
    RuleDecl("endpoints", "ingress", "tcp", 443, "functions", "Functions to interface endpoints (HTTPS)"),
    RuleDecl("functions", "egress", "tcp", 6379, "redis", "Functions to Redis: API-key cache"),
    RuleDecl("functions", "egress", "tcp", 2049, "efs", "Functions to EFS: model cache"),
    RuleDecl("functions", "egress", "tcp", 443, "endpoints", "Functions to interface endpoints (HTTPS)"),
    RuleDecl("functions", "egress", "tcp", 443, None, "Functions to S3 via gateway endpoint", "s3"),
    RuleDecl(
        "functions", "egress", "tcp", 443, None, "Functions to DynamoDB via gateway endpoint", "dynamodb"
    ),
)


def rule_document(rule: RuleDecl, group_ids: dict[str, str], prefix_lists: dict[str, str]) -> dict[str, Any]:
    peer: dict[str, Any]
    if rule.peer_group is not None:
        peer = {"kind": "security_group", "name": rule.peer_group, "group_id": group_ids[rule.peer_group]}
    elif rule.peer_prefix_list is not None:
        peer = {
            "kind": "prefix_list",
            "name": rule.peer_prefix_list,
            "prefix_list_id": prefix_lists[rule.peer_prefix_list],
        }
    else:  # pragma: no cover - every declared rule names a peer
        raise ValueError(f"rule on {rule.group} has no peer")
    return {
        "group": rule.group,
        "group_id": group_ids[rule.group],
        "direction": rule.direction,
        "protocol": rule.protocol,
        "from_port": rule.port,
        "to_port": rule.port,
        "peer": peer,
        "description": rule.description,
    }


def expected_state_document(
    group_ids: dict[str, str],
    prefix_lists: dict[str, str],
    functions: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """The JSON document written to the expected-state SSM parameter.

    ``group_ids`` maps logical group names to ids (CDK tokens at synth time, real ids locally).
    """
    return {
        "version": DOCUMENT_VERSION,
        "security_groups": {group.name: group_ids[group.name] for group in SECURITY_GROUPS},
        "rules": [rule_document(rule, group_ids, prefix_lists) for rule in RULES],
        "functions": functions,
    }
