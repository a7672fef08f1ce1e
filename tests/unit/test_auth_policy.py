"""Allow policies: wildcard resources for exactly the key's models; context values as strings."""

from __future__ import annotations

import fnmatch

import pytest
from hokusai.auth.policy import allow_policy, route_resources
from hokusai.keys.store import KeyRecord

ARN = "arn:aws:execute-api:eu-west-1:123456789012:abc123/api/POST/v1/models/21/predict"
PREFIX = "arn:aws:execute-api:eu-west-1:123456789012:abc123/api"


def allows(policy: dict, method: str, path: str) -> bool:
    arn = f"{PREFIX}/{method}{path}"
    for statement in policy["policyDocument"]["Statement"]:
        if statement["Effect"] == "Allow" and any(fnmatch.fnmatchcase(arn, r) for r in statement["Resource"]):
            return True
    return False


def record(*models: str) -> KeyRecord:
    return KeyRecord(key_id="key_0123456789abcdef", user_id="user-9", models=models)


def test_scoped_key_gets_its_models_and_the_list_route_only() -> None:
    policy = allow_policy(ARN, record("21", "7"))
    assert policy["principalId"] == "user-9"
    assert policy["context"] == {"key_id": "key_0123456789abcdef", "user_id": "user-9", "scopes": "21,7"}
    assert all(isinstance(v, str) for v in policy["context"].values())
    assert allows(policy, "POST", "/v1/models/21/predict")
    assert allows(policy, "GET", "/v1/models/7/info")
    assert allows(policy, "GET", "/v1/models")
    assert not allows(policy, "POST", "/v1/models/22/predict")
    assert not allows(policy, "POST", "/v1/models/210/predict")  # no prefix match across ids
    assert not allows(policy, "POST", "/v1/models")


def test_all_models_key() -> None:
    policy = allow_policy(ARN, record("*"))
    assert allows(policy, "POST", "/v1/models/99/predict")
    assert allows(policy, "GET", "/v1/models")
    assert policy["context"]["scopes"] == "*"


def test_resources_are_the_declared_routes_method_by_method() -> None:
    assert route_resources(("21",)) == [
        ("GET", "v1/models"),
        ("GET", "v1/models/21/info"),
        ("GET", "v1/models/21/health"),
        ("POST", "v1/models/21/predict"),
    ]
    assert route_resources(("*",)) == [
        ("GET", "v1/models"),
        ("GET", "v1/models/*/info"),
        ("GET", "v1/models/*/health"),
        ("POST", "v1/models/*/predict"),
    ]


@pytest.mark.parametrize("models", [("21",), ("*",)])
def test_a_route_not_declared_under_a_model_is_allowed_to_no_key(models: tuple[str, ...]) -> None:
    """Before: every method on v1/models/<id>/*: a future admin DELETE would have been open."""
    policy = allow_policy(ARN, record(*models))
    assert not allows(policy, "DELETE", "/v1/models/21/admin")
    assert not allows(policy, "DELETE", "/v1/models/21/predict")
    assert not allows(policy, "GET", "/v1/models/21/predict")
    assert not allows(policy, "PUT", "/v1/models/21/info")
    assert allows(policy, "GET", "/v1/models/21/info")


@pytest.mark.parametrize("bad", ["*/x", "21/../22", "a b", "21*", "21\n", "\n21"])
def test_model_ids_outside_the_path_alphabet_never_widen_the_policy(bad: str) -> None:
    assert route_resources((bad,)) == [("GET", "v1/models")]
    policy = allow_policy(ARN, record(bad))
    assert not allows(policy, "POST", "/v1/models/22/predict")


def test_usage_identifier_key_is_the_companion_keys_value_not_in_the_context() -> None:
    import dataclasses
    import secrets

    value = secrets.token_urlsafe(30)  # what API Gateway generates for the companion key
    keyed = dataclasses.replace(record("21"), plan="standard", usage_key_id="abc123", usage_key_value=value)
    policy = allow_policy(ARN, keyed)
    assert policy["usageIdentifierKey"] == value
    assert value not in str(policy["context"]) and value not in repr(keyed)
    assert KeyRecord.from_cache(keyed.to_cache()).usage_key_value == value  # L1/L2 keep it
    assert "usageIdentifierKey" not in allow_policy(ARN, record("21"))  # a key made before plans
