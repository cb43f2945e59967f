"""Helpers shared by the test tiers (fixtures live in the conftest files)."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from authcore import awsjson
from authcore.awsjson import Sdk, ServiceError
from authcore.errors import AuthError
from authcore.keys.publish import published_jwks
from authcore.keys.table import KeyTable
from authcore.runtime import signing
from infra.admin import Admin
from infra.devkit import moto
from infra.devkit.context import LambdaContext as LambdaContext
from infra.devkit.events import load_event as load_event
from infra.devkit.events import with_body as with_body

ROOT = Path(__file__).resolve().parent.parent
DEMO_PASSWORD = "correct-horse-battery-staple"
ALLOWED_ORIGIN = "https://app.example.com"


@dataclass
class Stack:
    dynamodb: Any
    kms: Any
    key_id: str  # the kid of the current signing key
    users_table: str
    sessions_table: str
    admin: Admin

    def jwks(self) -> dict[str, Any]:
        """What /.well-known/jwks.json publishes."""
        return published_jwks(KeyTable(self.dynamodb, "keys").load())


def stack_on(aws: moto.Mocked, monkeypatch) -> Stack:
    """The functions' environment for moto's tables (built from template.yaml, with the
    bootstrapped key ring), and an admin for them."""
    for name, value in moto.table_variables().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ALLOWED_ORIGINS", ALLOWED_ORIGIN)
    signing.reset()
    admin = Admin.connect("users", "sessions", aws.dynamodb)
    admin.settle_seconds = 0  # moto's by_user index is consistent at once: nothing to wait for
    return Stack(aws.dynamodb, aws.kms, aws.key.kid, "users", "sessions", admin)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any
    cookies: list[str] = field(default_factory=list)

    def cookie(self, name: str) -> str | None:
        for cookie in self.cookies:
            if cookie.startswith(name + "="):
                return cookie
        return None

    def cookie_value(self, name: str) -> str | None:
        cookie = self.cookie(name)
        return cookie.split(";", 1)[0].split("=", 1)[1] if cookie else None


def invoke(module, event: dict[str, Any]) -> Answer:
    response = module.lambda_handler(event, LambdaContext())
    raw = response.get("body")
    if response.get("isBase64Encoded") and raw:
        raw = base64.b64decode(raw).decode()
    body = json.loads(raw) if raw else None
    return Answer(
        response["statusCode"], response.get("headers", {}), body, response.get("cookies", [])
    )


class JwksHandler(BaseHTTPRequestHandler):
    """The JWKS at any path, and the revocation feed's objects under /revocations/
    (``server.feed``: key -> body; missing keys are 404, nothing published)."""

    jwks: bytes = b"{}"

    def do_GET(self) -> None:
        if self.path.startswith("/revocations/"):
            self._feed_object(self.path[1:])
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(self.server.jwks)  # type: ignore[attr-defined]

    def _feed_object(self, key: str) -> None:
        body = getattr(self.server, "feed", {}).get(key)
        if body is None:
            self.send_response(404)
            self.end_headers()
            return
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("ETag", etag)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def race(prepare: Any, act: Any, racers: int) -> list[tuple[str, Any] | None]:
    """Start ``racers`` threads together, each with what ``prepare`` built for it
    beforehand (its own clients: a warm container races, not a cold one); each
    result is ("ok", what ``act`` returned), ("refused", the AuthError's name) or
    ("crash", the exception's repr); None if it never finished."""
    barrier = threading.Barrier(racers)
    results: list[tuple[str, Any] | None] = [None] * racers
    prepared = [prepare() for _ in range(racers)]

    def racer(i: int) -> None:
        barrier.wait(timeout=60)
        try:
            results[i] = ("ok", act(prepared[i]))
        except AuthError as error:
            results[i] = ("refused", type(error).__name__)
        except Exception as error:
            results[i] = ("crash", repr(error))

    threads = [threading.Thread(target=racer, args=(i,)) for i in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def call_hooks(client: Any) -> list[Any]:
    """The hooks an ``authcore.awsjson`` client runs before each call (its retries are
    inside the call), in order, as ``hook(operation, request)``: what botocore's
    ``before-call`` event was to its clients. A hook that raises fails the call."""
    hooks: list[Any] | None = client.__dict__.get("_before_call")
    if hooks is None:
        hooks = client._before_call = []
        real = client.request

        def request(operation: str, path: str, body: bytes, *rest: Any) -> Any:
            for hook in list(hooks):
                hook(operation, json.loads(body) if body else {})
            return real(operation, path, body, *rest)

        client.request = request
    return hooks


class Faults:
    """Make chosen AWS operations fail: the whole call (no retry absorbs it), before it
    is sent. On the functions' clients (``authcore.awsjson``) through ``call_hooks``; on
    botocore's (the tests' own, bare or in ``awsjson.Sdk``) through its event hooks."""

    def __init__(self, client: Any) -> None:
        self._client = client.client if isinstance(client, Sdk) else client

    def fail(self, operation: str, code: str = "ThrottlingException", times: int = 10**6) -> None:
        remaining = [times]

        def due() -> bool:
            if remaining[0] <= 0:
                return False
            remaining[0] -= 1
            return True

        if isinstance(self._client, awsjson.Client):

            def refuse(called: str, _: Any) -> None:
                if called == operation and due():
                    raise ServiceError(code, 400, response={"Error": {"Message": "injected"}})

            call_hooks(self._client).append(refuse)
            return
        from botocore.exceptions import ClientError

        def raise_error(**_: Any) -> None:
            if due():
                raise ClientError(
                    {"Error": {"Code": code, "Message": "injected"}, "ResponseMetadata": {}},
                    operation,
                )

        service = self._client.meta.service_model.service_name
        self._client.meta.events.register(f"before-call.{service}.{operation}", raise_error)


def sample_session(login_as: Any, username: str = "sam", password: str = DEMO_PASSWORD) -> Any:
    """A logged-in session as infra/samlocal/cases.py takes it (its sample events are
    edited with the token's claims): log in with the body delivery, read the claims."""
    from infra.samlocal.cases import Session

    answer = login_as(username, password)
    assert answer.status == 200, answer.body
    access = answer.body["access_token"]
    payload = access.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return Session(access, answer.body["refresh_token"], claims)
