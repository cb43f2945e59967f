"""Contract §9 through the real OAuth handler over moto: client authentication (Basic,
post, private_key_jwt), the client-credentials grant, scopes, quotas, introspection and
revocation."""

from __future__ import annotations

import base64
import time
from typing import Any
from urllib.parse import quote_plus, urlencode

import jwt
import pytest
import time_machine
from cryptography.hazmat.primitives.asymmetric import ec
from support import Answer, invoke, load_event

from authcore.clients.dynamo import DynamoClientStore
from authcore.clients.model import Client
from authcore.runtime import signing
from functions.oauth import app as oauth_app
from functions.refresh import app as refresh_app

PEPPER = "p" * 40
ISSUER = "https://abc123.execute-api.us-east-1.amazonaws.com"
INVALID_CLIENT = {"error": "invalid_client", "error_description": "Client authentication failed."}
T0 = 1_800_000_000.0


@pytest.fixture
def store(stack, monkeypatch) -> DynamoClientStore:
    monkeypatch.setenv("CLIENT_SECRET_PEPPER", PEPPER)
    signing.reset()
    return DynamoClientStore(stack.dynamodb, "clients")


def register(store, client_id="reports-job", scope="reports:read reports:write", **fields):
    client = Client(client_id, frozenset(scope.split()), **fields)
    client, secret = client.with_new_secret(PEPPER.encode(), time.time())
    store.create(client)
    return secret


def form_event(path: str, form: dict[str, str] | str, **headers: str) -> dict[str, Any]:
    event = load_event("login.json")
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["routeKey"] = event["requestContext"]["routeKey"] = f"POST {path}"
    event["headers"]["content-type"] = "application/x-www-form-urlencoded"
    event["headers"].update(headers)
    event["body"] = form if isinstance(form, str) else urlencode(form)
    return event


def basic(client_id: str, secret: str) -> str:
    pair = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(pair).decode()


def token(form: dict[str, str], **headers: str) -> Answer:
    return invoke(oauth_app, form_event("/oauth2/token", form, **headers))


def grant(client_id: str, secret: str, **form: str) -> Answer:
    return token(
        {"grant_type": "client_credentials", **form}, authorization=basic(client_id, secret)
    )


# ------------------------------------------------------------------ the grant
def test_client_secret_basic_gets_an_rfc9068_token_with_no_session(store, stack):
    secret = register(store)
    answer = grant("reports-job", secret)
    assert answer.status == 200
    assert set(answer.body) == {"access_token", "token_type", "expires_in", "scope"}
    assert answer.body["token_type"] == "Bearer"
    assert answer.body["scope"] == "reports:read reports:write"
    assert answer.headers["Cache-Control"] == "no-store"
    header = jwt.get_unverified_header(answer.body["access_token"])
    assert header["typ"] == "at+jwt"
    claims = jwt.decode(
        answer.body["access_token"],
        jwt.PyJWKSet.from_dict(stack.jwks())[header["kid"]].key,
        algorithms=["ES256"],
        audience="api",
        issuer=ISSUER,
    )
    assert claims["sub"] == claims["client_id"] == "reports-job"
    assert "sid" not in claims
    assert "username" not in claims
    assert claims["exp"] - claims["iat"] == answer.body["expires_in"] == 900


def test_client_secret_post_and_a_narrower_scope(store):
    secret = register(store)
    answer = token(
        {
            "grant_type": "client_credentials",
            "client_id": "reports-job",
            "client_secret": secret,
            "scope": "reports:read",
        }
    )
    assert (answer.status, answer.body["scope"]) == (200, "reports:read")


def test_basic_credentials_are_form_decoded_before_base64(store, monkeypatch):
    # RFC 6749 §2.3.1: a secret with + / : % must survive; a raw "+" would be a space.
    client = Client("weird-secret", frozenset({"a"}))
    secret = "a+b/c:d%e f"
    from authcore.clients.model import ClientSecret, secret_digest

    store.create(
        Client(
            client.client_id,
            client.scope,
            secrets=(ClientSecret("x", secret_digest(PEPPER.encode(), secret), time.time() + 60),),
        )
    )
    assert grant("weird-secret", secret).status == 200
    raw = base64.b64encode(f"weird-secret:{secret}".encode()).decode()
    refused = token({"grant_type": "client_credentials"}, authorization=f"Basic {raw}")
    assert refused.status == 401


def test_unknown_client_and_wrong_secret_answer_identically(store):
    secret = register(store)
    answers = [
        grant("reports-job", secret + "x"),
        grant("nobody-here", secret),
        grant("reports-job", ""),
        token({"grant_type": "client_credentials"}, authorization="Basic !!!"),
        token({"grant_type": "client_credentials"}),
    ]
    for answer in answers:
        assert (answer.status, answer.body) == (401, INVALID_CLIENT)
        assert answer.headers["WWW-Authenticate"].startswith("Basic")


def test_a_disabled_client_is_an_unknown_client(store):
    secret = register(store, status="disabled")
    assert (grant("reports-job", secret).status, grant("reports-job", secret).body) == (
        401,
        INVALID_CLIENT,
    )


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"grant_type": "password"}, "unsupported_grant_type"),
        ({}, "invalid_request"),
        ({"grant_type": "client_credentials", "scope": "admin"}, "invalid_scope"),
        ({"grant_type": "client_credentials", "scope": "reports:read admin"}, "invalid_scope"),
    ],
)
def test_rfc6749_errors_are_400(store, form, error):
    secret = register(store)
    answer = token(form, authorization=basic("reports-job", secret))
    assert (answer.status, answer.body["error"]) == (400, error)


def test_two_authentication_methods_at_once_are_invalid_request(store):
    secret = register(store)
    answer = token(
        {"grant_type": "client_credentials", "client_id": "reports-job", "client_secret": secret},
        authorization=basic("reports-job", secret),
    )
    assert (answer.status, answer.body["error"]) == (400, "invalid_request")


def test_repeated_parameters_and_json_bodies_are_refused(store):
    secret = register(store)
    twice = invoke(
        oauth_app,
        form_event(
            "/oauth2/token",
            "grant_type=client_credentials&scope=a&scope=b",
            authorization=basic("reports-job", secret),
        ),
    )
    assert (twice.status, twice.body["error"]) == (400, "invalid_request")
    as_json = form_event("/oauth2/token", '{"grant_type": "client_credentials"}')
    as_json["headers"]["content-type"] = "application/json"
    assert invoke(oauth_app, as_json).status == 415


def test_secret_rotation_both_work_in_the_overlap_and_the_old_fails_after(store):
    first = register(store)
    client = store.get("reports-job")
    rotated, second = client.with_new_secret(PEPPER.encode(), time.time())
    store.replace(client, rotated)
    assert grant("reports-job", first).status == 200
    assert grant("reports-job", second).status == 200
    # Revoking the old secret (the admin drops it) ends the overlap.
    current = store.get("reports-job")
    from authcore.records import replace

    store.replace(current, replace(current, secrets=current.secrets[-1:]))
    assert grant("reports-job", first).status == 401
    assert grant("reports-job", second).status == 200
    # A third rotation keeps at most two secrets alive.
    current = store.get("reports-job")
    third_client, _ = current.with_new_secret(PEPPER.encode(), time.time())
    fourth_client, _ = third_client.with_new_secret(PEPPER.encode(), time.time())
    assert len(fourth_client.secrets) == 2


def test_an_expired_secret_fails(store):
    with time_machine.travel(T0, tick=False) as clock:
        client = Client("short-lived", frozenset({"a"}))
        client, secret = client.with_new_secret(PEPPER.encode(), T0, lifetime=60)
        store.create(client)
        assert grant("short-lived", secret).status == 200
        clock.shift(61)
        assert grant("short-lived", secret).status == 401


def test_the_quota_is_per_client_per_hour_with_retry_after(store):
    secret = register(store, quota_per_hour=3)
    other = register(store, client_id="other-job", quota_per_hour=3)
    with time_machine.travel(T0 + 1800, tick=False) as clock:
        assert [grant("reports-job", secret).status for _ in range(4)] == [200, 200, 200, 429]
        refused = grant("reports-job", secret)
        assert refused.body["error"] == "too_many_requests"
        assert refused.headers["Retry-After"] == "1800"
        assert grant("other-job", other).status == 200
        clock.shift(1800)
        assert grant("reports-job", secret).status == 200


# ------------------------------------------------------------------ private_key_jwt
@pytest.fixture
def key_client(store):
    key = ec.generate_private_key(ec.SECP256R1())
    public = jwt.PyJWK.from_json(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key())).key
    jwk = jwt.algorithms.ECAlgorithm.to_jwk(public, as_dict=True)
    jwk.update({"kid": "k1", "use": "sig", "alg": "ES256"})
    store.create(Client("signed-job", frozenset({"reports:read"}), jwks={"keys": [jwk]}))
    return key


def assertion(key, *, aud=ISSUER, jti="j-1", lifetime=60, iss="signed-job"):
    now = int(time.time())
    claims = {"iss": iss, "sub": iss, "aud": aud, "jti": jti, "iat": now, "exp": now + lifetime}
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": "k1"})


def with_assertion(signed: str, **form: str) -> Answer:
    return token(
        {
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": signed,
            **form,
        }
    )


def test_private_key_jwt_gets_a_token_once_per_jti(key_client):
    signed = assertion(key_client)
    first = with_assertion(signed)
    assert (first.status, first.body["scope"]) == (200, "reports:read")
    replay = with_assertion(signed)
    assert (replay.status, replay.body) == (401, INVALID_CLIENT)


@pytest.mark.parametrize(
    "change",
    [
        {"aud": ISSUER + "/oauth2/token"},
        {"lifetime": 3600},
        {"lifetime": -120},
        {"iss": "reports-job"},
    ],
)
def test_private_key_jwt_refusals_are_invalid_client(key_client, store, change):
    register(store)  # reports-job exists but has no keys
    answer = with_assertion(assertion(key_client, **change))
    assert (answer.status, answer.body) == (401, INVALID_CLIENT)


def test_private_key_jwt_with_a_mismatched_client_id_is_refused(key_client):
    answer = with_assertion(assertion(key_client), client_id="reports-job")
    assert answer.status in (400, 401)


# ------------------------------------------------------------------ introspection
def introspect(client_id: str, secret: str, token_value: str) -> Answer:
    return invoke(
        oauth_app,
        form_event(
            "/oauth2/introspect", {"token": token_value}, authorization=basic(client_id, secret)
        ),
    )


def test_introspection_of_client_and_user_tokens_follows_the_session(store, demo_user, login_as):
    from support import with_body

    from functions.logout import app as logout_app

    secret = register(store)
    own = grant("reports-job", secret).body["access_token"]
    active = introspect("reports-job", secret, own)
    assert active.status == 200
    assert active.body["active"] is True
    assert active.body["client_id"] == active.body["sub"] == "reports-job"
    assert "sid" not in active.body

    tokens = login_as().body
    user = introspect("reports-job", secret, tokens["access_token"])
    assert (user.body["active"], user.body["username"]) == (True, "sam")
    invoke(logout_app, with_body("logout.json", {"refresh_token": tokens["refresh_token"]}))
    assert introspect("reports-job", secret, tokens["access_token"]).body == {"active": False}


@pytest.mark.parametrize("garbage", ["x", "a.b.c", "eyJhbGciOiJub25lIn0.e30."])
def test_introspection_of_garbage_is_inactive(store, garbage):
    secret = register(store)
    assert introspect("reports-job", secret, garbage).body == {"active": False}


def test_introspection_of_an_expired_token_is_inactive(store):
    secret = register(store)
    with time_machine.travel(T0, tick=False) as clock:
        own = grant("reports-job", secret).body["access_token"]
        clock.shift(900 + 61)
        assert introspect("reports-job", secret, own).body == {"active": False}


def test_introspection_needs_client_authentication(store):
    secret = register(store)
    own = grant("reports-job", secret).body["access_token"]
    assert introspect("reports-job", "wrong", own).status == 401


# ------------------------------------------------------------------ revocation
def revoke(client_id: str, secret: str, token_value: str) -> Answer:
    return invoke(
        oauth_app,
        form_event(
            "/oauth2/revoke", {"token": token_value}, authorization=basic(client_id, secret)
        ),
    )


def test_the_web_client_revokes_a_refresh_token(store, demo_user, login_as):
    from support import with_body

    web = register(store, client_id="web", scope="")
    tokens = login_as().body
    assert revoke("web", web, tokens["refresh_token"]).status == 200
    again = invoke(
        refresh_app, with_body("refresh.json", {"refresh_token": tokens["refresh_token"]})
    )
    assert again.status == 401


def test_another_client_cannot_revoke_a_users_token_and_learns_nothing(store, demo_user, login_as):
    from support import with_body

    secret = register(store)
    tokens = login_as().body
    answer = revoke("reports-job", secret, tokens["refresh_token"])
    assert (answer.status, answer.body) == (200, None)
    still = invoke(
        refresh_app, with_body("refresh.json", {"refresh_token": tokens["refresh_token"]})
    )
    assert still.status == 200
    assert revoke("reports-job", secret, "garbage").status == 200


def test_a_client_credentials_token_cannot_be_revoked(store):
    secret = register(store)
    own = grant("reports-job", secret).body["access_token"]
    answer = revoke("reports-job", secret, own)
    assert (answer.status, answer.body["error"]) == (400, "unsupported_token_type")


def test_a_disabled_clients_tokens_introspect_as_inactive(store):
    from authcore.records import replace

    secret = register(store)
    observer = register(store, client_id="observer")
    own = grant("reports-job", secret).body["access_token"]
    assert introspect("observer", observer, own).body["active"] is True
    current = store.get("reports-job")
    store.replace(current, replace(current, status="disabled"))
    assert introspect("observer", observer, own).body == {"active": False}


@pytest.mark.parametrize("client_id", ["", "x" * 3000, "a b"])
def test_a_client_id_no_client_can_have_is_invalid_client_not_a_503(store, client_id):
    answer = grant(client_id, "whatever")
    assert (answer.status, answer.body) == (401, INVALID_CLIENT)
