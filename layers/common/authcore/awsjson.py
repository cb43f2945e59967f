"""The AWS calls of every function, as signed HTTPS requests, standard library only.

Why not botocore: importing it and building its first client costs 150-300 ms of CPU
(``bench.coldstart``), more than all the rest of a function's cold start, and these
functions make a handful of kinds of call, each one request: DynamoDB, KMS and Secrets
Manager speak AWS's JSON protocol (a POST to ``/`` naming the operation in
``X-Amz-Target``), Lambda's ``Invoke`` and SES's ``SendEmail`` are one REST POST each,
and the revocation feed's objects one S3 ``GET`` or ``PUT``. Each request is signed with
``authcore.sigv4`` (the AWS General Reference's SigV4 procedure, checked against
botocore's signer in the tests).

What botocore did that matters here is done here too:
- the clients take and return the service's own JSON, as botocore's low-level clients
  do, with ``bytes`` for the protocol's blobs (base64 on the wire): DynamoDB's ``B``
  attribute values, KMS's keys, ciphertexts and signatures;
- its *standard* retry mode: three attempts of what may succeed next time (the same
  throttling codes, 5xx, a lost connection or answer), after a random pause of up to
  1 s, then 2 s. Not its retry quota, a token bucket per client that stops retrying
  after many failures: a container serves one request at a time and its three
  attempts are bounded anyway. Not its CRC32 check of DynamoDB's answers either: TLS
  already refuses a corrupted one;
- the idempotency token of a call that has one (``TransactWriteItems``'
  ``ClientRequestToken``), filled once per call and resent with every attempt, so that
  a retried transaction whose first answer was lost is not applied twice;
- failures as exceptions of two kinds: ``ServiceError`` (the service answered no;
  ``response`` has botocore's shape: ``Error.Code``, ``CancellationReasons``) and
  ``TransportError`` (no usable answer). Their ``cause`` is safe to log: an error type
  the service named, or a transport failure's class. Never the request (it holds
  session ids and secrets) nor the service's message (it may echo the request), but
  for ``Sdk``'s, whose callers are the operators' tools.

Credentials are the function's own (``sigv4.Credentials.from_env``), read per request:
Lambda renews them. The operators' tools, whose credentials come from profiles or
SSO, keep botocore: ``Sdk`` makes one of its clients look like these.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import threading
import time
import weakref
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, TypeVar, cast

from authcore import sigv4, transport
from authcore.errors import AuthcoreError, KeySourceError

MAX_RESPONSE_BYTES = 16 * 1024 * 1024
AUTHORIZER_MAX_BYTES = 1024 * 1024
# botocore's standard retry mode (botocore/retries/standard.py): what it retries.
TRANSIENT_STATUS = frozenset({500, 502, 503, 504})
TRANSIENT = frozenset(
    {
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "EC2ThrottledException",
    }
)
MAX_BACKOFF_SECONDS = 20.0
T = TypeVar("T")
_ERROR_TYPE = re.compile(r"[A-Za-z0-9]{1,64}")


def backoff_seconds(attempt: int) -> float:
    """The pause after failed attempt ``attempt`` (1-based): botocore's standard mode,
    "full jitter" (AWS Architecture Blog, "Exponential Backoff And Jitter"), so that
    the containers a throttled table refused do not all come back at once. ``random``
    imported here: only a retry needs it, and its import is ~1.4 ms of every cold start."""
    import random

    pause: float = random.random() * 2 ** (attempt - 1)  # noqa: S311 (timing, not a secret)
    return min(pause, MAX_BACKOFF_SECONDS)


class AwsError(AuthcoreError):
    """A call that did not succeed. ``cause``: a name safe to log; ``status``: the HTTP
    status when the service answered; ``transient``: another attempt may succeed."""

    def __init__(self, cause: str, status: int | None = None, *, transient: bool = False) -> None:
        super().__init__(cause if status is None else f"answered {status} {cause}")
        self.cause = cause
        self.status = status
        self.transient = transient


class ServiceError(AwsError):
    """The service answered with an error (botocore's ``ClientError``)."""

    def __init__(
        self,
        code: str,
        status: int | None = None,
        *,
        transient: bool = False,
        response: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(code, status, transient=transient)
        self.code = code
        given = dict(response or {})
        self.response: dict[str, Any] = {
            **given,
            "Error": {**given.get("Error", {}), "Code": code},
            "ResponseMetadata": {"HTTPStatusCode": status, **given.get("ResponseMetadata", {})},
        }


class TransportError(AwsError):
    """No usable answer: no credentials, no connection, a timeout, a garbled or oversized
    answer (botocore's ``BotoCoreError``)."""


class Unserialisable(AuthcoreError, TypeError):
    """A request member JSON cannot carry (json.dumps' ``default`` signals with TypeError)."""


def _blob(value: object) -> str:
    # JSON has no bytes: the protocols send every blob member as base64.
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    raise Unserialisable(type(value).__name__)


def _body(request: Mapping[str, Any]) -> bytes:
    return json.dumps(request, default=_blob).encode("utf-8")


# An answer: its status, body and headers (names in lower case).
Answer = tuple[int, bytes, Mapping[str, str]]


def _json(answer: Answer) -> dict[str, Any]:
    status, data, _ = answer
    if not data:
        return {}
    try:
        parsed = json.loads(data)
    except ValueError:
        raise TransportError("NotJson", status) from None
    if not isinstance(parsed, dict):
        raise TransportError("NotAnObject", status)
    return parsed


class _Connections(threading.local):
    """An endpoint's connection in each thread, kept alive between calls (a warm container
    pays no TLS handshake per call) and shared by every client of that endpoint: the
    session-checked authorizer reads keys and sessions from DynamoDB through two clients
    (each with its own timeout and attempts), which would otherwise pay two TLS handshakes
    on its first request. Not shared across threads: a connection carries one exchange at
    a time."""

    connection: transport.Connection | None = None


# Each endpoint's connections while a client of it lives: dropped with the last one (a
# runtime's reset, SnapStart's restore, a test's client), their sockets closed with them.
_shared: weakref.WeakValueDictionary[str, _Connections] = weakref.WeakValueDictionary()
_shared_lock = threading.Lock()


def _connections(endpoint: str) -> _Connections:
    with _shared_lock:
        connections = _shared.get(endpoint)
        if connections is None:
            connections = _shared[endpoint] = _Connections()
        return connections


class Client:
    """One service's calls, with the function's credentials, over its endpoint's kept-alive
    connection (``_Connections``).

    ``timeout`` bounds the connection, each read and the whole answer; ``attempts``
    counts tries of a transient failure (a new connection after a transport failure,
    the same one after a refusal read to its end); ``backoff`` False retries at once
    (an authorizer holds an API request: it cannot wait out a pause).
    """

    service: ClassVar[str]  # the name SigV4 signs with
    # Its endpoint's host prefix, and botocore's service id (AWS_ENDPOINT_URL_<ID>).
    host: ClassVar[str] = ""
    service_id: ClassVar[str] = ""
    # JSON protocol: the operation's X-Amz-Target prefix and the body's content type.
    target: ClassVar[str] = ""
    content_type: ClassVar[str] = "application/x-amz-json-1.1"
    # Answer members that are blobs (base64 on the wire), at the answer's top level.
    blobs: ClassVar[frozenset[str]] = frozenset()
    # Operations whose idempotency token botocore fills when the caller does not.
    tokens: ClassVar[Mapping[str, str]] = {}

    def __init__(
        self,
        *,
        env: Mapping[str, str] | None = None,
        timeout: float = 3.0,
        attempts: int = 3,
        backoff: bool = True,
        max_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self._env = os.environ if env is None else env
        # Where and in which Region: fixed for the container, as botocore fixes them
        # per client. Credentials are read per call: they may be renewed.
        self.region = sigv4.region_of(self._env)
        self._endpoint = self._locate()
        self._timeout = timeout
        self._attempts = max(1, attempts)
        self._backoff = backoff
        self._max_bytes = max_bytes
        self._held = _connections(self._endpoint)

    def _locate(self) -> str:
        """The endpoint's URL, whose connection this client shares (``_Connections``)."""
        return sigv4.endpoint(
            self._env,
            self.service,
            self.region,
            host=self.host or None,
            service_id=self.service_id or None,
        )

    def call(self, operation: str, request: Mapping[str, Any]) -> dict[str, Any]:
        """``operation``'s answer to ``request`` (both in the service's JSON)."""
        token = self.tokens.get(operation)
        if token and token not in request:
            # 32 hex characters, which both services take (DynamoDB: at most 36;
            # Secrets Manager: 32 to 64); not uuid4, whose module is 3 ms of the
            # authorizers' cold start for the same 128 random bits.
            request = {**request, token: os.urandom(16).hex()}
        headers = {"content-type": self.content_type, "x-amz-target": f"{self.target}.{operation}"}
        return self._decoded(_json(self.request(operation, "/", _body(request), headers)))

    def request(
        self,
        operation: str,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
        method: str = "POST",
    ) -> Answer:
        """Send ``body`` to ``path``, retried as botocore's standard mode would: the
        answer's status, body and headers, or the failure raised."""
        for attempt in range(1, self._attempts + 1):
            try:
                answer = self._attempt(operation, path, body, headers, method)
            except AwsError as failed:
                if isinstance(failed, TransportError):
                    # Mid-request or answered garbage: the connection's state is unknown.
                    # A service's refusal was read to its end and leaves it reusable.
                    self.close()
                if attempt == self._attempts or not failed.transient:
                    raise
                if self._backoff:
                    time.sleep(backoff_seconds(attempt))
            else:
                return answer
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(
        self, operation: str, path: str, body: bytes, headers: Mapping[str, str], method: str
    ) -> Answer:
        try:
            answer = self.exchange(operation, path, body, headers, method)
        except OSError as exc:
            # Refused, reset, timed out, a kept-alive connection the far end closed, or an
            # answer that is not HTTP (errors.BadResponse).
            raise TransportError(type(exc).__name__, transient=True) from None
        except ValueError as exc:
            # A header the transport refuses to send (UnicodeEncodeError among them).
            raise TransportError(type(exc).__name__) from None
        if answer[0] >= 300:
            raise self._failure(*answer)
        return answer

    def _failure(self, status: int, data: bytes, headers: Mapping[str, str]) -> ServiceError:
        try:
            parsed = json.loads(data)
        except ValueError:
            parsed = None
        body: dict[str, Any] = parsed if isinstance(parsed, dict) else {}
        code = self._error_code(status, data, body, headers)
        # What the error carries besides its type and message, where botocore puts it:
        # a refused condition's item (ReturnValuesOnConditionCheckFailure), a cancelled
        # transaction's CancellationReasons.
        extra = {
            name: value
            for name, value in body.items()
            if name not in ("__type", "message", "Message", "Error", "ResponseMetadata")
        }
        transient = status in TRANSIENT_STATUS or code in TRANSIENT
        return ServiceError(code, status, transient=transient, response=self._decoded(extra))

    def _error_code(
        self, status: int, data: bytes, body: Mapping[str, Any], headers: Mapping[str, str]
    ) -> str:
        """The error's type without its namespace (``com.amazonaws.dynamodb.v20120810#
        ThrottlingException``) or the REST protocols' ``:`` suffix, from the body's
        ``__type`` or else the ``x-amzn-ErrorType`` header; ``HTTP<status>`` if neither
        names one that looks like a name (it is logged)."""
        named = body.get("__type")
        if not isinstance(named, str) or not named:
            named = headers.get("x-amzn-errortype", "")
        name = named.split(":", 1)[0].rsplit("#", 1)[-1]
        return name if _ERROR_TYPE.fullmatch(name) else f"HTTP{status}"

    def exchange(
        self,
        operation: str,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
        method: str = "POST",
    ) -> Answer:
        """One signed request: the answer's status, body and headers (names in lower
        case). ``operation`` names the call, for whoever watches this seam (the tests'
        faults, ``infra.devkit.wire``)."""
        try:
            credentials = sigv4.Credentials.from_env(self._env)
        except KeySourceError:
            raise TransportError("NoCredentials") from None
        connection = self._open()
        signed = sigv4.signed_headers(
            method=method,
            host=connection.authority,
            path=path,
            region=self.region,
            service=self.service,
            credentials=credentials,
            now=sigv4.now(),
            headers=headers,
            payload_sha256=sigv4.sha256_hex(body),
        )
        return connection.request(
            method,
            sigv4.uri_encode(path),
            signed,
            body,
            limit=self._max_bytes,
            too_large=lambda status: TransportError("ResponseTooLarge", status),
            timeout=self._timeout,  # this client's, whichever client opened the connection
        )

    def close(self) -> None:
        """Close this thread's connection to the endpoint (its other clients' too: the next
        call of any of them opens a new one)."""
        connection, self._held.connection = self._held.connection, None
        if connection is not None:
            connection.close()

    def _open(self) -> transport.Connection:
        if transport.dropped(self._held.connection):
            self.close()
        connection = self._held.connection
        if connection is None:
            opened = transport.connect(self._endpoint, self._timeout)
            if opened is None:
                raise TransportError("InsecureEndpoint")  # only https, or http to localhost
            connection = self._held.connection = opened[0]
        return connection

    def _decoded(self, answer: dict[str, Any]) -> dict[str, Any]:
        try:
            return self._decode(answer)
        except ValueError:  # binascii.Error: a blob that is not base64
            raise TransportError("NotBase64") from None

    def _decode(self, answer: dict[str, Any]) -> dict[str, Any]:
        for name in self.blobs & answer.keys():
            if isinstance(answer[name], str):
                answer[name] = base64.b64decode(answer[name])
        return answer


def _binary_attributes(value: Any) -> Any:
    """DynamoDB's JSON with ``B`` and ``BS`` values as bytes. Only an attribute value
    holds a string under the key ``B`` (a map or an item holds attribute values, never
    strings), so the walk needs no schema."""
    if isinstance(value, dict):
        decoded: dict[str, Any] = {}
        for key, member in value.items():
            if key == "B" and isinstance(member, str):
                decoded[key] = base64.b64decode(member)
            elif key == "BS" and isinstance(member, list):
                decoded[key] = [base64.b64decode(m) if isinstance(m, str) else m for m in member]
            else:
                decoded[key] = _binary_attributes(member)
        return decoded
    if isinstance(value, list):
        return [_binary_attributes(member) for member in value]
    return value


def _operation(name: str) -> Any:
    """A method calling operation ``name`` with its keyword arguments as the request, the
    way botocore's low-level clients name them (``get_item`` for ``GetItem``)."""

    def method(self: Client, **request: Any) -> dict[str, Any]:
        return self.call(name, request)

    return method


class DynamoDB(Client):
    service = "dynamodb"
    target = "DynamoDB_20120810"
    content_type = "application/x-amz-json-1.0"
    tokens: ClassVar[Mapping[str, str]] = {"TransactWriteItems": "ClientRequestToken"}

    def _decode(self, answer: dict[str, Any]) -> dict[str, Any]:
        decoded: dict[str, Any] = _binary_attributes(answer)
        return decoded

    get_item = _operation("GetItem")
    put_item = _operation("PutItem")
    update_item = _operation("UpdateItem")
    delete_item = _operation("DeleteItem")
    query = _operation("Query")
    scan = _operation("Scan")
    transact_get_items = _operation("TransactGetItems")
    transact_write_items = _operation("TransactWriteItems")
    batch_get_item = _operation("BatchGetItem")


class KMS(Client):
    service = "kms"
    target = "TrentService"
    blobs = frozenset({"Signature", "PublicKey", "CiphertextBlob", "Plaintext"})

    sign = _operation("Sign")
    get_public_key = _operation("GetPublicKey")
    encrypt = _operation("Encrypt")
    decrypt = _operation("Decrypt")
    create_key = _operation("CreateKey")
    disable_key = _operation("DisableKey")
    schedule_key_deletion = _operation("ScheduleKeyDeletion")


class SecretsManager(Client):
    service = "secretsmanager"
    service_id = "secrets_manager"
    target = "secretsmanager"
    blobs = frozenset({"SecretBinary"})
    tokens: ClassVar[Mapping[str, str]] = {"PutSecretValue": "ClientRequestToken"}

    get_secret_value = _operation("GetSecretValue")
    put_secret_value = _operation("PutSecretValue")


class Lambda(Client):
    service = "lambda"

    def invoke(
        self, *, FunctionName: str, InvocationType: Literal["Event"], Payload: bytes
    ) -> dict[str, Any]:
        """Lambda's REST ``Invoke`` (``POST /2015-03-31/functions/{name}/invocations``).
        Only asynchronous: a synchronous answer's payload is not JSON of ours to parse.
        A name or an ARN (the template gives the mail function's alias ARN)."""
        headers = {"content-type": "application/json", "x-amz-invocation-type": "Event"}
        path = f"/2015-03-31/functions/{FunctionName}/invocations"
        return _json(self.request("Invoke", path, Payload, headers))


class SESv2(Client):
    service = "ses"
    host = "email"
    service_id = "sesv2"

    def send_email(self, **request: Any) -> dict[str, Any]:
        """SES v2's REST ``SendEmail`` (``POST /v2/email/outbound-emails``)."""
        headers = {"content-type": "application/json"}
        return _json(
            self.request("SendEmail", "/v2/email/outbound-emails", _body(request), headers)
        )


_S3_CODE = re.compile(rb"<Code>([A-Za-z0-9]{1,64})</Code>")


class S3(Client):
    """One bucket's ``GetObject`` and ``PutObject``: S3's REST API, objects as bodies,
    errors in XML. What the revocation feed's publisher writes, with S3's conditional
    writes (``If-Match``, ``If-None-Match: *``)."""

    service = "s3"

    def __init__(self, bucket: str, **options: Any) -> None:
        self.bucket = bucket
        super().__init__(**options)

    def _locate(self) -> str:
        # The bucket's own host (virtual-hosted addressing), so that two buckets' clients
        # never share a connection; path-style on a configured endpoint.
        endpoint, self._prefix = sigv4.s3_bucket(self._env, self.bucket, self.region)
        return endpoint

    def _path(self, bucket: str, key: str) -> str:
        # One bucket per client: its host (virtual-hosted addressing) is the connection's.
        if bucket != self.bucket:
            raise TransportError("OtherBucket")
        return f"{self._prefix}/{key}"

    def _error_code(
        self, status: int, data: bytes, body: Mapping[str, Any], headers: Mapping[str, str]
    ) -> str:
        # XML; botocore names an error without a body (a HEAD, a 304) by its status.
        named = _S3_CODE.search(data)
        return named.group(1).decode("ascii") if named else str(status)

    def get_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:
        _, data, headers = self.request("GetObject", self._path(Bucket, Key), b"", {}, "GET")
        return {"Body": io.BytesIO(data), "ETag": headers.get("etag", "")}

    def put_object(
        self,
        *,
        Bucket: str,
        Key: str,
        Body: bytes,
        ContentType: str,
        CacheControl: str,
        IfMatch: str | None = None,
        IfNoneMatch: str | None = None,
    ) -> dict[str, Any]:
        headers = {"content-type": ContentType, "cache-control": CacheControl}
        if IfMatch is not None:
            headers["if-match"] = IfMatch
        if IfNoneMatch is not None:
            headers["if-none-match"] = IfNoneMatch
        _, _, answer = self.request("PutObject", self._path(Bucket, Key), Body, headers, "PUT")
        return {"ETag": answer.get("etag", "")}


class Sdk:
    """A botocore client as one of these: its calls, with its failures as ``ServiceError``
    (botocore's whole ``response``, its message included) and ``TransportError``. For the
    operators' tools (``infra``), whose credentials come from botocore's whole chain, and
    the tests' moto clients. botocore had retried them."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.client, name)

        def call(**request: Any) -> Any:
            from botocore.exceptions import BotoCoreError, ClientError

            try:
                return method(**request)
            except ClientError as exc:
                error = exc.response.get("Error", {})
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                raise ServiceError(
                    str(error.get("Code", "")), status, response=exc.response
                ) from None
            except BotoCoreError as exc:
                raise TransportError(type(exc).__name__) from None

        return call


def adapt(client: T) -> T:
    """``client`` as the stores call it: one of these, or botocore's in ``Sdk``. Typed
    as what it was given: both take the requests and give the answers of botocore's
    low-level client (types-boto3's stubs), for the calls these make."""
    return client if isinstance(client, Client | Sdk) else cast(T, Sdk(client))
