"""`make verify`: run what we ship, the way Lambda runs it, and say what it costs.

    python -m local.verify [--reuse-layers] [--skip-arm64]

1. Builds the layers for this machine's architecture twice, side by side: the shipped ``bytecode``
   layout and today's ``sources`` layout (``layers/build.py --out``), and for arm64 (the default
   target) once more, to check every ELF file is aarch64 and needs glibc 2.34 or older (AL2023).
2. Synthesizes the app against each build (``python app.py``, offline), reads the four functions
   from the synthesized templates (handler, layers in order, environment, memory, timeout) and
   their asset directories from the cloud assembly.
3. Starts the local stack (moto in server mode, a real redis-server, the API Gateway emulator) with
   every function running from its asset in a process of its own (``local.lambda_runtime``:
   Python 3.12, isolated, ``sys.path`` = asset + layers + the runtime's SDK, no bytecode written),
   stages the model from the synthesized bucket deployment's asset into the local S3 cache, and
   checks each function answers as it must: authorizer Allow and 401 (fixture events), predict 200
   from the staged model, health 200, canary clean; then the pre-traffic hook, also from its asset,
   checks that release (its version ARNs mapped to the running functions by ``local.lambda_api``, which
   answers its Lambda Invoke and CodeDeploy calls) and must report Succeeded. The asset directories
   must be unchanged after (read-only code) and no API key may appear in any function's log.
4. Prints a table per layout: cold init, peak memory, unzipped size against Lambda's 250 MB.

Exit status 0 when every function answered correctly and fits; timings are reported against their
targets but never fail the run (this is a shared 2-core machine; see bench/ for the method).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
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
LAYOUTS = ("sources", "bytecode")  # today's, then the shipped one
INIT_TARGET_MS: dict[str, int | None] = {
    "predict": 1500, "authorizer": 400, "health": 400, "canary": 400, HOOK: None,
}  # fmt: skip
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


def run(command: list[str], **kwargs: Any) -> None:
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True, cwd=ROOT, **kwargs)


def size_of(path: Path) -> int:
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file() and not item.is_symlink())


def tree_listing(path: Path) -> dict[str, int]:
    return {str(item.relative_to(path)): item.stat().st_size for item in path.rglob("*")}


# ------------------------------------------------------------------------------------------ build
def build_layers(layout: str, architecture: str, reuse: bool) -> Path:
    out = WORK / "layers" / f"{layout}-{architecture}"
    if reuse and all((out / name / "manifest.json").is_file() for name in ("common", "ml")):
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


def synthesize(layers: Path, architecture: str, outdir: Path) -> None:
    shutil.rmtree(outdir, ignore_errors=True)
    context = {
        "architecture": architecture,
        "hokusai:layerDirs": {"common": str(layers / "common"), "ml": str(layers / "ml")},
        "aws:cdk:enable-asset-metadata": True,
    }
    env = {**os.environ, "CDK_OUTDIR": str(outdir), "CDK_CONTEXT_JSON": json.dumps(context)}
    run([sys.executable, "app.py"], env=env, stdout=subprocess.DEVNULL)


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
    layout: str
    init_ms: float
    import_ms: float
    peak_mb: float
    unzipped_mb: float
    answers: str

    @property
    def fits(self) -> bool:
        return self.unzipped_mb * 1024 * 1024 <= LAMBDA_UNZIPPED_LIMIT


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


def run_layout(layout: str, layers: Path, architecture: str, sdk: Path) -> list[Row]:
    from local.stack import LocalStack

    outdir = WORK / f"cdk.out-{layout}"
    synthesize(layers, architecture, outdir)
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

    log_dir = WORK / "logs" / layout
    shutil.rmtree(log_dir, ignore_errors=True)
    host = AssetFunctionHost(
        identity=None, artifacts=artifacts, python=python312(), runtime_sdk=[sdk], log_dir=log_dir
    )
    stack = LocalStack(name=f"hokusai-verify-{layout}", function_host=host, stage_models=False)
    keys: list[str] = []
    lambda_api = LambdaAndCodeDeploy({release_version_arn(name): (name, host.invoke) for name in RELEASED})
    release = {f"RELEASE_{name.upper()}_VERSION": release_version_arn(name) for name in RELEASED}
    # What Lambda's and CodeDeploy's endpoints are for the hook here (moto stays every other service's).
    endpoints = {"AWS_ENDPOINT_URL_LAMBDA": lambda_api.url, "AWS_ENDPOINT_URL_CODEDEPLOY": lambda_api.url}
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
        artifacts = {
            name: dataclasses.replace(
                artifact,
                environment=resolved_environment(name, declared[name], {**stack.environment, **release})
                | (endpoints if name == HOOK else {}),
            )
            for name, artifact in artifacts.items()
        }
        host.artifacts = artifacts
        # Lambda's reserved AWS_REGION and credentials; here moto's endpoint and dummy keys.
        aws = stack.aws.env()
        host.configure({**aws, "AWS_REGION": aws.get("AWS_DEFAULT_REGION", "eu-west-1"), **stack.environment})
        host.reload()
        # Cold starts, one function at a time (nothing else competing for the two cores).
        for name in (*FUNCTIONS, HOOK):
            host.worker(name)
        canary_key = getattr(stack.deployment, "canary_api_key", None)
        if canary_key:
            keys.append(canary_key)
        answers = check_functions(stack, host, keys)
        answers[HOOK] = check_pre_traffic_hook(host, lambda_api)
    finally:
        lambda_api.close()
        host.stop()
        stack.stop()
    check_untouched(before, {name: artifact.task_dir for name, artifact in artifacts.items()})
    check_untouched(layer_before, {directory: Path(directory) for directory in layer_before})
    for log in log_dir.glob("*.log"):
        if any(key in log.read_text(errors="replace") for key in keys):
            raise VerifyError(f"an API key appears in {log}")
    rows = []
    for name, artifact in artifacts.items():
        worker = host.workers_seen[name]
        unzipped = size_of(artifact.task_dir) + sum(size_of(layer) for layer in artifact.layer_dirs)
        rows.append(
            Row(name, layout, worker.init_ms, worker.import_ms, worker.peak_kb / 1024, unzipped / 2**20,
                answers[name])
        )  # fmt: skip
    return rows


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
        "| function | layout | cold init ms | of which init phase ms | target ms | peak memory MB "
        "| unzipped MB of 250 | answered |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        target = INIT_TARGET_MS[row.function]
        verdict = "-" if target is None else f"{target} ({'met' if row.init_ms <= target else 'missed'})"
        lines.append(
            f"| {row.function} | {row.layout} | {row.init_ms:.0f} | {row.import_ms:.0f} "
            f"| {verdict} "
            f"| {row.peak_mb:.0f} | {row.unzipped_mb:.1f}{'' if row.fits else ' TOO LARGE'} | {row.answers} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reuse-layers", action="store_true", help="keep layers built by an earlier run")
    parser.add_argument("--skip-arm64", action="store_true", help="skip the arm64 ELF and size check")
    args = parser.parse_args(argv)
    started = time.monotonic()
    architecture = machine_architecture()
    WORK.mkdir(exist_ok=True)
    try:
        sdk = runtime_sdk(args.reuse_layers)
        rows: list[Row] = []
        for layout in LAYOUTS:
            layers = build_layers(layout, architecture, args.reuse_layers)
            rows.extend(run_layout(layout, layers, architecture, sdk))
        if architecture == "arm64":
            elf_check(WORK / "layers" / f"bytecode-{architecture}", "arm64")
        elif not args.skip_arm64:
            elf_check(build_layers("bytecode", "arm64", args.reuse_layers), "arm64")
    except (VerifyError, subprocess.CalledProcessError) as error:
        print(f"make verify: FAILED: {error}", file=sys.stderr)
        return 1
    table = render(rows)
    print(f"\nmake verify on {architecture} ({platform.processor() or platform.machine()}), "
          f"{time.monotonic() - started:.0f} s\n\n{table}\n")  # fmt: skip
    results = ROOT / "bench" / "results" / "verify.md"
    results.write_text(
        f"# make verify ({architecture})\n\nEach function from its synthesized asset, as Lambda runs it "
        f"(local/verify.py). `sources` is the layout shipped before bytecode; `bytecode` is what "
        f"`make layers` ships now.\n\n{table}\n"
    )
    oversize = [row for row in rows if row.layout == "bytecode" and not row.fits]
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
