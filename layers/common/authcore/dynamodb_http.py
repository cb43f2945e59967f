"""DynamoDB's JSON API as signed POSTs over one kept-alive connection, standard library only.

Why not botocore: the authorizer makes two kinds of DynamoDB call (the keys table's
``Query``, ``authcore.keys.source``; the session check's ``GetItem``,
``authcore.sessions.check``), and importing botocore plus building its first client
costs about 250 ms of CPU, more than the rest of the authorizer's cold start. Each call
is one POST signed with ``authcore.sigv4`` (the AWS General Reference's SigV4
procedure, checked against botocore's signer in the tests), and the answer is the
service's own JSON, DynamoDB's wire format (``{"S": ...}``), as the clients get it.

Failures are ``DynamoDBError``s whose ``cause`` is safe to log: the error type
DynamoDB named, or the class of the transport failure. Never the request (it holds
a session id) nor the service's message (it may echo the request).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from authcore import sigv4
from authcore.errors import KeySourceError
from authcore.keys.ring import connect, read_bounded

MAX_RESPONSE_BYTES = 1024 * 1024
# What DynamoDB answers when it is busy or sick, not when the request is wrong: worth
# one more attempt (the AWS SDKs' standard retry mode retries these, and 5xx).
TRANSIENT = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
    }
)
_ERROR_TYPE = re.compile(r"[A-Za-z]{1,64}")


class DynamoDBError(Exception):
    """A call that did not succeed. ``cause``: a name safe to log; ``status``: the HTTP
    status when DynamoDB answered; ``transient``: another attempt may succeed."""

    def __init__(self, cause: str, status: int | None = None, *, transient: bool = False) -> None:
        super().__init__(cause if status is None else f"DynamoDB answered {status} {cause}")
        self.cause = cause
        self.status = status
        self.transient = transient


def _error_type(status: int, body: bytes) -> str:
    """``__type`` of an error answer without its namespace
    (``com.amazonaws.dynamodb.v20120810#ThrottlingException``), else ``HTTP<status>``."""
    try:
        named = json.loads(body).get("__type", "")
    except (ValueError, AttributeError):
        named = ""
    name = named.rsplit("#", 1)[-1] if isinstance(named, str) else ""
    return name if _ERROR_TYPE.fullmatch(name) else f"HTTP{status}"


class DynamoDB:
    """Calls to DynamoDB with the function's own credentials, over one connection kept
    alive between calls (a warm container pays no new TLS handshake per cache miss).

    ``timeout`` bounds the connection, each read and the whole answer; ``attempts``
    counts tries of a transient failure, each on a new connection and at once: a caller
    that holds an API request cannot wait out a backoff. Not thread-safe: one per
    container, and Lambda gives a container one request at a time.
    """

    def __init__(
        self,
        *,
        env: Mapping[str, str] | None = None,
        timeout: float = 1.0,
        attempts: int = 2,
        max_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self._env = os.environ if env is None else env
        # Where and in which Region: fixed for the container, as botocore fixes them
        # per client. Credentials are read per call: they may be renewed.
        self._region = sigv4.region_of(self._env)
        self._endpoint = sigv4.endpoint(self._env, "dynamodb", self._region)
        self._timeout = timeout
        self._attempts = max(1, attempts)
        self._max_bytes = max_bytes
        self._connection: http.client.HTTPConnection | None = None
        self._host = ""

    def call(self, operation: str, request: Mapping[str, Any]) -> dict[str, Any]:
        """``operation``'s answer to ``request`` (both in DynamoDB's JSON)."""
        body = json.dumps(request).encode("utf-8")
        for attempt in range(1, self._attempts + 1):
            try:
                answer = self._send(operation, body)
            except DynamoDBError as failed:
                self.close()
                if attempt == self._attempts or not failed.transient:
                    raise
            else:
                if not isinstance(answer, dict):
                    raise DynamoDBError("NotAnObject", 200)
                return answer
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _open(self) -> tuple[http.client.HTTPConnection, str]:
        if self._connection is None:
            opened = connect(self._endpoint, self._timeout)
            if opened is None:
                raise DynamoDBError("InsecureEndpoint")  # only https, or http to localhost
            self._connection, parts = opened
            self._host = parts.netloc
        return self._connection, self._host

    def _send(self, operation: str, body: bytes) -> Any:
        try:
            credentials = sigv4.Credentials.from_env(self._env)
        except KeySourceError:
            raise DynamoDBError("NoCredentials") from None
        connection, host = self._open()
        headers = sigv4.signed_headers(
            method="POST",
            host=host,
            path="/",
            region=self._region,
            service="dynamodb",
            credentials=credentials,
            now=datetime.now(UTC),
            headers={
                "content-type": "application/x-amz-json-1.0",
                "x-amz-target": f"DynamoDB_20120810.{operation}",
            },
            payload_sha256=hashlib.sha256(body).hexdigest(),
        )
        deadline = time.monotonic() + self._timeout
        try:
            connection.request("POST", "/", body=body, headers=headers)
            response = connection.getresponse()
            data = read_bounded(
                response,
                self._max_bytes,
                deadline,
                too_large=lambda: DynamoDBError("ResponseTooLarge", response.status),
            )
            # Read to its end, the answer is done with: close it, or the kept-alive
            # connection refuses the next request (ResponseNotReady).
            response.close()
        except (OSError, http.client.HTTPException) as exc:
            # Refused, reset, timed out, or a kept-alive connection the far end closed.
            raise DynamoDBError(type(exc).__name__, transient=True) from None
        if response.status != 200:
            cause = _error_type(response.status, data)
            transient = response.status >= 500 or cause in TRANSIENT
            raise DynamoDBError(cause, response.status, transient=transient)
        try:
            return json.loads(data)
        except ValueError:
            raise DynamoDBError("NotJson", 200) from None
