"""The auth flows: login, refresh, logout and session management.

Knows nothing of API Gateway: handlers hand it plain values and it answers with
plain values or an ``AuthError``. Every dependency (stores, signer, clock,
password hasher) is a constructor argument.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from authcore.clock import Clock, system_clock
from authcore.config import ConfigError, Settings
from authcore.errors import InvalidGrant, TemporarilyUnavailable
from authcore.keys import Signer
from authcore.passwords import Passwords
from authcore.refresh_tokens import RefreshToken, new_sid
from authcore.sessions import RotationRefused, Session, SessionStore, revoke_owned
from authcore.tokens import Principal, issue_access_token
from authcore.users import UserStore, canonical_username

SecurityEvent = Callable[[str, dict[str, Any]], None]


T = TypeVar("T")


def _required(dependency: T | None) -> T:
    if dependency is None:
        raise ConfigError("this function was not given the dependency the flow needs")
    return dependency


def _ignore(event: str, fields: dict[str, Any]) -> None:
    return None


@dataclass(frozen=True, repr=False)
class IssuedTokens:
    access_token: str
    expires_in: int
    refresh_token: RefreshToken
    refresh_expires_in: int


class AuthService:
    def __init__(
        self,
        settings: Settings,
        *,
        sessions: SessionStore,
        signer: Signer | None = None,
        users: UserStore | None = None,
        passwords: Passwords | None = None,
        clock: Clock = system_clock,
        on_security_event: SecurityEvent = _ignore,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self._signer = signer
        self._users = users
        self._passwords = passwords
        self._clock = clock
        self._security_event = on_security_event

    # ------------------------------------------------------------------ login
    def login(
        self, username: str, password: str, *, issuer: str, user_agent: str = ""
    ) -> IssuedTokens:
        users, passwords = _required(self._users), _required(self._passwords)
        canonical = canonical_username(username)
        user = users.get(canonical)
        if user is None:
            passwords.burn(password)
            raise InvalidGrant("Invalid username or password.")
        # Verify even for a disabled account: its answer and its timing must be
        # those of a wrong password.
        if not passwords.verify(user.password_hash, password) or user.disabled:
            raise InvalidGrant("Invalid username or password.")
        now = self._clock()
        principal = Principal(user.user_id, user.username, user.scope)
        token = RefreshToken.new(new_sid())
        session = Session(
            sid=token.sid,
            principal=principal,
            created_at=now,
            last_used_at=now,
            absolute_expires_at=now + self.settings.session_ttl,
            idle_expires_at=now + min(self.settings.session_idle_ttl, self.settings.session_ttl),
            user_agent=user_agent,
            token_digest=token.digest,
            family_digest=token.family_digest,
        )
        # Sign first, store second: if KMS fails nothing is written, and if the
        # write fails the signed token is dropped, never issued.
        access = self._access_token(principal, token.sid, issuer, now)
        self.sessions.create(session)
        return self._issued(access, token, session.expires_at, now)

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
            access = self._access_token(session.principal, session.sid, issuer, now)
        except TemporarilyUnavailable:
            # Signing failed after the write: put the old token back so the
            # client's retry works (the grace window covers a failed undo).
            try:
                rotated.undo()
            except (RotationRefused, TemporarilyUnavailable):
                self._security_event("rotation_undo_failed", {"sid": session.sid})
            raise
        return self._issued(access, successor, session.expires_at, now)

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
                access = self._access_token(session.principal, session.sid, issuer, now)
                return self._issued(access, successor, session.expires_at, now)
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
    def _access_token(self, principal: Principal, sid: str, issuer: str, now: float) -> str:
        return issue_access_token(
            _required(self._signer),
            principal,
            sid=sid,
            issuer=issuer,
            audience=self.settings.audience,
            client_id=self.settings.client_id,
            now=now,
            ttl=self.settings.access_ttl,
        )

    def _issued(
        self, access: str, refresh: RefreshToken, session_expires_at: float, now: float
    ) -> IssuedTokens:
        return IssuedTokens(
            access_token=access,
            expires_in=self.settings.access_ttl,
            refresh_token=refresh,
            refresh_expires_in=max(0, int(session_expires_at - now)),
        )
