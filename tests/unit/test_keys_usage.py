"""The companion API Gateway key: tagged with its creator, rolled back when the plan refuses it,
and "already deleted" is not an error."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from hokusai.keys.store import UsageKey
from hokusai.keys.usage import (
    CLI_CREATOR,
    CREATED_BY_TAG,
    canary_key_creator,
    create_usage_key,
    delete_usage_key,
)


class FakeApiGateway:
    def __init__(self, *, plan_refuses: bool = False, delete_error: str | None = None) -> None:
        self.plan_refuses = plan_refuses
        self.delete_error = delete_error
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def create_api_key(self, **arguments: Any) -> dict[str, Any]:
        self.calls.append(("create_api_key", arguments))
        return {"id": "abc123", "value": "v" * 40}

    def create_usage_plan_key(self, **arguments: Any) -> dict[str, Any]:
        self.calls.append(("create_usage_plan_key", arguments))
        if self.plan_refuses:
            raise ClientError({"Error": {"Code": "ConflictException", "Message": "x"}}, "CreateUsagePlanKey")
        return {}

    def delete_api_key(self, **arguments: Any) -> None:
        self.calls.append(("delete_api_key", arguments))
        if self.delete_error:
            raise ClientError({"Error": {"Code": self.delete_error, "Message": "x"}}, "DeleteApiKey")


def test_the_key_is_tagged_with_its_creator_and_put_on_the_plan() -> None:
    apigateway = FakeApiGateway()
    usage = create_usage_key(apigateway, "standard", "plan-1", "key_0123456789abcdef", created_by=CLI_CREATOR)
    assert usage == UsageKey(plan="standard", key_id="abc123", value="v" * 40)
    assert apigateway.calls == [
        (
            "create_api_key",
            {
                "name": "key_0123456789abcdef",
                "description": "usage plan key of hokusai key key_0123456789abcdef",
                "enabled": True,
                "tags": {"hokusai:created-by": "keys-cli"},
            },
        ),
        ("create_usage_plan_key", {"usagePlanId": "plan-1", "keyId": "abc123", "keyType": "API_KEY"}),
    ]
    assert CREATED_BY_TAG == "hokusai:created-by"
    assert canary_key_creator("plan-1") == "canary-key:plan-1"


def test_a_key_the_plan_refuses_is_deleted_again_and_the_error_raised() -> None:
    apigateway = FakeApiGateway(plan_refuses=True)
    with pytest.raises(ClientError, match="ConflictException"):
        create_usage_key(apigateway, "standard", "plan-1", "key_1", created_by=CLI_CREATOR)
    assert [name for name, _ in apigateway.calls] == [
        "create_api_key",
        "create_usage_plan_key",
        "delete_api_key",
    ]
    assert apigateway.calls[-1] == ("delete_api_key", {"apiKey": "abc123"})


def test_delete_says_whether_it_deleted() -> None:
    assert delete_usage_key(FakeApiGateway(), "abc123") is True
    assert delete_usage_key(FakeApiGateway(delete_error="NotFoundException"), "abc123") is False
    with pytest.raises(ClientError, match="AccessDeniedException"):
        delete_usage_key(FakeApiGateway(delete_error="AccessDeniedException"), "abc123")
