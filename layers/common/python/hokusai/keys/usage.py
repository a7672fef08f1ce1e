"""A key's companion API Gateway API key, on its usage plan: per-key rate, burst and daily quota.

The REST API's key source is AUTHORIZER: the authorizer answers ``usageIdentifierKey`` = the value of
the key's companion API Gateway API key, and API Gateway applies the usage plan that key belongs to.
The companion key is created by ``hokusai keys create --plan NAME`` (its value is random, generated
by API Gateway, stored on the key's item as ``usage_key_value`` and never printed or logged; the
``hk_`` key is never sent to API Gateway) and deleted by ``hokusai keys revoke``.

Usage plans are found by name: the stack names each declared plan ``<prefix>-<plan>`` (cdk.json
``prefix`` and ``usagePlans``).

Every companion key is tagged ``hokusai:created-by`` with who made it (:data:`CLI_CREATOR`, or the
canary-key provisioner's :func:`canary_key_creator` of its plan): the provisioner's IAM role may
delete only the keys carrying its own tag (``stacks/monitoring_stack.py``), never a customer's.
"""

from __future__ import annotations

from typing import Any

from hokusai.keys.schema import CLI_CREATOR, CREATED_BY_TAG, canary_key_creator
from hokusai.keys.store import UsageKey

__all__ = [
    "CLI_CREATOR",
    "CREATED_BY_TAG",
    "PlanNotFound",
    "canary_key_creator",
    "create_usage_key",
    "delete_usage_key",
    "deployed_plan_name",
    "find_plan_id",
]


class PlanNotFound(LookupError):
    """No deployed usage plan has the name; the message names it and the plans there are."""


def deployed_plan_name(prefix: str, plan: str) -> str:
    return f"{prefix}-{plan}"


def find_plan_id(apigateway: Any, prefix: str, plan: str) -> str:
    wanted = deployed_plan_name(prefix, plan)
    names = []
    for page in apigateway.get_paginator("get_usage_plans").paginate():
        for item in page.get("items", []):
            if item.get("name") == wanted:
                return str(item["id"])
            names.append(str(item.get("name")))
    there = ", ".join(sorted(n for n in names if n.startswith(f"{prefix}-"))) or "none"
    raise PlanNotFound(f"no usage plan named {wanted} (plans of prefix {prefix}: {there})")


def create_usage_key(apigateway: Any, plan: str, plan_id: str, key_id: str, *, created_by: str) -> UsageKey:
    """A new API Gateway API key named after ``key_id``, tagged with ``created_by``, on the plan.
    Removed again if joining the plan fails."""
    created = apigateway.create_api_key(
        name=key_id,
        description=f"usage plan key of hokusai key {key_id}",
        enabled=True,
        tags={CREATED_BY_TAG: created_by},
    )
    try:
        apigateway.create_usage_plan_key(usagePlanId=plan_id, keyId=created["id"], keyType="API_KEY")
    except Exception:
        delete_usage_key(apigateway, str(created["id"]))
        raise
    return UsageKey(plan=plan, key_id=str(created["id"]), value=str(created["value"]))


def delete_usage_key(apigateway: Any, usage_key_id: str) -> bool:
    """Deletes the API Gateway key (and so its plan membership); False if it was already gone."""
    try:
        apigateway.delete_api_key(apiKey=usage_key_id)
    except Exception as error:
        if getattr(error, "response", {}).get("Error", {}).get("Code") == "NotFoundException":
            return False
        raise
    return True
