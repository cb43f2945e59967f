"""Login: username + password -> a new session and its token pair."""

from __future__ import annotations

from authcore.clock import Clock, system_clock
from authcore.config import Settings
from authcore.errors import InvalidGrant
from authcore.issuance import IssuedTokens, TokenIssuer
from authcore.passwords import Passwords
from authcore.refresh_tokens import RefreshToken
from authcore.sessions import Session, SessionStore
from authcore.tokens import Principal
from authcore.users import UserStore, canonical_username


class LoginService:
    def __init__(
        self,
        settings: Settings,
        *,
        users: UserStore,
        passwords: Passwords,
        sessions: SessionStore,
        issuer: TokenIssuer,
        clock: Clock = system_clock,
    ) -> None:
        self._settings = settings
        self._users = users
        self._passwords = passwords
        self._sessions = sessions
        self._issuer = issuer
        self._clock = clock

    def login(
        self, username: str, password: str, *, issuer: str, user_agent: str = ""
    ) -> IssuedTokens:
        canonical = canonical_username(username)
        user = self._users.get(canonical)
        if user is None:
            self._passwords.burn(password)
            raise InvalidGrant("Invalid username or password.")
        # Verify even for a disabled account: its answer and its timing must be
        # those of a wrong password.
        if not self._passwords.verify(user.password_hash, password) or user.disabled:
            raise InvalidGrant("Invalid username or password.")
        now = self._clock()
        settings = self._settings
        token = RefreshToken.new()
        session = Session(
            sid=token.sid,
            principal=Principal(user.user_id, user.username, user.scope),
            created_at=now,
            last_used_at=now,
            absolute_expires_at=now + settings.session_ttl,
            idle_expires_at=now + min(settings.session_idle_ttl, settings.session_ttl),
            user_agent=user_agent,
            token_digest=token.digest,
            family_digest=token.family_digest,
        )
        # Sign first, store second: if KMS fails nothing is written, and if the
        # write fails the signed token is dropped, never issued.
        issued = self._issuer.issue(
            session.principal, token, issuer=issuer, now=now, session_expires_at=session.expires_at
        )
        self._sessions.create(session)
        return issued
