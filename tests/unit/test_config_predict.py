"""PredictSettings: defaults, the agreed variables, and one rejection per bad value (named in the error)."""

from __future__ import annotations

import json

import pytest
from hokusai.config import ConfigError, PredictSettings

SPEC = {
    "repo_id": "hokusai/lead-scorer",
    "revision": "c" * 40,
    "filename": "lead_scorer.skops",
    "sha256": "d" * 64,
    "version": "1.0.0",
}
BASE = {"MODEL_REGISTRY": json.dumps({"21": SPEC})}


def test_defaults_when_only_the_registry_is_set() -> None:
    settings = PredictSettings.from_env(BASE)
    assert list(settings.registry) == ["21"]
    assert settings.registry["21"].revision == "c" * 40
    assert settings.model_cache_dir is None
    assert settings.model_bucket is None
    assert settings.model_bucket_prefix == "models/"
    assert settings.hf_token_secret_arn is None
    assert settings.hf_endpoint is None
    assert settings.hf_download_timeout_ms == 10_000
    assert settings.allow_pickle is False


def test_every_agreed_variable_is_read() -> None:
    settings = PredictSettings.from_env(
        {
            **BASE,
            "MODEL_CACHE_DIR": "/mnt/models",
            "MODEL_BUCKET": "model-cache",
            "MODEL_BUCKET_PREFIX": "cache/",
            "HF_TOKEN_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:hf-token",
            "HF_ENDPOINT": "http://127.0.0.1:8080",
            "HF_HOME": "/tmp/hub-home",
            "HF_DOWNLOAD_TIMEOUT_MS": "2500",
            "MAX_BATCH_SIZE": "7",
            "MAX_BODY_BYTES": "1024",
            "ALLOW_PICKLE": "true",
        }
    )
    assert settings.model_cache_dir == "/mnt/models"
    assert settings.model_bucket == "model-cache"
    assert settings.model_bucket_prefix == "cache/"
    assert settings.hf_token_secret_arn == "arn:aws:secretsmanager:eu-west-1:123456789012:secret:hf-token"
    assert settings.hf_endpoint == "http://127.0.0.1:8080"
    assert settings.hf_home == "/tmp/hub-home"
    assert settings.hf_download_timeout_ms == 2500
    assert settings.max_batch_size == 7
    assert settings.max_body_bytes == 1024
    assert settings.allow_pickle is True


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MODEL_REGISTRY", None),
        ("MODEL_REGISTRY", "{not json"),
        ("MODEL_REGISTRY", json.dumps({"21": {**SPEC, "revision": "main"}})),
        ("HF_ENDPOINT", "hub.internal"),
        ("HF_DOWNLOAD_TIMEOUT_MS", "0"),
        ("HF_DOWNLOAD_TIMEOUT_MS", "soon"),
        ("MAX_BATCH_SIZE", "-3"),
        ("MAX_BODY_BYTES", "big"),
        ("ALLOW_PICKLE", "maybe"),
    ],
)
def test_bad_values_fail_naming_the_variable(variable: str, value: str | None) -> None:
    environ = {**BASE, variable: value} if value is not None else {}
    with pytest.raises(ConfigError) as caught:
        PredictSettings.from_env(environ)
    assert caught.value.variable == variable
    assert variable in str(caught.value)
