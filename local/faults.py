"""Three ways to make a TCP peer unreachable without toxiproxy (see shared PITFALLS.md).

- refused: a port nobody listens on; connects fail at once (the cheap failure).
- silent: accepts connections and never writes; the *read* timeout fires (blackholed replies).
- never_connects: a listener with a full backlog; new connects hang until the *connect* timeout
  fires (what a missing security-group rule looks like from the client).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def refused_port() -> Iterator[int]:
    yield free_port()


class SilentServer:
    """Accepts every connection, reads and discards, never answers."""

    def __init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self.port = int(self._listener.getsockname()[1])
        self._accepted: list[socket.socket] = []
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self._listener.settimeout(0.05)
        while not self._stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.setblocking(False)
            self._accepted.append(conn)

    @property
    def connections_accepted(self) -> int:
        return len(self._accepted)

    def close(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=1)
        for conn in self._accepted:
            with contextlib.suppress(OSError):
                conn.close()
        self._listener.close()


@contextlib.contextmanager
def silent_server() -> Iterator[SilentServer]:
    server = SilentServer()
    try:
        yield server
    finally:
        server.close()


@contextlib.contextmanager
def never_connects_port(fillers: int = 8) -> Iterator[int]:
    """A port whose accept queue is full, so a new TCP handshake never completes.

    Linux keeps SYNs for a full queue unanswered (they are dropped and retried by the client), which
    is exactly the "security group drops the packet" behaviour the seed incident had.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = int(listener.getsockname()[1])
    pending: list[socket.socket] = []
    try:
        for _ in range(fillers):
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError, OSError):
                filler.connect(("127.0.0.1", port))
            pending.append(filler)
        yield port
    finally:
        for filler in pending:
            filler.close()
        listener.close()
