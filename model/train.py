"""Train the demo lead scorer (model 21) deterministically and save it as a HuggingFace sklearn repo.

    python -m model.train [--out model/build/lead-scorer] [--rows 4000]

The data set is synthetic and generated here from a fixed seed (no data blob is checked in): leads
with the seed API's ten features and a conversion label drawn from a known logistic ground truth.
The pipeline is a real scikit-learn ``Pipeline``: a ``ColumnTransformer`` (scaling numeric columns,
one-hot encoding categorical ones, selected by position: no pandas at serving time) and a
``LogisticRegression``. The skops file is canonicalised (stable entry names and timestamps), so its
sha256 is reproducible and ``model/registry.json`` can pin it.
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
DEFAULT_OUT = ROOT / "model" / "build" / "lead-scorer"

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
    """Train and write the HF sklearn repo layout; returns the registry entry for the artifact."""
    pipeline, metrics = train(rows)
    data = artifact_bytes(pipeline)
    sha256 = hashlib.sha256(data).hexdigest()
    # A HF commit sha is 40 hex; ours is derived from the content so the pin is reproducible too.
    revision = hashlib.sha1(data, usedforsecurity=False).hexdigest()
    out.mkdir(parents=True, exist_ok=True)
    (out / FILENAME).write_bytes(data)
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
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (out / "README.md").write_text(model_card(metrics, sha256))
    entry = {
        "name": "Sales lead scorer",
        "repo_id": REPO_ID,
        "revision": revision,
        "filename": FILENAME,
        "sha256": sha256,
        "version": "1.0.0",
        "format": "skops",
    }
    return {"entry": entry, "metrics": metrics}


def model_card(metrics: dict[str, float], sha256: str) -> str:
    return f"""---
library_name: sklearn
tags: [sklearn, skops, tabular-classification]
---
# Sales lead scorer (Hokusai model 21)

A scikit-learn pipeline (ColumnTransformer: StandardScaler on the numeric and boolean columns, OneHotEncoder
on the categorical ones; LogisticRegression) predicting whether a sales lead converts.

Trained by `make model` on a deterministic synthetic data set (seed {SEED}); features:
{", ".join(FEATURE_NAMES)}. Held-out accuracy {metrics["accuracy"]}, ROC AUC {metrics["roc_auc"]}
({metrics["test_rows"]} rows).

Artifact: `{FILENAME}` (skops), sha256 `{sha256}`. Load with `skops.io.load(path, trusted=[...])`
listing the pipeline's types explicitly.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS)
    parser.add_argument("--registry", type=Path, help="also write the registry entry for model 21 here")
    args = parser.parse_args(argv)
    result = write_repo(args.out, args.rows)
    print(json.dumps(result["metrics"]))
    print(f"wrote {args.out / FILENAME} sha256={result['entry']['sha256']}")
    if args.registry:
        args.registry.write_text(json.dumps({"21": result["entry"]}, indent=2) + "\n")
        print(f"wrote {args.registry}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
