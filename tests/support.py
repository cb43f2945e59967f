"""Helpers shared by the test tiers (fixtures live in the conftest files)."""

from __future__ import annotations

import base64
import copy
import json
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import boto3

from authcore.keys.lifecycle import KeyLifecycle
from authcore.keys.material import KmsMaterial
from authcore.keys.publish import published_jwks
from authcore.keys.table import KeyTable
from authcore.runtime import signing
from infra import template
from infra.admin import Admin

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
DEMO_PASSWORD = "correct-horse-battery-staple"
ALLOWED_ORIGIN = "https://app.example.com"


def load_event(name: str, **overrides: Any) -> dict[str, Any]:
    event = json.loads((EVENTS / name).read_text())
    event.update(copy.deepcopy(overrides))
    return event


@dataclass
class LambdaContext:
    function_name: str = "test-function"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id: str = "test-request-id"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


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


def bootstrap_keys(dynamodb: Any, kms: Any, table: str = "keys") -> str:
    """The signing-key ring as the deploy-time rotation leaves it; the current kid."""
    keys = KeyTable(dynamodb, table)
    KeyLifecycle(keys, KmsMaterial(kms, stack="local")).rotate()
    return next(r.kid for r in keys.load() if r.state == "current")


def create_stack(monkeypatch) -> Stack:
    """Tables exactly as template.yaml defines them, and the bootstrapped key ring, in moto."""
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    kms = boto3.client("kms", region_name="us-east-1")
    names = {"UsersTable": "users", "SessionsTable": "sessions", "KeysTable": "keys"}
    for logical_id, name in names.items():
        dynamodb.create_table(**template.table_definition(logical_id, name))
    key_id = bootstrap_keys(dynamodb, kms)
    monkeypatch.setenv("USERS_TABLE", "users")
    monkeypatch.setenv("SESSIONS_TABLE", "sessions")
    monkeypatch.setenv("KEYS_TABLE", "keys")
    monkeypatch.setenv("ALLOWED_ORIGINS", ALLOWED_ORIGIN)
    signing.reset()
    admin = Admin.connect("users", "sessions", dynamodb)
    admin.settle_seconds = 0  # moto's by_user index is consistent at once: nothing to wait for
    return Stack(dynamodb, kms, key_id, "users", "sessions", admin)


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


def with_body(name: str, body: Any, **overrides: Any) -> dict[str, Any]:
    event = load_event(name, **overrides)
    event["body"] = body if isinstance(body, str) else json.dumps(body)
    return event


class JwksHandler(BaseHTTPRequestHandler):
    jwks: bytes = b"{}"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(self.server.jwks)  # type: ignore[attr-defined]

    def log_message(self, *args: Any) -> None:
        pass


class Faults:
    """Make chosen AWS operations fail, through botocore's own event hooks."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: list[str] = []

    def fail(self, operation: str, code: str = "ThrottlingException", times: int = 10**6) -> None:
        from botocore.exceptions import ClientError

        remaining = [times]
        service = self._client.meta.service_model.service_name

        def raise_error(**_: Any) -> None:
            if remaining[0] > 0:
                remaining[0] -= 1
                raise ClientError(
                    {"Error": {"Code": code, "Message": "injected"}, "ResponseMetadata": {}},
                    operation,
                )

        self._client.meta.events.register(f"before-call.{service}.{operation}", raise_error)
