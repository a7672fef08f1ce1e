"""schemathesis, a tool nobody here wrote, against the local stack (issue 23 item 3): every check, both
auth schemes, a fixed seed, zero failures. The bounds and every configured behaviour, with its reason,
are in tests/e2e/schemathesis.toml; a failure prints schemathesis' report (with `curl` and
`st replay` lines to reproduce it)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from local.stack import LocalStack
from tests.helpers import run_program, running_stack

CONFIG = Path(__file__).with_name("schemathesis.toml")
SCHEMES = {"Bearer": 'bearer = "${HOKUSAI_KEY}"', "ApiKey": 'api_key = "${HOKUSAI_KEY}"'}
ST = Path(sys.executable).with_name("st")


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with running_stack() as started:
        yield started


@pytest.mark.slow
@pytest.mark.timeout(420)
@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_schemathesis_finds_nothing(stack: LocalStack, scheme: str, tmp_path: Path) -> None:
    api_key, _ = stack.create_key(f"schemathesis-{scheme.lower()}", ["21"])  # on no plan: not limited
    config = tmp_path / "schemathesis.toml"
    config.write_text(f"{CONFIG.read_text()}\n[auth.openapi.{scheme}]\n{SCHEMES[scheme]}\n")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "HOKUSAI_KEY": api_key}
    command = [str(ST), "--config-file", str(config), "run", f"{stack.base_url}/v1/openapi.json"]
    completed = run_program([*command, "--url", stack.base_url], env, cwd=tmp_path, timeout=400)
    report = completed.stdout + completed.stderr
    assert completed.returncode == 0, report[-20000:]
    assert " generated, " in report, report[-5000:]
