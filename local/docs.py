"""``make docs``: write the generated parts of the docs from their one declaration.

- README.md's configuration table, from ``hokusai/environment.py``;
- docs/deploy.md's concurrency paragraph, from cdk.json's ``reservedConcurrency`` (the total the
  account's quota must hold, which ``hokusai preflight`` checks with the same function);
- docs/deploy.md's context table, from ``stacks/settings.py``'s ``CONTEXT`` (each key's default,
  meaning and reader, declared once).

Each part sits between two markers; a test checks that what is there now is what would be written.
"""

from __future__ import annotations

import json
from pathlib import Path

from hokusai.environment import markdown_table
from hokusai.preflight import UNRESERVED_MINIMUM, reserved_total

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DEPLOY_GUIDE = ROOT / "docs" / "deploy.md"
CDK_JSON = ROOT / "cdk.json"
BEGIN = (
    "<!-- configuration table: generated from hokusai/environment.py by `make docs`; a test checks it -->\n"
)
END = "<!-- end of configuration table -->\n"
CONCURRENCY_BEGIN = "<!-- concurrency: generated from cdk.json by `make docs`; a test checks it -->\n"
CONCURRENCY_END = "<!-- end of concurrency -->\n"
CONTEXT_BEGIN = (
    "<!-- context table: generated from stacks/settings.py CONTEXT by `make docs`; a test checks it -->\n"
)
CONTEXT_END = "<!-- end of context table -->\n"


def _bounds(text: str, begin: str = BEGIN, end: str = END) -> tuple[int, int]:
    start = text.index(begin) + len(begin)
    return start, text.index(end, start)


def readme_table(readme: Path = README) -> str:
    text = readme.read_text()
    start, end = _bounds(text)
    return text[start:end]


def concurrency_paragraph(cdk_json: Path = CDK_JSON) -> str:
    """What the account's Lambda concurrency must hold for cdk.json's reservations."""
    reservations = json.loads(cdk_json.read_text())["context"]["reservedConcurrency"]
    reserved = {name: count for name, count in reservations.items() if count is not None}
    unreserved = sorted(name for name, count in reservations.items() if count is None)
    total = reserved_total(reservations)
    listed = ", ".join(f"{name} {count}" for name, count in sorted(reserved.items(), key=lambda kv: -kv[1]))
    return (
        f"- Lambda concurrency: cdk.json's `reservedConcurrency` reserves **{total}** executions "
        f"({listed}; {', '.join(unreserved) or 'none'} unreserved). Lambda keeps {UNRESERVED_MINIMUM} of "
        f"the account's concurrency unreserved, so the account's quota must be at least "
        f"**{total + UNRESERVED_MINIMUM}** (`hokusai preflight` checks it). A new account's quota may be "
        "10: ask for an increase (Service Quotas, quota L-B99A9384) or set the reservations to `null`.\n"
    )


def deploy_concurrency(guide: Path = DEPLOY_GUIDE) -> str:
    text = guide.read_text()
    start, end = _bounds(text, CONCURRENCY_BEGIN, CONCURRENCY_END)
    return text[start:end]


def _rewrite(path: Path, begin: str, end: str, content: str) -> bool:
    text = path.read_text()
    start, stop = _bounds(text, begin, end)
    updated = text[:start] + content + text[stop:]
    if updated == text:
        return False
    path.write_text(updated)
    return True


def write_readme_table(readme: Path = README) -> bool:
    """Rewrite the table; True when it changed."""
    return _rewrite(readme, BEGIN, END, markdown_table())


def write_deploy_concurrency(guide: Path = DEPLOY_GUIDE) -> bool:
    return _rewrite(guide, CONCURRENCY_BEGIN, CONCURRENCY_END, concurrency_paragraph())


def deploy_context_table(guide: Path = DEPLOY_GUIDE) -> str:
    text = guide.read_text()
    start, end = _bounds(text, CONTEXT_BEGIN, CONTEXT_END)
    return text[start:end]


def write_deploy_context_table(guide: Path = DEPLOY_GUIDE) -> bool:
    from stacks.settings import context_table

    return _rewrite(guide, CONTEXT_BEGIN, CONTEXT_END, context_table())


if __name__ == "__main__":
    print("README.md: configuration table " + ("rewritten" if write_readme_table() else "already current"))
    print("docs/deploy.md: concurrency " + ("rewritten" if write_deploy_concurrency() else "already current"))
    print(
        "docs/deploy.md: context table "
        + ("rewritten" if write_deploy_context_table() else "already current")
    )
