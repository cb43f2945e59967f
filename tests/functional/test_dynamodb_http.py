"""authcore.dynamodb_http: the authorizer's DynamoDB calls without an SDK, against a
scripted HTTP server on loopback (what it sends, on which connection, what it makes of
each answer) and against moto's server (a real GetItem)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest

from authcore.dynamodb_http import DynamoDB, DynamoDBError
from infra import template

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret"}


class Scripted(ThreadingHTTPServer):
    """Answers each POST with the next scripted (status, body); None drops the connection
    unanswered. Records the client's port (its connection) and the request of each."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script: list[tuple[int, bytes] | None] = []
        self.seen: list[tuple[int, str, dict[str, Any], dict[str, str]]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    @property
    def connections(self) -> list[int]:
        return [port for port, *_ in self.seen]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Scripted

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        target = self.headers["x-amz-target"]
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.server.seen.append((self.client_address[1], target, json.loads(body), headers))
        step = self.server.script.pop(0) if self.server.script else (200, b"{}")
        if step is None:
            self.close_connection = True
            return
        status, answer = step
        self.send_response(status)
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


@pytest.fixture
def server() -> Iterator[Scripted]:
    scripted = Scripted()
    threading.Thread(target=scripted.serve_forever, daemon=True).start()
    yield scripted
    scripted.shutdown()
    scripted.server_close()


def dynamodb(server: Scripted, **kwargs: Any) -> DynamoDB:
    env = {**CREDENTIALS, "AWS_REGION": "eu-west-1", "AWS_ENDPOINT_URL_DYNAMODB": server.url}
    return DynamoDB(env=env, **kwargs)


def error(kind: str) -> bytes:
    return json.dumps(
        {"__type": f"com.amazonaws.dynamodb.v20120810#{kind}", "message": "x"}
    ).encode()


def test_calls_are_signed_posts_of_the_operation_over_one_kept_alive_connection(server):
    db = dynamodb(server)
    server.script = [(200, b'{"Item": {"sid": {"S": "a"}}}'), (200, b"{}"), (200, b"{}")]
    assert db.call("GetItem", {"TableName": "t"}) == {"Item": {"sid": {"S": "a"}}}
    assert db.call("GetItem", {"TableName": "t"}) == {}
    assert db.call("Query", {"TableName": "k"}) == {}
    assert len(set(server.connections)) == 1  # no new TCP (TLS, deployed) per call
    _, target, request, headers = server.seen[0]
    assert (target, request) == ("DynamoDB_20120810.GetItem", {"TableName": "t"})
    assert server.seen[2][1] == "DynamoDB_20120810.Query"
    assert headers["content-type"] == "application/x-amz-json-1.0"
    authorization = headers["authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/dynamodb/aws4_request" in authorization


@pytest.mark.parametrize(
    "first",
    [
        (400, error("ProvisionedThroughputExceededException")),
        (400, error("ThrottlingException")),
        (500, error("InternalServerError")),
        (503, b"not json"),
        None,  # the connection dropped: a kept-alive one the far end closed, say
    ],
)
def test_a_transient_failure_is_tried_once_more_on_a_new_connection(server, first):
    db = dynamodb(server)
    server.script = [(200, b"{}"), first, (200, b'{"Count": 1}')]
    db.call("GetItem", {})
    assert db.call("GetItem", {}) == {"Count": 1}
    assert len(server.seen) == 3
    assert server.connections[1] == server.connections[0]
    assert server.connections[2] != server.connections[1]


@pytest.mark.parametrize(
    ("answer", "cause"),
    [
        ((400, error("ResourceNotFoundException")), "ResourceNotFoundException"),
        ((400, error("ValidationException")), "ValidationException"),
        ((403, b'{"__type": "AccessDeniedException"}'), "AccessDeniedException"),
        ((400, b'{"__type": "x#<script>alert(1)</script>"}'), "HTTP400"),
        ((400, b"[]"), "HTTP400"),
        ((200, b"[1]"), "NotAnObject"),
        ((200, b"{not json"), "NotJson"),
    ],
)
def test_a_request_that_cannot_succeed_is_not_repeated_and_names_a_safe_cause(
    server, answer, cause
):
    server.script = [answer, (200, b"{}")]
    with pytest.raises(DynamoDBError) as failed:
        dynamodb(server).call("GetItem", {})
    assert failed.value.cause == cause
    assert len(server.seen) == 1


def test_two_transient_failures_give_up_with_the_last_cause(server):
    server.script = [(500, error("InternalServerError")), (400, error("ThrottlingException"))]
    with pytest.raises(DynamoDBError) as failed:
        dynamodb(server).call("GetItem", {})
    assert (failed.value.cause, failed.value.status) == ("ThrottlingException", 400)
    assert failed.value.transient
    assert len(server.seen) == 2


def test_attempts_and_the_answer_size_are_bounded(server):
    server.script = [(500, b"{}")] * 5
    with pytest.raises(DynamoDBError):
        dynamodb(server, attempts=3).call("GetItem", {})
    assert len(server.seen) == 3
    server.script = [(200, b'{"x": "' + b"a" * 2000 + b'"}')]
    with pytest.raises(DynamoDBError) as failed:
        dynamodb(server, max_bytes=1000, attempts=1).call("GetItem", {})
    assert failed.value.cause == "ResponseTooLarge"


def test_a_silent_server_is_a_timeout_not_a_hang(server, monkeypatch):
    hang = threading.Event()
    monkeypatch.setattr(_Handler, "do_POST", lambda self: hang.wait(5))
    with pytest.raises(DynamoDBError) as failed:
        dynamodb(server, timeout=0.2).call("GetItem", {})
    hang.set()
    assert failed.value.cause == "TimeoutError"


@pytest.mark.parametrize(
    ("env", "cause"),
    [
        ({"AWS_REGION": "us-east-1"}, "NoCredentials"),
        ({**CREDENTIALS, "AWS_ENDPOINT_URL": "http://dynamodb.example.com"}, "InsecureEndpoint"),
    ],
)
def test_nothing_is_sent_unsigned_or_in_the_clear(env, cause):
    with pytest.raises(DynamoDBError) as failed:
        DynamoDB(env=env).call("GetItem", {})
    assert failed.value.cause == cause
    assert not failed.value.transient


def test_a_real_get_item_against_moto(moto_http):
    table = "dynamodb-http-sessions"
    client = boto3.client("dynamodb", endpoint_url=moto_http, region_name="us-east-1")
    client.create_table(**template.table_definition("SessionsTable", table))
    client.put_item(TableName=table, Item={"sid": {"S": "s1"}, "user_id": {"S": "u1"}})
    db = DynamoDB(env={**CREDENTIALS, "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": moto_http})
    key = {"TableName": table, "Key": {"sid": {"S": "s1"}}, "ConsistentRead": True}
    assert db.call("GetItem", key)["Item"]["user_id"] == {"S": "u1"}
    assert "Item" not in db.call("GetItem", {**key, "Key": {"sid": {"S": "gone"}}})
