"""Build arbitrary (valid or hostile) JWS tokens for the verifier's tests."""

from __future__ import annotations

import json
from typing import Any

from authcore import b64
from authcore.keys.signers import LocalSigner

ISSUER = "https://auth.example.com"
AUDIENCE = "api"
NOW = 1_800_000_000


def claims(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "user-1",
        "aud": AUDIENCE,
        "exp": NOW + 900,
        "iat": NOW,
        "jti": "jti-1",
        "client_id": "web",
        "sid": "sid-1",
        "scope": "profile",
        "username": "sam",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not ...}


def segment(value: Any) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value, separators=(",", ":")).encode()
    return b64.encode(raw)


def forge(
    signer: LocalSigner,
    payload: Any = None,
    *,
    header: Any = None,
    raw_header: bytes | None = None,
    raw_payload: bytes | None = None,
    signature: bytes | None = None,
) -> str:
    if header is None:
        header = {"alg": signer.alg, "kid": signer.kid, "typ": "at+jwt"}
    h = b64.encode(raw_header) if raw_header is not None else segment(header)
    p = (
        b64.encode(raw_payload)
        if raw_payload is not None
        else segment(claims() if payload is None else payload)
    )
    signing_input = f"{h}.{p}".encode()
    sig = signer.sign(signing_input) if signature is None else signature
    return f"{h}.{p}.{b64.encode(sig)}"
