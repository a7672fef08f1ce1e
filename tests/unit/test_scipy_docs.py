"""hokusai.models.scipy_docs: scikit-learn imported without scipy's docstring rendering, fenced in."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hokusai.models import scipy_docs

ROOT = Path(__file__).resolve().parents[2]


def _fresh(code: str) -> str:
    """Run ``code`` in a new interpreter (scipy.stats not imported yet), return its output."""
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def test_the_pinned_scipy_is_one_we_checked() -> None:
    pin = next(
        line.split("==")[1].strip()
        for line in (ROOT / "layers/ml/requirements.txt").read_text().splitlines()
        if line.startswith("scipy==")
    )
    assert pin in scipy_docs.CHECKED_SCIPY, "read the new scipy's xp_capabilities, then add it"


def test_docstrings_are_kept_without_the_note_and_the_patch_is_undone() -> None:
    out = _fresh(
        "from hokusai.models import scipy_docs\n"
        "from scipy._lib import _array_api\n"
        "original = _array_api.FunctionDoc\n"
        "assert scipy_docs.applies()\n"
        "with scipy_docs.capability_notes_skipped():\n"
        "    import sklearn.linear_model, scipy.stats\n"
        "assert _array_api.FunctionDoc is original\n"
        "doc = scipy.stats.skew.__doc__\n"
        "print('Compute the sample skewness' in doc, 'Array API Standard Support' in doc)\n"
    )
    assert out == "True False"


def test_without_the_patch_scipy_renders_its_note() -> None:
    # The baseline the measurement compares with: if scipy stops rendering, the patch can go.
    assert (
        _fresh("import scipy.stats\nprint('Array API Standard Support' in scipy.stats.skew.__doc__)")
        == "True"
    )


def test_another_scipy_version_is_imported_as_scipy_does(monkeypatch: pytest.MonkeyPatch) -> None:
    out = _fresh(
        "import scipy\n"
        "scipy.__version__ = '9.9.9'\n"
        "from hokusai.models import scipy_docs\n"
        "from scipy._lib import _array_api\n"
        "original = _array_api.FunctionDoc\n"
        "print(scipy_docs.applies())\n"
        "with scipy_docs.capability_notes_skipped():\n"
        "    assert _array_api.FunctionDoc is original\n"
        "    import scipy.stats\n"
        "print('Array API Standard Support' in scipy.stats.skew.__doc__)\n"
    )
    assert out == "False\nTrue"


def test_nothing_is_patched_once_scipy_stats_is_imported() -> None:
    import scipy.stats  # noqa: F401 - this test process has it, as any later load would
    from scipy._lib import _array_api

    original = _array_api.FunctionDoc
    assert not scipy_docs.applies()
    with scipy_docs.capability_notes_skipped():
        assert _array_api.FunctionDoc is original
