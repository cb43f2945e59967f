"""Minting the token pair handed to a client, shared by login and refresh."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from authcore.config import Settings
from authcore.keys import Signer
from authcore.refresh_tokens import RefreshToken
from authcore.tokens import Principal, issue_access_token

SecurityEvent = Callable[[str, dict[str, Any]], None]


def ignore_event(event: str, fields: dict[str, Any]) -> None:
    return None


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
