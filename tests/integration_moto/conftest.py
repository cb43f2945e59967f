"""moto in server mode (infra.devkit.moto.MotoServer): the same DynamoDB and KMS, reached
over real HTTP connections, so that concurrent requests are concurrent on the wire."""

from __future__ import annotations

from typing import Any

import pytest
from support import ALLOWED_ORIGIN

from authcore.keys.lifecycle import CurrentSigner
from authcore.keys.material import KmsMaterial
from authcore.keys.table import KeyTable
from authcore.runtime import signing
from infra.admin import Admin
from infra.devkit import moto
from infra.devkit.local_stack import free_port


class ServerStack(moto.MotoServer):
    """The server, and on it the tables and key ring of template.yaml."""

    key_id: str = ""
    admin: Admin

    def start(self) -> ServerStack:
        super().start()
        self.key_id = moto.build(self.client("dynamodb"), self.client("kms")).kid
        self.admin = Admin.connect("users", "sessions", self.client("dynamodb"))
        return self

    def signer(self) -> Any:
        """The signer of the current key, over this server's KMS."""
        table = KeyTable(self.client("dynamodb"), "keys")
        return CurrentSigner(table, {"kms": KmsMaterial(self.client("kms"), stack="local")}).get()


@pytest.fixture
def moto_server(monkeypatch):
    """Not started: a test that forks must do so before the server thread runs."""
    server = ServerStack(free_port())
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
    for name, value in moto.table_variables().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ALLOWED_ORIGINS", ALLOWED_ORIGIN)
    yield server
    server.stop()
    signing.reset()
