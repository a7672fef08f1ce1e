"""The canary handler end to end: real HTTP against the real API (the local stack's functions behind
the API Gateway emulator), drift against moto, EMF metrics on stdout, and the SNS message read back
through SQS. Failures the real handlers cannot produce (every route 500, a slow, redirecting or
trickling answer, a missing 401) come from the ``api`` pipe's faults (tests/integration/conftest.py);
an unhealthy or degraded health is the real one, with the stack's Redis or local AWS stopped."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from hokusai.drift.findings import Kind

from local.deployment import Deployment
from local.handlers import LambdaContext, load_event, load_handler
from local.moto_server import MotoServer
from local.stack import LocalStack
from tests.integration.conftest import FaultyPipe, wait_until_healthy

CanaryRun = tuple[dict[str, Any], dict[str, float], str]  # (result, EMF metrics, stdout)
Canary = Callable[..., CanaryRun]


@pytest.fixture
def canary(
    deployment: Deployment,
    api: FaultyPipe,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Canary:
    """One scheduled run of the canary handler, configured as the stack configures it, against
    ``deployment`` and the API behind ``api``: ``canary(timeout_ms=2000) -> (result, metrics, stdout)``."""

    def run(timeout_ms: int = 2000) -> CanaryRun:
        for name, value in deployment.canary_env(api.base_url).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("CANARY_TIMEOUT_MS", str(timeout_ms))
        monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "hokusai-canary")
        handler = load_handler("canary")
        capsys.readouterr()
        result = handler.lambda_handler(load_event("canary_schedule.json"), LambdaContext())
        output = capsys.readouterr().out
        return result, emf_metrics(output), output

    return run


def emf_metrics(output: str) -> dict[str, float]:
    """Metric name -> value from the EMF blobs Powertools printed."""
    values: dict[str, float] = {}
    for line in output.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        blob = json.loads(line)
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                value = blob[metric["Name"]]
                values[metric["Name"]] = value[0] if isinstance(value, list) else value
    return values


def test_healthy_run_metrics_all_pass_and_no_message(
    canary: Canary, deployment: Deployment, api: FaultyPipe
) -> None:
    result, metrics, output = canary()
    assert result["critical"] == 0 and result["warnings"] == 0 and result["findings"] == []
    assert result["sns_message_id"] is None
    for check in ("Health", "Predict", "Unauthenticated"):
        assert metrics[f"Synthetic{check}Success"] == 1
        assert 0 < metrics[f"Synthetic{check}Latency"] < 2000
    for kind in Kind:
        assert metrics[kind.metric_name] == 0, kind
    assert metrics["DriftCritical"] == 0 and metrics["DriftWarning"] == 0
    assert deployment.received_alerts() == []
    # The predict call carried the key from Secrets Manager; the unauthenticated one did not.
    posts = [valid for method, path, valid in api.requests if method == "POST"]
    assert posts == [True, False]
    assert deployment.canary_api_key not in output


def test_api_answering_500_fails_every_synthetic_check_and_alerts(
    canary: Canary, deployment: Deployment, api: FaultyPipe
) -> None:
    api.fail_status = 500
    result, metrics, output = canary()
    assert metrics["SyntheticHealthSuccess"] == 0
    assert metrics["SyntheticPredictSuccess"] == 0
    assert metrics["SyntheticUnauthenticatedSuccess"] == 0
    assert metrics["DriftSyntheticFailed"] == 3
    assert result["critical"] == 3
    reasons = [f["detail"] for f in result["findings"]]
    assert any("health check failed: HTTP 500" in r for r in reasons)
    assert any("predict check failed: HTTP 500" in r for r in reasons)
    assert any("unauthenticated check failed: HTTP 500 instead of 401" in r for r in reasons)
    alerts = deployment.received_alerts()
    assert len(alerts) == 1
    assert "synthetic_failed" in alerts[0]["Message"]
    assert deployment.canary_api_key not in alerts[0]["Message"]
    assert deployment.canary_api_key not in output


def test_slow_api_fails_on_the_timeout_with_the_latency_recorded(canary: Canary, api: FaultyPipe) -> None:
    api.delay_seconds = 1.0
    result, metrics, _ = canary(timeout_ms=300)
    for check in ("Health", "Predict", "Unauthenticated"):
        assert metrics[f"Synthetic{check}Success"] == 0
        assert 290 <= metrics[f"Synthetic{check}Latency"] < 900  # gave up at the timeout, not at 1 s
    assert all("timed out" in f["detail"] for f in result["findings"])


def test_api_without_401_fails_the_unauthenticated_check_only(canary: Canary, api: FaultyPipe) -> None:
    api.require_key = False
    result, metrics, _ = canary()
    assert metrics["SyntheticHealthSuccess"] == 1
    assert metrics["SyntheticPredictSuccess"] == 1
    assert metrics["SyntheticUnauthenticatedSuccess"] == 0
    assert len(result["findings"]) == 1
    assert "answered a request WITHOUT an API key" in result["findings"][0]["detail"]


def test_degraded_health_passes(canary: Canary, api: FaultyPipe, stack_redis: Any) -> None:
    stack_redis.kill()  # the functions' Redis is gone: health says degraded, the authorizer uses DynamoDB
    health = requests.get(f"{api.base_url}/health", timeout=10)
    assert (health.status_code, health.json()["status"]) == (200, "degraded"), health.text
    result, metrics, _ = canary()
    assert metrics["SyntheticHealthSuccess"] == 1
    assert result["findings"] == []  # serving: nothing to alert on


def test_unhealthy_health_fails_naming_the_check(canary: Canary, stack: LocalStack) -> None:
    # The functions' local AWS is down (the keys table unreachable for health); the canary's own AWS
    # (the session's moto server, same state) still answers, so the drift checks still run.
    stack.aws.stop()
    try:
        result, metrics, _ = canary()
    finally:
        stack.aws.start()
    wait_until_healthy(stack)
    assert metrics["SyntheticHealthSuccess"] == 0
    assert "HTTP 503 unhealthy" in result["findings"][0]["detail"]
    assert "keys_table" in result["findings"][0]["detail"]


def test_drift_and_synthetic_failures_land_in_one_message(
    canary: Canary, deployment: Deployment, api: FaultyPipe
) -> None:
    deployment.remove_rule("redis", 6379)
    deployment.empty_secret("hf_token")
    api.require_key = False
    result, metrics, _ = canary()
    assert metrics["DriftSGRuleMissing"] == 1
    assert metrics["DriftSecretEmpty"] == 1
    assert metrics["DriftSyntheticFailed"] == 1
    assert metrics["DriftCritical"] == 3
    alerts = deployment.received_alerts()
    assert len(alerts) == 1
    for finding in result["findings"]:
        assert finding["fix"] in alerts[0]["Message"]


def test_unreadable_canary_key_fails_predict_but_not_the_run(canary: Canary, deployment: Deployment) -> None:
    deployment.delete_secret("canary_key", force=True)
    result, metrics, _ = canary()
    assert metrics["SyntheticPredictSuccess"] == 0
    assert metrics["SyntheticHealthSuccess"] == 1
    assert metrics["SyntheticUnauthenticatedSuccess"] == 1
    kinds = sorted(f["kind"] for f in result["findings"])
    assert kinds == ["secret_missing", "synthetic_failed"]


def test_missing_configuration_fails_every_run_naming_the_variable(
    moto_env: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hokusai.config import ConfigError

    monkeypatch.delenv("EXPECTED_STATE_PARAMETER", raising=False)
    monkeypatch.setenv("API_BASE_URL", "http://127.0.0.1:9/api")
    handler = load_handler("canary")  # a bad configuration never crashes the import (hokusai.startup)
    with pytest.raises(ConfigError, match="EXPECTED_STATE_PARAMETER") as refused:
        handler.lambda_handler(load_event("canary_schedule.json"), LambdaContext())
    assert refused.value.variable == "EXPECTED_STATE_PARAMETER"


def test_redirect_is_reported_not_followed(canary: Canary, api: FaultyPipe) -> None:
    api.redirect_to = "https://elsewhere.example/api/health"
    result, metrics, _ = canary()
    assert metrics["SyntheticHealthSuccess"] == 0
    assert any("health check failed: HTTP 301" in f["detail"] for f in result["findings"])
    assert len(api.requests) == 3  # nothing followed the redirect


def test_trickling_answer_is_cut_at_the_total_deadline(canary: Canary, api: FaultyPipe) -> None:
    api.trickle = True  # every byte within the per-read timeout, the whole answer far beyond it
    started = time.perf_counter()
    result, metrics, _ = canary(timeout_ms=500)
    assert time.perf_counter() - started < 6  # three requests of 500 ms plus drift, not 3 x 10 s
    assert metrics["SyntheticHealthSuccess"] == 0
    assert 490 <= metrics["SyntheticHealthLatency"] < 1000
    assert any("timed out after 0.5 s" in f["detail"] for f in result["findings"])
