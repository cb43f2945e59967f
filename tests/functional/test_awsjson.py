"""authcore.awsjson: the functions' AWS calls without an SDK, against a scripted HTTP
server on loopback (what they send, on which connection, what they make of each answer)
and against moto's server (real calls of each service)."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from botocore.config import Config

from authcore import awsjson
from authcore.awsjson import AwsError, DynamoDB
from infra import template
from infra.devkit import moto
from infra.devkit.rawhttp import RawServer, requests

CLOSE_AFTER = "x-test-close-after"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret"}


class Scripted(ThreadingHTTPServer):
    """Answers each POST with the next scripted (status, body); None drops the connection
    unanswered. Records the client's port (its connection) and the request of each."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script: list[tuple[int, bytes] | tuple[int, bytes, dict[str, str]] | None] = []
        self.seen: list[tuple[int, str, dict[str, Any], dict[str, str]]] = []
        self.paths: list[str] = []

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
        self.server.paths.append(self.path)
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.server.seen.append((self.client_address[1], target, json.loads(body), headers))
        step = self.server.script.pop(0) if self.server.script else (200, b"{}")
        if step is None:
            self.close_connection = True
            return
        status, answer, *extra = step
        headers = dict(extra[0]) if extra else {}
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)
        # Answered as kept alive (no Connection: close), then closed: an idle timeout.
        self.close_connection = CLOSE_AFTER in headers


@pytest.fixture
def server() -> Iterator[Scripted]:
    scripted = Scripted()
    threading.Thread(target=scripted.serve_forever, daemon=True).start()
    yield scripted
    scripted.shutdown()
    scripted.server_close()


def dynamodb(server: Scripted, **kwargs: Any) -> DynamoDB:
    """The authorizer's client: two tries at once (the functions' default is below)."""
    env = {**CREDENTIALS, "AWS_REGION": "eu-west-1", "AWS_ENDPOINT_URL_DYNAMODB": server.url}
    return DynamoDB(env=env, **{"attempts": 2, "backoff": False, **kwargs})


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
    ],
)
def test_a_transient_refusal_is_tried_once_more_on_the_same_connection(server, first):
    """The refusal was read to its end: the connection is as good as before."""
    db = dynamodb(server)
    server.script = [(200, b"{}"), first, (200, b'{"Count": 1}')]
    db.call("GetItem", {})
    assert db.call("GetItem", {}) == {"Count": 1}
    assert len(server.seen) == 3
    assert len(set(server.connections)) == 1


def test_a_request_left_unanswered_is_tried_once_more_on_a_new_connection(server):
    db = dynamodb(server)
    server.script = [(200, b"{}"), None, (200, b'{"Count": 1}')]
    db.call("GetItem", {})
    assert db.call("GetItem", {}) == {"Count": 1}
    assert len(server.seen) == 3
    assert server.connections[1] == server.connections[0]
    assert server.connections[2] != server.connections[1]


def test_a_connection_closed_while_idle_costs_no_attempt(server):
    """A container thawed after minutes finds its kept-alive connection closed by the
    far end: it opens a new one before sending, as urllib3's pool does for botocore."""
    db = dynamodb(server, attempts=1)
    server.script = [(200, b"{}", {CLOSE_AFTER: "1"}), (200, b'{"Count": 1}')]
    db.call("GetItem", {})
    time.sleep(0.2)  # the far end's FIN arrives
    assert db.call("GetItem", {}) == {"Count": 1}
    assert server.connections[1] != server.connections[0]


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
    with pytest.raises(AwsError) as failed:
        dynamodb(server).call("GetItem", {})
    assert failed.value.cause == cause
    assert len(server.seen) == 1


def test_two_transient_failures_give_up_with_the_last_cause(server):
    server.script = [(500, error("InternalServerError")), (400, error("ThrottlingException"))]
    with pytest.raises(AwsError) as failed:
        dynamodb(server).call("GetItem", {})
    assert (failed.value.cause, failed.value.status) == ("ThrottlingException", 400)
    assert failed.value.transient
    assert len(server.seen) == 2


def test_attempts_and_the_answer_size_are_bounded(server):
    server.script = [(500, b"{}")] * 5
    with pytest.raises(AwsError):
        dynamodb(server, attempts=3).call("GetItem", {})
    assert len(server.seen) == 3
    server.script = [(200, b'{"x": "' + b"a" * 2000 + b'"}')]
    with pytest.raises(AwsError) as failed:
        dynamodb(server, max_bytes=1000, attempts=1).call("GetItem", {})
    assert failed.value.cause == "ResponseTooLarge"


def test_a_silent_server_is_a_timeout_not_a_hang(server, monkeypatch):
    hang = threading.Event()
    monkeypatch.setattr(_Handler, "do_POST", lambda self: hang.wait(5))
    with pytest.raises(AwsError) as failed:
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
    with pytest.raises(AwsError) as failed:
        DynamoDB(env=env, backoff=False).call("GetItem", {})
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


# ---------------------------------------------------------------- the functions' clients
def functions_client(server: Scripted, cls: type[awsjson.Client] = DynamoDB) -> Any:
    """As ``authcore.aws`` builds them: three attempts, with pauses."""
    env = {**CREDENTIALS, "AWS_REGION": "eu-west-1", "AWS_ENDPOINT_URL": server.url}
    return cls(env=env)


def test_the_functions_clients_try_three_times_pausing_as_botocore_does(server, monkeypatch):
    pauses: list[float] = []
    monkeypatch.setattr(awsjson.time, "sleep", pauses.append)
    server.script = [(500, error("InternalServerError")), (400, error("ThrottlingException"))]
    assert functions_client(server).get_item(TableName="t") == {}
    assert len(server.seen) == 3
    assert len(pauses) == 2
    assert 0 <= pauses[0] <= 1
    assert 0 <= pauses[1] <= 2
    server.script = [(500, b"{}")] * 3
    with pytest.raises(awsjson.ServiceError) as failed:
        functions_client(server).get_item(TableName="t")
    assert (failed.value.code, failed.value.transient) == ("HTTP500", True)


@pytest.mark.parametrize(
    ("draw", "attempt", "pause"), [(0.0, 1, 0.0), (0.5, 1, 0.5), (0.5, 3, 2.0), (0.99, 9, 20.0)]
)
def test_pauses_are_full_jitter_doubling_up_to_twenty_seconds(monkeypatch, draw, attempt, pause):
    import random

    monkeypatch.setattr(random, "random", lambda: draw)
    assert awsjson.backoff_seconds(attempt) == pause


def test_a_transaction_keeps_one_idempotency_token_across_its_attempts(server, monkeypatch):
    """DynamoDB applies a TransactWriteItems once per ClientRequestToken (within 10
    minutes): a retry after a lost answer must resend the token of the first attempt."""
    monkeypatch.setattr(awsjson.time, "sleep", lambda _: None)
    server.script = [None, (200, b"{}")]
    functions_client(server).transact_write_items(TransactItems=[])
    first, second = (request["ClientRequestToken"] for _, _, request, _ in server.seen)
    assert first == second
    assert len(first) == 32
    functions_client(server).transact_write_items(TransactItems=[])
    assert server.seen[2][2]["ClientRequestToken"] != first  # a new call, a new token
    functions_client(server).transact_write_items(TransactItems=[], ClientRequestToken="mine")
    assert server.seen[3][2]["ClientRequestToken"] == "mine"


def test_binary_values_go_as_base64_and_come_back_as_bytes(server):
    digest = bytes(range(32))
    server.script = [
        (
            200,
            json.dumps(
                {
                    "Items": [
                        {
                            "d": {"B": "AAEC"},
                            "m": {"M": {"B": {"S": "a name"}, "s": {"BS": ["AQ==", "Ag=="]}}},
                            "l": {"L": [{"B": "/w=="}]},
                        }
                    ]
                }
            ).encode(),
        )
    ]
    answer = functions_client(server).query(
        TableName="t", ExpressionAttributeValues={":d": {"B": digest}, ":s": {"BS": [b"\x01"]}}
    )
    sent = server.seen[0][2]["ExpressionAttributeValues"]
    assert sent == {":d": {"B": base64.b64encode(digest).decode()}, ":s": {"BS": ["AQ=="]}}
    (item,) = answer["Items"]
    assert item["d"] == {"B": b"\x00\x01\x02"}
    assert item["m"]["M"]["B"] == {"S": "a name"}  # an attribute named B is not a blob
    assert item["m"]["M"]["s"] == {"BS": [b"\x01", b"\x02"]}
    assert item["l"] == {"L": [{"B": b"\xff"}]}


def test_what_an_error_carries_is_where_botocore_puts_it(server):
    """A refused condition returns the item (ReturnValuesOnConditionCheckFailure), a
    cancelled transaction its reasons: the stores read both from ``response``."""
    refused = {"__type": "x#ConditionalCheckFailedException", "Item": {"d": {"B": "AAE="}}}
    cancelled = {
        "__type": "x#TransactionCanceledException",
        "message": "echoes the request",
        "CancellationReasons": [{"Code": "ConditionalCheckFailed", "Item": {"d": {"B": "Ag=="}}}],
    }
    server.script = [(400, json.dumps(refused).encode()), (400, json.dumps(cancelled).encode())]
    client = functions_client(server)
    with pytest.raises(awsjson.ServiceError) as failed:
        client.put_item(TableName="t", Item={})
    assert failed.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert failed.value.response["Item"] == {"d": {"B": b"\x00\x01"}}
    assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(awsjson.ServiceError) as failed:
        client.transact_write_items(TransactItems=[])
    reasons = failed.value.response["CancellationReasons"]
    assert reasons == [{"Code": "ConditionalCheckFailed", "Item": {"d": {"B": b"\x02"}}}]
    assert "echoes" not in str(failed.value)  # the service's message is never carried
    assert len(server.seen) == 2  # neither is retried


def test_a_rest_error_is_named_by_its_header(server):
    server.script = [
        (
            404,
            b'{"Type": "User", "message": "Function not found: arn:..."}',
            {"x-amzn-ErrorType": "ResourceNotFoundException:http://internal.amazon.com/"},
        )
    ]
    with pytest.raises(awsjson.ServiceError) as failed:
        functions_client(server, awsjson.Lambda).invoke(
            FunctionName="mail", InvocationType="Event", Payload=b"{}"
        )
    assert (failed.value.code, failed.value.transient) == ("ResourceNotFoundException", False)


def test_lambda_invoke_is_an_asynchronous_rest_post(server):
    server.script = [(202, b"")]
    answer = functions_client(server, awsjson.Lambda).invoke(
        FunctionName="stack-AccountMail", InvocationType="Event", Payload=b'{"job": "x"}'
    )
    assert answer == {}
    assert server.paths == ["/2015-03-31/functions/stack-AccountMail/invocations"]
    _, _, payload, headers = server.seen[0]
    assert payload == {"job": "x"}
    assert headers["x-amz-invocation-type"] == "Event"
    assert "/eu-west-1/lambda/aws4_request" in headers["authorization"]


def test_each_thread_has_a_connection_of_its_own(server):
    client = functions_client(server)
    client.get_item(TableName="t")
    other = threading.Thread(target=lambda: client.get_item(TableName="t"))
    other.start()
    other.join()
    client.get_item(TableName="t")
    first, second, third = server.connections
    assert first == third != second


@pytest.mark.parametrize(
    ("cls", "variable", "default"),
    [
        (awsjson.SecretsManager, "AWS_ENDPOINT_URL_SECRETS_MANAGER", "secretsmanager"),
        (awsjson.SESv2, "AWS_ENDPOINT_URL_SESV2", "email"),
        (awsjson.KMS, "AWS_ENDPOINT_URL_KMS", "kms"),
    ],
)
def test_endpoints_are_botocores(cls, variable, default):
    env = {**CREDENTIALS, "AWS_REGION": "eu-west-1"}
    assert cls(env=env)._endpoint == f"https://{default}.eu-west-1.amazonaws.com"
    own = {**env, variable: "https://own.example/", "AWS_ENDPOINT_URL": "https://all.example"}
    assert cls(env=own)._endpoint == "https://own.example"


# ---------------------------------------------------------------- real calls, moto's server
@pytest.fixture
def moto_env(moto_http, monkeypatch):
    with moto.mocked():
        yield {**CREDENTIALS, "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": moto_http}


def test_kms_signs_and_seals_over_http(moto_env):
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    kms = awsjson.KMS(env=moto_env)
    key = boto3.client("kms", region_name="us-east-1").create_key(
        KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY"
    )["KeyMetadata"]["KeyId"]
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=key)["PublicKey"])
    signature = kms.sign(
        KeyId=key, Message=b"header.claims", MessageType="RAW", SigningAlgorithm="ECDSA_SHA_256"
    )["Signature"]
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(signature, b"header.claims", ec.ECDSA(hashes.SHA256()))
    box = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["KeyId"]
    context = {"user_id": "u1"}
    sealed = kms.encrypt(KeyId=box, Plaintext=b"secret", EncryptionContext=context)
    opened = kms.decrypt(
        KeyId=box, CiphertextBlob=sealed["CiphertextBlob"], EncryptionContext=context
    )
    assert opened["Plaintext"] == b"secret"


def test_secrets_and_mail_over_http(moto_env):
    boto3.client("secretsmanager", region_name="us-east-1").create_secret(
        Name="keys", SecretString="{}"
    )
    secrets = awsjson.SecretsManager(env=moto_env)
    secrets.put_secret_value(SecretId="keys", SecretString='{"keys": []}')
    assert secrets.get_secret_value(SecretId="keys")["SecretString"] == '{"keys": []}'
    ses = boto3.client("ses", region_name="us-east-1")
    ses.verify_email_identity(EmailAddress="no-reply@example.com")
    awsjson.SESv2(env=moto_env).send_email(
        FromEmailAddress="no-reply@example.com",
        Destination={"ToAddresses": ["alice@example.com"]},
        Content={"Simple": {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}}},
    )
    assert ses.get_send_quota()["SentLast24Hours"] == 1


def test_botocores_failures_come_out_as_these(moto_env):
    """``Sdk``: the operators' tools give the stores botocore's clients."""
    client = awsjson.Sdk(boto3.client("dynamodb", region_name="us-east-1"))
    with pytest.raises(awsjson.ServiceError) as failed:
        client.get_item(TableName="no-such-table", Key={"sid": {"S": "x"}})
    assert failed.value.code == "ResourceNotFoundException"
    unreachable = boto3.client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        config=Config(retries={"total_max_attempts": 1}),
    )
    with pytest.raises(awsjson.TransportError):
        awsjson.Sdk(unreachable).get_item(TableName="t", Key={"sid": {"S": "x"}})
    assert awsjson.adapt(client) is client
    assert isinstance(awsjson.adapt(unreachable), awsjson.Sdk)


def test_s3_objects_over_http_with_conditional_writes(moto_env):
    """The revocation feed's publisher: S3's REST API, its errors in XML, named as
    botocore names them."""
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="feed")
    s3 = awsjson.S3("feed", env=moto_env)
    with pytest.raises(awsjson.ServiceError) as failed:
        s3.get_object(Bucket="feed", Key="revocations/head.json")
    assert failed.value.code == "NoSuchKey"
    write = {"Key": "k.json", "ContentType": "application/json", "CacheControl": "no-cache"}
    etag = s3.put_object(Bucket="feed", Body=b'{"v": 1}', IfNoneMatch="*", **write)["ETag"]
    got = s3.get_object(Bucket="feed", Key="k.json")
    assert (got["Body"].read(), got["ETag"]) == (b'{"v": 1}', etag)
    with pytest.raises(awsjson.ServiceError) as failed:
        s3.put_object(Bucket="feed", Body=b"{}", IfNoneMatch="*", **write)
    assert (failed.value.code, failed.value.transient) == ("PreconditionFailed", False)
    assert s3.put_object(Bucket="feed", Body=b"{}", IfMatch=etag, **write)["ETag"] != etag
    with pytest.raises(awsjson.TransportError):
        s3.get_object(Bucket="other", Key="k.json")


def test_a_blob_that_is_not_base64_is_a_transport_error_not_a_crash(server):
    server.script = [(200, b'{"Item": {"d": {"B": "not base64!"}}}')]
    with pytest.raises(awsjson.TransportError) as failed:
        functions_client(server).get_item(TableName="t")
    assert failed.value.cause == "NotBase64"


def test_a_header_http_cannot_send_is_a_transport_error(server):
    env = {**CREDENTIALS, "AWS_REGION": "eu-west-1", "AWS_ENDPOINT_URL": server.url}
    with pytest.raises(awsjson.TransportError) as failed:
        awsjson.S3("feed", env=env).put_object(
            Bucket="feed",
            Key="k",
            Body=b"{}",
            ContentType="application/json\r\nx-injected: 1",
            CacheControl="no-cache",
        )
    assert not failed.value.transient
    assert server.seen == []


def _raw_dynamodb(server: RawServer, **kwargs: Any) -> DynamoDB:
    env = {**CREDENTIALS, "AWS_REGION": "eu-west-1", "AWS_ENDPOINT_URL_DYNAMODB": server.base}
    return DynamoDB(env=env, **{"attempts": 1, "backoff": False, **kwargs})


def test_clients_of_an_endpoint_share_its_connection_each_with_its_own_timeout():
    """The session-checked authorizer's two DynamoDB clients (keys: 2 s, sessions: 1 s) on
    one connection, one TLS handshake deployed; an answer is waited for as long as the
    client that asked allows, not the one that happened to open the connection."""
    delays = [0.0, 1.0]
    connections = []

    def serve(conn):
        connections.append(conn)
        for _ in requests(conn):
            time.sleep(delays.pop(0) if delays else 0.0)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")

    server = RawServer(serve)
    patient, hasty = _raw_dynamodb(server, timeout=10.0), _raw_dynamodb(server, timeout=0.3)
    try:
        assert patient.call("Query", {"TableName": "keys"}) == {}
        with pytest.raises(AwsError) as failed:
            hasty.call("GetItem", {"TableName": "sessions"})
        assert failed.value.cause == "TimeoutError"
        assert len(connections) == 1
        assert patient.call("Query", {"TableName": "keys"}) == {}  # a new one: state unknown
        assert len(connections) == 2
    finally:
        server.close()


def test_the_connection_goes_with_the_last_client_of_its_endpoint():
    """A runtime's reset or SnapStart's restore drops its clients: their connection is not
    kept for a client that no longer exists."""
    closed = threading.Event()
    connections = []

    def serve(conn):
        connections.append(conn)
        for _ in requests(conn):
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        closed.set()  # the client closed its end

    server = RawServer(serve)
    first, second = _raw_dynamodb(server), _raw_dynamodb(server)
    try:
        first.call("Query", {"TableName": "keys"})
        second.call("GetItem", {"TableName": "sessions"})
        del first
        second.call("GetItem", {"TableName": "sessions"})
        assert (len(connections), closed.is_set()) == (1, False)
        del second
        assert closed.wait(10)
    finally:
        server.close()


def test_clients_share_a_connection_only_to_the_host_they_reach():
    """S3 reaches each bucket at a host of its own (virtual-hosted addressing): the clients of
    two buckets must never share a connection, whose requests would go to, and be signed for,
    the other bucket's host."""
    env = {**CREDENTIALS, "AWS_REGION": "eu-west-1"}
    first, again = awsjson.S3("bucket-a", env=env), awsjson.S3("bucket-a", env=env)
    other = awsjson.S3("bucket-b", env=env)
    assert first._endpoint == "https://bucket-a.s3.eu-west-1.amazonaws.com"
    assert first._held is again._held
    assert first._held is not other._held
    assert DynamoDB(env=env)._held is not first._held
