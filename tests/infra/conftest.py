"""Synthesize the CDK app once for all of tests/infra (offline, no credentials, placeholder layers).

``hokusai:layerAssets=placeholder`` points both Lambda layers at layers/placeholder (test-only), so
these tests need neither the network nor `make layers`. Everything else is cdk.json's context.

Every synth here fails on an ``aws:cdk:error`` annotation (cdk-nag's findings among them), as the
CDK CLI does ("Synthesis finished with errors"). The app is synthesized in the three environments
it meets: environment-agnostic (`python app.py`), bound to the region the CLI passes without
credentials (``CDK_DEFAULT_REGION`` only), and bound to an account and a region (`-c account=...
-c region=...`, or the CLI with credentials); ``ENVIRONMENTS`` names them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
STACK_IDS = ("HokusaiStateful", "HokusaiService", "HokusaiMonitoring")
# name -> (context overrides, environment the CLI would pass)
ENVIRONMENTS: dict[str, tuple[dict[str, Any], dict[str, str]]] = {
    "agnostic": ({}, {}),
    "cli-without-credentials": ({}, {"CDK_DEFAULT_REGION": "us-east-1"}),
    "bound-ap-northeast-1": ({"account": "123456789012", "region": "ap-northeast-1"}, {}),
}


class SynthesisErrors(AssertionError):
    """``aws:cdk:error`` annotations: the CDK CLI would refuse this assembly."""


def cdk_json_context() -> dict[str, Any]:
    return dict(json.loads((ROOT / "cdk.json").read_text())["context"])


def context_for_tests(**overrides: Any) -> dict[str, Any]:
    return {**cdk_json_context(), "hokusai:layerAssets": "placeholder", **overrides}


@dataclass
class Synthesized:
    app: Any
    outdir: Path
    stacks: dict[str, Any]  # construct id -> Stack
    templates: dict[str, Any]  # construct id -> aws_cdk.assertions.Template
    raw: dict[str, dict[str, Any]]  # construct id -> template JSON

    def resources(self, stack: str, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.raw[stack]["Resources"].items()
            if resource["Type"] == resource_type
        }

    def function(self, stack: str, function_name: str) -> tuple[str, dict[str, Any]]:
        """(logical id, properties) of the function deployed as ``function_name``."""
        for logical_id, resource in self.resources(stack, "AWS::Lambda::Function").items():
            if resource["Properties"].get("FunctionName") == function_name:
                return logical_id, resource["Properties"]
        raise AssertionError(f"no function {function_name} in {stack}")

    def role_statements(self, stack: str, function_name: str) -> list[dict[str, Any]]:
        """Every statement of the inline policies on that function's role."""
        _, properties = self.function(stack, function_name)
        role = properties["Role"]["Fn::GetAtt"][0]
        return [
            statement
            for policy in self.resources(stack, "AWS::IAM::Policy").values()
            if {"Ref": role} in policy["Properties"]["Roles"]
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        ]

    def metadata(self, stack: str) -> dict[str, list[dict[str, Any]]]:
        """The stack's construct metadata (cdk-nag findings land here as aws:cdk:error/warning)."""
        return dict(json.loads((self.outdir / f"{stack}.metadata.json").read_text()))


def synthesis_errors(outdir: Path) -> list[str]:
    """Every ``aws:cdk:error`` annotation in the assembly, as ``path: first line``."""
    errors = []
    for metadata_file in sorted(outdir.glob("*.metadata.json")):
        for path, entries in json.loads(metadata_file.read_text()).items():
            errors += [
                f"{path}: {str(entry['data']).splitlines()[0]}"
                for entry in entries
                if entry["type"] == "aws:cdk:error"
            ]
    return errors


def synthesize(outdir: Path, environ: dict[str, str] | None = None, **overrides: Any) -> Synthesized:
    from aws_cdk import Stack
    from aws_cdk.assertions import Template

    from app import build_app

    app = build_app(context_for_tests(**overrides), environ=environ or {}, outdir=str(outdir))
    app.synth()
    errors = synthesis_errors(outdir)
    if errors:
        raise SynthesisErrors("\n".join(errors))
    stacks = {stack_id: app.node.find_child(stack_id) for stack_id in STACK_IDS}
    assert all(isinstance(stack, Stack) for stack in stacks.values())
    templates = {stack_id: Template.from_stack(stack) for stack_id, stack in stacks.items()}  # type: ignore[arg-type]
    raw = {stack_id: json.loads((outdir / f"{stack_id}.template.json").read_text()) for stack_id in STACK_IDS}
    return Synthesized(app, outdir, stacks, templates, raw)


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synthesized]:
    yield synthesize(tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="session", params=sorted(ENVIRONMENTS))
def synthesized_in_every_environment(
    request: pytest.FixtureRequest, synthesized: Synthesized, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Synthesized]:
    """The app as each of ``ENVIRONMENTS`` synthesizes it (the agnostic one is ``synthesized``)."""
    if request.param == "agnostic":
        yield synthesized
        return
    context, environ = ENVIRONMENTS[request.param]
    yield synthesize(tmp_path_factory.mktemp(f"cdk.out-{request.param}"), environ=environ, **context)
