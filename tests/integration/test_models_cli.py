"""``hokusai models sync|verify|list`` against moto S3, a temp EFS dir and the local Hub stand-in."""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from hokusai.models import staging
from hokusai.models.cli import main
from hokusai.models.registry import ModelSpec, efs_path, s3_key

from local.hub_server import HubStandIn, running_hub
from local.moto_server import MotoServer
from tests.helpers import model_artifacts


@contextlib.contextmanager
def registry_and_hub(
    spec: ModelSpec, served: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Path, str, HubStandIn]]:
    """A registry file pinning ``spec``, and the local Hub serving ``served`` for it behind a fresh
    token, with HF_ENDPOINT and HF_HOME set for the command: yields (registry, token, hub)."""
    registry = tmp_path / "registry.json"
    registry.write_text(json.dumps({spec.model_id: spec.to_dict()}))
    token = secrets.token_urlsafe(20)
    # The repo as published: the artifact (``served``) and, when pinned, its ONNX twin beside it.
    files = {artifact.filename: content for artifact, content in model_artifacts(spec, served).items()}
    with running_hub(spec.repo_id, spec.revision, files, token=token) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
        yield registry, token, hub


def test_sync_fills_s3_and_efs_then_verify_passes_and_catches_corruption(
    moto_env: MotoServer,
    demo_model: tuple[bytes, ModelSpec],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data, spec = demo_model
    bucket = f"sync-{uuid.uuid4().hex[:10]}"
    s3: Any = boto3.client("s3", endpoint_url=moto_env.endpoint_url)
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    efs = tmp_path / "efs"
    with registry_and_hub(spec, data, tmp_path, monkeypatch) as (registry, token, _):
        arn = boto3.client("secretsmanager", endpoint_url=moto_env.endpoint_url).create_secret(
            Name=f"hf-{uuid.uuid4().hex[:8]}", SecretString=token
        )["ARN"]
        monkeypatch.setenv("HF_TOKEN_SECRET_ARN", arn)
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


@pytest.fixture
def fetch(
    demo_model: tuple[bytes, ModelSpec],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Callable[[bytes], tuple[int, str]]:
    """``hokusai models fetch`` of the demo model into ``tmp_path`` from a local Hub serving the bytes
    given: (exit status, stdout). Every download it made presented the Hub token."""

    def run(served: bytes) -> tuple[int, str]:
        spec = demo_model[1]
        with registry_and_hub(spec, served, tmp_path, monkeypatch) as (registry, token, hub):
            monkeypatch.setenv("HF_TOKEN", token)
            status = main(["fetch", "--registry", str(registry), "--root", str(tmp_path)])
            assert all(auth == f"Bearer {token}" for _, _, auth in hub.downloads())
        return status, capsys.readouterr().out

    return run


def test_fetch_downloads_the_pinned_revision_into_the_staging_dir(
    fetch: Callable[[bytes], tuple[int, str]], demo_model: tuple[bytes, ModelSpec], tmp_path: Path
) -> None:
    data, spec = demo_model
    status, out = fetch(data)
    assert status == 0
    fetched = staging.fetched_path(tmp_path, spec)
    assert fetched.read_bytes() == data
    assert f"21\tOK\t{fetched}" in out
    assert staging.local_artifact(tmp_path, spec) == fetched  # what synth stages next


def test_fetch_refuses_bytes_that_do_not_match_the_pin_naming_both_digests(
    fetch: Callable[[bytes], tuple[int, str]], demo_model: tuple[bytes, ModelSpec], tmp_path: Path
) -> None:
    data, spec = demo_model
    other = data + b"tampered"
    status, out = fetch(other)
    assert status == 1
    assert "21\tMISMATCH" in out
    assert f"expected sha256 {spec.sha256}, got {hashlib.sha256(other).hexdigest()}" in out
    assert not staging.fetched_path(tmp_path, spec).exists()
