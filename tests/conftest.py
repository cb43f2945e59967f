"""Fixtures shared by every tier: a moto-backed stack built from template.yaml."""

from __future__ import annotations

import pytest
from support import DEMO_PASSWORD, LambdaContext, stack_on

from infra.devkit import moto
from infra.devkit.environment import isolated


@pytest.fixture(autouse=True)
def _aws_environment(monkeypatch):
    # Never reach a real account from a test, whatever the developer's shell has.
    for name, value in isolated().items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "ServerlessAuthTest")
    # The revocation feed (contract §10) is on by default and needs a source; the tests
    # of the feed turn it on with one (TestTheRevocationFeed in
    # tests/functional/test_session_checked_authorizer.py, tests/unit/test_revocation_feed.py),
    # the local stack and the end-to-end tier run with the template's default.
    monkeypatch.setenv("REVOCATION_POLL_SECONDS", "0")


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext()


@pytest.fixture
def stack(monkeypatch):
    with moto.mocked() as aws:
        yield stack_on(aws, monkeypatch)


@pytest.fixture
def demo_user(stack):
    return stack.admin.create_user("sam", DEMO_PASSWORD, "profile")
