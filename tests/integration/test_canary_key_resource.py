"""The ``CanaryKey`` custom resource: functions/canary_key against moto (server mode) and a real local
HTTP server standing in for CloudFormation's pre-signed ResponseURL.

Keys are generated at run time by the code under test; the tests read them back from the secret only
to compare digests and to prove they never reach a response or a log line.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType
from typing import Any

import boto3
import pytest
from hokusai.keys import schema
from hokusai.keys.format import is_well_formed, key_digest
from hokusai.keys.store import ACTIVE, REVOKED, KeyStore

from local.faults import refused_port
from local.handlers import LambdaContext, load_event, load_handler
from local.moto_server import MotoServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class ResponseCatcher:
    """Records every PUT, as S3 would for a pre-signed URL."""

    received: list[Received] = field(default_factory=list)
    port: int = 0

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/cfn-responses/{name}?X-Amz-Signature=test"


@pytest.fixture
def catcher() -> Iterator[ResponseCatcher]:
    state = ResponseCatcher()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def do_PUT(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))
            state.received.append(Received(self.path, dict(self.headers.items()), body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@dataclass
class Env:
    table: str
    secret_arn: str
    handler: ModuleType
    catcher: ResponseCatcher

    def event(self, kind: str, *, physical_id: str = "", **properties: Any) -> dict[str, Any]:
        text = (
            json.dumps(load_event(f"cfn_canary_key_{kind}.json"))
            .replace("RESPONSE_URL_PLACEHOLDER", self.catcher.url(uuid.uuid4().hex))
            .replace("TABLE_NAME_PLACEHOLDER", self.table)
            .replace("SECRET_ARN_PLACEHOLDER", self.secret_arn)
            .replace("PHYSICAL_ID_PLACEHOLDER", physical_id)
        )
        event: dict[str, Any] = json.loads(text)
        event["ResourceProperties"].update(properties)
        return event

    def run(self, event: dict[str, Any]) -> dict[str, Any]:
        before = len(self.catcher.received)
        self.handler.lambda_handler(event, LambdaContext())
        assert len(self.catcher.received) == before + 1, "exactly one response PUT per request"
        return self.catcher.received[-1].body

    def secret_value(self) -> str:
        value = boto3.client("secretsmanager").get_secret_value(SecretId=self.secret_arn)["SecretString"]
        return str(value)

    def store(self) -> KeyStore:
        return KeyStore(boto3.client("dynamodb"), self.table)


@pytest.fixture
def env(moto_env: MotoServer, catcher: ResponseCatcher) -> Env:
    table = f"canary-key-{uuid.uuid4().hex[:8]}"
    boto3.client("dynamodb").create_table(**schema.create_table_arguments(table))
    secret_arn = boto3.client("secretsmanager").create_secret(
        Name=f"{table}/canary_key", SecretString="placeholder-before-first-deploy"
    )["ARN"]
    return Env(table, secret_arn, load_handler("canary_key"), catcher)


def _all_logs(capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> str:
    captured = capsys.readouterr()
    return captured.out + captured.err + caplog.text + "".join(str(r.__dict__) for r in caplog.records)


def test_create_stores_the_digest_puts_the_key_in_the_secret_and_answers_without_it(
    env: Env, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    response = env.run(env.event("create"))

    api_key = env.secret_value()
    assert is_well_formed(api_key)
    (item,) = boto3.client("dynamodb").scan(TableName=env.table)["Items"]
    assert item["key_hash"]["S"] == key_digest(api_key)
    assert item["user_id"]["S"] == "canary" and item["status"]["S"] == ACTIVE
    assert [m["S"] for m in item["models"]["L"]] == ["21"]
    assert item["description"]["S"] == "managed by stack"

    key_id = item["key_id"]["S"]
    assert response["Status"] == "SUCCESS"
    assert response["PhysicalResourceId"] == key_id
    assert response["Data"] == {"KeyId": key_id}
    assert response["NoEcho"] is True
    assert response["RequestId"] == "0f6c5d2e-8b0a-4c1e-9d4f-2a7b3c9e1d01"
    assert response["LogicalResourceId"] == "CanaryKey"
    assert response["StackId"].startswith("arn:aws:cloudformation:")
    received = env.catcher.received[-1]
    assert received.headers.get("Content-Type", "") == ""  # the pre-signed URL signs no Content-Type
    assert api_key not in json.dumps(received.body) and "hk_" not in json.dumps(received.body)

    logs = _all_logs(capsys, caplog)
    assert key_id in logs  # the function did log, so the absence below means something
    assert api_key not in logs and "hk_" not in logs


def test_update_with_a_new_rotation_swaps_the_key_and_the_cleanup_delete_revokes_the_old_one(
    env: Env, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    old_id = env.run(env.event("create"))["PhysicalResourceId"]
    old_key = env.secret_value()

    response = env.run(env.event("update", physical_id=old_id))  # Rotation 1 -> 2
    new_key = env.secret_value()
    new_id = response["PhysicalResourceId"]
    assert response["Status"] == "SUCCESS"
    assert new_id != old_id and new_key != old_key and response["Data"] == {"KeyId": new_id}
    store = env.store()
    new_record = store.get(key_digest(new_key))
    assert new_record is not None and new_record.key_id == new_id and new_record.is_usable()
    # Until CloudFormation's cleanup Delete the old key keeps working (the canary may hold it).
    old_record = store.get(key_digest(old_key))
    assert old_record is not None and old_record.status == ACTIVE

    cleanup = env.run(env.event("delete", physical_id=old_id))
    assert cleanup["Status"] == "SUCCESS" and cleanup["PhysicalResourceId"] == old_id
    old_record = store.get(key_digest(old_key))
    assert old_record is not None and old_record.status == REVOKED
    assert store.get(key_digest(new_key)).is_usable()  # type: ignore[union-attr]
    assert env.secret_value() == new_key

    logs = _all_logs(capsys, caplog)
    assert old_key not in logs and new_key not in logs and "hk_" not in logs


def test_update_rollback_leaves_an_active_key_in_the_secret(env: Env) -> None:
    """The sequence the provisioner's docstring promises: Create, Update (rotation 1 -> 2), the deploy
    fails later, CloudFormation sends Update back (2 -> 1) for the new id, then Delete for that id."""
    key_before = env.run(env.event("create"))["PhysicalResourceId"]
    key_of_failed_deploy = env.run(env.event("update", physical_id=key_before))["PhysicalResourceId"]

    rollback = env.event("update", physical_id=key_of_failed_deploy)
    rollback["ResourceProperties"], rollback["OldResourceProperties"] = (
        rollback["OldResourceProperties"],
        rollback["ResourceProperties"],
    )
    key_after = env.run(rollback)["PhysicalResourceId"]
    assert key_after not in (key_before, key_of_failed_deploy)
    cleanup = env.run(env.event("delete", physical_id=key_of_failed_deploy))
    assert cleanup["Status"] == "SUCCESS"

    store = env.store()
    in_secret = store.get(key_digest(env.secret_value()))
    assert in_secret is not None and in_secret.key_id == key_after and in_secret.is_usable()
    assert store.find_by_key_id(key_of_failed_deploy).status == REVOKED
    # Documented leftover (docs/deploy.md): nobody holds it any more, a platform team revokes it.
    assert store.find_by_key_id(key_before).status == ACTIVE


def test_update_that_changes_no_key_property_keeps_the_key(env: Env) -> None:
    key_id = env.run(env.event("create"))["PhysicalResourceId"]
    key = env.secret_value()
    event = env.event("update", physical_id=key_id, Rotation="1")
    event["ResourceProperties"]["ServiceToken"] = event["OldResourceProperties"]["ServiceToken"] + "-v2"
    response = env.run(event)
    assert response["Status"] == "SUCCESS" and response["PhysicalResourceId"] == key_id
    assert env.secret_value() == key
    assert len(boto3.client("dynamodb").scan(TableName=env.table)["Items"]) == 1


def test_delete_revokes_and_is_idempotent(env: Env) -> None:
    key_id = env.run(env.event("create"))["PhysicalResourceId"]
    key = env.secret_value()
    for _ in range(2):  # CloudFormation may resend a Delete; the second one must succeed too
        response = env.run(env.event("delete", physical_id=key_id))
        assert response["Status"] == "SUCCESS" and response["PhysicalResourceId"] == key_id
    assert env.store().get(key_digest(key)).status == REVOKED  # type: ignore[union-attr]


@pytest.mark.parametrize("physical_id", ["key_0123456789abcdef", "canary-key-not-created", ""])
def test_delete_of_an_unknown_or_non_key_id_succeeds(env: Env, physical_id: str) -> None:
    response = env.run(env.event("delete", physical_id=physical_id))
    assert response["Status"] == "SUCCESS"


def test_missing_table_fails_with_a_reason_and_no_key(
    env: Env, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    response = env.run(env.event("create", TableName=f"{env.table}-missing"))
    assert response["Status"] == "FAILED"
    assert response["Reason"].startswith("CanaryKey Create failed: ResourceNotFoundException")
    # Not a key id: the Delete CloudFormation sends after a failed Create must be a no-op.
    assert not response["PhysicalResourceId"].startswith("key_")
    assert response["Data"] == {}  # no KeyId: nothing was created
    assert env.secret_value() == "placeholder-before-first-deploy"
    assert "hk_" not in json.dumps(response) and "hk_" not in _all_logs(capsys, caplog)

    follow_up = env.run(env.event("delete", physical_id=response["PhysicalResourceId"]))
    assert follow_up["Status"] == "SUCCESS"


def test_secret_that_cannot_be_written_fails_and_revokes_the_orphan_key(env: Env) -> None:
    missing_secret = env.secret_arn.replace("canary_key", "gone")
    response = env.run(env.event("create", SecretArn=missing_secret))
    assert response["Status"] == "FAILED"
    assert "ResourceNotFoundException" in response["Reason"] and "hk_" not in json.dumps(response)
    (item,) = boto3.client("dynamodb").scan(TableName=env.table)["Items"]
    assert item["status"]["S"] == REVOKED  # nobody holds it: it must not stay usable


def test_failed_update_keeps_the_current_physical_id(env: Env) -> None:
    key_id = env.run(env.event("create"))["PhysicalResourceId"]
    response = env.run(env.event("update", physical_id=key_id, TableName=f"{env.table}-missing"))
    # The same id: CloudFormation must not read a failed update as a replacement to clean up.
    assert response["Status"] == "FAILED" and response["PhysicalResourceId"] == key_id


def test_an_unreachable_response_url_is_logged_not_raised(
    env: Env,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Raising would make Lambda retry the asynchronous invocation, and a retried Create a second key."""
    from hokusai.keys import provisioner

    monkeypatch.setattr(provisioner.time, "sleep", lambda _seconds: None)
    event = env.event("create")
    with refused_port() as port:
        event["ResponseURL"] = f"http://127.0.0.1:{port}/cfn-responses/lost"
        result = env.handler.lambda_handler(event, LambdaContext())
    assert result["Status"] == "SUCCESS"
    assert "Could not send the response to CloudFormation" in _all_logs(capsys, caplog)
    assert len(boto3.client("dynamodb").scan(TableName=env.table)["Items"]) == 1
