"""What each function imports at cold start, in Lambda's environment, with tracing as deployed (issue 24).

Run as Lambda runs them: a fresh interpreter, ``LAMBDA_TASK_ROOT`` and the runtime's variables set,
``HOKUSAI_TRACING=true`` where the stack turns tracing on (every function but revocation and the
canary-key provisioner) and the handler imported from its file, with the network refused. The old
import test ran with tracing disabled and outside Lambda's environment, so it never saw Powertools'
Tracer import the X-Ray SDK and botocore. Here:

- no function imports ``aws_xray_sdk`` (end of support 2027-02-25);
- a traced function imports the OpenTelemetry API and nothing of an SDK (the deployment's layer
  supplies it);
- an untraced function imports no tracing package at all.
"""

from __future__ import annotations

import json
import os

import pytest
from hokusai import environment

from local.handlers import ROOT
from tests.helpers import run_python

UNTRACED = ("revocation", "canary_key")
FUNCTIONS = ("authorizer", "predict", "health", "canary", "pre_traffic", *UNTRACED)
TRACING_PACKAGES = ("aws_xray_sdk", "opentelemetry", "wrapt")

# The least each handler needs to build (as the stack gives it; nothing here reaches a network).
REQUIRED = {
    "authorizer": {"KEYS_TABLE_NAME": "keys"},
    "predict": {"MODEL_REGISTRY": (ROOT / "model" / "registry.json").read_text()},
    "health": {"KEYS_TABLE_NAME": "keys", "MODEL_REGISTRY": (ROOT / "model" / "registry.json").read_text()},
    "canary": {"API_BASE_URL": "https://api.example.com/api", "EXPECTED_STATE_PARAMETER": "/hokusai/x"},
    "revocation": {"REDIS_URL": "redis://10.255.255.1:6379/0"},
    "pre_traffic": {
        f"RELEASE_{name.upper()}_VERSION": f"arn:aws:lambda:eu-west-1:123456789012:function:h-{name}:7"
        for name in ("authorizer", "predict", "health")
    },
    "canary_key": {},
}

PROBE = """
import importlib.util, json, socket, sys
def refuse(*args, **kwargs):
    raise RuntimeError("network I/O at import")
socket.socket.connect = refuse
spec = importlib.util.spec_from_file_location("handler", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(json.dumps(sorted(sys.modules)))
"""


def _lambda_environment(function: str) -> dict[str, str]:
    declared = environment.embedded_defaults([function]) if function in environment.FUNCTIONS else {}
    keep = {name: os.environ[name] for name in ("PATH", "PYTHONPATH", "HOME") if name in os.environ}
    return {
        **keep,
        **declared,
        **REQUIRED[function],
        "LAMBDA_TASK_ROOT": str(ROOT / "functions" / function),
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "AWS_LAMBDA_FUNCTION_NAME": f"hokusai-{function.replace('_', '-')}",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        "POWERTOOLS_SERVICE_NAME": f"hokusai-{function}",
        "HOKUSAI_TRACING": "false" if function in UNTRACED else "true",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


@pytest.mark.parametrize("function", FUNCTIONS)
def test_no_function_imports_the_x_ray_sdk_and_only_traced_ones_the_api(function: str) -> None:
    env = _lambda_environment(function)
    result = run_python("-c", PROBE, str(ROOT / "functions" / function / "handler.py"), env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    modules = set(json.loads(result.stdout.strip().splitlines()[-1]))
    roots = {name.split(".")[0] for name in modules}
    assert "aws_xray_sdk" not in roots
    if function in UNTRACED:
        assert not roots & set(TRACING_PACKAGES), sorted(roots & set(TRACING_PACKAGES))
    else:
        assert "opentelemetry.trace" in modules
        assert not {m for m in modules if m.startswith(("opentelemetry.sdk", "opentelemetry.exporter"))}
        assert "aws_xray_sdk" not in roots and "wrapt" not in roots


def test_the_stack_traces_exactly_the_functions_this_test_calls_traced() -> None:
    """The test's view of who is traced is the stack's: revocation and canary_key are built untraced."""
    service = (ROOT / "stacks" / "service_stack.py").read_text()
    monitoring = (ROOT / "stacks" / "monitoring_stack.py").read_text()
    assert '"revocation", dict(redis), tracing=False' in service
    assert "tracing_environment(settings, tracing=False)" in monitoring
