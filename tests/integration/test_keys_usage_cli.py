"""``hokusai keys usage KEY_ID [--days N]`` (issue 23 item 8): a key's requests per day against its plan's
quota. The plans and keys are moto's; API Gateway's usage records (GetUsage, which moto does not
implement) are the answer in tests/events/apigateway_get_usage.json, named there as hand-written in the
API reference's shape."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from hokusai.cli import main
from hokusai.keys import cli as keys_cli

from local.handlers import load_event
from local.moto_server import MotoServer
from tests.integration.test_authorizer import create_table


@pytest.fixture
def plan(moto_env: MotoServer, monkeypatch: pytest.MonkeyPatch) -> str:
    table = f"keys-usage-{uuid.uuid4().hex[:8]}"
    create_table(table)
    monkeypatch.setenv("KEYS_TABLE_NAME", table)
    monkeypatch.delenv("REDIS_URL", raising=False)
    prefix = f"u{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("HOKUSAI_PREFIX", prefix)
    return str(
        boto3.client("apigateway").create_usage_plan(
            name=f"{prefix}-standard",
            throttle={"rateLimit": 50.0, "burstLimit": 100},
            quota={"limit": 1000, "period": "DAY"},
        )["id"]
    )


class RecordedUsage:
    """moto's API Gateway, with GetUsage answered from the fixture (each call checked and kept)."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.calls: list[dict[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def get_usage(self, **arguments: Any) -> dict[str, Any]:
        self.calls.append(arguments)
        text = json.dumps(load_event("apigateway_get_usage.json"))
        for name, value in (
            ("USAGE_PLAN_ID", arguments["usagePlanId"]),
            ("USAGE_KEY_ID", arguments["keyId"]),
            ("START_DATE", arguments["startDate"]),
            ("END_DATE", arguments["endDate"]),
        ):
            text = text.replace("{{%s}}" % name, value)  # noqa: UP031
        answer: dict[str, Any] = json.loads(text)
        return answer


def created(capsys: pytest.CaptureFixture[str], *arguments: str) -> str:
    assert main(["keys", "create", "--user", "acme-crm", "--models", "21", *arguments, "--json"]) == 0
    return str(json.loads(capsys.readouterr().out)["key_id"])


def test_usage_per_day_against_the_plans_quota(
    plan: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    key_id = created(capsys, "--plan", "standard")
    recorded = RecordedUsage(keys_cli._apigateway("eu-west-1"))
    monkeypatch.setattr(keys_cli, "_apigateway", lambda _region: recorded)
    assert main(["keys", "usage", key_id]) == 0
    lines = capsys.readouterr().out.splitlines()
    today = datetime.now(UTC).date()
    (call,) = recorded.calls
    assert call["usagePlanId"] == plan
    assert (
        call["startDate"] == (today - timedelta(days=6)).isoformat() and call["endDate"] == today.isoformat()
    )
    assert lines[0].startswith(f"key_id {key_id} (user acme-crm), plan standard")
    assert "quota 1000 requests per DAY; rate 50/s, burst 100" in lines[0]
    days = [line.split() for line in lines[2:9]]
    assert [row[0] for row in days] == [(today - timedelta(days=6 - i)).isoformat() for i in range(7)]
    assert [(row[1], row[2], row[3]) for row in days][1:4] == [
        ("12", "988", "1.2%"),
        ("250", "750", "25.0%"),
        ("1000", "0", "100.0%"),
    ]
    assert lines[-1] == "total 1300 requests in 7 days (API Gateway's usage records)"


def test_days_json_and_a_short_record(
    plan: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    key_id = created(capsys, "--plan", "standard")
    recorded = RecordedUsage(keys_cli._apigateway("eu-west-1"))
    monkeypatch.setattr(keys_cli, "_apigateway", lambda _region: recorded)
    assert main(["keys", "usage", key_id, "--days", "10", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert len(report["days"]) == 10 and report["total"] == 1300
    # Seven days recorded, ten asked: the three days the answer does not cover count 0.
    assert [day["remaining"] for day in report["days"][-3:]] == [None, None, None]
    assert report["days"][-1]["date"] == recorded.calls[0]["endDate"]
    assert report["quota_limit"] == 1000 and report["quota_period"] == "DAY"
    assert "usage_key_value" not in json.dumps(report)
    for wrong in ("0", "91"):
        assert main(["keys", "usage", key_id, "--days", wrong]) == 2
        assert "--days must be 1 to 90" in capsys.readouterr().err


def test_a_key_on_no_plan_says_so(plan: str, capsys: pytest.CaptureFixture[str]) -> None:
    import os

    from hokusai.config import KeysTableSettings
    from hokusai.keys.store import KeyStore

    store = KeyStore.from_settings(KeysTableSettings(table_name=os.environ["KEYS_TABLE_NAME"]), "eu-west-1")
    _, record = store.create("before-plans", ["21"])
    assert main(["keys", "usage", record.key_id]) == 0
    out = capsys.readouterr().out
    assert f"key_id {record.key_id} (user before-plans) is on no usage plan" in out
    assert f"hokusai keys set-plan {record.key_id} --plan" in out


def test_an_endpoint_without_usage_records_is_named(plan: str, capsys: pytest.CaptureFixture[str]) -> None:
    """moto (make dev) has no GetUsage: one line naming it, exit 3."""
    key_id = created(capsys, "--plan", "standard")
    assert main(["keys", "usage", key_id]) == 3
    err = capsys.readouterr().err
    assert err.startswith(f"error: API Gateway's usage records of key_id {key_id}") and "GetUsage" in err
    assert main(["keys", "usage", "key_0000000000000000"]) == 1
