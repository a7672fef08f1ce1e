"""The artifact chain against real parts: a temp dir as EFS, moto S3 (server mode), the real
huggingface_hub client talking to a local Hub stand-in, Secrets Manager in moto for the token."""

from __future__ import annotations

import io
import json
import secrets
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from hokusai.config import PredictSettings
from hokusai.models.artifacts import ArtifactChain, ModelUnavailableError
from hokusai.models.registry import ModelSpec, efs_path, s3_key
from hokusai.models.service import ModelService, build_chain

from local.faults import refused_port
from local.handlers import LambdaContext, load_event, load_handler
from local.hub_server import running_hub
from local.moto_server import MotoServer
from tests.helpers import model_artifacts


@pytest.fixture
def world(
    moto_env: MotoServer, demo_model: tuple[bytes, ModelSpec], tmp_path: Path
) -> Iterator[dict[str, Any]]:
    data, spec = demo_model
    bucket = f"models-{uuid.uuid4().hex[:12]}"
    s3 = boto3.client("s3", endpoint_url=moto_env.endpoint_url)
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    token = secrets.token_urlsafe(24)
    secrets_client = boto3.client("secretsmanager", endpoint_url=moto_env.endpoint_url)
    arn = secrets_client.create_secret(Name=f"hf-token-{uuid.uuid4().hex[:8]}", SecretString=token)["ARN"]
    files = {artifact.filename: content for artifact, content in model_artifacts(spec, data).items()}
    with running_hub(spec.repo_id, spec.revision, files, token=token) as hub:
        yield {
            "data": data, "spec": spec, "bucket": bucket, "s3": s3, "secrets": secrets_client, "arn": arn,
            "token": token, "hub": hub, "efs": tmp_path / "efs", "hf_home": tmp_path / "hf",
        }  # fmt: skip


def predict_environment(world: dict[str, Any], **overrides: str | None) -> dict[str, str | None]:
    """The predict function's variables for this world; an override of None unsets a variable."""
    return {
        "MODEL_REGISTRY": json.dumps({"21": world["spec"].to_dict()}),
        "MODEL_CACHE_DIR": str(world["efs"]),
        "MODEL_BUCKET": world["bucket"],
        "HF_TOKEN_SECRET_ARN": world["arn"],
        "HF_ENDPOINT": world["hub"].endpoint,
        "HF_HOME": str(world["hf_home"]),
        # The deployed default: the first Hub use imports huggingface_hub inside the deadline, which
        # took over 3 s on a loaded 2-core CI box. The fault tests set their own, shorter deadline.
        "HF_DOWNLOAD_TIMEOUT_MS": "10000",
        # These tests exercise the Hub fallback itself; deployments leave it off (staged models).
        "MODEL_HUB_FALLBACK": "true",
        **overrides,
    }


def settings_for(world: dict[str, Any], **overrides: Any) -> PredictSettings:
    env = predict_environment(world, **overrides)
    return PredictSettings.from_env({k: v for k, v in env.items() if v is not None})


def chain_for(world: dict[str, Any], s3: Any = None, **overrides: Any) -> ArtifactChain:
    return build_chain(settings_for(world, **overrides), s3 or world["s3"], lambda: world["secrets"])


def s3_body(world: dict[str, Any]) -> bytes:
    key = s3_key(world["spec"], "models/")
    return bytes(world["s3"].get_object(Bucket=world["bucket"], Key=key)["Body"].read())


def test_cold_caches_load_from_the_hub_with_the_token_and_write_through(world: dict[str, Any]) -> None:
    result = chain_for(world).load(world["spec"])
    assert result.source == "hub"
    assert [a.outcome for a in result.attempts] == ["miss", "miss", "hit"]
    downloads = world["hub"].downloads()
    assert downloads, "the real huggingface_hub client downloaded the file"
    assert all(auth == f"Bearer {world['token']}" for _, _, auth in downloads)
    assert all(world["spec"].revision in path for _, path, _ in downloads)
    assert Path(efs_path(world["spec"], str(world["efs"]))).read_bytes() == world["data"]
    assert s3_body(world) == world["data"]


def test_without_the_hub_fallback_an_empty_cache_fails_fast_naming_the_object(
    world: dict[str, Any],
) -> None:
    started = time.monotonic()
    with pytest.raises(ModelUnavailableError) as caught:
        chain_for(world, MODEL_HUB_FALLBACK=None).load(world["spec"])
    elapsed = time.monotonic() - started
    assert world["hub"].requests == [], "the Hub is never tried when the fallback is off"
    assert elapsed < 1.0, f"no Hub deadline to wait for, took {elapsed:.2f} s"
    key = s3_key(world["spec"], "models/")
    detail = caught.value.detail
    assert f"s3://{world['bucket']}/{key}" in detail
    assert efs_path(world["spec"], str(world["efs"])) in detail
    assert "make deploy" in detail and "hokusai models sync --model 21" in detail


def test_efs_hit_needs_nothing_else(world: dict[str, Any]) -> None:
    chain_for(world).load(world["spec"])
    world["hub"].requests.clear()
    result = chain_for(world).load(world["spec"])
    assert result.source == "efs"
    assert world["hub"].requests == []


def test_s3_hit_writes_through_to_efs(world: dict[str, Any]) -> None:
    world["s3"].put_object(Bucket=world["bucket"], Key=s3_key(world["spec"], "models/"), Body=world["data"])
    result = chain_for(world).load(world["spec"])
    assert result.source == "s3"
    assert Path(efs_path(world["spec"], str(world["efs"]))).read_bytes() == world["data"]
    assert world["hub"].downloads() == []


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_corrupt_efs_copy_is_discarded_and_refetched(world: dict[str, Any], damage: str) -> None:
    path = Path(efs_path(world["spec"], str(world["efs"])))
    path.parent.mkdir(parents=True)
    path.write_bytes(world["data"][:100] if damage == "truncated" else b"not a model")
    world["s3"].put_object(Bucket=world["bucket"], Key=s3_key(world["spec"], "models/"), Body=world["data"])
    result = chain_for(world).load(world["spec"])
    assert result.source == "s3"
    assert result.attempts[0].outcome == "corrupt"
    assert path.read_bytes() == world["data"]  # repaired by the write-through


def test_corrupt_s3_copy_is_deleted_and_the_hub_serves(world: dict[str, Any]) -> None:
    key = s3_key(world["spec"], "models/")
    world["s3"].put_object(Bucket=world["bucket"], Key=key, Body=b"tampered")
    result = chain_for(world).load(world["spec"])
    assert result.source == "hub"
    assert [a.outcome for a in result.attempts] == ["miss", "corrupt", "hit"]
    assert s3_body(world) == world["data"]


def test_hub_serving_wrong_bytes_is_never_used(world: dict[str, Any]) -> None:
    world["hub"].mode = "corrupt"
    with pytest.raises(ModelUnavailableError) as caught:
        chain_for(world).load(world["spec"])
    assert "hub: " in caught.value.detail
    assert not Path(efs_path(world["spec"], str(world["efs"]))).exists()


def test_empty_token_secret_is_named(world: dict[str, Any]) -> None:
    world["secrets"].put_secret_value(SecretId=world["arn"], SecretString=" ")
    with pytest.raises(ModelUnavailableError) as caught:
        chain_for(world).load(world["spec"])
    assert f"secret {world['arn']} is empty" in caught.value.detail
    assert "HuggingFace token not configured" in caught.value.detail
    assert world["hub"].requests == []


def test_missing_token_arn_is_named(world: dict[str, Any]) -> None:
    with pytest.raises(ModelUnavailableError, match="HF_TOKEN_SECRET_ARN is not set"):
        chain_for(world, HF_TOKEN_SECRET_ARN=None).load(world["spec"])


def test_deleted_token_secret_is_named(world: dict[str, Any]) -> None:
    world["secrets"].delete_secret(SecretId=world["arn"], ForceDeleteWithoutRecovery=True)
    with pytest.raises(ModelUnavailableError, match="could not be read"):
        chain_for(world).load(world["spec"])


@pytest.mark.parametrize("fault", ["silent", "refused", "error"])
def test_unreachable_hub_fails_within_the_deadline(world: dict[str, Any], fault: str) -> None:
    if fault in ("silent", "error"):
        world["hub"].mode = fault
        endpoint = world["hub"].endpoint
    else:
        with refused_port() as port:
            endpoint = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    with pytest.raises(ModelUnavailableError) as caught:
        chain_for(world, HF_ENDPOINT=endpoint, HF_DOWNLOAD_TIMEOUT_MS="1500").load(world["spec"])
    elapsed = time.monotonic() - started
    assert elapsed < 4.0, f"bounded by the 1.5 s deadline, took {elapsed:.1f} s"
    assert "hub: error" in caught.value.detail


def test_s3_down_falls_through_to_the_hub(world: dict[str, Any]) -> None:
    with refused_port() as port:
        dead_s3 = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{port}",
            config=Config(connect_timeout=0.5, read_timeout=0.5, retries={"max_attempts": 1}),
        )
        result = chain_for(world, s3=dead_s3).load(world["spec"])
    assert result.source == "hub"
    s3_attempt = result.attempts[1]
    assert s3_attempt.source == "s3"
    assert s3_attempt.outcome == "error"
    assert "S3 unreachable" in (s3_attempt.reason or "")


def test_service_remembers_a_failure_briefly_then_heals(world: dict[str, Any]) -> None:
    world["hub"].mode = "error"
    clock = [0.0]
    service = ModelService(
        {"21": world["spec"]}, chain_for(world, HF_DOWNLOAD_TIMEOUT_MS="1000"), clock=lambda: clock[0]
    )
    with pytest.raises(ModelUnavailableError):
        service.scorer("21")
    world["hub"].mode = "normal"
    with pytest.raises(ModelUnavailableError):
        service.scorer("21")  # remembered: no second trip to a broken Hub within 5 s
    clock[0] = 6.0
    assert service.scorer("21").loaded_from == "hub"


# ---------------------------------------------------------------------------------------------------
# Through the handler, with real API Gateway proxy events
# ---------------------------------------------------------------------------------------------------


def predict_handler(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch, **overrides: str | None) -> Any:
    env = predict_environment(
        world, **{"HF_DOWNLOAD_TIMEOUT_MS": "2000", "POWERTOOLS_SERVICE_NAME": "predict", **overrides}
    )
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    return load_handler("predict")


def invoke(handler: Any, **changes: Any) -> tuple[int, dict[str, Any], dict[str, Any]]:
    event = load_event("predict_seed.json")
    event.update(changes)
    answer = handler.lambda_handler(event, LambdaContext())
    return answer["statusCode"], json.loads(answer["body"]), answer["headers"]


def test_handler_preloads_from_the_s3_cache_at_init(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    staged = model_artifacts(world["spec"], world["data"])  # as the deploy stages them: skops and twin
    for artifact, content in staged.items():
        world["s3"].put_object(Bucket=world["bucket"], Key=s3_key(artifact, "models/"), Body=content)
    handler = predict_handler(world, monkeypatch)
    assert (
        handler.dependencies.get().service.loaded_from("21") == "s3"
    )  # during init, not on the first request
    served = world["spec"].twin()  # the model has an ONNX twin: that is what predict loads and writes through
    assert Path(efs_path(served, str(world["efs"]))).read_bytes() == staged[served]
    status, body, _ = invoke(handler)
    assert status == 200
    assert body["metadata"]["model_version"] == world["spec"].version
    assert world["hub"].requests == []


def test_handler_init_never_waits_for_the_hub(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    # Lambda gives init 10 s: a silent Hub must not be able to eat it. Init uses the caches only.
    world["hub"].mode = "silent"
    started = time.monotonic()
    handler = predict_handler(world, monkeypatch, HF_DOWNLOAD_TIMEOUT_MS="8000")
    assert time.monotonic() - started < 5.0
    assert handler.dependencies.get().service.loaded_from("21") is None
    assert world["hub"].requests == []


def test_handler_with_cold_caches_loads_from_the_hub_and_answers_in_the_seed_shape(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = predict_handler(world, monkeypatch)
    assert (
        handler.dependencies.get().service.loaded_from("21") is None
    )  # caches were empty at init; the Hub waits
    status, body, headers = invoke(handler)
    assert handler.dependencies.get().service.loaded_from("21") == "hub"
    assert status == 200
    assert set(body) == {"model_id", "predictions", "metadata", "timestamp"}
    assert body["model_id"] == "21"
    assert set(body["predictions"]) == {
        "lead_score",
        "conversion_probability",
        "recommendation",
        "factors",
        "confidence",
    }
    assert body["metadata"] == {
        "api_version": "1.0",
        "inference_method": "local",
        "user_id": "acme-crm",
        "api_key_id": "key_0123456789abcdef",
        "model_version": world["spec"].version,
    }
    assert headers["X-Request-ID"] == "client-req-0001"
    status, info, _ = invoke(
        handler, httpMethod="GET", path="/v1/models/21/info", resource="/v1/models/{model_id}/info", body=None
    )
    assert status == 200
    assert info["loaded_from"] == "hub"
    assert info["revision"] == world["spec"].revision
    assert [f["name"] for f in info["features"]][:2] == ["company_size", "industry"]


def test_handler_without_token_or_cache_answers_503_and_logs_the_secret(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    world["secrets"].put_secret_value(SecretId=world["arn"], SecretString="\n")
    handler = predict_handler(world, monkeypatch)
    lines = io.StringIO()
    stream = handler.logger.registered_handler.setStream(lines)
    try:
        status, body, _ = invoke(handler)
    finally:
        handler.logger.registered_handler.setStream(stream)
    assert status == 503
    # The client learns what to do, never an ARN, a bucket, a path or an AWS code (issue 20 h) ...
    assert body["detail"] == "Model 21 is temporarily unavailable; retry shortly (the operators are alerted)"
    assert body["request_id"]
    assert "Traceback" not in json.dumps(body)
    for internal in (world["arn"], world["bucket"], str(world["efs"]), "s3://"):
        assert internal not in json.dumps(body)
    # ... the operators' log line has it all.
    log = lines.getvalue()
    assert world["arn"] in log and "HuggingFace token not configured" in log
