"""The authorizer's private key source: the keys table, read with one hand-signed Query.

Against moto in server mode (the source speaks HTTP itself, which in-process moto cannot
intercept), and its signature against botocore's own SigV4 signer byte for byte.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from jwt_forge import claims, forge

from authcore import sigv4
from authcore.clock import FrozenClock
from authcore.errors import KeySourceError
from authcore.keys.lifecycle import KeyLifecycle
from authcore.keys.ring import KeyRing, parse_jwks
from authcore.keys.signers import LocalSigner
from authcore.keys.source import PUBLISHED_STATES, KeysTableSource
from authcore.keys.table import PUBLISHED, KeyTable
from infra import template

FAKE = {
    "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "secret",
    "AWS_REGION": "us-east-1",
}


class LocalMaterial:
    """Private halves in memory: the lifecycle as the rotation function runs it."""

    backend = "local"

    def __init__(self) -> None:
        self.signers: dict[str, LocalSigner] = {}

    def create(self, alg: str) -> tuple[str, str, dict[str, Any]]:
        from authcore.keys.signers import public_jwk, thumbprint

        signer = LocalSigner.generate("", alg)
        kid = thumbprint(signer.public_key())
        self.signers[kid] = LocalSigner(signer.private_key, kid, alg)
        return kid, kid, public_jwk(signer.public_key(), kid, alg)

    def signer(self, record: Any) -> LocalSigner:
        return self.signers[record.kid]

    def destroy(self, record: Any) -> None:
        self.signers.pop(record.kid, None)


@pytest.fixture
def keys_table(moto_http: str, request: pytest.FixtureRequest) -> tuple[str, KeyTable]:
    name = f"keys-{request.node.name}"[:200].replace("[", "-").replace("]", "")
    db = boto3.client(
        "dynamodb",
        endpoint_url=moto_http,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    db.create_table(**template.table_definition("KeysTable", name))
    return name, KeyTable(db, name)


def test_the_published_states_are_the_jwks_ones():
    assert frozenset(PUBLISHED) == PUBLISHED_STATES


def test_the_signature_is_botocores_byte_for_byte():
    body = b'{"TableName": "keys"}'
    secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    request = AWSRequest(
        method="POST",
        url="https://dynamodb.eu-west-1.amazonaws.com/",
        data=body,
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "DynamoDB_20120810.Query",
        },
    )
    credentials = Credentials("AKIDEXAMPLE", secret, "session-token")
    SigV4Auth(credentials, "dynamodb", "eu-west-1").add_auth(request)
    when = datetime.strptime(request.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    ours = sigv4.signed_headers(
        method="POST",
        host="dynamodb.eu-west-1.amazonaws.com",
        path="/",
        region="eu-west-1",
        service="dynamodb",
        credentials=sigv4.Credentials("AKIDEXAMPLE", secret, "session-token"),
        now=when.timestamp(),
        headers={
            "content-type": "application/x-amz-json-1.0",
            "x-amz-target": "DynamoDB_20120810.Query",
        },
        payload_sha256=hashlib.sha256(body).hexdigest(),
    )
    assert ours["authorization"] == request.headers["Authorization"]
    assert ours["x-amz-security-token"] == "session-token"
    assert ours["x-amz-date"] == request.headers["X-Amz-Date"]


def dynamodb_endpoint(env, region):
    return sigv4.endpoint(env, "dynamodb", region)


def test_the_endpoint_is_botocores():
    assert dynamodb_endpoint({}, "eu-west-1") == "https://dynamodb.eu-west-1.amazonaws.com"
    assert dynamodb_endpoint({}, "cn-north-1") == "https://dynamodb.cn-north-1.amazonaws.com.cn"
    assert dynamodb_endpoint({"AWS_ENDPOINT_URL": "http://127.0.0.1:5/"}, "x") == (
        "http://127.0.0.1:5"
    )
    env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:5", "AWS_ENDPOINT_URL_DYNAMODB": "https://d"}
    assert dynamodb_endpoint(env, "x") == "https://d"


def test_the_source_publishes_what_the_jwks_does_and_sees_a_revocation_at_once(
    moto_http, keys_table
):
    name, table = keys_table
    material = LocalMaterial()
    lifecycle = KeyLifecycle(table, material)
    lifecycle.rotate()  # current + pending
    source = KeysTableSource(name, env={**FAKE, "AWS_ENDPOINT_URL": moto_http})
    records = table.load()
    published = {r.kid for r in records if r.state in PUBLISHED}
    assert set(parse_jwks(source())) == published
    current = next(r for r in records if r.state == "current")
    lifecycle.revoke(current.kid)
    # Strongly consistent: the very next read no longer carries the revoked key.
    assert current.kid not in parse_jwks(source())
    assert source()["keys"]  # and still the new current and pending keys


def test_a_ring_over_the_table_refuses_a_revoked_keys_tokens_within_its_max_age(
    moto_http, keys_table
):
    name, table = keys_table
    material = LocalMaterial()
    lifecycle = KeyLifecycle(table, material)
    lifecycle.rotate()
    current = next(r for r in table.load() if r.state == "current")
    clock = FrozenClock(1_800_000_000)
    ring = KeyRing(
        KeysTableSource(name, env={**FAKE, "AWS_ENDPOINT_URL": moto_http}),
        clock=clock,
        max_age=30,
    )
    assert ring.get(current.kid) is not None
    token_key = material.signers[current.kid]
    assert forge(token_key, claims())  # it signed while current
    lifecycle.revoke(current.kid)
    clock.advance(29.999)
    assert ring.get(current.kid) is not None  # not re-confirmed yet
    clock.advance(0.001)
    assert ring.get(current.kid) is None


@pytest.mark.parametrize(
    ("env", "why"),
    [
        ({"AWS_REGION": "us-east-1"}, "no credentials"),
        ({**FAKE, "AWS_ENDPOINT_URL": "http://dynamodb.example.com"}, "plain http elsewhere"),
    ],
)
def test_the_source_refuses_what_it_cannot_do_safely(env, why):
    with pytest.raises(KeySourceError):
        KeysTableSource("keys", env=env)()


def test_an_error_answer_is_a_failed_read(moto_http):
    source = KeysTableSource("no-such-table", env={**FAKE, "AWS_ENDPOINT_URL": moto_http})
    with pytest.raises(KeySourceError, match="answered 400"):
        source()
