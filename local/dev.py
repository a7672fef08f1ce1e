"""``make dev``: the whole API on this machine, on embedded defaults, no AWS account.

Starts moto (the local AWS), uses the Redis at ``REDIS_URL`` as given (with a warning if it does not
answer, so an outage can be replayed) or, when ``REDIS_URL`` is unset, starts a private redis-server,
places the demo model in the local S3 cache, serves the API through the API Gateway emulator, creates a
demo key and prints it once with curl commands. Ctrl-C stops everything; a restart right after may use
the same ports (their TIME_WAIT connections do not count as taken). Ports: ``HOKUSAI_DEV_PORT`` (API,
default 8080) and ``HOKUSAI_DEV_AWS_PORT`` (moto, default 5000); ``HOKUSAI_DEV_STATE`` (default
``.dev/``) holds the lock file, the EFS stand-in, HF_HOME and the demo model build.
``HOKUSAI_DEV_CUSTOM_DOMAIN`` (e.g. ``api.example.test``; unset: execute-api style) makes the emulator
build events as API Gateway does through that custom domain's base path mapping ``api``: the
requests still go to ``http://127.0.0.1:<port>/api/...``, the functions see ``path`` with ``/api``
kept, ``requestContext.domainName`` and ``Host`` the custom domain (docs/local.md).
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from hokusai.config import ConfigError

from local.aws import port_is_free
from local.stack import LocalStack
from stacks.settings import _DOMAIN as DOMAIN_NAME  # what the stack accepts as its domainName

ROOT = Path(__file__).resolve().parents[1]
SEED_BODY = (
    '{"inputs": {"company_size": 1000, "industry": "Technology", "engagement_score": 75, '
    '"website_visits": 10, "email_opens": 5, "content_downloads": 3, "demo_requested": true, '
    '"budget_confirmed": false, "decision_timeline": "Q2 2025", "title": "VP of Sales"}}'
)


class AlreadyRunning(Exception):
    pass


def _port(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, str(default))
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise SystemExit(f"{name} must be a TCP port (1-65535), got {raw!r}")
    return int(raw)


def _custom_domain(environ: Mapping[str, str], name: str = "HOKUSAI_DEV_CUSTOM_DOMAIN") -> str | None:
    """The custom domain to emulate, a DNS name as the stack's ``domainName``; None when unset or empty."""
    raw = environ.get(name, "").strip()
    if not raw:
        return None
    if not DOMAIN_NAME.fullmatch(raw):
        raise SystemExit(f"{name} must be a lower-case DNS name such as api.example.test, got {raw!r}")
    return raw


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def acquire_lock(lock_file: Path) -> None:
    """One ``make dev`` per state directory: a second one names the first one's pid and ports."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(lock_file, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        text = lock_file.read_text() if lock_file.exists() else ""
        pid = int(text.split()[0]) if text.split() and text.split()[0].isdigit() else 0
        if pid and _pid_alive(pid):
            raise AlreadyRunning(already_running(pid, text.split()[1:], lock_file.parent)) from None
        lock_file.unlink(missing_ok=True)  # left behind by a process that died: take it over
        descriptor = os.open(lock_file, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    os.close(descriptor)


def already_running(pid: int, owned: list[str], state_dir: Path) -> str:
    """What a second ``make dev`` says: whose ports are taken, by which variable each moves, and the
    command that runs a second copy beside the first (its own ports and state directory)."""
    variables = {"api": "HOKUSAI_DEV_PORT", "aws": "HOKUSAI_DEV_AWS_PORT"}
    ports = dict(part.split("=", 1) for part in owned if "=" in part)
    taken = [f"port {ports[name]} ({variable})" for name, variable in variables.items() if name in ports]
    moved = " ".join(
        f"{variable}={int(ports[name]) + 1 if ports.get(name, '').isdigit() else '<port>'}"
        for name, variable in variables.items()
    )
    return (
        f"make dev is already running (pid {pid}, {' '.join(owned)}): "
        f"{' and '.join(taken) or 'its ports'} {'are' if len(taken) > 1 else 'is'} taken. "
        f"Use that one, or stop it with Ctrl-C in its terminal (or kill {pid}); "
        f"or run a second copy beside it with other ports and its own state directory: "
        f"{moved} HOKUSAI_DEV_STATE={state_dir}-2 make dev"
    )


def doctor_command() -> str:
    """``hokusai doctor`` once the ``hokusai`` console script has it, else the module itself."""
    try:
        import hokusai.cli  # noqa: F401
    except ImportError:
        return ".venv/bin/python -m hokusai.drift.cli"
    return ".venv/bin/hokusai doctor"


def banner(stack: LocalStack, api_key: str, key_id: str, out: TextIO) -> None:
    base = stack.base_url
    aws = stack.aws.endpoint_url
    deployment = stack.deployment
    operator = stack.operator_env()
    custom = [
        f"  custom domain  {stack.custom_domain_url}  (emulated: requests to the API above reach the",
        "                 functions as through this domain's base path mapping: path keeps /api)",
    ]
    lines = [
        "",
        "Hokusai is running locally.",
        "",
        f"  API            {base}",
        *(custom if stack.custom_domain_url else []),
        f"  local AWS      {aws}  (region {stack.aws.env()['AWS_REGION']}, any credentials)",
        f"  Redis          {stack.environment['REDIS_URL']}"
        + ("" if stack.redis_answered else "  (NOT ANSWERING at start-up; used as given, see the warning)"),
        f"  keys table     {stack.environment['KEYS_TABLE_NAME']}",
        f"  model bucket   s3://{stack.environment['MODEL_BUCKET']}",
        "",
        f"Demo API key (key_id {key_id}; shown once, only its SHA-256 is stored):",
        "",
        f"  export HOKUSAI_KEY={api_key}",
        "",
        "Try it:",
        "",
        f"  curl -s {base}/health",
        f'  curl -s {base}/v1/models/21/info -H "X-API-Key: $HOKUSAI_KEY"',
        f'  curl -s -X POST {base}/v1/models/21/predict -H "X-API-Key: $HOKUSAI_KEY" \\',
        f"       -H 'Content-Type: application/json' -d '{SEED_BODY}'",
        f'  curl -s -X POST {base}/v1/models/21/predict -H "Authorization: Bearer $HOKUSAI_KEY" \\',
        "       -H 'X-Request-ID: my-request-1' -H 'Content-Type: application/json' \\",
        '       -d \'{"inputs": {"company_size": 1000}}\'',
        f"  curl -s -X POST {base}/v1/models/21/predict -d '{{}}'      # 401 API key required",
        "",
        "Point the AWS CLI, hokusai keys and hokusai doctor at the local stack:",
        "",
        f"  export AWS_ENDPOINT_URL={aws} AWS_REGION={stack.aws.env()['AWS_REGION']} "
        f"AWS_DEFAULT_REGION={stack.aws.env()['AWS_REGION']}",
        "  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing",
        f"  export KEYS_TABLE_NAME={operator['KEYS_TABLE_NAME']} REDIS_URL={operator['REDIS_URL']}"
        f" REDIS_KEY_PREFIX={operator['REDIS_KEY_PREFIX']}",
        "  .venv/bin/hokusai keys create --user you --models 21",
        f"  .venv/bin/hokusai keys revoke {key_id}",
        f"  {doctor_command()} --api-url {base} \\",
        f"       --parameter {deployment.parameter_name} \\",
        f"       --canary-key-secret {deployment.secret_arns['canary_key']}",
        "  aws ec2 describe-security-group-rules --filters "
        f"Name=group-id,Values={deployment.group_ids['redis']}",
        "",
        "Ctrl-C stops everything.",
        "",
    ]
    print("\n".join(lines), file=out, flush=True)


class StopRequested(BaseException):
    """Ctrl-C or SIGTERM arrived while the stack was starting."""


class StopSignals:
    """SIGINT and SIGTERM, handled without taking a lock in the handler.

    A handler runs in the main thread between two bytecodes, possibly while that thread holds a lock
    (``threading.Event.wait`` holds its condition's lock for a moment on each wake-up): the old handler's
    ``Event.set()`` then waited on that same lock forever, about one stop in fifteen (issue 22). Here
    the handler only raises :class:`StopRequested` while the stack starts (unwinding the start, whose
    ``finally`` blocks stop what was started), and does nothing at all once it runs: the signal's
    number reaches the main thread through ``signal.set_wakeup_fd``'s pipe, written by the interpreter's
    C-level handler, and the main thread sleeps on that pipe's read end. While the stack stops, a second
    signal is ignored rather than interrupting the stop half-way.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)
        self._phase = "starting"
        self._previous: dict[int, Any] = {}
        self._previous_wakeup = -1

    def _handle(self, signum: int, _frame: Any) -> None:
        if self._phase == "starting":
            self._phase = "stopping"
            raise StopRequested(signal.Signals(signum).name)

    def install(self) -> StopSignals:
        self._previous = {signum: signal.signal(signum, self._handle) for signum in self.SIGNALS}
        self._previous_wakeup = signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        return self

    def running(self) -> None:
        self._phase = "running"

    def wait(self) -> None:
        """Sleep until SIGINT or SIGTERM (their numbers arrive on the wake-up pipe)."""
        while self._phase == "running":
            if {int(byte) for byte in os.read(self._read, 64)} & {int(s) for s in self.SIGNALS}:
                return

    def stopping(self) -> None:
        self._phase = "stopping"

    def restore(self) -> None:
        signal.set_wakeup_fd(self._previous_wakeup)
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        os.close(self._read)
        os.close(self._write)


def main(environ: Mapping[str, str] | None = None, out: TextIO = sys.stdout) -> int:
    environ = dict(os.environ if environ is None else environ)
    api_port = _port(environ, "HOKUSAI_DEV_PORT", 8080)
    aws_port = _port(environ, "HOKUSAI_DEV_AWS_PORT", 5000)
    state_dir = Path(environ.get("HOKUSAI_DEV_STATE", str(ROOT / ".dev")))
    custom_domain = _custom_domain(environ)
    lock_file = state_dir / "dev.lock"
    try:
        acquire_lock(lock_file)
    except AlreadyRunning as error:
        print(str(error), file=sys.stderr)
        return 1
    try:
        for name, port in (("HOKUSAI_DEV_PORT", api_port), ("HOKUSAI_DEV_AWS_PORT", aws_port)):
            if not port_is_free(port):
                print(
                    f"Port {port} is taken by another program; choose another with {name}=<port>.",
                    file=sys.stderr,
                )
                return 1
        lock_file.write_text(f"{os.getpid()} api={api_port} aws={aws_port}\n")
        signals = StopSignals().install()
        stack = LocalStack(
            api_port=api_port,
            aws_port=aws_port,
            redis_url=environ.get("REDIS_URL") or None,  # unset: a private redis-server
            state_dir=state_dir,
            environ=environ,
            custom_domain=custom_domain,
            log=lambda line: print(f"[dev] {line}", file=sys.stderr, flush=True),
        )
        try:
            try:
                stack.start()
                api_key, key_id = stack.create_demo_key()
            except ConfigError as error:  # a bad variable: named once, no traceback
                print(f"make dev: {error}", file=sys.stderr)
                return 1
            except StopRequested:  # Ctrl-C or SIGTERM while starting
                print("\nStopping...", file=sys.stderr)
                return 0
            signals.running()
            banner(stack, api_key, key_id, out)
            del api_key
            signals.wait()
            print("\nStopping...", file=sys.stderr)
        finally:
            signals.stopping()
            stack.stop()
            signals.restore()
        print("Stopped.", file=sys.stderr)
        return 0
    finally:
        lock_file.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
