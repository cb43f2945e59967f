"""Handler tests: the real handlers, in-process, over moto and the sample events."""

from __future__ import annotations

import json
import threading
from http.server import ThreadingHTTPServer

import pytest
from leakwatch import LeakWatch
from session_checks import DynamoProxy
from support import DEMO_PASSWORD, JwksHandler, invoke, with_body

from authcore.edge import observability
from functions.authorizer import app as authorizer_app
from infra.devkit import moto


@pytest.fixture
def watch(stack, capfd, caplog):
    """Fails the test if a token reached any log channel while it ran."""
    leak_watch = LeakWatch(capfd, caplog, observability.logger)
    try:
        yield leak_watch
        leaks = leak_watch.leaks()
    finally:
        leak_watch.close()
    assert not leaks, "a token reached the logs"


@pytest.fixture
def login_as(stack):
    from functions.login import app as login

    def _login(username="sam", password=DEMO_PASSWORD, delivery="body", **event_overrides):
        event = with_body(
            "login.json",
            {"username": username, "password": password, "delivery": delivery},
            **event_overrides,
        )
        return invoke(login, event)

    return _login


@pytest.fixture
def jwks_server(stack, monkeypatch):
    """Serve the stack's JWKS over HTTP, as the deployed API does, for the authorizer."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), JwksHandler)
    server.jwks = json.dumps(stack.jwks()).encode()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("JWKS_URL", f"http://127.0.0.1:{server.server_address[1]}/jwks.json")
    authorizer_app.runtime.reset()
    yield server
    server.shutdown()
    authorizer_app.runtime.reset()


@pytest.fixture(scope="session")
def moto_http():
    """moto over HTTP, sharing the in-process mock's state: where the functions' clients
    send their requests under ``stack`` (``infra.devkit.moto.shared_server``)."""
    return moto.shared_server()


@pytest.fixture
def dynamo_proxy(moto_http, stack):
    proxy = DynamoProxy(moto_http)
    yield proxy
    proxy.stop()
