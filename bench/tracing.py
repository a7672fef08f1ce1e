"""Tracing options side by side (issue 24): what each costs a cold start, the first request and every
request after, in Lambda's environment, and per month at 10 requests per second.

    python bench/tracing.py

Each sample is a fresh interpreter (the options taken in turn, round robin) with Lambda's variables
(``LAMBDA_TASK_ROOT``, the function name,
``_X_AMZN_TRACE_ID``), importing ``functions/<name>/handler.py`` as Lambda's bootstrap does, then (the
authorizer) answering its first request and 300 more (the no-key request: its 401 path touches no
network, so the tracing is what differs). Options:

- ``x-ray``: the code before issue 24 (commit BASELINE, ``git archive``): Powertools' Tracer on the
  X-Ray SDK, tracing on, as deployed (``patch_all()`` at init); segments go by UDP to the daemon
  address, where a local listener counts them.
- ``x-ray, disabled``: the same code with ``POWERTOOLS_TRACE_DISABLED=true`` (what the old import test saw).
- ``off``: this checkout, ``HOKUSAI_TRACING=false`` (the revocation function, make dev).
- ``otel api``: this checkout, tracing on, no SDK: the OpenTelemetry API's no-op tracer.
- ``otel sdk, udp``: tracing on, with what AWS's current OpenTelemetry Lambda layer supplies configured
  before the handler is imported, as its wrapper does: the SDK's TracerProvider, a batch processor
  flushed at the end of each invocation, and an exporter sending OTLP over UDP to the X-Ray daemon
  address (the layer's transport: no collector extension, so no extension start-up to count), plus the
  botocore instrumentation (DynamoDB, S3, Secrets Manager spans). The layer itself cannot be fetched
  here (only PyPI): the same open-source packages stand in for it.
- ``otel sdk, otlp/http``: the legacy layer's path without its collector extension: the SDK with the
  OTLP/HTTP exporter to a local collector stand-in. The extension's own start-up (a Go binary) is not
  measurable here and comes on top.

Monthly cost at 10 rps (26.3 M requests): Lambda duration of the per-request overhead against ``off``
at the authorizer's 512 MB (arm64, $0.0000133334 per GB-s); X-Ray's trace charge is the same for every
option that records traces (default sampling: 1 trace/s plus 5 % of the rest = 3.8 M traces, $5.00 per
million after the free 100,000).
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from _common import ROOT, markdown_table, write_results

BASELINE = "dfc20bd"
SAMPLES = 7
WARM = 300
FUNCTIONS = ("authorizer", "health", "canary", "pre_traffic", "revocation")
REQUESTS_PER_MONTH = 10 * 3600 * 24 * 365 / 12
GB_SECOND_ARM64 = 0.0000133334
AUTHORIZER_GB = 0.5
TRACES_PER_MONTH = (1 + 0.05 * 9) * 3600 * 24 * 365 / 12
X_RAY_PER_MILLION = 5.0

REQUIRED = {
    "authorizer": {"KEYS_TABLE_NAME": "keys"},
    "health": {"KEYS_TABLE_NAME": "keys", "MODEL_REGISTRY": (ROOT / "model" / "registry.json").read_text()},
    "canary": {"API_BASE_URL": "https://api.example.com/api", "EXPECTED_STATE_PARAMETER": "/hokusai/x"},
    "revocation": {"REDIS_URL": "redis://10.255.255.1:6379/0"},
    "pre_traffic": {
        f"RELEASE_{name.upper()}_VERSION": f"arn:aws:lambda:eu-west-1:123456789012:function:h-{name}:7"
        for name in ("authorizer", "predict", "health")
    },
}

# Run in each sample's interpreter. SETUP is the option's code that a tracing layer's wrapper would run
# before the handler is imported.
PROBE = r"""
import importlib.util, json, os, sys, time
started = time.perf_counter()
SETUP
spec = importlib.util.spec_from_file_location("handler", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
imported = time.perf_counter()
result = {"import_ms": (imported - started) * 1000, "xray": "aws_xray_sdk" in sys.modules,
          "otel": "opentelemetry.trace" in sys.modules, "botocore": "botocore" in sys.modules}
if sys.argv[2] == "authorizer":
    class Context:
        function_name = "hokusai-authorizer"
        function_version = "$LATEST"
        invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:hokusai-authorizer"
        memory_limit_in_mb = 512
        aws_request_id = "bench"
        log_group_name = "/aws/lambda/hokusai-authorizer"
        log_stream_name = "bench"
        def get_remaining_time_in_millis(self):
            return 3000
    event = json.load(open(sys.argv[3]))
    def call():
        try:
            module.lambda_handler(event, Context())
        except Exception as error:
            assert str(error) == "Unauthorized", error
    t = time.perf_counter(); call(); result["first_ms"] = (time.perf_counter() - t) * 1000
    warm = []
    for _ in range(int(sys.argv[4])):
        t = time.perf_counter(); call(); warm.append((time.perf_counter() - t) * 1000)
    warm.sort()
    result["warm_p50_ms"] = warm[len(warm) // 2]
    result["warm_p99_ms"] = warm[int(len(warm) * 0.99)]
print("RESULT " + json.dumps(result))
"""

SDK_COMMON = """
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
provider = TracerProvider(
    resource=Resource.create({"service.name": name, "cloud.provider": "aws", "faas.name": name})
)
"""
SETUPS = {
    "otel sdk, udp": SDK_COMMON
    + """
import base64, socket
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
class UdpExporter(SpanExporter):
    # OTLP over UDP to the X-Ray daemon address, as the current ADOT Lambda layer sends spans.
    def __init__(self):
        host, port = os.environ["AWS_XRAY_DAEMON_ADDRESS"].split(":")
        self.address = (host, int(port))
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    def export(self, spans):
        payload = base64.b64encode(encode_spans(spans).SerializeToString())
        self.socket.sendto(b'{"format":"json","version":1}\\nT1S' + payload, self.address)
        return SpanExportResult.SUCCESS
provider.add_span_processor(BatchSpanProcessor(UdpExporter()))
trace.set_tracer_provider(provider)
BotocoreInstrumentor().instrument()
""",
    "otel sdk, otlp/http": SDK_COMMON
    + """
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=os.environ["BENCH_COLLECTOR"])))
trace.set_tracer_provider(provider)
BotocoreInstrumentor().instrument()
""",
}
OPTIONS = ("x-ray", "x-ray, disabled", "off", "otel api", "otel sdk, udp", "otel sdk, otlp/http")


@contextmanager
def udp_daemon() -> Iterator[tuple[str, list[int]]]:
    """A local stand-in for the X-Ray daemon: counts the datagrams (segments, or OTLP span batches)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    received = [0]
    stop = threading.Event()

    def listen() -> None:
        while not stop.is_set():
            try:
                sock.recvfrom(65536)
                received[0] += 1
            except TimeoutError:
                continue

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}", received
    finally:
        stop.set()
        thread.join(2)
        sock.close()


@contextmanager
def collector() -> Iterator[str]:
    """A local OTLP/HTTP collector stand-in: answers 200 to every export."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/traces"
    finally:
        server.shutdown()
        server.server_close()


def baseline_source() -> Path | None:
    target = Path(tempfile.mkdtemp(prefix="bench-tracing-baseline-"))
    archive = subprocess.run(
        ["git", "archive", "--format=tar", BASELINE], cwd=ROOT, capture_output=True, check=False
    )
    if archive.returncode != 0:
        return None
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target


def environment(option: str, function: str, root: Path, daemon: str, endpoint: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(root / "layers" / "common" / "python"),
        "PYTHONDONTWRITEBYTECODE": "1",
        "LAMBDA_TASK_ROOT": str(root / "functions" / function),
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "AWS_LAMBDA_FUNCTION_NAME": f"hokusai-{function.replace('_', '-')}",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_XRAY_DAEMON_ADDRESS": daemon,
        "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
        "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        "POWERTOOLS_SERVICE_NAME": f"hokusai-{function}",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "OPENBLAS_NUM_THREADS": "1",
        "BENCH_COLLECTOR": endpoint,
        **REQUIRED[function],
    }
    if option.startswith("x-ray"):
        env["POWERTOOLS_TRACE_DISABLED"] = "true" if option.endswith("disabled") else "false"
    else:
        env["HOKUSAI_TRACING"] = "false" if option == "off" else "true"
    return env


def sample(option: str, function: str, root: Path, daemon: str, endpoint: str) -> dict[str, float]:
    code = PROBE.replace("SETUP", SETUPS.get(option, ""))
    event = ROOT / "tests" / "events" / "authorizer_no_key.json"
    result = subprocess.run(
        [sys.executable, "-c", code, str(root / "functions" / function / "handler.py"), function, str(event),
         str(WARM)],
        env=environment(option, function, root, daemon, endpoint), capture_output=True, text=True,
        timeout=120, cwd=root, check=False,
    )  # fmt: skip
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"{option} {function}: {result.stderr[-1500:]}")
    measured: dict[str, float] = json.loads(lines[-1][len("RESULT ") :])
    return measured


def main() -> None:
    baseline = baseline_source()
    rows: list[list[str]] = []
    series: dict[str, list[float]] = {}
    authorizer: dict[str, dict[str, float]] = {}
    options = [option for option in OPTIONS if baseline is not None or not option.startswith("x-ray")]
    with udp_daemon() as (daemon, received), collector() as endpoint:
        for function in FUNCTIONS:
            # Round robin: whatever else loads this shared machine weighs on every option alike.
            samples: dict[str, list[dict[str, float]]] = {option: [] for option in options}
            for _ in range(SAMPLES):
                for option in options:
                    root = baseline if option.startswith("x-ray") else ROOT
                    assert root is not None
                    samples[option].append(sample(option, function, root, daemon, endpoint))
            for option in options:
                runs = samples[option]
                imports = sorted(run["import_ms"] for run in runs)
                row = [option, function, f"{imports[0]:.0f} / {statistics.median(imports):.0f}"]
                if function == "authorizer":
                    cold = sorted(run["import_ms"] + run["first_ms"] for run in runs)
                    p50 = statistics.median(run["warm_p50_ms"] for run in runs)
                    p99 = statistics.median(run["warm_p99_ms"] for run in runs)
                    authorizer[option] = {"cold": statistics.median(cold), "p50": p50}
                    series[f"{option}: authorizer import + first request"] = cold
                    row += [
                        f"{statistics.median(run['first_ms'] for run in runs):.1f}",
                        f"{cold[0]:.0f} / {statistics.median(cold):.0f}",
                        f"{p50 * 1000:.0f} / {p99 * 1000:.0f}",
                    ]
                else:
                    row += ["", "", ""]
                row += ["yes" if runs[0]["xray"] else "no", "yes" if runs[0]["otel"] else "no",
                        "yes" if runs[0]["botocore"] else "no"]  # fmt: skip
                rows.append(row)
                print(" | ".join(row), flush=True)
        datagrams = received[0]
    header = ["option", "function", "import ms min / median", "first request ms",
              "import + first ms min / median", "warm p50 / p99 us", "aws_xray_sdk", "opentelemetry",
              "botocore at init"]  # fmt: skip
    rows.sort(key=lambda row: (OPTIONS.index(row[0]), FUNCTIONS.index(row[1])))
    markdown = markdown_table(header, rows)
    off = authorizer.get("off", {}).get("p50", 0.0)
    cost_rows = []
    for option, measured in authorizer.items():
        overhead_ms = max(0.0, measured["p50"] - off)
        duration = overhead_ms / 1000 * REQUESTS_PER_MONTH * AUTHORIZER_GB * GB_SECOND_ARM64
        traces = 0.0 if option in ("off", "x-ray, disabled", "otel api") else X_RAY_PER_MILLION * (
            TRACES_PER_MONTH - 100_000) / 1e6  # fmt: skip
        cost_rows.append([option, f"{overhead_ms * 1000:.0f}", f"${duration:.2f}", f"${traces:.2f}",
                          f"{measured['cold']:.0f}"])  # fmt: skip
    markdown += "\n\n" + markdown_table(
        ["authorizer, 10 rps", "per-request overhead us (vs off)", "Lambda duration $/month",
         "X-Ray traces $/month", "cold import + first request ms (median)"],
        cost_rows,
    )  # fmt: skip
    markdown += (
        f"\n\n{SAMPLES} fresh interpreters per cell; warm: {WARM} requests each, the median of the samples' "
        f"percentiles. {datagrams} datagrams reached the local daemon stand-in. x-ray rows run commit "
        f"{BASELINE}; the rest this checkout. Load average at the end: {os.getloadavg()[0]:.2f} on "
        f"{os.cpu_count()} cores (a shared machine: compare rows of one run, not runs)."
    )
    write_results("tracing", markdown, series)


if __name__ == "__main__":
    main()
