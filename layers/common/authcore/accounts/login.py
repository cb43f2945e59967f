"""Login: username + password -> a new session and its token pair.

Every attempt costs the same work whether the account exists or not: one read
(the account and the unknown-username counter together, and the device counter
when a device cookie came along), one conditional write that counts the attempt
before its password is checked (refused while the counter is locked), and one
argon2id verification (against a dummy hash for unknown users). A locked account
(or locked unknown username, or locked device) is refused before any password is
looked at; a success resets the counter it was charged to.
"""

from __future__ import annotations

from typing import NoReturn

from authcore.accounts.devices import DeviceCookies, binding
from authcore.accounts.lockout import LockoutPolicy, unknown_account_key
from authcore.accounts.passwords import Passwords, normalize_password
from authcore.accounts.signin import open_session
from authcore.accounts.users import Counter, User, UserStore, canonical_username
from authcore.clock import Clock, system_clock
from authcore.config import Settings
from authcore.errors import (
    AccountLocked,
    CounterLocked,
    EmailNotVerified,
    InvalidGrant,
    TemporarilyUnavailable,
)
from authcore.mfa.pending import Delivery, PendingLogins, require_second_step
from authcore.records import record, replace
from authcore.sessions.model import SessionStore
from authcore.tokens.issue import (
    PASSWORD,
    IssuedTokens,
    Principal,
    SecurityEvent,
    TokenIssuer,
    ignore_event,
)


@record(repr=False)
class LoginResult:
    tokens: IssuedTokens
    # A fresh device cookie for this account (None when device cookies are off).
    device_cookie: str | None = None


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
        devices: DeviceCookies | None = None,
        pending: PendingLogins | None = None,
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
        self._devices = devices
        self._pending = pending

    def login(
        self,
        username: str,
        password: str,
        *,
        issuer: str,
        user_agent: str = "",
        device_cookie: str | None = None,
        delivery: Delivery = "cookie",
    ) -> LoginResult:
        canonical = canonical_username(username)
        # Both fields are refused (400) before any lookup or hash: hostile input costs nothing.
        normalize_password(password)
        devices = self._devices
        nonce = devices.nonce_of(device_cookie) if devices else None
        record = self._users.find_for_login(
            canonical,
            unknown_account_key(canonical, self._lockout_key),
            devices.counter_key(nonce) if devices and nonce else None,
        )
        user = record.user
        now = self._clock()
        trusted = devices is not None and devices.is_trusted(
            device_cookie, binding(user.user_id, user.password_hash) if user else None, now
        )
        # A device this account logged in from before has a counter of its own:
        # failures from elsewhere cannot lock its owner out.
        counter = record.counter(trusted_device=trusted)
        retry_after = counter.failures.retry_after(self._lockout, now)
        if retry_after:
            # The password is not looked at: guesses during a lock teach nothing.
            raise AccountLocked(retry_after)
        count = self._count(counter, now)
        if user is None:
            self._passwords.burn(password)
            self._failed(count, None, counter)
        # Verify even for a disabled account, and count its failures: its answer,
        # its timing and its lockout must be those of a wrong password (else the
        # right password on a disabled account would be the one that never locks).
        if not self._passwords.verify(user.password_hash, password) or user.disabled:
            self._failed(count, user, counter)
        if self._settings.signup_require_verified_email and user.email and not user.email_verified:
            self._unverified(user, counter)
        verified = self._succeeded(user, password)
        now = self._clock()
        if verified.has_totp:
            self._second_step(verified, counter, delivery, now)
        # The account's counter (charged unless a trusted device was) is reset in
        # the same transaction as the session.
        condition = self._users.unchanged_condition(verified, clear_failures=counter.account)
        issued = open_session(
            self._settings,
            self._issuer,
            self._sessions,
            Principal(user.user_id, user.username, user.scope, PASSWORD, now),
            issuer=issuer,
            now=now,
            user_agent=user_agent,
            guards=[condition],
        )
        if not counter.account:
            # A trusted device's count is reset once the login has really succeeded
            # (signed and stored), never for a login that failed after the password.
            self._users.clear_counter(counter.key)
        # Only a successful login makes (or keeps) a device trusted.
        device = (
            devices.issue(binding(verified.user_id, verified.password_hash), now)
            if devices
            else None
        )
        return LoginResult(issued, device)

    def _second_step(
        self, user: User, counter: Counter, delivery: Delivery, now: float
    ) -> NoReturn:
        """Contract §8: the right password of an account with a second factor gives
        no session, only an ``mfa_token``. The password step did succeed: its counter
        is reset (the second step counts its own failures)."""
        if self._pending is None:
            raise TemporarilyUnavailable()  # a function wired without the second step
        refusal = require_second_step(self._pending, user, delivery, now)
        if counter.account:
            self._users.clear_failures(user.username)
        else:
            self._users.clear_counter(counter.key)
        raise refusal

    def _count(self, counter: Counter, now: float) -> int:
        """Count the attempt before any password is checked (authcore.accounts.dynamo)."""
        try:
            return self._users.count_attempt(counter, now=now, policy=self._lockout)
        except CounterLocked as locked:
            # Locked by a concurrent attempt since the read: the same 429.
            raise AccountLocked(max(1, locked.failures.retry_after(self._lockout, now))) from None

    def _failed(self, count: int, user: User | None, counter: Counter) -> NoReturn:
        lock = self._lockout.lock_seconds(count)
        if lock:
            # Never the typed username: it may be a password typed in the wrong field.
            self._on_security_event(
                "login_lockout",
                {
                    "sub": user.user_id if user else "unknown",
                    "failures": count,
                    "lock_seconds": lock,
                    "counter": "account" if counter.account or user is None else "device",
                },
            )
        raise InvalidGrant("Invalid username or password.")

    def _unverified(self, user: User, counter: Counter) -> NoReturn:
        """The right password for a signed-up account whose address is not
        confirmed yet (contract §7): 403, said only after the password matched, so
        it tells a guesser nothing. The attempt is not a failure: its count is reset."""
        if counter.account:
            self._users.after_login(user, clear_failures=True, new_hash=None, now=self._clock())
        else:
            self._users.clear_counter(counter.key)
        raise EmailNotVerified()

    def _succeeded(self, user: User, password: str) -> User:
        """Upgrade a hash made with other argon2 parameters (one write, rarely); the
        account's own counter is reset with the session write."""
        now = self._clock()
        new_hash = (
            self._passwords.rehash(password)
            if self._passwords.needs_rehash(user.password_hash)
            else None
        )
        self._users.after_login(user, clear_failures=False, new_hash=new_hash, now=now)
        return replace(user, password_hash=new_hash) if new_hash else user
