"""SnapStart's lifecycle on the real handlers against real parts: moto in server mode (DynamoDB, S3)
and a real redis-server. Each test loads a handler as Lambda's init would, calls every callable
registered with ``snapshot_restore_py`` as the runtime does before the snapshot, puts the state a
container gathers into its caches, calls the after-restore callables as a restored copy's runtime
does, and checks what was dropped and that the copy still answers. Predict and health run with the
S3 model cache only (no MODEL_CACHE_DIR): SnapStart functions cannot mount EFS.
The registry itself and the in-process resets: tests/unit/test_snapstart.py.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from hokusai.cache.breaker import BreakerState
from hokusai.keys import schema
from hokusai.keys.format import generate_key, key_digest
from hokusai.keys.store import KeyStore
from hokusai.models.registry import ModelSpec, s3_key

from local.handlers import LambdaContext, load_event, load_handler
from local.moto_server import MotoServer
from local.redis_server import RedisServer
from tests.helpers import clean_snapstart_registries, model_artifacts, simulate_restore, simulate_snapshot

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def clean_registries() -> Iterator[None]:
    with clean_snapstart_registries():
        yield


snapshot, restore = simulate_snapshot, simulate_restore


def set_env(monkeypatch: pytest.MonkeyPatch, values: dict[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)


def authorizer_event(api_key: str) -> dict[str, Any]:
    raw = json.dumps(load_event("authorizer_predict_bearer.json"))
    return json.loads(raw.replace("{{API_KEY}}", api_key))


@pytest.fixture
def model_bucket(moto_env: MotoServer, demo_model: tuple[bytes, ModelSpec]) -> str:
    """A bucket holding the shipped model where predict and health look for it (models/ prefix)."""
    data, spec = demo_model
    bucket = f"models-{uuid.uuid4().hex[:12]}"
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    for artifact, content in model_artifacts(spec, data).items():  # the skops file and its ONNX twin
        s3.put_object(Bucket=bucket, Key=s3_key(artifact, "models/"), Body=content)
    return bucket


@pytest.fixture
def keys_table(moto_env: MotoServer) -> str:
    table = f"keys-{uuid.uuid4().hex[:8]}"
    boto3.client("dynamodb").create_table(**schema.create_table_arguments(table))
    return table


@pytest.fixture
def s3_only(
    model_bucket: str, demo_model: tuple[bytes, ModelSpec], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> ModelSpec:
    """The environment a SnapStart stack gives predict and health: the S3 cache, no EFS."""
    _, spec = demo_model
    set_env(
        monkeypatch,
        {
            "MODEL_REGISTRY": json.dumps({spec.model_id: spec.to_dict()}),
            "MODEL_BUCKET": model_bucket,
            "MODEL_BUCKET_PREFIX": "models/",
            "MODEL_CACHE_DIR": None,
            "MODEL_HUB_FALLBACK": "false",
            "HF_HOME": str(tmp_path / "hf"),
        },
    )
    return spec


# ------------------------------------------------------------------------------------------------
def test_authorizer_restored_copy_drops_l1_breaker_and_redis_client(
    keys_table: str, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_env(
        monkeypatch,
        {
            "KEYS_TABLE_NAME": keys_table,
            "REDIS_URL": redis_server.url,
            "REDIS_AUTH_SECRET_ARN": None,
            "AUTH_CACHE_KEY_SECRET_ARN": boto3.client("secretsmanager").create_secret(
                Name=f"auth-cache-key-{uuid.uuid4().hex[:6]}", SecretString="k" * 64
            )["ARN"],
            "AUTH_SERVICE_URL": None,
            "REDIS_CONNECT_TIMEOUT_MS": "50",
            "REDIS_TIMEOUT_MS": "50",
            "REDIS_BREAKER_FAILURES": "3",
            "REDIS_BREAKER_COOLDOWN_MS": "60000",  # stays open until the restore closes it
            "KEYS_TABLE_MAX_ATTEMPTS": "1",
        },
    )
    api_key, _ = KeyStore(boto3.client("dynamodb"), keys_table).create("user-1", ("21",))
    handler = load_handler("authorizer")
    assert handler.dependencies._built is None  # built on the first invocation, or before the snapshot
    snapshot()
    authorizer = handler.dependencies._built
    assert authorizer is not None and authorizer.l2_enabled
    chain, cache = authorizer.chain, authorizer.chain.l2

    # The container answers: the key is in L1 (and in Redis); then Redis goes silent and the breaker opens.
    assert handler.lambda_handler(authorizer_event(api_key), LambdaContext())["context"]["scopes"] == "21"
    assert len(chain._l1) == 1
    redis_server.pause()
    try:
        for _ in range(3):
            with pytest.raises(Exception, match="Unauthorized"):
                handler.lambda_handler(authorizer_event(generate_key()), LambdaContext())
        assert cache.breaker.state is BreakerState.OPEN
    finally:
        redis_server.resume()
    client_at_snapshot, random_at_snapshot = cache._client, random.getstate()

    restore()
    assert len(chain._l1) == 0
    assert cache.breaker.state is BreakerState.CLOSED
    assert cache._client is not client_at_snapshot
    assert random.getstate() != random_at_snapshot
    assert handler.dependencies.get() is authorizer  # the rest is kept: no rebuild, no token re-read

    # The restored copy answers: L1 is empty, the new Redis client connects and finds the key.
    assert chain.validate(key_digest(api_key)).layer == "l2"
    answer = handler.lambda_handler(authorizer_event(api_key), LambdaContext())
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    with pytest.raises(Exception, match="Unauthorized"):
        handler.lambda_handler(authorizer_event(generate_key()), LambdaContext())


def test_predict_loads_from_s3_only_is_warm_in_the_snapshot_and_answers_after_restore(
    s3_only: ModelSpec,
) -> None:
    handler = load_handler("predict")
    service = handler.dependencies.get().service
    assert service.loaded_from("21") == "s3"  # in memory at init, from the S3 cache
    assert [source.name for source in service.chain.sources] == ["s3"]
    snapshot()
    assert handler.warm_up() == {"21": "ok"}
    restore()
    assert handler.dependencies.get().service is service and service.loaded_from("21") == "s3"
    answer = handler.lambda_handler(load_event("predict_seed.json"), LambdaContext())
    assert answer["statusCode"] == 200, answer["body"]
    body = json.loads(answer["body"])
    assert body["predictions"]["recommendation"] in {"Hot", "Warm", "Cold"}
    assert answer["headers"]["X-Request-ID"] == "client-req-0001"


def test_health_with_the_s3_cache_only_is_healthy_before_and_after_restore(
    s3_only: ModelSpec, keys_table: str, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_env(
        monkeypatch,
        {
            "KEYS_TABLE_NAME": keys_table,
            "REDIS_URL": redis_server.url,
            "REDIS_AUTH_SECRET_ARN": None,
            "HEALTH_DEADLINE_MS": "2000",  # this test is about the lifecycle, not the deadline
        },
    )
    handler = load_handler("health")
    snapshot()

    def health() -> dict[str, Any]:
        answer = handler.lambda_handler(load_event("health_get.json"), LambdaContext())
        assert answer["statusCode"] == 200, answer["body"]
        return dict(json.loads(answer["body"]))

    assert health()["status"] == "healthy"  # connections opened before the "snapshot"
    restore()
    body = health()
    assert body["status"] == "healthy"
    assert body["services"] == {
        "redis": "healthy",
        "keys_table": "healthy",
        "model": "healthy",
        "configuration": "healthy",
    }
