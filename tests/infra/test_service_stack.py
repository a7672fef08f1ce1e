"""The service stack: functions wired by the agreed variables and permissions, the API from the contract."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match
from hokusai import api_contract

from stacks.settings import ContextError, Settings
from tests.infra.conftest import ROOT, Synthesized, cdk_json_context, context_for_tests

STACK = "HokusaiService"
FUNCTION_LOGICAL_PREFIX = {"authorizer": "Authorizer", "predict": "Predict", "health": "Health"}

# The agreed environment, written out independently of hokusai/environment.py on purpose: a change
# to the declaration that changes what is deployed must change this list too.
COMMON = {
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_LOG_LEVEL",
    "HOKUSAI_TRACING",
}
KEYS_TABLE = {
    "KEYS_TABLE_NAME",
    "KEYS_TABLE_CONNECT_TIMEOUT_MS",
    "KEYS_TABLE_READ_TIMEOUT_MS",
    "KEYS_TABLE_MAX_ATTEMPTS",
}
REDIS = {
    "REDIS_URL",
    "REDIS_AUTH_SECRET_ARN",
    "REDIS_KEY_PREFIX",
    "REDIS_CONNECT_TIMEOUT_MS",
    "REDIS_TIMEOUT_MS",
    "REDIS_BREAKER_FAILURES",
    "REDIS_BREAKER_COOLDOWN_MS",
}
AGREED_ENVIRONMENT = {
    "authorizer": COMMON
    | REDIS
    | KEYS_TABLE
    | {
        "AUTH_REVOCATION_BOUND_SECONDS",
        "AUTH_CACHE_KEY_SECRET_ARN",
        "AUTH_NEGATIVE_TTL_SECONDS",
        "AUTH_L1_MAX_ENTRIES",
        "AUTH_SERVICE_TIMEOUT_MS",
    },
    "predict": COMMON
    | {
        "MODEL_REGISTRY",
        "MODEL_CACHE_DIR",
        "MODEL_BUCKET",
        "MODEL_BUCKET_PREFIX",
        "MAX_BATCH_SIZE",
        "MAX_BODY_BYTES",
        "ALLOW_PICKLE",
        "MODEL_HUB_FALLBACK",  # "false": every model is staged, the Hub is never tried
        "OPENBLAS_NUM_THREADS",  # "1": a steady numpy import (bench/predict.py)
    },
    # The keys table's stream consumer: the authorizer's Redis settings, nothing else.
    "revocation": COMMON | REDIS,
    "health": COMMON
    | REDIS
    | KEYS_TABLE
    | {
        "HEALTH_DEADLINE_MS",
        "MODEL_REGISTRY",
        "MODEL_CACHE_DIR",
        "MODEL_BUCKET",
        "MODEL_BUCKET_PREFIX",
        "SERVICE_VERSION",
    },
}


def _function(synthesized: Synthesized, name: str) -> tuple[str, dict[str, Any]]:
    for logical_id, resource in synthesized.resources(STACK, "AWS::Lambda::Function").items():
        if resource["Properties"].get("FunctionName") == f"hokusai-{name}":
            return logical_id, resource["Properties"]
    raise AssertionError(f"no function hokusai-{name}")


def _statements(synthesized: Synthesized, name: str) -> list[dict[str, Any]]:
    """Every inline statement attached to the function's role."""
    _, properties = _function(synthesized, name)
    role = properties["Role"]["Fn::GetAtt"][0]
    statements: list[dict[str, Any]] = []
    for policy in synthesized.resources(STACK, "AWS::IAM::Policy").values():
        if {"Ref": role} in policy["Properties"]["Roles"]:
            statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return statements


def _actions(statements: list[dict[str, Any]]) -> set[str]:
    actions: set[str] = set()
    for statement in statements:
        value = statement["Action"]
        actions.update([value] if isinstance(value, str) else value)
    return actions


@pytest.mark.parametrize("name", ["authorizer", "predict", "health"])
def test_functions_python312_arm64_xray_in_vpc_with_the_functions_group(
    synthesized: Synthesized, name: str
) -> None:
    _, properties = _function(synthesized, name)
    context = cdk_json_context()
    assert properties["Runtime"] == "python3.12"
    assert properties["Architectures"] == ["arm64"]
    assert properties["TracingConfig"] == {"Mode": "Active"}
    assert properties["MemorySize"] == context["memoryMb"][name]
    assert properties["Timeout"] == context["timeoutSeconds"][name]
    log_group = synthesized.raw[STACK]["Resources"][properties["LoggingConfig"]["LogGroup"]["Ref"]]
    assert log_group["Properties"]["LogGroupName"] == f"/aws/lambda/hokusai-{name}"
    assert log_group["Properties"]["RetentionInDays"] == context["logRetentionDays"]
    security_groups = properties["VpcConfig"]["SecurityGroupIds"]
    assert len(security_groups) == 1
    assert "FunctionsSecurityGroup" in json.dumps(security_groups)
    reserved = context["reservedConcurrency"][name]
    assert properties.get("ReservedConcurrentExecutions") == reserved


@pytest.mark.parametrize("name", ["authorizer", "predict", "health", "revocation"])
def test_environment_is_the_agreed_one(synthesized: Synthesized, name: str) -> None:
    _, properties = _function(synthesized, name)
    variables = properties["Environment"]["Variables"]
    assert set(variables) == AGREED_ENVIRONMENT[name]
    assert variables["POWERTOOLS_SERVICE_NAME"] == f"hokusai-{name}"
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "Hokusai"
    # Tracing follows the one context setting; the stream consumer is never traced.
    assert variables["HOKUSAI_TRACING"] == ("false" if name == "revocation" else "true")
    if "MODEL_REGISTRY" in variables:
        assert json.loads(variables["MODEL_REGISTRY"]) == cdk_json_context()["models"]
        assert variables["MODEL_CACHE_DIR"] == "/mnt/models"
    if "REDIS_URL" in variables:
        assert variables["REDIS_URL"]["Fn::Join"][1][0] == "rediss://"
    if name == "predict":
        assert variables["ALLOW_PICKLE"] == "false"
        assert variables["MODEL_HUB_FALLBACK"] == "false"


@pytest.mark.parametrize("name", ["authorizer", "predict", "health", "canary", "revocation"])
def test_handler_entry_point_exists_in_the_source(synthesized: Synthesized, name: str) -> None:
    """The Handler setting names a function the file defines (checked without importing it)."""
    stack = "HokusaiMonitoring" if name == "canary" else STACK
    handlers = [
        resource["Properties"]["Handler"]
        for resource in synthesized.raw[stack]["Resources"].values()
        if resource["Type"] == "AWS::Lambda::Function"
        and resource["Properties"].get("FunctionName") == f"hokusai-{name}"
    ]
    assert len(handlers) == 1
    module, attribute = handlers[0].split(".")
    source = Path(ROOT, "functions", name, f"{module}.py")
    names = {node.name for node in ast.parse(source.read_text()).body if isinstance(node, ast.FunctionDef)}
    assert attribute in names


def test_predict_and_health_mount_the_efs_access_point(synthesized: Synthesized) -> None:
    for name in ("predict", "health"):
        _, properties = _function(synthesized, name)
        (config,) = properties["FileSystemConfigs"]
        assert config["LocalMountPath"] == "/mnt/models"
        assert "ModelCacheAccessPoint" in json.dumps(config["Arn"])
    assert "ClientWrite" in json.dumps(_statements(synthesized, "predict"))
    assert "ClientWrite" not in json.dumps(_statements(synthesized, "health"))


def test_least_privilege_authorizer(synthesized: Synthesized) -> None:
    statements = _statements(synthesized, "authorizer")
    assert _actions(statements) == {
        "dynamodb:GetItem",
        "secretsmanager:GetSecretValue",
        "secretsmanager:DescribeSecret",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    }
    dynamodb = [s for s in statements if s["Action"] == "dynamodb:GetItem"]
    assert len(dynamodb) == 1 and "KeysTable" in json.dumps(dynamodb[0]["Resource"])
    assert "index" not in json.dumps(dynamodb[0]["Resource"])
    secrets = [s for s in statements if "secretsmanager:GetSecretValue" in json.dumps(s["Action"])]
    assert len(secrets) == 1 and "RedisAuthToken" in json.dumps(secrets[0]["Resource"])


def test_least_privilege_predict(synthesized: Synthesized) -> None:
    statements = _statements(synthesized, "predict")
    actions = _actions(statements)
    assert not any(action.startswith("dynamodb:") for action in actions)
    s3 = [s for s in statements if "s3:GetObject" in json.dumps(s["Action"])]
    assert len(s3) == 1
    assert sorted(s3[0]["Action"]) == ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
    assert s3[0]["Resource"]["Fn::Join"][1][-1] == "/models/*"
    (listing,) = [s for s in statements if s["Action"] == "s3:ListBucket"]
    assert "ModelBucket" in json.dumps(listing["Resource"])
    assert "/" not in json.dumps(listing["Resource"])  # the bucket itself, none of its objects
    secrets = [s for s in statements if "secretsmanager:GetSecretValue" in json.dumps(s["Action"])]
    assert secrets == [], "without the Hub fallback predict never reads the HuggingFace token"
    efs = [s for s in statements if "elasticfilesystem" in json.dumps(s["Action"])]
    assert efs[0]["Condition"]["StringEquals"]["elasticfilesystem:AccessPointArn"]


def test_least_privilege_health(synthesized: Synthesized) -> None:
    statements = _statements(synthesized, "health")
    actions = _actions(statements)
    assert {"dynamodb:DescribeTable", "dynamodb:GetItem", "s3:GetObject"} <= actions
    assert not {"s3:PutObject", "s3:DeleteObject", "dynamodb:PutItem", "dynamodb:Scan"} & actions
    assert "s3:ListBucket" in actions
    assert "RedisAuthToken" in json.dumps(statements)
    assert "HuggingFaceToken" not in json.dumps(statements)


def test_no_statement_allows_a_service_wildcard(synthesized: Synthesized) -> None:
    for name in ("authorizer", "predict", "health"):
        for action in _actions(_statements(synthesized, name)):
            assert not action.endswith(":*"), (name, action)


def test_rest_api_stage_api_throttled_traced_with_access_logs(synthesized: Synthesized) -> None:
    context = cdk_json_context()
    synthesized.templates[STACK].has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "StageName": api_contract.STAGE_NAME,
            "TracingEnabled": True,
            "AccessLogSetting": {
                "DestinationArn": Match.any_value(),
                "Format": Match.string_like_regexp("requestId"),
            },
            "MethodSettings": Match.array_with(
                [
                    Match.object_like(
                        {
                            "ThrottlingRateLimit": context["throttling"]["rateLimit"],
                            "ThrottlingBurstLimit": context["throttling"]["burstLimit"],
                            "LoggingLevel": "ERROR",
                            "DataTraceEnabled": False,
                        }
                    )
                ]
            ),
        },
    )


def test_authorizer_request_type_without_identity_source_and_cache_off(synthesized: Synthesized) -> None:
    (authorizer,) = synthesized.resources(STACK, "AWS::ApiGateway::Authorizer").values()
    properties = authorizer["Properties"]
    assert properties["Type"] == "REQUEST"
    assert properties["AuthorizerResultTtlInSeconds"] == 0
    assert not properties.get("IdentitySource")
    assert "Authorizer" in json.dumps(properties["AuthorizerUri"])


def _resource_paths(synthesized: Synthesized) -> dict[str, str]:
    """Logical id of each API resource -> its full path."""
    resources = synthesized.resources(STACK, "AWS::ApiGateway::Resource")
    paths: dict[str, str] = {}

    def path_of(logical_id: str) -> str:
        if logical_id not in paths:
            properties = resources[logical_id]["Properties"]
            parent = properties["ParentId"]
            prefix = path_of(parent["Ref"]) if "Ref" in parent else ""
            paths[logical_id] = f"{prefix}/{properties['PathPart']}"
        return paths[logical_id]

    for logical_id in resources:
        path_of(logical_id)
    return paths


def _route_methods(synthesized: Synthesized) -> list[dict[str, Any]]:
    """The methods that serve a declared route (the ``ANY`` 405 answers are tested on their own)."""
    methods = synthesized.resources(STACK, "AWS::ApiGateway::Method").values()
    return [method for method in methods if method["Properties"]["HttpMethod"] != "ANY"]


def test_a_known_path_with_another_method_is_a_mock_405_naming_the_allowed_ones(
    synthesized: Synthesized,
) -> None:
    paths = _resource_paths(synthesized)
    mocks = {
        paths[m["Properties"]["ResourceId"]["Ref"]]: m["Properties"]
        for m in synthesized.resources(STACK, "AWS::ApiGateway::Method").values()
        if m["Properties"]["HttpMethod"] == "ANY"
    }
    assert set(mocks) == {route.path for route in api_contract.ROUTES}
    for path, properties in mocks.items():
        assert properties["AuthorizationType"] == "NONE"
        assert properties["Integration"]["Type"] == "MOCK"
        (answer,) = properties["Integration"]["IntegrationResponses"]
        assert answer["StatusCode"] == "405"
        assert answer["ResponseParameters"]["method.response.header.Allow"] == (
            "'" + ", ".join(api_contract.allowed_methods(path)) + "'"
        )
        template = answer["ResponseTemplates"]["application/json"]
        assert template == api_contract.METHOD_NOT_ALLOWED.template(path)
        assert "$context.responseOverride.header.X-Request-ID" in template


def test_routes_are_the_contract_with_authorization_where_declared(synthesized: Synthesized) -> None:
    paths = _resource_paths(synthesized)
    functions = {
        logical_id: resource["Properties"]["FunctionName"].removeprefix("hokusai-")
        for logical_id, resource in synthesized.resources(STACK, "AWS::Lambda::Function").items()
    }
    # Every integration invokes a function's `live` alias, never the function ($LATEST) itself.
    aliases = {
        logical_id: functions[alias["Properties"]["FunctionName"]["Ref"]]
        for logical_id, alias in synthesized.resources(STACK, "AWS::Lambda::Alias").items()
        if alias["Properties"]["Name"] == "live"
    }
    deployed = set()
    for method in _route_methods(synthesized):
        properties = method["Properties"]
        uri = json.dumps(properties["Integration"]["Uri"])
        assert not [logical_id for logical_id in functions if f'"{logical_id}"' in uri]
        (function,) = [name for logical_id, name in aliases.items() if f'"{logical_id}"' in uri]
        assert properties["Integration"]["Type"] == "AWS_PROXY"
        assert "RequestValidatorId" in properties
        authorized = properties["AuthorizationType"] == "CUSTOM"
        if authorized:
            assert "AuthorizerId" in properties
        deployed.add((properties["HttpMethod"], paths[properties["ResourceId"]["Ref"]], function, authorized))
    assert deployed == {(r.method, r.path, r.function, r.authorized) for r in api_contract.ROUTES}


def test_request_bodies_validated_by_the_contract_models(synthesized: Synthesized) -> None:
    """Each route's model is api_contract's schema to the letter: the emulator validates the same one."""
    models = synthesized.resources(STACK, "AWS::ApiGateway::Model")
    declared = {route.body.name: route.body for route in api_contract.ROUTES if route.body is not None}
    assert {model["Properties"]["Name"] for model in models.values()} == set(declared) == {"PredictRequest"}
    for model in models.values():
        body = declared[model["Properties"]["Name"]]
        assert model["Properties"]["ContentType"] == body.content_type
        assert model["Properties"]["Schema"] == body.schema
    paths = _resource_paths(synthesized)
    by_model = {logical_id: model["Properties"]["Name"] for logical_id, model in models.items()}
    for method in _route_methods(synthesized):
        properties = method["Properties"]
        (route,) = [
            r
            for r in api_contract.ROUTES
            if (r.method, r.path) == (properties["HttpMethod"], paths[properties["ResourceId"]["Ref"]])
        ]
        requested = {
            content_type: by_model[reference["Ref"]]
            for content_type, reference in properties.get("RequestModels", {}).items()
        }
        assert requested == ({route.body.content_type: route.body.name} if route.body else {}), route.path
    synthesized.templates[STACK].has_resource_properties(
        "AWS::ApiGateway::RequestValidator", {"ValidateRequestBody": True, "ValidateRequestParameters": True}
    )


def test_gateway_responses_are_the_contract(synthesized: Synthesized) -> None:
    deployed = {
        resource["Properties"]["ResponseType"]: resource["Properties"]
        for resource in synthesized.resources(STACK, "AWS::ApiGateway::GatewayResponse").values()
    }
    assert set(deployed) == {response.response_type for response in api_contract.GATEWAY_RESPONSES}
    for response in api_contract.GATEWAY_RESPONSES:
        properties = deployed[response.response_type]
        template = properties["ResponseTemplates"]["application/json"]
        assert json.loads(template.replace("$context.requestId", "id")) == {
            "detail": response.detail,
            "request_id": "id",
        }
        if response.status_code is None:
            assert "StatusCode" not in properties
        else:
            assert properties["StatusCode"] == str(response.status_code)
        headers = properties["ResponseParameters"]
        assert headers["gatewayresponse.header.Content-Type"] == "'application/json'"
        for name, value in response.headers.items():
            assert headers[f"gatewayresponse.header.{name}"] == f"'{value}'"
        # The request id, the same value as the body's request_id (issue 12, item 5).
        assert headers["gatewayresponse.header.X-Request-ID"] == "context.requestId"
    assert deployed["AUTHORIZER_FAILURE"]["StatusCode"] == "503"
    assert "gatewayresponse.header.Retry-After" in deployed["AUTHORIZER_FAILURE"]["ResponseParameters"]
    unauthorized = json.loads(
        deployed["UNAUTHORIZED"]["ResponseTemplates"]["application/json"].replace("$context.requestId", "x")
    )
    assert unauthorized["detail"] == "API key required"


def test_layers_for_the_chosen_architecture(synthesized: Synthesized) -> None:
    layers = synthesized.resources(STACK, "AWS::Lambda::LayerVersion")
    assert len(layers) == 2
    for layer in layers.values():
        assert layer["Properties"]["CompatibleRuntimes"] == ["python3.12"]
        assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    _, predict = _function(synthesized, "predict")
    _, authorizer = _function(synthesized, "authorizer")
    assert len(predict["Layers"]) == 2
    assert len(authorizer["Layers"]) == 1  # no ML on the authorizer's cold start


def test_registry_models_are_staged_into_the_s3_cache_at_deploy_time(synthesized: Synthesized) -> None:
    """The shipped artifact goes into s3://<model bucket>/models/<id>/<revision>/ by a bucket
    deployment in the stateful stack (deployed before predict exists), never deleting other copies."""
    spec = cdk_json_context()["models"]["21"]
    (staging,) = synthesized.resources("HokusaiStateful", "Custom::CDKBucketDeployment").values()
    properties = staging["Properties"]
    assert properties["DestinationBucketKeyPrefix"] == f"models/21/{spec['revision']}/"
    assert properties["Prune"] is False
    assert properties["RetainOnDelete"] is True
    assert properties["UserMetadata"] == {"sha256": spec["sha256"], "revision": spec["revision"]}
    assert "ModelBucket" in json.dumps(properties["DestinationBucketName"])
    document = json.loads((synthesized.outdir / "HokusaiStateful.assets.json").read_text())
    (key,) = properties["SourceObjectKeys"]
    (source,) = [
        asset["source"]["path"]
        for asset in document["files"].values()
        if any(d["objectKey"] == key for d in asset["destinations"].values())
    ]
    staged = sorted(p.name for p in (synthesized.outdir / source).iterdir())
    # The artifact and its ONNX twin (what predict serves), not the model card or config.
    assert staged == sorted([spec["filename"], spec["twin_filename"]])


def test_a_model_whose_bytes_differ_from_the_pin_stops_synth_naming_both_digests(tmp_path: Path) -> None:
    from tests.infra.conftest import synthesize

    models = cdk_json_context()["models"]
    wrong = {**models["21"], "sha256": "0" * 64}
    with pytest.raises(Exception, match=r"model 21.*sha256") as caught:
        synthesize(tmp_path, models={"21": wrong})
    assert "0" * 64 in str(caught.value)


def test_an_unstaged_model_stops_synth_naming_the_fetch_command(tmp_path: Path) -> None:
    from tests.infra.conftest import synthesize

    private = {**cdk_json_context()["models"]["21"], "repo_id": "acme/private-scorer"}
    with pytest.raises(Exception, match=r"model 21 .* is not staged.*hokusai models fetch"):
        synthesize(tmp_path / "off", models={"21": private})


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("hubFallback", True, r"predict has no route to the Hub \(isolated subnets, no NAT\).*models fetch"),
        ("authServiceUrl", "https://auth.example.com", r"the authorizer has no route to an external auth"),
    ],
)
def test_context_needing_internet_egress_is_refused_with_the_reason(
    key: str, value: object, reason: str
) -> None:
    """The functions' subnets have no route out and their security group no egress to the internet:
    a key that needs one would deploy and then fail on the first request. Refused at synth instead."""
    with pytest.raises(
        ContextError, match=rf"^Invalid CDK context: {key} must be unset \(or false\): {reason}"
    ):
        Settings.from_context(context_for_tests(**{key: value}).get, {})
    for off in (None, False):
        Settings.from_context(context_for_tests(**{key: off}).get, {})


def test_per_key_limits_api_key_source_authorizer_and_keys_required(synthesized: Synthesized) -> None:
    template = synthesized.templates[STACK]
    template.has_resource_properties("AWS::ApiGateway::RestApi", {"ApiKeySourceType": "AUTHORIZER"})
    paths = _resource_paths(synthesized)
    for method in _route_methods(synthesized):
        properties = method["Properties"]
        route = (properties["HttpMethod"], paths[properties["ResourceId"]["Ref"]])
        authorized = properties["AuthorizationType"] == "CUSTOM"
        assert properties.get("ApiKeyRequired", False) is authorized, route


def test_a_usage_plan_per_declared_plan_on_the_stage(synthesized: Synthesized) -> None:
    declared = cdk_json_context()["usagePlans"]
    plans = synthesized.resources(STACK, "AWS::ApiGateway::UsagePlan")
    assert sorted(p["Properties"]["UsagePlanName"] for p in plans.values()) == sorted(
        f"hokusai-{name}" for name in declared
    )
    (stage,) = synthesized.resources(STACK, "AWS::ApiGateway::Stage")
    for name, plan in declared.items():
        synthesized.templates[STACK].has_resource_properties(
            "AWS::ApiGateway::UsagePlan",
            {
                "UsagePlanName": f"hokusai-{name}",
                "Throttle": {"RateLimit": plan["rateLimit"], "BurstLimit": plan["burstLimit"]},
                "Quota": {"Limit": plan["quotaPerDay"], "Period": "DAY"},
                "ApiStages": [Match.object_like({"ApiId": Match.any_value(), "Stage": {"Ref": stage}})],
            },
        )


def test_throttled_and_quota_exceeded_answer_json_429_with_retry_after(synthesized: Synthesized) -> None:
    for response_type in ("THROTTLED", "QUOTA_EXCEEDED"):
        synthesized.templates[STACK].has_resource_properties(
            "AWS::ApiGateway::GatewayResponse",
            {
                "ResponseType": response_type,
                "StatusCode": "429",
                "ResponseParameters": Match.object_like(
                    {
                        "gatewayresponse.header.Content-Type": "'application/json'",
                        "gatewayresponse.header.Retry-After": Match.string_like_regexp(r"^'\d+'$"),
                    }
                ),
            },
        )


def test_no_web_acl_unless_waf_rate_limit(synthesized: Synthesized, tmp_path: Path) -> None:
    from aws_cdk.assertions import Template

    from tests.infra.conftest import synthesize

    assert synthesized.resources(STACK, "AWS::WAFv2::WebACL") == {}
    with_waf = synthesize(tmp_path, wafRateLimit=2000)
    template: Template = with_waf.templates[STACK]
    template.has_resource_properties(
        "AWS::WAFv2::WebACL",
        {
            "Scope": "REGIONAL",
            "Rules": [
                Match.object_like(
                    {
                        "Action": {"Block": {}},
                        "Statement": {"RateBasedStatement": {"Limit": 2000, "AggregateKeyType": "IP"}},
                    }
                )
            ],
        },
    )
    (stage,) = with_waf.resources(STACK, "AWS::ApiGateway::Stage")
    (acl,) = with_waf.resources(STACK, "AWS::WAFv2::WebACL")
    (association,) = with_waf.resources(STACK, "AWS::WAFv2::WebACLAssociation").values()
    assert association["Properties"]["WebACLArn"] == {"Fn::GetAtt": [acl, "Arn"]}
    assert stage in json.dumps(association["Properties"]["ResourceArn"])
    nag = [
        entry
        for entries in with_waf.metadata(STACK).values()
        for entry in entries
        if entry["type"] in {"aws:cdk:error", "aws:cdk:warning"}
    ]
    assert nag == []
