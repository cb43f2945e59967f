"""Session-table invariants, request counting and transport-level fault injection,
shared by the rotation, fault and concurrency tests."""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from infra.devkit.wire import count_requests, on_exchange

TOKEN_TEXT = re.compile(r"[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{64}")
DIGEST_BYTES = 32
# nonce (12) + AES-GCM(family 16 + secret 32) + tag (16)
SUCCESSOR_BOX_BYTES = 12 + 48 + 16


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("ascii")).digest()


def token_secret(token: str) -> bytes:
    from authcore.tokens.refresh import RefreshToken

    parsed = RefreshToken.parse(token)
    return parsed.family + parsed.secret


def open_session(
    store: Any,
    now: float,
    user_id: str = "user-1",
    *,
    ttl: int = 2_592_000,
    idle: int = 604_800,
    username: str | None = None,
) -> str:
    """What login writes, without the password hashing (login has its own tests)."""
    from authcore.sessions.model import Session
    from authcore.tokens.issue import Principal
    from authcore.tokens.refresh import RefreshToken

    token = RefreshToken.new()
    store.create(
        Session(
            sid=token.sid,
            principal=Principal(user_id, username or f"name-of-{user_id}", "profile"),
            created_at=now,
            last_used_at=now,
            absolute_expires_at=now + ttl,
            idle_expires_at=now + min(idle, ttl),
            user_agent="pytest",
            token_digest=token.digest,
            family_digest=token.family_digest,
        )
    )
    return str(token)


class InvariantViolation(AssertionError):
    pass


@dataclass
class SessionTable:
    """Checks the sessions table as a whole, across successive snapshots.

    * each session has exactly one current digest, and a previous digest only
      together with the rotation that produced it (time and sealed successor);
    * no raw refresh token (or its secret bytes) is stored, anywhere;
    * what rotation must never change does not change (creation, absolute
      expiry, family, owner), and a revoked session stays revoked.
    """

    client: Any
    table: str = "sessions"
    issued: list[str] = field(default_factory=list)
    _fixed: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    _revoked: dict[str, str] = field(default_factory=dict)

    def remember(self, *tokens: str | None) -> None:
        self.issued.extend(t for t in tokens if t)

    def items(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        request: dict[str, Any] = {"TableName": self.table, "ConsistentRead": True}
        while True:
            response = self.client.scan(**request)
            items.extend(response["Items"])
            if "LastEvaluatedKey" not in response:
                return items
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def item(self, sid: str) -> dict[str, Any] | None:
        return self.client.get_item(
            TableName=self.table, Key={"sid": {"S": sid}}, ConsistentRead=True
        ).get("Item")

    def is_current(self, token: str) -> bool:
        item = self.item(token.split(".")[0])
        return item is not None and bytes(item["token_digest"]["B"]) == token_digest(token)

    def is_revoked(self, sid: str) -> bool:
        item = self.item(sid)
        return item is not None and "revoked_at" in item

    def check(self) -> list[dict[str, Any]]:
        items = self.items()
        problems: list[str] = []
        digests: dict[bytes, str] = {}
        families: dict[bytes, str] = {}
        for item in items:
            problems += [f"{item['sid']['S']}: {p}" for p in self._check_item(item)]
            sid = item["sid"]["S"]
            for name, seen in (("token_digest", digests), ("family_digest", families)):
                value = bytes(item[name]["B"])
                if value in seen:
                    problems.append(f"{sid}: {name} shared with {seen[value]}")
                seen[value] = sid
        problems += self._check_no_raw_tokens(items)
        problems += [f"{sid}: vanished after being revoked" for sid in self._gone(items)]
        if problems:
            raise InvariantViolation("; ".join(problems))
        return items

    def _check_item(self, item: dict[str, Any]) -> list[str]:
        problems: list[str] = []
        required = [
            "sid",
            "user_id",
            "username",
            "created_at",
            "last_used_at",
            "absolute_expires_at",
            "idle_expires_at",
            "expires_at",
            "token_digest",
            "family_digest",
        ]
        missing = [name for name in required if name not in item]
        if missing:
            return [f"missing {missing}"]

        def num(name: str) -> float:
            return float(item[name]["N"])

        sid = item["sid"]["S"]
        current = bytes(item["token_digest"]["B"])
        if len(current) != DIGEST_BYTES or len(bytes(item["family_digest"]["B"])) != DIGEST_BYTES:
            problems.append("digest of the wrong size")
        rotation = {"previous_digest", "rotated_at", "successor_box"} & item.keys()
        if rotation and len(rotation) != 3:
            problems.append(f"partial rotation state {sorted(rotation)}")
        if "previous_digest" in item:
            previous = bytes(item["previous_digest"]["B"])
            if len(previous) != DIGEST_BYTES or previous == current:
                problems.append("previous digest equals the current one or is malformed")
        if "successor_box" in item and len(bytes(item["successor_box"]["B"])) != (
            SUCCESSOR_BOX_BYTES
        ):
            problems.append("sealed successor of the wrong size")
        if "successor_undelivered" in item and "previous_digest" not in item:
            problems.append("undelivered successor without a previous token")
        if "rotated_at" in item and num("rotated_at") != num("last_used_at"):
            problems.append("last use is not the last rotation")
        if not num("created_at") <= num("last_used_at") < num("idle_expires_at"):
            problems.append("idle expiry is not after the last use")
        if not num("created_at") < num("absolute_expires_at"):
            problems.append("absolute expiry before creation")
        fixed = (
            num("created_at"),
            num("absolute_expires_at"),
            bytes(item["family_digest"]["B"]),
            item["user_id"]["S"],
        )
        if self._fixed.setdefault(sid, fixed) != fixed:
            problems.append("creation, absolute expiry, family or owner changed")
        if sid in self._revoked and item.get("revoked_at", {}).get("N") != self._revoked[sid]:
            problems.append("a revoked session was un-revoked")
        if "revoked_at" in item:
            self._revoked[sid] = item["revoked_at"]["N"]
        return problems

    def _check_no_raw_tokens(self, items: list[dict[str, Any]]) -> list[str]:
        text = json.dumps(items, default=lambda b: bytes(b).hex())
        blobs = [bytes(v["B"]) for item in items for v in item.values() if "B" in v]
        problems = []
        if TOKEN_TEXT.search(text):
            problems.append("a refresh token is stored in clear")
        for token in self.issued:
            secret = token_secret(token)
            if token.split(".")[1] in text or any(secret[16:] in blob for blob in blobs):
                problems.append(f"the secret of an issued token ({token[:4]}…) is stored")
        return problems

    def _gone(self, items: list[dict[str, Any]]) -> set[str]:
        return set(self._revoked) - {item["sid"]["S"] for item in items}


class RequestCounter:
    """Counts HTTP requests a client sends (every attempt, retries included)."""

    def __init__(self, client: Any) -> None:
        self.operations = count_requests(client)

    def clear(self) -> None:
        self.operations.clear()


# Error responses as the service sends them (status, error code).
SERVICE_ERRORS = {
    "ThrottlingException": 400,
    "ProvisionedThroughputExceededException": 400,
    "RequestLimitExceeded": 400,
    "InternalServerError": 500,
    "ServiceUnavailable": 503,
    "ConditionalCheckFailedException": 400,
    "TransactionConflictException": 400,
    "KMSInternalException": 500,
    "DependencyTimeoutException": 503,
    "KeyUnavailableException": 500,
}
# A timeout before the request reached the service (nothing applied), and one
# after it did (applied; only the response was lost, so botocore retries a write
# that already happened).
TIMEOUT_BEFORE = "ConnectTimeoutError"
TIMEOUT_AFTER = "ReadTimeoutError"
FAULT_KINDS = [*SERVICE_ERRORS, TIMEOUT_BEFORE, TIMEOUT_AFTER]


class TransportFaults:
    """Fail chosen requests of one of the functions' clients (``authcore.awsjson``) at
    the HTTP layer: a fault replaces the service's answer (nothing applied) or follows it
    (applied, response lost), and the client's own retry logic sees exactly what it
    would see from AWS."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.sent: list[str] = []
        self.injected: list[str] = []
        self._plan: tuple[int, str, str, int] | None = None
        on_exchange(client, self._exchange)

    def reset(self) -> None:
        self.sent.clear()
        self.injected.clear()
        self._plan = None

    def fail(
        self, kind: str, *, at: int = 0, operation: str | None = None, times: int = 99
    ) -> None:
        """From the ``at``-th request on (0-based, counting every attempt), fail
        ``times`` attempts of ``operation`` (default: whichever is sent at ``at``)."""
        assert kind in FAULT_KINDS, kind
        self._plan = (at, operation or "", kind, times)

    def _exchange(self, real: Any, operation: str, *request: Any) -> Any:
        index = len(self.sent)
        self.sent.append(operation)
        kind = self._due(index, operation)
        if kind is None:
            return real(operation, *request)
        self.injected.append(f"{operation}:{kind}")
        if kind == TIMEOUT_BEFORE:
            raise TimeoutError("injected: connect timed out")
        if kind == TIMEOUT_AFTER:
            real(operation, *request)
            raise TimeoutError("injected: read timed out")
        body = json.dumps({"__type": f"com.amazonaws#{kind}", "message": "injected fault"})
        return SERVICE_ERRORS[kind], body.encode(), {}

    def _due(self, index: int, operation: str) -> str | None:
        if self._plan is None:
            return None
        at, target, kind, times = self._plan
        if index < at or times <= 0:
            return None
        if not target:
            target = operation
        if operation != target:
            return None
        self._plan = (at, target, kind, times - 1)
        return kind


class DynamoProxy:
    """An HTTP hop in front of a moto server, for the authorizer's session reads (an
    ``authcore.awsjson`` client the runtime builds and keeps, out of ``TransportFaults``'
    reach). moto's server and its in-process mock share one state, so the reads see what
    the handlers wrote.

    Records each request (``sent``: operations, ``requests``: their JSON bodies,
    ``connections``: the client's port, one per TCP connection) and fails
    chosen ones as DynamoDB or the network would: a service error answered in DynamoDB's
    format, ``TIMEOUT_BEFORE`` (the connection dropped, nothing forwarded) or
    ``TIMEOUT_AFTER`` (forwarded, then no answer for ``hang_seconds``: the client's own
    timeout must end the wait).
    """

    def __init__(self, upstream: str, *, hang_seconds: float = 0.5) -> None:
        self.sent: list[str] = []
        self.requests: list[dict[str, Any]] = []
        self.connections: list[int] = []
        self.hang_seconds = hang_seconds
        self._plan: tuple[str, str, int] | None = None
        upstream_parts = urlsplit(upstream)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                operation = self.headers.get("x-amz-target", "").rsplit(".", 1)[-1]
                kind = proxy._due(operation)
                proxy.sent.append(operation)
                proxy.requests.append(json.loads(body or b"{}"))
                proxy.connections.append(self.client_address[1])
                if kind == TIMEOUT_BEFORE:
                    self.close_connection = True
                    return
                status, answer = SERVICE_ERRORS.get(kind or "", 0), b""
                if not status:
                    upstream = http.client.HTTPConnection(
                        upstream_parts.hostname, upstream_parts.port, timeout=10
                    )
                    upstream.request("POST", "/", body=body, headers=dict(self.headers))
                    response = upstream.getresponse()
                    status, answer = response.status, response.read()
                    upstream.close()
                if kind == TIMEOUT_AFTER:
                    time.sleep(proxy.hang_seconds)
                    self.close_connection = True
                    return
                if kind is not None:
                    answer = json.dumps(
                        {"__type": f"com.amazonaws.dynamodb.v20120810#{kind}", "message": "x"}
                    ).encode()
                self.send_response(status)
                self.send_header("content-type", "application/x-amz-json-1.0")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def operations(self) -> list[str]:
        return self.sent

    def fail(self, kind: str, *, operation: str | None = None, times: int = 99) -> None:
        """Fail the next ``times`` requests of ``operation`` (any, if None) with ``kind``."""
        assert kind in FAULT_KINDS, kind
        self._plan = (operation or "", kind, times)

    def clear(self) -> None:
        self.sent.clear()
        self.requests.clear()
        self.connections.clear()

    def reset(self) -> None:
        self.clear()
        self._plan = None

    def _due(self, operation: str) -> str | None:
        if self._plan is None:
            return None
        target, kind, times = self._plan
        if times <= 0 or (target and operation != target):
            return None
        self._plan = (target, kind, times - 1)
        return kind

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def session_check_via(runtime: Any, endpoint: str, monkeypatch: Any) -> Any:
    """Build ``runtime``'s session check now (its cold start), its reads sent to
    ``endpoint`` (a moto server, or a ``DynamoProxy`` in front of one): the reader fixes
    its endpoint when built, so no other client of the test is redirected."""
    with monkeypatch.context() as patch:
        patch.setenv("AWS_ENDPOINT_URL_DYNAMODB", endpoint)
        return runtime.session_checker()
