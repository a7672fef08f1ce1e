"""Test-wide settings: Powertools in test mode, shared fixtures for real Redis and moto servers."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest

# Before anything imports hokusai.observability: no X-Ray daemon here, a fixed namespace.
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "hokusai-test")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Hokusai")
os.environ.setdefault("POWERTOOLS_DEV", "0")
os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")

from local.moto_server import MotoServer
from local.redis_server import RedisServer


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Hub downloads abandoned at their deadline (by design, hokusai.models.hub) may still be retrying in
    daemon threads; their log records must not land on streams pytest has already closed."""
    logging.getLogger("huggingface_hub").disabled = True
    logging.raiseExceptions = False


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """One moto server per test session; tests create uniquely named resources or reset it."""
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture
def moto_env(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    for name, value in moto_server.env().items():
        monkeypatch.setenv(name, value)
    return moto_server


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A fresh redis-server on a free port, which the test may kill, pause or restart."""
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def demo_model() -> tuple[bytes, object]:
    """The demo lead scorer as shipped: the committed published artifact (model/published/...) and its
    spec from model/registry.json, sha256 verified. Nothing is trained: OpenBLAS makes trained bytes
    depend on the CPU, and the artifact we test must be the artifact we ship."""
    from model.train import published_artifact

    return published_artifact()
