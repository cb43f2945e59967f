"""Another service verifying our tokens on its own, with an independent JOSE
library (joserfc, not PyJWT) that discovers the keys from the OpenID
configuration, as API Gateway's native JWT authorizers and any resource
server would."""

from __future__ import annotations

import pytest
import requests
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet

from tests.e2e.conftest import LocalStack
from tests.e2e.test_walkthrough import login

pytestmark = pytest.mark.e2e


def discover(stack: LocalStack) -> tuple[str, KeySet]:
    configuration = requests.get(
        f"{stack.base_url}/.well-known/openid-configuration", timeout=10
    ).json()
    jwks = requests.get(configuration["jwks_uri"], timeout=10)
    assert jwks.status_code == 200
    assert jwks.headers["Cache-Control"].startswith("public, max-age=")
    return configuration["issuer"], KeySet.import_key_set(jwks.json())


def test_tokens_verify_with_an_independent_library_from_discovery(local_stack):
    issuer, keys = discover(local_stack)
    assert issuer == local_stack.base_url  # the local stack's issuer is its own origin
    access_token = login(local_stack, "body").json()["access_token"]
    token = jwt.decode(access_token, keys, algorithms=["ES256"])
    assert token.header["typ"] == "at+jwt"
    registry = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": "api"},
        sub={"essential": True},
        exp={"essential": True},
        jti={"essential": True},
    )
    registry.validate(token.claims)  # raises on any mismatch
    assert token.claims["iss"] == issuer  # byte for byte, as API Gateway compares it
    assert token.claims["username"] == "sam"


def test_the_published_keys_are_public_only_and_pinned(local_stack):
    _, keys = discover(local_stack)
    assert len(list(keys)) >= 2
    raw = requests.get(f"{local_stack.base_url}/.well-known/jwks.json", timeout=10).json()
    assert len(raw["keys"]) >= 2  # the current key and the next one, published ahead
    for key in raw["keys"]:
        assert key["alg"] == "ES256"
        assert key["use"] == "sig"
        assert not {"d", "p", "q", "dp", "dq", "qi", "oth", "k"} & key.keys()


def test_a_tampered_token_fails_the_independent_check(local_stack):
    _, keys = discover(local_stack)
    header, payload, signature = login(local_stack, "body").json()["access_token"].split(".")
    forged = f"{header}.{payload[:-4]}AAAA.{signature}"
    with pytest.raises((BadSignatureError, ValueError)):
        jwt.decode(forged, keys, algorithms=["ES256"])
