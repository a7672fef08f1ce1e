"""Health latency under dependency faults, and canary run time on a large security-group estate.

Health: the real handler (functions/health/handler.py) against a real redis-server and moto (server
mode), HEALTH_DEADLINE_MS=300; target p99 <= deadline + 50 ms whatever hangs. "Hanging" means a
server that accepts and never answers (SIGSTOP'd Redis; a silent TCP server as the DynamoDB or S3
endpoint). Canary: run_canary (drift only) on 10 security groups holding 100 rules in moto.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import uuid

from _common import LATENCY_HEADER, ROOT, Quiet, markdown_table, summary_row, time_calls, write_results

os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Hokusai")
os.environ["POWERTOOLS_SERVICE_NAME"] = "hokusai-health-bench"

import boto3

from local.faults import silent_server
from local.handlers import LambdaContext, load_event, load_handler
from local.moto_server import running_moto
from local.redis_server import running_redis

DEADLINE_MS = 300
REPEAT = int(os.environ.get("BENCH_REPEAT", "60"))
REVISION = "3f2a9c1e" * 5
MODEL_BYTES = b"model"
# What each scenario must answer, every time (a benchmark that times the wrong answer fails).
EXPECTED = {
    "all healthy": "200 healthy",
    "redis SIGSTOP (50 ms budget)": "200 degraded",
    "redis SIGSTOP (2 s budget)": "200 degraded (timeout)",
    "redis SIGSTOP (2 s budget), fresh container per call": "200 degraded (timeout)",
    "redis killed (refused)": "200 degraded",
    "dynamodb hanging": "503 unhealthy (timeout)",
    "s3 hanging": "503 unhealthy (timeout)",
}


def setup_aws() -> dict[str, str]:
    suffix = uuid.uuid4().hex[:8]
    table, bucket = f"bench-keys-{suffix}", f"bench-models-{suffix}"
    boto3.client("dynamodb").create_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "key_hash", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "key_hash", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_object(Bucket=bucket, Key=f"models/21/{REVISION}/model.skops", Body=MODEL_BYTES)
    # A registry entry the configuration check accepts: without sha256 and version every scenario,
    # "all healthy" included, answered 503 unhealthy (the committed table said 200).
    registry = {
        "21": {
            "repo_id": "hokusai/lead-scorer",
            "revision": REVISION,
            "filename": "model.skops",
            "sha256": hashlib.sha256(MODEL_BYTES).hexdigest(),
            "version": "1.0.0",
        }
    }
    return {
        "KEYS_TABLE_NAME": table,
        "MODEL_BUCKET": bucket,
        "MODEL_REGISTRY": json.dumps(registry),
        "HEALTH_DEADLINE_MS": str(DEADLINE_MS),
    }


def measure(env: dict[str, str], fresh_container: bool = False) -> tuple[list[float], list[str]]:
    """Warm: one container answers every call. Fresh: a new container (runner, clients, breaker)
    per call, so every call meets the hanging dependency for the first time; only the request is
    timed, not the start-up."""
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        handler = load_handler("health")
        event = load_event("health_get.json")
        statuses: list[str] = []
        samples: list[float] = []
        with Quiet():
            for index in range(REPEAT + 2):
                if fresh_container:
                    vars(handler)["runner"] = handler._build()  # what a new container does at init
                started = time.perf_counter()
                response = handler.lambda_handler(event, LambdaContext())
                elapsed_ms = (time.perf_counter() - started) * 1000
                if index >= 2:  # warm-up
                    samples.append(elapsed_ms)
                    body = json.loads(response["body"])
                    timeouts = sum(1 for c in body["checks"].values() if c["status"] == "timeout")
                    statuses.append(
                        f"{response['statusCode']} {body['status']}" + (" (timeout)" if timeouts else "")
                    )
        return samples, statuses
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def health_rows() -> tuple[list[list[str]], dict[str, list[float]]]:
    rows: list[list[str]] = []
    series: dict[str, list[float]] = {}
    with running_moto() as moto, running_redis() as redis:
        os.environ.update(moto.env())
        base = {**setup_aws(), "REDIS_URL": redis.url}
        scenarios: list[tuple[str, dict[str, str], str | None]] = [
            ("all healthy", {}, None),
            ("redis SIGSTOP (50 ms budget)", {}, "pause"),
            ("redis SIGSTOP (2 s budget)", {"REDIS_TIMEOUT_MS": "2000"}, "pause"),
            (
                "redis SIGSTOP (2 s budget), fresh container per call",
                {"REDIS_TIMEOUT_MS": "2000"},
                "pause-fresh",
            ),
            ("redis killed (refused)", {}, "kill"),
            ("dynamodb hanging", {}, "dynamodb"),
            ("s3 hanging", {}, "s3"),
        ]
        for name, extra, fault in scenarios:
            env = {**base, **extra}
            if fault in {"pause", "pause-fresh"}:
                redis.pause()
            if fault == "kill":
                redis.kill()
            try:
                if fault in {"dynamodb", "s3"}:
                    with silent_server() as server:
                        env[f"AWS_ENDPOINT_URL_{fault.upper()}"] = f"http://127.0.0.1:{server.port}"
                        samples, statuses = measure(env)
                        os.environ.pop(f"AWS_ENDPOINT_URL_{fault.upper()}", None)
                else:
                    samples, statuses = measure(env, fresh_container=fault == "pause-fresh")
            finally:
                if fault in {"pause", "pause-fresh"}:
                    redis.resume()
                if fault == "kill":
                    redis.start()
            answers = ", ".join(f"{s} x{statuses.count(s)}" for s in sorted(set(statuses)))
            assert set(statuses) == {EXPECTED[name]}, f"{name}: expected {EXPECTED[name]}, got {answers}"
            within = sum(1 for s in samples if s <= DEADLINE_MS + 50) / len(samples) * 100
            rows.append(summary_row(name, samples, [f"{within:.0f}%", answers]))
            series[name] = samples
    return rows, series


def cold_import_ms(runs: int = 5) -> list[float]:
    code = (
        "import time; t = time.perf_counter();"
        "from local.handlers import load_handler; load_handler('health');"
        "print((time.perf_counter() - t) * 1000)"
    )
    env = {"PATH": "/usr/bin:/bin", "KEYS_TABLE_NAME": "t", "AWS_DEFAULT_REGION": "eu-west-1"}
    env["POWERTOOLS_TRACE_DISABLED"] = "1"
    samples = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
        )
        samples.append(float(out.stdout.strip().splitlines()[-1]))
    return samples


def canary_rows() -> tuple[list[list[str]], dict[str, list[float]]]:
    from hokusai.config import CanarySettings
    from hokusai.drift.runner import CanaryClients, run_canary

    from local.deployment import deploy

    with running_moto() as moto:
        os.environ.update(moto.env())
        deployment = deploy(moto.endpoint_url)
        ec2 = deployment.client("ec2")
        document = dict(deployment.document)
        groups = dict(document["security_groups"])
        rules = list(document["rules"])
        # Grow to 10 groups and 100 declared rules (ingress from the functions group on distinct ports).
        for index in range(len(groups), 10):
            name = f"extra{index}"
            groups[name] = ec2.create_security_group(
                GroupName=f"{deployment.name}-{name}", Description=name, VpcId=deployment.vpc_id
            )["GroupId"]
            ec2.revoke_security_group_egress(  # as CDK does (allowAllOutbound=false)
                GroupId=groups[name],
                IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
            )
        names = sorted(groups)
        port = 10000
        while len(rules) < 100:
            group = names[len(rules) % len(names)]
            permission = {
                "IpProtocol": "tcp",
                "FromPort": port,
                "ToPort": port,
                "UserIdGroupPairs": [{"GroupId": groups["functions"], "Description": f"bench {port}"}],
            }
            ec2.authorize_security_group_ingress(GroupId=groups[group], IpPermissions=[permission])
            rules.append(
                {
                    "group": group,
                    "group_id": groups[group],
                    "direction": "ingress",
                    "protocol": "tcp",
                    "from_port": port,
                    "to_port": port,
                    "peer": {"kind": "security_group", "name": "functions", "group_id": groups["functions"]},
                    "description": f"bench {port}",
                }
            )
            port += 1
        document.update(security_groups=groups, rules=rules)
        parameter = f"/{deployment.name}/bench-state"
        boto3.client("ssm").put_parameter(
            Name=parameter, Value=json.dumps(document), Type="String", Tier="Advanced"
        )
        settings = CanarySettings(api_base_url=None, expected_state_parameter=parameter)
        clients = CanaryClients.from_environment()
        findings: list[int] = []

        def run() -> None:
            findings.append(len(run_canary(settings, clients).findings))

        clean = time_calls(run, repeat=10, warmup=1)
        deployment.remove_rule("redis", 6379)
        drifted = time_calls(run, repeat=10, warmup=0)
        assert set(findings[:11]) == {0} and set(findings[11:]) == {1}, findings
    rows = [
        summary_row("canary drift run, 10 SGs / 100 rules, clean", clean, ["0 findings"]),
        summary_row("canary drift run, 10 SGs / 100 rules, 1 rule missing", drifted, ["1 finding"]),
    ]
    return rows, {"canary clean": clean, "canary 1 missing": drifted}


def main() -> None:
    health, health_series = health_rows()
    cold = cold_import_ms()
    canary, canary_series = canary_rows()
    table = "\n\n".join(
        [
            f"Health (`GET /health`, deadline {DEADLINE_MS} ms, {REPEAT} calls per scenario, warm)\n\n"
            + markdown_table([*LATENCY_HEADER, "<= deadline+50", "answers"], health),
            "Health cold import (fresh interpreter, no sklearn/pydantic)\n\n"
            + markdown_table(LATENCY_HEADER, [summary_row("import functions/health/handler.py", cold)]),
            "Canary (moto server mode, 4 functions, secrets, SSM document)\n\n"
            + markdown_table([*LATENCY_HEADER, "findings"], canary),
        ]
    )
    write_results("health", table, {**health_series, **canary_series})


if __name__ == "__main__":
    main()
