"""``hokusai keys`` against moto (DynamoDB) and a real redis-server."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest
import redis
from hokusai.cache.redis_cache import auth_entry_key
from hokusai.cli import main
from hokusai.config import KeysTableSettings
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


@pytest.fixture
def plans(table: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Usage plans as the stack names them, ``<prefix>-<plan>``, under a prefix of this test's own."""
    prefix = f"t{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("HOKUSAI_PREFIX", prefix)
    monkeypatch.delenv("HOKUSAI_PLAN", raising=False)
    apigateway = boto3.client("apigateway")
    return {
        plan: apigateway.create_usage_plan(name=f"{prefix}-{plan}")["id"] for plan in ("standard", "gold")
    }


def plan_key_ids(plan_id: str) -> list[str]:
    return [key["id"] for key in boto3.client("apigateway").get_usage_plan_keys(usagePlanId=plan_id)["items"]]


def test_create_prints_the_key_once_and_stores_only_the_digest(
    table: str, plans: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keys", "create", "--user", "acme", "--models", "21", "--expires-in-days", "30"]) == 0
    out, err = capsys.readouterr()
    api_key = out.strip()
    assert is_well_formed(api_key) and out.count(api_key) == 1 and api_key not in err
    assert "key_" in err and "only this once" in err
    items = boto3.client("dynamodb").scan(TableName=table)["Items"]
    assert len(items) == 1 and api_key not in json.dumps(items)
    item = items[0]
    assert item["key_hash"]["S"] == key_digest(api_key)
    assert [m["S"] for m in item["models"]["L"]] == ["21"]
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
    out = capsys.readouterr().out
    assert "Redis entry deleted" in out
    # The bound the deployment declares, read from the one declaration (and the environment).
    assert out.splitlines()[-1] == (
        "every authorizer refuses it within 10 s (AUTH_REVOCATION_BOUND_SECONDS), "
        "whatever its Redis cache does"
    )
    assert client.get(auth_entry_key(key_digest(api_key))) is None
    assert store.get(key_digest(api_key)).status == "revoked"  # type: ignore[union-attr]


def test_revoke_with_redis_down_still_revokes_and_says_so(
    table: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store = KeyStore(boto3.client("dynamodb"), table)
    api_key, record = store.create("acme", ["21"])
    with refused_port() as port:
        monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{port}/0")
        monkeypatch.setenv("AUTH_REVOCATION_BOUND_SECONDS", "7")
        assert main(["keys", "revoke", record.key_id]) == 0
    out = capsys.readouterr().out
    assert "NOT deleted" in out
    assert "every authorizer refuses it within 7 s (AUTH_REVOCATION_BOUND_SECONDS)" in out
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


def test_console_script_in_a_subprocess(table: str, plans: dict[str, str], moto_server: MotoServer) -> None:
    import os

    env = {
        **moto_server.env(),
        "PATH": "/usr/bin:/bin",
        "KEYS_TABLE_NAME": table,
        "AWS_DEFAULT_REGION": "eu-west-1",
        "HOKUSAI_PREFIX": os.environ["HOKUSAI_PREFIX"],  # the plan: cdk.json's defaultPlan (cwd ROOT)
    }
    created = run_program(
        [str(ROOT / ".venv/bin/hokusai"), "keys", "create", "--user", "sub", "--models", "21"], env
    )
    assert created.returncode == 0, created.stderr
    assert is_well_formed(created.stdout.strip())
    listed = run_python("-m", "hokusai.cli", "keys", "list", env=env)
    assert listed.returncode == 0 and "sub" in listed.stdout
    assert created.stdout.strip() not in listed.stdout


REGISTRY_21 = json.loads((ROOT / "model" / "registry.json").read_text())["21"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["--expires-in-days", "99999999999"],
            "--expires-in-days must be between 1 and 3650 (got 99999999999)",
        ),
        (["--expires-in-days", "0"], "--expires-in-days must be between 1 and 3650 (got 0)"),
        (["--expires-in-days", "3651"], "--expires-in-days must be between 1 and 3650 (got 3651)"),
        (["--user", ""], "--user must not be empty"),
        (["--user", "acme\nkey_forged"], "--user must be printable characters only"),
        (["--user", "a" * 129], "--user must be at most 128 characters (got 129)"),
        (["--description", "x\ty"], "--description must be printable characters only"),
        (["--models", "99"], "--models: not in the model registry: '99' (known: 21"),
        (["--models", "../21"], "--models: not in the model registry: '../21' (known: 21"),
        (["--models", "21,*"], '--models is "*" alone or a list of model ids, not both'),
        (["--models", " , "], '--models needs at least one model id, or "*"'),
    ],
)
def test_create_refuses_bad_input_with_one_line_and_stores_nothing(
    table: str, plans: dict[str, str], arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    base = {"--user": "acme", "--models": "21"}
    given = dict(zip(arguments[::2], arguments[1::2], strict=True))
    argv = ["keys", "create"] + [part for name, value in {**base, **given}.items() for part in (name, value)]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith(f"error: {message}")
    assert boto3.client("dynamodb").scan(TableName=table)["Items"] == []


def test_models_are_checked_against_MODEL_REGISTRY_when_set(
    table: str, plans: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MODEL_REGISTRY", json.dumps({"21": REGISTRY_21, "7": REGISTRY_21}))
    assert main(["keys", "create", "--user", "acme", "--models", "21,7"]) == 0
    capsys.readouterr()
    assert main(["keys", "create", "--user", "acme", "--models", "8"]) == 2
    assert (
        capsys.readouterr().err
        == "error: --models: not in the model registry: '8' (known: 21, 7, or \"*\")\n"
    )
    assert main(["keys", "create", "--user", "acme", "--models", "*"]) == 0
    items = boto3.client("dynamodb").scan(TableName=table)["Items"]
    assert sorted(tuple(m["S"] for m in i["models"]["L"]) for i in items) == [("*",), ("21", "7")]


def test_region_from_AWS_REGION_alone_or_one_line_naming_both(
    table: str, monkeypatch: pytest.MonkeyPatch, tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")  # the table lives in moto's eu-west-1
    assert main(["keys", "list"]) == 0
    capsys.readouterr()
    monkeypatch.delenv("AWS_REGION")
    assert main(["keys", "list"]) == 2
    assert capsys.readouterr().err == (
        "error: no AWS region: set AWS_REGION or AWS_DEFAULT_REGION (or a region in the AWS profile)\n"
    )


def test_list_reports_unreadable_items_by_key_id_and_revoke_still_works(
    table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    dynamodb = boto3.client("dynamodb")
    store = KeyStore(dynamodb, table)
    _, good = store.create("acme", ["21"])
    _, far = store.create("far", ["21"])
    dynamodb.update_item(  # what --expires-in-days 99999999999 stored before it was bounded
        TableName=table,
        Key={"key_hash": {"S": far.key_hash}},
        UpdateExpression="SET expires_at = :e",
        ExpressionAttributeValues={":e": {"N": str(99999999999 * 86400)}},
    )
    dynamodb.put_item(TableName=table, Item={"key_hash": {"S": "0" * 64}, "key_id": {"S": "key_broken"}})
    assert main(["keys", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["key_id"], r["status"]) for r in rows] == [
        (good.key_id, "active"),
        *sorted([(far.key_id, "unreadable"), ("key_broken", "unreadable")]),
    ]
    problems = {r["key_id"]: r.get("problem") for r in rows}
    assert problems[far.key_id] == f"expires_at {99999999999 * 86400} is out of range"
    assert problems["key_broken"] == "missing user_id, models, status"
    assert main(["keys", "revoke", far.key_id]) == 0
    assert main(["keys", "list"]) == 0
    listing = capsys.readouterr().out
    assert good.key_id in listing and f"{far.key_id:22} {'?':16} unreadable" in listing
    assert main(["keys", "show", "key_broken"]) == 0
    assert "missing user_id, models, status" in capsys.readouterr().out


def test_create_puts_a_companion_key_on_the_plan_and_revoke_deletes_it(
    table: str, plans: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keys", "create", "--user", "acme", "--models", "21"]) == 0  # cdk.json defaultPlan
    assert main(["keys", "create", "--user", "gold", "--models", "21", "--plan", "gold", "--json"]) == 0
    out, err = capsys.readouterr()
    standard_key, gold = out.splitlines()[0], json.loads(out.splitlines()[1])
    items = {i["user_id"]["S"]: i for i in boto3.client("dynamodb").scan(TableName=table)["Items"]}
    apigateway = boto3.client("apigateway")
    for user, plan in (("acme", "standard"), ("gold", "gold")):
        item = items[user]
        assert item["plan"]["S"] == plan
        assert plan_key_ids(plans[plan]) == [item["usage_key_id"]["S"]]
        companion = apigateway.get_api_key(apiKey=item["usage_key_id"]["S"], includeValue=True)
        assert companion["name"] == item["key_id"]["S"] and companion["value"] == item["usage_key_value"]["S"]
        assert companion["tags"] == {"hokusai:created-by": "keys-cli"}  # the provisioner may not delete it
        assert companion["value"] not in out + err  # a secret: never printed
    assert standard_key not in json.dumps(apigateway.get_api_keys(includeValues=True)["items"], default=str)
    assert gold["plan"] == "gold" and "usage_key_value" not in gold
    assert main(["keys", "revoke", gold["key_id"]]) == 0
    assert "usage plan key deleted" in capsys.readouterr().out
    # Deleting the API key takes it off its plan in API Gateway (moto keeps the plan's entry).
    assert items["gold"]["usage_key_id"]["S"] not in [k["id"] for k in apigateway.get_api_keys()["items"]]
    assert main(["keys", "show", gold["key_id"], "--json"]) == 0
    shown = capsys.readouterr().out
    assert json.loads(shown)["status"] == "revoked"
    assert items["gold"]["usage_key_value"]["S"] not in shown


def test_create_on_an_unknown_plan_is_one_line_and_creates_nothing(
    table: str, plans: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    import os

    prefix = os.environ["HOKUSAI_PREFIX"]
    keys_before = len(boto3.client("apigateway").get_api_keys()["items"])
    assert main(["keys", "create", "--user", "acme", "--models", "21", "--plan", "platinum"]) == 2
    assert capsys.readouterr().err == (
        f"error: no usage plan named {prefix}-platinum (plans of prefix {prefix}: "
        f"{prefix}-gold, {prefix}-standard)\n"
    )
    assert boto3.client("dynamodb").scan(TableName=table)["Items"] == []
    assert len(boto3.client("apigateway").get_api_keys()["items"]) == keys_before


def test_set_plan_puts_a_key_made_before_plans_on_one_then_moves_it(
    table: str, plans: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A key created before usage plans has no companion key (API Gateway answers it 403)."""
    store = KeyStore.from_settings(KeysTableSettings(table_name=table))
    api_key, record = store.create("legacy", ["21"])
    assert record.plan == "" and record.usage_key_id == ""
    capsys.readouterr()
    assert main(["keys", "set-plan", record.key_id, "--plan", "standard"]) == 0
    out = capsys.readouterr().out
    assert f"key_id {record.key_id} (user legacy) is on plan standard (was: none)" in out
    moved = store.get(key_digest(api_key))
    assert moved is not None and moved.plan == "standard"
    assert plan_key_ids(plans["standard"]) == [moved.usage_key_id]
    assert moved.usage_key_value and moved.usage_key_value not in out and api_key not in out
    # Again: nothing to do. Then another plan: a new companion key; the previous one is left for the
    # authorizers that still hold it, and the command to delete it later is printed.
    assert main(["keys", "set-plan", record.key_id, "--plan", "standard"]) == 0
    assert "already on plan standard" in capsys.readouterr().out
    assert main(["keys", "set-plan", record.key_id, "--plan", "gold"]) == 0
    out = capsys.readouterr().out
    gold = store.get(key_digest(api_key))
    assert gold is not None and gold.plan == "gold" and gold.usage_key_id != moved.usage_key_id
    assert plan_key_ids(plans["gold"]) == [gold.usage_key_id]
    assert f"aws apigateway delete-api-key --api-key {moved.usage_key_id}" in out
    assert boto3.client("apigateway").get_api_key(apiKey=moved.usage_key_id)["id"] == moved.usage_key_id


def test_set_plan_refuses_a_revoked_key_and_an_unknown_plan_and_leaves_no_companion_key(
    table: str, plans: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    store = KeyStore.from_settings(KeysTableSettings(table_name=table))
    _, record = store.create("gone", ["21"])
    store.revoke(record.key_id)
    capsys.readouterr()
    assert main(["keys", "set-plan", record.key_id, "--plan", "gold"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: key {record.key_id} is revoked: only an active key can be put on a plan"
    )
    _, active = store.create("acme", ["21"])
    assert main(["keys", "set-plan", active.key_id, "--plan", "platinum"]) == 2
    assert "no usage plan named" in capsys.readouterr().err
    assert main(["keys", "set-plan", "key_doesnotexist", "--plan", "gold"]) == 1
    assert plan_key_ids(plans["gold"]) == []
    names = {key["name"] for key in boto3.client("apigateway").get_api_keys()["items"]}
    assert not names & {record.key_id, active.key_id}


def test_create_without_models_is_refused_naming_the_flag_and_stores_nothing(
    table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A key for every model is written "*" explicitly; it used to be the silent default."""
    with pytest.raises(SystemExit) as refused:
        main(["keys", "create", "--user", "acme"])
    assert refused.value.code == 2
    assert "the following arguments are required: --models" in capsys.readouterr().err
    assert boto3.client("dynamodb").scan(TableName=table)["Items"] == []


def test_a_companion_key_that_cannot_be_deleted_is_named_with_the_command_and_the_key_revoked(
    table: str, plans: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError
    from hokusai.keys import usage

    assert main(["keys", "create", "--user", "acme", "--models", "21", "--json"]) == 0
    created = json.loads(capsys.readouterr().out.splitlines()[-1])
    item = boto3.client("dynamodb").scan(TableName=table)["Items"][0]
    usage_key_id = item["usage_key_id"]["S"]

    def denied(_apigateway: object, _key_id: str) -> bool:
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "DeleteApiKey")

    monkeypatch.setattr(usage, "delete_usage_key", denied)
    assert main(["keys", "revoke", created["key_id"]]) == 0
    out = capsys.readouterr().out
    assert (
        f"; usage plan key {usage_key_id} NOT deleted (AccessDeniedException): the key is revoked all the "
        f"same; delete it with: aws apigateway delete-api-key --api-key {usage_key_id}"
    ) in out
    assert boto3.client("dynamodb").scan(TableName=table)["Items"][0]["status"]["S"] == "revoked"
