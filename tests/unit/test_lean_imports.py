"""Cold start (issue 10): Powertools' REST resolver and redis-py's sync client load without their
packages' ``__init__`` (hokusai.lean_imports), and nothing the packages export goes missing.

Each check runs in a fresh interpreter: what is in ``sys.modules`` is the point."""

from __future__ import annotations

import json
import os
import re

from hokusai import lean_imports

from local.handlers import ROOT
from tests.helpers import run_python

# Imported only by a package __init__ we skip (the other resolvers; redis' async, cluster, sentinel).
UNUSED_RESOLVERS = [
    "aws_lambda_powertools.event_handler.appsync",
    "aws_lambda_powertools.event_handler.bedrock_agent",
    "aws_lambda_powertools.event_handler.vpc_lattice",
    "aws_lambda_powertools.event_handler.events_appsync.appsync_events",
]
UNUSED_REDIS = ["redis.cluster", "redis.sentinel", "redis.asyncio.client", "redis.asyncio.cluster"]


def _probe(code: str, **env: str) -> dict[str, object]:
    result = run_python(
        "-c",
        "import json, sys\n" + code,
        env={**os.environ, "POWERTOOLS_TRACE_DISABLED": "1", "AWS_DEFAULT_REGION": "eu-west-1", **env},
    )
    assert result.returncode == 0, result.stderr
    answer: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return answer


def test_health_handler_loads_only_the_rest_resolver() -> None:
    """The health handler as Lambda imports it (no Redis configured: no client is built)."""
    answer = _probe(
        f"""
import importlib.util
spec = importlib.util.spec_from_file_location("health_handler", "functions/health/handler.py")
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
unused = [m for m in {UNUSED_RESOLVERS!r} if m in sys.modules]
import aws_lambda_powertools.event_handler as package
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, AppSyncResolver, Response
from aws_lambda_powertools.event_handler.appsync import AppSyncResolver as appsync
print(json.dumps({{"unused": unused, "same": module.app.__class__ is APIGatewayRestResolver
    and module.Response is Response and AppSyncResolver is appsync,
    "all": sorted(package.__all__)[:3]}}))
""",
        KEYS_TABLE_NAME="hokusai-keys",
    )
    assert answer == {
        "unused": [],
        "same": True,
        "all": ["ALBResolver", "APIGatewayHttpResolver", "APIGatewayRestResolver"],
    }


def test_redis_client_without_async_cluster_or_sentinel() -> None:
    answer = _probe(
        f"""
from hokusai.cache.redis_cache import build_redis_client
from hokusai.config import RedisSettings
settings = RedisSettings.from_env()
client = build_redis_client(settings, "secret")
unused = [m for m in {UNUSED_REDIS!r} if m in sys.modules]
import redis
from redis import Sentinel
from redis.asyncio import Redis as AsyncRedis
import redis.asyncio.client
print(json.dumps({{"unused": unused, "same": type(client) is redis.Redis and redis.StrictRedis is redis.Redis,
    "version": redis.__version__, "sentinel": Sentinel is redis.sentinel.Sentinel,
    "async": AsyncRedis is redis.asyncio.client.Redis, "exceptions": redis.ConnectionError.__module__}}))
""",
        REDIS_URL="redis://10.255.255.1:6379/0",
    )
    assert answer == {
        "unused": [],
        "same": True,
        "version": "8.1.0",
        "sentinel": True,
        "async": True,
        "exceptions": "redis.exceptions",
    }


def test_star_import_and_submodule_attributes_still_work() -> None:
    answer = _probe(
        """
from hokusai.lean_imports import defer_init, is_deferred
assert defer_init("redis") and is_deferred("redis")
import redis
connection = redis.connection  # a submodule nobody imported yet, by attribute
namespace = {}
exec("from redis import *", namespace)
print(json.dumps({"connection": connection.__name__, "star": "Redis" in namespace and "Sentinel" in namespace,
    "deferred": is_deferred("redis")}))
"""
    )
    assert answer == {"connection": "redis.connection", "star": True, "deferred": False}


def test_only_checked_versions_are_deferred() -> None:
    """Another installed version (here: a pin that does not match) is imported as usual."""
    answer = _probe(
        """
from hokusai import lean_imports
lean_imports.CHECKED["redis"] = ("redis", "0.0.1")
print(json.dumps({"deferred": lean_imports.defer_init("redis"), "loaded": "redis" in sys.modules}))
"""
    )
    assert answer == {"deferred": False, "loaded": False}


def test_already_imported_package_is_left_alone() -> None:
    answer = _probe(
        """
import redis
from hokusai.lean_imports import defer_init, is_deferred
print(json.dumps({"deferred": defer_init("redis"), "is": is_deferred("redis")}))
"""
    )
    assert answer == {"deferred": False, "is": False}


def test_checked_versions_are_the_pinned_ones() -> None:
    """A version bump in requirements/runtime.txt must re-read the package's __init__ (re-exports
    only?) and update CHECKED; until then the deferral silently stops, so fail here instead."""
    pins = dict(
        re.findall(
            r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==(\S+)",
            (ROOT / "requirements" / "runtime.txt").read_text(),
            re.M,
        )
    )
    names = {"aws_lambda_powertools": "aws-lambda-powertools", "redis": "redis"}
    for package, (distribution, version) in lean_imports.CHECKED.items():
        assert pins[names[distribution]] == version, package
