"""Predict benchmark, the skops path and the ONNX twin side by side in one run (issue 24).

    python bench/predict.py

For each reader (``skops``: the scikit-learn pipeline from its skops file, ``twin``: the verified ONNX
twin through onnxruntime), in this order:

- warm: the handler with a real API Gateway event, 1 lead and a batch of 100 (p50 and p99), and the
  bare model call beside it;
- cold loads: one fresh chain per run (EFS, S3 on moto, the local Hub), the sha256 check and the reader;
- cold start as Lambda runs it: a fresh ``python3.12 -I -S -B`` with ``sys.path`` = the function's code
  and the layers ``make verify`` built (``.verify/layers/bytecode-<arch>``: common + ml for skops, common +
  onnx for the twin; the venv's packages when they are not built), importing the handler, which loads
  the model from EFS in its init; min and median of several, and the peak memory (VmHWM);
- unzipped size of predict's code + layers, here and for arm64 when built.

Then ``import numpy`` in fresh interpreters with ``OPENBLAS_NUM_THREADS`` unset and set to 1 (the
stack declares 1 for predict, hokusai/environment.py): the spread is what the setting removes.
Targets (issue 4): warm single prediction p50 <= 3 ms and batch of 100 p50 <= 10 ms; (issue 24)
predict's cold init from the twin <= 300 ms.
"""

from __future__ import annotations

import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from _common import LATENCY_HEADER, ROOT, markdown_table, percentile, summary_row, time_calls, write_results

os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "1")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "predict")

import boto3
import numpy as np
from hokusai.models.artifacts import ArtifactChain, ArtifactSource, EfsSource, S3Source
from hokusai.models.features import row
from hokusai.models.hub import HubSource
from hokusai.models.registry import ModelSpec, efs_path, s3_key
from hokusai.models.scorer import build_scorer
from hokusai.models.staging import published_path
from hokusai.models.twin_scorer import build_twin_scorer

from local.handlers import LambdaContext, load_event, load_handler
from local.hub_server import running_hub
from local.moto_server import running_moto
from model.train import published_artifact

WARM_RUNS = 500
COLD_RUNS = 10
COLD_STARTS = 7
NUMPY_IMPORTS = 15
SEED = json.loads(load_event("predict_seed.json")["body"])["inputs"]
READERS = ("skops", "twin")
MODEL_LAYER = {"skops": "ml", "twin": "onnx"}
ARCH = {"x86_64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}[os.uname().machine]

COLD_START = r"""
import json, os, sys, time
started = time.perf_counter()
paths = json.loads(sys.argv[1])
sys.path[:0] = paths
import importlib
handler = importlib.import_module("handler")
loaded = handler.dependencies.get().service.loaded_from("21")
elapsed = (time.perf_counter() - started) * 1000
peak = 0
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        peak = int(line.split()[1])
print("RESULT " + json.dumps({"ms": elapsed, "loaded_from": loaded, "peak_kb": peak,
      "sklearn": "sklearn" in sys.modules, "onnxruntime": "onnxruntime" in sys.modules}))
"""


def spec_for(reader: str, spec: ModelSpec) -> ModelSpec:
    return spec if reader == "twin" else replace(spec, twin_filename=None, twin_sha256=None)


def files(spec: ModelSpec, data: bytes) -> dict[ModelSpec, bytes]:
    """The published repo's files the cache holds: the skops file and its twin."""
    assert spec.has_twin
    return {spec: data, spec.twin(): published_path(ROOT, spec.twin()).read_bytes()}


def stage_efs(root: Path, spec: ModelSpec, data: bytes) -> None:
    for artifact, content in files(spec, data).items():
        path = Path(efs_path(artifact, str(root)))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def warm(reader: str, spec: ModelSpec, data: bytes, efs: Path) -> dict[str, list[float]]:
    served = spec_for(reader, spec)
    os.environ.update({"MODEL_REGISTRY": json.dumps({"21": served.to_dict()}), "MODEL_CACHE_DIR": str(efs)})
    handler = load_handler("predict")
    assert handler.dependencies.get().service.loaded_from("21") == "efs"
    event = load_event("predict_seed.json")
    batch_event = {**event, "body": json.dumps({"inputs": [SEED] * 100})}
    context = LambdaContext()

    def single() -> None:
        assert handler.lambda_handler(event, context)["statusCode"] == 200

    def batch() -> None:
        assert handler.lambda_handler(batch_event, context)["statusCode"] == 200

    scorer: Any
    if reader == "twin":
        scorer = build_twin_scorer(files(spec, data)[spec.twin()], spec, "efs")
    else:
        scorer = build_scorer(data, served, "efs", allow_pickle=False)
    one = np.array([row(SEED)], dtype=object)
    hundred = np.array([row(SEED)] * 100, dtype=object)
    return {
        f"{reader}: handler, 1 lead": time_calls(single, WARM_RUNS, warmup=20),
        f"{reader}: handler, 100 leads": time_calls(batch, WARM_RUNS // 5, warmup=5),
        f"{reader}: bare model, 1 lead": time_calls(lambda: scorer.transform(one), WARM_RUNS, 20),
        f"{reader}: bare model, 100 leads": time_calls(lambda: scorer.transform(hundred), WARM_RUNS // 5, 5),
    }


def cold_loads(spec: ModelSpec, data: bytes, efs: Path, work: Path) -> dict[str, list[float]]:
    series: dict[str, list[float]] = {}
    with running_moto() as moto:
        s3 = boto3.client(
            "s3", endpoint_url=moto.endpoint_url, region_name="eu-west-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )  # fmt: skip
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        for artifact, content in files(spec, data).items():
            s3.put_object(Bucket=bucket, Key=s3_key(artifact, "models/"), Body=content)
        token = secrets.token_urlsafe(16)
        hub_files = {artifact.filename: content for artifact, content in files(spec, data).items()}
        with running_hub(spec.repo_id, spec.revision, hub_files, token=token) as hub:
            for reader in READERS:
                target = spec.twin() if reader == "twin" else spec

                def cold(source_name: str, reader: str = reader, target: ModelSpec = target) -> None:
                    sources: list[ArtifactSource]
                    if source_name == "efs":
                        sources = [EfsSource(str(efs))]
                    elif source_name == "s3":
                        sources = [S3Source(s3, bucket, "models/")]
                    else:
                        sources = [HubSource(lambda: token, tempfile.mkdtemp(dir=work), hub.endpoint, 10)]
                    result = ArtifactChain(sources).load(target)
                    assert result.source == source_name
                    if reader == "twin":
                        build_twin_scorer(result.data, spec, result.source)
                    else:
                        build_scorer(result.data, spec_for("skops", spec), result.source, allow_pickle=False)

                for name in ("efs", "s3", "hub"):
                    series[f"{reader}: cold load + verify + reader: {name}"] = time_calls(
                        lambda n=name: cold(n), COLD_RUNS
                    )
    return series


def layers_dir(architecture: str) -> Path:
    return ROOT / ".verify" / "layers" / f"bytecode-{architecture}"


def python312() -> str:
    base = getattr(sys, "_base_executable", sys.executable)
    return str(base) if sys.version_info[:2] == (3, 12) else "python3.12"


def cold_starts(reader: str, spec: ModelSpec, efs: Path) -> list[dict[str, Any]]:
    """Fresh interpreters as Lambda runs predict: its code and layers only, the model from EFS."""
    built = layers_dir(ARCH)
    layer_paths = [built / name / "python" for name in ("common", MODEL_LAYER[reader])]
    if all(path.is_dir() for path in layer_paths):
        runtime_sdk = ROOT / ".verify" / "runtime-sdk"
        paths = [str(ROOT / "functions" / "predict"), *map(str, layer_paths), str(runtime_sdk)]
        command = [python312(), "-I", "-S", "-B", "-c", COLD_START, json.dumps(paths)]
    else:  # layers not built: the venv (site-packages), a less faithful stand-in
        paths = [str(ROOT / "functions" / "predict"), str(ROOT / "layers" / "common" / "python")]
        command = [sys.executable, "-B", "-c", COLD_START, json.dumps(paths)]
    env = {
        "PATH": "/usr/bin:/bin", "MODEL_REGISTRY": json.dumps({"21": spec_for(reader, spec).to_dict()}),
        "MODEL_CACHE_DIR": str(efs), "POWERTOOLS_SERVICE_NAME": "predict", "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_METRICS_DISABLED": "1", "OPENBLAS_NUM_THREADS": "1", "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1", "LAMBDA_TASK_ROOT": str(ROOT / "functions" / "predict"),
        "AWS_LAMBDA_FUNCTION_NAME": "hokusai-predict", "HOKUSAI_TRACING": "true",
    }  # fmt: skip
    results = []
    for _ in range(COLD_STARTS):
        out = subprocess.run(
            command, env=env, cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
        )
        result = json.loads(next(line for line in out.stdout.splitlines() if line.startswith("RESULT "))[7:])
        assert result["loaded_from"] == "efs", out.stderr[-1000:]
        assert result["sklearn"] == (reader == "skops") and result["onnxruntime"] == (reader == "twin")
        results.append(result)
    return results


def numpy_imports(threads: str | None) -> list[float]:
    code = "import time; t = time.perf_counter(); import numpy; print((time.perf_counter() - t) * 1000)"
    env = {key: value for key, value in os.environ.items() if key != "OPENBLAS_NUM_THREADS"}
    if threads is not None:
        env["OPENBLAS_NUM_THREADS"] = threads
    samples = []
    for _ in range(NUMPY_IMPORTS):
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        samples.append(float(out.stdout.strip()))
    return samples


def size_mb(architecture: str, reader: str) -> str:
    built = layers_dir(architecture)
    parts = [
        ROOT / "functions" / "predict",
        built / "common" / "python",
        built / MODEL_LAYER[reader] / "python",
    ]
    if not all(part.is_dir() for part in parts):
        return "not built"
    total = sum(
        f.stat().st_size for part in parts for f in part.rglob("*") if f.is_file() and not f.is_symlink()
    )
    return f"{total / 2**20:.1f}"


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-predict-"))
    data, spec = published_artifact()  # the shipped model (model/published), sha256 verified: no training
    assert spec.has_twin, "model 21 has no ONNX twin pinned: run make model PUBLISH=1"
    efs = work / "efs"
    stage_efs(efs, spec, data)

    series: dict[str, list[float]] = {}
    for reader in READERS:
        series |= warm(reader, spec, data, efs)
    series |= cold_loads(spec, data, efs, work)
    cold = {reader: cold_starts(reader, spec, efs) for reader in READERS}
    for reader in READERS:
        series[f"{reader}: cold start, handler import + model load"] = [r["ms"] for r in cold[reader]]
    numpy_default, numpy_one = numpy_imports(None), numpy_imports("1")
    series["import numpy, OPENBLAS_NUM_THREADS unset"] = numpy_default
    series["import numpy, OPENBLAS_NUM_THREADS=1"] = numpy_one

    targets = {
        "skops: handler, 1 lead": ("p50 <= 3 ms", lambda s: percentile(s, 50) <= 3),
        "skops: handler, 100 leads": ("p50 <= 10 ms", lambda s: percentile(s, 50) <= 10),
        "twin: handler, 1 lead": ("p50 <= 3 ms", lambda s: percentile(s, 50) <= 3),
        "twin: handler, 100 leads": ("p50 <= 10 ms", lambda s: percentile(s, 50) <= 10),
        "twin: cold start, handler import + model load": ("min <= 300 ms", lambda s: min(s) <= 300),
    }
    rows = []
    for name, samples in series.items():
        target, check = targets.get(name, ("", None))
        verdict = "" if check is None else ("PASS" if check(samples) else "FAIL")
        rows.append(summary_row(name, samples, [target, verdict]))
    markdown = markdown_table([*LATENCY_HEADER, "target", "result"], rows)

    side = []
    for reader in READERS:
        ms = sorted(r["ms"] for r in cold[reader])
        peak = max(r["peak_kb"] for r in cold[reader]) / 1024
        one = series[f"{reader}: handler, 1 lead"]
        hundred = series[f"{reader}: handler, 100 leads"]
        side.append([
            reader, f"{ms[0]:.0f} / {statistics.median(ms):.0f}",
            f"{percentile(one, 50):.2f} / {percentile(one, 99):.2f}",
            f"{percentile(hundred, 50):.2f} / {percentile(hundred, 99):.2f}",
            f"{peak:.0f}", size_mb(ARCH, reader), size_mb("arm64", reader),
        ])  # fmt: skip
    markdown += "\n\n" + markdown_table(
        ["predict", "cold start ms min / median", "warm 1 lead p50 / p99 ms", "warm 100 leads p50 / p99 ms",
         "peak memory MB", f"unzipped MB {ARCH}", "unzipped MB arm64"],
        side,
    )  # fmt: skip

    def spread(samples: list[float]) -> str:
        ordered = sorted(samples)
        return (f"{ordered[0]:.0f} / {statistics.median(ordered):.0f} / {ordered[-1]:.0f} "
                f"(stdev {statistics.pstdev(ordered):.0f})")  # fmt: skip

    markdown += "\n\n" + markdown_table(
        ["import numpy, fresh interpreter", "min / median / max ms"],
        [
            ["OPENBLAS_NUM_THREADS unset", spread(numpy_default)],
            ["OPENBLAS_NUM_THREADS=1", spread(numpy_one)],
        ],
    )
    layers = "the layers make verify built" if layers_dir(ARCH).is_dir() else "the venv (layers not built)"
    markdown += (
        f"\n\nArtifacts: {len(data)} bytes (skops), {len(files(spec, data)[spec.twin()])} bytes (ONNX twin). "
        "Handler rows include Powertools event parsing, pydantic validation of the request and response, "
        "the scorer's per-feature attribution and the JSON answer; the bare model rows are the reader's "
        "transform (features and probabilities). Cold loads: one fresh chain per run, the sha256 check "
        "and the reader (skops deserialisation with the trusted types, or the ONNX allow-list check and "
        "an onnxruntime session); S3 is moto in server mode, the Hub the local stand-in. Cold starts: "
        f"{COLD_STARTS} fresh interpreters from {layers}, OPENBLAS_NUM_THREADS=1, the model from EFS. "
        f"Load average at the end of the run: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores."
    )
    write_results("predict", markdown, series)


if __name__ == "__main__":
    main()
