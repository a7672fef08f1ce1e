"""SnapStart's runtime hooks (hokusai.snapstart): the registry, its wiring to ``snapshot_restore_py``
(the module the Lambda Python runtime ships and calls), and each after-restore reset, in process.

The lifecycle is simulated as the runtime runs it: every callable registered with
``snapshot_restore_py`` is called before the "snapshot", then every after-restore one. The real
predict handler (model on a temporary EFS, no network) is warmed and restored here; the authorizer
and health against moto and a real redis-server, and predict from S3 only, are in
tests/integration/test_snapstart.py (unit tests run with the network blocked).
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import snapshot_restore_py
from hokusai import snapstart
from hokusai.auth.chain import ValidatorChain
from hokusai.auth.entries import CachedAnswer, EntrySigner
from hokusai.cache.breaker import BreakerState, CircuitBreaker
from hokusai.cache.redis_cache import RedisCache
from hokusai.cache.ttl import TTLCache
from hokusai.config import RedisSettings
from hokusai.keys.store import KeyRecord
from hokusai.models.registry import ModelSpec

from local.handlers import LambdaContext, load_event
from tests.helpers import (
    clean_snapstart_registries,
    predict_handler_on_efs,
    simulate_restore,
    simulate_snapshot,
)


@pytest.fixture(autouse=True)
def clean_registries() -> Iterator[None]:
    with clean_snapstart_registries():
        yield


snapshot, restore = simulate_snapshot, simulate_restore


def test_the_dispatchers_are_registered_once_with_the_runtime_module() -> None:
    snapstart.on_restore("test.a", lambda: None)
    snapstart.on_restore("test.a", lambda: None)
    snapstart.before_snapshot("test.b", lambda: None)
    assert [entry[0] for entry in snapshot_restore_py.get_before_snapshot()] == [snapstart.run_snapshot_hooks]
    assert [entry[0] for entry in snapshot_restore_py.get_after_restore()] == [snapstart.run_restore_hooks]
    names = snapstart.hooks()["after_restore"]
    assert names[0] == "random" and names.count("test.a") == 1
    snapstart._after_restore.pop("test.a")


def test_a_failing_hook_is_logged_and_the_others_still_run(caplog: pytest.LogCaptureFixture) -> None:
    ran: list[str] = []

    def broken() -> None:
        raise RuntimeError("S3 unreachable")

    snapstart.before_snapshot("test.first", lambda: ran.append("first"))
    snapstart.before_snapshot("test.broken", broken)
    snapstart.before_snapshot("test.last", lambda: ran.append("last"))
    with caplog.at_level(logging.INFO):
        snapshot()  # does not raise: the snapshot proceeds
        outcomes = snapstart.run_snapshot_hooks()
    assert ran == ["first", "last", "first", "last"]
    assert outcomes == {
        "test.first": "ok",
        "test.broken": "failed: RuntimeError: S3 unreachable",
        "test.last": "ok",
    }
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert failures and failures[0].getMessage() == "SnapStart before snapshot hook failed"
    assert failures[0].__dict__["hook"] == "test.broken"


def test_each_restored_copy_draws_its_own_random_numbers() -> None:
    at_snapshot, numpy_at_snapshot = random.getstate(), np.random.get_state()
    draws = []
    for _ in range(2):  # two copies restored from the same snapshot
        random.setstate(at_snapshot)
        np.random.set_state(numpy_at_snapshot)
        restore()
        assert random.getstate() != at_snapshot
        draws.append((random.random(), float(np.random.random())))
    assert draws[0] != draws[1]
    assert draws[0][0] != draws[1][0] and draws[0][1] != draws[1][1]


def test_l1_breaker_and_redis_client_are_dropped_at_restore() -> None:
    settings = RedisSettings.from_env({"REDIS_URL": "redis://127.0.0.1:6399/0"})
    cache = RedisCache.from_settings(settings)
    chain = ValidatorChain(
        _NoSource(),
        l1=TTLCache(10),
        l2=cache,
        signer=EntrySigner(b"k" * 32),
        revocation_bound_seconds=10,
        negative_ttl_seconds=30,
    )
    record = KeyRecord(key_id="key_1", user_id="u", models=("21",))
    chain._remember_l1("digest", CachedAnswer(record.to_cache(), time.time()), time.time())
    assert chain.validate("digest").layer == "l1"
    for _ in range(settings.breaker_failure_threshold):
        cache.breaker.record_failure()
    assert cache.breaker.state is BreakerState.OPEN
    client_at_snapshot = cache._client
    restore()
    assert len(chain._l1) == 0
    assert cache.breaker.state is BreakerState.CLOSED and cache.breaker.allow()
    assert cache._client is not None and cache._client is not client_at_snapshot
    assert cache._client.connection_pool is not client_at_snapshot.connection_pool


def test_a_breaker_reset_is_silent_and_counts_from_zero() -> None:
    changes: list[tuple[BreakerState, BreakerState]] = []
    breaker = CircuitBreaker(2, 10, on_state_change=lambda old, new: changes.append((old, new)))
    breaker.record_failure()
    breaker.reset()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED  # the failure before the reset no longer counts
    breaker.record_failure()
    assert changes == [(BreakerState.CLOSED, BreakerState.OPEN)]


def test_powertools_reports_the_first_invocation_after_restore_as_a_cold_start(
    demo_model: tuple[bytes, ModelSpec], tmp_path_factory: pytest.TempPathFactory, capsys: Any
) -> None:
    from aws_lambda_powertools.logging import logger as logger_module
    from aws_lambda_powertools.metrics.provider import cold_start
    from hokusai.observability import logger, metrics, tracer

    handler = predict_handler_on_efs(demo_model, tmp_path_factory, max_body_bytes=4096)
    handler.lambda_handler(load_event("predict_seed.json"), LambdaContext())  # a container's first call
    assert not logger_module.is_cold_start
    cold_start.is_cold_start = False  # flipped by log_metrics(capture_cold_start_metric=True) only
    tracer.cold_start = False  # consumed by a traced first invocation (tracing is off in these tests)
    metrics.add_metric(name="Buffered", unit="Count", value=1)  # pending at snapshot time
    restore()
    assert logger_module.is_cold_start and tracer.cold_start and cold_start.is_cold_start
    assert metrics.metric_set == {}
    capsys.readouterr()
    handler.lambda_handler(load_event("predict_seed.json"), LambdaContext())
    assert logger.get_current_keys()["cold_start"] is True  # on every line of that invocation
    assert "Buffered" not in capsys.readouterr().out


def test_predict_is_warm_in_the_snapshot_and_answers_after_restore(
    demo_model: tuple[bytes, ModelSpec], tmp_path_factory: pytest.TempPathFactory
) -> None:
    handler = predict_handler_on_efs(demo_model, tmp_path_factory, max_body_bytes=4096)
    assert snapstart.hooks()["before_snapshot"] == ["predict"]
    outcomes = handler.warm_up()
    assert outcomes == {"21": "ok"}
    snapshot()
    service = handler.dependencies.get().service
    assert service.loaded_from("21") == "efs"
    from hokusai.observability import metrics

    assert metrics.metric_set == {}  # the warm-up's Predictions metric is not emitted
    service._failures["21"] = (0.0, RuntimeError("remembered at snapshot time"))
    restore()
    assert service._failures == {}
    assert handler.dependencies.get().service is service  # the model is kept: that is the point
    answer = handler.lambda_handler(load_event("predict_seed.json"), LambdaContext())
    assert answer["statusCode"] == 200, answer["body"]
    assert json.loads(answer["body"])["predictions"]["recommendation"] in {"Hot", "Warm", "Cold"}


def test_a_warm_up_failure_names_the_model_and_the_snapshot_proceeds(
    demo_model: tuple[bytes, ModelSpec],
    tmp_path_factory: pytest.TempPathFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    handler = predict_handler_on_efs(demo_model, tmp_path_factory, max_body_bytes=4096)
    handler.dependencies.get().service._scorers.clear()  # as if the init's preload had failed
    with caplog.at_level(logging.ERROR):
        snapshot()
    [failure] = [r for r in caplog.records if r.getMessage() == "SnapStart before snapshot hook failed"]
    assert failure.__dict__["hook"] == "predict"
    assert "WarmUpError" in failure.__dict__["error"] and "'21'" in failure.__dict__["error"]


class _NoSource:
    def get(self, digest: str) -> KeyRecord | None:
        raise AssertionError("answered from L1")
