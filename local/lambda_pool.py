"""Functions as Lambda runs them behind ``make dev``: one process per execution environment, a pool per
function, scaled out up to the function's reserved concurrency and throttled past it.

Each instance is a :class:`local.lambda_runtime.LambdaWorker`: its own Python process (isolated,
``sys.path`` = the function's directory, ``layers/common/python`` and this venv's site-packages, the
way the deployed function gets its code, layers and the runtime's packages), which imports the handler
once (the init phase) and then answers one event at a time. Nothing is shared between functions or
between instances of one function: not Powertools' class-level state, not caches, not connections.

:class:`FunctionPool` keeps one function's instances:

* an invocation takes the most recently used idle instance (warm reuse, as Lambda reuses
  environments); when every instance is busy it waits, in arrival order, for the first one to free
  up, and when they stay busy for :data:`SCALE_OUT_AFTER_SECONDS` the pool starts one more (scale-out,
  one cold start at a time per function; the reason is beside the constant). A new instance's first
  invocation is a cold start, logged as Lambda logs one (``INIT_START``, then a ``REPORT`` line with
  ``Init Duration``);
* ``reservedConcurrency`` from cdk.json is both the most instances and the throttle: an invocation
  arriving while that many instances are busy is refused with :class:`hokusai.gateway.InvocationRejected`
  (Lambda's 429 TooManyRequestsException), which the gateway answers as API Gateway does
  (``hokusai.gateway.Gateway.handle``). A function without one (null) draws on the account's
  unreserved concurrency (1,000 by default), which no local load reaches: it is never throttled here,
  and its instances are capped at :data:`UNRESERVED_LOCAL_INSTANCES`, past which invocations wait for
  the first instance to free up. See docs/local.md for why that number;
* an instance that crashes (its process exits) or overruns its timeout is killed and dropped: the
  invocation fails (502, or 504 past API Gateway's integration timeout) and the next invocation that
  needs an instance starts a fresh one.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import os
import sysconfig
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hokusai.gateway import INTEGRATION_TIMEOUT_SECONDS, InvocationRejected

from local.lambda_runtime import FunctionArtifact, InitError, LambdaWorker, WorkerDied, WorkerTimedOut

ROOT = Path(__file__).resolve().parents[1]
CDK_JSON = ROOT / "cdk.json"

# The instance cap of a function without reserved concurrency. Every instance is a Python process with
# its own imports (the authorizer ~60 MB and ~1 s of CPU to start); on this project's 2-core machines,
# more instances than a few per core add memory and cold starts, not throughput. 8 holds the e2e tests'
# and the benchmark's parallel clients in warm instances after the first seconds.
UNRESERVED_LOCAL_INSTANCES = 8
# How long an invocation waits for a busy instance to free up before the pool starts another. Lambda
# starts one at once, with CPU of its own; here a cold start costs 0.2-4 s of CPU on the same 2 cores
# the warm instances need (predict's imports), and a new instance only takes CPU from the others when
# none is idle. So the pool grows when its instances stay busy, one cold start at a time per function,
# and not while the machine's CPU is saturated (CpuMeter). Measured: growing at once, 50 clients
# started 42 predict instances, each taking 20 s to init, and the stack answered 11 requests a second;
# waiting 10 ms before growing, 8 clients kept one authorizer and one predict instance busy in turn
# (about 730 predicts/s on 1.3 cores); 2-5 ms let a second one start (780-870/s).
SCALE_OUT_AFTER_SECONDS = 0.005
SCALE_OUT_RECHECK_SECONDS = 0.2  # then how often a waiting invocation looks again
SATURATED_IDLE_SHARE = 0.10  # less idle CPU than this over the last half second: saturated
# The account's unreserved concurrency (Lambda's default quota): the throttle of a function with none.
ACCOUNT_CONCURRENCY = 1000


class FunctionTimedOut(Exception):
    """The function ran past its own timeout ("Task timed out after N seconds"): a function error, which
    API Gateway answers 502 (and an authorizer's, AUTHORIZER_FAILURE)."""


def declared_settings(
    cdk_json: Path = CDK_JSON,
) -> tuple[dict[str, int | None], dict[str, float], dict[str, int]]:
    """cdk.json's ``reservedConcurrency``, ``timeoutSeconds`` and ``memoryMb`` per function."""
    import json

    context = json.loads(cdk_json.read_text())["context"]
    reserved = {
        name: (None if value is None else int(value))
        for name, value in context["reservedConcurrency"].items()
    }
    timeouts = {name: float(value) for name, value in context["timeoutSeconds"].items()}
    memory = {name: int(value) for name, value in context["memoryMb"].items()}
    return reserved, timeouts, memory


def runtime_paths() -> list[Path]:
    """What the worker needs beside the function's directory: the common layer's sources and this venv's
    site-packages (the ML layer's packages, Powertools, boto3 as the managed runtime ships it)."""
    return [ROOT / "layers" / "common" / "python", Path(sysconfig.get_paths()["purelib"])]


class CpuMeter:
    """Is this machine's CPU saturated? The idle share of all cores over the last half second or so,
    from /proc/stat (never saturated where there is none)."""

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self._lock = threading.Lock()
        self._at = 0.0
        self._last: tuple[int, int] | None = None
        self._saturated = False

    @staticmethod
    def _read() -> tuple[int, int] | None:
        try:
            with open("/proc/stat") as stat:
                values = [int(v) for v in stat.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        return sum(values), values[3] + values[4]  # total, idle + iowait

    def saturated(self) -> bool:
        with self._lock:
            now = time.monotonic()
            if now - self._at >= self.interval:
                current = self._read()
                if current is not None and self._last is not None and current[0] > self._last[0]:
                    idle = (current[1] - self._last[1]) / (current[0] - self._last[0])
                    self._saturated = idle < SATURATED_IDLE_SHARE
                self._last, self._at = current, now
            return self._saturated


CPU = CpuMeter()


@dataclass
class _Waiter:
    """An invocation waiting for an instance; handed one (or an error) in arrival order."""

    ready: threading.Event = field(default_factory=threading.Event)
    worker: LambdaWorker | None = None
    error: BaseException | None = None


@dataclass
class PoolStats:
    instances: int
    busy: int
    in_flight: int
    cold_starts: int
    throttles: int
    replaced: int
    init_ms: list[float]


@dataclass
class FunctionPool:
    """One function's execution environments (see the module docstring)."""

    name: str
    artifact: FunctionArtifact
    environment: Mapping[str, str]
    reserved: int | None  # cdk.json's reservedConcurrency (None: unreserved)
    python: str
    runtime_sdk: Sequence[Path]
    log: Callable[[str], None] = lambda _line: None
    local_cap: int = UNRESERVED_LOCAL_INSTANCES
    stdout: int | None = None  # the functions' own output (file descriptor); None: a log file each
    log_dir: Path = ROOT / ".dev" / "logs"
    report_every_invocation: bool = False
    cpu: CpuMeter = field(default_factory=lambda: CPU)  # is the machine saturated (no scale-out then)

    _idle: list[LambdaWorker] = field(default_factory=list)
    _waiting: collections.deque[_Waiter] = field(default_factory=collections.deque)
    _starting: int = 0
    _in_flight: int = 0
    _cold_starts: int = 0
    _throttles: int = 0
    _replaced: int = 0
    _init_ms: list[float] = field(default_factory=list)
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _workers: dict[int, LambdaWorker] = field(default_factory=dict)  # every live instance, idle or busy
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _closed: bool = False

    @property
    def throttle_limit(self) -> int:
        return self.reserved if self.reserved is not None else ACCOUNT_CONCURRENCY

    @property
    def instance_cap(self) -> int:
        return self.reserved if self.reserved is not None else self.local_cap

    # ------------------------------------------------------------------ invocations
    def invoke(
        self, event: Mapping[str, Any], request_id: str, integration_timeout: float | None = None
    ) -> Any:
        """Run ``event`` on an instance. Raises :class:`InvocationRejected` past the reserved concurrency,
        :class:`FunctionTimedOut` past the function's timeout, ``TimeoutError`` past
        ``integration_timeout`` (API Gateway's, when it is the shorter), ``WorkerDied`` for a crash,
        ``InitError`` when a new instance cannot init, ``FunctionError`` for an exception raised by the
        handler (the instance stays warm, as Lambda keeps it)."""
        worker = self._acquire(request_id)
        cold = worker.invocations == 0
        started = time.perf_counter()
        function_timeout = self.artifact.timeout_seconds
        gateway_first = integration_timeout is not None and integration_timeout <= function_timeout
        timeout = function_timeout
        if gateway_first and integration_timeout is not None:
            timeout = integration_timeout
        healthy = False
        status = "ok"
        try:
            result = worker.invoke(event, request_id, timeout=timeout)
            healthy = True
            return result
        except WorkerTimedOut:
            status = "timeout"
            if gateway_first:
                raise TimeoutError(f"{self.name}: no answer within {timeout:g} s") from None
            raise FunctionTimedOut(f"Task timed out after {function_timeout:.2f} seconds") from None
        except WorkerDied:
            status = "crashed"
            raise
        except Exception:
            healthy = True  # the handler raised: the runtime reported it, the environment lives on
            status = "error"
            raise
        finally:
            self._release(worker, healthy)
            self._report(worker, request_id, started, cold, status)

    def _acquire(self, request_id: str) -> LambdaWorker:
        """An instance for one invocation: an idle one (the most recently used), else the first one to
        become free, in arrival order. Past the reserved concurrency: refused (the throttle)."""
        with self._lock:
            if self._closed:
                raise WorkerDied(f"{self.name}: the local stack is stopping")
            running = len(self._workers) - len(self._idle)  # instances busy with an invocation
            if running >= self.throttle_limit:
                self._throttles += 1
                self.log(
                    f"{self.name}: throttled: {running} instances busy, reserved concurrency "
                    f"{self.throttle_limit} (Lambda's 429 TooManyRequestsException, request {request_id})"
                )
                raise InvocationRejected(
                    f"{self.name}: Rate Exceeded (reserved concurrency {self.throttle_limit})"
                )
            self._in_flight += 1
            if self._idle and not self._waiting:
                return self._idle.pop()  # warm reuse
            waiter = _Waiter()
            self._waiting.append(waiter)
            if not self._workers and not self._starting:
                self._scale_out_locked()  # no instance at all: the first one starts now
        patience = SCALE_OUT_AFTER_SECONDS
        while not waiter.ready.wait(patience):
            patience = SCALE_OUT_RECHECK_SECONDS  # not every few ms: a hundred waiters would thrash the GIL
            with self._lock:
                if waiter.ready.is_set():
                    break
                # Every instance busy for a while: one more, one cold start at a time, when the machine has
                # CPU to give it (see SCALE_OUT_AFTER_SECONDS).
                if (
                    not self._starting
                    and len(self._workers) < self.instance_cap
                    and not self._closed
                    and (not self._workers or not self.cpu.saturated())
                ):
                    self._scale_out_locked()
        if waiter.worker is None:
            with self._lock:
                self._in_flight -= 1
            raise waiter.error or WorkerDied(f"{self.name}: the local stack is stopping")
        return waiter.worker

    def _scale_out_locked(self) -> None:
        self._starting += 1
        threading.Thread(target=self._start_and_hand_over, name=f"init-{self.name}", daemon=True).start()

    def _start_and_hand_over(self) -> None:
        try:
            worker = self._start_instance()
        except Exception as error:
            with self._lock:
                self._starting -= 1
                if not self._workers:  # nothing else will ever free up: fail those waiting, as Lambda does
                    while self._waiting:
                        waiter = self._waiting.popleft()
                        waiter.error = error
                        waiter.ready.set()
            return
        with self._lock:
            self._starting -= 1
            if self._closed:
                closed = True
            else:
                closed = False
                self._workers[id(worker)] = worker
                self._hand_over_locked(worker)
        if closed:
            worker.stop(kill=True, wait_seconds=1.0)

    def _hand_over_locked(self, worker: LambdaWorker) -> None:
        if self._waiting:
            waiter = self._waiting.popleft()
            waiter.worker = worker
            waiter.ready.set()
        else:
            self._idle.append(worker)

    def _release(self, worker: LambdaWorker, healthy: bool) -> None:
        with self._lock:
            self._in_flight -= 1
            if healthy and not self._closed:
                self._hand_over_locked(worker)
            else:
                self._workers.pop(id(worker), None)
                if not self._closed:
                    self._replaced += 1
                    if self._waiting and not self._starting:
                        self._scale_out_locked()  # a replacement for those waiting
        if not healthy:
            worker.stop(kill=True)
        elif self._closed:
            worker.stop(wait_seconds=1.0)

    def _start_instance(self) -> LambdaWorker:
        number = next(self._numbers)
        environment = {
            **self.environment,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.artifact.memory_mb),
            "AWS_LAMBDA_LOG_STREAM_NAME": f"local/[$LATEST]{uuid.uuid4().hex}",
        }
        worker = LambdaWorker(
            self.artifact,
            self.python,
            self.runtime_sdk,
            environment,
            self.log_dir / f"{self.name}-{number}.log",
            stdout=self.stdout,
        )
        worker.number = number
        self.log(f"INIT_START {self.name} instance {number}")
        try:
            worker.start()
        except InitError as error:
            self.log(f"INIT_REPORT {self.name} instance {number}: init failed: {error}")
            raise
        with self._lock:
            self._cold_starts += 1
            self._init_ms.append(worker.init_ms)
        return worker

    def _report(self, worker: LambdaWorker, request_id: str, started: float, cold: bool, status: str) -> None:
        if not (cold or status in ("timeout", "crashed") or self.report_every_invocation):
            return
        duration = (time.perf_counter() - started) * 1000
        parts = [
            f"REPORT {self.name} instance {worker.number} RequestId: {request_id}",
            f"Duration: {duration:.2f} ms",
            f"Memory Size: {self.artifact.memory_mb} MB",
            f"Max Memory Used: {worker.peak_kb // 1024} MB",
        ]
        if cold:
            parts.append(f"Init Duration: {worker.init_ms:.2f} ms")
        if status == "timeout":
            parts.append("Status: timeout (instance killed and replaced)")
        elif status == "crashed":
            parts.append("Status: error, Error Type: Runtime.ExitError (instance replaced)")
        self.log("\t".join(parts))

    # ------------------------------------------------------------------ lifecycle
    def prewarm(self) -> None:
        """One warm instance now (as the first invocation would start it), so the first request does
        not pay the function's init."""
        worker = self._acquire(f"prewarm-{uuid.uuid4()}")
        self._release(worker, healthy=True)

    def stats(self) -> PoolStats:
        with self._lock:
            return PoolStats(
                instances=len(self._workers),
                busy=len(self._workers) - len(self._idle),
                in_flight=self._in_flight,
                cold_starts=self._cold_starts,
                throttles=self._throttles,
                replaced=self._replaced,
                init_ms=list(self._init_ms),
            )

    def pids(self) -> list[int]:
        with self._lock:
            return [pid for worker in self._workers.values() if (pid := worker.pid) is not None]

    def stop(self) -> None:
        """End every instance: idle ones at once; busy ones are killed (their invocations fail)."""
        with self._lock:
            self._closed = True
            workers = list(self._workers.values())
            self._idle.clear()
            self._workers.clear()
            while self._waiting:
                self._waiting.popleft().ready.set()  # no worker: they fail as the stack stops
        for worker in workers:
            with contextlib.suppress(Exception):
                worker.stop(kill=True, wait_seconds=1.0)


@dataclass
class ProcessFunctionHost:
    """``local.apigw.FunctionHost``'s interface over one :class:`FunctionPool` per function.

    ``functions``: which functions to serve (directories under ``functions/``); reserved concurrency,
    timeout and memory come from cdk.json (``reserved`` overrides, e.g. a test's small limit).
    """

    identity: Any
    functions: Sequence[str] = ("authorizer", "predict", "health", "canary", "revocation")
    reserved: Mapping[str, int | None] = field(default_factory=dict)
    timeouts: Mapping[str, float] = field(default_factory=dict)
    functions_dir: Path = ROOT / "functions"
    log: Callable[[str], None] = lambda _line: None
    stdout: int | None = None
    log_dir: Path = ROOT / ".dev" / "logs"
    local_cap: int = UNRESERVED_LOCAL_INSTANCES
    cpu: CpuMeter = field(default_factory=lambda: CPU)
    function_names: dict[str, str] = field(default_factory=dict)
    timeout_seconds: float = INTEGRATION_TIMEOUT_SECONDS  # API Gateway's integration timeout
    environment: dict[str, str] = field(default_factory=dict)
    pools: dict[str, FunctionPool] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)

    # The gateway leaves timeouts to the pools (no thread per invocation).
    enforces_timeouts = True

    def configure(self, environment: Mapping[str, str]) -> None:
        """The functions' environment: this process's (the local AWS endpoint and credentials) and the
        local stack's resolved variables."""
        self.environment = {**os.environ, **environment}

    def pool(self, name: str) -> FunctionPool:
        with self._guard:
            pool = self.pools.get(name)
            if pool is not None:
                return pool
            if name not in self.functions or not (self.functions_dir / name / "handler.py").is_file():
                raise WorkerDied(f"{name}: no function {name} in {self.functions_dir}")
            reserved, timeouts, memory = declared_settings()
            function_name = self.function_names.get(name, f"hokusai-local-{name}")
            artifact = FunctionArtifact(
                name=name,
                task_dir=self.functions_dir / name,
                handler="handler.lambda_handler",
                layer_dirs=(),
                memory_mb=memory.get(name, 128),
                timeout_seconds=self.timeouts.get(name, timeouts.get(name, 30.0)),
            )
            environment = {
                **self.environment,
                "AWS_LAMBDA_FUNCTION_NAME": function_name,
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function_name}",
                "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
                "LAMBDA_TASK_ROOT": str(artifact.task_dir),
                "PYTHONUNBUFFERED": "1",  # ignored under -I, kept for a reader of the environment
                # One event at a time per instance: BLAS threads per process would only oversubscribe
                # the cores many instances share.
                "OPENBLAS_NUM_THREADS": self.environment.get("OPENBLAS_NUM_THREADS", "1"),
            }
            pool = FunctionPool(
                name=name,
                artifact=artifact,
                environment=environment,
                reserved=self.reserved[name] if name in self.reserved else reserved.get(name),
                python=os.environ.get("HOKUSAI_LOCAL_PYTHON", _python()),
                runtime_sdk=runtime_paths(),
                log=self.log,
                local_cap=self.local_cap,
                stdout=self.stdout,
                log_dir=self.log_dir,
                cpu=self.cpu,
            )
            self.pools[name] = pool
            return pool

    def load(self, name: str) -> FunctionPool:
        pool = self.pool(name)
        pool.prewarm()
        return pool

    def prewarm(self, names: Sequence[str]) -> None:
        """One warm instance of each, started side by side. A function whose init fails is logged and
        left cold: its invocations try the init again, as Lambda's do, and answer 502 while it fails."""

        def warm(name: str) -> None:
            try:
                self.load(name)
            except Exception as error:
                self.log(f"WARNING: {name}: no warm instance at start-up: {type(error).__name__}: {error}")

        threads = [threading.Thread(target=warm, args=(name,), daemon=True) for name in names]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def invoke(self, name: str, event: dict[str, Any], request_id: str) -> Any:
        return self.pool(name).invoke(event, request_id, integration_timeout=self.timeout_seconds)

    def reload(self, name: str | None = None) -> None:
        """Forget instances (cold starts next time), e.g. after changing the environment."""
        with self._guard:
            pools = [self.pools.pop(name)] if name and name in self.pools else []
            if name is None:
                pools = list(self.pools.values())
                self.pools.clear()
        for pool in pools:
            pool.stop()

    def stats(self) -> dict[str, PoolStats]:
        return {name: pool.stats() for name, pool in list(self.pools.items())}

    def pids(self) -> list[int]:
        return [pid for pool in list(self.pools.values()) for pid in pool.pids()]

    def stop(self) -> None:
        self.reload()


def _python() -> str:
    import sys

    return sys.executable
