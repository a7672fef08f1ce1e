"""Safe rollout (stacks/rollout.py) and cold-start modes, on the synthesized templates.

Every integration and the authorizer invoke a `live` alias on a published version; a deployment
group per released function shifts it (context `deployment`), runs the pre-traffic hook first, and
rolls back on its new version's alarms or a failed deployment. `coldStart` puts SnapStart on
published versions (and then no EFS) or provisioned concurrency on the alias, and refuses what
Lambda refuses.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stacks.function import ColdStartError
from stacks.settings import ContextError
from tests.infra.conftest import STACK_IDS, Synthesized, synthesize
from tests.infra.test_compliance import _entries, cfn_lint_findings

STACK = "HokusaiService"
RELEASED = ("authorizer", "predict", "health")


def _by_name(synthesized: Synthesized, resource_type: str, key: str) -> dict[str, tuple[str, dict[str, Any]]]:
    return {
        resource["Properties"][key]: (logical_id, resource)
        for logical_id, resource in synthesized.resources(STACK, resource_type).items()
        if key in resource["Properties"]
    }


def _functions(synthesized: Synthesized) -> dict[str, tuple[str, dict[str, Any]]]:
    """``authorizer`` -> (logical id, resource), by deployed name."""
    return {
        name.removeprefix("hokusai-").replace("-", "_"): item
        for name, item in _by_name(synthesized, "AWS::Lambda::Function", "FunctionName").items()
    }


def _live_aliases(synthesized: Synthesized) -> dict[str, tuple[str, dict[str, Any]]]:
    functions = {logical_id: name for name, (logical_id, _) in _functions(synthesized).items()}
    return {
        functions[alias["Properties"]["FunctionName"]["Ref"]]: (logical_id, alias)
        for logical_id, alias in synthesized.resources(STACK, "AWS::Lambda::Alias").items()
        if alias["Properties"]["Name"] == "live"
    }


def test_each_released_function_has_a_live_alias_on_its_published_version(synthesized: Synthesized) -> None:
    aliases = _live_aliases(synthesized)
    versions = synthesized.resources(STACK, "AWS::Lambda::Version")
    functions = _functions(synthesized)
    assert set(aliases) == set(RELEASED)
    for name, (_, alias) in aliases.items():
        version_id = alias["Properties"]["FunctionVersion"]["Fn::GetAtt"][0]
        assert version_id in versions
        assert versions[version_id]["Properties"]["FunctionName"] == {"Ref": functions[name][0]}
        # Old versions stay: a rollback moves the alias back to one.
        assert versions[version_id]["DeletionPolicy"] == "Retain"


def test_the_authorizer_and_every_permission_for_api_gateway_target_the_alias(
    synthesized: Synthesized,
) -> None:
    aliases = _live_aliases(synthesized)
    (authorizer,) = synthesized.resources(STACK, "AWS::ApiGateway::Authorizer").values()
    uri = json.dumps(authorizer["Properties"]["AuthorizerUri"])
    assert f'"{aliases["authorizer"][0]}"' in uri
    assert f'"{_functions(synthesized)["authorizer"][0]}"' not in uri
    permissions = [
        permission["Properties"]
        for permission in synthesized.resources(STACK, "AWS::Lambda::Permission").values()
        if permission["Properties"]["Principal"] == "apigateway.amazonaws.com"
    ]
    assert permissions
    alias_refs = {json.dumps({"Ref": logical_id}) for logical_id, _ in aliases.values()}
    for permission in permissions:
        assert json.dumps(permission["FunctionName"]) in alias_refs
    targeted = {json.dumps(permission["FunctionName"]) for permission in permissions}
    assert targeted == alias_refs


def test_a_deployment_group_per_function_with_alarm_rollback_and_the_hook(synthesized: Synthesized) -> None:
    template = synthesized.templates[STACK]
    groups = _by_name(synthesized, "AWS::CodeDeploy::DeploymentGroup", "DeploymentGroupName")
    assert set(groups) == {f"hokusai-{name}" for name in RELEASED}
    (config_id,) = synthesized.resources(STACK, "AWS::CodeDeploy::DeploymentConfig")
    template.has_resource_properties(
        "AWS::CodeDeploy::DeploymentConfig",
        {
            "ComputePlatform": "Lambda",
            "TrafficRoutingConfig": {
                "Type": "TimeBasedCanary",
                "TimeBasedCanary": {"CanaryPercentage": 10, "CanaryInterval": 5},
            },
        },
    )
    alarms = {
        logical_id: alarm["Properties"]
        for logical_id, alarm in synthesized.resources(STACK, "AWS::CloudWatch::Alarm").items()
    }
    hook_id = _functions(synthesized)["pre_traffic"][0]
    (application_id,) = synthesized.resources(STACK, "AWS::CodeDeploy::Application")
    for name in RELEASED:
        group_id, group = groups[f"hokusai-{name}"]
        properties = group["Properties"]
        assert properties["DeploymentConfigName"] == {"Ref": config_id}
        assert properties["AutoRollbackConfiguration"] == {
            "Enabled": True,
            "Events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_REQUEST", "DEPLOYMENT_STOP_ON_ALARM"],
        }
        configuration = properties["AlarmConfiguration"]
        assert configuration["Enabled"] is True
        watched = [alarm["Name"]["Ref"] for alarm in configuration["Alarms"]]
        expected = {"authorizer": 2}.get(name, 3)  # the authorizer's Errors count 401s: not watched
        assert len(watched) == expected
        version_id = _live_aliases(synthesized)[name][1]["Properties"]["FunctionVersion"]["Fn::GetAtt"][0]
        for alarm_id in watched:
            alarm = alarms[alarm_id]
            dimensions = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
            # Only the new version: its alarms start with no data, a bad old release cannot block it.
            assert dimensions["ExecutedVersion"] == {"Fn::GetAtt": [version_id, "Version"]}
            assert json.dumps({"Fn::GetAtt": [version_id, "Version"]}) in json.dumps(alarm["AlarmName"])
            assert alarm["TreatMissingData"] == "notBreaching"
            assert alarm["Period"] == 60
            if alarm["Namespace"] == "AWS/Lambda":
                assert dimensions["Resource"] == f"hokusai-{name}:live"
            assert alarm["AlarmDescription"].count("First command: aws deploy list-deployments") == 1
        alias = _live_aliases(synthesized)[name][1]
        assert alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"] == {
            "ApplicationName": {"Ref": application_id},
            "DeploymentGroupName": {"Ref": group_id},
            "BeforeAllowTrafficHook": {"Ref": hook_id},
        }


def test_the_hook_checks_exactly_this_releases_versions(synthesized: Synthesized) -> None:
    functions = _functions(synthesized)
    hook_id, hook = functions["pre_traffic"]
    assert "VpcConfig" not in hook["Properties"]
    variables = hook["Properties"]["Environment"]["Variables"]
    aliases = _live_aliases(synthesized)
    versions = {}
    for name in RELEASED:
        version_id = aliases[name][1]["Properties"]["FunctionVersion"]["Fn::GetAtt"][0]
        versions[name] = version_id
        assert variables[f"RELEASE_{name.upper()}_VERSION"] == {"Ref": version_id}
    policies = [
        policy["Properties"]["PolicyDocument"]["Statement"]
        for policy in synthesized.resources(STACK, "AWS::IAM::Policy").values()
        if {"Ref": hook["Properties"]["Role"]["Fn::GetAtt"][0]} in policy["Properties"]["Roles"]
    ]
    (statements,) = policies
    (invoke,) = [s for s in statements if s["Action"] == "lambda:InvokeFunction"]
    assert sorted(r["Ref"] for r in invoke["Resource"]) == sorted(versions.values())
    (report,) = [s for s in statements if s["Action"] == "codedeploy:PutLifecycleEventHookExecutionStatus"]
    assert len(report["Resource"]) == 3
    actions = sorted(
        a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    )
    assert actions == [
        "codedeploy:PutLifecycleEventHookExecutionStatus",
        "lambda:InvokeFunction",
        "secretsmanager:DescribeSecret",
        "secretsmanager:GetSecretValue",
        "xray:PutTelemetryRecords",
        "xray:PutTraceSegments",
    ]
    assert hook_id.startswith("PreTrafficHook")


@pytest.mark.parametrize(
    ("deployment", "routing"),
    [
        ({"strategy": "linear", "percentage": 20, "intervalMinutes": 2},
         {"Type": "TimeBasedLinear", "TimeBasedLinear": {"LinearPercentage": 20, "LinearInterval": 2}}),
        ({"strategy": "canary", "percentage": 25, "intervalMinutes": 15},
         {"Type": "TimeBasedCanary", "TimeBasedCanary": {"CanaryPercentage": 25, "CanaryInterval": 15}}),
    ],
)  # fmt: skip
def test_the_deployment_context_shapes_the_traffic_shift(
    tmp_path: Path, deployment: dict[str, Any], routing: dict[str, Any]
) -> None:
    synthesized = synthesize(tmp_path / "cdk.out", deployment=deployment)
    (config,) = synthesized.resources(STACK, "AWS::CodeDeploy::DeploymentConfig").values()
    assert config["Properties"]["TrafficRoutingConfig"] == routing


def test_all_at_once_still_runs_the_hook_and_watches_the_alarms(tmp_path: Path) -> None:
    synthesized = synthesize(tmp_path / "cdk.out", deployment={"strategy": "allAtOnce"})
    assert synthesized.resources(STACK, "AWS::CodeDeploy::DeploymentConfig") == {}
    for _, group in _by_name(synthesized, "AWS::CodeDeploy::DeploymentGroup", "DeploymentGroupName").values():
        assert group["Properties"]["DeploymentConfigName"] == "CodeDeployDefault.LambdaAllAtOnce"
        assert group["Properties"]["AlarmConfiguration"]["Enabled"] is True
    for _, alias in _live_aliases(synthesized).values():
        assert "BeforeAllowTrafficHook" in alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]


@pytest.mark.parametrize(
    ("deployment", "message"),
    [
        ({"strategy": "blueGreen"}, "deployment.strategy must be canary or linear or allAtOnce"),
        ({"percentage": 100}, "deployment.percentage must be an integer between 1 and 99"),
        ({"intervalMinutes": 0}, "deployment.intervalMinutes must be an integer between 1 and 2880"),
        (
            {"percent": 10},
            "deployment must be an object with keys among strategy, percentage, intervalMinutes",
        ),
    ],
)
def test_a_bad_deployment_context_fails_synth_naming_the_key(
    tmp_path: Path, deployment: dict[str, Any], message: str
) -> None:
    with pytest.raises(ContextError, match=message):
        synthesize(tmp_path / "cdk.out", deployment=deployment)


def test_snapstart_predict_loads_from_s3_into_the_snapshot_without_efs(tmp_path: Path) -> None:
    synthesized = synthesize(tmp_path / "cdk.out", coldStart={"predict": "snapstart", "health": "snapstart"})
    functions = _functions(synthesized)
    for name in ("predict", "health"):
        properties = functions[name][1]["Properties"]
        assert properties["SnapStart"] == {"ApplyOn": "PublishedVersions"}
        assert "FileSystemConfigs" not in properties
        assert "MODEL_CACHE_DIR" not in properties["Environment"]["Variables"]
        assert properties["Environment"]["Variables"]["MODEL_BUCKET"]
    assert "SnapStart" not in functions["authorizer"][1]["Properties"]
    # The alias points at a published version: SnapStart applies only there.
    for name in ("predict", "health"):
        assert "FunctionVersion" in _live_aliases(synthesized)[name][1]["Properties"]
    # No function mounts EFS, and none is granted a mount.
    policies = json.dumps(
        [p["Properties"] for p in synthesized.resources(STACK, "AWS::IAM::Policy").values()]
    )
    assert "elasticfilesystem:ClientMount" not in policies


def test_provisioned_concurrency_sits_on_the_live_alias(tmp_path: Path) -> None:
    synthesized = synthesize(
        tmp_path / "cdk.out", coldStart={"predict": "provisioned:2", "authorizer": "none"}
    )
    aliases = _live_aliases(synthesized)
    assert aliases["predict"][1]["Properties"]["ProvisionedConcurrencyConfig"] == {
        "ProvisionedConcurrentExecutions": 2
    }
    assert "ProvisionedConcurrencyConfig" not in aliases["authorizer"][1]["Properties"]
    predict = _functions(synthesized)["predict"][1]["Properties"]
    assert "SnapStart" not in predict
    assert predict["FileSystemConfigs"]  # provisioned containers keep the EFS cache


def test_the_default_is_on_demand_with_the_efs_cache(synthesized: Synthesized) -> None:
    functions = _functions(synthesized)
    for name in RELEASED:
        assert "SnapStart" not in functions[name][1]["Properties"]
        assert "ProvisionedConcurrencyConfig" not in _live_aliases(synthesized)[name][1]["Properties"]
    for name in ("predict", "health"):
        assert functions[name][1]["Properties"]["FileSystemConfigs"]


@pytest.mark.parametrize(
    ("cold_start", "error", "message"),
    [
        ({"health": "snapstart"}, ColdStartError,
         "coldStart.health is 'snapstart', but health mounts the EFS model cache and SnapStart does not"),
        ({"predict": "snapstart+provisioned:2"}, ColdStartError,
         "SnapStart and provisioned concurrency cannot be combined"),
        ({"predict": "warm"}, ContextError, "coldStart.predict must be none, snapstart or provisioned:N"),
        ({"predict": "provisioned:0"}, ContextError, "coldStart.predict must be an integer between 1 and"),
        ({"canary": "snapstart"}, ContextError, "coldStart must be an object with keys among authorizer"),
    ],
)  # fmt: skip
def test_impossible_cold_start_modes_fail_synth_with_one_message(
    tmp_path: Path, cold_start: dict[str, str], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        synthesize(tmp_path / "cdk.out", coldStart=cold_start)


def test_the_other_modes_stay_cdk_nag_and_cfn_lint_clean(tmp_path: Path) -> None:
    """The default synth is checked in test_compliance; these are the templates the switches make."""
    synthesized = synthesize(
        tmp_path / "cdk.out",
        coldStart={"predict": "snapstart", "health": "snapstart", "authorizer": "provisioned:2"},
        deployment={"strategy": "linear", "percentage": 25, "intervalMinutes": 1},
    )
    for stack in STACK_IDS:
        assert _entries(synthesized, stack, "aws:cdk:error") == []
        assert _entries(synthesized, stack, "aws:cdk:warning") == []
    findings = cfn_lint_findings(synthesized)
    assert [f for f in findings if f["Level"] == "Error"] == []
    assert {f["Rule"]["Id"] for f in findings if f["Level"] == "Warning"} <= {"W3005"}
