"""``hokusai models sync|verify|list`` against moto S3, a temp EFS dir and the local Hub stand-in."""

from __future__ import annotations

import json
import secrets
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from hokusai.models.cli import main
from hokusai.models.registry import ModelSpec, efs_path, s3_key

from local.hub_server import running_hub
from local.moto_server import MotoServer


def test_sync_fills_s3_and_efs_then_verify_passes_and_catches_corruption(
    moto_env: MotoServer,
    demo_model: tuple[bytes, ModelSpec],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data, spec = demo_model
    registry = tmp_path / "registry.json"
    registry.write_text(json.dumps({"21": spec.to_dict()}))
    bucket = f"sync-{uuid.uuid4().hex[:10]}"
    s3: Any = boto3.client("s3", endpoint_url=moto_env.endpoint_url)
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    token = secrets.token_urlsafe(20)
    arn = boto3.client("secretsmanager", endpoint_url=moto_env.endpoint_url).create_secret(
        Name=f"hf-{uuid.uuid4().hex[:8]}", SecretString=token
    )["ARN"]
    efs = tmp_path / "efs"
    with running_hub(spec.repo_id, spec.revision, {spec.filename: data}, token=token) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        monkeypatch.setenv("HF_TOKEN_SECRET_ARN", arn)
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
        common = ["--registry", str(registry), "--bucket", bucket, "--efs", str(efs)]
        assert main(["sync", *common]) == 0
        assert "21\tOK\tfrom hub" in capsys.readouterr().out
    assert s3.get_object(Bucket=bucket, Key=s3_key(spec, "models/"))["Body"].read() == data
    assert Path(efs_path(spec, str(efs))).read_bytes() == data

    assert main(["verify", *common]) == 0
    out = capsys.readouterr().out
    assert "21\tefs\tOK" in out
    assert "21\ts3\tOK" in out

    s3.put_object(Bucket=bucket, Key=s3_key(spec, "models/"), Body=data[:10])
    assert main(["verify", *common]) == 1
    assert "21\ts3\tCORRUPT" in capsys.readouterr().out

    assert main(["list", "--registry", str(registry)]) == 0
    assert spec.revision in capsys.readouterr().out


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "registry.json"
    bad.write_text("{not json")
    assert main(["list", "--registry", str(bad)]) == 2
    assert "MODEL_REGISTRY" in capsys.readouterr().err


def _fetch_from_hub(
    spec: ModelSpec, served: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str]:
    """``hokusai models fetch`` for ``spec`` against a local Hub serving ``served``; (exit, token)."""
    registry = tmp_path / "registry.json"
    registry.write_text(json.dumps({spec.model_id: spec.to_dict()}))
    token = secrets.token_urlsafe(20)
    with running_hub(spec.repo_id, spec.revision, {spec.filename: served}, token=token) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        monkeypatch.setenv("HF_TOKEN", token)
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
        status = main(["fetch", "--registry", str(registry), "--root", str(tmp_path)])
        assert all(auth == f"Bearer {token}" for _, _, auth in hub.downloads())
    return status, token


def test_fetch_downloads_the_pinned_revision_into_the_staging_dir(
    demo_model: tuple[bytes, ModelSpec],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from hokusai.models import staging

    data, spec = demo_model
    status, _ = _fetch_from_hub(spec, data, tmp_path, monkeypatch)
    assert status == 0
    fetched = staging.fetched_path(tmp_path, spec)
    assert fetched.read_bytes() == data
    assert f"21\tOK\t{fetched}" in capsys.readouterr().out
    assert staging.local_artifact(tmp_path, spec) == fetched  # what synth stages next


def test_fetch_refuses_bytes_that_do_not_match_the_pin_naming_both_digests(
    demo_model: tuple[bytes, ModelSpec],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import hashlib

    from hokusai.models import staging

    data, spec = demo_model
    other = data + b"tampered"
    status, _ = _fetch_from_hub(spec, other, tmp_path, monkeypatch)
    assert status == 1
    out = capsys.readouterr().out
    assert "21\tMISMATCH" in out
    assert f"expected sha256 {spec.sha256}, got {hashlib.sha256(other).hexdigest()}" in out
    assert not staging.fetched_path(tmp_path, spec).exists()
