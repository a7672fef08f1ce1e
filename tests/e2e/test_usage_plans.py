"""Per-key limits on the local stack: keys made by ``hokusai keys create --plan``, limited by the
emulator as API Gateway applies the key's usage plan (the authorizer's usageIdentifierKey)."""

from __future__ import annotations

import concurrent.futures
import os
import uuid
from collections.abc import Iterator

import pytest
import requests

from local.stack import LocalStack
from stacks.settings import UsagePlan
from tests.e2e.conftest import assert_error
from tests.helpers import run_python

PLANS = {
    "tiny": UsagePlan("tiny", rate_limit=1, burst_limit=1, quota_per_day=1000),
    "daily": UsagePlan("daily", rate_limit=100, burst_limit=100, quota_per_day=1),
}


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    started = LocalStack(
        name=f"hokusai-test-{uuid.uuid4().hex[:6]}",
        overrides={"POWERTOOLS_LOG_LEVEL": "WARNING"},
        usage_plans=PLANS,
    ).start()
    try:
        # Load the authorizer and predict with the canary's key (on no plan here: not limited).
        warm = requests.get(
            f"{started.base_url}/v1/models",
            headers={"X-API-Key": started.deployment.canary_api_key},
            timeout=60,
        )
        assert warm.status_code == 200, warm.text
        yield started
    finally:
        started.stop()


def cli_key(stack: LocalStack, plan: str) -> str:
    """``hokusai keys create --plan`` as an operator runs it against the local stack."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **stack.operator_env()}
    created = run_python(
        "-m",
        "hokusai.cli",
        "keys",
        "create",
        "--user",
        f"limits-{plan}",
        "--models",
        "21",
        "--plan",
        plan,
        env=env,
    )
    assert created.returncode == 0, created.stderr
    return created.stdout.strip()


def test_a_key_over_its_plans_rate_gets_429_with_retry_after(stack: LocalStack) -> None:
    api_key = cli_key(stack, "tiny")

    def models() -> requests.Response:
        return requests.get(f"{stack.base_url}/v1/models", headers={"X-API-Key": api_key}, timeout=30)

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: models(), range(2)))
    assert sorted(a.status_code for a in answers) == [200, 429]
    (throttled,) = [a for a in answers if a.status_code == 429]
    assert_error(throttled, 429, "Too many requests")
    assert throttled.headers["Retry-After"] == "1"


def test_a_key_over_its_daily_quota_gets_429_with_retry_after(stack: LocalStack) -> None:
    api_key = cli_key(stack, "daily")
    headers = {"X-API-Key": api_key}
    assert requests.get(f"{stack.base_url}/v1/models", headers=headers, timeout=30).status_code == 200
    over = requests.get(f"{stack.base_url}/v1/models", headers=headers, timeout=30)
    assert_error(over, 429, "Quota exceeded")
    assert over.headers["Retry-After"] == "3600"
    # Another key on the same plan has a quota of its own.
    other = requests.get(
        f"{stack.base_url}/v1/models", headers={"X-API-Key": cli_key(stack, "daily")}, timeout=30
    )
    assert other.status_code == 200


def test_a_key_made_before_usage_plans_is_limited_once_set_plan_put_it_on_one(stack: LocalStack) -> None:
    """``hokusai keys set-plan``: the upgrade path for keys created before usage plans (API Gateway
    answers them 403, having no usage key to apply), run as an operator runs it."""
    api_key, record = stack.key_store().create("legacy", ["21"])
    assert record.usage_key_id == ""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **stack.operator_env()}
    moved = run_python("-m", "hokusai.cli", "keys", "set-plan", record.key_id, "--plan", "tiny", env=env)
    assert moved.returncode == 0, moved.stderr
    assert f"key_id {record.key_id} (user legacy) is on plan tiny (was: none)" in moved.stdout
    assert api_key not in moved.stdout + moved.stderr

    def models() -> requests.Response:
        return requests.get(f"{stack.base_url}/v1/models", headers={"X-API-Key": api_key}, timeout=30)

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: models(), range(2)))
    assert sorted(a.status_code for a in answers) == [200, 429]
