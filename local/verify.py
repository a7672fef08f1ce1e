"""`make verify`: run what we ship, the way Lambda runs it, and say what it costs.

    python -m local.verify [--reuse-layers] [--skip-arm64] [--skip-before]

1. Builds the layers (bytecode, as shipped) for this machine's architecture: common, the full ML layer
   and the lean ONNX layer; and for arm64 (the default target) once more, to check every ELF file is
   aarch64 and needs glibc 2.34 or older (AL2023), and to report the unzipped sizes there.
2. Side by side in one run, two variants of the whole app (issue 24):
   ``before``: the code of :data:`BASELINE` (``git archive``), as deployed before: Powertools' Tracer on
   the X-Ray SDK with tracing on (``patch_all``), predict on the full ML layer from the skops file;
   ``now``: this checkout, tracing on through the OpenTelemetry API (``HOKUSAI_TRACING=true``, no SDK
   here: the deployment's layer supplies it, bench/tracing.py measures it), predict on the lean layer
   from the model's ONNX twin. Each is synthesized (``python app.py``, offline) against its layers, and
   the functions are read from the synthesized templates (handler, layers, environment, memory,
   timeout) and their asset directories from the cloud assembly.
3. Starts the local stack (moto in server mode, a real redis-server, the API Gateway emulator) with
   every function running from its asset in a process of its own (``local.lambda_runtime``:
   Python 3.12, isolated, ``sys.path`` = asset + layers + the runtime's SDK, no bytecode written),
   stages the models from the synthesized bucket deployment's asset into the local S3 cache, times each
   function's cold start and first request, and checks each function answers as it must: authorizer
   Allow and 401 (fixture events), predict 200 from the staged model, health 200, canary clean; then
   the pre-traffic hook, also from its asset, checks that release (its version ARNs mapped to the
   running functions by ``local.lambda_api``, which answers its Lambda Invoke and CodeDeploy calls)
   and must report Succeeded. The asset directories must be unchanged after (read-only code) and no
   API key may appear in any function's log.
4. Prints one table: per function and variant, cold init, first request, the two together against
   the target, peak memory, unzipped size here and on arm64 against Lambda's 250 MB.

Exit status 0 when every function answered correctly and fits; timings are reported against their
targets but never fail the run (this is a shared 2-core machine; see bench/ for the method).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.lambda_api import LambdaAndCodeDeploy
from local.lambda_runtime import AssetFunctionHost, FunctionArtifact, FunctionError

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".verify"
EVENTS = ROOT / "tests" / "events"  # the recorded API Gateway / EventBridge shapes (data, not code)
FUNCTIONS = ("authorizer", "predict", "health", "canary")
RELEASED = ("authorizer", "predict", "health")  # behind `live` aliases; the hook checks their versions
HOOK = "pre_traffic"
STATEFUL_STACK, SERVICE_STACK, MONITORING_STACK = "HokusaiStateful", "HokusaiService", "HokusaiMonitoring"
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024
LAYERS = ("common", "ml", "onnx")
# The code as deployed before issue 24 (X-Ray SDK tracing, predict from skops): the "before" variant.
BASELINE = "dfc20bd"
VARIANTS = ("before", "now")
# Cold init + first request (issue 24: predict's cold init from the twin 0.3 s, the authorizer 0.25 s).
INIT_TARGET_MS: dict[str, int | None] = {
    "predict": 300, "authorizer": 250, "health": 400, "canary": None, HOOK: None,
}  # fmt: skip
# Each function's first request, invoked directly (the canary's is a whole run against the API).
FIRST_EVENTS = {
    "authorizer": "authorizer_no_key.json",
    "predict": "predict_seed.json",
    "health": "health_get.json",
}
MAX_GLIBC = "2.34"  # Amazon Linux 2023, the python3.12 runtime's OS
# Variables naming a resource: always this machine's (moto, Redis, the emulator), never the template's.
LOCAL_RESOURCES = (
    "KEYS_TABLE_NAME",
    "REDIS_URL",
    "REDIS_AUTH_SECRET_ARN",
    "MODEL_BUCKET",
    "MODEL_CACHE_DIR",
    "HF_TOKEN_SECRET_ARN",
    "HF_HOME",
    "HF_ENDPOINT",
    "CANARY_KEY_SECRET_ARN",
    "AUTH_CACHE_KEY_SECRET_ARN",
    "API_BASE_URL",
    "EXPECTED_STATE_PARAMETER",
    "ALERT_TOPIC_ARN",
    "AUTH_SERVICE_URL",
    # The hook's: this release's versions, here the running functions behind local.lambda_api.
    "RELEASE_AUTHORIZER_VERSION",
    "RELEASE_PREDICT_VERSION",
    "RELEASE_HEALTH_VERSION",
)


def release_version_arn(function: str) -> str:
    return f"arn:aws:lambda:eu-west-1:123456789012:function:hokusai-{function}:1"


class VerifyError(RuntimeError):
    pass


def machine_architecture() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}[machine]


def run(command: list[str], cwd: Path = ROOT, **kwargs: Any) -> None:
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True, cwd=cwd, **kwargs)


def size_of(path: Path) -> int:
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file() and not item.is_symlink())


def tree_listing(path: Path) -> dict[str, int]:
    return {str(item.relative_to(path)): item.stat().st_size for item in path.rglob("*")}


# ------------------------------------------------------------------------------------------ build
def build_layers(layout: str, architecture: str, reuse: bool) -> Path:
    out = WORK / "layers" / f"{layout}-{architecture}"
    if reuse and all((out / name / "manifest.json").is_file() for name in LAYERS):
        print(f"reusing {out}", flush=True)
        return out
    run(
        [
            sys.executable,
            "layers/build.py",
            "--architecture",
            architecture,
            "--layout",
            layout,
            "--out",
            str(out),
        ]
    )
    return out


def runtime_sdk(reuse: bool) -> Path:
    """boto3 & co. as the managed runtime provides them: installed apart, never inside a layer.
    snapshot_restore_py too (SnapStart's runtime hooks: the Python runtimes ship it)."""
    target = WORK / "runtime-sdk"
    if reuse and (target / "boto3").is_dir() and (target / "snapshot_restore_py.py").is_file():
        return target
    pins = [
        line.strip()
        for line in (ROOT / "requirements" / "dev.txt").read_text().splitlines()
        if line.strip().startswith(("boto3==", "snapshot-restore-py=="))
    ]
    shutil.rmtree(target, ignore_errors=True)
    run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--target", str(target), *(pins or ["boto3", "snapshot-restore-py"])]
    )  # fmt: skip
    return target


def baseline_source(reuse: bool) -> Path | None:
    """The :data:`BASELINE` commit's files (``git archive``, no worktree), or None when this clone
    does not have that commit (a shallow clone): the ``before`` variant is then skipped, said once."""
    target = WORK / f"baseline-{BASELINE}"
    if reuse and (target / "app.py").is_file():
        return target
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", "--format=tar", BASELINE], cwd=ROOT, capture_output=True, check=False
    )
    if archive.returncode != 0:
        print(f"no commit {BASELINE} in this clone: the before variant is skipped", flush=True)
        shutil.rmtree(target, ignore_errors=True)
        return None
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target


def build_baseline_common(source: Path, architecture: str, reuse: bool) -> Path:
    """The baseline's common layer (its hokusai package, Powertools with the X-Ray SDK), built by its
    own layers/build.py; its ML layer is this checkout's (the same requirements)."""
    out = WORK / "layers" / f"baseline-{architecture}"
    if reuse and (out / "common" / "manifest.json").is_file():
        return out / "common"
    run(
        [sys.executable, str(source / "layers" / "build.py"), "common", "--architecture", architecture,
         "--layout", "bytecode", "--out", str(out)],
        cwd=source,
    )  # fmt: skip
    return out / "common"


def synthesize(layer_dirs: Mapping[str, Path], architecture: str, outdir: Path, root: Path = ROOT) -> None:
    shutil.rmtree(outdir, ignore_errors=True)
    context = {
        "architecture": architecture,
        "hokusai:layerDirs": {name: str(path) for name, path in layer_dirs.items()},
        "aws:cdk:enable-asset-metadata": True,
    }
    env = {**os.environ, "CDK_OUTDIR": str(outdir), "CDK_CONTEXT_JSON": json.dumps(context)}
    run([sys.executable, "app.py"], env=env, stdout=subprocess.DEVNULL, cwd=root)


# ------------------------------------------------------------------------------------------ assembly
@dataclass
class Assembly:
    outdir: Path
    templates: dict[str, dict[str, Any]] = field(default_factory=dict)

    def template(self, stack: str) -> dict[str, Any]:
        if stack not in self.templates:
            self.templates[stack] = json.loads((self.outdir / f"{stack}.template.json").read_text())
        return self.templates[stack]

    def asset_dir(self, resource: Mapping[str, Any]) -> Path:
        path = resource.get("Metadata", {}).get("aws:asset:path")
        if not path:
            raise VerifyError("a synthesized resource has no aws:asset:path metadata")
        return self.outdir / path

    def function(self, name: str, function_name: str) -> tuple[FunctionArtifact, dict[str, Any]]:
        """The function named ``function_name``: its artifact and its raw environment."""
        for stack in (SERVICE_STACK, MONITORING_STACK):
            resources = self.template(stack)["Resources"]
            for resource in resources.values():
                properties = resource.get("Properties", {})
                if (
                    resource["Type"] != "AWS::Lambda::Function"
                    or properties.get("FunctionName") != function_name
                ):
                    continue
                layers = [
                    self.layer(stack, reference, function_name) for reference in properties.get("Layers", [])
                ]
                artifact = FunctionArtifact(
                    name=name,
                    task_dir=self.asset_dir(resource),
                    handler=properties["Handler"],
                    layer_dirs=tuple(layers),
                    memory_mb=int(properties.get("MemorySize", 128)),
                    timeout_seconds=float(properties.get("Timeout", 3)),
                )
                return artifact, dict(properties.get("Environment", {}).get("Variables", {}))
        raise VerifyError(f"no function {function_name} in the synthesized templates")

    def layer(self, stack: str, reference: Any, function_name: str) -> Path:
        """A layer's asset directory from a ``Ref`` in the same stack or an ``Fn::ImportValue`` of
        another stack's export (the canary, in the monitoring stack, uses the service stack's)."""
        if isinstance(reference, dict) and "Fn::ImportValue" in reference:
            export = reference["Fn::ImportValue"]
            for other in (SERVICE_STACK, MONITORING_STACK):
                for output in self.template(other).get("Outputs", {}).values():
                    if output.get("Export", {}).get("Name") == export and "Ref" in output.get("Value", {}):
                        return self.layer(other, output["Value"], function_name)
        elif isinstance(reference, dict) and reference.get("Ref") in self.template(stack)["Resources"]:
            return self.asset_dir(self.template(stack)["Resources"][reference["Ref"]])
        raise VerifyError(f"{function_name}: cannot find layer {reference} in the assembly")

    def staged_models(self) -> list[tuple[Path, str]]:
        """(asset directory, destination key prefix) of each model staging (bucket deployment)."""
        staged = []
        assets = json.loads((self.outdir / f"{STATEFUL_STACK}.assets.json").read_text())["files"]
        by_object = {
            destination["objectKey"]: self.outdir / asset["source"]["path"]
            for asset in assets.values()
            for destination in asset["destinations"].values()
        }
        for resource in self.template(STATEFUL_STACK)["Resources"].values():
            if resource["Type"] != "Custom::CDKBucketDeployment":
                continue
            properties = resource["Properties"]
            for key in properties["SourceObjectKeys"]:
                staged.append((by_object[key], str(properties.get("DestinationBucketKeyPrefix", ""))))
        return staged


def resolved_environment(
    function: str, declared: Mapping[str, Any], local: Mapping[str, str]
) -> dict[str, str]:
    """The template's variables as this machine can honour them: literals as declared, resources
    (tables, buckets, secrets, URLs, the EFS mount) from the local stack. A declared variable that
    is neither is a contract this harness cannot keep: fail naming it."""
    environment: dict[str, str] = {}
    for variable, value in declared.items():
        if variable in LOCAL_RESOURCES:
            if variable not in local:
                raise VerifyError(
                    f"{function}: {variable} is declared but the local stack has no value for it"
                )
            environment[variable] = local[variable]
        elif isinstance(value, str):
            environment[variable] = value
        else:
            raise VerifyError(f"{function}: {variable} is an unresolved CloudFormation value: {value}")
    return environment


# ------------------------------------------------------------------------------------------ checks
@dataclass
class Row:
    function: str
    layout: str  # the variant: before | now
    init_ms: float
    import_ms: float
    peak_mb: float
    unzipped_mb: float
    answers: str
    first_ms: float | None = None  # the first request, invoked directly after the cold start
    arm64_mb: float | None = None  # the same function's code + layers built for arm64
    what: str = ""  # tracing and model path of the variant, for this function

    @property
    def fits(self) -> bool:
        return all(
            size * 1024 * 1024 <= LAMBDA_UNZIPPED_LIMIT for size in (self.unzipped_mb, self.arm64_mb or 0)
        )

    @property
    def cold_ms(self) -> float:
        return self.init_ms + (self.first_ms or 0.0)


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return event


def http(method: str, url: str, headers: Mapping[str, str], body: bytes | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers))  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the local emulator
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def check_functions(stack: Any, host: AssetFunctionHost, keys: list[str]) -> dict[str, str]:
    """Each function, from its asset, answers as it must. Returns function -> what it answered."""
    answers: dict[str, str] = {}
    failures: list[str] = []
    api_key, _ = stack.create_key("verify", ["21"])
    keys.append(api_key)

    # Authorizer: the recorded REQUEST event with a live key -> Allow; without a key -> 401.
    allowed = json.loads(
        (EVENTS / "authorizer_predict_bearer.json").read_text().replace("{{API_KEY}}", api_key)
    )
    answer = host.invoke("authorizer", allowed, "verify-allow")
    effects = {s.get("Effect") for s in answer.get("policyDocument", {}).get("Statement", [])}
    try:
        host.invoke("authorizer", load_event("authorizer_no_key.json"), "verify-deny")
        denied = "answered instead of raising"
    except FunctionError as error:
        denied = str(error)
    answers["authorizer"] = f"Allow={effects == {'Allow'}}, no key -> {denied}"
    if effects != {"Allow"} or denied != "Unauthorized":
        failures.append(f"authorizer: {answers['authorizer']}")

    # Predict over HTTP, through the emulator and the authorizer: the seed's request, staged model.
    seed = json.loads(load_event("predict_seed.json")["body"])
    status, body = http(
        "POST",
        f"{stack.base_url}/v1/models/21/predict",
        {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
        json.dumps(seed).encode(),
    )
    info_status, info = http("GET", f"{stack.base_url}/v1/models/21/info", {"X-API-Key": api_key})
    loaded_from = info.get("loaded_from") if isinstance(info, dict) else None
    recommendation = (body or {}).get("predictions", {}).get("recommendation") if status == 200 else body
    answers["predict"] = f"{status} {recommendation}; info {info_status}, loaded from {loaded_from}"
    if status != 200 or info_status != 200 or loaded_from not in {"s3", "efs", "memory"}:
        failures.append(f"predict: {answers['predict']}")

    status, body = http("GET", f"{stack.base_url}/health", {})
    answers["health"] = f"{status} {(body or {}).get('status')}"
    if status != 200 or (body or {}).get("status") != "healthy":
        failures.append(f"health: {status} {json.dumps(body)[:400]}")

    report = host.invoke("canary", load_event("canary_schedule.json"), "verify-canary")
    answers["canary"] = f"{report['critical']} critical, {report['warnings']} warnings"
    if report["critical"] or report["warnings"]:
        failures.append(f"canary: {json.dumps(report['findings'])[:800]}")
    if failures:
        raise VerifyError("functions did not answer as they must:\n  " + "\n  ".join(failures))
    return answers


def check_pre_traffic_hook(host: AssetFunctionHost, lambda_api: LambdaAndCodeDeploy) -> str:
    """CodeDeploy's pre-traffic event (the recorded shape): the hook must check the three running
    versions and report Succeeded for that hook execution."""
    event = load_event("codedeploy_pre_traffic_hook.json")
    answer = host.invoke(HOOK, event, "verify-pre-traffic")
    checks = ", ".join(f"{check['check']} {check['http_status']}" for check in answer.get("checks", []))
    verdicts = [verdict["status"] for verdict in lambda_api.verdicts]
    invoked = sorted(set(lambda_api.invoked))
    if (
        answer.get("status") != "Succeeded"
        or verdicts != ["Succeeded"]
        or invoked != sorted(release_version_arn(name) for name in RELEASED)
    ):
        raise VerifyError(f"{HOOK}: {json.dumps(answer)[:800]}; reported {verdicts}; invoked {invoked}")
    return f"{answer['status']} ({checks}), reported to CodeDeploy"


# What each variant runs, said in the table.
VARIANT_TRACING = {"before": "X-Ray SDK (Powertools Tracer)", "now": "OpenTelemetry API"}
# The variant's environment on top of the template's: tracing on, as deployed (the local stack's
# defaults turn Powertools' Tracer off; the template of `before` does not set it, Lambda would trace).
VARIANT_ENVIRONMENT = {
    "before": {"POWERTOOLS_TRACE_DISABLED": "false"},
    "now": {},
}
# Lambda sets the trace header per invocation; one fixed value here, for both variants.
TRACE_HEADER = {
    "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
}


# Cold starts per function (each a new process): the table shows the fastest, the least disturbed by
# whatever else runs on this shared machine; all of them are in the log.
COLD_SAMPLES = 5


@dataclass
class Cold:
    init_ms: float
    import_ms: float
    first_ms: float | None


def first_request(host: AssetFunctionHost, name: str) -> float | None:
    """The function's first request after its cold start, invoked directly and timed (ms)."""
    if name not in FIRST_EVENTS:
        return None
    event = load_event(FIRST_EVENTS[name])
    started = time.perf_counter()
    with contextlib.suppress(FunctionError):  # the authorizer's 401 is an exception, as on Lambda
        host.invoke(name, event, f"verify-first-{name}")
    return (time.perf_counter() - started) * 1000


def cold_start(host: AssetFunctionHost, name: str, *, fresh: bool) -> Cold:
    """One cold start of ``name`` (a new process when ``fresh``), and its first request."""
    if fresh:
        host.reload(name)
    worker = host.worker(name)
    return Cold(worker.init_ms, worker.import_ms, first_request(host, name))


def fastest(variant: str, name: str, samples: list[Cold]) -> Cold:
    """The least disturbed sample (cold init + first request); all of them printed."""
    firsts = [None if c.first_ms is None else round(c.first_ms) for c in samples]
    print(
        f"{variant} {name}: cold init ms {[round(c.init_ms) for c in samples]}, first request ms {firsts}",
        flush=True,
    )
    return min(samples, key=lambda c: c.init_ms + (c.first_ms or 0.0))


@dataclass
class Running:
    """One variant's app, running: its functions (from their assets), its local stack, its hook's APIs."""

    variant: str
    host: AssetFunctionHost
    stack: Any
    lambda_api: LambdaAndCodeDeploy
    artifacts: dict[str, FunctionArtifact]
    declared: dict[str, dict[str, Any]]
    keys: list[str] = field(default_factory=list)
    answers: dict[str, str] = field(default_factory=dict)


@contextlib.contextmanager
def running_variant(
    variant: str, root: Path, layer_dirs: Mapping[str, Path], architecture: str, sdk: Path
) -> Iterator[Running]:
    """Synthesize ``variant`` from ``root`` against ``layer_dirs`` and run it on a local stack of its own.

    After the ``with``: everything stopped, then the asset directories must be unchanged (read-only
    code) and no API key may appear in any of its functions' logs."""
    from local.stack import LocalStack

    outdir = WORK / f"cdk.out-{variant}"
    synthesize(layer_dirs, architecture, outdir, root=root)
    assembly = Assembly(outdir)
    artifacts: dict[str, FunctionArtifact] = {}
    declared: dict[str, dict[str, Any]] = {}
    for name in (*FUNCTIONS, HOOK):
        artifacts[name], declared[name] = assembly.function(name, f"hokusai-{name.replace('_', '-')}")
    for name in RELEASED:
        # The hook names the version this synth publishes: a Ref to the function's Lambda::Version.
        reference = declared[HOOK].get(f"RELEASE_{name.upper()}_VERSION")
        if not (isinstance(reference, dict) and "CurrentVersion" in str(reference.get("Ref"))):
            raise VerifyError(f"{HOOK}: RELEASE_{name.upper()}_VERSION is not {name}'s version: {reference}")
    before = {name: tree_listing(artifact.task_dir) for name, artifact in artifacts.items()}
    layer_before = {str(d): tree_listing(d) for a in artifacts.values() for d in a.layer_dirs}

    log_dir = WORK / "logs" / variant
    shutil.rmtree(log_dir, ignore_errors=True)
    host = AssetFunctionHost(
        identity=None, artifacts=artifacts, python=python312(), runtime_sdk=[sdk], log_dir=log_dir
    )
    stack = LocalStack(name=f"hokusai-verify-{variant}", function_host=host, stage_models=False)
    lambda_api = LambdaAndCodeDeploy({release_version_arn(name): (name, host.invoke) for name in RELEASED})
    release = {f"RELEASE_{name.upper()}_VERSION": release_version_arn(name) for name in RELEASED}
    # What Lambda's and CodeDeploy's endpoints are for the hook here (moto stays every other service's).
    endpoints = {"AWS_ENDPOINT_URL_LAMBDA": lambda_api.url, "AWS_ENDPOINT_URL_CODEDEPLOY": lambda_api.url}
    running = Running(variant, host, stack, lambda_api, artifacts, declared)
    try:
        stack.start()
        for asset_dir, prefix in assembly.staged_models():
            for artifact_file in sorted(asset_dir.iterdir()):
                stack.aws.client("s3").put_object(
                    Bucket=stack.environment["MODEL_BUCKET"],
                    Key=f"{prefix}{artifact_file.name}",
                    Body=artifact_file.read_bytes(),
                )
        # Each function's own environment, as the template declares it, resolved for this machine.
        running.artifacts = {
            name: dataclasses.replace(
                artifact,
                environment=resolved_environment(
                    name, declared[name], {**stack.environment, **_secret_arns(stack), **release}
                )
                | (endpoints if name == HOOK else {})
                | VARIANT_ENVIRONMENT[variant]
                | TRACE_HEADER,
            )
            for name, artifact in artifacts.items()
        }
        host.artifacts = running.artifacts
        # Lambda's reserved AWS_REGION and credentials; here moto's endpoint and dummy keys.
        aws = stack.aws.env()
        host.configure({**aws, "AWS_REGION": aws.get("AWS_DEFAULT_REGION", "eu-west-1"), **stack.environment})
        host.reload()
        canary_key = getattr(stack.deployment, "canary_api_key", None)
        if canary_key:
            running.keys.append(canary_key)
        yield running
    finally:
        lambda_api.close()
        host.stop()
        stack.stop()
    check_untouched(before, {name: artifact.task_dir for name, artifact in running.artifacts.items()})
    check_untouched(layer_before, {directory: Path(directory) for directory in layer_before})
    for log in log_dir.glob("*.log"):
        if any(key in log.read_text(errors="replace") for key in running.keys):
            raise VerifyError(f"an API key appears in {log}")


def run_variants(
    variants: Mapping[str, tuple[Path, Mapping[str, Path]]], architecture: str, sdk: Path
) -> list[Row]:
    """Every variant running at once, each on its own local stack; cold starts taken round robin
    (function by function, variant after variant, COLD_SAMPLES each), so the load of this shared
    machine weighs on all of them alike; then each variant's answers checked."""
    with contextlib.ExitStack() as exits:
        running = {
            variant: exits.enter_context(running_variant(variant, root, dirs, architecture, sdk))
            for variant, (root, dirs) in variants.items()
        }
        cold: dict[str, dict[str, Cold]] = {variant: {} for variant in running}
        for name in (*FUNCTIONS, HOOK):
            samples: dict[str, list[Cold]] = {variant: [] for variant in running}
            for _ in range(COLD_SAMPLES):
                for variant, run_ in running.items():
                    samples[variant].append(cold_start(run_.host, name, fresh=True))
            for variant in running:
                cold[variant][name] = fastest(variant, name, samples[variant])
        for run_ in running.values():
            run_.answers = check_functions(run_.stack, run_.host, run_.keys)
            run_.answers[HOOK] = check_pre_traffic_hook(run_.host, run_.lambda_api)
    rows: list[Row] = []
    for variant, run_ in running.items():
        rows += _rows(
            variant,
            artifacts=run_.artifacts,
            host=run_.host,
            answers=run_.answers,
            cold=cold[variant],
            declared=run_.declared,
        )
    return rows


def _rows(
    variant: str,
    *,
    artifacts: Mapping[str, FunctionArtifact],
    host: AssetFunctionHost,
    answers: Mapping[str, str],
    cold: Mapping[str, Cold],
    declared: Mapping[str, Mapping[str, Any]],
) -> list[Row]:
    layout = variant
    rows = []
    for name, artifact in artifacts.items():
        worker = host.workers_seen[name]
        unzipped = size_of(artifact.task_dir) + sum(size_of(layer) for layer in artifact.layer_dirs)
        model = ""
        if name == "predict":
            model = (
                ", model from its ONNX twin"
                if _serves_twin(declared[name], variant)
                else ", model from skops"
            )
        rows.append(
            Row(name, layout, cold[name].init_ms, cold[name].import_ms, worker.peak_kb / 1024,
                unzipped / 2**20, answers[name], first_ms=cold[name].first_ms,
                what=f"{_tracing(variant, declared[name])}{model}")
        )  # fmt: skip
    return rows


def _secret_arns(stack: Any) -> dict[str, str]:
    """Every secret-ARN variable, pointing at the local deployment's secret of that name."""
    from hokusai.environment import VARIABLES

    arns: dict[str, str] = getattr(stack.deployment, "secret_arns", {}) or {}
    return {v.name: arns[v.arn_of] for v in VARIABLES if v.arn_of is not None and v.arn_of in arns}


def _serves_twin(environment: Mapping[str, Any], variant: str) -> bool:
    registry = environment.get("MODEL_REGISTRY")
    if variant == "before":
        return False
    if not isinstance(registry, str):
        return False
    return all(entry.get("twin_sha256") for entry in json.loads(registry).values())


def _tracing(variant: str, environment: Mapping[str, Any]) -> str:
    if variant == "now" and environment.get("HOKUSAI_TRACING") != "true":
        return "tracing off"
    return VARIANT_TRACING[variant]


def check_untouched(before: Mapping[str, dict[str, int]], directories: Mapping[str, Path]) -> None:
    """Lambda's code and layers are read-only: nothing may have been written there (no .pyc)."""
    for name, directory in directories.items():
        if tree_listing(directory) != before[name]:
            raise VerifyError(f"{name}: {directory} changed while the functions ran (read-only on Lambda)")


def python312() -> str:
    """The runtime's interpreter: this venv's base Python when it is 3.12, else python3.12 on PATH."""
    base = getattr(sys, "_base_executable", sys.executable)
    if sys.version_info[:2] == (3, 12):
        return str(base)
    found = shutil.which("python3.12")
    if found is None:
        raise VerifyError("Python 3.12 (the Lambda runtime) is needed: install python3.12")
    return found


def elf_check(layers: Path, architecture: str) -> None:
    run(
        [sys.executable, "layers/elfcheck.py", str(layers / "common"), str(layers / "ml"),
         "--architecture", architecture, "--max-glibc", MAX_GLIBC]
    )  # fmt: skip


def render(rows: list[Row]) -> str:
    lines = [
        "| function | variant | tracing, model | cold init ms | first request ms | cold + first ms "
        "| target ms | peak memory MB | unzipped MB here | unzipped MB arm64 | answered |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        target = INIT_TARGET_MS[row.function]
        measured = row.init_ms if row.function == "predict" else row.cold_ms
        verdict = "-" if target is None else f"{target} ({'met' if measured <= target else 'missed'})"
        first = "-" if row.first_ms is None else f"{row.first_ms:.0f}"
        arm64 = "-" if row.arm64_mb is None else f"{row.arm64_mb:.1f}"
        lines.append(
            f"| {row.function} | {row.layout} | {row.what} | {row.init_ms:.0f} | {first} | {row.cold_ms:.0f} "
            f"| {verdict} | {row.peak_mb:.0f} | {row.unzipped_mb:.1f}{'' if row.fits else ' TOO LARGE'} "
            f"| {arm64} | {row.answers} |"
        )
    return "\n".join(lines)


def arm64_sizes(rows: list[Row], layers: Path, baseline_common: Path | None) -> None:
    """Each row's function code + its variant's layers as built for arm64 (Lambda's default here)."""
    for row in rows:
        names = {"predict": ("common", "onnx" if "ONNX twin" in row.what else "ml")}.get(
            row.function, ("common",)
        )
        directories = [layers / name / "python" for name in names]
        if row.layout == "before":
            if baseline_common is None:
                continue
            directories[0] = baseline_common / "python"
        code = size_of(ROOT / "functions" / row.function)
        row.arm64_mb = (code + sum(size_of(d) for d in directories)) / 2**20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reuse-layers", action="store_true", help="keep layers built by an earlier run")
    parser.add_argument("--skip-arm64", action="store_true", help="skip the arm64 ELF and size check")
    parser.add_argument("--skip-before", action="store_true", help="run only this checkout (no baseline)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    architecture = machine_architecture()
    WORK.mkdir(exist_ok=True)
    try:
        sdk = runtime_sdk(args.reuse_layers)
        layers = build_layers("bytecode", architecture, args.reuse_layers)
        now_dirs = {name: layers / name for name in LAYERS}
        baseline = None if args.skip_before else baseline_source(args.reuse_layers)
        baseline_arm64: Path | None = None
        variants: dict[str, tuple[Path, Mapping[str, Path]]] = {}
        if baseline is not None:
            before_dirs = {"common": build_baseline_common(baseline, architecture, args.reuse_layers),
                           "ml": layers / "ml"}  # fmt: skip
            variants["before"] = (baseline, before_dirs)
        variants["now"] = (ROOT, now_dirs)
        rows = run_variants(variants, architecture, sdk)
        if architecture == "arm64":
            arm64_layers = layers
            baseline_arm64 = (WORK / "layers" / "baseline-arm64" / "common") if baseline is not None else None
            elf_check(arm64_layers, "arm64")
        elif not args.skip_arm64:
            arm64_layers = build_layers("bytecode", "arm64", args.reuse_layers)
            elf_check(arm64_layers, "arm64")
            if baseline is not None:
                baseline_arm64 = build_baseline_common(baseline, "arm64", args.reuse_layers)
        else:
            arm64_layers = None
        if arm64_layers is not None:
            arm64_sizes(rows, arm64_layers, baseline_arm64)
    except (VerifyError, subprocess.CalledProcessError) as error:
        print(f"make verify: FAILED: {error}", file=sys.stderr)
        return 1
    table = render(rows)
    print(f"\nmake verify on {architecture} ({platform.processor() or platform.machine()}), "
          f"{time.monotonic() - started:.0f} s\n\n{table}\n")  # fmt: skip
    results = ROOT / "bench" / "results" / "verify.md"
    results.write_text(
        f"# make verify ({architecture})\n\nEach function from its synthesized asset, as Lambda runs it "
        f"(local/verify.py), both variants in one run: `before` is commit {BASELINE} as deployed before "
        "issue 24 (Powertools' Tracer on the X-Ray SDK, tracing on; predict from the skops file on the "
        "full ML layer); `now` is this checkout (tracing on through the OpenTelemetry API, no SDK here; "
        "predict from the model's ONNX twin on the lean layer). Cold init: spawning the interpreter to "
        "the handler imported; first request: the first invocation after it, direct (authorizer: no key, "
        "its 401; predict: the seed request; health: GET /health), the fastest of "
        f"{COLD_SAMPLES} cold starts per function. Targets: predict's cold init, the others' cold + first."
        "\n\n"
        f"{table}\n"
    )
    oversize = [row for row in rows if row.layout == "now" and not row.fits]
    if oversize:
        print(
            f"make verify: FAILED: over 250 MB unzipped: {[row.function for row in oversize]}",
            file=sys.stderr,
        )
        return 1
    print(f"make verify: OK ({len(rows)} function runs; table written to {results.relative_to(ROOT)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
