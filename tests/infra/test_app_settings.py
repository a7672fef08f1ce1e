"""cdk.json context: validated once with a message naming the key; synth offline with no credentials."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from stacks.settings import ContextError, Settings
from tests.helpers import run_python
from tests.infra.conftest import ROOT, STACK_IDS, cdk_json_context, context_for_tests


def _settings(**overrides: Any) -> Settings:
    context = {**cdk_json_context(), **overrides}
    return Settings.from_context(context.get, {})


def test_cdk_json_context_is_valid() -> None:
    settings = _settings()
    assert settings.architecture == "arm64"
    assert settings.canary_model_id in settings.models
    assert settings.layer_assets == "build"  # placeholder layers are for tests only


def test_cdk_json_models_equal_model_registry_json() -> None:
    registry = ROOT / "model" / "registry.json"
    assert cdk_json_context()["models"] == json.loads(registry.read_text())


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"models": {}}, "models"),
        ({"models": {"21": {"repo_id": "a/b"}}}, "models.21"),
        ({"models": "{not json"}, "models"),
        ({"account": "12345"}, "account"),
        ({"region": "Europe"}, "region"),
        ({"architecture": "sparc"}, "architecture"),
        ({"alarmEmail": "not-an-address"}, "alarmEmail"),
        ({"memoryMb": {"authorizer": 64}}, "memoryMb.authorizer"),
        ({"memoryMb": {**cdk_json_context()["memoryMb"], "predict": 64}}, "memoryMb.predict"),
        (
            {"timeoutSeconds": {**cdk_json_context()["timeoutSeconds"], "canary": 901}},
            "timeoutSeconds.canary",
        ),
        ({"reservedConcurrency": {"predictor": 5}}, "reservedConcurrency"),
        ({"logRetentionDays": 31}, "logRetentionDays"),
        ({"canaryModelId": "99"}, "canaryModelId"),
        ({"canaryScheduleMinutes": 0}, "canaryScheduleMinutes"),
        ({"availabilityZones": ["eu-west-1a"]}, "availabilityZones"),
        ({"modelBucketPrefix": "/models"}, "modelBucketPrefix"),
        ({"alarms": {"latencyP95Ms": "fast"}}, "alarms.latencyP95Ms"),
        ({"alarms": {"p99": 5}}, "alarms"),
        ({"alarms": {"api5xxRatePercent": 150}}, "alarms.api5xxRatePercent"),
        ({"hokusai:layerAssets": "docker"}, "hokusai:layerAssets"),
        ({"hfEndpoint": "hub.local"}, "hfEndpoint"),
        ({"prefix": "Hokusai Prod"}, "prefix"),
        ({"usagePlans": {}}, "usagePlans"),
        ({"usagePlans": {"Gold Tier": {"rateLimit": 1, "burstLimit": 1, "quotaPerDay": 1}}}, "usagePlans"),
        ({"usagePlans": {"gold": {"rateLimit": 1, "burstLimit": 1}}}, "usagePlans.gold"),
        (
            {"usagePlans": {"gold": {"rateLimit": 0, "burstLimit": 1, "quotaPerDay": 1}}},
            "usagePlans.gold.rateLimit",
        ),
        (
            {"usagePlans": {"gold": {"rateLimit": 5, "burstLimit": 2, "quotaPerDay": 1}}},
            "usagePlans.gold.burstLimit",
        ),
        (
            {"usagePlans": {"gold": {"rateLimit": 1, "burstLimit": 1, "quotaPerDay": "lots"}}},
            "usagePlans.gold.quotaPerDay",
        ),
        ({"defaultPlan": "platinum"}, "defaultPlan"),
        ({"wafRateLimit": 5}, "wafRateLimit"),
        ({"wafRateLimit": "many"}, "wafRateLimit"),
    ],
)
def test_bad_context_fails_naming_the_key(overrides: dict[str, Any], key: str) -> None:
    with pytest.raises(ContextError) as raised:
        _settings(**overrides)
    assert str(raised.value).startswith(f"Invalid CDK context: {key} must be")


def test_command_line_strings_are_accepted_as_json() -> None:
    """`cdk synth -c alarms='{"latencyP95Ms": 800}' -c canaryScheduleMinutes=10` gives strings."""
    settings = _settings(
        alarms='{"latencyP95Ms": 800}', canaryScheduleMinutes="10", alarmEmail="oncall@example.com"
    )
    assert settings.alarms.latency_p95_ms == 800
    assert settings.canary_schedule_minutes == 10
    assert settings.alarm_email == "oncall@example.com"


def test_account_and_region_fall_back_to_the_cli_defaults() -> None:
    context = cdk_json_context()
    settings = Settings.from_context(
        context.get, {"CDK_DEFAULT_ACCOUNT": "123456789012", "CDK_DEFAULT_REGION": "eu-west-1"}
    )
    assert (settings.account, settings.region) == ("123456789012", "eu-west-1")


def test_missing_layer_build_fails_with_the_make_target(tmp_path: Path) -> None:
    from stacks import service_stack

    settings = _settings()
    original = service_stack.LAYER_DIRS
    service_stack.LAYER_DIRS = {"common": tmp_path / "absent", "ml": tmp_path / "absent"}
    try:
        with pytest.raises(FileNotFoundError, match="make layers"):
            service_stack.layer_asset_dir("ml", settings)
    finally:
        service_stack.LAYER_DIRS = original


@pytest.mark.slow
def test_python_app_py_synthesizes_offline_without_credentials(tmp_path: Path) -> None:
    """As `cdk synth` runs it: a fresh process, no AWS variables at all, an environment-bound stack
    (account + region in context, alarm e-mail set), explicit zones so nothing is looked up; also the
    context knobs that change the template (architecture, reserved concurrency off)."""
    context = {
        "hokusai:layerAssets": "placeholder",
        "account": "123456789012",
        "region": "eu-west-1",
        "alarmEmail": "oncall@example.com",
        "architecture": "x86_64",
        "reservedConcurrency": {"authorizer": None, "predict": None, "health": None, "canary": None},
    }
    environ = {
        name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "CDK_DEFAULT_"))
    }
    environ.update(
        {
            "CDK_OUTDIR": str(tmp_path),
            "CDK_CONTEXT_JSON": json.dumps(context),
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    completed = run_python("app.py", env=environ, timeout=180)
    assert completed.returncode == 0, completed.stderr[-3000:]
    for stack in STACK_IDS:
        template = json.loads((tmp_path / f"{stack}.template.json").read_text())
        assert template["Resources"]
    monitoring = json.loads((tmp_path / "HokusaiMonitoring.template.json").read_text())
    subscriptions = [r for r in monitoring["Resources"].values() if r["Type"] == "AWS::SNS::Subscription"]
    assert [s["Properties"]["Endpoint"] for s in subscriptions] == ["oncall@example.com"]
    stateful = json.loads((tmp_path / "HokusaiStateful.template.json").read_text())
    zones = [
        r["Properties"]["AvailabilityZone"]
        for r in stateful["Resources"].values()
        if r["Type"] == "AWS::EC2::Subnet"
    ]
    # Bound to a region, still no literal zone names: CloudFormation picks them at deploy time
    # (accounts differ in which zone letters they have).
    assert zones == [{"Fn::Select": [0, {"Fn::GetAZs": ""}]}, {"Fn::Select": [1, {"Fn::GetAZs": ""}]}]
    service = json.loads((tmp_path / "HokusaiService.template.json").read_text())
    functions = [
        r["Properties"]
        for r in service["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and "FunctionName" in r["Properties"]
    ]  # ours are named; CDK's bucket-deployment function (model staging) is not
    assert len(functions) == 5  # authorizer, predict, health, revocation, pre_traffic
    for function in functions:
        assert function["Architectures"] == ["x86_64"]
        assert "ReservedConcurrentExecutions" not in function  # small accounts can opt out
    layers = [
        r["Properties"] for r in service["Resources"].values() if r["Type"] == "AWS::Lambda::LayerVersion"
    ]
    assert all(layer["CompatibleArchitectures"] == ["x86_64"] for layer in layers)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert not manifest.get("missing"), "synth wanted a context lookup (needs credentials)"


def test_usage_plans_and_default_plan_from_context() -> None:
    settings = _settings(
        usagePlans='{"free": {"rateLimit": 1, "burstLimit": 2, "quotaPerDay": 100}, '
        '"gold": {"rateLimit": 50, "burstLimit": 100, "quotaPerDay": 1000000}}',
        defaultPlan="free",
        wafRateLimit="2000",
    )
    assert [
        (p.name, p.rate_limit, p.burst_limit, p.quota_per_day) for p in settings.usage_plans.values()
    ] == [
        ("free", 1, 2, 100),
        ("gold", 50, 100, 1000000),
    ]
    assert settings.default_plan == "free" and settings.waf_rate_limit == 2000
    assert _settings().usage_plans["standard"].deployed_name("hokusai") == "hokusai-standard"


def test_the_deploy_guides_context_table_is_the_declaration() -> None:
    from local.docs import deploy_context_table
    from stacks.settings import context_table

    assert deploy_context_table() == context_table(), "docs/deploy.md is stale: run `make docs`"


def test_every_key_of_cdk_json_is_declared_and_every_declared_key_is_read() -> None:
    from stacks.settings import CONTEXT

    declared = {key for entry in CONTEXT for key in entry.keys}
    feature_flags = {key for key in cdk_json_context() if key.startswith("@aws-cdk/")}
    optional = {"domainName", "certificateArn", "hostedZoneId", "hokusai:layerAssets"}
    assert set(cdk_json_context()) - feature_flags == declared - optional
    # Every Settings field is owned by exactly one entry.
    from stacks.settings import Settings

    owned: list[str] = []
    for entry in CONTEXT:
        owned += list(entry.read(context_for_tests().get, {}))
    assert sorted(owned) == sorted(set(owned))
    assert set(owned) == set(Settings.__dataclass_fields__)
