"""Contract §9 over real HTTP against the local stack, with an OAuth client we did not
write (Authlib's ``OAuth2Session``) and a JOSE library we did not write (joserfc) to check
what it got: the token endpoint found through discovery, client_secret_basic,
client_secret_post and private_key_jwt, quotas under concurrency, and a client's token
refused by a route that acts on a user.

The clients come from LOCAL_CLIENTS_FILE (tests/e2e/conftest.py) or, where a test needs
one of its own, from the admin command line run against the stack with its .local/env.

Two places where Authlib 1.9.6's defaults and this server part (each pinned by a test):

- ``client_secret_basic``: Authlib base64-encodes ``id:secret`` as is (its
  ``encode_client_secret_basic``; the RFC-conforming encoding was merged and reverted
  upstream, authlib/authlib#594), while RFC 6749 §2.3.1, which the server follows,
  form-encodes each part first. A secret with ``+`` or ``%`` must be given to Authlib
  already form-encoded (``quote_plus``). The secrets the admin command line makes are
  URL-safe base64 and never meet this.
- ``private_key_jwt``: Authlib's assertions live an hour (``expires_in=3600``, not
  settable through ``PrivateKeyJWT``: authlib/authlib#857); the server accepts at most
  300 s (plus the 60 s leeway) so that the jti it must remember stays short-lived. A
  subclass passing ``expires_in`` is the way, as that issue suggests. The audience is
  set to the issuer with ``PrivateKeyJWT(token_endpoint=issuer)``: Authlib uses that
  argument as the ``aud`` and nothing else.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
import time
from typing import Any
from urllib.parse import parse_qs, quote_plus

import jwt
import pytest
import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from authlib.oauth2.rfc7523.assertion import private_key_jwt_sign
from cryptography.hazmat.primitives import serialization
from joserfc import jwt as jose_jwt
from joserfc.jwk import ECKey, KeySet

from tests.e2e.conftest import ROOT, STACK_SETTINGS, LocalStack
from tests.e2e.machine_clients import CLIENT_KEY, CLIENT_KEY_ID, CLIENTS

pytestmark = pytest.mark.e2e

ACCESS_TTL = int(STACK_SETTINGS["ACCESS_TOKEN_TTL_SECONDS"])
QUOTA = 5
RACERS = 12


# ---------------------------------------------------------------- helpers
@pytest.fixture(scope="module")
def discovery(local_stack: LocalStack) -> dict[str, Any]:
    answer = requests.get(f"{local_stack.base_url}/.well-known/openid-configuration", timeout=10)
    assert answer.status_code == 200
    document: dict[str, Any] = answer.json()
    assert document["token_endpoint"].startswith(document["issuer"])
    for method in ("client_secret_basic", "client_secret_post", "private_key_jwt"):
        assert method in document["token_endpoint_auth_methods_supported"]
    assert "ES256" in document["token_endpoint_auth_signing_alg_values_supported"]
    return document


def verified(discovery: dict[str, Any], access_token: str, client_id: str) -> dict[str, Any]:
    """The token checked by joserfc against the JWKS discovery names: signature, typ,
    the registered claims, and a client's token's shape (contract §9)."""
    jwks = requests.get(discovery["jwks_uri"], timeout=10)
    assert jwks.status_code == 200
    token = jose_jwt.decode(access_token, KeySet.import_key_set(jwks.json()), algorithms=["ES256"])
    assert token.header["typ"] == "at+jwt"
    registry = jose_jwt.JWTClaimsRegistry(
        leeway=60,
        iss={"essential": True, "value": discovery["issuer"]},
        aud={"essential": True, "value": "api"},
        sub={"essential": True, "value": client_id},
        client_id={"essential": True, "value": client_id},
        exp={"essential": True},
        iat={"essential": True},
        jti={"essential": True},
    )
    registry.validate(token.claims)
    claims: dict[str, Any] = token.claims
    assert isinstance(claims["scope"], str)  # may be empty: a client with no scopes
    assert claims["exp"] - claims["iat"] == ACCESS_TTL
    assert "sid" not in claims
    assert "username" not in claims
    return claims


def recorded(session: requests.Session) -> list[requests.PreparedRequest]:
    """The requests the session sends, as they went on the wire."""
    sent: list[requests.PreparedRequest] = []
    session.hooks["response"].append(lambda response, *_, **__: sent.append(response.request))
    return sent


def form_of(request: requests.PreparedRequest) -> dict[str, list[str]]:
    body = request.body or ""
    return parse_qs(body.decode() if isinstance(body, bytes) else body)


def assert_a_client_token(token: dict[str, Any], scope: str) -> None:
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == ACCESS_TTL
    assert token["scope"] == scope
    assert "refresh_token" not in token


def admin(local_stack: LocalStack, *args: str) -> dict[str, Any]:
    """The admin command line against the stack, with the environment it wrote."""
    done = subprocess.run(
        [sys.executable, "-m", "infra.admin", *args],
        env={**local_stack.env, "PATH": "/usr/bin:/bin"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    printed: dict[str, Any] = json.loads(done.stdout)
    return printed


# ---------------------------------------------------------------- client secrets
@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_authlib_gets_a_token_with_a_client_secret(
    local_stack: LocalStack, discovery: dict[str, Any], method: str
):
    client = CLIENTS["interop-secret"]
    session = OAuth2Session(
        client["client_id"], client["client_secret"], token_endpoint_auth_method=method
    )
    sent = recorded(session)
    token = session.fetch_token(discovery["token_endpoint"], grant_type="client_credentials")
    assert_a_client_token(token, "profile reports:read reports:write")
    claims = verified(discovery, token["access_token"], "interop-secret")
    assert claims["scope"] == "profile reports:read reports:write"
    (request,) = sent
    form = form_of(request)
    assert form["grant_type"] == ["client_credentials"]
    if method == "client_secret_basic":
        assert request.headers["Authorization"].startswith("Basic ")
        assert "client_secret" not in form
    else:
        assert "Authorization" not in request.headers
        assert form["client_secret"] == [client["client_secret"]]
    # A narrower scope, asked for.
    narrower = session.fetch_token(
        discovery["token_endpoint"], grant_type="client_credentials", scope="reports:read"
    )
    assert_a_client_token(narrower, "reports:read")


def test_authlib_is_refused_a_scope_the_client_does_not_have(discovery: dict[str, Any]):
    client = CLIENTS["interop-secret"]
    session = OAuth2Session(client["client_id"], client["client_secret"])
    with pytest.raises(OAuthError) as refused:
        session.fetch_token(
            discovery["token_endpoint"], grant_type="client_credentials", scope="admin"
        )
    assert refused.value.error == "invalid_scope"


def test_a_secret_with_plus_slash_colon_and_percent(discovery: dict[str, Any]):
    """RFC 6749 §2.3.1: client_secret_basic form-encodes each part before base64.
    Authlib does not (module docstring): given the secret already form-encoded it sends
    what the RFC says, and the server takes it; given it raw, the "+" reads as a space and
    "%25" as "%", and the server refuses it like any wrong secret. In the form body
    (client_secret_post) Authlib encodes it itself."""
    client = CLIENTS["interop-odd-secret"]
    secret = client["client_secret"]
    assert all(c in secret for c in "+/:%")
    endpoint = discovery["token_endpoint"]

    encoded = OAuth2Session(client["client_id"], quote_plus(secret))
    sent = recorded(encoded)
    token = encoded.fetch_token(endpoint, grant_type="client_credentials")
    verified(discovery, token["access_token"], "interop-odd-secret")
    (request,) = sent
    credentials = base64.b64decode(request.headers["Authorization"].removeprefix("Basic "))
    assert credentials.decode() == f"interop-odd-secret:{quote_plus(secret)}"

    raw = OAuth2Session(client["client_id"], secret)
    with pytest.raises(OAuthError) as refused:
        raw.fetch_token(endpoint, grant_type="client_credentials")
    assert refused.value.error == "invalid_client"

    posted = OAuth2Session(
        client["client_id"], secret, token_endpoint_auth_method="client_secret_post"
    )
    token = posted.fetch_token(endpoint, grant_type="client_credentials")
    verified(discovery, token["access_token"], "interop-odd-secret")


# ---------------------------------------------------------------- private_key_jwt
class ShortLivedPrivateKeyJWT(PrivateKeyJWT):
    """Authlib's PrivateKeyJWT with assertions of a minute instead of an hour
    (authlib/authlib#857: no argument for it)."""

    def __init__(self, *args: Any, expires_in: int = 60, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.expires_in = expires_in

    def sign(self, auth: Any, token_endpoint: str) -> str:
        signed: str = private_key_jwt_sign(
            auth.client_secret,
            client_id=auth.client_id,
            token_endpoint=token_endpoint,
            claims=None,  # a fresh jti each time (a claims dict would keep the first one)
            header=dict(self.headers or {}),
            alg=self.alg,
            expires_in=self.expires_in,
        )
        return signed


def signing_key() -> ECKey:
    pem = CLIENT_KEY.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return ECKey.import_key(pem)


def key_session(auth: PrivateKeyJWT) -> OAuth2Session:
    session = OAuth2Session(
        "interop-signed", signing_key(), token_endpoint_auth_method="private_key_jwt"
    )
    session.register_client_auth_method(auth)
    return session


def test_authlib_gets_tokens_with_private_key_jwt(discovery: dict[str, Any]):
    issuer = discovery["issuer"]
    # token_endpoint= is the assertion's aud: contract §9 wants the issuer, exactly.
    session = key_session(
        ShortLivedPrivateKeyJWT(issuer, headers={"kid": CLIENT_KEY_ID}, alg="ES256")
    )
    sent = recorded(session)
    first = session.fetch_token(discovery["token_endpoint"], grant_type="client_credentials")
    assert_a_client_token(first, "reports:read")
    verified(discovery, first["access_token"], "interop-signed")
    # Each request signs a new assertion (a new jti): the second is no replay.
    second = session.fetch_token(discovery["token_endpoint"], grant_type="client_credentials")
    verified(discovery, second["access_token"], "interop-signed")
    assertions = [form_of(request)["client_assertion"][0] for request in sent]
    claims = [jwt.decode(a, options={"verify_signature": False}) for a in assertions]
    assert [jwt.get_unverified_header(a)["kid"] for a in assertions] == [CLIENT_KEY_ID] * 2
    for one in claims:
        assert one["aud"] == issuer
        assert one["iss"] == one["sub"] == "interop-signed"
        assert one["exp"] - one["iat"] == 60
    assert claims[0]["jti"] != claims[1]["jti"]
    for request in sent:
        assert "Authorization" not in request.headers
        assert form_of(request)["client_assertion_type"] == [
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        ]


def test_authlibs_default_hour_long_assertion_is_refused(discovery: dict[str, Any]):
    """Pinned on purpose: an assertion is a password for as long as it lives, and its
    jti must be remembered that long; the server accepts at most 300 s (+ leeway)."""
    session = key_session(
        PrivateKeyJWT(discovery["issuer"], headers={"kid": CLIENT_KEY_ID}, alg="ES256")
    )
    sent = recorded(session)
    with pytest.raises(OAuthError) as refused:
        session.fetch_token(discovery["token_endpoint"], grant_type="client_credentials")
    assert refused.value.error == "invalid_client"
    (request,) = sent
    assertion = jwt.decode(
        form_of(request)["client_assertion"][0], options={"verify_signature": False}
    )
    assert assertion["exp"] - assertion["iat"] == 3600


def test_an_assertion_for_the_token_endpoint_url_is_refused(discovery: dict[str, Any]):
    """Authlib's default audience (the URL of the request) is not the issuer."""
    session = key_session(ShortLivedPrivateKeyJWT(headers={"kid": CLIENT_KEY_ID}, alg="ES256"))
    with pytest.raises(OAuthError) as refused:
        session.fetch_token(discovery["token_endpoint"], grant_type="client_credentials")
    assert refused.value.error == "invalid_client"


# ---------------------------------------------------------------- quota, admin, routes
def test_concurrent_requests_never_get_more_tokens_than_the_quota(
    local_stack: LocalStack, discovery: dict[str, Any]
):
    client_id = f"quota-{int(time.time() * 1000) % 10**9}"
    created = admin(local_stack, "create-client", client_id, "--quota", str(QUOTA))
    assert created["quota_per_hour"] == QUOTA
    secret = created["client_secret"]
    # The quota is per hour: never straddle the hour's end.
    if time.time() % 3600 > 3590:
        time.sleep(3600 - time.time() % 3600 + 1)
    barrier = threading.Barrier(RACERS)
    answers: list[requests.Response | None] = [None] * RACERS

    def racer(i: int) -> None:
        with requests.Session() as session:
            barrier.wait(timeout=60)
            answers[i] = session.post(
                discovery["token_endpoint"],
                data={"grant_type": "client_credentials"},
                auth=(client_id, secret),
                timeout=60,
            )

    threads = [threading.Thread(target=racer, args=(i,)) for i in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    statuses = sorted(answer.status_code for answer in answers if answer is not None)
    assert statuses == [200] * QUOTA + [429] * (RACERS - QUOTA)
    for answer in answers:
        assert answer is not None
        if answer.status_code == 429:
            assert answer.json()["error"] == "too_many_requests"
            assert int(answer.headers["Retry-After"]) >= 1
        else:
            verified(discovery, answer.json()["access_token"], client_id)


def test_rotation_and_revocation_from_the_admin_command_line(
    local_stack: LocalStack, discovery: dict[str, Any]
):
    """The admin environment the stack wrote carries its pepper: a secret the command
    line makes is one the token endpoint takes."""
    client_id = f"rotated-{int(time.time() * 1000) % 10**9}"
    first = admin(local_stack, "create-client", client_id, "--scope", "reports:read")
    second = admin(local_stack, "rotate-secret", client_id)
    endpoint = discovery["token_endpoint"]

    def fetch(secret: str) -> int:
        answer = requests.post(
            endpoint,
            data={"grant_type": "client_credentials"},
            auth=(client_id, secret),
            timeout=30,
        )
        return answer.status_code

    assert fetch(first["client_secret"]) == fetch(second["client_secret"]) == 200
    admin(local_stack, "revoke-secret", client_id, first["secrets"][0]["secret_id"])
    assert fetch(first["client_secret"]) == 401
    assert fetch(second["client_secret"]) == 200
    listed = {c["client_id"]: c for c in admin_list(local_stack)}
    assert set(CLIENTS) <= set(listed)
    assert listed["interop-signed"]["jwks_kids"] == [CLIENT_KEY_ID]
    assert second["client_secret"] not in json.dumps(listed)


def admin_list(local_stack: LocalStack) -> list[dict[str, Any]]:
    listed: Any = admin(local_stack, "list-clients")
    return list(listed)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/me", None),
        ("GET", "/auth/sessions", None),
        ("POST", "/auth/password", {"current_password": "x" * 12, "new_password": "y" * 16}),
    ],
)
def test_a_client_token_is_refused_by_the_routes_of_a_users_session(
    local_stack: LocalStack,
    discovery: dict[str, Any],
    method: str,
    path: str,
    body: dict[str, str] | None,
):
    """Contract §9: routes that act on a user's session refuse a client's token with 403,
    though it is valid and carries every scope they could ask for (profile)."""
    client = CLIENTS["interop-secret"]
    session = OAuth2Session(client["client_id"], client["client_secret"])
    token = session.fetch_token(discovery["token_endpoint"], grant_type="client_credentials")
    assert "profile" in token["scope"].split()
    answer = requests.request(
        method,
        f"{local_stack.base_url}{path}",
        headers={"Authorization": f"Bearer {token['access_token']}"},
        json=body,
        timeout=10,
    )
    assert answer.status_code == 403, answer.text
    assert "interop-secret" not in answer.text
