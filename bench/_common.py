"""Shared benchmark helpers: timing, percentile tables in markdown, side-by-side latency plots."""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


class Quiet:
    """Powertools prints a log line and an EMF blob per call to stdout: keep the table readable."""

    def __enter__(self) -> None:
        sys.stdout.flush()
        self._stdout = os.dup(1)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)

    def __exit__(self, *exc: object) -> None:
        sys.stdout.flush()
        os.dup2(self._stdout, 1)
        os.close(self._stdout)


def time_calls(call: Callable[[], object], repeat: int, warmup: int = 0) -> list[float]:
    """Wall-clock milliseconds of each call."""
    for _ in range(warmup):
        call()
    samples: list[float] = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def percentile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary_row(name: str, samples: Sequence[float], extra: Sequence[str] = ()) -> list[str]:
    return [
        name,
        str(len(samples)),
        f"{percentile(samples, 50):.3f}",
        f"{percentile(samples, 95):.3f}",
        f"{percentile(samples, 99):.3f}",
        f"{max(samples):.3f}",
        f"{statistics.fmean(samples):.3f}",
        *extra,
    ]


LATENCY_HEADER = ["scenario", "n", "p50 ms", "p95 ms", "p99 ms", "max ms", "mean ms"]


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def write_results(name: str, markdown: str, series: dict[str, Sequence[float]] | None = None) -> None:
    """Print the table, write bench/results/<name>.md, and a PNG of the distributions side by side."""
    print(markdown)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.md").write_text(markdown + "\n")
    if series:
        plot_distributions(name, series)


def plot_distributions(name: str, series: dict[str, Sequence[float]]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(series)), 4.5))
    labels = list(series)
    ax.boxplot([list(series[label]) for label in labels], showfliers=True, whis=(1, 99))
    ax.set_xticks(range(1, len(labels) + 1), labels, rotation=30, ha="right", fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("latency (ms, log scale)")
    ax.set_title(f"{name}: latency distributions (whiskers p1-p99)")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path = RESULTS / f"{name}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
