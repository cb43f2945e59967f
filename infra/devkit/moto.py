"""moto as the template deploys it: the tables of template.yaml and the signing-key ring as
the deploy-time rotation leaves it, in process (``mock_aws``) or over HTTP (``MotoServer``).

The authcore imports are made inside the functions: the layer must be importable first
(``environment.use_layer()``, or pytest's ``pythonpath``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from infra import template
from infra.devkit.environment import FAKE_CREDENTIALS, REGION

if TYPE_CHECKING:
    from authcore.keys.table import KeyRecord

# The tables the tests and benchmarks create: logical id -> table name.
TABLES = {
    "UsersTable": "users",
    "SessionsTable": "sessions",
    "KeysTable": "keys",
    "ClientsTable": "clients",
}
# The variables the functions receive the table names as (template: !Ref <logical id>).
TABLE_VARIABLES = {
    "UsersTable": "USERS_TABLE",
    "SessionsTable": "SESSIONS_TABLE",
    "KeysTable": "KEYS_TABLE",
    "ClientsTable": "CLIENTS_TABLE",
}


def table_variables(names: Mapping[str, str] = TABLES) -> dict[str, str]:
    """USERS_TABLE, SESSIONS_TABLE, KEYS_TABLE for these table names."""
    return {
        TABLE_VARIABLES[logical_id]: names.get(logical_id, "") for logical_id in TABLE_VARIABLES
    }


def create_tables(dynamodb: Any, names: Mapping[str, str] = TABLES) -> dict[str, str]:
    """Each table exactly as template.yaml defines it (keys, indexes, time to live)."""
    for logical_id, name in names.items():
        dynamodb.create_table(**template.table_definition(logical_id, name))
        attribute = template.ttl_attribute(logical_id)
        if attribute:
            dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": attribute},
            )
    return dict(names)


def bootstrap_keys(dynamodb: Any, kms: Any, table: str = "keys") -> KeyRecord:
    """The signing-key ring as the deploy-time rotation leaves it; its current key
    (``.kid``, the token header's; ``.ref``, the KMS key id)."""
    from authcore.keys.lifecycle import KeyLifecycle
    from authcore.keys.material import KmsMaterial
    from authcore.keys.table import KeyTable

    keys = KeyTable(dynamodb, table)
    KeyLifecycle(keys, KmsMaterial(kms, stack="local")).rotate()
    return next(r for r in keys.load() if r.state == "current")


# What the template's MfaSecretsKey is called where there is no template (tests,
# benchmarks): the default of MFA_KEY_ID (authcore.config).
MFA_KEY_ALIAS = "alias/authcore-mfa-secrets"


def create_mfa_key(kms: Any) -> str:
    """The symmetric key that seals TOTP secrets (template: MfaSecretsKey), under the
    alias the functions default to; its key id."""
    key_id: str = kms.create_key(
        Description="TOTP secrets", KeyUsage="ENCRYPT_DECRYPT", KeySpec="SYMMETRIC_DEFAULT"
    )["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=MFA_KEY_ALIAS, TargetKeyId=key_id)
    return key_id


def build(dynamodb: Any, kms: Any, names: Mapping[str, str] = TABLES) -> KeyRecord:
    """Tables and key ring; the process's cached signer and clients forgotten, so that
    the next handler call starts as a cold Lambda container would."""
    from authcore.runtime import signing

    create_tables(dynamodb, names)
    create_mfa_key(kms)
    current = bootstrap_keys(dynamodb, kms, names["KeysTable"])
    signing.reset()
    return current


@contextlib.contextmanager
def serialised_dynamodb() -> Iterator[None]:
    """DynamoDB applies each request to an item atomically: a conditional write is
    checked and applied with nothing in between. moto does not: its server handles
    requests on parallel threads, and between a condition check and the write another
    request can pass the same check (two conditional updates of one item both
    succeeding: seen 6 times in 30 runs of 50 racing threads with a short thread switch
    interval). Serialising moto's DynamoDB actions restores the guarantee the real
    service gives, and nothing more: the code under test still races over separate
    connections, and a store that read first and wrote second would still fork (see
    tests/integration_moto/test_concurrency.py's harness self-test). Nests: only the
    outermost patches."""
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.call_action
    if getattr(original, "_serialised", False):
        yield
        return
    lock = threading.Lock()

    def call_action(self: Any) -> Any:
        with lock:
            return original(self)

    call_action._serialised = True  # type: ignore[attr-defined]
    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
    try:
        yield
    finally:
        DynamoHandler.call_action = original  # type: ignore[method-assign]


class MotoServer:
    """moto in server mode on 127.0.0.1: DynamoDB and KMS over real HTTP connections, so
    that concurrent requests are concurrent on the wire. ``port`` 0 takes a free one at
    ``start``; a known port gives the URL before (a test that forks does so before the
    server thread exists)."""

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self._server: Any = None
        self._session: Any = None
        self._serialised = contextlib.ExitStack()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MotoServer:
        """Serve, with moto's state reset (in-process, moto's backends are global)."""
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per AWS call
        self._serialised.enter_context(serialised_dynamodb())
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        self.port = int(self._server.get_host_and_port()[1])
        reset = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")  # noqa: S310
        urllib.request.urlopen(reset).close()  # noqa: S310 - our own http://127.0.0.1
        return self

    def client(self, service: str) -> Any:
        """A client of its own: its own connection pool, sharing only the loaded
        service models. Create clients on one thread (a session is not safe to
        create clients from concurrently); use them on any."""
        import boto3
        from botocore.config import Config

        if self._session is None:
            self._session = boto3.session.Session()
        return self._session.client(
            service,
            region_name=REGION,
            endpoint_url=self.url,
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            config=Config(
                retries={"mode": "standard", "total_max_attempts": 3}, max_pool_connections=64
            ),
        )

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        self._serialised.close()


_shared: list[Any] = []
_shared_lock = threading.Lock()


def shared_server() -> str:
    """The URL of moto over HTTP in this process, sharing the in-process mock's state
    (moto's backends are global): the functions' own clients (``authcore.awsjson``) send
    real HTTP, which ``mock_aws`` (a botocore hook) never sees. Started on first use,
    one per process, stopped with it."""
    from moto.server import ThreadedMotoServer

    with _shared_lock:
        if not _shared:
            logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per AWS call
            server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            server.start()
            host, port = server.get_host_and_port()
            _shared.append(f"http://{host}:{port}")
        return str(_shared[0])


@dataclass
class Mocked:
    dynamodb: Any
    kms: Any
    key: KeyRecord  # the current signing key


@contextlib.contextmanager
def mocked(names: Mapping[str, str] = TABLES) -> Iterator[Mocked]:
    """moto in process (``mock_aws``), built: the tables and the key ring, for botocore's
    clients; the functions' own reach the same state over HTTP (``shared_server``, named
    by ``AWS_ENDPOINT_URL`` while this lasts). The process's signer and clients are
    forgotten on the way in and out, so that no cached client outlives the mock."""
    import boto3
    from moto import mock_aws

    from authcore.runtime import signing

    previous = os.environ.get("AWS_ENDPOINT_URL")
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        kms = boto3.client("kms", region_name=REGION)
        os.environ["AWS_ENDPOINT_URL"] = shared_server()
        try:
            yield Mocked(dynamodb, kms, build(dynamodb, kms, names))
        finally:
            if previous is None:
                os.environ.pop("AWS_ENDPOINT_URL", None)
            else:
                os.environ["AWS_ENDPOINT_URL"] = previous
            signing.reset()
    signing.reset()
