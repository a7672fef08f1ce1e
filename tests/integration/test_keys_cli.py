"""``hokusai keys`` against moto (DynamoDB) and a real redis-server."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest
import redis
from hokusai.cache.redis_cache import auth_entry_key
from hokusai.cli import main
from hokusai.keys.format import is_well_formed, key_digest
from hokusai.keys.store import KeyStore

from local.faults import refused_port
from local.moto_server import MotoServer
from local.redis_server import RedisServer
from tests.helpers import ROOT, run_program, run_python
from tests.integration.test_authorizer import create_table


@pytest.fixture
def table(moto_env: MotoServer, monkeypatch: pytest.MonkeyPatch) -> str:
    name = f"keys-cli-{uuid.uuid4().hex[:8]}"
    create_table(name)
    monkeypatch.setenv("KEYS_TABLE_NAME", name)
    monkeypatch.delenv("REDIS_URL", raising=False)
    return name


def test_create_prints_the_key_once_and_stores_only_the_digest(
    table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keys", "create", "--user", "acme", "--models", "21,7", "--expires-in-days", "30"]) == 0
    out, err = capsys.readouterr()
    api_key = out.strip()
    assert is_well_formed(api_key) and out.count(api_key) == 1 and api_key not in err
    assert "key_" in err and "only this once" in err
    items = boto3.client("dynamodb").scan(TableName=table)["Items"]
    assert len(items) == 1 and api_key not in json.dumps(items)
    item = items[0]
    assert item["key_hash"]["S"] == key_digest(api_key)
    assert [m["S"] for m in item["models"]["L"]] == ["21", "7"]
    assert item["status"]["S"] == "active" and int(item["expires_at"]["N"]) > 0


def test_list_and_show_never_print_keys_or_full_digests(
    table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    store = KeyStore(boto3.client("dynamodb"), table)
    api_key, record = store.create("acme", ["*"], description="ops laptop")
    store.create("other", ["21"])
    assert main(["keys", "list"]) == 0
    listing = capsys.readouterr().out
    assert record.key_id in listing and "other" in listing
    assert main(["keys", "list", "--user", "acme", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["key_id"] for r in rows] == [record.key_id]
    assert main(["keys", "show", record.key_id]) == 0
    shown = capsys.readouterr().out
    assert "ops laptop" in shown and "active" in shown
    for text in (listing, shown, json.dumps(rows)):
        assert api_key not in text and key_digest(api_key) not in text


def test_revoke_marks_revoked_and_deletes_the_redis_entry(
    table: str, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store = KeyStore(boto3.client("dynamodb"), table)
    api_key, record = store.create("acme", ["21"])
    client = redis.Redis.from_url(redis_server.url)
    client.set(auth_entry_key(key_digest(api_key)), b"{}", ex=300)
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    assert main(["keys", "revoke", record.key_id]) == 0
    assert "Redis entry deleted" in capsys.readouterr().out
    assert client.get(auth_entry_key(key_digest(api_key))) is None
    assert store.get(key_digest(api_key)).status == "revoked"  # type: ignore[union-attr]


def test_revoke_with_redis_down_still_revokes_and_says_so(
    table: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store = KeyStore(boto3.client("dynamodb"), table)
    api_key, record = store.create("acme", ["21"])
    with refused_port() as port:
        monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{port}/0")
        assert main(["keys", "revoke", record.key_id]) == 0
    assert "NOT deleted" in capsys.readouterr().out
    assert store.get(key_digest(api_key)).status == "revoked"  # type: ignore[union-attr]


def test_errors_and_exit_codes(
    table: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keys", "show", "key_doesnotexist"]) == 1
    assert "no key with key_id" in capsys.readouterr().err
    assert main(["keys", "revoke", "key_doesnotexist"]) == 1
    assert main(["keys", "create", "--user", "x", "--models", " , "]) == 2
    assert main(["keys", "--table", "no-such-table", "list"]) == 3
    assert "ResourceNotFoundException" in capsys.readouterr().err


def test_console_script_in_a_subprocess(table: str, moto_server: MotoServer) -> None:
    env = {
        **moto_server.env(),
        "PATH": "/usr/bin:/bin",
        "KEYS_TABLE_NAME": table,
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
    created = run_program(
        [str(ROOT / ".venv/bin/hokusai"), "keys", "create", "--user", "sub", "--models", "21"], env
    )
    assert created.returncode == 0, created.stderr
    assert is_well_formed(created.stdout.strip())
    listed = run_python("-m", "hokusai.cli", "keys", "list", env=env)
    assert listed.returncode == 0 and "sub" in listed.stdout
    assert created.stdout.strip() not in listed.stdout
