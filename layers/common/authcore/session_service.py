"""Session flows: refresh-token rotation, logout, listing and revoking sessions.

Knows nothing of API Gateway: handlers hand it plain values and it answers with
plain values or an ``AuthError``. Every dependency is a constructor argument.
"""

from __future__ import annotations

import hmac
from typing import Any

from authcore.clock import Clock, system_clock
from authcore.config import ConfigError, Settings
from authcore.errors import InvalidGrant, TemporarilyUnavailable
from authcore.issuance import IssuedTokens, SecurityEvent, TokenIssuer, ignore_event
from authcore.refresh_tokens import RefreshToken
from authcore.sessions import RotationRefused, Session, SessionStore, revoke_owned


class SessionService:
    def __init__(
        self,
        settings: Settings,
        *,
        sessions: SessionStore,
        issuer: TokenIssuer | None = None,
        clock: Clock = system_clock,
        on_security_event: SecurityEvent = ignore_event,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self._issuer = issuer
        self._clock = clock
        self._security_event = on_security_event

    # ---------------------------------------------------------------- refresh
    def refresh(self, raw_token: str, *, issuer: str) -> IssuedTokens:
        presented = RefreshToken.parse(raw_token)
        now = self._clock()
        successor = presented.successor()
        try:
            rotated = self.sessions.rotate(
                presented, successor, now=now, idle_expires_at=now + self.settings.session_idle_ttl
            )
        except RotationRefused as refused:
            return self._refused(presented, refused.session, now, issuer)
        session = rotated.session
        try:
            return self._issue(session, successor, issuer, now)
        except TemporarilyUnavailable:
            # Signing failed after the write: put the old token back so the
            # client's retry works (the grace window covers a failed undo).
            try:
                rotated.undo()
            except (RotationRefused, TemporarilyUnavailable):
                self._security_event("rotation_undo_failed", {"sid": session.sid})
            raise

    def _refused(
        self, presented: RefreshToken, session: Session | None, now: float, issuer: str
    ) -> IssuedTokens:
        if session is None or not session.is_live(now):
            raise InvalidGrant("The refresh token is invalid, expired or revoked.")
        is_previous = session.previous_digest is not None and hmac.compare_digest(
            presented.digest, session.previous_digest
        )
        if (
            is_previous
            and session.rotated_at is not None
            and session.successor_box is not None
            and self.settings.reuse_grace > 0
            and now - session.rotated_at <= self.settings.reuse_grace
        ):
            # Grace: tabs racing each other get the successor their twin already
            # obtained, so every tab ends up with the same current token.
            successor = presented.open_successor(session.successor_box)
            if successor is not None and hmac.compare_digest(
                successor.digest, session.token_digest
            ):
                return self._issue(session, successor, issuer, now)
        if hmac.compare_digest(presented.family_digest, session.family_digest):
            # A genuine but superseded token: someone replays a stolen token (or
            # the thief already rotated it). Kill the whole family.
            self.sessions.revoke(session.sid, now=now, reason="refresh_token_reuse")
            self._security_event(
                "refresh_token_reuse",
                {"sid": session.sid, "user_id": session.principal.user_id},
            )
        raise InvalidGrant("The refresh token is invalid, expired or revoked.")

    # ----------------------------------------------------------------- logout
    def logout_with_refresh_token(self, raw_token: str, *, everywhere: bool = False) -> None:
        """RFC 7009: unknown, malformed or already revoked tokens succeed silently."""
        try:
            token = RefreshToken.parse(raw_token)
        except InvalidGrant:
            return
        now = self._clock()
        if not everywhere:
            self.sessions.revoke(
                token.sid, now=now, reason="logout", family_digest=token.family_digest
            )
            return
        session = self.sessions.get(token.sid)
        if session is not None and hmac.compare_digest(token.family_digest, session.family_digest):
            self.revoke_all(session.principal.user_id, reason="logout_all")

    def logout_with_access_claims(
        self, claims: dict[str, Any], *, everywhere: bool = False
    ) -> None:
        if everywhere:
            self.revoke_all(claims["sub"], reason="logout_all")
        else:
            self.sessions.revoke(
                claims["sid"], now=self._clock(), reason="logout", user_id=claims["sub"]
            )

    def revoke_all(self, user_id: str, *, reason: str) -> int:
        """Idempotent: a failure part-way leaves some sessions revoked and a retry
        finishes the job; it never leaves anything usable that should not be."""
        now = self._clock()
        sids = self.sessions.list_sids(user_id)
        for sid in sids:
            self.sessions.revoke(sid, now=now, reason=reason, user_id=user_id)
        return len(sids)

    # --------------------------------------------------------------- sessions
    def list_sessions(self, user_id: str, current_sid: str) -> list[dict[str, Any]]:
        now = self._clock()
        live = [
            s
            for s in self.sessions.get_many(self.sessions.list_sids(user_id))
            if s.principal.user_id == user_id and s.is_live(now)
        ]
        live.sort(key=lambda s: s.created_at, reverse=True)
        return [
            {
                "sid": s.sid,
                "created_at": int(s.created_at),
                "last_used_at": int(s.last_used_at),
                "expires_at": int(s.expires_at),
                "user_agent": s.user_agent,
                "current": s.sid == current_sid,
            }
            for s in live
        ]

    def revoke_session(self, user_id: str, sid: str) -> None:
        revoke_owned(self.sessions, sid, user_id, now=self._clock())

    # ---------------------------------------------------------------- helpers
    def _issue(
        self, session: Session, refresh: RefreshToken, issuer: str, now: float
    ) -> IssuedTokens:
        if self._issuer is None:
            raise ConfigError("this function cannot sign tokens")
        return self._issuer.issue(
            session.principal,
            refresh,
            issuer=issuer,
            now=now,
            session_expires_at=session.expires_at,
        )
