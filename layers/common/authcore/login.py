"""Login: username + password -> a new session and its token pair.

Every attempt costs the same work whether the account exists or not: one read
(the account and the unknown-username counter together), one argon2id
verification (against a dummy hash for unknown users), and on failure one
counter write. A locked account (or locked unknown username) is refused after
the read, before any password is looked at.
"""

from __future__ import annotations

from dataclasses import replace
from typing import NoReturn

from authcore.clock import Clock, system_clock
from authcore.config import Settings
from authcore.errors import AccountLocked, InvalidGrant
from authcore.issuance import IssuedTokens, SecurityEvent, TokenIssuer, ignore_event
from authcore.lockout import LockoutPolicy, unknown_account_key
from authcore.passwords import Passwords, normalize_password
from authcore.refresh_tokens import RefreshToken
from authcore.sessions import Session, SessionStore
from authcore.tokens import Principal
from authcore.users import LoginRecord, User, UserStore, canonical_username


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
        lockout: LockoutPolicy | None = None,
        lockout_key: bytes | None = None,
        on_security_event: SecurityEvent = ignore_event,
    ) -> None:
        self._settings = settings
        self._users = users
        self._passwords = passwords
        self._sessions = sessions
        self._issuer = issuer
        self._clock = clock
        self._lockout = lockout or LockoutPolicy()
        self._lockout_key = lockout_key
        self._on_security_event = on_security_event

    def login(
        self, username: str, password: str, *, issuer: str, user_agent: str = ""
    ) -> IssuedTokens:
        canonical = canonical_username(username)
        # Both fields are refused (400) before any lookup or hash: hostile input costs nothing.
        normalize_password(password)
        record = self._users.find_for_login(
            canonical, unknown_account_key(canonical, self._lockout_key)
        )
        retry_after = record.failures.retry_after(self._lockout, self._clock())
        if retry_after:
            # The password is not looked at: guesses during a lock teach nothing.
            raise AccountLocked(retry_after)
        user = record.user
        if user is None:
            self._passwords.burn(password)
            self._failed(record)
        # Verify even for a disabled account, and count its failures: its answer,
        # its timing and its lockout must be those of a wrong password (else the
        # right password on a disabled account would be the one that never locks).
        if not self._passwords.verify(user.password_hash, password) or user.disabled:
            self._failed(record)
        verified = self._succeeded(user, password)
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
        self._sessions.create(session, condition=self._users.unchanged_condition(verified))
        return issued

    def _failed(self, record: LoginRecord) -> NoReturn:
        now = self._clock()
        count = self._users.record_failure(record, now=now, policy=self._lockout)
        lock = self._lockout.lock_seconds(count)
        if lock:
            # Never the typed username: it may be a password typed in the wrong field.
            account = record.user.user_id if record.user else "unknown"
            self._on_security_event(
                "login_lockout", {"sub": account, "failures": count, "lock_seconds": lock}
            )
        raise InvalidGrant("Invalid username or password.")

    def _succeeded(self, user: User, password: str) -> User:
        """Reset the failure count if it is not already zero, and upgrade a hash
        made with other argon2 parameters: one write at most, none usually."""
        now = self._clock()
        new_hash = (
            self._passwords.rehash(password)
            if self._passwords.needs_rehash(user.password_hash)
            else None
        )
        clear = user.failures.current(self._lockout, now) > 0
        self._users.after_login(user, clear_failures=clear, new_hash=new_hash, now=now)
        return replace(user, password_hash=new_hash) if new_hash else user
