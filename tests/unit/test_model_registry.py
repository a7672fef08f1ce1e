from __future__ import annotations

import json
from pathlib import Path

import pytest
from hokusai.config import ConfigError, PredictSettings
from hokusai.models.registry import ModelSpec, efs_path, parse_registry, s3_key

ROOT = Path(__file__).resolve().parents[2]
GOOD = {
    "repo_id": "hokusai/lead-scorer",
    "revision": "a" * 40,
    "filename": "lead_scorer.skops",
    "sha256": "b" * 64,
    "version": "1.0.0",
}


def test_committed_registry_parses_and_pins_model_21() -> None:
    registry = parse_registry((ROOT / "model" / "registry.json").read_text())
    assert set(registry) == {"21"}
    assert registry["21"].format == "skops"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"revision": "main"}, "40-hex commit"),
        ({"sha256": "abc"}, "sha256"),
        ({"filename": "../etc/passwd"}, "filename without a path"),
        ({"repo_id": "no-owner"}, "owner/name"),
        ({"format": "onnx"}, "format one of"),
        ({"version": ""}, "version"),
        # A trailing newline: re.match with ^...$ accepted each of these.
        ({"revision": "a" * 40 + "\n"}, "40-hex commit"),
        ({"sha256": "b" * 64 + "\n"}, "sha256"),
        ({"filename": "lead_scorer.skops\n"}, "filename without a path"),
        ({"repo_id": "hokusai/lead-scorer\n"}, "owner/name"),
    ],
)
def test_bad_entries_name_the_variable_and_the_problem(change: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_registry({"21": {**GOOD, **change}})
    assert caught.value.variable == "MODEL_REGISTRY"
    assert expected in str(caught.value)


def test_a_model_id_with_a_trailing_newline_is_refused() -> None:
    with pytest.raises(ConfigError, match="model ids made of letters"):
        parse_registry({"21\n": GOOD})


@pytest.mark.parametrize("raw", ["", "not json", "[]", "{}", '{"21": "x"}'])
def test_malformed_registry_json(raw: str) -> None:
    with pytest.raises(ConfigError, match="MODEL_REGISTRY"):
        PredictSettings.from_env({"MODEL_REGISTRY": raw})


def test_cache_locations() -> None:
    spec = ModelSpec("21", "x", "o/n", "a" * 40, "m.skops", "b" * 64, "1")
    assert s3_key(spec, "models/") == f"models/21/{'a' * 40}/m.skops"
    assert s3_key(spec, "cache") == f"cache/21/{'a' * 40}/m.skops"
    assert efs_path(spec, "/mnt/models/") == f"/mnt/models/21/{'a' * 40}/m.skops"


def test_predict_settings_defaults_and_rejections() -> None:
    base = {"MODEL_REGISTRY": json.dumps({"21": GOOD})}
    settings = PredictSettings.from_env(base)
    assert settings.max_batch_size == 100
    assert settings.allow_pickle is False
    assert settings.hf_home == "/tmp/hf"
    for variable, value in [
        ("MAX_BATCH_SIZE", "0"),
        ("MAX_BODY_BYTES", "big"),
        ("HF_DOWNLOAD_TIMEOUT_MS", "-1"),
        ("ALLOW_PICKLE", "maybe"),
        ("HF_ENDPOINT", "hub.internal"),
    ]:
        with pytest.raises(ConfigError) as caught:
            PredictSettings.from_env({**base, variable: value})
        assert caught.value.variable == variable
