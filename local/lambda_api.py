"""Lambda's Invoke API and CodeDeploy's lifecycle-hook verdicts on 127.0.0.1, for the pre-traffic hook.

The hook (``functions/pre_traffic``) invokes a release's versions with boto3's Lambda ``Invoke`` and
reports with CodeDeploy's ``PutLifecycleEventHookExecutionStatus``. moto has neither (its Lambda
invoke needs Docker; its CodeDeploy lacks lifecycle hooks), so :class:`LambdaAndCodeDeploy` speaks
both protocols: ``POST /2015-03-31/functions/<name>/invocations`` runs the named version's handler
through an ``invoke(function, event, request_id)`` (an exception becomes ``X-Amz-Function-Error:
Unhandled`` and Lambda's error payload; an unknown name 404 ResourceNotFoundException), and every
verdict is recorded. Point a client at it with ``AWS_ENDPOINT_URL_LAMBDA`` /
``AWS_ENDPOINT_URL_CODEDEPLOY``. Used by ``make verify`` and the hook's tests.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

Invoke = Callable[[str, dict[str, Any], str], Any]


class LambdaAndCodeDeploy(ThreadingHTTPServer):
    """Lambda's Invoke (REST: POST /2015-03-31/functions/<name>/invocations) over ``versions``
    (version ARN -> (function, invoke)), and CodeDeploy's JSON protocol for the hook's verdicts."""

    daemon_threads = True

    def __init__(self, versions: dict[str, tuple[str, Invoke]]) -> None:
        """``versions``: version ARN -> (function, the invoke that runs it)."""
        self.versions = versions
        self.invoked: list[str] = []
        self.verdicts: list[dict[str, Any]] = []
        super().__init__(("127.0.0.1", 0), _Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: LambdaAndCodeDeploy

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        target = self.headers.get("X-Amz-Target", "")
        if target == "CodeDeploy_20141006.PutLifecycleEventHookExecutionStatus":
            request = json.loads(body)
            self.server.verdicts.append(request)
            self._answer(200, {"lifecycleEventHookExecutionId": request["lifecycleEventHookExecutionId"]})
            return
        prefix, suffix = "/2015-03-31/functions/", "/invocations"
        if not (self.path.startswith(prefix) and self.path.endswith(suffix)):
            self._answer(404, {"message": f"unexpected request {target or self.path}"})
            return
        name = unquote(self.path[len(prefix) : -len(suffix)])
        self.server.invoked.append(name)
        if name not in self.server.versions:
            self._answer(404, {"Type": "User", "message": f"Function not found: {name}"},
                         {"x-amzn-ErrorType": "ResourceNotFoundException"})  # fmt: skip
            return
        function, invoke = self.server.versions[name]
        try:
            result = invoke(function, json.loads(body), str(uuid.uuid4()))
        except Exception as error:  # what Lambda answers for an unhandled exception: 200 + the header
            error_payload = {"errorMessage": str(error), "errorType": type(error).__name__}
            self._answer(200, error_payload, {"X-Amz-Function-Error": "Unhandled"})
            return
        self._answer(200, result)

    def _answer(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
