"""``make mutants``: mutation testing of the authorizer's key path with mutmut, then a check.

mutmut 3 names a mutant after its file's path from the directory it runs in, and imports the mutated
copy from ``./`` or ``src/``; hokusai lives in ``layers/common/python``. So mutmut runs in a
workspace, ``.mutmut/``, where ``src`` links to ``layers/common/python`` and ``tests``, ``local`` and
``pyproject.toml`` (its ``[tool.mutmut]`` section) to the repository's. mutmut copies them into
``.mutmut/mutants/`` and mutates the copies; the sources are never written.

The check, on mutmut's results (``.mutmut/mutants/<file>.meta``): every file of ``only_mutate`` has
at least 90% of its mutants killed (a timeout counts as killed, as in mutmut's own score), and every
mutant that is not killed is listed in docs/mutants.md (``- `<mutant>`: why it is equivalent``),
which lists nothing else. Exit 1 otherwise.

    python -m local.mutants            # a fresh run (previous results deleted), then the check
    python -m local.mutants --check    # the check of the last run's results only
    python -m local.mutants --report   # the last run's counts and survivors, as docs/mutants.md has them

Standard library only.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKSPACE = ROOT / ".mutmut"
RESULTS = WORKSPACE / "mutants"
NOTE = ROOT / "docs" / "mutants.md"
THRESHOLD = 0.90
# What the workspace links to, relative to the repository (mutmut reads its config from the cwd).
LINKS = {
    "src": "layers/common/python",
    "tests": "tests",
    "local": "local",
    "pyproject.toml": "pyproject.toml",
}

# mutmut's exit codes (mutmut/stats.py status_by_exit_code; anything else is "suspicious").
STATUS_BY_EXIT_CODE: dict[int | None, str] = {
    1: "killed",
    3: "killed",
    0: "survived",
    5: "no tests",
    2: "check was interrupted by user",
    None: "not checked",
    33: "no tests",
    34: "skipped",
    35: "suspicious",
    36: "timeout",
    37: "caught by type check",
    -24: "timeout",
    24: "timeout",
    152: "timeout",
    255: "timeout",
    -11: "segfault",
    -9: "segfault",
}
DETECTED = {"killed", "timeout", "caught by type check"}
LISTED = re.compile(r"^- `([^`]+__mutmut_\d+)`", re.MULTILINE)


@dataclass
class FileResult:
    path: str  # as in only_mutate, e.g. src/hokusai/auth/chain.py
    statuses: dict[str, str] = field(default_factory=dict)  # mutant name -> status

    @property
    def shown(self) -> str:
        """The path in the repository."""
        return self.path.replace("src/", "layers/common/python/", 1)

    def count(self, *statuses: str) -> int:
        return sum(1 for status in self.statuses.values() if status in statuses)

    @property
    def total(self) -> int:
        return len(self.statuses)

    @property
    def detected(self) -> int:
        return self.count(*DETECTED)

    @property
    def score(self) -> float:
        return self.detected / self.total if self.total else 0.0

    @property
    def undetected(self) -> list[str]:
        return sorted(name for name, status in self.statuses.items() if status not in DETECTED)


def files_to_mutate() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    return list(config["only_mutate"])


def build_workspace() -> None:
    """``.mutmut/`` with its links, and no previous results."""
    WORKSPACE.mkdir(exist_ok=True)
    for name, target in LINKS.items():
        link = WORKSPACE / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(Path("..") / target)
    shutil.rmtree(RESULTS, ignore_errors=True)


def run_mutmut() -> int:
    """``mutmut run`` in the workspace. Its progress line is redrawn with a carriage return some
    thousand times: the whole output goes to .mutmut/run.log, and what a terminal would end up
    showing is printed."""
    mutmut = Path(sys.executable).parent / "mutmut"
    log = WORKSPACE / "run.log"
    with log.open("wb") as out:
        code = subprocess.run(
            [str(mutmut), "run"], cwd=WORKSPACE, stdout=out, stderr=subprocess.STDOUT, check=False
        ).returncode
    for line in log.read_bytes().decode(errors="replace").split("\n"):
        shown = line.rstrip("\r").rsplit("\r", 1)[-1]
        if shown.strip():
            print(shown)
    return code


def load_results(paths: list[str], results_dir: Path = RESULTS) -> list[FileResult]:
    """Each file's mutants and their status, from mutmut's ``<file>.meta`` (none: not run)."""
    results = []
    for path in paths:
        meta = results_dir / f"{path}.meta"
        result = FileResult(path)
        if meta.exists():
            codes = json.loads(meta.read_text())["exit_code_by_key"]
            result.statuses = {
                name: STATUS_BY_EXIT_CODE.get(code, "suspicious") for name, code in codes.items()
            }
        results.append(result)
    return results


def listed_in_note(note: Path = NOTE) -> set[str]:
    return set(LISTED.findall(note.read_text())) if note.exists() else set()


def counts_table(results: list[FileResult]) -> str:
    lines = [
        "| file | mutants | killed | survived | timeout | no tests | other | killed % |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        other = r.total - r.count("killed", "survived", "timeout", "no tests")
        lines.append(
            f"| `{r.shown}` | {r.total} | {r.count('killed')} | {r.count('survived')} | "
            f"{r.count('timeout')} | {r.count('no tests')} | {other} | {100 * r.score:.1f} |"
        )
    total = sum(r.total for r in results)
    detected = sum(r.detected for r in results)
    lines.append(
        f"| all | {total} | {sum(r.count('killed') for r in results)} | "
        f"{sum(r.count('survived') for r in results)} | {sum(r.count('timeout') for r in results)} | "
        f"{sum(r.count('no tests') for r in results)} | "
        f"{total - sum(r.count('killed', 'survived', 'timeout', 'no tests') for r in results)} | "
        f"{100 * detected / total if total else 0:.1f} |"
    )
    return "\n".join(lines)


def problems(results: list[FileResult], listed: set[str]) -> list[str]:
    found = []
    for r in results:
        if not r.total:
            found.append(f"{r.shown}: no mutmut results (not mutated, or mutmut did not run)")
        elif r.score < THRESHOLD:
            found.append(f"{r.shown}: {100 * r.score:.1f}% killed ({r.detected}/{r.total}), under 90%")
    undetected = {name: r for r in results for name in r.undetected}
    for name, r in sorted(undetected.items()):
        if name not in listed:
            found.append(f"{name} ({r.statuses[name]}) is not listed in docs/mutants.md")
    everything = {name for r in results for name in r.statuses}
    for name in sorted(listed - set(undetected)):
        why = "killed now" if name in everything else "no such mutant in this run"
        found.append(f"docs/mutants.md lists {name}, {why}: remove it")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="check the last run's results only")
    mode.add_argument("--report", action="store_true", help="print the last run's counts and survivors")
    args = parser.parse_args(argv)

    if not (args.check or args.report):
        build_workspace()
        started = time.monotonic()
        code = run_mutmut()
        print(f"mutmut ran for {time.monotonic() - started:.0f} s (exit code {code})")
        if code != 0:
            print("mutants: mutmut failed (see above)")
            return 1

    results = load_results(files_to_mutate())
    print(counts_table(results))
    if args.report:
        for r in results:
            for name in r.undetected:
                print(f"- `{name}` ({r.statuses[name]}, {r.shown})")
        return 0
    found = problems(results, listed_in_note())
    for problem in found:
        print(f"mutants: {problem}")
    if found:
        print("mutants: a mutant's diff: cd .mutmut && ../.venv/bin/mutmut show <mutant>")
        return 1
    print("mutants: every file at 90% or more, every survivor listed in docs/mutants.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
