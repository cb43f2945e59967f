"""moto in server mode: the same DynamoDB and KMS, reached over real HTTP
connections, so that concurrent requests are concurrent on the wire."""

from __future__ import annotations

import logging
import socket
import threading
import urllib.request
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto.dynamodb.responses import DynamoHandler
from moto.server import ThreadedMotoServer
from support import ALLOWED_ORIGIN, bootstrap_keys

from authcore.keys.lifecycle import CurrentSigner
from authcore.keys.material import KmsMaterial
from authcore.keys.table import KeyTable
from authcore.runtime import signing
from infra import template
from infra.admin import Admin


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def one_request_at_a_time(call_action: Any) -> Any:
    """DynamoDB applies each request to an item atomically: a conditional write
    is checked and applied with nothing in between. moto does not: its server
    handles requests on parallel threads, and between a condition check and
    the write another request can pass the same check (two conditional updates
    of one item both succeeding: seen 6 times in 30 runs of 50 racing threads
    with a short thread switch interval). Serialising moto's DynamoDB actions
    restores the guarantee the real service gives, and nothing more: the code
    under test still races over separate connections, and a store that read
    first and wrote second would still fork (see the harness self-test)."""
    lock = threading.Lock()

    def serialised(self: Any) -> Any:
        with lock:
            return call_action(self)

    return serialised


@dataclass
class MotoServer:
    monkeypatch: Any
    port: int
    url: str = ""
    key_id: str = ""
    admin: Admin | None = None
    _server: ThreadedMotoServer | None = None
    _session: Any = None

    def client(self, service: str) -> Any:
        """A client of its own: its own connection pool, sharing only the loaded
        service models. Create clients on one thread (a session is not safe to
        create clients from concurrently); use them on any."""
        if self._session is None:
            self._session = boto3.session.Session()
        return self._session.client(
            service,
            region_name="us-east-1",
            endpoint_url=self.url,
            config=Config(
                retries={"mode": "standard", "total_max_attempts": 3}, max_pool_connections=64
            ),
        )

    def start(self) -> MotoServer:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        urllib.request.urlopen(
            urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        ).close()
        dynamodb, kms = self.client("dynamodb"), self.client("kms")
        tables = {"UsersTable": "users", "SessionsTable": "sessions", "KeysTable": "keys"}
        for logical_id, name in tables.items():
            dynamodb.create_table(**template.table_definition(logical_id, name))
        self.key_id = bootstrap_keys(dynamodb, kms)
        self.admin = Admin.connect("users", "sessions", dynamodb)
        signing.reset()
        return self

    def signer(self) -> Any:
        """The signer of the current key, over this server's KMS."""
        table = KeyTable(self.client("dynamodb"), "keys")
        return CurrentSigner(table, {"kms": KmsMaterial(self.client("kms"), stack="local")}).get()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()


@pytest.fixture
def moto_server(monkeypatch):
    """Not started: a test that forks must do so before the server thread runs."""
    monkeypatch.setattr(
        DynamoHandler, "call_action", one_request_at_a_time(DynamoHandler.call_action)
    )
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    port = free_port()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("USERS_TABLE", "users")
    monkeypatch.setenv("SESSIONS_TABLE", "sessions")
    monkeypatch.setenv("KEYS_TABLE", "keys")
    monkeypatch.setenv("ALLOWED_ORIGINS", ALLOWED_ORIGIN)
    server = MotoServer(monkeypatch, port, url=f"http://127.0.0.1:{port}")
    yield server
    server.stop()
    signing.reset()
