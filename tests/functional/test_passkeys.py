"""Passkeys (contract §8) through the real handlers over moto, with a software authenticator
(tests/webauthn_authenticator.py) standing in for the browser and the device: registration
while signed in, sign-in with and without a username, and every way a ceremony must fail.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import time_machine
from support import Answer, Faults, invoke, load_event
from webauthn_authenticator import SoftAuthenticator, b64url, unb64url

from authcore import aws
from authcore.mfa.passkey_store import CHALLENGE_PREFIX, PASSKEY_PREFIX
from authcore.runtime import signing
from functions.refresh import app as refresh_app
from functions.webauthn import app as passkey_app

RP_ID = "example.com"
ORIGIN = "https://app.example.com"
T0 = 1_800_000_000.0
REFUSED = {"error": "invalid_grant", "error_description": "The passkey was not accepted."}


@pytest.fixture
def rp(stack, monkeypatch):
    """The passkey function configured for app.example.com (the tests' allowed origin)."""
    monkeypatch.setenv("WEBAUTHN_RP_ID", RP_ID)
    monkeypatch.setenv("WEBAUTHN_RP_NAME", "Example")
    signing.reset()
    return stack


@pytest.fixture
def device() -> SoftAuthenticator:
    return SoftAuthenticator(origin=ORIGIN, rp_id=RP_ID)


def claims_of(access_token: str) -> dict[str, Any]:
    payload = access_token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


@pytest.fixture
def sam(rp, demo_user, login_as) -> dict[str, Any]:
    """The demo user, signed in with the password: the claims of the access token."""
    answer = login_as()
    assert answer.status == 200, answer.body
    return claims_of(answer.body["access_token"])


def _event(name: str, body: Any, claims: dict[str, Any] | None = None) -> dict[str, Any]:
    event = load_event(name)
    event["body"] = body if isinstance(body, str) else json.dumps(body)
    if claims is not None:
        event["requestContext"]["authorizer"] = {
            "lambda": {
                **{k: claims[k] for k in ("sub", "sid", "username", "scope")},
                "amr": " ".join(claims.get("amr", [])),
                "auth_time": claims.get("auth_time", 0),
            }
        }
    return event


def register_options(claims: dict[str, Any]) -> Answer:
    return invoke(passkey_app, _event("webauthn_register_options.json", {}, claims))


def register(claims: dict[str, Any], challenge_id: str, credential: dict[str, Any], **extra):
    body = {**credential, "challenge_id": challenge_id, **extra}
    return invoke(passkey_app, _event("webauthn_register.json", body, claims))


def login_options(username: str | None = None) -> Answer:
    body = {"username": username} if username is not None else {}
    return invoke(passkey_app, _event("webauthn_login_options.json", body))


def login(challenge_id: str, assertion: dict[str, Any], delivery: str = "body") -> Answer:
    body = {**assertion, "challenge_id": challenge_id, "delivery": delivery}
    return invoke(passkey_app, _event("webauthn_login.json", body))


def enrol(claims: dict[str, Any], device: SoftAuthenticator, **create) -> Answer:
    options = register_options(claims)
    assert options.status == 200, options.body
    credential = device.create(options.body["publicKey"], **create)
    return register(claims, options.body["challenge_id"], credential)


def sign_in(device: SoftAuthenticator, username: str | None = None, **get) -> Answer:
    options = login_options(username)
    assert options.status == 200, options.body
    assertion = device.get(options.body["publicKey"], **get)
    return login(options.body["challenge_id"], assertion)


def item(stack, key: str) -> dict[str, Any] | None:
    return stack.dynamodb.get_item(TableName="users", Key={"username": {"S": key}}).get("Item")


def challenge_items(stack) -> list[dict[str, Any]]:
    items = stack.dynamodb.scan(TableName="users")["Items"]
    return [i for i in items if i["username"]["S"].startswith(CHALLENGE_PREFIX)]


def session_count(stack) -> int:
    return stack.dynamodb.scan(TableName="sessions", Select="COUNT")["Count"]


@pytest.fixture
def enrolled(sam, device, rp) -> bytes:
    """sam with one passkey on ``device``: its credential id."""
    answer = enrol(sam, device)
    assert answer.status == 201, answer.body
    return unb64url(answer.body["credential_id"])


# ------------------------------------------------------------------ registration
def test_registration_options_name_the_rp_the_user_by_id_and_require_verification(sam, rp):
    answer = register_options(sam)
    assert answer.status == 200
    assert answer.headers["Cache-Control"] == "no-store"
    options = answer.body["publicKey"]
    assert options["rp"] == {"id": RP_ID, "name": "Example"}
    # The user handle is the stable id, never the username.
    assert unb64url(options["user"]["id"]) == sam["sub"].encode()
    assert options["user"]["name"] == "sam"
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["excludeCredentials"] == []
    assert len(unb64url(options["challenge"])) == 32
    # Only the digest of the challenge id is a key, and the item expires (TTL) after 5 minutes.
    (stored,) = challenge_items(rp)
    assert answer.body["challenge_id"] not in repr(stored)
    assert stored["ceremony"]["S"] == "registration"
    assert stored["user_id"]["S"] == sam["sub"]
    assert int(stored["expires_at"]["N"]) == int(float(stored["created_at"]["N"])) + 301


def test_a_registered_passkey_is_stored_with_its_key_and_listed_on_the_account(sam, device, rp):
    answer = enrol(sam, device)
    assert answer.status == 201, answer.body
    assert answer.body["name"] == "Passkey"
    assert answer.body["backed_up"] is True
    credential_id = unb64url(answer.body["credential_id"])
    stored = item(rp, PASSKEY_PREFIX + b64url(credential_id))
    assert stored["owner"]["S"] == "sam"
    assert stored["user_id"]["S"] == sam["sub"]
    assert stored["sign_count"]["N"] == "0"
    assert stored["backup_eligible"]["BOOL"] is True
    assert stored["backup_state"]["BOOL"] is True
    assert [t["S"] for t in stored["transports"]["L"]] == ["hybrid", "internal"]
    assert bytes(stored["public_key"]["B"])  # the COSE key
    assert item(rp, "sam")["passkeys"]["SS"] == [b64url(credential_id)]
    # The challenge was spent in the same transaction.
    assert challenge_items(rp) == []
    # A second registration excludes the first passkey.
    again = register_options(sam)
    assert [c["id"] for c in again.body["publicKey"]["excludeCredentials"]] == [
        b64url(credential_id)
    ]


def test_a_passkey_may_be_named(sam, device):
    options = register_options(sam)
    credential = device.create(options.body["publicKey"])
    answer = register(sam, options.body["challenge_id"], credential, name="  Work   laptop ")
    assert answer.status == 201
    assert answer.body["name"] == "Work laptop"


@pytest.mark.parametrize(
    ("create", "label"),
    [
        ({"origin": "https://evil.example.net"}, "wrong origin"),
        ({"rp_id": "evil.example.net"}, "wrong RP ID"),
        ({"uv": False}, "no user verification"),
    ],
)
def test_a_registration_response_that_does_not_verify_is_refused(sam, device, rp, create, label):
    answer = enrol(sam, device, **create)
    assert answer.status == 401, label
    assert answer.body["error"] == "invalid_grant"
    assert item(rp, "sam").get("passkeys") is None
    # One attempt per challenge: the refused one is gone.
    assert challenge_items(rp) == []


def test_a_registration_challenge_is_used_once(sam, device, rp):
    options = register_options(sam)
    credential = device.create(options.body["publicKey"])
    assert register(sam, options.body["challenge_id"], credential).status == 201
    second = SoftAuthenticator(origin=ORIGIN, rp_id=RP_ID).create(options.body["publicKey"])
    replay = register(sam, options.body["challenge_id"], second)
    assert replay.status == 401
    assert len(item(rp, "sam")["passkeys"]["SS"]) == 1


def test_another_users_registration_challenge_cannot_register_a_key(sam, device, rp, login_as):
    rp.admin.create_user("robin", "robin-has-a-long-passphrase", "profile")
    robin = claims_of(login_as("robin", "robin-has-a-long-passphrase").body["access_token"])
    options = register_options(sam)
    credential = device.create(options.body["publicKey"])
    answer = register(robin, options.body["challenge_id"], credential)
    assert answer.status == 401
    assert item(rp, "robin").get("passkeys") is None
    assert item(rp, "sam").get("passkeys") is None


def test_an_expired_registration_challenge_is_refused(sam, device, rp):
    with time_machine.travel(T0, tick=False) as clock:
        signing.reset()
        recent = dict(sam, auth_time=T0)  # a login made at T0 (step-up: recent enough)
        options = register_options(recent)
        credential = device.create(options.body["publicKey"])
        clock.shift(301)
        assert register(recent, options.body["challenge_id"], credential).status == 401
    assert item(rp, "sam").get("passkeys") is None


def test_registration_needs_a_recent_login_and_totp_when_the_account_has_it(sam, device, rp):
    """A passkey is a way in: a session whose login is older than 5 minutes cannot plant
    one, nor can a password-only login on an account with TOTP on (RFC 9470)."""
    old = dict(sam, auth_time=sam["auth_time"] - 301)
    refused = register_options(old)
    assert (refused.status, refused.body["error"]) == (401, "insufficient_user_authentication")
    assert "max_age=300" in refused.headers["WWW-Authenticate"]
    rp.dynamodb.update_item(
        TableName="users",
        Key={"username": {"S": "sam"}},
        UpdateExpression="SET totp_secret = :sealed",
        ExpressionAttributeValues={":sealed": {"B": b"sealed"}},
    )
    password_only = register_options(sam)
    assert (password_only.status, password_only.body["error"]) == (
        401,
        "insufficient_user_authentication",
    )
    with_second_factor = dict(sam, amr=["pwd", "otp", "mfa"])
    assert enrol(with_second_factor, device).status == 201


def test_registration_needs_a_users_session(rp):
    machine = {"sub": "reports-job", "sid": "", "username": "", "scope": "reports:read"}
    answer = register_options(machine)
    assert answer.status == 403


# ------------------------------------------------------------------ sign-in
def test_a_passkey_signs_in_with_amr_hwk_user_mfa_and_auth_time(enrolled, device, rp, sam):
    with time_machine.travel(T0, tick=False):
        signing.reset()
        answer = sign_in(device, "sam")
    assert answer.status == 200, answer.body
    assert answer.headers["Cache-Control"] == "no-store"
    claims = claims_of(answer.body["access_token"])
    assert claims["sub"] == sam["sub"]
    assert claims["username"] == "sam"
    assert claims["amr"] == ["hwk", "user", "mfa"]
    assert claims["auth_time"] == int(T0)
    stored = item(rp, PASSKEY_PREFIX + b64url(enrolled))
    assert stored["sign_count"]["N"] == "1"
    assert float(stored["last_used_at"]["N"]) == T0
    assert challenge_items(rp) == []
    # A refresh keeps how and when the user signed in.
    with time_machine.travel(T0 + 60, tick=False):
        signing.reset()
        refreshed = invoke(
            refresh_app,
            _event("refresh.json", {"refresh_token": answer.body["refresh_token"]}),
        )
    assert refreshed.status == 200, refreshed.body
    again = claims_of(refreshed.body["access_token"])
    assert again["amr"] == ["hwk", "user", "mfa"]
    assert again["auth_time"] == int(T0)


def test_the_answer_is_login_s_with_cookie_delivery(enrolled, device):
    options = login_options("sam")
    assertion = device.get(options.body["publicKey"])
    answer = login(options.body["challenge_id"], assertion, delivery="cookie")
    assert answer.status == 200
    assert set(answer.body) == {"token_type", "expires_in", "refresh_expires_in"}
    assert answer.cookie("__Host-access_token")
    assert answer.cookie("__Secure-refresh_token")


def test_usernameless_sign_in_finds_the_user_by_the_credential_id(enrolled, device, sam):
    options = login_options()
    assert options.body["publicKey"]["allowCredentials"] == []
    assert options.body["publicKey"]["userVerification"] == "required"
    answer = login(options.body["challenge_id"], device.get(options.body["publicKey"]))
    assert answer.status == 200, answer.body
    assert claims_of(answer.body["access_token"])["sub"] == sam["sub"]


def test_a_user_handle_that_is_not_the_owner_s_is_refused(enrolled, device, sam):
    options = login_options()
    assertion = device.get(options.body["publicKey"])
    assertion["response"]["userHandle"] = b64url(b"3f1c2b9e-0000-4000-8000-000000000001")
    assert login(options.body["challenge_id"], assertion).body == REFUSED


def test_sign_in_without_a_user_handle_uses_the_stored_owner(enrolled, device):
    assert sign_in(device, user_handle=False).status == 200


def test_login_options_never_tell_whether_an_account_exists(enrolled, rp):
    rp.admin.create_user("robin", "robin-has-a-long-passphrase", "profile")
    unknown = login_options("nobody")
    without = login_options("robin")
    anonymous = login_options()
    for answer in (unknown, without, anonymous):
        assert answer.status == 200
        assert answer.body["publicKey"]["allowCredentials"] == []
        assert set(answer.body) == {"challenge_id", "publicKey"}
        assert set(answer.body["publicKey"]) == set(unknown.body["publicKey"])
    known = login_options("SAM")
    assert [c["id"] for c in known.body["publicKey"]["allowCredentials"]] == [b64url(enrolled)]


def test_a_challenge_asked_for_one_username_cannot_sign_in_another(enrolled, device, rp):
    options = login_options("robin")
    assertion = device.get(options.body["publicKey"])
    assert login(options.body["challenge_id"], assertion).body == REFUSED


@pytest.mark.parametrize(
    ("get", "label"),
    [
        ({"origin": "https://evil.example.net"}, "wrong origin"),
        ({"rp_id": "evil.example.net"}, "wrong RP ID"),
        ({"uv": False}, "no user verification"),
        ({"kind": "webauthn.create"}, "a creation's client data"),
    ],
)
def test_an_assertion_that_does_not_verify_is_refused(enrolled, device, rp, get, label):
    answer = sign_in(device, "sam", **get)
    assert answer.status == 401, label
    assert answer.body == REFUSED
    assert answer.headers["WWW-Authenticate"] == 'Bearer error="invalid_grant"'
    assert session_count(rp) == 1  # sam's password session only
    assert item(rp, PASSKEY_PREFIX + b64url(enrolled))["sign_count"]["N"] == "0"


def test_a_signature_by_another_key_is_refused(enrolled, device, rp):
    options = login_options("sam")
    assertion = device.get(options.body["publicKey"])
    impostor = SoftAuthenticator(origin=ORIGIN, rp_id=RP_ID)
    impostor_options = {"challenge": options.body["publicKey"]["challenge"]}
    fake = impostor.create({"rp": {"id": RP_ID}, "user": {"id": b64url(b"x")}, "challenge": "AA"})
    forged = impostor.get(impostor_options, credential_id=unb64url(fake["rawId"]))
    assertion["response"]["signature"] = forged["response"]["signature"]
    assert login(options.body["challenge_id"], assertion).body == REFUSED


def test_a_replayed_assertion_is_refused(enrolled, device, rp):
    options = login_options("sam")
    assertion = device.get(options.body["publicKey"])
    assert login(options.body["challenge_id"], assertion).status == 200
    assert login(options.body["challenge_id"], assertion).body == REFUSED
    assert session_count(rp) == 2


def test_an_expired_challenge_is_refused(enrolled, device, rp):
    with time_machine.travel(T0, tick=False) as clock:
        signing.reset()
        options = login_options("sam")
        assertion = device.get(options.body["publicKey"])
        clock.shift(300)
        assert login(options.body["challenge_id"], assertion).body == REFUSED
    with time_machine.travel(T0, tick=False) as clock:
        signing.reset()
        options = login_options("sam")
        assertion = device.get(options.body["publicKey"])
        clock.shift(299)
        assert login(options.body["challenge_id"], assertion).status == 200


def test_a_registration_challenge_cannot_sign_in(enrolled, device, sam):
    options = register_options(sam)
    assertion = device.get({"challenge": options.body["publicKey"]["challenge"]})
    assert login(options.body["challenge_id"], assertion).body == REFUSED


def test_an_unknown_challenge_id_or_credential_is_refused(enrolled, device):
    options = login_options("sam")
    assertion = device.get(options.body["publicKey"])
    assert login("A" * 43, assertion).body == REFUSED
    options = login_options()
    stranger = SoftAuthenticator(origin=ORIGIN, rp_id=RP_ID)
    stranger.create({"rp": {"id": RP_ID}, "user": {"id": b64url(b"x")}, "challenge": "AA"})
    assert login(options.body["challenge_id"], stranger.get(options.body["publicKey"])).body == (
        REFUSED
    )


def test_a_sign_count_that_goes_backwards_is_refused_and_reported(
    enrolled, device, rp, monkeypatch
):
    events: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(
        signing, "security_event", lambda name, fields: events.append((name, fields))
    )
    signing.reset()
    assert sign_in(device, "sam", sign_count=7).status == 200
    assert events == []
    # A clone of the authenticator still at 5 (or at 7: not past the stored count).
    for count in (5, 7):
        answer = sign_in(device, "sam", sign_count=count)
        assert answer.body == REFUSED
    assert [name for name, _ in events] == ["passkey_sign_count_regressed"] * 2
    assert events[0][1]["stored_count"] == 7
    assert events[0][1]["presented_count"] == 5
    assert item(rp, PASSKEY_PREFIX + b64url(enrolled))["sign_count"]["N"] == "7"
    assert sign_in(device, "sam", sign_count=8).status == 200


def test_a_forged_low_count_is_refused_without_a_report(enrolled, device, monkeypatch):
    events: list[str] = []
    monkeypatch.setattr(signing, "security_event", lambda name, fields: events.append(name))
    signing.reset()
    assert sign_in(device, "sam", sign_count=3).status == 200
    options = login_options("sam")
    assertion = device.get(options.body["publicKey"], sign_count=2)
    assertion["response"]["signature"] = b64url(b"\x30\x06\x02\x01\x01\x02\x01\x01")
    assert login(options.body["challenge_id"], assertion).body == REFUSED
    assert events == []


def test_an_authenticator_without_a_counter_keeps_working(sam, rp):
    synced = SoftAuthenticator(origin=ORIGIN, rp_id=RP_ID, counting=False)
    assert enrol(sam, synced).status == 201
    assert sign_in(synced, "sam").status == 200
    assert sign_in(synced, "sam").status == 200


def test_a_disabled_user_cannot_sign_in_with_a_passkey(enrolled, device, rp):
    rp.admin.set_disabled("sam", True)
    assert sign_in(device, "sam").body == REFUSED
    assert sign_in(device).body == REFUSED
    # Nor do the options tell the account's passkeys any more.
    assert login_options("sam").body["publicKey"]["allowCredentials"] == []


def test_a_user_disabled_during_the_ceremony_is_refused_by_the_transaction(
    enrolled, device, rp, monkeypatch
):
    from authcore.mfa.passkey_store import DynamoPasskeyStore

    original = DynamoPasskeyStore.enabled_guard

    def disable_then_guard(self, owner, credential_id):
        rp.admin.set_disabled("sam", True)
        return original(self, owner, credential_id)

    monkeypatch.setattr(DynamoPasskeyStore, "enabled_guard", disable_then_guard)
    assert sign_in(device, "sam").body == REFUSED
    assert session_count(rp) == 1


# ------------------------------------------------------------------ malformed input
def _assertion_body(device: SoftAuthenticator) -> dict[str, Any]:
    options = login_options("sam")
    return {**device.get(options.body["publicKey"]), "challenge_id": options.body["challenge_id"]}


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b.pop("challenge_id"),
        lambda b: b.update(challenge_id=7),
        lambda b: b.update(challenge_id="x" * 500),
        lambda b: b.pop("rawId"),
        lambda b: b.update(type="password"),
        lambda b: b.update(response="nope"),
        lambda b: b["response"].pop("signature"),
        lambda b: b["response"].update(authenticatorData=["a"]),
        lambda b: b["response"].update(userHandle=12),
        lambda b: b.update(delivery="smoke-signal"),
        lambda b: b.update(authenticatorAttachment=1),
        lambda b: b.update(authenticatorAttachment="x" * 33),
        lambda b: b.update(rawId="!!!"),
        lambda b: b.update(rawId="A" * 513),
        lambda b: b["response"].update(signature="A" * 769),
        lambda b: b["response"].update(clientDataJSON="e30="),
        lambda b: b["response"].update(userHandle="***"),
    ],
)
def test_malformed_sign_in_requests_are_400(enrolled, device, mutate):
    body = _assertion_body(device)
    mutate(body)
    answer = invoke(passkey_app, _event("webauthn_login.json", body))
    assert answer.status == 400, answer.body
    assert answer.body["error"] == "invalid_request"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b.update(rawId="!!!"),
        lambda b: b.update(rawId="AAAA", id="AAAA"),
        lambda b: b["response"].update(clientDataJSON="e30"),
        lambda b: b["response"].update(clientDataJSON="!!"),
        lambda b: b["response"].update(authenticatorData="AAAA"),
        lambda b: b["response"].update(signature="AAAA"),
        lambda b: b["response"].update(userHandle="***"),
    ],
)
def test_hostile_field_values_are_refused_never_a_500(enrolled, device, mutate):
    body = _assertion_body(device)
    mutate(body)
    answer = invoke(passkey_app, _event("webauthn_login.json", body))
    assert answer.status in (400, 401), answer.body


@pytest.mark.parametrize(
    "body",
    ["not json", "[]", json.dumps({"username": 3}), json.dumps({"username": "a b"})],
)
def test_malformed_login_options_requests_are_400(rp, body):
    answer = invoke(passkey_app, _event("webauthn_login_options.json", body))
    assert answer.status == 400


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b["response"].pop("attestationObject"),
        lambda b: b["response"].update(transports="usb"),
        lambda b: b.update(name=""),
        lambda b: b.update(name="x" * 65),
        lambda b: b.update(name="bell\a"),
    ],
)
def test_malformed_registrations_are_400(sam, device, mutate):
    options = register_options(sam)
    body = {
        **device.create(options.body["publicKey"]),
        "challenge_id": options.body["challenge_id"],
    }
    mutate(body)
    answer = invoke(passkey_app, _event("webauthn_register.json", body, sam))
    assert answer.status == 400, answer.body


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b["response"].update(attestationObject="AAAA"),
        lambda b: b["response"].update(attestationObject=b64url(b"\xa1\x63fmt\x64none")),
        lambda b: b["response"].update(clientDataJSON=b64url(b"{")),
    ],
)
def test_hostile_attestations_are_refused_never_a_500(sam, device, mutate):
    options = register_options(sam)
    body = {
        **device.create(options.body["publicKey"]),
        "challenge_id": options.body["challenge_id"],
    }
    mutate(body)
    answer = invoke(passkey_app, _event("webauthn_register.json", body, sam))
    assert answer.status in (400, 401), answer.body


def test_other_methods_are_405(rp):
    event = _event("webauthn_login.json", "")
    event["requestContext"]["http"]["method"] = "GET"
    event["routeKey"] = event["requestContext"]["routeKey"] = "GET /auth/webauthn/login"
    assert invoke(passkey_app, event).status == 405


def test_a_cross_site_sign_in_is_forbidden(enrolled, device):
    body = _assertion_body(device)
    event = _event("webauthn_login.json", body)
    event["headers"]["sec-fetch-site"] = "cross-site"
    assert invoke(passkey_app, event).status == 403


# ------------------------------------------------------------------ failures
def test_dynamodb_failing_at_sign_in_is_503_and_writes_nothing(enrolled, device, rp):
    options = login_options("sam")
    assertion = device.get(options.body["publicKey"])
    Faults(aws.dynamodb()).fail("TransactWriteItems")
    answer = login(options.body["challenge_id"], assertion)
    assert answer.status == 503
    assert answer.headers["Retry-After"] == "1"
    assert session_count(rp) == 1
    assert item(rp, PASSKEY_PREFIX + b64url(enrolled))["sign_count"]["N"] == "0"
    assert len(challenge_items(rp)) == 1  # not spent: the client may try again


def test_dynamodb_failing_at_registration_is_503_and_writes_nothing(sam, device, rp):
    options = register_options(sam)
    credential = device.create(options.body["publicKey"])
    Faults(aws.dynamodb()).fail("TransactWriteItems")
    answer = register(sam, options.body["challenge_id"], credential)
    assert answer.status == 503
    assert item(rp, "sam").get("passkeys") is None
    items = rp.dynamodb.scan(TableName="users")["Items"]
    assert not [i for i in items if i["username"]["S"].startswith(PASSKEY_PREFIX)]


@pytest.mark.parametrize("operation", ["GetItem", "PutItem"])
def test_dynamodb_failing_at_the_options_is_503(rp, operation):
    Faults(aws.dynamodb()).fail(operation)
    answer = login_options("sam")
    assert answer.status == 503
