"""docs/api.md cannot go stale (issue 23 item 1): every ```bash, ```python and ```javascript block in it
runs against the local stack (what `make dev` runs), with HOKUSAI_URL and HOKUSAI_KEY set as the guide
tells a consumer to set them, and must exit 0; a ```json block right after one is its documented answer,
and the run must print JSON of the same shape (the same keys at every level, the same kinds of values;
ids, scores and times differ from run to run). Blocks in other languages (```text, ```http) are shown
only. The README links the guide first."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from local.stack import LocalStack
from tests.helpers import ROOT, run_program, running_stack

GUIDE = ROOT / "docs" / "api.md"
RUNNABLE = ("bash", "python", "javascript")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.DOTALL | re.MULTILINE)


@dataclass(frozen=True)
class Example:
    language: str
    code: str
    line: int
    answer: Any  # the documented answer (parsed ```json right after), or None

    @property
    def name(self) -> str:
        return f"api.md:{self.line}:{self.language}"


def examples(text: str) -> list[Example]:
    blocks = [
        (found.group(1), found.group(2), text.count("\n", 0, found.start()) + 1)
        for found in FENCE.finditer(text)
    ]
    found: list[Example] = []
    for index, (language, code, line) in enumerate(blocks):
        if language not in RUNNABLE:
            continue
        following = blocks[index + 1] if index + 1 < len(blocks) else None
        answer = json.loads(following[1]) if following and following[0] == "json" else None
        found.append(Example(language, code, line, answer))
    return found


EXAMPLES = examples(GUIDE.read_text())


def kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def shape_problems(documented: Any, actual: Any, where: str = "$") -> list[str]:
    """Where ``actual`` does not have ``documented``'s shape (a documented null matches any value; a
    list's every documented item is compared with the actual first item)."""
    if documented is None:
        return []
    if isinstance(documented, dict):
        if not isinstance(actual, dict):
            return [f"{where}: documented an object, got {kind(actual)}"]
        problems = [f"{where}: keys differ: documented {sorted(documented)}, got {sorted(actual)}"]
        if set(documented) == set(actual):
            problems = []
        for key in set(documented) & set(actual):
            problems += shape_problems(documented[key], actual[key], f"{where}.{key}")
        return problems
    if isinstance(documented, list):
        if not isinstance(actual, list):
            return [f"{where}: documented a list, got {kind(actual)}"]
        if not documented or not actual:
            return []
        return [problem for item in documented for problem in shape_problems(item, actual[0], f"{where}[0]")]
    if actual is not None and kind(documented) != kind(actual):
        return [f"{where}: documented a {kind(documented)}, got {kind(actual)}"]
    return []


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with running_stack() as started:
        yield started


@pytest.fixture(scope="module")
def consumer_env(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """What a consumer has: the base URL and a key for model 21 (made now, on no plan: not limited)."""
    api_key, _ = stack.create_key("acme-crm", ["21"])
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path_factory.mktemp("consumer-home")),
        "HOKUSAI_URL": stack.base_url,
        "HOKUSAI_KEY": api_key,
    }


def command(example: Example, workspace: Path) -> list[str]:
    if example.language == "bash":
        return ["bash", "-euo", "pipefail", "-c", example.code]
    if example.language == "python":
        return [sys.executable, "-c", example.code]
    script = workspace / "example.mjs"  # an ES module: top-level await, as the guide's examples use
    script.write_text(example.code)
    return [shutil.which("node") or "node", str(script)]


def test_the_guide_has_examples_in_every_language_and_answers() -> None:
    assert {example.language for example in EXAMPLES} == set(RUNNABLE)
    assert sum(example.answer is not None for example in EXAMPLES) >= 8


@pytest.mark.parametrize("example", EXAMPLES, ids=[example.name for example in EXAMPLES])
def test_the_example_runs_as_documented(
    example: Example, consumer_env: dict[str, str], tmp_path: Path
) -> None:
    completed = run_program(command(example, tmp_path), consumer_env, cwd=tmp_path, timeout=90)
    output = f"stdout:\n{completed.stdout}\nstderr:\n{completed.stderr}"
    assert completed.returncode == 0, f"{example.name} failed:\n{output}"
    assert consumer_env["HOKUSAI_KEY"] not in completed.stdout + completed.stderr
    if example.answer is not None:
        actual = json.loads(completed.stdout)
        problems = shape_problems(example.answer, actual)
        assert not problems, f"{example.name}: the documented answer is stale: {problems}\n{output}"


def test_the_readme_links_the_guide_first() -> None:
    links = re.findall(r"\]\((docs/[^)#]+)", (ROOT / "README.md").read_text())
    assert links and links[0] == "docs/api.md", links[:3]


def test_a_cors_preflight_is_refused_in_json_without_cors_headers(stack: LocalStack) -> None:
    """No CORS, by design (docs/api.md "Browsers and CORS"): a browser's preflight on every declared
    path gets a JSON 405 naming the methods, and no answer carries an Access-Control-* header."""
    import requests
    from hokusai import api_contract

    origin = {"Origin": "https://app.example.com"}
    for route in api_contract.ROUTES:
        path = route.path.replace("{model_id}", "21")
        preflight = requests.options(
            stack.base_url + path,
            headers={**origin, "Access-Control-Request-Method": route.method},
            timeout=30,
        )
        assert preflight.status_code == 405, preflight.text
        assert preflight.headers["Allow"] == ", ".join(api_contract.allowed_methods(route.path))
        assert preflight.json()["request_id"] == preflight.headers["X-Request-ID"]
        assert preflight.json()["detail"].startswith(f"Method OPTIONS not allowed on {route.path}")
        assert not [name for name in preflight.headers if name.lower().startswith("access-control-")]
    answer = requests.get(f"{stack.base_url}/health", headers=origin, timeout=30)
    assert not [name for name in answer.headers if name.lower().startswith("access-control-")]
