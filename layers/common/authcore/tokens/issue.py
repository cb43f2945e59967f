"""Issuing tokens: access tokens as JWS compact JWTs in the RFC 9068 profile
(typ at+jwt), and the access + refresh pair handed to a client by login and refresh."""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from authcore import b64
from authcore.config import Settings
from authcore.keys.signers import Signer
from authcore.tokens.claims import ACCESS_TOKEN_TYPE, AccessClaims
from authcore.tokens.refresh import RefreshToken


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
    claims: AccessClaims = {
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


def issue_client_token(
    signer: Signer,
    *,
    client_id: str,
    scope: str,
    issuer: str,
    audience: str,
    now: float,
    ttl: int,
) -> str:
    """A client-credentials access token (RFC 9068 §2.2): ``sub`` is the client's
    id, and there is no ``sid`` (no session) and no ``username``."""
    issued_at = int(now)
    header = {"alg": signer.alg, "kid": signer.kid, "typ": ACCESS_TOKEN_TYPE}
    claims = {
        "iss": issuer,
        "sub": client_id,
        "aud": audience,
        "exp": issued_at + ttl,
        "iat": issued_at,
        "jti": secrets.token_urlsafe(16),
        "client_id": client_id,
        "scope": scope,
    }
    signing_input = f"{_segment(header)}.{_segment(claims)}"
    signature = signer.sign(signing_input.encode("ascii"))
    return f"{signing_input}.{b64.encode(signature)}"


SecurityEvent = Callable[[str, dict[str, Any]], None]


def ignore_event(event: str, fields: dict[str, Any]) -> None:
    return None


@dataclass(frozen=True, repr=False)
class IssuedClientToken:
    access_token: str
    expires_in: int
    scope: str


@dataclass(frozen=True, repr=False)
class IssuedTokens:
    access_token: str
    expires_in: int
    refresh_token: RefreshToken
    refresh_expires_in: int


class TokenIssuer:
    """Signs with whatever key is current when asked (``signer`` is resolved once
    per token, so its ``kid`` and its signature always belong together)."""

    def __init__(self, settings: Settings, signer: Signer | Callable[[], Signer]) -> None:
        self._settings = settings
        self._signer: Callable[[], Signer] = signer if callable(signer) else (lambda: signer)

    def issue(
        self,
        principal: Principal,
        refresh: RefreshToken,
        *,
        issuer: str,
        now: float,
        session_expires_at: float,
    ) -> IssuedTokens:
        # An access token must not outlive its session: near the session's end (the
        # absolute expiry, which no rotation extends, or the idle one) exp is the
        # session's end, else a stateless route would accept the token for up to a
        # whole access lifetime after the session is over.
        ttl = max(0, min(self._settings.access_ttl, math.floor(session_expires_at) - int(now)))
        access = issue_access_token(
            self._signer(),
            principal,
            sid=refresh.sid,
            issuer=issuer,
            audience=self._settings.audience,
            client_id=self._settings.client_id,
            now=now,
            ttl=ttl,
        )
        return IssuedTokens(
            access_token=access,
            expires_in=ttl,
            refresh_token=refresh,
            refresh_expires_in=max(0, int(session_expires_at - now)),
        )
