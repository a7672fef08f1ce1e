"""One start-up pattern (hokusai.startup) for the four handlers: a bad configuration never crashes the
import; it is logged once as an ERROR naming the variable, and each invocation answers with it (503
for the API functions, a failed run for the canary)."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from hokusai.environment import ConfigError
from hokusai.startup import Startup

from local.handlers import LambdaContext, load_event, load_handler

BAD_TIMEOUT = "REDIS_TIMEOUT_MS"


def _error_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The ERROR records logged since the last call, as message + extra fields."""
    lines = [
        {"message": record.getMessage(), **{k: v for k, v in vars(record).items() if k == "variable"}}
        for record in caplog.records
        if record.levelno >= logging.ERROR
    ]
    caplog.clear()
    return lines


def load_with_bad_timeout(function: str, value: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """functions/<function>/handler.py imported with its keys table set and BAD_TIMEOUT = ``value``."""
    monkeypatch.setenv("KEYS_TABLE_NAME", "keys")
    monkeypatch.setenv(BAD_TIMEOUT, value)
    return load_handler(function)


def test_startup_builds_once_and_repeats_the_same_error() -> None:
    calls: list[int] = []

    def build() -> str:
        calls.append(1)
        return "built"

    startup = Startup("f", build, logging.getLogger("t"))
    assert (startup.get(), startup.get()) == ("built", "built")
    assert calls == [1]

    def broken() -> str:
        calls.append(2)
        raise ConfigError("X_MS", "a positive integer", "0")

    failing = Startup("f", broken, logging.getLogger("t"))
    failing.prime()  # swallowed at init
    for _ in range(2):
        with pytest.raises(ConfigError) as refused:
            failing.get()
        assert refused.value.variable == "X_MS"
    assert calls == [1, 2]  # not rebuilt per request


def test_predict_answers_503_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("MODEL_REGISTRY", "{not json")
    handler = load_handler("predict")  # the import itself does not raise
    errors = _error_lines(caplog)
    assert [e["variable"] for e in errors] == ["MODEL_REGISTRY"]
    for _ in range(2):
        answer = handler.lambda_handler(load_event("predict_seed.json"), LambdaContext())
        body = json.loads(answer["body"])
        assert answer["statusCode"] == 503
        assert body["detail"].startswith(
            "Service misconfigured: Invalid configuration: MODEL_REGISTRY must be"
        )
    assert _error_lines(caplog) == []  # logged once, at start-up


def test_health_answers_503_with_the_configuration_check_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    handler = load_with_bad_timeout("health", "soon", monkeypatch)
    assert [e["variable"] for e in _error_lines(caplog)] == [BAD_TIMEOUT]
    answer = handler.lambda_handler(load_event("health_get.json"), LambdaContext())
    body = json.loads(answer["body"])
    assert answer["statusCode"] == 503
    assert body["checks"]["configuration"] == {
        "status": "unhealthy",
        "duration_ms": 0.0,
        "reason": f"Invalid configuration: {BAD_TIMEOUT} must be a positive integer of milliseconds"
        " (got 'soon')",
    }
    assert answer["headers"]["X-Request-ID"] == "health-probe-1"  # the client's, safe to echo
    event = load_event("health_unknown_path.json")
    event["headers"] = {"X-Request-ID": "not safe\r\n"}
    missing = handler.lambda_handler(event, LambdaContext())
    assert missing["statusCode"] == 404
    gateway_id = event["requestContext"]["requestId"]
    assert missing["headers"]["X-Request-ID"] == json.loads(missing["body"])["request_id"] == gateway_id


def test_authorizer_fails_closed_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    handler = load_with_bad_timeout("authorizer", "0", monkeypatch)
    assert _error_lines(caplog) == []  # built on the first invocation, not at import
    event = load_event("authorizer_predict_bearer.json")
    for _ in range(2):
        with pytest.raises(handler.AuthorizerUnavailable, match=f"invalid configuration: {BAD_TIMEOUT}"):
            handler.lambda_handler(event, LambdaContext())
    assert [e["variable"] for e in _error_lines(caplog) if "variable" in e] == [BAD_TIMEOUT]


def test_canary_run_fails_with_an_error_log(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("API_BASE_URL", raising=False)
    monkeypatch.setenv("EXPECTED_STATE_PARAMETER", "/hokusai/expected-state")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    handler = load_handler("canary")
    assert [e["variable"] for e in _error_lines(caplog)] == ["API_BASE_URL"]
    with pytest.raises(ConfigError) as refused:
        handler.lambda_handler(load_event("canary_schedule.json"), LambdaContext())
    assert refused.value.variable == "API_BASE_URL"
    failed_runs = [e for e in _error_lines(caplog) if e["message"].startswith("Canary run failed")]
    assert [e["variable"] for e in failed_runs] == ["API_BASE_URL"]
