"""Under SnapStart a restored container has no keys in its environment, only the container
credentials endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI + AWS_CONTAINER_AUTHORIZATION_TOKEN),
which botocore reads by itself and the authorizer's hand-signed reads
(``sigv4.Credentials.from_env``) must read too: against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from authcore import sigv4
from authcore.errors import KeySourceError

TOKEN = "container-token-123"
SECRET = "container-secret-key"
EXPIRES = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)


class Endpoint:
    """What the endpoint answers next, and what it was asked."""

    def __init__(self) -> None:
        self.status = 200
        self.body: bytes = self.answer("ASIAFIRST")
        self.requests: list[dict[str, str]] = []

    @staticmethod
    def answer(access_key: str, expires: datetime = EXPIRES) -> bytes:
        return json.dumps(
            {
                "AccessKeyId": access_key,
                "SecretAccessKey": SECRET,
                "Token": "session-token",
                "Expiration": expires.isoformat().replace("+00:00", "Z"),
            }
        ).encode()


@pytest.fixture
def endpoint() -> Iterator[tuple[Endpoint, str]]:
    state = Endpoint()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append({"path": self.path, **dict(self.headers.items())})
            self.send_response(state.status)
            self.send_header("Content-Length", str(len(state.body)))
            self.end_headers()
            self.wfile.write(state.body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    sigv4.forget_credentials()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/2021-04-23/credentials"
    finally:
        server.shutdown()
        server.server_close()
        sigv4.forget_credentials()


def env_for(uri: str) -> dict[str, str]:
    return {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": uri,
        "AWS_CONTAINER_AUTHORIZATION_TOKEN": TOKEN,
    }


def test_environment_keys_still_win(endpoint):
    state, uri = endpoint
    env = {**env_for(uri), "AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "s"}
    assert sigv4.Credentials.from_env(env).access_key == "AKIDENV"
    assert state.requests == []


def test_credentials_come_from_the_endpoint_with_the_token(endpoint):
    state, uri = endpoint
    credentials = sigv4.Credentials.from_env(env_for(uri))
    assert credentials == sigv4.Credentials("ASIAFIRST", SECRET, "session-token")
    (request,) = state.requests
    assert request["path"] == "/2021-04-23/credentials"
    assert request["Authorization"] == TOKEN


def test_the_token_may_come_from_a_file(endpoint, tmp_path):
    state, uri = endpoint
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    env = {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": uri,
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": str(token_file),
    }
    assert sigv4.Credentials.from_env(env).access_key == "ASIAFIRST"
    assert state.requests[0]["Authorization"] == TOKEN


def test_credentials_are_reused_until_shortly_before_they_expire(endpoint, monkeypatch):
    state, uri = endpoint
    margin = sigv4.CONTAINER_REFRESH_MARGIN_SECONDS
    monkeypatch.setattr(sigv4, "now", lambda: EXPIRES.timestamp() - margin - 1)
    assert sigv4.Credentials.from_env(env_for(uri)).access_key == "ASIAFIRST"
    state.body = Endpoint.answer("ASIASECOND")
    assert sigv4.Credentials.from_env(env_for(uri)).access_key == "ASIAFIRST"
    assert len(state.requests) == 1
    # Inside the margin: fetched again.
    monkeypatch.setattr(sigv4, "now", lambda: EXPIRES.timestamp() - margin + 1)
    assert sigv4.Credentials.from_env(env_for(uri)).access_key == "ASIASECOND"
    assert len(state.requests) == 2


def test_forgetting_credentials_fetches_them_again(endpoint, monkeypatch):
    state, uri = endpoint
    monkeypatch.setattr(sigv4, "now", lambda: EXPIRES.timestamp() - 3600)
    sigv4.Credentials.from_env(env_for(uri))
    sigv4.forget_credentials()
    sigv4.Credentials.from_env(env_for(uri))
    assert len(state.requests) == 2


@pytest.mark.parametrize("status", [400, 403, 404, 500, 503])
def test_an_error_answer_is_a_key_source_error_without_the_body(endpoint, status):
    state, uri = endpoint
    state.status = status
    state.body = b'{"message": "' + SECRET.encode() + b'"}'
    with pytest.raises(KeySourceError) as raised:
        sigv4.Credentials.from_env(env_for(uri))
    assert str(status) in str(raised.value)
    assert SECRET not in str(raised.value)
    assert TOKEN not in str(raised.value)


def test_an_oversized_answer_is_refused(endpoint):
    state, uri = endpoint
    state.body = b" " * (sigv4.CONTAINER_MAX_BODY + 1) + Endpoint.answer("ASIAFIRST")
    with pytest.raises(KeySourceError, match="too large"):
        sigv4.Credentials.from_env(env_for(uri))


@pytest.mark.parametrize(
    "body",
    [b"not json", b"{}", b'{"AccessKeyId": "A"}', b'{"AccessKeyId": "", "SecretAccessKey": "s"}'],
)
def test_a_malformed_answer_is_refused(endpoint, body):
    state, uri = endpoint
    state.body = body
    with pytest.raises(KeySourceError, match="malformed"):
        sigv4.Credentials.from_env(env_for(uri))


@pytest.mark.parametrize(
    "uri",
    [
        "http://example.com/credentials",
        "http://10.0.0.1/credentials",
        "http://169.254.169.254/latest/meta-data/",
        "https://127.0.0.1/credentials",
        "file:///etc/passwd",
    ],
)
def test_only_http_to_the_loopback_or_the_container_hosts_is_allowed(uri, endpoint):
    state, _ = endpoint
    with pytest.raises(KeySourceError, match="endpoint refused"):
        sigv4.Credentials.from_env(env_for(uri))
    assert state.requests == []


def test_a_token_with_a_line_break_is_never_sent(endpoint):
    state, uri = endpoint
    env = {**env_for(uri), "AWS_CONTAINER_AUTHORIZATION_TOKEN": "a\r\nX-Injected: 1"}
    with pytest.raises(KeySourceError, match="invalid token"):
        sigv4.Credentials.from_env(env)
    assert state.requests == []


def test_an_unreachable_endpoint_is_a_key_source_error():
    sigv4.forget_credentials()
    with pytest.raises(KeySourceError, match="unreachable"):
        # Port 9 on the loopback: nothing listens (connection refused, at once).
        sigv4.Credentials.from_env(env_for("http://127.0.0.1:9/credentials"))


def test_without_keys_or_endpoint_there_are_no_credentials():
    with pytest.raises(KeySourceError, match="no credentials"):
        sigv4.Credentials.from_env({})
