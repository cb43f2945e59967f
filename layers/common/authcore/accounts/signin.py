"""The last step of every way in (password, password + second factor, passkey): a new
session and its token pair, signed first and stored second, in one transaction with
whatever the way in must spend or check (its ``guards``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from authcore.config import Settings
from authcore.sessions.model import Session, SessionStore
from authcore.tokens.issue import IssuedTokens, Principal, TokenIssuer
from authcore.tokens.refresh import RefreshToken


def open_session(
    settings: Settings,
    tokens: TokenIssuer,
    sessions: SessionStore,
    principal: Principal,
    *,
    issuer: str,
    now: float,
    user_agent: str,
    guards: Sequence[dict[str, Any]] = (),
) -> IssuedTokens:
    token = RefreshToken.new()
    session = Session(
        sid=token.sid,
        principal=principal,
        created_at=now,
        last_used_at=now,
        absolute_expires_at=now + settings.session_ttl,
        idle_expires_at=now + min(settings.session_idle_ttl, settings.session_ttl),
        user_agent=user_agent,
        token_digest=token.digest,
        family_digest=token.family_digest,
    )
    # Sign first, store second: if KMS fails nothing is written, and if the write
    # fails (or a guard no longer holds) the signed token is dropped, never issued.
    issued = tokens.issue(
        principal, token, issuer=issuer, now=now, session_expires_at=session.expires_at
    )
    sessions.create(session, guards=guards)
    return issued
