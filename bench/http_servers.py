"""Two HTTP servers under the API Gateway emulator, measured before choosing (issue 22): uvicorn (asyncio,
h11, with the emulator's protocol from local/apigw.py) and waitress (threads, WSGI).

    python bench/http_servers.py

Both serve the same ``local.apigw.Gateway`` over the same stand-in functions (in-process, answering at
once, so the server is what is measured), each in a process of its own, driven by bench/_load.py from
this one: throughput and p50/p99 of ``GET /api/health`` at 10, 50 and 100 parallel keep-alive clients,
``BENCH_SECONDS`` each (default 5) after a warm-up, then issue 22's hostile cases over raw sockets
(the answer's status, whether it is JSON with X-Request-ID, when the connection ended). waitress runs
with settings as close to the emulator's as it has (64 threads, 10,240-byte heads, 10 MB bodies,
channel_timeout 5 s); uvicorn with read and idle timeouts of 5 s. Writes bench/results/http_servers.md.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from http import HTTPStatus
from pathlib import Path
from typing import Any

from _common import ROOT, markdown_table, write_results
from _load import request_bytes, run_load

from local.faults import free_port

SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
LEVELS = (10, 50, 100)
TIMEOUT = 5.0
ALLOW_ALL = """
def lambda_handler(event, context):
    return {"principalId": "u", "policyDocument": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "*"}]}}
"""
OK = """
import json
def lambda_handler(event, context):
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"status": "healthy"})}
"""
DEEP = b'{"inputs": ' + b"[" * 2000 + b"]" * 2000 + b"}"
HOSTILE: dict[str, bytes] = {
    "TRACE": b"TRACE /api/health HTTP/1.1\r\nHost: x\r\n\r\n",
    "unknown method FOO": b"FOO /api/health HTTP/1.1\r\nHost: x\r\n\r\n",
    "CONNECT": b"CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n",
    "64 KB header": b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 65536 + b"\r\n\r\n",
    "500 headers": b"GET /api/health HTTP/1.1\r\nHost: x\r\n"
    + b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 20) for i in range(500))
    + b"\r\n",
    "70 KB request line": b"GET /api/health?" + b"q" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "malformed request line": b"GARBAGE\r\n\r\n",
    "HTTP/9.9": b"GET /api/health HTTP/9.9\r\nHost: x\r\n\r\n",
    "body shorter than Content-Length": b"POST /api/v1/models/21/predict HTTP/1.1\r\nHost: x\r\n"
    b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    "JSON nested 2,000 deep": b"POST /api/v1/models/21/predict HTTP/1.1\r\nHost: x\r\n"
    b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(DEEP) + DEEP,
    "body over 10 MB": b"POST /api/v1/models/21/predict HTTP/1.1\r\nHost: x\r\n"
    b"Content-Length: 10485761\r\n\r\n{",
    "idle connection": b"",
}


# ---------------------------------------------------------------------------------------------- servers
def gateway(functions: Path) -> Any:
    from local.apigw import FunctionHost, Gateway, GatewayIdentity

    return Gateway(FunctionHost(GatewayIdentity(), functions_dir=functions))


def serve_uvicorn(functions: Path, port: int) -> None:
    from local.apigw import GatewayServer

    server = GatewayServer(gateway(functions), port, read_timeout=TIMEOUT, idle_timeout=TIMEOUT).start()
    try:
        while True:
            time.sleep(3600)
    finally:
        server.stop()


def serve_waitress(functions: Path, port: int) -> None:
    import waitress
    from hokusai.gateway import IncomingRequest, gateway_error

    the_gateway = gateway(functions)

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        request_id = str(uuid.uuid4())
        body = environ["wsgi.input"].read()
        raw = environ.get("REQUEST_URI") or environ.get("PATH_INFO", "/")
        path, _, query = raw.partition("?")
        headers = [(k[5:].replace("_", "-").title(), v) for k, v in environ.items() if k.startswith("HTTP_")]
        if environ.get("CONTENT_TYPE"):
            headers.append(("Content-Type", environ["CONTENT_TYPE"]))
        prefix = the_gateway.identity.url_prefix
        if path != prefix and not path.startswith(prefix + "/"):
            answer = gateway_error("MISSING_AUTHENTICATION_TOKEN", request_id)
        else:
            request = IncomingRequest(
                method=environ["REQUEST_METHOD"],
                path=path[len(prefix) :] or "/",
                query=query,
                headers=headers,
                body=body,
                request_id=request_id,
            )
            answer = the_gateway.handle(request)
        start_response(
            f"{answer.status} {HTTPStatus(answer.status).phrase}",
            [(k, v) for k, v in answer.headers if k.lower() != "content-length"],
        )
        return [answer.body]

    waitress.serve(
        app,
        host="127.0.0.1",
        port=port,
        threads=64,
        channel_timeout=TIMEOUT,
        max_request_header_size=10 * 1024,
        max_request_body_size=10 * 1024 * 1024,
        ident=None,
        _quiet=True,
    )


SERVERS = {"uvicorn": serve_uvicorn, "waitress": serve_waitress}


# ---------------------------------------------------------------------------------------------- client
def hostile(port: int, data: bytes) -> dict[str, Any]:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(data)
        sent = time.monotonic()
        received = b""
        kept_open = False
        connection.settimeout(1.0)
        while time.monotonic() - sent < TIMEOUT * 3:
            try:
                chunk = connection.recv(65536)
            except TimeoutError:
                head, sep, body = received.partition(b"\r\n\r\n")
                if sep and all(
                    not line.lower().startswith(b"content-length:") or len(body) >= int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                ):
                    kept_open = True
                    break  # a whole answer on a connection kept open
                continue
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
        seconds = time.monotonic() - sent
    if not received:
        return {"status": "no answer", "json": "-", "request_id": "-", "end": f"closed after {seconds:.1f} s"}
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    try:
        json.loads(body)
        is_json = headers.get("content-type", "").startswith("application/json")
    except ValueError:
        is_json = False
    return {
        "status": lines[0].split(" ", 2)[1],
        "json": "yes" if is_json else f"no ({headers.get('content-type', 'none')})",
        "request_id": "yes" if "x-request-id" in headers else "no",
        "end": "kept open" if kept_open else f"closed after {seconds:.1f} s",
    }


def wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the server exited")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the server did not listen")


def measure(name: str, functions: Path) -> tuple[dict[int, Any], dict[str, dict[str, Any]]]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", name, "--port", str(port), "--functions", str(functions)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_listening(port, process)
        payload = request_bytes("GET", "/api/health", {})
        levels = {}
        for clients in LEVELS:
            run_load(port, payload, clients, min(2.0, SECONDS))
            levels[clients] = run_load(port, payload, clients, SECONDS)
            print(f"{name} {clients}: {levels[clients].throughput:.0f} rps", file=sys.stderr, flush=True)
        with concurrent.futures.ThreadPoolExecutor(len(HOSTILE)) as pool:
            answers = pool.map(lambda data: hostile(port, data), HOSTILE.values())
            outcomes = dict(zip(HOSTILE, answers, strict=True))
        return levels, outcomes
    finally:
        process.kill()
        process.wait()


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-http-") as work:
        functions = Path(work)
        for name, source in {"authorizer": ALLOW_ALL, "health": OK, "predict": OK}.items():
            (functions / name).mkdir()
            (functions / name / "handler.py").write_text(textwrap.dedent(source))
        results = {name: measure(name, functions) for name in SERVERS}
    rows = []
    for clients in LEVELS:
        for name, (levels, _) in results.items():
            level = levels[clients]
            latency = [f"{level.p(50):.2f}", f"{level.p(99):.2f}"]
            rows.append([str(clients), name, f"{level.throughput:.0f}", *latency, str(level.errors)])
    markdown = "## GET /api/health through the gateway, stand-in functions\n\n"
    markdown += markdown_table(["clients", "server", "rps", "p50 ms", "p99 ms", "errors"], rows)
    hostile_rows = []
    for case in HOSTILE:
        row = [case]
        for name in SERVERS:
            outcome = results[name][1][case]
            row.append(
                f"{outcome['status']}, JSON {outcome['json']}, X-Request-ID {outcome['request_id']}, "
                f"{outcome['end']}"
            )
        hostile_rows.append(row)
    markdown += "\n\n## Issue 22's hostile cases (raw sockets)\n\n"
    markdown += markdown_table(["case", *SERVERS], hostile_rows)
    markdown += (
        f"\n\n{SECONDS:g} s per level after a warm-up; the load generator (bench/_load.py) shares the "
        "2 cores. "
        f"Load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores."
    )
    series = {
        f"{name} {clients} clients": levels[clients].latencies_ms
        for clients in LEVELS
        for name, (levels, _) in results.items()
    }
    write_results("http_servers", markdown, series)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", choices=sorted(SERVERS))
    parser.add_argument("--port", type=int)
    parser.add_argument("--functions", type=Path)
    arguments = parser.parse_args()
    if arguments.serve:
        sys.path.insert(0, str(ROOT))
        SERVERS[arguments.serve](arguments.functions, arguments.port)
    else:
        sys.exit(main())
