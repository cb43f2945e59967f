"""The Lambda Invoke API of the local stack, so that a function handing work to another
(``authcore.accounts.mail.LambdaJobs``: ``lambda.invoke(..., InvocationType="Event")``)
and the admin command line's ``invite`` run through the real boto3 adapters, no Docker.

Only ``POST /2015-03-31/functions/{name}/invocations``, answered as Lambda answers it:

- ``X-Amz-Invocation-Type: RequestResponse`` (the default): the function runs on its
  pool, ``200`` with its JSON result; an unhandled error (or a timeout, a crash) is
  still ``200``, with ``X-Amz-Function-Error: Unhandled`` and ``{"errorType",
  "errorMessage"}`` as the payload;
- ``Event``: ``202`` at once, the function runs in a background thread; a failure is
  retried as the function's ``EventInvokeConfig`` says (Lambda's default: two more
  attempts), and a job that still fails is logged and dropped;
- ``DryRun``: ``204``;
- an unknown function: ``404`` ``ResourceNotFoundException``, a payload that is no JSON:
  ``400`` ``InvalidRequestContentException``.

Lambda waits about a minute before the first retry and two before the second; locally the
waits are seconds, so that a failing job shows its retries while someone watches. Payloads
are never logged: the jobs hold addresses.

Served on an ephemeral port of 127.0.0.1 and reached by the functions (and the admin
environment) through ``AWS_ENDPOINT_URL_LAMBDA``, which boto3 honours for Lambda alone:
DynamoDB and KMS stay on moto.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote

from infra.local import ACCOUNT_ID, REGION
from infra.local.gateway import LoggingHandler, LoggingServer, Response, send
from infra.local.pool import FunctionPool, InvocationFailed

INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")
# Lambda's limit for a synchronous request's payload; the jobs here are a few hundred bytes.
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
# Seconds before each retry of a failed asynchronous invocation (Lambda: ~60 and ~120).
RETRY_DELAYS = (1.0, 2.0)
INVOCATION_TYPES = frozenset({"RequestResponse", "Event", "DryRun"})


@dataclass(frozen=True)
class AsyncConfig:
    """A function's ``EventInvokeConfig``, with Lambda's defaults."""

    max_retries: int = 2
    max_event_age_seconds: int = 21_600


def _error(status: int, kind: str, message: str) -> Response:
    """Lambda's error shape: the type in ``x-amzn-ErrorType`` (which botocore reads for
    the error code) and ``{"Type", "Message"}`` in the body."""
    party = "User" if status < 500 else "Service"
    body = json.dumps({"Type": party, "Message": message}).encode()
    headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", kind)]
    return Response(status, headers, body)


def _arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"


def function_name(raw: str, qualifier: str | None) -> tuple[str, str | None]:
    """(name, qualifier) from the path's FunctionName: a name, ``name:qualifier``, a
    partial ARN (``account:function:name``) or a full ARN, each with an optional
    qualifier. A name of another account or region names no function here: it comes back
    as the whole text, which matches none."""
    text = unquote(raw)
    parts = text.split(":")
    if text.startswith("arn:"):
        matches = (
            len(parts) in (7, 8)
            and parts[2] == "lambda"
            and parts[3] == REGION
            and parts[4] == ACCOUNT_ID
            and parts[5] == "function"
        )
        if not matches:
            return text, qualifier
        return parts[6], parts[7] if len(parts) == 8 else qualifier
    if len(parts) in (3, 4) and parts[1] == "function":
        if parts[0] != ACCOUNT_ID:
            return text, qualifier
        return parts[2], parts[3] if len(parts) == 4 else qualifier
    if len(parts) == 2:
        return parts[0], parts[1]
    return text, qualifier


class LambdaApi:
    """The Invoke operation over the stack's function pools (filled in by the stack
    once the functions start: the pools' environments need this API's address first)."""

    def __init__(
        self,
        pools: Mapping[str, FunctionPool],
        log: Callable[[str], None],
        configs: Mapping[str, AsyncConfig] | None = None,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
    ) -> None:
        self._pools = pools
        self._log = log
        self._configs = dict(configs or {})
        self._delays = retry_delays
        self._stopping = threading.Event()

    def invoke(
        self, raw_name: str, query: str, invocation_type: str | None, payload: bytes
    ) -> Response:
        request_id = str(uuid.uuid4())
        qualifier = dict(parse_qsl(query)).get("Qualifier")
        name, qualifier = function_name(raw_name, qualifier)
        pool = self._pools.get(name)
        if pool is None or qualifier not in (None, "$LATEST"):
            shown = _arn(name) + (f":{qualifier}" if qualifier else "")
            return _error(404, "ResourceNotFoundException", f"Function not found: {shown}")
        kind = invocation_type or "RequestResponse"
        if kind not in INVOCATION_TYPES:
            return _error(
                400,
                "ValidationException",
                f"1 validation error detected: Value '{kind[:64]}' at 'invocationType' failed"
                " to satisfy constraint: Member must satisfy enum value set:"
                " [RequestResponse, Event, DryRun]",
            )
        if len(payload) > MAX_PAYLOAD_BYTES:
            return _error(
                413, "RequestTooLargeException", "Request must be smaller than 6291456 bytes"
            )
        try:
            # No payload is an empty object, as Lambda passes it.
            event = json.loads(payload) if payload.strip() else {}
        except (UnicodeDecodeError, ValueError):
            return _error(
                400, "InvalidRequestContentException", "Could not parse request body into json"
            )
        headers = [("x-amzn-RequestId", request_id)]
        if kind == "DryRun":
            return Response(204, headers)
        if kind == "Event":
            threading.Thread(
                target=self._run_async,
                args=(pool, event, request_id, time.monotonic()),
                name=f"event-{name}",
                daemon=True,
            ).start()
            return Response(202, headers)
        return self._run_sync(pool, event, request_id, headers)

    def _run_sync(
        self,
        pool: FunctionPool,
        event: Any,
        request_id: str,
        headers: list[tuple[str, str]],
    ) -> Response:
        headers += [("Content-Type", "application/json"), ("X-Amz-Executed-Version", "$LATEST")]
        try:
            result = pool.invoke(event, request_id=request_id)
        except InvocationFailed as failure:
            error_type, message = _describe(failure.reason)
            body = json.dumps({"errorType": error_type, "errorMessage": message})
            headers.append(("X-Amz-Function-Error", "Unhandled"))
            return Response(200, headers, body.encode())
        return Response(200, headers, json.dumps(result).encode())

    def _run_async(self, pool: FunctionPool, event: Any, request_id: str, received: float) -> None:
        name = pool.spec.logical_id
        config = self._configs.get(name, AsyncConfig())
        attempts = 1 + config.max_retries
        for attempt in range(1, attempts + 1):
            try:
                pool.invoke(event, request_id=request_id)
            except InvocationFailed as failure:
                if self._stopping.is_set():
                    return
                where = f"[lambda] {name} event {request_id}: attempt {attempt} of {attempts}"
                age = time.monotonic() - received
                if attempt == attempts or age > config.max_event_age_seconds:
                    # Lambda would hand it to an on-failure destination; none is configured.
                    self._log(f"{where} failed ({failure.reason}); dropped\n")
                    return
                delay = self._delays[min(attempt, len(self._delays)) - 1] if self._delays else 0
                self._log(f"{where} failed ({failure.reason}); retrying in {delay:g} s\n")
                if self._stopping.wait(delay):
                    return
            else:
                if attempt > 1:
                    self._log(f"[lambda] {name} event {request_id}: attempt {attempt} succeeded\n")
                return

    def close(self) -> None:
        """No more retries: the stack is stopping."""
        self._stopping.set()


def _describe(reason: str) -> tuple[str, str]:
    """Lambda's errorType for a failed invocation, and a message without any of the
    function's own text (the worker logs its traceback to the stack's log)."""
    if reason.startswith("unhandled "):
        return reason.removeprefix("unhandled "), "Unhandled error in the function (see the log)"
    if reason == "timeout":
        return "Sandbox.Timedout", "Task timed out"
    if reason.startswith("init failed"):
        return "Runtime.ImportModuleError", reason
    return "Runtime.ExitError", reason


class _Server(LoggingServer):
    api: LambdaApi


class _Handler(LoggingHandler):
    server: _Server
    server_version = "local-lambda"
    log_prefix = "[lambda]"

    def _answer(self, response: Response, name: str, kind: str) -> None:
        send(self, response)
        self.server.log(f"[lambda] Invoke {name} ({kind}) -> {response.status}\n")

    def _length(self) -> int | None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return None
        return length if length >= 0 else None

    def do_POST(self) -> None:
        raw_path, _, query = self.path.partition("?")
        length = self._length()
        if length is None:
            self.close_connection = True
            self._answer(_error(400, "InvalidRequestContentException", "Bad length"), "?", "-")
            return
        if length > MAX_PAYLOAD_BYTES:
            self.close_connection = True  # the body stays unread
            response = _error(
                413, "RequestTooLargeException", "Request must be smaller than 6291456 bytes"
            )
            self._answer(response, "?", "-")
            return
        payload = self.rfile.read(length) if length > 0 else b""
        match = INVOKE_PATH.match(raw_path)
        if match is None:
            self._answer(_error(404, "UnknownOperationException", "Unknown operation"), "?", "-")
            return
        kind = self.headers.get("X-Amz-Invocation-Type")
        response = self.server.api.invoke(match["name"], query, kind, payload)
        self._answer(response, unquote(match["name"])[:140], kind or "RequestResponse")

    def _unknown(self) -> None:
        if self._length() != 0:
            self.close_connection = True  # a body nobody reads
        self._answer(_error(404, "UnknownOperationException", "Unknown operation"), "?", "-")

    do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = _unknown


def lambda_server(api: LambdaApi, log: Callable[[str], None]) -> ThreadingHTTPServer:
    """The API on an ephemeral port of 127.0.0.1 (``server_address[1]``), not yet serving."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.api = api
    server.log = log
    return server
