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
from authcore.sessions import (
    MAX_LISTED_SESSIONS,
    RotationRefused,
    Session,
    SessionStore,
    revoke_owned,
)

REFUSED = "The refresh token is invalid, expired or revoked."


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

    def _now(self) -> float:
        # The table keeps milliseconds: deciding on the same rounded instant the
        # condition expression sees keeps code and DynamoDB agreeing at every edge.
        return round(self._clock(), 3)

    # ---------------------------------------------------------------- refresh
    def refresh(self, raw_token: str, *, issuer: str) -> IssuedTokens:
        presented = RefreshToken.parse(raw_token)
        now = self._now()
        successor = presented.successor()
        try:
            session = self.sessions.rotate(
                presented, successor, now=now, idle_expires_at=now + self.settings.session_idle_ttl
            )
        except RotationRefused as refused:
            session, successor = self._redeem(presented, refused.session, now)
        try:
            return self._issue(session, successor, issuer, now)
        except Exception:
            # Signing failed after the write (KMS down, or anything else): keep
            # the successor for the presented token rather than undoing the
            # rotation, since a twin racing within the grace window may already
            # hold it. The client's retry with the same token gets it.
            self._hold(presented, successor, session)
            raise

    def _redeem(
        self, presented: RefreshToken, session: Session | None, now: float
    ) -> tuple[Session, RefreshToken]:
        """The rotation was refused: the same successor again (grace), theft, or
        a plain refusal. Decided on the item DynamoDB returned with the refusal."""
        if (
            session is None
            or not session.is_live(now)
            or not hmac.compare_digest(presented.family_digest, session.family_digest)
        ):
            # Garbage, a guessed sid, an expired or an already revoked session.
            raise InvalidGrant(REFUSED)
        if hmac.compare_digest(presented.digest, session.token_digest):
            # The current token of a live session cannot be refused; never let an
            # inconsistent answer be mistaken for theft. The client may retry.
            raise TemporarilyUnavailable()
        is_previous = session.previous_digest is not None and hmac.compare_digest(
            presented.digest, session.previous_digest
        )
        since_rotation = now - (session.rotated_at or 0.0)
        if is_previous and self._in_grace(session, now):
            # Grace: tabs racing each other get the successor their twin already
            # obtained, so every tab ends up holding the same current token.
            successor = presented.open_successor(session.successor_box or b"")
            if successor is not None and hmac.compare_digest(
                successor.digest, session.token_digest
            ):
                return session, successor
        if is_previous and session.successor_undelivered:
            # Signing failed after this token's rotation. Past the grace window the
            # marker no longer redeems the successor (else a stolen previous token
            # would stay usable, and exempt from reuse detection, until the session
            # idles out). Refused without revoking: the marker is our own record of
            # an outage, so a late retry is far more likely the owner than a thief,
            # and an outage must not become a storm of reuse alarms and revocations.
            self._security_event(
                "refresh_undelivered_expired",
                {
                    "sid": session.sid,
                    "user_id": session.principal.user_id,
                    "seconds_since_rotation": round(since_rotation, 3),
                },
            )
            raise InvalidGrant(REFUSED)
        # A genuine but superseded token: someone replays a stolen token (or the
        # thief already rotated it and this is the victim). Kill the family, the
        # newest token included.
        self._security_event(
            "refresh_token_reuse",
            {
                "sid": session.sid,
                "user_id": session.principal.user_id,
                "reused": "previous" if is_previous else "ancestor",
                "seconds_since_rotation": (
                    round(since_rotation, 3) if session.rotated_at is not None else None
                ),
            },
        )
        self.sessions.revoke(
            session.sid,
            now=now,
            reason="refresh_token_reuse",
            family_digest=session.family_digest,
        )
        raise InvalidGrant(REFUSED)

    def _in_grace(self, session: Session, now: float) -> bool:
        """Whether the previous token of ``session`` is still within the reuse grace
        window (the edge included; grace 0 means never)."""
        grace = self.settings.reuse_grace
        return grace > 0 and session.rotated_at is not None and now - session.rotated_at <= grace

    def _hold(self, presented: RefreshToken, successor: RefreshToken, session: Session) -> None:
        try:
            held = self.sessions.hold_successor(presented, successor)
        except TemporarilyUnavailable:
            held = False
        if not held:
            # The presented token still works within the grace window only.
            self._security_event(
                "refresh_hold_failed",
                {"sid": session.sid, "user_id": session.principal.user_id},
            )

    # ----------------------------------------------------------------- logout
    def logout_with_refresh_token(self, raw_token: str, *, everywhere: bool = False) -> None:
        """RFC 7009: unknown, malformed or already revoked tokens succeed silently."""
        try:
            token = RefreshToken.parse(raw_token)
        except InvalidGrant:
            return
        now = self._now()
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
                claims["sid"], now=self._now(), reason="logout", user_id=claims["sub"]
            )

    def revoke_all(self, user_id: str, *, reason: str) -> list[str]:
        """Every session of the user the ``by_user`` index lists, however many
        pages; the sids it revoked. Idempotent: a failure part-way leaves some
        sessions revoked and a retry finishes the job; it never leaves anything
        usable that should not be."""
        now = self._now()
        sids = self.sessions.list_sids(user_id)
        for sid in sids:
            self.sessions.revoke(sid, now=now, reason=reason, user_id=user_id)
        return sids

    # --------------------------------------------------------------- sessions
    def list_sessions(self, user_id: str, current_sid: str) -> list[dict[str, Any]]:
        now = self._now()
        sids = self.sessions.list_sids(user_id, limit=MAX_LISTED_SESSIONS)
        live = [
            s
            for s in self.sessions.get_many(sids)
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
        revoke_owned(self.sessions, sid, user_id, now=self._now())

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
