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
CANARY_KEY_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:canary-key-AbCdEf"
CANARY_EVERY_VARIABLE = {
    **CANARY_BASE,
    "CANARY_KEY_SECRET_ARN": CANARY_KEY_ARN,
    "ALERT_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:hokusai-alerts",
    "CANARY_MODEL_ID": "22",
    "CANARY_TIMEOUT_MS": "1500",
}


BASES: dict[type, dict[str, str]] = {HealthSettings: HEALTH_BASE, CanarySettings: CANARY_BASE}


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
    settings = CanarySettings.from_env(CANARY_EVERY_VARIABLE)
    assert settings.api_base_url == "https://abc123.execute-api.eu-west-1.amazonaws.com/api"
    assert settings.expected_state_parameter == "/hokusai/expected-state"
    assert settings.canary_key_secret_arn == CANARY_KEY_ARN
    assert settings.alert_topic_arn == "arn:aws:sns:eu-west-1:123456789012:hokusai-alerts"
    assert settings.canary_model_id == "22"
    assert settings.timeout_ms == 1500


@pytest.mark.parametrize(
    ("settings_class", "variable", "value", "expected"),
    [
        (HealthSettings, "HEALTH_DEADLINE_MS", "0", "positive integer"),
        (HealthSettings, "HEALTH_DEADLINE_MS", "fast", "positive integer"),
        (HealthSettings, "MODEL_REGISTRY", "{not json", "valid JSON"),
        (HealthSettings, "MODEL_REGISTRY", "[]", "non-empty JSON object"),
        (HealthSettings, "MODEL_REGISTRY", "{}", "non-empty JSON object"),
        (HealthSettings, "MODEL_CACHE_DIR", "mnt/models", "absolute path"),
        (HealthSettings, "REDIS_URL", "cache.internal:6379", "redis://"),
        (CanarySettings, "API_BASE_URL", "", "non-empty"),
        (
            CanarySettings,
            "API_BASE_URL",
            "abc123.execute-api.eu-west-1.amazonaws.com/api",
            "http:// or https://",
        ),
        (CanarySettings, "EXPECTED_STATE_PARAMETER", "", "non-empty"),
        (CanarySettings, "ALERT_TOPIC_ARN", "hokusai-alerts", "SNS topic ARN"),
        (CanarySettings, "CANARY_KEY_SECRET_ARN", "canary-key", "Secrets Manager secret ARN"),
        (CanarySettings, "CANARY_MODEL_ID", "21/../admin", "model id"),
        (CanarySettings, "CANARY_TIMEOUT_MS", "-5", "positive integer"),
    ],
)
def test_rejections_name_the_variable(
    settings_class: type[HealthSettings | CanarySettings], variable: str, value: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_class.from_env({**BASES[settings_class], variable: value})
    assert caught.value.variable == variable
    assert expected in str(caught.value)
    assert variable in str(caught.value)


def test_canary_for_the_doctor_needs_nothing_from_the_environment() -> None:
    settings = CanarySettings.from_env({}, require_all=False)
    assert settings.api_base_url is None
    assert settings.expected_state_parameter is None
