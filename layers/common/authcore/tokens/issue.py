"""Issuing tokens: access tokens as JWS compact JWTs in the RFC 9068 profile
(typ at+jwt), and the access + refresh pair handed to a client by login and refresh."""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from authcore import b64
from authcore.config import Settings
from authcore.keys.signers import Signer
from authcore.records import record
from authcore.tokens.claims import ACCESS_TOKEN_TYPE, AccessClaims
from authcore.tokens.refresh import RefreshToken

# RFC 8176 authentication method references: a password; a one-time password (TOTP
# or a recovery code); a hardware-bound key (a passkey); user presence verified by
# biometrics or a PIN (the passkey's user verification); more than one factor.
PASSWORD: tuple[str, ...] = ("pwd",)
PASSWORD_AND_OTP: tuple[str, ...] = ("pwd", "otp", "mfa")
PASSKEY: tuple[str, ...] = ("hwk", "user", "mfa")
SECOND_FACTORS = frozenset({"otp", "hwk"})


@record
class Principal:
    """Who a token speaks for: the stable id, never the username, is ``sub``; and how
    they proved it (``amr``, RFC 8176) and when (``auth_time``, OIDC Core §2), which a
    refresh carries over unchanged: step-up asks how recent the login is, not the
    token."""

    user_id: str
    username: str
    scope: str
    amr: tuple[str, ...] = PASSWORD
    auth_time: float = 0.0


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
        "amr": list(principal.amr),
        "auth_time": int(principal.auth_time),
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


@record(repr=False)
class IssuedClientToken:
    access_token: str
    expires_in: int
    scope: str


@record(repr=False)
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
