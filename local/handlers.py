"""Load ``functions/<name>/handler.py`` under a unique module name (every handler file is handler.py)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "tests" / "events"


def load_handler(function_name: str, *, fresh: bool = True) -> ModuleType:
    """Import functions/<function_name>/handler.py as ``handler_<function_name>``.

    ``fresh=True`` re-executes the module, so module-level start-up (settings, clients) sees the
    environment the test set.
    """
    module_name = f"handler_{function_name}"
    if not fresh and module_name in sys.modules:
        return sys.modules[module_name]
    path = ROOT / "functions" / function_name / "handler.py"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


class LambdaContext:
    """The attributes Powertools reads from a Lambda context object."""

    function_name = "hokusai-test"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:hokusai-test"
    memory_limit_in_mb = 512
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e812345678"
    log_group_name = "/aws/lambda/hokusai-test"
    log_stream_name = "2026/11/23/[$LATEST]abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000
