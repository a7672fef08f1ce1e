"""The authorizer handler against real parts: moto (DynamoDB, Secrets Manager) and real redis-server.

Fault matrix (docs/incidents.md section 1): Redis refused, silent, never connecting, killed and restarted,
wrong password; DynamoDB down with a warm and a cold cache; revocation within the L1 TTL; one
redis-py attempt per call. Each test checks the answer AND that Redis cost little extra time.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import redis
from hokusai.auth.entries import EntrySigner
from hokusai.cache.redis_cache import auth_entry_key
from hokusai.keys import schema
from hokusai.keys.format import generate_key, key_digest
from hokusai.keys.store import KeyStore

from local.faults import never_connects_port, refused_port, silent_server
from local.handlers import LambdaContext, load_event, load_handler
from local.moto_server import MotoServer
from local.redis_server import RedisServer, running_redis

pytestmark = pytest.mark.timeout(60)

PLACEHOLDER = "{{API_KEY}}"
# Generous: a noisy 2-core box. The seed paid 4+ s per request; the budget is ~50 ms per Redis call.
SLACK_S = 0.6


def create_table(name: str) -> None:
    boto3.client("dynamodb").create_table(**schema.create_table_arguments(name))


def event_with(key: str | None, name: str = "authorizer_predict_bearer.json") -> dict[str, Any]:
    raw = json.dumps(load_event(name))
    if key is None:
        return json.loads(raw)
    return json.loads(raw.replace(PLACEHOLDER, key))


class Env:
    def __init__(self, moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
        self.moto = moto
        self.monkeypatch = monkeypatch
        self.table = f"keys-{uuid.uuid4().hex[:8]}"
        create_table(self.table)
        self.store = KeyStore(boto3.client("dynamodb"), self.table)
        # The Redis entries' signing key, as the stack makes it (the authorizer alone reads it).
        self.signing_key = generate_key()[3:]
        self.signing_secret_arn = boto3.client("secretsmanager").create_secret(
            Name=f"auth-cache-key-{uuid.uuid4().hex[:6]}", SecretString=self.signing_key
        )["ARN"]
        self.values: dict[str, str] = {
            "KEYS_TABLE_NAME": self.table,
            "AUTH_REVOCATION_BOUND_SECONDS": "10",
            "AUTH_CACHE_KEY_SECRET_ARN": self.signing_secret_arn,
            "AUTH_NEGATIVE_TTL_SECONDS": "30",
            "REDIS_CONNECT_TIMEOUT_MS": "50",
            "REDIS_TIMEOUT_MS": "50",
            "REDIS_BREAKER_FAILURES": "3",
            "REDIS_BREAKER_COOLDOWN_MS": "300",
            "KEYS_TABLE_CONNECT_TIMEOUT_MS": "200",
            "KEYS_TABLE_READ_TIMEOUT_MS": "300",
            "KEYS_TABLE_MAX_ATTEMPTS": "1",
        }

    def key(self, models: tuple[str, ...] = ("21",), expires_at: int | None = None) -> str:
        api_key, _ = self.store.create("user-1", models, expires_at=expires_at)
        return api_key

    def handler(self, **overrides: str | None) -> Any:
        for name, value in {**self.values, **overrides}.items():
            if value is None:
                self.monkeypatch.delenv(name, raising=False)
            else:
                self.monkeypatch.setenv(name, value)
        return load_handler("authorizer")

    def table_down(self) -> None:
        # DynamoDB "unreachable" (Secrets Manager still answers, as it would in AWS): point boto3's
        # DynamoDB clients at a refused port (new clients read it at build time).
        self.monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", f"http://127.0.0.1:{_refused()}")


def _refused() -> int:
    with refused_port() as port:
        return port


@pytest.fixture
def env(moto_env: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("REDIS_AUTH_SECRET_ARN", raising=False)
    monkeypatch.delenv("AUTH_SERVICE_URL", raising=False)
    yield Env(moto_env, monkeypatch)


def invoke(
    handler: Any, key: str | None, name: str = "authorizer_predict_bearer.json"
) -> tuple[str, Any, float]:
    """('allow', policy) | ('unauthorized', None) | ('unavailable', None), plus elapsed seconds."""
    started = time.perf_counter()
    try:
        answer = handler.lambda_handler(event_with(key, name), LambdaContext())
    except Exception as error:
        elapsed = time.perf_counter() - started
        if str(error) == "Unauthorized":
            return "unauthorized", None, elapsed
        return "unavailable", type(error).__name__, elapsed
    return "allow", answer, time.perf_counter() - started


def baseline(handler: Any, key: str) -> float:
    """Median cost of a full miss with no Redis problem (new unknown keys go to DynamoDB)."""
    times = []
    for _ in range(3):
        outcome, _, elapsed = invoke(handler, generate_key())
        assert outcome == "unauthorized"
        times.append(elapsed)
    return sorted(times)[1]


# ------------------------------------------------------------------------------------------------
def test_allow_policy_scopes_context_and_layers(env: Env, redis_server: RedisServer) -> None:
    key = env.key(("21", "7"))
    handler = env.handler(REDIS_URL=redis_server.url)
    outcome, answer, _ = invoke(handler, key)
    assert outcome == "allow"
    resources = answer["policyDocument"]["Statement"][0]["Resource"]
    prefix = "arn:aws:execute-api:eu-west-1:123456789012:abc123/api"
    assert set(resources) == {
        f"{prefix}/GET/v1/models",
        *(f"{prefix}/GET/v1/models/{model}/{route}" for model in ("21", "7") for route in ("info", "health")),
        f"{prefix}/POST/v1/models/21/predict",
        f"{prefix}/POST/v1/models/7/predict",
    }
    assert answer["context"]["scopes"] == "21,7"
    assert answer["context"]["key_id"].startswith("key_")
    assert key not in json.dumps(answer)
    # L2 holds the digest-keyed entry, never the key.
    import redis

    client = redis.Redis.from_url(redis_server.url)
    cached = client.get(auth_entry_key(key_digest(key)))
    assert cached is not None
    entry = EntrySigner(env.signing_key.encode()).decode(key_digest(key), cached, time.time())
    assert entry is not None and entry.record is not None
    assert entry.record["key_id"] == answer["context"]["key_id"]
    assert 9 <= client.ttl(auth_entry_key(key_digest(key))) <= 10  # the revocation bound
    assert all(key not in str(k) for k in client.keys("*"))
    # X-API-Key (lower-case header name) and the list route work too.
    assert invoke(handler, key, "authorizer_info_x_api_key.json")[0] == "allow"
    assert invoke(handler, key, "authorizer_list_models.json")[0] == "allow"


def test_l2_hit_after_cold_start_does_not_need_dynamodb(env: Env, redis_server: RedisServer) -> None:
    key = env.key()
    assert invoke(env.handler(REDIS_URL=redis_server.url), key)[0] == "allow"
    env.table_down()
    fresh = env.handler(REDIS_URL=redis_server.url)  # new container: empty L1, L2 warm
    assert invoke(fresh, key)[0] == "allow"


def test_two_stacks_on_one_redis_keep_to_their_own_namespace(env: Env, redis_server: RedisServer) -> None:
    """REDIS_KEY_PREFIX: a second stack (make dev beside a test run) never reads the first's entries."""
    key = env.key()
    first = env.handler(REDIS_URL=redis_server.url, REDIS_KEY_PREFIX="hokusai:one:")
    assert invoke(first, key)[0] == "allow"
    client = redis.Redis(port=redis_server.port)
    assert client.exists(auth_entry_key(key_digest(key), "hokusai:one:")) == 1
    assert client.exists(auth_entry_key(key_digest(key), "hokusai:two:")) == 0
    env.table_down()
    # With the table gone only the cache can answer: the first namespace still allows, the second
    # stack has nothing of its own cached and cannot borrow the first's entry.
    assert invoke(env.handler(REDIS_URL=redis_server.url, REDIS_KEY_PREFIX="hokusai:one:"), key)[0] == "allow"
    other = env.handler(REDIS_URL=redis_server.url, REDIS_KEY_PREFIX="hokusai:two:")
    assert invoke(other, key)[0] == "unavailable"


@pytest.mark.parametrize("case", ["no_key", "malformed", "unknown", "revoked", "expired"])
def test_refusals_are_the_401_path(env: Env, case: str) -> None:
    handler = env.handler()
    if case == "no_key":
        outcome, _, elapsed = invoke(handler, None, "authorizer_no_key.json")
    elif case == "malformed":
        outcome, _, elapsed = invoke(handler, "hk_short")
    elif case == "unknown":
        outcome, _, elapsed = invoke(handler, generate_key())
    elif case == "revoked":
        key = env.key()
        env.store.revoke(env.store.get(key_digest(key)).key_id)  # type: ignore[union-attr]
        outcome, _, elapsed = invoke(handler, key)
    else:
        outcome, _, elapsed = invoke(handler, env.key(expires_at=int(time.time()) - 5))
    assert outcome == "unauthorized"
    assert elapsed < 1.0


def test_expiry_is_checked_on_cache_hits(env: Env) -> None:
    key = env.key(expires_at=int(time.time()) + 2)
    handler = env.handler()
    assert invoke(handler, key)[0] == "allow"
    time.sleep(2.2)
    assert invoke(handler, key)[0] == "unauthorized"


@pytest.mark.parametrize("fault", ["refused", "silent", "never_connects"])
def test_redis_unreachable_costs_little_and_still_allows(env: Env, fault: str) -> None:
    key = env.key()
    no_redis = env.handler()
    reference = baseline(no_redis, key)
    with (
        refused_port()
        if fault == "refused"
        else silent_server()
        if fault == "silent"
        else never_connects_port()
    ) as target:
        port = target if isinstance(target, int) else target.port
        handler = env.handler(REDIS_URL=f"redis://127.0.0.1:{port}/0")
        outcome, _, elapsed = invoke(handler, key)
        assert outcome == "allow"
        # One Redis read timeout (~50 ms) at most, and no write-back after a failed read.
        assert elapsed < reference + 0.05 + SLACK_S
        # Breaker opens after 3 failures: later requests skip Redis entirely.
        for _ in range(4):
            assert invoke(handler, generate_key())[0] == "unauthorized"
        assert handler.dependencies.get().chain.l2.breaker.state.value == "open"
        started = time.perf_counter()
        assert invoke(handler, generate_key())[0] == "unauthorized"
        assert time.perf_counter() - started < reference + SLACK_S
        if not isinstance(target, int):
            # redis-py made exactly one attempt per call: 3 failed calls -> 3 connections.
            assert target.connections_accepted == 3


def test_redis_killed_then_restarted_breaker_recovers(env: Env, redis_server: RedisServer) -> None:
    key = env.key()
    handler = env.handler(REDIS_URL=redis_server.url, AUTH_L1_TTL_SECONDS="0")
    assert invoke(handler, key)[0] == "allow"
    breaker = handler.dependencies.get().chain.l2.breaker
    redis_server.kill()
    for _ in range(4):
        outcome, _, elapsed = invoke(handler, key)
        assert outcome == "allow"  # DynamoDB answers
        assert elapsed < 1.0
    assert breaker.state.value == "open"
    redis_server.restart()
    time.sleep(0.4)  # cool-down 300 ms
    assert invoke(handler, key)[0] == "allow"
    assert breaker.state.value == "closed"
    # Back to L2 hits: DynamoDB can go away.
    assert invoke(handler, key)[0] == "allow"
    env.table_down()
    assert invoke(env.handler(REDIS_URL=redis_server.url, AUTH_L1_TTL_SECONDS="0"), key)[0] == "allow"


def test_wrong_redis_password_degrades_to_dynamodb(env: Env) -> None:
    key = env.key()
    with running_redis(password=generate_key()[3:20]) as server:
        handler = env.handler(REDIS_URL=server.url_with_password("not-the-password"))
        outcome, _, elapsed = invoke(handler, key)
        assert outcome == "allow"
        assert elapsed < 1.0


def test_redis_token_from_secrets_manager(env: Env) -> None:
    key = env.key()
    password = generate_key()[3:30]
    with running_redis(password=password) as server:
        arn = boto3.client("secretsmanager").create_secret(
            Name=f"redis-token-{uuid.uuid4().hex[:6]}", SecretString=password
        )["ARN"]
        handler = env.handler(REDIS_URL=f"redis://127.0.0.1:{server.port}/0", REDIS_AUTH_SECRET_ARN=arn)
        assert invoke(handler, key)[0] == "allow"
        assert handler.dependencies.get().l2_enabled
        import redis

        stored = redis.Redis(port=server.port, password=password).get(auth_entry_key(key_digest(key)))
        assert stored is not None


def test_redis_token_secret_missing_runs_without_l2(env: Env, redis_server: RedisServer) -> None:
    key = env.key()
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:missing-AbCdEf"
    handler = env.handler(REDIS_URL=redis_server.url, REDIS_AUTH_SECRET_ARN=arn)
    assert invoke(handler, key)[0] == "allow"
    assert not handler.dependencies.get().l2_enabled


def test_dynamodb_down_warm_cache_allows_cold_is_unavailable(env: Env) -> None:
    key = env.key()
    warm = env.handler()
    assert invoke(warm, key)[0] == "allow"
    env.table_down()
    assert invoke(warm, key)[0] == "allow"  # L1
    cold = env.handler()
    outcome, error, elapsed = invoke(cold, key)
    assert outcome == "unavailable" and error == "AuthorizerUnavailable"
    assert elapsed < 2.0
    # An unknown key with the table down: also unavailable, never Allow.
    assert invoke(cold, generate_key())[0] == "unavailable"
    # A malformed key never needs the table.
    assert invoke(cold, "not-a-key")[0] == "unauthorized"


def test_revoked_key_stops_within_the_bound(env: Env, redis_server: RedisServer) -> None:
    from hokusai.keys.cli import main as keys_main

    key = env.key()
    handler = env.handler(REDIS_URL=redis_server.url, AUTH_REVOCATION_BOUND_SECONDS="1")
    assert invoke(handler, key)[0] == "allow"
    key_id = env.store.get(key_digest(key)).key_id  # type: ignore[union-attr]
    env.monkeypatch.delenv("REDIS_URL", raising=False)  # an operator's machine cannot reach Redis
    assert keys_main(["revoke", key_id, "--table", env.table]) == 0
    time.sleep(1.2)
    assert invoke(handler, key)[0] == "unauthorized"


def test_an_entry_written_with_the_redis_token_alone_is_never_an_allow(
    env: Env, redis_server: RedisServer
) -> None:
    """Health, the revocation function, the canary and operators hold the Redis token, not the signing
    key: an allow they write for a key nobody issued (old plain format or a made-up signature) is a
    miss, and the table says unknown."""
    made_up = generate_key()
    client = redis.Redis.from_url(redis_server.url)
    record = {"key_id": "key_forged", "user_id": "mallory", "models": ["*"], "status": "active"}
    for forged in (json.dumps(record).encode(), b"v1." + b"0" * 64 + b"." + json.dumps(record).encode()):
        client.set(auth_entry_key(key_digest(made_up)), forged, ex=300)
        handler = env.handler(REDIS_URL=redis_server.url)
        assert invoke(handler, made_up)[0] == "unauthorized"
        # ...and the refused entry was replaced by the table's answer, signed.
        replaced = client.get(auth_entry_key(key_digest(made_up)))
        assert replaced is not None and replaced != forged and replaced.startswith(b"v1.")


def test_bad_configuration_is_503_naming_the_variable(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    handler = env.handler(REDIS_URL="cache.internal:6379")
    outcome, _, _ = invoke(handler, env.key())
    assert outcome == "unavailable"
    assert invoke(handler, env.key())[0] == "unavailable"


def test_raw_key_never_appears_in_any_output(
    env: Env, redis_server: RedisServer, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    env.monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    good, revoked, expired, unknown = (
        env.key(),
        env.key(),
        env.key(expires_at=int(time.time()) - 1),
        generate_key(),
    )
    env.store.revoke(env.store.get(key_digest(revoked)).key_id)  # type: ignore[union-attr]
    keys = [good, revoked, expired, unknown]
    handler = env.handler(REDIS_URL=redis_server.url)
    seen = [invoke(handler, k)[0] for k in keys] + [invoke(handler, k)[0] for k in keys]
    with silent_server() as silent:
        broken = env.handler(REDIS_URL=f"redis://127.0.0.1:{silent.port}/0", AUTH_L1_TTL_SECONDS="0")
        seen += [invoke(broken, k)[0] for k in keys]
    env.table_down()
    seen += [invoke(env.handler(), k)[0] for k in keys]
    seen.append(invoke(handler, good[:20])[0])  # truncated key: malformed
    assert "allow" in seen and "unauthorized" in seen and "unavailable" in seen
    captured = capsys.readouterr()
    text = captured.out + captured.err + caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    assert text.strip(), "nothing was logged: the check would be vacuous"
    assert "key_id" in text
    # Ours (stdout JSON + the service's records): not even the digest. botocore's own DEBUG records
    # show request bodies (digests, never keys) and are off in Lambda.
    ours = (
        captured.out
        + captured.err
        + "".join(str(r.__dict__) for r in caplog.records if not r.name.startswith(("botocore", "urllib3")))
    )
    for key in keys:
        assert key not in text
        assert key[3:] not in text
        assert key_digest(key) not in ours


def emf_metric_names(stdout: str) -> list[str]:
    names: list[str] = []
    for line in stdout.splitlines():
        with contextlib.suppress(ValueError):
            blob = json.loads(line)
            if isinstance(blob, dict) and "_aws" in blob:
                for directive in blob["_aws"]["CloudWatchMetrics"]:
                    names += [m["Name"] for m in directive["Metrics"]]
    return names


def test_metrics_per_layer_redis_faults_and_breaker(
    env: Env, redis_server: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    key = env.key()
    handler = env.handler(REDIS_URL=redis_server.url)
    capsys.readouterr()
    invoke(handler, key)
    invoke(handler, key)
    invoke(env.handler(REDIS_URL=redis_server.url), key)  # new container: L2 hit
    invoke(handler, "garbage")
    names = emf_metric_names(capsys.readouterr().out)
    for expected in ("AuthSourceLookup", "AuthCacheHitL1", "AuthCacheHitL2", "AuthValidatorLatency"):
        assert expected in names
    assert "AuthAllowed" in names and "AuthMalformed" in names
    with silent_server() as silent:
        broken = env.handler(REDIS_URL=f"redis://127.0.0.1:{silent.port}/0", AUTH_L1_TTL_SECONDS="0")
        for _ in range(5):
            invoke(broken, key)
    names = emf_metric_names(capsys.readouterr().out)
    assert names.count("RedisTimeout") == 3
    assert "RedisBreakerOpened" in names and "RedisBreakerOpen" in names
    env.table_down()
    invoke(env.handler(), key)
    assert "AuthorizerFailure" in emf_metric_names(capsys.readouterr().out)


def test_no_key_in_any_log_line_even_with_powertools_log_event_on(
    env: Env, redis_server: RedisServer
) -> None:
    """POWERTOOLS_LOGGER_LOG_EVENT=true is Powertools' standard switch to log every event; an
    authorizer event carries the key in its headers. The handlers pin log_event=False, and the
    logger's formatter masks a key wherever it is in a line (message, dict, extra, exception)."""
    import io

    from hokusai.observability import logger

    env.monkeypatch.setenv("POWERTOOLS_LOGGER_LOG_EVENT", "true")
    env.monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    good, revoked, unknown, never_seen = env.key(), env.key(), generate_key(), generate_key()
    env.store.revoke(env.store.get(key_digest(revoked)).key_id)  # type: ignore[union-attr]
    handler = env.handler(REDIS_URL=redis_server.url)
    lines = io.StringIO()
    stream = logger.registered_handler.setStream(lines)  # the logger's own handler, its own formatter
    try:
        outcomes = [
            invoke(handler, good)[0],
            invoke(handler, good, "authorizer_info_x_api_key.json")[0],
            invoke(handler, revoked)[0],
            invoke(handler, unknown)[0],
            invoke(handler, good[:25])[0],
        ]
        env.table_down()
        outcomes.append(invoke(env.handler(), never_seen)[0])
        logger.info({"headers": {"Authorization": f"Bearer {good}"}}, extra={"deep": [{"key": good}]})
        try:
            raise ValueError(f"a library put the key in its message: {good}")
        except ValueError:
            logger.exception("Unexpected error")
    finally:
        logger.registered_handler.setStream(stream)
    assert outcomes == ["allow", "allow", "unauthorized", "unauthorized", "unauthorized", "unavailable"]
    out = lines.getvalue()
    assert out.count('"level":') >= 9 and out.count("hk_***") >= 3
    for key in (good, revoked, unknown, never_seen):
        assert key not in out and key[3:] not in out
