"""A local stand-in for the HuggingFace Hub's file-download protocol, for the real huggingface_hub client.

Serves ``HEAD``/``GET /{repo_id}/resolve/{revision}/{filename}`` with ``X-Repo-Commit``, a quoted
``ETag`` and ``Content-Length``, and ``/api/models/{repo_id}/revision/{revision}``; records each
request's Authorization header. Modes: ``normal``, ``silent`` (accept, never answer), ``error``
(HTTP 500), ``unavailable`` (503), ``forbidden`` (403), ``corrupt`` (serves other bytes than
published); with a token, 401 unless it matches. A 404 says which part is wrong in ``X-Error-Code``
(RepoNotFound, RevisionNotFound, EntryNotFound), as the Hub does.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class HubStandIn:
    # Modes that answer every request at once with one status (the Hub's error replies).
    STATUS_MODES = {"error": 500, "unavailable": 503, "forbidden": 403}

    def __init__(
        self, repo_id: str, revision: str, files: dict[str, bytes], token: str | None = None
    ) -> None:
        self.repo_id = repo_id
        self.revision = revision
        self.files = files
        self.token = token
        self.mode = "normal"
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, authorization)
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return

            def do_HEAD(self) -> None:
                stand_in._serve(self, head=True)

            def do_GET(self) -> None:
                stand_in._serve(self, head=False)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> HubStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.mode = "normal"
        self._server.shutdown()
        self._server.server_close()

    def downloads(self) -> list[tuple[str, str, str | None]]:
        return [r for r in self.requests if r[0] == "GET" and "/resolve/" in r[1]]

    def _serve(self, request: BaseHTTPRequestHandler, head: bool) -> None:
        authorization = request.headers.get("Authorization")
        self.requests.append((request.command, request.path, authorization))
        if self.mode == "silent":
            time.sleep(3600)
            return
        if self.mode in self.STATUS_MODES:
            status = self.STATUS_MODES[self.mode]
            self._send(request, status, b'{"error": "%d"}' % status, head)
            return
        if self.token is not None and authorization != f"Bearer {self.token}":
            self._send(request, 401, b'{"error": "Invalid credentials"}', head)
            return
        path = request.path.split("?", 1)[0]
        api_prefix = f"/api/models/{self.repo_id}/revision/"
        if path.startswith(api_prefix):
            body = json.dumps({"id": self.repo_id, "sha": self.revision, "siblings": [
                {"rfilename": name} for name in self.files]}).encode()  # fmt: skip
            self._send(request, 200, body, head)
            return
        prefix = f"/{self.repo_id}/resolve/"
        if not path.startswith(prefix):
            self._send(request, 404, b'{"error": "not found"}', head, {"X-Error-Code": "RepoNotFound"})
            return
        revision, _, filename = path[len(prefix) :].partition("/")
        if revision != self.revision:
            self._send(request, 404, b'{"error": "not found"}', head, {"X-Error-Code": "RevisionNotFound"})
            return
        if filename not in self.files:
            self._send(request, 404, b'{"error": "not found"}', head, {"X-Error-Code": "EntryNotFound"})
            return
        data = self.files[filename]
        etag = hashlib.sha256(data).hexdigest()
        if self.mode == "corrupt":
            data = data[: len(data) // 2]
        headers = {
            "X-Repo-Commit": self.revision,
            "ETag": f'"{etag}"',
            "Content-Type": "application/octet-stream",
        }
        self._send(request, 200, data, head, headers)

    @staticmethod
    def _send(
        request: BaseHTTPRequestHandler,
        status: int,
        body: bytes,
        head: bool,
        headers: dict[str, str] | None = None,
    ) -> None:
        request.send_response(status)
        for name, value in (headers or {}).items():
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        if not head:
            request.wfile.write(body)


@contextlib.contextmanager
def running_hub(
    repo_id: str, revision: str, files: dict[str, bytes], token: str | None = None
) -> Iterator[HubStandIn]:
    hub = HubStandIn(repo_id, revision, files, token).start()
    try:
        yield hub
    finally:
        hub.stop()
