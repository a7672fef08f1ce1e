"""A small closed-loop HTTP/1.1 load generator: N keep-alive connections on asyncio, each sending one
request, reading its answer, then sending the next, for a bounded time and count.

Every benchmark of the local HTTP stack uses this one (bench/make_dev.py, bench/http_servers.py), so
"before" and "after" are measured with the same client. It speaks just enough HTTP/1.1 for the
emulator's answers (a status line, headers, a Content-Length body) and costs little CPU next to the
server on a shared 2-core machine. Loopback only: the address is always 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from dataclasses import dataclass, field

from _common import percentile

MAX_REQUESTS_PER_RUN = 200_000  # a hard bound on any one run, whatever the duration asked


def request_bytes(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    if body or method in ("POST", "PUT", "PATCH"):
        head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


@dataclass
class LoadResult:
    clients: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)  # of the answers counted as ok
    statuses: Counter[int] = field(default_factory=Counter)
    errors: int = 0  # connection errors and timeouts

    @property
    def ok(self) -> int:
        return len(self.latencies_ms)

    @property
    def throughput(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def p(self, q: float) -> float:
        return percentile(self.latencies_ms, q)


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    close = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        lowered = name.strip().lower()
        if lowered == b"content-length":
            length = int(value.strip())
        elif lowered == b"connection" and value.strip().lower() == b"close":
            close = True
    body = await reader.readexactly(length) if length else b""
    if close:
        raise ConnectionResetError("the server closed the connection")
    return status, body


async def _client(
    port: int,
    payload: bytes,
    *,
    stop_at: float,
    budget: list[int],
    result: LoadResult,
    ok_statuses: frozenset[int],
    timeout: float,
) -> None:
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    while time.perf_counter() < stop_at and budget[0] > 0:
        budget[0] -= 1
        try:
            if writer is None or reader is None:
                reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
            assert reader is not None and writer is not None
            started = time.perf_counter()
            writer.write(payload)
            status, _ = await asyncio.wait_for(_read_answer(reader), timeout)
            elapsed = (time.perf_counter() - started) * 1000
            result.statuses[status] += 1
            if status in ok_statuses:
                result.latencies_ms.append(elapsed)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError, IndexError):
            result.errors += 1
            if writer is not None:
                writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


async def _run(
    port: int, payload: bytes, *, clients: int, seconds: float, max_requests: int, ok_statuses: frozenset[int]
) -> LoadResult:
    result = LoadResult(clients=clients, seconds=seconds)
    budget = [min(max_requests, MAX_REQUESTS_PER_RUN)]
    started = time.perf_counter()
    stop_at = started + seconds
    await asyncio.gather(
        *(
            _client(
                port,
                payload,
                stop_at=stop_at,
                budget=budget,
                result=result,
                ok_statuses=ok_statuses,
                timeout=30.0,
            )
            for _ in range(clients)
        )
    )
    result.seconds = time.perf_counter() - started
    return result


def run_load(
    port: int,
    payload: bytes,
    clients: int,
    seconds: float,
    *,
    max_requests: int = MAX_REQUESTS_PER_RUN,
    ok_statuses: frozenset[int] = frozenset({200}),
) -> LoadResult:
    """``clients`` connections sending ``payload`` back to back for ``seconds`` (and at most
    ``max_requests`` in all); latencies of the answers whose status is in ``ok_statuses``."""
    run = _run(
        port, payload, clients=clients, seconds=seconds, max_requests=max_requests, ok_statuses=ok_statuses
    )
    return asyncio.run(run)


class CpuSampler:
    """Busy share of each core between :meth:`start` and :meth:`stop` (from /proc/stat)."""

    def __init__(self) -> None:
        self._start: list[tuple[int, int]] = []

    @staticmethod
    def _read() -> list[tuple[int, int]]:
        cores = []
        with open("/proc/stat") as stat:
            for line in stat:
                if line.startswith("cpu") and line[3].isdigit():
                    values = [int(v) for v in line.split()[1:]]
                    idle = values[3] + values[4]  # idle + iowait
                    cores.append((sum(values), idle))
        return cores

    def start(self) -> None:
        self._start = self._read()

    def stop(self) -> list[float]:
        end = self._read()
        shares = []
        for (total0, idle0), (total1, idle1) in zip(self._start, end, strict=False):
            total = total1 - total0
            shares.append(100.0 * (total - (idle1 - idle0)) / total if total else 0.0)
        return shares


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MB (from /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            parent = int(fields[1])
            with open(f"/proc/{entry}/statm") as statm:
                pages = int(statm.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry))
        rss[int(entry)] = pages * os.sysconf("SC_PAGE_SIZE")
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        total += rss.get(current, 0)
        stack.extend(children.get(current, []))
    return total / 1024 / 1024


def tree_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and all its living descendants, in seconds (from /proc)."""
    children: dict[int, list[int]] = {}
    ticks: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
        ticks[int(entry)] = int(fields[11]) + int(fields[12])
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        total += ticks.get(current, 0)
        stack.extend(children.get(current, []))
    return total / os.sysconf("SC_CLK_TCK")
