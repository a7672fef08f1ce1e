"""What invoked the canary: its schedule, or a change to one of our security groups.

The monitoring stack has two EventBridge rules on the canary: the schedule (every
``canaryScheduleMinutes``, the backstop) and a rule on the CloudTrail events of the security-group
API calls on the declared groups (:data:`SECURITY_GROUP_EVENT_NAMES`), so drift is reported within
about a minute of the change, naming who made it. :func:`security_group_change` tells the two
apart and reads the CloudTrail record: the event name and time, the group, the rule ids named in the
request, and the caller (``userIdentity``, ``sourceIPAddress``).

Where the group id is in the request (what the stack's event pattern filters on):

- ``AuthorizeSecurityGroupIngress``/``Egress``, ``RevokeSecurityGroupIngress``/``Egress``,
  ``DeleteSecurityGroup``: ``requestParameters.groupId`` (our groups are in a VPC, so the API takes
  the id; the name-only form is EC2-Classic/default-VPC);
- ``ModifySecurityGroupRules``: ``requestParameters.ModifySecurityGroupRulesRequest.GroupId`` (the
  newer EC2 APIs are logged with the request's own name and capitalised keys).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CLOUDTRAIL_DETAIL_TYPE = "AWS API Call via CloudTrail"
EC2_SOURCE = "aws.ec2"
EC2_EVENT_SOURCE = "ec2.amazonaws.com"
SECURITY_GROUP_EVENT_NAMES = (
    "AuthorizeSecurityGroupIngress",
    "AuthorizeSecurityGroupEgress",
    "RevokeSecurityGroupIngress",
    "RevokeSecurityGroupEgress",
    "ModifySecurityGroupRules",
    "DeleteSecurityGroup",
)
MODIFY_REQUEST = "ModifySecurityGroupRulesRequest"


def event_pattern_detail(group_ids: list[str]) -> dict[str, Any]:
    """The ``detail`` of the stack's event pattern: successful security-group calls on ``group_ids``.

    Failed calls (``errorCode`` present: AccessDenied, a duplicate rule) changed nothing and are not
    matched. ``$or`` because ModifySecurityGroupRules carries the group id elsewhere.
    """
    return {
        "eventSource": [EC2_EVENT_SOURCE],
        "eventName": list(SECURITY_GROUP_EVENT_NAMES),
        "errorCode": [{"exists": False}],
        "$or": [
            {"requestParameters": {"groupId": list(group_ids)}},
            {"requestParameters": {MODIFY_REQUEST: {"GroupId": list(group_ids)}}},
        ],
    }


@dataclass(frozen=True)
class Caller:
    """Who made the call, from the CloudTrail record's ``userIdentity`` and ``sourceIPAddress``."""

    type: str | None
    arn: str | None
    principal_id: str | None
    account_id: str | None
    session_issuer: str | None  # the role (or user) the session was issued by: its user name
    invoked_by: str | None  # an AWS service acting for the caller (console, CloudFormation)
    source_ip: str | None
    user_agent: str | None

    def describe(self) -> str:
        who = self.arn or self.principal_id or self.invoked_by or self.type or "unknown caller"
        details = []
        if self.principal_id and self.principal_id != who:
            details.append(f"principal {self.principal_id}")
        if self.session_issuer:
            details.append(f"session issued by {self.session_issuer}")
        if self.invoked_by and self.invoked_by != who:
            details.append(f"invoked by {self.invoked_by}")
        text = who + (f" ({', '.join(details)})" if details else "")
        return text + (f" from {self.source_ip}" if self.source_ip else "")


@dataclass(frozen=True)
class SecurityGroupChange:
    """One CloudTrail-recorded call that changed (or deleted) a security group."""

    event_name: str
    event_time: str | None
    event_id: str | None
    region: str | None
    group_id: str | None
    rule_ids: tuple[str, ...]
    caller: Caller

    def describe(self) -> str:
        """``RevokeSecurityGroupIngress on sg-1 (rules sgr-2) at <time> by <caller> from <ip>``"""
        where = f" on {self.group_id}" if self.group_id else ""
        rules = f" (rules {', '.join(self.rule_ids)})" if self.rule_ids else ""
        when = f" at {self.event_time}" if self.event_time else ""
        return f"{self.event_name}{where}{rules}{when} by {self.caller.describe()}"

    def as_dict(self) -> dict[str, Any]:
        caller = self.caller
        return {
            "event_name": self.event_name,
            "event_time": self.event_time,
            "event_id": self.event_id,
            "region": self.region,
            "group_id": self.group_id,
            "rule_ids": list(self.rule_ids),
            "caller": {
                "type": caller.type,
                "arn": caller.arn,
                "principal_id": caller.principal_id,
                "account_id": caller.account_id,
                "session_issuer": caller.session_issuer,
                "invoked_by": caller.invoked_by,
                "source_ip": caller.source_ip,
                "user_agent": caller.user_agent,
            },
        }


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _caller(detail: Mapping[str, Any]) -> Caller:
    identity = _mapping(detail.get("userIdentity"))
    issuer = _mapping(_mapping(identity.get("sessionContext")).get("sessionIssuer"))
    return Caller(
        type=_text(identity.get("type")),
        arn=_text(identity.get("arn")),
        principal_id=_text(identity.get("principalId")),
        account_id=_text(identity.get("accountId")),
        session_issuer=_text(issuer.get("userName")) or _text(issuer.get("arn")),
        invoked_by=_text(identity.get("invokedBy")),
        source_ip=_text(detail.get("sourceIPAddress")),
        user_agent=_text(detail.get("userAgent")),
    )


def _group_and_rules(request: Mapping[str, Any]) -> tuple[str | None, tuple[str, ...]]:
    modify = _mapping(request.get(MODIFY_REQUEST))
    if modify:
        rules = modify.get("SecurityGroupRule")
        entries = rules if isinstance(rules, list) else [rules]
        ids = tuple(
            rule_id for entry in entries if (rule_id := _text(_mapping(entry).get("SecurityGroupRuleId")))
        )
        return _text(modify.get("GroupId")), ids
    items = _mapping(request.get("securityGroupRuleIds")).get("items")
    ids = tuple(
        rule_id
        for item in (items if isinstance(items, list) else [])
        if (rule_id := _text(_mapping(item).get("securityGroupRuleId")))
    )
    return _text(request.get("groupId")), ids


def security_group_change(event: Mapping[str, Any]) -> SecurityGroupChange | None:
    """The change an EventBridge "AWS API Call via CloudTrail" event for EC2 records; None for any
    other event (the schedule's ``Scheduled Event``, a test invoke), which means a full run."""
    if event.get("detail-type") != CLOUDTRAIL_DETAIL_TYPE or event.get("source") != EC2_SOURCE:
        return None
    detail = _mapping(event.get("detail"))
    event_name = _text(detail.get("eventName"))
    if event_name is None:
        return None
    group_id, rule_ids = _group_and_rules(_mapping(detail.get("requestParameters")))
    return SecurityGroupChange(
        event_name=event_name,
        event_time=_text(detail.get("eventTime")),
        event_id=_text(detail.get("eventID")),
        region=_text(detail.get("awsRegion")) or _text(event.get("region")),
        group_id=group_id,
        rule_ids=rule_ids,
        caller=_caller(detail),
    )
