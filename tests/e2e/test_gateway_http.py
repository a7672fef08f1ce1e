"""The emulator's HTTP layer over a real socket: how request bodies arrive (Content-Length, chunked, broken).

A function that echoes its event's body stands in for predict, so these run without moto or Redis.
"""

from __future__ import annotations

import json
import socket
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from local.apigw import MAX_PAYLOAD_BYTES, FunctionHost, Gateway, GatewayIdentity, GatewayServer

ALLOW_ALL = """
def lambda_handler(event, context):
    if "X-API-Key" not in event["headers"]:
        raise Exception("Unauthorized")
    return {"principalId": "u", "policyDocument": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": event["methodArn"]}]}}
"""
ECHO = """
import json
def lambda_handler(event, context):
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"body": event["body"]})}
"""
PREDICT_PATH = "/api/v1/models/21/predict"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    functions: Path = tmp_path_factory.mktemp("functions")
    for name, source in {"authorizer": ALLOW_ALL, "predict": ECHO}.items():
        (functions / name).mkdir()
        (functions / name / "handler.py").write_text(textwrap.dedent(source))
    started = GatewayServer(Gateway(FunctionHost(GatewayIdentity(), functions_dir=functions))).start()
    yield started
    started.stop()


def raw_request(server: GatewayServer, head: str, body: bytes = b"") -> tuple[int, dict[str, str]]:
    """Send bytes a library would refuse to produce; the status line and JSON body of the answer."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as connection:
        connection.sendall(head.replace("\n", "\r\n").encode() + body)
        answer = b""
        while chunk := connection.recv(65536):  # the emulator closes the connection after refusing
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), json.loads(rest.partition(b"\r\n\r\n")[2])


def test_chunked_body_reaches_the_function(server: GatewayServer) -> None:
    parts = [b'{"inputs": ', b'{"company_size": 1000}}']
    response = requests.post(
        f"http://127.0.0.1:{server.port}{PREDICT_PATH}",
        data=iter(parts),  # a generator body goes out as Transfer-Encoding: chunked
        headers={"X-API-Key": "any", "Content-Type": "application/json"},
        timeout=5,
    )
    assert response.status_code == 200, response.text
    assert response.json()["body"] == b"".join(parts).decode()


@pytest.mark.parametrize("length", ["abc", "-1"])
def test_broken_content_length_is_a_json_400(server: GatewayServer, length: str) -> None:
    head = f"POST {PREDICT_PATH} HTTP/1.1\nHost: x\nX-API-Key: any\nContent-Length: {length}\n\n"
    status, body = raw_request(server, head, b"{}")
    assert status == 400
    assert body["detail"] and body["request_id"]


def test_chunked_body_over_10_mb_is_413_without_reading_it(server: GatewayServer) -> None:
    head = f"POST {PREDICT_PATH} HTTP/1.1\nHost: x\nX-API-Key: any\nTransfer-Encoding: chunked\n\n"
    status, body = raw_request(server, head, f"{MAX_PAYLOAD_BYTES + 1:x}\r\n".encode())
    assert status == 413
    assert body["detail"] == "Request body too large"
