"""``make mutants``'s check (local/mutants.py) on hand-made mutmut results: the 90% bar per file, and
docs/mutants.md listing exactly the mutants that were not killed."""

from __future__ import annotations

import json
from pathlib import Path

from local import mutants

CHAIN = "src/hokusai/auth/chain.py"
TTL = "src/hokusai/cache/ttl.py"


def _meta(results_dir: Path, path: str, codes: dict[str, int | None]) -> None:
    meta = results_dir / f"{path}.meta"
    meta.parent.mkdir(parents=True, exist_ok=True)
    meta.write_text(json.dumps({"exit_code_by_key": codes, "durations_by_key": {}}))


def _codes(module: str, killed: int, **others: int) -> dict[str, int | None]:
    """``killed`` mutants with exit code 1, then ``others`` as name-suffix -> exit code."""
    codes: dict[str, int | None] = {f"{module}.x_f__mutmut_{i}": 1 for i in range(1, killed + 1)}
    codes.update(
        {f"{module}.x_f__mutmut_{suffix.removeprefix('m')}": code for suffix, code in others.items()}
    )
    return codes


def test_exit_codes_are_read_as_mutmut_reads_them(tmp_path: Path) -> None:
    _meta(tmp_path, CHAIN, {"a": 1, "b": 3, "c": 0, "d": 33, "e": 36, "f": -24, "g": None, "h": 99})
    [result] = mutants.load_results([CHAIN], tmp_path)
    assert result.statuses == {
        "a": "killed",
        "b": "killed",
        "c": "survived",
        "d": "no tests",
        "e": "timeout",
        "f": "timeout",
        "g": "not checked",
        "h": "suspicious",
    }
    assert (result.total, result.detected) == (8, 4)
    assert result.undetected == ["c", "d", "g", "h"]
    assert result.shown == "layers/common/python/hokusai/auth/chain.py"


def test_ninety_percent_passes_when_the_survivor_is_listed(tmp_path: Path) -> None:
    _meta(tmp_path, CHAIN, _codes("hokusai.auth.chain", 9, m10=0))
    results = mutants.load_results([CHAIN], tmp_path)
    assert mutants.problems(results, {"hokusai.auth.chain.x_f__mutmut_10"}) == []
    assert mutants.problems(results, set()) == [
        "hokusai.auth.chain.x_f__mutmut_10 (survived) is not listed in docs/mutants.md"
    ]


def test_under_ninety_percent_fails_whatever_is_listed(tmp_path: Path) -> None:
    _meta(tmp_path, TTL, _codes("hokusai.cache.ttl", 8, m9=0, m10=33))
    results = mutants.load_results([TTL], tmp_path)
    listed = {"hokusai.cache.ttl.x_f__mutmut_9", "hokusai.cache.ttl.x_f__mutmut_10"}
    assert mutants.problems(results, listed) == [
        "layers/common/python/hokusai/cache/ttl.py: 80.0% killed (8/10), under 90%"
    ]


def test_a_file_without_results_and_a_stale_listing_fail(tmp_path: Path) -> None:
    _meta(tmp_path, CHAIN, _codes("hokusai.auth.chain", 10))
    results = mutants.load_results([CHAIN, TTL], tmp_path)
    listed = {"hokusai.auth.chain.x_f__mutmut_3", "hokusai.auth.chain.x_gone__mutmut_1"}
    assert mutants.problems(results, listed) == [
        "layers/common/python/hokusai/cache/ttl.py: no mutmut results (not mutated, or mutmut did not run)",
        "docs/mutants.md lists hokusai.auth.chain.x_f__mutmut_3, killed now: remove it",
        "docs/mutants.md lists hokusai.auth.chain.x_gone__mutmut_1, no such mutant in this run: remove it",
    ]


def test_the_note_lists_mutants_as_list_items_in_backticks(tmp_path: Path) -> None:
    note = tmp_path / "mutants.md"
    note.write_text(
        "Some `hokusai.auth.chain.x_f__mutmut_1` in a sentence is not a listing.\n"
        "- `hokusai.auth.chain.xǁValidatorChainǁ_validate__mutmut_23`: only read as a truth value.\n"
        "- `hokusai.cache.ttl.xǁTTLCacheǁset__mutmut_7`: None pops the oldest as False does.\n"
    )
    assert mutants.listed_in_note(note) == {
        "hokusai.auth.chain.xǁValidatorChainǁ_validate__mutmut_23",
        "hokusai.cache.ttl.xǁTTLCacheǁset__mutmut_7",
    }


def test_the_repository_note_lists_only_mutants_of_the_files_mutated() -> None:
    modules = {
        path.removeprefix("src/").removesuffix(".py").replace("/", ".") for path in mutants.files_to_mutate()
    }
    listed = mutants.listed_in_note()
    assert listed
    assert {name.rsplit(".", 1)[0] for name in listed} <= modules
