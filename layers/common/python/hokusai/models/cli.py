"""``hokusai models``: fill the S3/EFS caches ahead of time, so production never needs the Hub.

    hokusai models list   [--registry FILE]
    hokusai models sync   [--registry FILE] [--model ID ...] [--bucket B] [--prefix P] [--efs DIR]
    hokusai models verify [--registry FILE] [--model ID ...] [--bucket B] [--prefix P] [--efs DIR]
    hokusai models fetch  [--registry FILE] [--model ID ...] [--root DIR]
    hokusai models publish --registry FILE [--model ID ...] [--root DIR] [--leads FILE]

``publish`` makes each model's ONNX twin beside its local artifact (model/published or
model/build/fetched, sha256 checked), gated on identical answers (``hokusai.models.twin``: the
evaluation leads of ``--leads``, a JSON list of lead objects, plus edge cases and fuzzed leads), and
pins it in the registry file (``twin_filename``, ``twin_sha256``); a model that cannot be converted or
does not agree is left without a twin, with one line saying why. Copy the entries into cdk.json's
``models`` as `make model PUBLISH=1` does for the demo model.

``fetch`` runs on the operator's machine (which reaches the Hub) before ``make deploy``, for a model
that is not shipped under model/published (a private Hub repo): it downloads the pinned revision into
model/build/fetched/<repo_id>/<revision>/ and checks its sha256, so synth can stage it into S3. A
mismatch fails naming the model, the expected and the actual sha256, and keeps nothing.

The registry comes from ``--registry`` (e.g. model/registry.json) or ``MODEL_REGISTRY``; the caches
from the flags or ``MODEL_BUCKET``/``MODEL_BUCKET_PREFIX``/``MODEL_CACHE_DIR``; the Hub token from
``HF_TOKEN_SECRET_ARN`` (Secrets Manager) and the endpoint from ``HF_ENDPOINT``, as in the function.
Exit status: 0 all good, 1 some model failed, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from hokusai.config import ConfigError, PredictSettings
from hokusai.environment import read
from hokusai.models.artifacts import ArtifactSource, EfsSource, ModelUnavailableError, S3Source, sha256_hex
from hokusai.models.registry import ModelSpec


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hokusai models", description="Manage cached model artifacts.")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("list", "show the registry"),
        ("sync", "fetch each model (Hub last) and write it to the S3 bucket and EFS directory"),
        ("verify", "check the cached copies against the registry's sha256"),
        ("fetch", "download models from the Hub into model/build/fetched for `make deploy` to stage"),
        ("publish", "make each model's ONNX twin beside its local artifact and pin it in the registry file"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("--registry", type=Path, help="registry JSON file (default: $MODEL_REGISTRY)")
        if name != "list":
            command.add_argument("--model", action="append", help="model id (repeatable; default: all)")
        if name in ("fetch", "publish"):
            command.add_argument("--root", type=Path, default=Path.cwd(), help="project root (default: .)")
        if name == "publish":
            command.add_argument("--leads", type=Path, help="JSON list of evaluation leads for the gate")
        elif name != "list":
            command.add_argument("--bucket", help="S3 cache bucket (default: $MODEL_BUCKET)")
            command.add_argument("--prefix", help="S3 key prefix (default: $MODEL_BUCKET_PREFIX or models/)")
            command.add_argument("--efs", help="EFS/cache directory (default: $MODEL_CACHE_DIR)")
    return parser


def _settings(args: argparse.Namespace) -> PredictSettings:
    environ = dict(os.environ)
    if args.registry is not None:
        environ["MODEL_REGISTRY"] = args.registry.read_text()
    settings = PredictSettings.from_env(environ)
    return replace(
        settings,
        model_bucket=getattr(args, "bucket", None) or settings.model_bucket,
        model_bucket_prefix=getattr(args, "prefix", None) or settings.model_bucket_prefix,
        model_cache_dir=getattr(args, "efs", None) or settings.model_cache_dir,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(list(argv) if argv is not None else None)
    try:
        settings = _settings(args)
    except (ConfigError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.command == "list":
        for spec in settings.registry.values():
            print(
                f"{spec.model_id}\t{spec.name}\t{spec.version}\t{spec.repo_id}@{spec.revision}\t{spec.filename}"
            )
        return 0
    wanted = args.model or list(settings.registry)
    unknown = [model_id for model_id in wanted if model_id not in settings.registry]
    if unknown:
        print(f"error: unknown model id(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    if args.command == "publish":
        return _publish(settings, wanted, args)
    # Each model's files: its artifact and, when pinned, its ONNX twin (both checked by sha256).
    artifacts = [artifact for model_id in wanted for artifact in _artifacts(settings.registry[model_id])]
    if args.command == "fetch":
        from hokusai.models import staging

        # A twin made here at staging time (`hokusai models publish`) is on no Hub: a local copy will do.
        wanted_files = [
            a for a in artifacts if a.format != "onnx" or staging.local_artifact(args.root, a) is None
        ]
        return 1 if sum(_fetch(settings, artifact, args.root) for artifact in wanted_files) else 0
    if not settings.model_bucket and not settings.model_cache_dir:
        print(
            "error: no cache to fill: pass --bucket and/or --efs (or set MODEL_BUCKET/MODEL_CACHE_DIR)",
            file=sys.stderr,
        )
        return 2
    from hokusai import aws

    s3 = aws.client("s3", aws.OPERATOR) if settings.model_bucket else None
    run = _sync if args.command == "sync" else _verify
    failed = sum(run(settings, artifact, s3) for artifact in artifacts)
    return 1 if failed else 0


def _publish(settings: PredictSettings, wanted: list[str], args: argparse.Namespace) -> int:
    import hashlib
    import json

    from hokusai.models import staging
    from hokusai.models.twin import make_twin, twin_filename

    if args.registry is None:
        print("error: publish rewrites the registry file: pass --registry FILE", file=sys.stderr)
        return 2
    leads = json.loads(args.leads.read_text()) if args.leads else []
    document = json.loads(args.registry.read_text())
    failed = 0
    for model_id in wanted:
        spec = settings.registry[model_id]
        artifact = staging.local_artifact(args.root, spec)
        if artifact is None:
            print(f"{model_id}\tFAILED\tno local copy of {spec.filename}: run `hokusai models fetch` first")
            failed += 1
            continue
        try:
            staging.verify_artifact(artifact, spec)
        except staging.ArtifactMismatchError as error:
            print(f"{model_id}\tFAILED\t{error}")
            failed += 1
            continue
        result = make_twin(artifact.read_bytes(), spec, leads)
        entry = {k: v for k, v in document[model_id].items() if k not in ("twin_filename", "twin_sha256")}
        name = spec.twin_filename or twin_filename(spec.filename)
        if result.data is None:
            (artifact.parent / name).unlink(missing_ok=True)
            print(f"{model_id}\tNO TWIN\t{result.reason}")
        else:
            (artifact.parent / name).write_bytes(result.data)
            entry |= {"twin_filename": name, "twin_sha256": hashlib.sha256(result.data).hexdigest()}
            print(f"{model_id}\tTWIN\t{artifact.parent / name}\t{entry['twin_sha256']}\t"
                  f"same answers on {result.verdict.leads} leads")  # fmt: skip
        document[model_id] = entry
    args.registry.write_text(json.dumps(document, indent=2) + "\n")
    return 1 if failed else 0


def _artifacts(spec: ModelSpec) -> list[ModelSpec]:
    return [spec, spec.twin()] if spec.has_twin else [spec]


def _sync(settings: PredictSettings, spec: ModelSpec, s3: Any) -> int:
    from hokusai import aws
    from hokusai.models.service import build_chain

    # The operator's machine reaches the Hub even where the functions cannot: always include it.
    secretsmanager = lambda: aws.client("secretsmanager", aws.OPERATOR)  # noqa: E731
    chain = build_chain(replace(settings, hub_fallback=True), s3, secretsmanager)
    try:
        result = chain.load(spec)
    except ModelUnavailableError as error:
        print(f"{spec.model_id}\tFAILED\t{error.detail}")
        return 1
    trail = ", ".join(f"{a.source}:{a.outcome}" for a in result.attempts)
    print(f"{spec.model_id}\tOK\tfrom {result.source}\t{trail}")
    return 0


def _operator_token(settings: PredictSettings) -> str:
    """``HF_TOKEN`` (the Hub's own convention) on the operator's machine, else the stack's secret."""
    token: str | None = read("HF_TOKEN")
    if token:
        return token
    if not settings.hf_token_secret_arn:
        return ""  # a public repo needs none; a private one answers 401, which is reported
    from hokusai import aws
    from hokusai.models.hub import secrets_manager_token

    secretsmanager = aws.client("secretsmanager", aws.OPERATOR)
    return secrets_manager_token(secretsmanager, settings.hf_token_secret_arn)()


def _fetch(settings: PredictSettings, spec: ModelSpec, root: Path) -> int:
    from hokusai.models import staging
    from hokusai.models.artifacts import SourceError, atomic_write
    from hokusai.models.hub import HubSource

    target = staging.fetched_path(root, spec)
    source = HubSource(
        lambda: _operator_token(settings),
        cache_dir=f"{settings.hf_home.rstrip('/')}/hub",
        endpoint=settings.hf_endpoint,
        timeout_seconds=max(settings.hf_download_timeout_ms / 1000, 60.0),
    )
    try:
        data = source.fetch(spec)
    except SourceError as error:
        hint = "; make the ONNX twin here: hokusai models publish" if spec.format == "onnx" else ""
        print(f"{spec.model_id}\tFAILED\t{error}{hint}")
        return 1
    if data is None:
        print(f"{spec.model_id}\tFAILED\t{spec.repo_id}@{spec.revision} has no {spec.filename}")
        return 1
    actual = sha256_hex(data)
    if actual != spec.sha256:
        print(
            f"{spec.model_id}\tMISMATCH\t{spec.repo_id}@{spec.revision}/{spec.filename}: expected sha256 "
            f"{spec.sha256}, got {actual}; nothing kept (fix the registry pin or the Hub revision)"
        )
        return 1
    atomic_write(str(target), data)
    print(f"{spec.model_id}\tOK\t{target}\t{actual}")
    return 0


def _verify(settings: PredictSettings, spec: ModelSpec, s3: Any) -> int:
    sources: list[ArtifactSource] = []
    if settings.model_cache_dir:
        sources.append(EfsSource(settings.model_cache_dir))
    if s3 is not None and settings.model_bucket:
        sources.append(S3Source(s3, settings.model_bucket, settings.model_bucket_prefix))
    failed = 0
    for source in sources:
        try:
            data = source.fetch(spec)
        except Exception as error:
            print(f"{spec.model_id}\t{source.name}\tERROR\t{error}")
            failed += 1
            continue
        if data is None:
            status = "MISSING"
        elif sha256_hex(data) != spec.sha256:
            status = f"CORRUPT\tsha256 mismatch ({len(data)} bytes)"
        else:
            print(f"{spec.model_id}\t{source.name}\tOK\t{spec.sha256}")
            continue
        print(f"{spec.model_id}\t{source.name}\t{status}")
        failed += 1
    return failed


if __name__ == "__main__":
    raise SystemExit(main())
