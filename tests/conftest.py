"""Fixtures shared by every tier: a moto-backed stack built from template.yaml."""

from __future__ import annotations

import pytest
from moto import mock_aws
from support import DEMO_PASSWORD, LambdaContext, create_stack

from authcore.runtime import signing


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


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext()


@pytest.fixture
def stack(monkeypatch):
    with mock_aws():
        yield create_stack(monkeypatch)
        signing.reset()
    signing.reset()


@pytest.fixture
def demo_user(stack):
    return stack.admin.create_user("sam", DEMO_PASSWORD, "profile")
