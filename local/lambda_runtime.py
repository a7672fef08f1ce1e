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
import select
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


class WorkerDied(RuntimeError):
    """The worker process exited, or its pipe broke, before answering (a crashed runtime)."""


class WorkerTimedOut(RuntimeError):
    """No answer within the deadline; the worker was killed. Deliberately not a ``TimeoutError``:
    a function's own timeout is a function error (502), unlike API Gateway's integration timeout."""


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
    invocations: int = 0
    number: int = 0  # the instance's number in its function's pool (local.lambda_pool), for log lines
    stdout: int | None = None  # where the function's output goes (a file descriptor); None: log_path
    _process: subprocess.Popen[bytes] | None = None
    _events: IO[str] | None = None
    _answers_fd: int | None = None
    _buffer: bytearray = field(default_factory=bytearray)
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
        log: IO[bytes] | None = None
        if self.stdout is None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            log = self.log_path.open("ab")
        output = log if log is not None else self.stdout
        started = time.perf_counter()
        try:
            self._process = subprocess.Popen(
                [self.python, "-I", "-S", "-B", "-c", BOOTSTRAP, json.dumps(config)],
                cwd=self.artifact.task_dir,
                env=dict(self.environment),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                pass_fds=(events_read, answers_write),
                # Its own session: a Ctrl-C in make dev's terminal reaches make dev, which ends its
                # workers itself, not every worker with a KeyboardInterrupt traceback of its own.
                start_new_session=True,
            )
        finally:
            if log is not None:
                log.close()
            os.close(events_read)
            os.close(answers_write)
        self._events = os.fdopen(events_write, "w", encoding="utf-8")
        self._answers_fd = answers_read
        try:
            # Lambda allows an init 10 s; a machine shared with tests and benchmarks needs more.
            ready = self._read(timeout=max(self.artifact.timeout_seconds, 60.0))
        except (WorkerDied, WorkerTimedOut) as error:
            raise InitError(str(error)) from None
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
        """The worker's next answer (one JSON line), waiting at most ``timeout`` seconds.

        Read from the raw pipe with ``select``, so no thread is started per invocation. A worker that
        exits (a crash, ``os._exit``, the kernel's OOM killer) raises :class:`WorkerDied`; one that does
        not answer in time is killed, as Lambda ends an environment whose invocation timed out, and
        raises :class:`WorkerTimedOut`.
        """
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            fd = self._answers_fd
            remaining = deadline - time.monotonic()
            if fd is None:
                raise WorkerDied(f"{self.artifact.name}: not running")
            if remaining <= 0:
                self.stop(kill=True)
                raise WorkerTimedOut(f"{self.artifact.name}: no answer within {timeout:g} s")
            readable, _, _ = select.select([fd], [], [], remaining)
            if not readable:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                code = self._process.poll() if self._process else None
                self.stop(kill=True)
                raise WorkerDied(
                    f"{self.artifact.name}: the worker exited (status {code}; log: {self.log_path})"
                )
            self._buffer += chunk
        line, _, rest = bytes(self._buffer).partition(b"\n")
        self._buffer = bytearray(rest)
        message: dict[str, Any] = json.loads(line)
        return message

    def invoke(
        self, event: Mapping[str, Any], request_id: str | None = None, timeout: float | None = None
    ) -> Any:
        """One invocation; ``timeout`` (default: the function's) bounds the wait for its answer."""
        with self._lock:
            if self._process is None or self._events is None:
                raise WorkerDied(f"{self.artifact.name}: not running")
            request = {
                "event": event,
                "request_id": request_id or str(uuid.uuid4()),
                "timeout_seconds": self.artifact.timeout_seconds,
            }
            try:
                self._events.write(json.dumps(request) + "\n")
                self._events.flush()
            except (BrokenPipeError, ValueError):  # ValueError: the stream was closed under us
                self.stop(kill=True)
                raise WorkerDied(f"{self.artifact.name}: the worker exited (log: {self.log_path})") from None
            answer = self._read(timeout=self.artifact.timeout_seconds if timeout is None else timeout)
            self.peak_kb = max(self.peak_kb, int(answer.get("peak_kb", 0)))
            self.invocations += 1
            if not answer["ok"]:
                raise FunctionError(answer["errorType"], answer["errorMessage"])
            return answer["result"]

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def stop(self, *, kill: bool = False, wait_seconds: float = 5.0) -> None:
        """End the worker: closing its events pipe makes it exit; ``kill`` (or no exit within
        ``wait_seconds``) sends SIGKILL, as for an environment Lambda abandons."""
        if self._events is not None:
            with contextlib.suppress(OSError, ValueError):
                self._events.close()
        if self._answers_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._answers_fd)
        self._events = None
        self._answers_fd = None
        process, self._process = self._process, None
        if process is not None:
            if kill:
                process.kill()
            try:
                process.wait(timeout=wait_seconds)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


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
