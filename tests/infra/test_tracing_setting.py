"""Tracing is one setting (issue 24): the context's ``tracing`` and ``tracingLayerArn`` decide every
function's Lambda tracing, its ``HOKUSAI_TRACING`` and the tracing layer with its wrapper, together."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.infra.conftest import Synthesized, synthesize

LAYER = "arn:aws:lambda:eu-west-1:123456789012:layer:AWSOpenTelemetryDistroPython:5"
TRACED = ("authorizer", "predict", "health", "pre-traffic", "canary")
UNTRACED = ("revocation", "canary-key")


def _functions(synthesized: Synthesized) -> dict[str, dict]:
    found = {}
    for stack in ("HokusaiService", "HokusaiMonitoring"):
        for resource in synthesized.resources(stack, "AWS::Lambda::Function").values():
            name = str(resource["Properties"].get("FunctionName", ""))
            if name.startswith("hokusai-"):
                found[name.removeprefix("hokusai-")] = resource["Properties"]
    return found


@pytest.fixture(scope="module")
def with_layer(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("traced"), tracingLayerArn=LAYER)


@pytest.fixture(scope="module")
def off(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("off"), tracing="off")


def test_on_with_the_layer_gives_every_traced_function_the_sdk_and_the_rest_nothing(
    with_layer: Synthesized,
) -> None:
    functions = _functions(with_layer)
    for name in TRACED:
        properties = functions[name]
        variables = properties["Environment"]["Variables"]
        assert properties["TracingConfig"] == {"Mode": "Active"}, name
        assert variables["HOKUSAI_TRACING"] == "true", name
        assert variables["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/otel-instrument", name
        assert LAYER in properties["Layers"], name
    for name in UNTRACED:
        properties = functions[name]
        assert properties.get("TracingConfig", {"Mode": "PassThrough"}) != {"Mode": "Active"}, name
        assert properties["Environment"]["Variables"]["HOKUSAI_TRACING"] == "false", name
        assert "AWS_LAMBDA_EXEC_WRAPPER" not in properties["Environment"]["Variables"], name
        assert LAYER not in properties.get("Layers", []), name


def test_off_turns_every_function_off(off: Synthesized) -> None:
    for name, properties in _functions(off).items():
        assert properties.get("TracingConfig", {"Mode": "PassThrough"}) != {"Mode": "Active"}, name
        assert properties["Environment"]["Variables"]["HOKUSAI_TRACING"] == "false", name


def test_a_bad_setting_stops_synth_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="tracing"):
        synthesize(tmp_path / "a", tracing="xray")
    with pytest.raises(Exception, match="tracingLayerArn"):
        synthesize(tmp_path / "b", tracingLayerArn="otel-layer")
