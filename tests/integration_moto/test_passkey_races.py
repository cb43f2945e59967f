"""Passkeys under concurrency (contract §8), over real connections: moto in server mode,
every racer with boto3 clients of its own, as separate Lambda containers would have.

- One assertion presented by many clients at once signs in exactly once: its challenge
  is deleted, and its signature counter moved, under conditions in the transaction that
  writes the session; every other racer is refused, and one session exists.
- One registration response presented many times at once registers one passkey.
"""

from __future__ import annotations

import pytest
from support import race
from webauthn_authenticator import SoftAuthenticator, b64url

from authcore.clock import FrozenClock
from authcore.config import Settings
from authcore.mfa.passkey_store import PASSKEY_PREFIX, DynamoPasskeyStore
from authcore.mfa.passkeys import PasskeyService
from authcore.sessions.dynamo import DynamoSessionStore
from authcore.tokens.issue import TokenIssuer

RACERS = 8
RP_ID = "example.com"
ORIGIN = "https://app.example.com"
ISSUER = "https://auth.example.com"
SETTINGS = Settings(webauthn_rp_id=RP_ID, allowed_origins=frozenset({ORIGIN}))


@pytest.fixture
def server(moto_server):
    return moto_server.start()


def factory(server, clock):
    """Each call: a PasskeyService with clients (and a signer) of its own: one racer."""

    def build():
        dynamodb = server.client("dynamodb")
        return PasskeyService(
            SETTINGS,
            store=DynamoPasskeyStore(dynamodb, "users"),
            sessions=DynamoSessionStore(dynamodb, "sessions"),
            issuer=TokenIssuer(SETTINGS, server.signer()),
            clock=clock,
        )

    return build


def count(server, table, prefix=""):
    items = server.client("dynamodb").scan(TableName=table)["Items"]
    key = "username" if table == "users" else "sid"
    return len([i for i in items if i[key]["S"].startswith(prefix)])


def test_one_assertion_raced_by_many_clients_signs_in_exactly_once(server):
    clock = FrozenClock(1_800_000_000.0)
    user = server.admin.create_user("ann", "ann-has-a-long-passphrase", "profile")
    build = factory(server, clock)
    device = SoftAuthenticator(origin=ORIGIN, rp_id=RP_ID)
    service = build()
    options = service.registration_options(
        user_id=user.user_id, username="ann", amr={"pwd"}, auth_time=clock()
    )
    service.register(
        user_id=user.user_id,
        username="ann",
        challenge_id=options.challenge_id,
        credential=device.create(options.public_key),
        name=None,
        own_origin=ISSUER,
    )
    options = service.login_options("ann")
    assertion = device.get(options.public_key)

    def act(racer):
        return racer.login(
            challenge_id=options.challenge_id,
            credential=assertion,
            issuer=ISSUER,
            own_origin=ISSUER,
        )

    results = race(build, act, RACERS)

    outcomes = [r[0] if r else "unfinished" for r in results]
    assert outcomes.count("ok") == 1, results
    assert sorted({r[1] for r in results if r and r[0] == "refused"}) in (
        ["InvalidGrant"],
        ["InvalidGrant", "TemporarilyUnavailable"],
        ["TemporarilyUnavailable"],
    ), results
    assert count(server, "sessions") == 1
    (credential_id,) = device.credentials
    stored = server.client("dynamodb").get_item(
        TableName="users", Key={"username": {"S": PASSKEY_PREFIX + b64url(credential_id)}}
    )["Item"]
    assert stored["sign_count"]["N"] == "1"
    assert count(server, "users", "#webauthn#") == 0


def test_one_registration_response_raced_registers_one_passkey(server):
    clock = FrozenClock(1_800_000_000.0)
    user = server.admin.create_user("ann", "ann-has-a-long-passphrase", "profile")
    build = factory(server, clock)
    device = SoftAuthenticator(origin=ORIGIN, rp_id=RP_ID)
    options = build().registration_options(
        user_id=user.user_id, username="ann", amr={"pwd"}, auth_time=clock()
    )
    credential = device.create(options.public_key)

    def act(racer):
        return racer.register(
            user_id=user.user_id,
            username="ann",
            challenge_id=options.challenge_id,
            credential=credential,
            name=None,
            own_origin=ISSUER,
        )

    results = race(build, act, RACERS)

    assert [r[0] if r else "unfinished" for r in results].count("ok") == 1, results
    assert count(server, "users", PASSKEY_PREFIX) == 1
    item = server.client("dynamodb").get_item(TableName="users", Key={"username": {"S": "ann"}})
    assert len(item["Item"]["passkeys"]["SS"]) == 1
