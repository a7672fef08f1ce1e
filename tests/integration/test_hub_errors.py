"""The Hub's error replies, named (issue 24): the local Hub answers each at once, and the loader says which.

Before, every Hub fault test ended on the download deadline (the client retries a 5xx for ~23 s), so
the code naming a refused token, a wrong repository, revision or file, or a server error never ran.
Each case here asserts the name and that the Hub was asked exactly once (no retry, no deadline), so
nothing depends on the clock.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
from hokusai.models.artifacts import SourceError
from hokusai.models.hub import HubRefusedError, HubSource
from hokusai.models.registry import ModelSpec

from local.hub_server import HubStandIn, running_hub
from tests.helpers import run_python

TOKEN = "hf_good_token_for_tests"


@pytest.fixture
def hub(demo_model: tuple[bytes, ModelSpec]) -> Iterator[HubStandIn]:
    data, spec = demo_model
    with running_hub(spec.repo_id, spec.revision, {spec.filename: data}, token=TOKEN) as stand_in:
        yield stand_in


def _fetch(hub: HubStandIn, spec: ModelSpec, token: str = TOKEN) -> SourceError:
    source = HubSource(lambda: token, tempfile.mkdtemp(), hub.endpoint, timeout_seconds=60)
    with pytest.raises(SourceError) as raised:
        source.fetch(spec)
    return raised.value


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("bad token", ("token", 401, "refused the token (HTTP 401)")),
        ("forbidden", ("access", 403, "denied access (HTTP 403)")),
        ("wrong repository", ("repository", 404, "no repository someone/else")),
        ("wrong revision", ("revision", 404, "no revision " + "b" * 40)),
        ("wrong file", ("file", 404, "no file missing.skops")),
        ("server error", ("server", 500, "failed (HTTP 500)")),
        ("unavailable", ("server", 503, "failed (HTTP 503)")),
    ],
)
def test_each_error_reply_is_named_at_once(
    hub: HubStandIn, demo_model: tuple[bytes, ModelSpec], case: str, expected: tuple[str, int, str]
) -> None:
    kind, status, named = expected
    _, spec = demo_model
    token = TOKEN
    if case == "bad token":
        token = "hf_wrong"
    elif case == "forbidden":
        hub.mode = "forbidden"
    elif case == "wrong repository":
        spec = dataclasses.replace(spec, repo_id="someone/else")
    elif case == "wrong revision":
        spec = dataclasses.replace(spec, revision="b" * 40)
    elif case == "wrong file":
        spec = dataclasses.replace(spec, filename="missing.skops")
    elif case == "server error":
        hub.mode = "error"
    elif case == "unavailable":
        hub.mode = "unavailable"
    error = _fetch(hub, spec, token)
    assert isinstance(error, HubRefusedError)
    assert (error.kind, error.status) == (kind, status)
    assert named in str(error)
    assert token not in str(error)
    assert len(hub.requests) == 1, hub.requests  # one HEAD, no retry


def test_a_good_answer_still_downloads(hub: HubStandIn, demo_model: tuple[bytes, ModelSpec]) -> None:
    data, spec = demo_model
    source = HubSource(lambda: TOKEN, tempfile.mkdtemp(), hub.endpoint, timeout_seconds=60)
    assert source.fetch(spec) == data
    assert hub.requests[0][0] == "HEAD"


def test_models_fetch_names_the_reply(
    hub: HubStandIn, demo_model: tuple[bytes, ModelSpec], tmp_path: Any
) -> None:
    import json
    import os

    _, spec = demo_model
    registry = tmp_path / "registry.json"
    entry = {k: v for k, v in spec.to_dict().items() if k != "model_id"}
    registry.write_text(json.dumps({spec.model_id: {**entry, "revision": "c" * 40}}))
    env = {**os.environ, "HF_ENDPOINT": hub.endpoint, "HF_TOKEN": TOKEN, "HF_HOME": str(tmp_path / "hf")}
    result = run_python(
        "-m", "hokusai.cli", "models", "fetch", "--registry", str(registry), "--root", str(tmp_path), env=env
    )
    assert result.returncode == 1
    assert f"{spec.model_id}\tFAILED\tHuggingFace Hub has no revision {'c' * 40}" in result.stdout


def test_fetch_takes_a_twin_made_here_from_its_local_copy(
    hub: HubStandIn, demo_model: tuple[bytes, ModelSpec], tmp_path: Any
) -> None:
    """A Hub model we do not publish gets its twin at staging time (hokusai models publish), so the Hub
    has none: fetch downloads the skops file and takes the twin from its local copy; without one, the
    Hub's 404 is named with what to run."""
    import json
    import os

    from hokusai.models import staging

    from local.handlers import ROOT

    _, spec = demo_model
    registry = tmp_path / "registry.json"
    registry.write_text(
        json.dumps({spec.model_id: {k: v for k, v in spec.to_dict().items() if k != "model_id"}})
    )
    env = {**os.environ, "HF_ENDPOINT": hub.endpoint, "HF_TOKEN": TOKEN, "HF_HOME": str(tmp_path / "hf")}
    command = ["-m", "hokusai.cli", "models", "fetch", "--registry", str(registry), "--root", str(tmp_path)]
    missing = run_python(*command, env=env)
    assert missing.returncode == 1
    assert "no file lead_scorer.onnx" in missing.stdout and "hokusai models publish" in missing.stdout
    twin = staging.fetched_path(tmp_path, spec.twin())
    twin.write_bytes(staging.published_path(ROOT, spec.twin()).read_bytes())
    fetched = run_python(*command, env=env)
    assert fetched.returncode == 0, fetched.stdout
    assert staging.fetched_path(tmp_path, spec).is_file()
