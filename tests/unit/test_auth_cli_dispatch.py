"""``hokusai`` dispatches lazily and explains a missing subcommand instead of a traceback."""

from __future__ import annotations

import sys
import types

import pytest
from hokusai import cli


def test_help_and_unknown(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    assert "keys" in capsys.readouterr().out
    assert cli.main(["frobnicate"]) == 2
    assert "unknown command" in capsys.readouterr().err
    assert cli.main([]) == 2


def test_missing_module_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(cli.SUBCOMMANDS, "ghost", ("hokusai.ghost_module_not_built", "nothing"))
    assert cli.main(["ghost"]) == 2
    assert "not available" in capsys.readouterr().err


def test_dispatch_passes_the_rest_and_imports_only_on_use(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []
    fake = types.ModuleType("hokusai_fake_sub")

    def fake_main(argv: list[str]) -> int:
        seen.append(list(argv))
        return 7

    fake.main = fake_main  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "hokusai_fake_sub", fake)
    monkeypatch.setitem(cli.SUBCOMMANDS, "fake", ("hokusai_fake_sub", "test"))
    assert cli.main(["fake", "a", "--b"]) == 7
    assert seen == [["a", "--b"]]


def test_keys_usage_error_without_table(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("KEYS_TABLE_NAME", raising=False)
    assert cli.main(["keys", "list"]) == 2
    assert "KEYS_TABLE_NAME" in capsys.readouterr().err
