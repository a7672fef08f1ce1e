"""functions/revocation against a real redis-server and moto's Secrets Manager: the stale entry is
deleted with the token read as the authorizer reads it; a Redis failure is a batch item failure."""

from __future__ import annotations

import copy
from typing import Any

import boto3
import pytest
import redis

from local.faults import refused_port
from local.handlers import LambdaContext, load_event, load_handler
from local.moto_server import MotoServer
from local.redis_server import RedisServer, running_redis

pytestmark = pytest.mark.timeout(60)

DIGEST = "aed7248e75b6a5116ea0b7b30cfb7f80ac273c21c8d10516e84a9e40bca4ea1b"
PREFIX = "hokusai:revocation-test:"
ENTRY = f"{PREFIX}auth:v1:{DIGEST}"


def _event_with_an_insert() -> dict[str, Any]:
    """The recorded revocation, then a new key's INSERT (which makes nothing stale)."""
    event = load_event("dynamodb_stream_revoke.json")
    insert = copy.deepcopy(event["Records"][0])
    insert["eventID"] = "0b8e2f4c6a1d3e5f7a9c0b2d4e6f8a1c"
    insert["eventName"] = "INSERT"
    insert["dynamodb"]["SequenceNumber"] = "4421584500000000017450439092"
    del insert["dynamodb"]["OldImage"]
    event["Records"].append(insert)
    return event


def _invoke(monkeypatch: pytest.MonkeyPatch, event: dict[str, Any], **environ: str) -> dict[str, Any]:
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "hokusai-revocation")
    monkeypatch.setenv("REDIS_KEY_PREFIX", PREFIX)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    handler = load_handler("revocation")  # a fresh container
    result: dict[str, Any] = handler.lambda_handler(event, LambdaContext())
    return result


def test_deletes_the_entry_with_the_token_from_secrets_manager(
    moto_env: MotoServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with running_redis(password="s3cret-token-0123456789") as server:
        client = redis.Redis.from_url(server.url)
        client.set(ENTRY, b'{"key_id": "key_3f1c9a7e52b04d18"}', ex=300)
        client.set(f"{PREFIX}auth:v1:{'0' * 64}", b"other", ex=300)
        arn = boto3.client("secretsmanager").create_secret(
            Name=f"revocation-test-redis-{server.port}", SecretString="s3cret-token-0123456789"
        )["ARN"]
        result = _invoke(
            monkeypatch,
            _event_with_an_insert(),
            REDIS_URL=f"redis://127.0.0.1:{server.port}/0",
            REDIS_AUTH_SECRET_ARN=arn,
        )
        assert result == {"batchItemFailures": []}
        assert client.get(ENTRY) is None
        assert client.get(f"{PREFIX}auth:v1:{'0' * 64}") == b"other"  # only the stale entry
    logs = caplog.text + "".join(str(record.__dict__) for record in caplog.records)
    assert "Stale auth entry deleted" in logs and DIGEST[:8] in logs and DIGEST not in logs


def test_redis_down_reports_only_the_stale_record_for_retry(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with refused_port() as port:
        result = _invoke(monkeypatch, _event_with_an_insert(), REDIS_URL=f"redis://127.0.0.1:{port}/0")
    assert result == {"batchItemFailures": [{"itemIdentifier": "4421584500000000017450439091"}]}
    logs = caplog.text + "".join(str(record.__dict__) for record in caplog.records)
    assert "Stream record failed: retried" in logs and DIGEST not in logs


def test_a_retry_after_redis_is_back_deletes_the_entry(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = redis.Redis.from_url(redis_server.url)
    client.set(ENTRY, b"{}", ex=300)
    redis_server.kill()
    event = load_event("dynamodb_stream_revoke.json")
    environ = {"REDIS_URL": redis_server.url}
    failed = _invoke(monkeypatch, event, **environ)
    assert failed == {"batchItemFailures": [{"itemIdentifier": "4421584500000000017450439091"}]}
    redis_server.start()  # the same port: Lambda retries the same record
    client.set(ENTRY, b"{}", ex=300)  # (killed without persistence: put the entry back)
    assert _invoke(monkeypatch, event, **environ) == {"batchItemFailures": []}
    assert client.get(ENTRY) is None
