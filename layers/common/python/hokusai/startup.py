"""How every handler starts: its dependencies built once per container, or its configuration error.

Each handler module holds one :class:`Startup` and asks it for its dependencies on every invocation::

    dependencies = Startup("predict", build, logger)
    dependencies.prime()           # optional: build now, in Lambda's init phase (full CPU, 10 s)

    def lambda_handler(event, context):
        try:
            service = dependencies.get()
        except ConfigError as error:
            ...  # this function's answer: 503 naming error.variable, or a failed canary run

Import never crashes on a bad configuration (a Lambda whose init fails answers API Gateway with a
bare 502 and says nothing useful): the error is logged once, as an ERROR naming the variable, and
every later invocation gets the same :class:`~hokusai.environment.ConfigError` to answer with. A
successful build is kept for the life of the container; nothing is rebuilt per request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from hokusai.environment import ConfigError

T = TypeVar("T")


class Startup(Generic[T]):
    def __init__(self, function: str, build: Callable[[], T], logger: Any) -> None:
        self.function = function
        self._build = build
        self._logger = logger
        self._built: T | None = None
        self._error: ConfigError | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        """The dependencies, built on the first call; raises the start-up ConfigError, every call."""
        if self._built is not None:
            return self._built
        with self._lock:
            if self._error is not None:
                raise self._error
            if self._built is None:
                try:
                    self._built = self._build()
                except ConfigError as error:
                    self._error = error
                    self._logger.error(
                        "Invalid configuration",
                        extra={"function": self.function, "variable": error.variable, "error": str(error)},
                    )
                    raise
            return self._built

    def prime(self) -> None:
        """Build now (at import, i.e. in the init phase); a ConfigError waits for the first request."""
        try:
            self.get()
        except ConfigError:
            return

    @property
    def config_error(self) -> ConfigError | None:
        return self._error

    def reset(self) -> None:
        """Forget what was built (a test's fresh container; a SnapStart restore's new identity)."""
        with self._lock:
            self._built = None
            self._error = None
