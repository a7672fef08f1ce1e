"""The second release deploys: nothing that an ordinary release replaces crosses a stack boundary.

CloudFormation refuses to change an export another stack imports ("Export ... cannot be updated as it
is in use by ..."). A release replaces every resource whose content is its identity: a LayerVersion
(new asset) and a function Version (new code). Before this test the common layer's ARN was a strong
export of the service stack imported by the monitoring stack (canary and canary-key functions), so the
first release after any change in the ``hokusai`` package failed in CloudFormation, never in a test.

Two synths, the second with one changed file inside the package, stand in for two releases.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import STACK_IDS, Synthesized, synthesize
from tests.infra.test_layer_manifest import fake_layer

# Resources that are replaced (new physical id) whenever their content changes, i.e. on a release.
REPLACED_ON_RELEASE = {"AWS::Lambda::LayerVersion", "AWS::Lambda::Version"}


def _walk(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def imported_export_names(template: dict[str, Any]) -> set[str]:
    return {
        node["Fn::ImportValue"]
        for node in _walk(template)
        if isinstance(node, dict) and isinstance(node.get("Fn::ImportValue"), str)
    }


def exports(template: dict[str, Any]) -> dict[str, Any]:
    """Export name -> the output's value expression."""
    return {
        output["Export"]["Name"]: output["Value"]
        for output in template.get("Outputs", {}).values()
        if "Export" in output
    }


def referenced_logical_ids(value: Any) -> set[str]:
    ids: set[str] = set()
    for node in _walk(value):
        if isinstance(node, dict):
            if isinstance(node.get("Ref"), str):
                ids.add(node["Ref"])
            attribute = node.get("Fn::GetAtt")
            if isinstance(attribute, list) and attribute:
                ids.add(str(attribute[0]))
    return ids


def imported_exports(synthesized: Synthesized) -> dict[str, tuple[str, Any]]:
    """Every export some other stack imports: name -> (producer stack, value expression)."""
    produced = {
        name: (stack, value) for stack in STACK_IDS for name, value in exports(synthesized.raw[stack]).items()
    }
    imported = set().union(*(imported_export_names(synthesized.raw[stack]) for stack in STACK_IDS))
    missing = imported - produced.keys()
    assert not missing, f"imports of exports no stack produces: {sorted(missing)}"
    return {name: produced[name] for name in imported}


def release_hazards(first: Synthesized, second: Synthesized) -> list[str]:
    """What would make the second release fail: an imported export whose value names a resource that
    is replaced on a release, or whose value changed between the two releases."""
    hazards = []
    before = imported_exports(first)
    after = imported_exports(second)
    for name, (stack, value) in sorted(after.items()):
        resources = second.raw[stack]["Resources"]
        for logical_id in sorted(referenced_logical_ids(value)):
            resource_type = resources.get(logical_id, {}).get("Type")
            if resource_type in REPLACED_ON_RELEASE:
                hazards.append(f"{name}: {stack} exports {resource_type} {logical_id}")
        unchanged = json.dumps(before.get(name, (stack, value))[1], sort_keys=True) == json.dumps(
            value, sort_keys=True
        )
        if not unchanged:
            hazards.append(f"{name}: value changed between releases")
    return hazards


def _release(root: Path, marker: str) -> dict[str, object]:
    """A built common layer whose hokusai package holds ``marker`` (a release's code change)."""
    common = fake_layer(root, "common", "arm64")
    package = common / "python" / "hokusai"
    package.mkdir()
    (package / "__init__.py").write_text(f'RELEASE = "{marker}"\n')
    fake_layer(root, "onnx", "arm64")  # predict's lean layer: the registry's model has an ONNX twin
    return {
        "hokusai:layerAssets": "build",
        "hokusai:layerDirs": {"common": str(root / "common"), "onnx": str(root / "onnx")},
    }


@pytest.fixture(scope="module")
def two_releases(tmp_path_factory: pytest.TempPathFactory) -> tuple[Synthesized, Synthesized]:
    root = tmp_path_factory.mktemp("releases")
    first = synthesize(root / "out1", **_release(root / "layers1", "1"))
    second = synthesize(root / "out2", **_release(root / "layers2", "2"))
    return first, second


@pytest.mark.slow
def test_the_release_really_changed_the_layers(two_releases: tuple[Synthesized, Synthesized]) -> None:
    """The premise: the changed package gives new LayerVersions (else the test below proves nothing)."""
    first, second = two_releases
    changed = 0
    for stack in STACK_IDS:
        before = first.resources(stack, "AWS::Lambda::LayerVersion")
        after = second.resources(stack, "AWS::Lambda::LayerVersion")
        assert before.keys() == after.keys()
        for logical_id, layer in after.items():
            # A LayerVersion keeps its logical id; a new Content (asset) is a replacement.
            if layer["Properties"]["Content"] != before[logical_id]["Properties"]["Content"]:
                changed += 1
    assert changed >= 1


@pytest.mark.slow
def test_no_imported_export_refers_to_what_a_release_replaces(
    two_releases: tuple[Synthesized, Synthesized],
) -> None:
    first, second = two_releases
    assert release_hazards(first, second) == []


def test_the_hazard_check_catches_an_exported_layer_version() -> None:
    """The check itself, on the shape of the template before the fix (service exports its layer)."""

    def template(layer_id: str) -> dict[str, Any]:
        return {
            "Resources": {layer_id: {"Type": "AWS::Lambda::LayerVersion"}},
            "Outputs": {"Layer": {"Value": {"Ref": layer_id}, "Export": {"Name": "svc:Layer"}}},
        }

    consumer = {"Resources": {"Fn": {"Properties": {"Layers": [{"Fn::ImportValue": "svc:Layer"}]}}}}
    raws = [
        {
            "HokusaiStateful": {"Resources": {}},
            "HokusaiService": template(layer),
            "HokusaiMonitoring": consumer,
        }
        for layer in ("CommonLayerA", "CommonLayerB")
    ]
    first, second = (Synthesized(None, Path(), {}, {}, raw) for raw in raws)
    assert release_hazards(first, second) == [
        "svc:Layer: HokusaiService exports AWS::Lambda::LayerVersion CommonLayerB",
        "svc:Layer: value changed between releases",
    ]
