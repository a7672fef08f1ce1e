#!/usr/bin/env python3
"""Build the Lambda layers without Docker: `make layers` (or `python layers/build.py`).

- ml:     layers/ml/requirements.txt  -> layers/ml/build/python
- common: requirements/runtime.txt + the hokusai package -> layers/common/build/python

Wheels come from pip with ``--platform manylinux... --only-binary=:all: --python-version 3.12
--implementation cp`` for the architecture in cdk.json (``architecture``: arm64 -> aarch64), so the
result runs on Lambda whatever this machine is (``--architecture``, or ``make layers ARCH=x86_64``).
Then it strips what Lambda does not need (tests, caches, boto3/botocore, which the runtime provides)
and fails if a function plus its layers exceed Lambda's 250 MB unzipped limit, printing the sizes.
Afterwards `cdk synth` needs no network.

Each layer's build directory gets a ``manifest.json`` beside ``python/`` (stacks/layer_manifest.py):
architecture, python version, pip platform tags, layout and the requirements' sha256. Synth refuses
a layer whose manifest does not match the context architecture. ``--out DIR`` builds into
``DIR/<layer>/`` instead of ``layers/<layer>/build`` (side-by-side builds for benchmarks and verify).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The manifest module lives in stacks/ (synth reads it); it needs only the standard library.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from stacks.layer_manifest import (  # noqa: E402 - needs the repo root on sys.path first
    LAYOUTS,
    PLATFORMS,
    PYTHON_VERSION,
    LayerManifest,
    sha256_of,
    write_manifest,
)

LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024  # bytes (262,144,000): function code plus all of its layers
LAYERS = {
    "ml": (ROOT / "layers/ml/requirements.txt", ROOT / "layers/ml/build"),
    "common": (ROOT / "requirements/runtime.txt", ROOT / "layers/common/build"),
}
# Which layers each function uses (stacks/service_stack.py, stacks/monitoring_stack.py).
FUNCTION_LAYERS = {
    "authorizer": ("common",),
    "predict": ("common", "ml"),
    "health": ("common",),
    "canary": ("common",),
    "canary_key": ("common",),
}
# The Lambda Python runtime ships these (botocore needs its own urllib3): a copy would only cost
# space and shadow the runtime's. jmespath and dateutil stay: Powertools imports them itself.
PROVIDED_BY_RUNTIME = ("boto3", "botocore", "s3transfer", "urllib3")
# numpy imports this from its tests package at start-up; everything else under tests/ can go.
KEEP = ("numpy/_core/tests/_natype.py",)


def size_of(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file() and not item.is_symlink())


def megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def pip_install(requirements: Path, target: Path, architecture: str) -> None:
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",
        "--no-warn-conflicts",  # it compares against this venv, not the layer: noise
        *(argument for platform in PLATFORMS[architecture] for argument in ("--platform", platform)),
        "--only-binary=:all:",
        "--python-version",
        PYTHON_VERSION,
        "--implementation",
        "cp",
        "--target",
        str(target),
        "-r",
        str(requirements),
    ]
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True, cwd=ROOT)  # noqa: S603 - our own interpreter and arguments


def strip(site: Path) -> int:
    """Remove tests, caches and runtime-provided packages; returns the bytes removed."""
    before = size_of(site)
    kept = {site / item: (site / item).read_bytes() for item in KEEP if (site / item).exists()}
    for pattern in ("**/__pycache__", "**/tests", "**/test", "**/*.pyc"):
        for path in sorted(site.glob(pattern), key=lambda p: len(p.parts), reverse=True):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            elif path.exists():
                path.unlink()
    for name in PROVIDED_BY_RUNTIME:
        for path in [site / name, *site.glob(f"{name}-*.dist-info")]:
            if path.is_dir():
                shutil.rmtree(path)
    for path in site.glob("*.dist-info"):
        # Keep METADATA (importlib.metadata versions); drop RECORD/licence copies and the like.
        for item in path.iterdir():
            if item.is_file() and item.name not in {"METADATA", "top_level.txt", "entry_points.txt"}:
                item.unlink()
    for path, content in kept.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        (path.parent / "__init__.py").touch()
    return before - size_of(site)


def build_layer(name: str, architecture: str, build: Path, layout: str = "sources") -> int:
    requirements = LAYERS[name][0]
    site = build / "python"
    if build.exists():
        shutil.rmtree(build)
    site.mkdir(parents=True)
    pip_install(requirements, site, architecture)
    if name == "common":
        shutil.copytree(
            ROOT / "layers/common/python/hokusai",
            site / "hokusai",
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
    removed = strip(site)
    write_manifest(
        build,
        LayerManifest(
            layer=name,
            architecture=architecture,
            python_version=PYTHON_VERSION,
            platforms=PLATFORMS[architecture],
            layout=layout,
            requirements=str(requirements.relative_to(ROOT)),
            requirements_sha256=sha256_of(requirements),
        ),
    )
    size = size_of(build / "python")
    print(f"layer {name}: {megabytes(size)} unzipped after stripping {megabytes(removed)}", flush=True)
    return size


def check_limits(layer_sizes: dict[str, int]) -> bool:
    ok = True
    for function, layers in FUNCTION_LAYERS.items():
        code = size_of(ROOT / "functions" / function)
        total = code + sum(layer_sizes[layer] for layer in layers)
        verdict = "ok" if total <= LAMBDA_UNZIPPED_LIMIT else "TOO LARGE"
        print(
            f"function {function}: code {megabytes(code)} + layers {'+'.join(layers)} = "
            f"{megabytes(total)} of {megabytes(LAMBDA_UNZIPPED_LIMIT)}: {verdict}"
        )
        ok = ok and total <= LAMBDA_UNZIPPED_LIMIT
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("layers", nargs="*", help=f"which layers to build (default: {' '.join(LAYERS)})")
    parser.add_argument(
        "--architecture",
        choices=sorted(PLATFORMS),
        default=json.loads((ROOT / "cdk.json").read_text())["context"].get("architecture", "arm64"),
        help="Lambda architecture (default: cdk.json context 'architecture')",
    )
    parser.add_argument("--check-only", action="store_true", help="only check sizes of built layers")
    parser.add_argument(
        "--layout",
        choices=LAYOUTS,
        default="sources",
        help="sources: .py only; bytecode: precompiled .pyc (see module docstring)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="build into OUT/<layer>/python (+ manifest.json) instead of layers/<layer>/build",
    )
    arguments = parser.parse_args(argv)
    unknown = set(arguments.layers) - set(LAYERS)
    if unknown:
        parser.error(f"unknown layer(s) {', '.join(sorted(unknown))}; choose from {', '.join(LAYERS)}")
    arguments.layers = arguments.layers or list(LAYERS)
    sizes: dict[str, int] = {}
    for name in LAYERS:
        build = arguments.out.resolve() / name if arguments.out else LAYERS[name][1]
        if not arguments.check_only and name in arguments.layers:
            sizes[name] = build_layer(name, arguments.architecture, build, arguments.layout)
        else:
            sizes[name] = size_of(build / "python")
    if not check_limits(sizes):
        print(
            "Lambda's limit is 250 MB unzipped for a function plus its layers: trim the layer.",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
