"""HealthSettings and CanarySettings: defaults, and each rejection names its variable."""

from __future__ import annotations

import json

import pytest
from hokusai.config import CanarySettings, ConfigError, HealthSettings

HEALTH_BASE = {"KEYS_TABLE_NAME": "hokusai-keys"}
REGISTRY = json.dumps(
    {
        "21": {
            "repo_id": "acme/lead-scorer",
            "revision": "a" * 40,
            "filename": "model.skops",
            "sha256": "b" * 64,
        }
    }
)
CANARY_BASE = {
    "API_BASE_URL": "https://abc123.execute-api.eu-west-1.amazonaws.com/api/",
    "EXPECTED_STATE_PARAMETER": "/hokusai/expected-state",
}


def test_health_defaults() -> None:
    settings = HealthSettings.from_env(HEALTH_BASE)
    assert settings.deadline_ms == 300
    assert settings.version == "1.0.0"
    assert settings.model_registry_json is None
    assert settings.model_cache_dir is None
    assert settings.model_bucket is None
    assert settings.model_bucket_prefix == "models/"
    assert settings.redis.url is None
    assert settings.keys_table.table_name == "hokusai-keys"


def test_health_reads_model_locations() -> None:
    settings = HealthSettings.from_env(
        {
            **HEALTH_BASE,
            "HEALTH_DEADLINE_MS": "250",
            "SERVICE_VERSION": "2.1.0",
            "MODEL_REGISTRY": REGISTRY,
            "MODEL_CACHE_DIR": "/mnt/models/",
            "MODEL_BUCKET": "hokusai-models",
            "MODEL_BUCKET_PREFIX": "cache/",
        }
    )
    assert settings.deadline_ms == 250
    assert settings.version == "2.1.0"
    assert settings.model_registry_json == REGISTRY
    assert settings.model_cache_dir == "/mnt/models"
    assert settings.model_bucket == "hokusai-models"
    assert settings.model_bucket_prefix == "cache/"


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("HEALTH_DEADLINE_MS", "0", "positive integer"),
        ("HEALTH_DEADLINE_MS", "fast", "positive integer"),
        ("MODEL_REGISTRY", "{not json", "valid JSON"),
        ("MODEL_REGISTRY", "[]", "non-empty JSON object"),
        ("MODEL_REGISTRY", "{}", "non-empty JSON object"),
        ("MODEL_CACHE_DIR", "mnt/models", "absolute path"),
        ("REDIS_URL", "cache.internal:6379", "redis://"),
    ],
)
def test_health_rejections_name_the_variable(variable: str, value: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        HealthSettings.from_env({**HEALTH_BASE, variable: value})
    assert caught.value.variable == variable
    assert expected in str(caught.value)


def test_health_requires_the_keys_table() -> None:
    with pytest.raises(ConfigError) as caught:
        HealthSettings.from_env({})
    assert caught.value.variable == "KEYS_TABLE_NAME"


def test_canary_defaults_and_trailing_slash() -> None:
    settings = CanarySettings.from_env(CANARY_BASE)
    assert settings.api_base_url == "https://abc123.execute-api.eu-west-1.amazonaws.com/api"
    assert settings.expected_state_parameter == "/hokusai/expected-state"
    assert settings.canary_key_secret_arn is None
    assert settings.alert_topic_arn is None
    assert settings.canary_model_id == "21"
    assert settings.timeout_ms == 2000


def test_canary_reads_everything() -> None:
    settings = CanarySettings.from_env(
        {
            **CANARY_BASE,
            "CANARY_KEY_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:canary-key-AbCdEf",
            "ALERT_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:hokusai-alerts",
            "CANARY_MODEL_ID": "22",
            "CANARY_TIMEOUT_MS": "1500",
        }
    )
    assert settings.canary_key_secret_arn is not None
    assert settings.alert_topic_arn == "arn:aws:sns:eu-west-1:123456789012:hokusai-alerts"
    assert settings.canary_model_id == "22"
    assert settings.timeout_ms == 1500


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("API_BASE_URL", "", "non-empty"),
        ("API_BASE_URL", "abc123.execute-api.eu-west-1.amazonaws.com/api", "http:// or https://"),
        ("EXPECTED_STATE_PARAMETER", "", "non-empty"),
        ("ALERT_TOPIC_ARN", "hokusai-alerts", "SNS topic ARN"),
        ("CANARY_KEY_SECRET_ARN", "canary-key", "Secrets Manager secret ARN"),
        ("CANARY_MODEL_ID", "21/../admin", "model id"),
        ("CANARY_TIMEOUT_MS", "-5", "positive integer"),
    ],
)
def test_canary_rejections_name_the_variable(variable: str, value: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        CanarySettings.from_env({**CANARY_BASE, variable: value})
    assert caught.value.variable == variable
    assert expected in str(caught.value)


def test_canary_for_the_doctor_needs_nothing_from_the_environment() -> None:
    settings = CanarySettings.from_env({}, require_all=False)
    assert settings.api_base_url is None
    assert settings.expected_state_parameter is None
