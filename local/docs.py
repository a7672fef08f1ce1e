"""``make docs``: write the README's configuration table from ``hokusai/environment.py``.

The table sits between two markers; :func:`readme_table` reads what is there now, so a test can check
that the README says exactly what the declaration says.
"""

from __future__ import annotations

from pathlib import Path

from hokusai.environment import markdown_table

README = Path(__file__).resolve().parents[1] / "README.md"
BEGIN = (
    "<!-- configuration table: generated from hokusai/environment.py by `make docs`; a test checks it -->\n"
)
END = "<!-- end of configuration table -->\n"


def _bounds(text: str) -> tuple[int, int]:
    start = text.index(BEGIN) + len(BEGIN)
    return start, text.index(END, start)


def readme_table(readme: Path = README) -> str:
    text = readme.read_text()
    start, end = _bounds(text)
    return text[start:end]


def write_readme_table(readme: Path = README) -> bool:
    """Rewrite the table; True when it changed."""
    text = readme.read_text()
    start, end = _bounds(text)
    updated = text[:start] + markdown_table() + text[end:]
    if updated == text:
        return False
    readme.write_text(updated)
    return True


if __name__ == "__main__":
    print("README.md: configuration table " + ("rewritten" if write_readme_table() else "already current"))
