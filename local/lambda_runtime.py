"""Run a function from its synthesized asset the way Lambda runs it, in a process of its own.

Lambda starts Python 3.12 with the function's code in ``/var/task``, its layers unpacked into
``/opt`` (``/opt/python`` on ``sys.path``), then the runtime's own packages (boto3, botocore,
s3transfer, urllib3), and nothing else; code and layers are read-only, so no ``.pyc`` is ever
written and whatever bytecode is not shipped is compiled from source on every cold start.

A :class:`LambdaWorker` reproduces that: ``python3.12 -I -S -B`` (isolated: no ``PYTHON*``
variables, no user or system site-packages, no bytecode written), working directory the asset,
``sys.path`` exactly ``[asset, *layers, *runtime_sdk, stdlib]``, the environment given (the
function's declared variables resolved for this machine, plus Lambda's reserved ones). It imports
the handler once (the init phase, timed), then answers invocations one at a time, like one warm
execution environment; an exception is reported the way Lambda reports it (``errorType``,
``errorMessage``). The function's own output (its logs) goes to a log file, never into the
protocol, which runs over two extra pipes.

:class:`AssetFunctionHost` puts one worker per function behind the local API Gateway emulator
(``local.apigw.Gateway``), so requests over HTTP reach the shipped artifacts.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

# Runs inside the worker. Kept free of anything but the standard library: it must not put a package
# on sys.path that Lambda would not have.
BOOTSTRAP = r"""
import importlib, json, os, resource, sys, time, traceback
started = time.perf_counter()
config = json.loads(sys.argv[1])
stdlib = [p for p in sys.path if p]
sys.path[:] = [config["task"], *config["layers"], *config["runtime"], *stdlib]
events = os.fdopen(config["events_fd"], "r", encoding="utf-8")
answers = os.fdopen(config["answers_fd"], "w", encoding="utf-8")

def send(message):
    answers.write(json.dumps(message, default=str) + "\n")
    answers.flush()

def peak_kb():
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork and exec.
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

class Context:
    def __init__(self, request_id, deadline):
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "function")
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.aws_request_id = request_id
        self.invoked_function_arn = config["function_arn"]
        self.log_group_name = "/aws/lambda/" + self.function_name
        self.log_stream_name = "local"
        self._deadline = deadline
    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.monotonic()) * 1000))

module_name, _, function_name = config["handler"].rpartition(".")
try:
    handler = getattr(importlib.import_module(module_name), function_name)
except BaseException as error:
    send({"ready": False, "errorType": type(error).__name__, "errorMessage": str(error),
          "trace": traceback.format_exc(), "init_ms": (time.perf_counter() - started) * 1000})
    sys.exit(1)
send({"ready": True, "init_ms": (time.perf_counter() - started) * 1000, "peak_kb": peak_kb(),
      "modules": len(sys.modules)})
for line in events:
    request = json.loads(line)
    context = Context(request["request_id"], time.monotonic() + request["timeout_seconds"])
    try:
        result = handler(request["event"], context)
        send({"ok": True, "result": result, "peak_kb": peak_kb()})
    except BaseException as error:
        send({"ok": False, "errorType": type(error).__name__, "errorMessage": str(error),
              "peak_kb": peak_kb()})
"""


class InitError(RuntimeError):
    """The function's init phase failed (Lambda would answer every invocation with this)."""


class FunctionError(Exception):
    """The handler raised; ``str()`` is its message, as Lambda reports it (``Unauthorized`` ...)."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


@dataclass(frozen=True)
class FunctionArtifact:
    """What Lambda is given for one function: code, handler, layers in order, memory, timeout."""

    name: str
    task_dir: Path
    handler: str
    layer_dirs: tuple[Path, ...]  # each a layer's root (its ``python/`` is what lands on sys.path)
    memory_mb: int = 128
    timeout_seconds: float = 30.0
    environment: Mapping[str, str] = field(default_factory=dict)

    @property
    def python_paths(self) -> list[str]:
        return [str(layer / "python") for layer in self.layer_dirs]


@dataclass
class LambdaWorker:
    artifact: FunctionArtifact
    python: str  # the runtime's interpreter, Python 3.12
    runtime_sdk: Sequence[Path]  # boto3 & co., installed apart, as the managed runtime has them
    environment: Mapping[str, str]
    log_path: Path
    init_ms: float = 0.0  # from spawning the interpreter to the handler imported (a cold start)
    import_ms: float = 0.0  # measured inside: the init phase proper
    peak_kb: int = 0
    _process: subprocess.Popen[bytes] | None = None
    _events: IO[str] | None = None
    _answers: IO[str] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> LambdaWorker:
        events_read, events_write = os.pipe()
        answers_read, answers_write = os.pipe()
        config = {
            "task": str(self.artifact.task_dir),
            "layers": self.artifact.python_paths,
            "runtime": [str(path) for path in self.runtime_sdk],
            "handler": self.artifact.handler,
            "events_fd": events_read,
            "answers_fd": answers_write,
            "function_arn": f"arn:aws:lambda:{self.environment.get('AWS_REGION', 'eu-west-1')}:"
            f"123456789012:function:{self.environment.get('AWS_LAMBDA_FUNCTION_NAME', self.artifact.name)}",
        }
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        started = time.perf_counter()
        self._process = subprocess.Popen(
            [self.python, "-I", "-S", "-B", "-c", BOOTSTRAP, json.dumps(config)],
            cwd=self.artifact.task_dir,
            env=dict(self.environment),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            pass_fds=(events_read, answers_write),
        )
        log.close()
        os.close(events_read)
        os.close(answers_write)
        self._events = os.fdopen(events_write, "w", encoding="utf-8")
        self._answers = os.fdopen(answers_read, "r", encoding="utf-8")
        ready = self._read(timeout=max(self.artifact.timeout_seconds, 30.0))
        self.init_ms = (time.perf_counter() - started) * 1000
        if not ready.get("ready"):
            self.stop()
            raise InitError(
                f"{self.artifact.name}: init failed: {ready.get('errorType')}: {ready.get('errorMessage')}\n"
                f"{ready.get('trace', '')}(log: {self.log_path})"
            )
        self.import_ms = float(ready["init_ms"])
        self.peak_kb = int(ready["peak_kb"])
        return self

    def _read(self, timeout: float) -> dict[str, Any]:
        assert self._answers is not None
        outcome: dict[str, Any] = {}

        def read() -> None:
            assert self._answers is not None
            outcome["line"] = self._answers.readline()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout)
        line = outcome.get("line")
        if not line:
            code = self._process.poll() if self._process else None
            self.stop()
            raise InitError(
                f"{self.artifact.name}: no answer within {timeout:.0f} s "
                f"(exit status {code}; log: {self.log_path})"
            )
        message: dict[str, Any] = json.loads(line)
        return message

    def invoke(self, event: Mapping[str, Any], request_id: str | None = None) -> Any:
        with self._lock:
            if self._process is None or self._events is None:
                raise InitError(f"{self.artifact.name}: not running")
            request = {
                "event": event,
                "request_id": request_id or str(uuid.uuid4()),
                "timeout_seconds": self.artifact.timeout_seconds,
            }
            self._events.write(json.dumps(request) + "\n")
            self._events.flush()
            answer = self._read(timeout=self.artifact.timeout_seconds + 5)
            self.peak_kb = max(self.peak_kb, int(answer.get("peak_kb", 0)))
            if not answer["ok"]:
                raise FunctionError(answer["errorType"], answer["errorMessage"])
            return answer["result"]

    def stop(self) -> None:
        for stream in (self._events, self._answers):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self._events = self._answers = None
        if self._process is not None:
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None


@dataclass
class AssetFunctionHost:
    """``local.apigw.FunctionHost``'s interface, backed by one :class:`LambdaWorker` per function."""

    identity: Any
    artifacts: Mapping[str, FunctionArtifact]
    python: str
    runtime_sdk: Sequence[Path]
    log_dir: Path
    function_names: dict[str, str] = field(default_factory=dict)
    timeout_seconds: float = 29.0
    environment: dict[str, str] = field(default_factory=dict)
    workers: dict[str, LambdaWorker] = field(default_factory=dict)
    workers_seen: dict[str, LambdaWorker] = field(default_factory=dict)  # the last of each, for reports
    _guard: threading.Lock = field(default_factory=threading.Lock)

    def configure(self, environment: Mapping[str, str]) -> None:
        """The local stack's resolved environment (table, bucket, Redis, endpoints on this machine)."""
        self.environment = dict(environment)

    def worker(self, name: str) -> LambdaWorker:
        with self._guard:
            worker = self.workers.get(name)
            if worker is None:
                artifact = self.artifacts[name]
                function_name = self.function_names.get(name, f"hokusai-{name}")
                environment = {
                    **self.environment,
                    **artifact.environment,
                    "AWS_LAMBDA_FUNCTION_NAME": function_name,
                    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(artifact.memory_mb),
                    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
                    "LAMBDA_TASK_ROOT": str(artifact.task_dir),
                    "TZ": ":UTC",
                    "LANG": "en_US.UTF-8",
                    "PATH": "/usr/local/bin:/usr/bin:/bin",
                }
                worker = LambdaWorker(
                    artifact, self.python, self.runtime_sdk, environment, self.log_dir / f"{name}.log"
                ).start()
                self.workers[name] = worker
                self.workers_seen[name] = worker
            return worker

    def load(self, name: str) -> LambdaWorker:
        return self.worker(name)

    def reload(self, name: str | None = None) -> None:
        with self._guard:
            for key in [name] if name else list(self.workers):
                worker = self.workers.pop(key, None)
                if worker is not None:
                    worker.stop()

    def invoke(self, name: str, event: dict[str, Any], request_id: str) -> Any:
        return self.worker(name).invoke(event, request_id)

    def stop(self) -> None:
        self.reload()
