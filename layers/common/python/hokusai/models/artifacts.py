"""Where model artifacts come from: EFS, the S3 cache, the HuggingFace Hub; first verified hit wins.

Every layer returns bytes that the chain checks against the registry's sha256 before anything uses
them; a cached copy that fails the check (truncated, corrupt, tampered) is deleted and treated as a
miss, so the next layer refetches it. A hit in a slower layer is written through to the faster ones
atomically (temp name, fsync, rename on EFS), best-effort: a failed write-through never fails the load.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from hokusai.models.registry import ModelSpec, efs_path, s3_key


class ModelUnavailableError(Exception):
    """No layer could provide a verified artifact.

    ``detail`` is for operators (the log line): cache locations, error codes, the fill command.
    ``client_detail`` is what a client is told: the model and what to do, never a bucket, a path or
    an AWS error code."""

    def __init__(self, detail: str, attempts: Sequence[Attempt] = (), model_id: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.attempts = list(attempts)
        self.model_id = model_id

    @property
    def client_detail(self) -> str:
        model = f"Model {self.model_id}" if self.model_id is not None else "The model"
        return f"{model} is temporarily unavailable; retry shortly (the operators are alerted)"


class SourceError(Exception):
    """A layer failed (not a miss): unreachable, denied, misconfigured. The chain moves on."""


@dataclass(frozen=True)
class Attempt:
    source: str
    outcome: str  # hit | miss | corrupt | error
    duration_ms: float
    reason: str | None = None


@dataclass
class LoadResult:
    data: bytes
    source: str
    attempts: list[Attempt] = field(default_factory=list)


class ArtifactSource(Protocol):
    name: str

    def fetch(self, spec: ModelSpec) -> bytes | None:
        """The artifact's bytes, None on a miss; raises SourceError when the layer is broken."""

    def discard(self, spec: ModelSpec) -> None:
        """Remove a copy that failed verification."""


class WritableSource(ArtifactSource, Protocol):
    def store(self, spec: ModelSpec, data: bytes) -> None: ...


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def atomic_write(path: str, data: bytes) -> None:
    """Write to a temp file in the same directory, fsync, rename: readers never see half a file."""
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    fd, temp_path = tempfile.mkstemp(prefix=".partial-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_path, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_path)
        raise


class EfsSource:
    name = "efs"

    def __init__(self, root: str) -> None:
        self.root = root

    def path(self, spec: ModelSpec) -> str:
        return efs_path(spec, self.root)

    def location(self, spec: ModelSpec) -> str:
        return self.path(spec)

    def fetch(self, spec: ModelSpec) -> bytes | None:
        try:
            with open(self.path(spec), "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise SourceError(f"EFS read failed: {type(error).__name__}: {error.strerror}") from None

    def discard(self, spec: ModelSpec) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self.path(spec))

    def store(self, spec: ModelSpec, data: bytes) -> None:
        atomic_write(self.path(spec), data)


class S3Source:
    name = "s3"

    def __init__(self, client: Any, bucket: str, prefix: str | None = None) -> None:
        self._client = client
        self.bucket = bucket
        self.prefix = prefix

    def key(self, spec: ModelSpec) -> str:
        return s3_key(spec, self.prefix)

    def location(self, spec: ModelSpec) -> str:
        return f"s3://{self.bucket}/{self.key(spec)}"

    def fetch(self, spec: ModelSpec) -> bytes | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self._client.get_object(Bucket=self.bucket, Key=self.key(spec))
            return bytes(response["Body"].read())
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in {"NoSuchKey", "404", "NotFound"}:
                return None
            raise SourceError(f"S3 get_object failed: {code}") from None
        except BotoCoreError as error:
            raise SourceError(f"S3 unreachable: {type(error).__name__}") from None

    def discard(self, spec: ModelSpec) -> None:
        with contextlib.suppress(Exception):
            self._client.delete_object(Bucket=self.bucket, Key=self.key(spec))

    def store(self, spec: ModelSpec, data: bytes) -> None:
        self._client.put_object(
            Bucket=self.bucket,
            Key=self.key(spec),
            Body=data,
            ChecksumSHA256=_b64_sha256(data),
            Metadata={"sha256": spec.sha256, "revision": spec.revision},
        )


def _b64_sha256(data: bytes) -> str:
    import base64

    return base64.b64encode(hashlib.sha256(data).digest()).decode()


class ArtifactChain:
    """Try each layer in order (fastest first); verify; write a hit through to the faster layers."""

    def __init__(
        self,
        sources: Sequence[ArtifactSource],
        on_attempt: Callable[[ModelSpec, Attempt], None] | None = None,
    ) -> None:
        self.sources = list(sources)
        self._on_attempt = on_attempt

    def load(self, spec: ModelSpec) -> LoadResult:
        attempts: list[Attempt] = []
        for index, source in enumerate(self.sources):
            started = time.perf_counter()
            try:
                data = source.fetch(spec)
            except SourceError as error:
                self._record(spec, attempts, Attempt(source.name, "error", _ms(started), str(error)))
                continue
            if data is None:
                self._record(spec, attempts, Attempt(source.name, "miss", _ms(started)))
                continue
            if sha256_hex(data) != spec.sha256:
                source.discard(spec)
                reason = f"sha256 mismatch ({len(data)} bytes); copy discarded"
                self._record(spec, attempts, Attempt(source.name, "corrupt", _ms(started), reason))
                continue
            self._record(spec, attempts, Attempt(source.name, "hit", _ms(started)))
            for faster in self.sources[:index]:
                store = getattr(faster, "store", None)
                if store is None:
                    continue
                try:
                    store(spec, data)
                except Exception as error:
                    self._record(
                        spec, attempts, Attempt(faster.name, "write_failed", 0.0, type(error).__name__)
                    )
            return LoadResult(data=data, source=source.name, attempts=attempts)
        raise ModelUnavailableError(
            _unavailable_detail(spec, attempts, self.sources), attempts, spec.model_id
        )

    def _record(self, spec: ModelSpec, attempts: list[Attempt], attempt: Attempt) -> None:
        attempts.append(attempt)
        if self._on_attempt is not None:
            self._on_attempt(spec, attempt)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


# What fills an empty cache, named in the 503 so nobody has to search the docs at 3 a.m.
FILL_COMMAND = "make deploy (stages every registry model) or hokusai models sync --model {model_id}"


def _unavailable_detail(
    spec: ModelSpec, attempts: Sequence[Attempt], sources: Sequence[ArtifactSource] = ()
) -> str:
    if not attempts:
        return f"Model {spec.model_id} is unavailable: no artifact source is configured"
    if all(attempt.outcome == "miss" for attempt in attempts):
        # Every cache answered "not there": not a transient fault, the model was never staged.
        missing = [location(spec) for source in sources if (location := getattr(source, "location", None))]
        return (
            f"Model {spec.model_id} is not in the model cache: {' and '.join(missing)} missing. "
            f"Fill it with: {FILL_COMMAND.format(model_id=spec.model_id)}"
        )
    parts = [f"{a.source}: {a.outcome}" + (f" ({a.reason})" if a.reason else "") for a in attempts]
    return f"Model {spec.model_id} is unavailable, retry shortly ({'; '.join(parts)})"
