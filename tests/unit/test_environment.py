"""One declaration per variable (hokusai/environment.py), and everything derived from it agrees."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from hokusai import environment
from hokusai.config import (
    AuthorizerSettings,
    CanarySettings,
    ConfigError,
    HealthSettings,
    KeysTableSettings,
    PredictSettings,
    PreTrafficSettings,
    RedisSettings,
    RevocationSettings,
)
from hokusai.drift.expected import FUNCTION_ENV, FUNCTION_SECRETS
from hokusai.environment import (
    VARIABLES,
    Deploy,
    EnvironmentDeclarationError,
    function_environment,
    markdown_table,
    variable,
)

from local.docs import concurrency_paragraph, deploy_concurrency, readme_table
from local.stack import EMBEDDED_DEFAULTS

REGISTRY = (
    '{"21": {"repo_id": "hokusai/lead-scorer", "revision": "' + "a" * 40 + '", '
    '"filename": "model.skops", "sha256": "' + "b" * 64 + '", "version": "1.0.0"}}'
)
# The smallest environment each settings class accepts (its required variables).
MINIMAL = {
    "authorizer": {"KEYS_TABLE_NAME": "keys"},
    "predict": {"MODEL_REGISTRY": REGISTRY},
    "health": {"KEYS_TABLE_NAME": "keys"},
    "canary": {"API_BASE_URL": "https://api.example.com/api", "EXPECTED_STATE_PARAMETER": "/hokusai/x"},
    "revocation": {},
    "pre_traffic": {
        f"RELEASE_{function.upper()}_VERSION": f"arn:aws:lambda:eu-west-1:1:function:h-{function}:7"
        for function in ("authorizer", "predict", "health")
    },
}
READERS = {
    "authorizer": AuthorizerSettings.from_env,
    "predict": PredictSettings.from_env,
    "health": HealthSettings.from_env,
    "canary": CanarySettings.from_env,
    "revocation": RevocationSettings.from_env,
    "pre_traffic": PreTrafficSettings.from_env,
}


class RecordingEnviron(Mapping[str, str]):
    """An environment that remembers every name it was asked for."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = dict(values)
        self.asked: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.asked.add(name)
        return self.values[name]

    def get(self, name: str, default: object = None) -> object:  # type: ignore[override]
        self.asked.add(name)
        return self.values.get(name, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)


# Declared for the stack and the drift check, but read by others than the settings classes.
READ_ELSEWHERE = {
    "HOKUSAI_TRACING": "hokusai.tracing, at import",
    "OPENBLAS_NUM_THREADS": "numpy's OpenBLAS, at import",
    "AWS_LAMBDA_EXEC_WRAPPER": "the Lambda runtime, before the handler",
}


@pytest.mark.parametrize("function", environment.FUNCTIONS)
def test_each_function_reads_exactly_the_variables_declared_for_it(function: str) -> None:
    recording = RecordingEnviron(MINIMAL[function])
    READERS[function](recording)
    declared = {
        v.name
        for v in environment.read_by(function)
        if not v.name.startswith("POWERTOOLS_") and v.name not in READ_ELSEWHERE
    }
    assert recording.asked == declared


def test_dataclass_defaults_are_the_declared_defaults() -> None:
    redis = RedisSettings(url=None)
    assert (redis.timeout_ms, redis.connect_timeout_ms, redis.breaker_cooldown_ms) == (50, 50, 10_000)
    assert redis.key_prefix == "hokusai:"
    assert KeysTableSettings(table_name="t").max_attempts == 2
    from_env = AuthorizerSettings.from_env(MINIMAL["authorizer"])
    assert from_env.redis == RedisSettings(url=None)
    assert from_env.revocation_bound_seconds == 10 and from_env.l1_ttl_seconds is None


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("REDIS_TIMEOUT_MS", "0", "REDIS_TIMEOUT_MS must be a positive integer of milliseconds (got '0')"),
        ("AUTH_L1_TTL_SECONDS", "-1", "AUTH_L1_TTL_SECONDS must be a non-negative integer of seconds"),
        ("ALLOW_PICKLE", "maybe", "ALLOW_PICKLE must be one of true/false/1/0/yes/no/on/off"),
        ("REDIS_URL", "cache:6379", "REDIS_URL must be a URL starting with redis:// or rediss://"),
        ("ALERT_TOPIC_ARN", "topic", "ALERT_TOPIC_ARN must be an SNS topic ARN (arn:aws:sns:...)"),
        ("MODEL_CACHE_DIR", "mnt", "MODEL_CACHE_DIR must be an absolute path (the EFS mount"),
    ],
)
def test_a_bad_value_names_the_variable_and_the_expected_form(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        variable(name).parse({name: value})
    assert refused.value.variable == name
    assert str(refused.value).startswith(f"Invalid configuration: {message}")


def test_the_stack_environment_is_the_declared_one() -> None:
    values = {
        "POWERTOOLS_SERVICE_NAME": "hokusai-health",
        "KEYS_TABLE_NAME": "keys",
        "REDIS_URL": "rediss://cache:6379/0",
        "MODEL_REGISTRY": REGISTRY,
        "MODEL_CACHE_DIR": "/mnt/models",
        "MODEL_BUCKET": "models",
        "HEALTH_DEADLINE_MS": "250",
    }
    built = function_environment("health", values)
    assert built["HEALTH_DEADLINE_MS"] == "250"  # given
    assert built["REDIS_TIMEOUT_MS"] == "50"  # the declared default
    assert "AUTH_SERVICE_URL" not in built and "REDIS_AUTH_SECRET_ARN" not in built  # features not given
    assert sorted(built) == sorted([*FUNCTION_ENV["health"], "MODEL_CACHE_DIR"])  # the EFS cache: given
    # SnapStart (no EFS): the stack leaves MODEL_CACHE_DIR out, the drift check does not expect it.
    without_efs = {name: value for name, value in values.items() if name != "MODEL_CACHE_DIR"}
    assert sorted(function_environment("health", without_efs)) == sorted(FUNCTION_ENV["health"])
    s3_only = {"POWERTOOLS_SERVICE_NAME": "hokusai-predict", "MODEL_REGISTRY": REGISTRY, "MODEL_BUCKET": "m"}
    assert "MODEL_CACHE_DIR" not in function_environment("predict", s3_only)


def test_the_stack_cannot_set_what_a_function_does_not_read() -> None:
    with pytest.raises(EnvironmentDeclarationError, match="predict does not read REDIS_URL"):
        function_environment("predict", {"POWERTOOLS_SERVICE_NAME": "p", "MODEL_REGISTRY": REGISTRY,
                                         "REDIS_URL": "redis://r:6379"})  # fmt: skip


def test_the_stack_must_give_what_only_it_knows() -> None:
    with pytest.raises(EnvironmentDeclarationError, match="must give authorizer a value for KEYS_TABLE_NAME"):
        function_environment("authorizer", {"POWERTOOLS_SERVICE_NAME": "a", "REDIS_URL": "redis://r:6379"})


def test_a_literal_the_stack_gives_is_checked_at_synth() -> None:
    with pytest.raises(ConfigError, match="HEALTH_DEADLINE_MS"):
        function_environment("health", {"POWERTOOLS_SERVICE_NAME": "h", "KEYS_TABLE_NAME": "k",
                                        "REDIS_URL": "redis://r:6379", "MODEL_REGISTRY": REGISTRY,
                                        "MODEL_CACHE_DIR": "/mnt/models", "MODEL_BUCKET": "models",
                                        "HEALTH_DEADLINE_MS": "soon"})  # fmt: skip


def test_the_drift_check_expects_what_the_stack_sets() -> None:
    # The ALLOW_PICKLE disagreement (set by the stack, missing from the expectation) cannot recur.
    assert "ALLOW_PICKLE" in FUNCTION_ENV["predict"]
    assert FUNCTION_SECRETS == {
        "authorizer": {"REDIS_AUTH_SECRET_ARN": "redis_auth", "AUTH_CACHE_KEY_SECRET_ARN": "auth_cache_key"},
        "predict": {"HF_TOKEN_SECRET_ARN": "hf_token"},
        "health": {"REDIS_AUTH_SECRET_ARN": "redis_auth"},
        "canary": {"CANARY_KEY_SECRET_ARN": "canary_key"},
        "revocation": {"REDIS_AUTH_SECRET_ARN": "redis_auth"},
        "pre_traffic": {"CANARY_KEY_SECRET_ARN": "canary_key"},
    }
    # The stream consumer reaches Redis exactly as the authorizer does, and needs nothing else.
    # (and the tracing switch every function carries: off for it, hokusai/tracing.py).
    assert set(FUNCTION_ENV["revocation"]) == {
        name for name in FUNCTION_ENV["authorizer"] if name.startswith(("REDIS_", "POWERTOOLS_"))
    } | {"HOKUSAI_TRACING"}


def test_make_dev_starts_from_the_declared_defaults() -> None:
    for declared in VARIABLES:
        local_override = declared.name == "POWERTOOLS_SERVICE_NAME"
        if declared.default is not None and declared.deploy is not Deploy.NEVER and not local_override:
            assert EMBEDDED_DEFAULTS[declared.name] == declared.default, declared.name


def test_the_readme_table_is_the_declaration() -> None:
    assert readme_table() == markdown_table(), "README.md is stale: run `make docs`"


def test_no_secret_value_has_a_default_and_every_arn_variable_names_its_secret() -> None:
    for declared in VARIABLES:
        if declared.sensitive:
            assert declared.default is None and declared.deploy is Deploy.NEVER, declared.name
        if declared.name.endswith("_SECRET_ARN"):
            assert declared.arn_of is not None, declared.name


def test_the_deploy_guides_concurrency_totals_are_cdk_json() -> None:
    assert deploy_concurrency() == concurrency_paragraph(), "docs/deploy.md is stale: run `make docs`"


def test_the_concurrency_paragraph_adds_the_reservations_and_lambdas_unreserved_100(tmp_path: Path) -> None:
    cdk_json = tmp_path / "cdk.json"
    cdk_json.write_text(
        json.dumps({"context": {"reservedConcurrency": {"a": None, "predict": 50, "health": 10, "hook": 3}}})
    )
    paragraph = concurrency_paragraph(cdk_json)
    assert "reserves **63** executions (predict 50, health 10, hook 3; a unreserved)" in paragraph
    assert "quota must be at least **163**" in paragraph
