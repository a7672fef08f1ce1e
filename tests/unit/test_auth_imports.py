"""Cold start: importing the authorizer handler loads no ML stack and no pydantic, and does no I/O."""

from __future__ import annotations

import json
import os

from tests.helpers import run_python

HEAVY = ["sklearn", "numpy", "scipy", "skops", "huggingface_hub", "pydantic", "joblib"]

PROBE = """
import importlib.util, json, socket, sys
def refuse(*args, **kwargs):
    raise RuntimeError("network I/O at import")
socket.socket.connect = refuse
spec = importlib.util.spec_from_file_location("authorizer_handler", "functions/authorizer/handler.py")
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)))
"""


def test_handler_import_is_light_and_offline() -> None:
    env = {
        **os.environ,
        "KEYS_TABLE_NAME": "hokusai-keys",
        "REDIS_URL": "redis://10.255.255.1:6379/0",
        "REDIS_AUTH_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:redis-AbCdEf",
        "POWERTOOLS_TRACE_DISABLED": "1",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
    result = run_python("-c", f"HEAVY = {HEAVY!r}\n" + PROBE, env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
