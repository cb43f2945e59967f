"""Shared fixtures: a moto-backed stack built from template.yaml, sample events."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from authcore import runtime
from moto import mock_aws

from infra import template
from infra.admin import Admin

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
DEMO_PASSWORD = "correct-horse-battery-staple"
ALLOWED_ORIGIN = "https://app.example.com"


@pytest.fixture(autouse=True)
def _aws_environment(monkeypatch):
    # Never reach a real account from a test, whatever the developer's shell has.
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "ServerlessAuthTest")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")


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


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext()


@dataclass
class Stack:
    dynamodb: Any
    kms: Any
    key_id: str
    users_table: str
    sessions_table: str
    admin: Admin


def create_stack(monkeypatch) -> Stack:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    kms = boto3.client("kms", region_name="us-east-1")
    names = {"UsersTable": "users", "SessionsTable": "sessions"}
    for logical_id, name in names.items():
        dynamodb.create_table(**template.table_definition(logical_id, name))
    key_props = template.resources("AWS::KMS::Key")["SigningKey"]["Properties"]
    key_id = kms.create_key(KeySpec=key_props["KeySpec"], KeyUsage=key_props["KeyUsage"])[
        "KeyMetadata"
    ]["KeyId"]
    monkeypatch.setenv("USERS_TABLE", "users")
    monkeypatch.setenv("SESSIONS_TABLE", "sessions")
    monkeypatch.setenv("SIGNING_KEY_ID", key_id)
    monkeypatch.setenv("ALLOWED_ORIGINS", ALLOWED_ORIGIN)
    runtime.reset()
    admin = Admin.connect("users", "sessions", dynamodb)
    return Stack(dynamodb, kms, key_id, "users", "sessions", admin)


@pytest.fixture
def stack(monkeypatch):
    with mock_aws():
        yield create_stack(monkeypatch)
        runtime.reset()
    runtime.reset()


@pytest.fixture
def demo_user(stack):
    return stack.admin.create_user("sam", DEMO_PASSWORD, "profile")
