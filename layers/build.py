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
architecture, python version, pip platform tags, layout, the requirements' sha256 and (common layer)
the hokusai sources' digest. Synth refuses a layer whose manifest does not match the context
architecture. ``--layout bytecode`` (the default) ships precompiled .pyc, ``sources`` only .py (see
SOURCELESS_LAYERS). ``--out DIR`` builds into ``DIR/<layer>/`` instead of ``layers/<layer>/build``
(side-by-side builds for benchmarks and verify). Last, every ELF file is checked (layers/elfcheck.py).
"""

from __future__ import annotations

import argparse
import compileall
import json
import py_compile
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
    tree_sha256,
    write_manifest,
)

LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024  # bytes (262,144,000): function code plus all of its layers
LAYERS = {
    "ml": (ROOT / "layers/ml/requirements.txt", ROOT / "layers/ml/build"),
    "onnx": (ROOT / "layers/onnx/requirements.txt", ROOT / "layers/onnx/build"),
    "common": (ROOT / "requirements/runtime.txt", ROOT / "layers/common/build"),
}
# Layers whose requirements list every package they need: pip installs exactly those (--no-deps).
# onnxruntime declares flatbuffers, packaging and protobuf, which InferenceSession never imports.
EXACT_LAYERS = ("onnx",)
HOKUSAI_SOURCES = ROOT / "layers/common/python/hokusai"  # copied into the common layer
# Which layers each function uses (stacks/service_stack.py, stacks/monitoring_stack.py).
FUNCTION_LAYERS = {
    "authorizer": ("common",),
    # The stack picks one of the two at synth (stacks/service_stack.py predict_layer): the lean layer
    # when every registry model has an ONNX twin, the full scikit-learn layer otherwise. Both must fit.
    "predict": ("common", "onnx"),
    "predict (skops)": ("common", "ml"),
    "health": ("common",),
    "canary": ("common",),
    "canary_key": ("common",),
}
# The Lambda Python runtime ships these (botocore needs its own urllib3): a copy would only cost
# space and shadow the runtime's. jmespath and dateutil stay: Powertools imports them itself.
PROVIDED_BY_RUNTIME = ("boto3", "botocore", "s3transfer", "urllib3")
# numpy imports this from its tests package at start-up; everything else under tests/ can go.
KEEP = ("numpy/_core/tests/_natype.py",)
# Layout "bytecode": Lambda layers are read-only, so Python cannot cache what it compiles and every cold
# start compiled the imports from source (predict's init 3.3-3.9 s, 2.7 s of it scikit-learn via
# skops; about 1.4 s with bytecode). The .pyc cost ~50 MB: the ML layer therefore ships sourceless
# legacy .pyc where the .py was (predict must stay under 250 MB), the small common layer keeps its
# sources (readable tracebacks for our own code) plus __pycache__/*.cpython-312.pyc.
SOURCELESS_LAYERS = ("ml", "onnx")
# Files kept as source in a sourceless layer because a package reads them as text, not only imports
# them. Checked by grepping the ML layer for inspect.getsource*: anyio (via huggingface_hub) parses
# its own __init__.py to build its lazy-import map and, without it, silently imports everything
# eagerly. The rest (joblib.Memory, scipy/numpydoc docscrape, narwhals' warning frames) fall back
# or are not on predict's path. These get __pycache__ bytecode like the common layer.
KEEP_AS_SOURCE = ("anyio/__init__.py", "anyio/abc/__init__.py")
# Where Lambda extracts a layer's python/ (tracebacks in the .pyc name this path, not the build dir).
LAMBDA_LAYER_SITE = "/opt/python"


def size_of(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file() and not item.is_symlink())


def megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def pip_install(requirements: Path, target: Path, architecture: str, *, exact: bool = False) -> None:
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",
        "--no-warn-conflicts",  # it compares against this venv, not the layer: noise
        *(["--no-deps"] if exact else []),
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


def compile_bytecode(site: Path, *, sourceless: bool) -> int:
    """Compile every .py under ``site`` with this (3.12) interpreter; returns the .py files removed.

    UNCHECKED_HASH: the .pyc is used without looking at the source's mtime or hash (the layer never
    changes once published, and zip extraction does not keep mtimes one could trust).
    ``sourceless``: write ``x.pyc`` beside ``x.py`` (``legacy``), the only place Python imports a .pyc
    from without its source, then delete the .py. Otherwise write ``__pycache__/x.cpython-312.pyc``.
    """
    if sys.implementation.cache_tag != "cpython-" + PYTHON_VERSION.replace(".", ""):
        raise SystemExit(
            f"bytecode for Lambda's python {PYTHON_VERSION} needs that interpreter, not {sys.version}"
        )
    compileall.compile_dir(
        site,
        ddir=LAMBDA_LAYER_SITE,
        quiet=1,
        legacy=sourceless,
        optimize=0,  # -O would drop asserts and docstrings some packages rely on
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        workers=0,  # one process per CPU
    )
    if not sourceless:
        return 0
    removed = 0
    for source in site.rglob("*.py"):
        relative = source.relative_to(site).as_posix()
        legacy = source.with_suffix(".pyc")
        if relative in KEEP_AS_SOURCE:
            # With its .py present Python ignores a legacy .pyc: cache it where it will look.
            legacy.unlink(missing_ok=True)
            py_compile.compile(
                str(source),
                dfile=f"{LAMBDA_LAYER_SITE}/{relative}",
                doraise=True,
                optimize=0,
                invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
            )
        # A file that did not compile (e.g. a template in another Python's syntax) keeps its source.
        elif legacy.is_file():
            source.unlink()
            removed += 1
    return removed


def build_layer(name: str, architecture: str, build: Path, layout: str = "sources") -> int:
    requirements = LAYERS[name][0]
    site = build / "python"
    if build.exists():
        shutil.rmtree(build)
    site.mkdir(parents=True)
    pip_install(requirements, site, architecture, exact=name in EXACT_LAYERS)
    if name == "common":
        shutil.copytree(
            HOKUSAI_SOURCES,
            site / "hokusai",
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
    removed = strip(site)
    if layout == "bytecode":
        # After strip(): it deletes every .pyc and __pycache__ it finds.
        compile_bytecode(site, sourceless=name in SOURCELESS_LAYERS)
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
            package_sha256=tree_sha256(HOKUSAI_SOURCES) if name == "common" else None,
        ),
    )
    size = size_of(build / "python")
    print(
        f"layer {name} ({architecture}, {layout}): {megabytes(size)} unzipped after stripping "
        f"{megabytes(removed)}",
        flush=True,
    )
    return size


def check_limits(layer_sizes: dict[str, int]) -> bool:
    ok = True
    for function, layers in FUNCTION_LAYERS.items():
        code = size_of(ROOT / "functions" / function.split(" ")[0])
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
        default="bytecode",
        help="bytecode (default): precompiled .pyc, ML layer sourceless; sources: .py only",
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
    builds: list[Path] = []
    for name in LAYERS:
        build = arguments.out.resolve() / name if arguments.out else LAYERS[name][1]
        builds.append(build)
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
    # Native code for the wrong CPU or a newer glibc than Amazon Linux 2023's only fails at a cold start.
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import elfcheck

    built = [build for build in builds if build.is_dir()]
    return elfcheck.main([*map(str, built), "--architecture", arguments.architecture, "--max-glibc", "2.34"])


if __name__ == "__main__":
    sys.exit(main())
