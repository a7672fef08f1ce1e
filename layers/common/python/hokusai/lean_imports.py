"""Cold start (issue 10): load a package's submodules without running the package's ``__init__``.

Two packages on our init paths re-export everything they have from ``__init__``, so importing any
one of their modules imports all of them:

- ``aws_lambda_powertools.event_handler``: every resolver (AppSync, AppSync events, Bedrock agents,
  Lambda function URLs, VPC Lattice, the HTTP resolver ...). Health and predict use only the REST
  resolver of ``event_handler.api_gateway``: 40-50 ms of each cold start here (make verify layout).
- ``redis`` and ``redis.asyncio``: the asyncio client, cluster, sentinel, multidb and keyspace
  notifications beside the synchronous client we use (``redis.client``): about 20 ms. (asyncio itself
  stays: redis-py 8.1's ``redis._parsers.base`` imports it for its async parsers, and so does wrapt
  2.x under the X-Ray SDK.)

:func:`defer_init` puts the package into ``sys.modules`` with its ``__path__`` but without running
its ``__init__``: importing a submodule (``aws_lambda_powertools.event_handler.api_gateway``,
``redis.client``) loads that submodule and what it imports, nothing else. Nothing goes missing: the
first lookup of any other name on the package (``redis.Redis``, ``from
aws_lambda_powertools.event_handler import AppSyncResolver``, ``import *``) runs the real
``__init__`` in place, then answers; a submodule name is imported on demand. The classes are the
same objects either way (the submodules are loaded once).

Fenced: only the versions whose ``__init__`` was read and only re-exports (:data:`CHECKED`, the
installed distribution found beside the package); any other version, or a package already imported,
is imported as usual.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

# Package -> (distribution, the version whose __init__ was checked: re-exports only, no side effect
# a submodule depends on).
CHECKED: dict[str, tuple[str, str]] = {
    "aws_lambda_powertools.event_handler": ("aws_lambda_powertools", "3.37.0"),
    "redis": ("redis", "8.1.0"),
    "redis.asyncio": ("redis", "8.1.0"),
}

_LOCK = threading.RLock()
_DEFERRED: set[str] = set()  # packages whose __init__ has not run yet


def is_deferred(package: str) -> bool:
    """``package`` is in ``sys.modules`` and its ``__init__`` has not run (yet)."""
    return package in _DEFERRED


def defer_init(package: str) -> bool:
    """Defer ``package``'s ``__init__`` (see the module's docstring). True when it is deferred now;
    False when it was already imported, is not installed, or is not a checked version."""
    with _LOCK:
        if package in _DEFERRED:
            return True
        if package in sys.modules or package not in CHECKED:
            return False
        spec = importlib.util.find_spec(package)  # imports the parent package, never this one
        if spec is None or spec.origin is None or spec.loader is None or not spec.submodule_search_locations:
            return False
        distribution, version = CHECKED[package]
        site = Path(spec.origin).parents[package.count(".") + 1]
        if not (site / f"{distribution}-{version}.dist-info").is_dir():
            return False
        module = importlib.util.module_from_spec(spec)
        module.__getattr__ = _lookup(package, module, spec)  # type: ignore[method-assign]
        sys.modules[package] = module
        _DEFERRED.add(package)
        parent, _, child = package.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, module)  # as the import system binds a submodule
        return True


def _lookup(package: str, module: ModuleType, spec: importlib.machinery.ModuleSpec) -> Any:
    def __getattr__(name: str) -> Any:
        if importlib.machinery.PathFinder.find_spec(f"{package}.{name}", list(module.__path__)):
            # A submodule (``from redis import _himport_exec`` inside redis.client): import just it.
            return importlib.import_module(f"{package}.{name}")
        _run_init(package, module, spec)
        return getattr(module, name)

    return __getattr__


def _run_init(package: str, module: ModuleType, spec: importlib.machinery.ModuleSpec) -> None:
    with _LOCK:
        if package not in _DEFERRED:
            return  # another thread ran it while this one waited
        del module.__dict__["__getattr__"]
        _DEFERRED.discard(package)
        assert spec.loader is not None
        spec.loader.exec_module(module)
