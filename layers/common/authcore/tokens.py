"""Issuing access tokens: JWS compact JWTs in the RFC 9068 profile (typ at+jwt)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from authcore import b64
from authcore.keys import Signer

ACCESS_TOKEN_TYPE = "at+jwt"


@dataclass(frozen=True)
class Principal:
    """Who a token speaks for: the stable id, never the username, is ``sub``."""

    user_id: str
    username: str
    scope: str


def _segment(obj: Mapping[str, object]) -> str:
    return b64.encode(json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode())


def issue_access_token(
    signer: Signer,
    principal: Principal,
    *,
    sid: str,
    issuer: str,
    audience: str,
    client_id: str,
    now: float,
    ttl: int,
) -> str:
    issued_at = int(now)
    header = {"alg": signer.alg, "kid": signer.kid, "typ": ACCESS_TOKEN_TYPE}
    claims = {
        "iss": issuer,
        "sub": principal.user_id,
        "aud": audience,
        "exp": issued_at + ttl,
        "iat": issued_at,
        "jti": secrets.token_urlsafe(16),
        "client_id": client_id,
        "sid": sid,
        "scope": principal.scope,
        "username": principal.username,
    }
    signing_input = f"{_segment(header)}.{_segment(claims)}"
    signature = signer.sign(signing_input.encode("ascii"))
    return f"{signing_input}.{b64.encode(signature)}"
