"""Train the demo lead scorer (model 21) deterministically and compare it with the published one.

    python -m model.train [--out model/build/lead-scorer] [--rows 4000]     # make model
    python -m model.train --publish                                          # make model PUBLISH=1

The data set is synthetic and generated here from a fixed seed (no data blob is checked in): leads
with the seed API's ten features and a conversion label drawn from a known logistic ground truth.
The pipeline is a real scikit-learn ``Pipeline``: a ``ColumnTransformer`` (scaling numeric columns,
one-hot encoding categorical ones, selected by position: no pandas at serving time) and a
``LogisticRegression``.

The model we ship is a file, not a training run: the artifact as published on the HuggingFace Hub is
committed in its HF repo layout under ``model/published/hokusai/lead-scorer/`` (``lead_scorer.skops``,
``config.json``, the ``README.md`` model card), and ``model/registry.json`` and ``cdk.json`` pin its
sha256 and revision (sha1 of the bytes, 40 hex, like an HF commit). OpenBLAS picks its kernels per
CPU, so the same seeded run gives different bytes on another machine: a retrained model is compared
with the published one by its predictions on a fixed evaluation set (largest and mean probability
difference, Hot/Warm/Cold agreement through the product's scorer), never by bytes.

By default this retrains into ``--out`` (gitignored), prints held-out metrics and the comparison, and
exits 1 if the two disagree beyond the tolerance. It never rewrites the published files or the pins
unless ``--publish`` is given: then the retrained repo replaces ``model/published/...`` and its pins
replace model 21's entry in ``model/registry.json`` and ``cdk.json`` (``context.models``).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "layers" / "common" / "python"))

from hokusai.models.features import CATEGORICAL_COLUMNS, FEATURE_NAMES, FEATURES, NUMERIC_COLUMNS  # noqa: E402

SEED = 21
DEFAULT_ROWS = 4000
FILENAME = "lead_scorer.skops"
REPO_ID = "hokusai/lead-scorer"
MODEL_ID = "21"
DEFAULT_OUT = ROOT / "model" / "build" / "lead-scorer"
REGISTRY = ROOT / "model" / "registry.json"
CDK_JSON = ROOT / "cdk.json"
TWIN_FILENAME = "lead_scorer.onnx"
REPO_FILES = (FILENAME, "config.json", "README.md")  # and TWIN_FILENAME when the twin passed its gate
# The comparison of a retrained model with the published one: leads from the same generator, another seed.
EVAL_SEED = 2121
EVAL_ROWS = 2000
MAX_PROBABILITY_DIFFERENCE = 1e-6

INDUSTRIES = ("Technology", "Finance", "Healthcare", "Retail", "Manufacturing", "Education", "Other")
INDUSTRY_LIFT = {"Technology": 0.6, "Finance": 0.4, "Healthcare": 0.2, "Retail": -0.2, "Manufacturing": 0.0,
                 "Education": -0.5, "Other": -0.3}  # fmt: skip
TIMELINES = ("Q1 2025", "Q2 2025", "Q3 2025", "Q4 2025", "Q1 2026", "Unknown")
TIMELINE_LIFT = {
    "Q1 2025": 0.8,
    "Q2 2025": 0.6,
    "Q3 2025": 0.2,
    "Q4 2025": 0.0,
    "Q1 2026": -0.3,
    "Unknown": -0.6,
}
TITLES = ("CEO", "CTO", "VP of Sales", "VP of Marketing", "Director of Sales", "Sales Manager",
          "Marketing Manager", "Account Executive", "Analyst", "Intern")  # fmt: skip
TITLE_LIFT = {"CEO": 0.7, "CTO": 0.6, "VP of Sales": 0.8, "VP of Marketing": 0.6, "Director of Sales": 0.5,
              "Sales Manager": 0.2, "Marketing Manager": 0.1, "Account Executive": 0.0, "Analyst": -0.4,
              "Intern": -1.0}  # fmt: skip


def generate_leads(rows: int, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """A deterministic synthetic lead data set: (features as an object array, labels)."""
    rng = np.random.default_rng(seed)
    company_size = np.rint(np.exp(rng.uniform(np.log(5), np.log(50_000), rows)))
    industry = rng.choice(INDUSTRIES, rows)
    engagement = np.clip(rng.normal(50, 22, rows), 0, 100).round(1)
    visits = rng.poisson(8, rows)
    opens = rng.poisson(4, rows)
    downloads = rng.poisson(1.5, rows)
    demo = rng.random(rows) < 0.3
    budget = rng.random(rows) < 0.35
    timeline = rng.choice(TIMELINES, rows)
    title = rng.choice(TITLES, rows)
    logit = (
        -3.2
        + 0.25 * np.log10(company_size)
        + 0.035 * engagement
        + 0.05 * np.minimum(visits, 30)
        + 0.08 * np.minimum(opens, 15)
        + 0.15 * np.minimum(downloads, 6)
        + 1.3 * demo
        + 0.9 * budget
        + np.vectorize(INDUSTRY_LIFT.get)(industry)
        + np.vectorize(TIMELINE_LIFT.get)(timeline)
        + np.vectorize(TITLE_LIFT.get)(title)
    )
    labels = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    columns: list[Any] = [
        company_size,
        industry,
        engagement,
        visits,
        opens,
        downloads,
        demo,
        budget,
        timeline,
        title,
    ]
    data = np.empty((rows, len(FEATURES)), dtype=object)
    for index, (feature, column) in enumerate(zip(FEATURES, columns, strict=True)):
        data[:, index] = column.astype(str) if feature.kind == "string" else column.astype(float)
    return data, labels


def build_pipeline() -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    features = ColumnTransformer(
        [
            ("numeric", StandardScaler(), list(NUMERIC_COLUMNS)),
            (
                "categorical",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                list(CATEGORICAL_COLUMNS),
            ),
        ]
    )
    return Pipeline([("features", features), ("classifier", LogisticRegression(C=1.0, max_iter=1000))])


def canonical_skops(data: bytes) -> bytes:
    """skops names entries and ids after ``id()`` and stamps the time: renumber and fix both."""
    source = zipfile.ZipFile(io.BytesIO(data))
    schema = source.read("schema.json").decode()
    mapping: dict[str, str] = {}
    for match in re.finditer(r'"__id__": (\d+)|"file": "(\d+)\.npy"', schema):
        number = match.group(1) or match.group(2)
        mapping.setdefault(number, str(len(mapping) + 1))
    renumbered = re.sub(
        r'("__id__": )(\d+)|("file": ")(\d+)(\.npy")',
        lambda m: (
            f"{m.group(1)}{mapping[m.group(2)]}"
            if m.group(1)
            else f"{m.group(3)}{mapping[m.group(4)]}{m.group(5)}"
        ),
        schema,
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as target:
        entries: dict[str, bytes] = {"schema.json": renumbered.encode()}
        for info in source.infolist():
            if info.filename == "schema.json":
                continue
            stem = info.filename.removesuffix(".npy")
            entries[f"{mapping.get(stem, stem)}.npy"] = source.read(info.filename)
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            target.writestr(info, entries[name])
    return out.getvalue()


def train(rows: int = DEFAULT_ROWS) -> tuple[Any, dict[str, float]]:
    from sklearn.metrics import accuracy_score, roc_auc_score
    from sklearn.model_selection import train_test_split

    data, labels = generate_leads(rows)
    x_train, x_test, y_train, y_test = train_test_split(
        data, labels, test_size=0.2, random_state=SEED, stratify=labels
    )
    pipeline = build_pipeline().fit(x_train, y_train)
    probabilities = pipeline.predict_proba(x_test)[:, 1]
    metrics = {
        "accuracy": round(float(accuracy_score(y_test, probabilities >= 0.5)), 4),
        "roc_auc": round(float(roc_auc_score(y_test, probabilities)), 4),
        "train_rows": len(y_train),
        "test_rows": len(y_test),
    }
    return pipeline, metrics


def artifact_bytes(pipeline: Any) -> bytes:
    import skops.io

    return canonical_skops(skops.io.dumps(pipeline))


def write_repo(out: Path, rows: int = DEFAULT_ROWS) -> dict[str, Any]:
    """Train and write the HF sklearn repo layout; returns the registry entry for the artifact.

    The bytes depend on the CPU (OpenBLAS): the entry's sha256 pins *this* run, not the published model.
    """
    pipeline, metrics = train(rows)
    data = artifact_bytes(pipeline)
    sha256 = hashlib.sha256(data).hexdigest()
    # A HF commit sha is 40 hex; ours is derived from the content so the pin is reproducible too.
    revision = hashlib.sha1(data, usedforsecurity=False).hexdigest()
    out.mkdir(parents=True, exist_ok=True)
    (out / FILENAME).write_bytes(data)
    (out / TWIN_FILENAME).unlink(missing_ok=True)
    config = {
        "sklearn": {
            "model": {"file": FILENAME},
            "model_format": "skops",
            "task": "tabular-classification",
            "columns": list(FEATURE_NAMES),
            "features": [feature.to_dict() for feature in FEATURES],
            "environment": ["scikit-learn=={}".format(__import__("sklearn").__version__)],
        }
    }
    entry = {
        "name": "Sales lead scorer",
        "repo_id": REPO_ID,
        "revision": revision,
        "filename": FILENAME,
        "sha256": sha256,
        "version": "1.0.0",
        "format": "skops",
    }
    twin = build_twin(data, entry)
    twin_sha256 = None
    if twin.data is not None:
        (out / TWIN_FILENAME).write_bytes(twin.data)
        twin_sha256 = hashlib.sha256(twin.data).hexdigest()
        entry |= {"twin_filename": TWIN_FILENAME, "twin_sha256": twin_sha256}
        config["sklearn"]["onnx_twin"] = {
            "file": TWIN_FILENAME,
            "inputs": "one float64/string tensor per column",
        }
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (out / "README.md").write_text(model_card(metrics, sha256, twin_sha256))
    return {"entry": entry, "metrics": metrics, "twin": twin}


def build_twin(data: bytes, entry: dict[str, Any]) -> Any:
    """The float64 ONNX twin, gated on identical whole answers (hokusai.models.twin): its bytes, or None
    and the one-line reason."""
    from hokusai.models.registry import parse_registry
    from hokusai.models.twin import make_twin

    spec = parse_registry({MODEL_ID: entry})[MODEL_ID]
    leads = [dict(zip(FEATURE_NAMES, lead, strict=True)) for lead in evaluation_leads()]
    return make_twin(data, spec, leads)


def model_card(metrics: dict[str, float], sha256: str, twin_sha256: str | None = None) -> str:
    twin = (
        f"\nONNX twin: `{TWIN_FILENAME}` (float64 inputs, one per column), sha256 `{twin_sha256}`; it "
        "gives the same API answers as the skops file on the evaluation, edge-case and fuzzed leads (the "
        "publish gate).\n"
        if twin_sha256
        else ""
    )
    return f"""---
library_name: sklearn
tags: [sklearn, skops, tabular-classification]
---
# Sales lead scorer (Hokusai model 21)

A scikit-learn pipeline (ColumnTransformer: StandardScaler on the numeric and boolean columns, OneHotEncoder
on the categorical ones; LogisticRegression) predicting whether a sales lead converts.

Trained by `model/train.py` on a deterministic synthetic data set (seed {SEED}), published with
`make model PUBLISH=1`; features:
{", ".join(FEATURE_NAMES)}. Held-out accuracy {metrics["accuracy"]}, ROC AUC {metrics["roc_auc"]}
({metrics["test_rows"]} rows).

Artifact: `{FILENAME}` (skops), sha256 `{sha256}`. Load with `skops.io.load(path, trusted=[...])`
listing the pipeline's types explicitly.
{twin}"""


def evaluation_leads(rows: int = EVAL_ROWS, seed: int = EVAL_SEED) -> np.ndarray:
    """The fixed evaluation set: leads from the training generator with another seed (labels unused)."""
    return generate_leads(rows, seed)[0]


def compare(published: bytes, retrained: bytes, spec: Any) -> dict[str, Any]:
    """Compare two artifacts by their predictions on the evaluation set (never by bytes).

    Probabilities are the pipelines' own (unrounded); recommendations go through the product's scorer
    (``hokusai.models.scorer.build_scorer``) so the Hot/Warm/Cold thresholds are the served ones.
    """
    from hokusai.models.scorer import build_scorer

    leads = evaluation_leads()
    as_dicts = [dict(zip(FEATURE_NAMES, lead, strict=True)) for lead in leads]
    scorers = [build_scorer(data, spec, "local", allow_pickle=False) for data in (published, retrained)]
    probabilities = [np.asarray(s.pipeline.predict_proba(leads)[:, 1], dtype=float) for s in scorers]
    predictions = [s.predict(as_dicts) for s in scorers]
    recommendations = [[p.recommendation for p in answers] for answers in predictions]
    whole = [[json.dumps(p.to_dict()) for p in answers] for answers in predictions]
    difference = np.abs(probabilities[0] - probabilities[1])
    agreeing = sum(a == b for a, b in zip(*recommendations, strict=True))
    identical = sum(a == b for a, b in zip(*whole, strict=True))
    result = {
        "leads": len(leads),
        "max_probability_difference": float(difference.max()),
        "mean_probability_difference": float(difference.mean()),
        "recommendations_agreeing": agreeing,
        "answers_identical": identical,
        "published_sha256": hashlib.sha256(published).hexdigest(),
        "retrained_sha256": hashlib.sha256(retrained).hexdigest(),
    }
    close = result["max_probability_difference"] <= MAX_PROBABILITY_DIFFERENCE
    # The whole answer (score, probability, confidence, recommendation, factors, warnings), as the API
    # writes it: a probability tolerance alone lets a rounding change through.
    result["agrees"] = close and agreeing == len(leads) and identical == len(leads)
    return result


def comparison_table(result: dict[str, Any]) -> str:
    leads = result["leads"]
    rows = [
        ("evaluation leads", f"{leads} (generator seed {EVAL_SEED})"),
        (
            "max abs difference, conversion probability",
            f"{result['max_probability_difference']:.3g} (tolerance {MAX_PROBABILITY_DIFFERENCE:g})",
        ),
        ("mean abs difference, conversion probability", f"{result['mean_probability_difference']:.3g}"),
        (
            "recommendations agreeing (Hot/Warm/Cold)",
            f"{result['recommendations_agreeing']}/{leads}",
        ),
        ("whole API answers identical", f"{result['answers_identical']}/{leads}"),
        ("sha256, published", f"`{result['published_sha256']}`"),
        ("sha256, retrained", f"`{result['retrained_sha256']}`"),
        ("verdict", "agree" if result["agrees"] else "DISAGREE"),
    ]
    lines = ["| retrained vs published | |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    return "\n".join(lines)


def registry_spec(registry: Path = REGISTRY) -> Any:
    from hokusai.models.registry import parse_registry

    return parse_registry(registry.read_text(), variable=str(registry))[MODEL_ID]


def published_artifact(root: Path = ROOT, registry: Path = REGISTRY) -> tuple[bytes, Any]:
    """The committed published artifact and its spec from model/registry.json, sha256 verified."""
    from hokusai.models.staging import published_path, verify_artifact

    spec = registry_spec(registry)
    path = published_path(root, spec)
    verify_artifact(path, spec)
    return path.read_bytes(), spec


def publish(built: Path, entry: dict[str, Any], root: Path = ROOT) -> Path:
    """Copy the repo in ``built`` to model/published/<repo_id>/ and pin it in registry.json and cdk.json."""
    target = root / "model" / "published" / entry["repo_id"]
    target.mkdir(parents=True, exist_ok=True)
    for name in REPO_FILES:
        (target / name).write_bytes((built / name).read_bytes())
    if entry.get("twin_filename"):
        (target / entry["twin_filename"]).write_bytes((built / entry["twin_filename"]).read_bytes())
    else:  # published without a twin: no stale twin beside it
        (target / TWIN_FILENAME).unlink(missing_ok=True)
    registry_path = root / "model" / "registry.json"
    registry = json.loads(registry_path.read_text()) if registry_path.exists() else {}
    registry[MODEL_ID] = entry
    registry_path.write_text(json.dumps(registry, indent=2) + "\n")
    cdk_path = root / "cdk.json"
    cdk = json.loads(cdk_path.read_text())
    cdk.setdefault("context", {}).setdefault("models", {})[MODEL_ID] = entry
    cdk_path.write_text(json.dumps(cdk, indent=2) + "\n")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS)
    parser.add_argument(
        "--publish",
        action="store_true",
        help="replace model/published/... with the retrained repo and pin it in registry.json and cdk.json",
    )
    args = parser.parse_args(argv)
    result = write_repo(args.out, args.rows)
    metrics, entry = result["metrics"], result["entry"]
    print(
        f"held-out accuracy {metrics['accuracy']}, ROC AUC {metrics['roc_auc']} "
        f"({metrics['test_rows']} of {metrics['train_rows'] + metrics['test_rows']} rows)"
    )
    print(f"retrained {args.out / FILENAME} sha256 {entry['sha256']}")
    twin = result["twin"]
    if twin.data is not None:
        print(
            f"ONNX twin {args.out / TWIN_FILENAME} sha256 {entry['twin_sha256']}: the same answers on "
            f"{twin.verdict.leads} leads (evaluation, edge cases, fuzzed), one at a time and in batches"
        )
    else:
        print(f"no ONNX twin for model {MODEL_ID}: {twin.reason}")
    retrained = (args.out / FILENAME).read_bytes()
    if args.publish:
        target = publish(args.out, entry)
        print(f"published {target} (revision {entry['revision']}, sha256 {entry['sha256']})")
        print(f"pinned model {MODEL_ID} in model/registry.json and cdk.json context.models")
        return 0
    try:
        published, spec = published_artifact()
    except (OSError, ValueError) as error:
        print(f"error: cannot read the published model: {error}", file=sys.stderr)
        return 1
    comparison = compare(published, retrained, spec)
    print()
    print(comparison_table(comparison))
    print()
    if not comparison["agrees"]:
        print(
            f"error: the retrained model disagrees with the published one (model {MODEL_ID}, "
            f"{spec.repo_id}@{spec.revision}): max probability difference "
            f"{comparison['max_probability_difference']:.3g} (tolerance {MAX_PROBABILITY_DIFFERENCE:g}), "
            f"{comparison['leads'] - comparison['recommendations_agreeing']} recommendation(s) differ. "
            "If the change is intended, republish with `make model PUBLISH=1` and review the diff.",
            file=sys.stderr,
        )
        return 1
    print("the retrained model agrees with the published one; published files and pins unchanged")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
