"""The machine clients the shared local stack is started with (LOCAL_CLIENTS_FILE,
contract §9), with what the tests need to authenticate as them: their secrets and the
private_key_jwt client's key (the file holds its public half only).

Generated at import, so in a module of its own: pytest imports conftest.py under a name
of its own, and a test importing ``tests.e2e.conftest`` would import it (and draw new
secrets) a second time; this module is imported once, under one name.
"""

from __future__ import annotations

import secrets
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

CLIENT_KEY = ec.generate_private_key(ec.SECP256R1())
CLIENT_KEY_ID = "interop-k1"


def public_jwk(key: ec.EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
    jwk = jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "use": "sig", "alg": "ES256"}


MACHINE_CLIENTS: list[dict[str, Any]] = [
    {
        "client_id": "interop-secret",
        "client_secret": secrets.token_urlsafe(32),
        # profile too: a user's route refusing its token must not be about the scope.
        "scope": "profile reports:read reports:write",
    },
    {
        # RFC 6749 §2.3.1: form-encoded before base64, so "+" and "%" must survive it.
        "client_id": "interop-odd-secret",
        "client_secret": f"odd+secret/with:colon%25and%2B-{secrets.token_hex(8)}",
        "scope": "reports:read",
    },
    {
        "client_id": "interop-signed",
        "jwks": {"keys": [public_jwk(CLIENT_KEY, CLIENT_KEY_ID)]},
        "scope": "reports:read",
    },
]
CLIENTS = {client["client_id"]: client for client in MACHINE_CLIENTS}
