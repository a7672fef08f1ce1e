"""Import scikit-learn without scipy rewriting ~600 docstrings on the way (predict's cold start).

scikit-learn imports ``scipy.stats`` at start-up (``sklearn.utils.fixes``), whatever the model. In
scipy 1.17 every function decorated with ``scipy._lib._array_api.xp_capabilities`` (about 470 on
that path) has its docstring parsed with numpydoc's ``FunctionDoc`` and re-rendered with an
"Array API Standard Support" note appended, at import time. Measured here in the shipped layer
(bytecode, python3.12 -I): importing the model's scikit-learn modules took 1.4-1.5 s of CPU, and
0.84-0.93 s with that rendering skipped; it is only documentation, nothing at run time reads it.

:func:`capability_notes_skipped` is a deliberate, narrow patch of a private scipy name, so it is
fenced in: it applies only to the scipy versions listed in :data:`CHECKED_SCIPY` (checked by hand
against their source: the decorator's only use of ``FunctionDoc`` is that note), only while the
``with`` block runs and only when ``scipy.stats`` is not imported yet; it restores the original
afterwards, even on an error. Functions keep their own docstrings, without the note. Any other
scipy version imports exactly as scipy does (slower); ``tests/unit/test_scipy_docs.py`` checks
both, and the pin in ``layers/ml/requirements.txt`` is what keeps it in effect: bump
:data:`CHECKED_SCIPY` only after reading the new version's ``xp_capabilities``.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Any

CHECKED_SCIPY = frozenset({"1.17.1"})


class _OwnDocstring:
    """Stands in for numpydoc's ``FunctionDoc`` in ``xp_capabilities``: the decorator appends its
    note to a list nobody reads, then strips the first line of ``str()`` (the signature) and keeps
    the rest as the new docstring, which is therefore the function's own."""

    def __init__(self, function: Any) -> None:
        self._doc = getattr(function, "__doc__", None) or ""
        self._sections: dict[str, list[str]] = {}

    def __getitem__(self, section: str) -> list[str]:
        return self._sections.setdefault(section, [])

    def __str__(self) -> str:
        return "\n" + self._doc


def applies() -> bool:
    """True when entering :func:`capability_notes_skipped` would skip the rendering."""
    if "scipy.stats" in sys.modules:
        return False  # already paid for (or imported by someone else): nothing to skip
    try:
        import scipy
        from scipy._lib import _array_api
    except ImportError:
        return False
    return scipy.__version__ in CHECKED_SCIPY and hasattr(_array_api, "FunctionDoc")


@contextlib.contextmanager
def capability_notes_skipped() -> Iterator[None]:
    """Within the block, scipy's ``xp_capabilities`` keeps docstrings as they are (see above)."""
    if not applies():
        yield
        return
    from scipy._lib import _array_api

    original: Callable[..., Any] = _array_api.FunctionDoc
    _array_api.FunctionDoc = _OwnDocstring
    try:
        yield
    finally:
        _array_api.FunctionDoc = original
