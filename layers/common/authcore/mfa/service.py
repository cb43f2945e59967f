"""The second factor (contract §8): TOTP enrolment, the second step of a login, recovery
codes, and step-up for the changes that must not rest on a stolen session alone.

Knows nothing of API Gateway: the edge hands it who the caller is (the authorizer's
context, including ``amr`` and ``auth_time``) and what they sent.
"""

from __future__ import annotations

import secrets
from typing import NoReturn

from authcore.accounts.lockout import LockoutPolicy
from authcore.accounts.signin import open_session
from authcore.accounts.users import User, UserStore
from authcore.clock import Clock, system_clock
from authcore.config import Settings
from authcore.errors import (
    AccountLocked,
    ConfigError,
    CounterLocked,
    InvalidGrant,
    InvalidRequest,
    NotFound,
    WriteConflict,
)
from authcore.mfa import recovery, totp
from authcore.mfa.dynamo import DynamoMfaStore
from authcore.mfa.pending import Delivery, digest_of
from authcore.mfa.sealing import Sealer
from authcore.mfa.stepup import require_recent
from authcore.records import record
from authcore.sessions.model import SessionStore
from authcore.tokens.issue import (
    PASSWORD_AND_OTP,
    IssuedTokens,
    Principal,
    SecurityEvent,
    TokenIssuer,
    ignore_event,
)

_WRONG_CODE = "Invalid code."


@record
class Enrolment:
    secret: str
    otpauth_uri: str
    qr: str


@record(repr=False)
class SecondStep:
    tokens: IssuedTokens
    delivery: Delivery


@record
class Authenticated:
    """Who the access token speaks for and how they logged in (the authorizer's context)."""

    user_id: str
    username: str
    amr: frozenset[str]
    auth_time: float


class MfaService:
    def __init__(
        self,
        settings: Settings,
        *,
        users: UserStore,
        store: DynamoMfaStore,
        sealer: Sealer,
        # Only the second step of a login opens a session: the MFA function, which has
        # no sessions table, passes None.
        sessions: SessionStore | None,
        issuer: TokenIssuer,
        clock: Clock = system_clock,
        lockout: LockoutPolicy | None = None,
        on_security_event: SecurityEvent = ignore_event,
    ) -> None:
        self._settings = settings
        self._users = users
        self._store = store
        self._sealer = sealer
        self._sessions = sessions
        self._issuer = issuer
        self._clock = clock
        self._lockout = lockout or LockoutPolicy()
        self._security_event = on_security_event

    # ------------------------------------------------------------ step-up
    def _recent(self, caller: Authenticated, *, second_factor: bool) -> None:
        require_recent(
            caller.amr,
            caller.auth_time,
            now=self._clock(),
            max_age=self._settings.step_up_max_age,
            second_factor=second_factor,
        )

    def _account(self, caller: Authenticated) -> User:
        user = self._users.get(caller.username)
        # The username is the table's key; the id proves it is still the same account
        # (deleted and re-created under the same name: not the token's user).
        if user is None or user.user_id != caller.user_id or user.disabled:
            raise NotFound("No such account.")
        return user

    # ------------------------------------------------------------ enrolment
    def start_totp(self, caller: Authenticated, *, issuer_name: str) -> Enrolment:
        user = self._account(caller)
        # Replacing a working factor is a change of factor: it needs the factor.
        self._recent(caller, second_factor=user.has_totp)
        secret = totp.new_secret()
        self._store.start_enrolment(user, self._sealer.seal(secret, user_id=user.user_id))
        uri = totp.otpauth_uri(secret, account=user.username, issuer=issuer_name)
        return Enrolment(secret, uri, totp.qr_svg_data_uri(uri))

    def confirm_totp(self, caller: Authenticated, code: str) -> list[str]:
        user = self._account(caller)
        self._recent(caller, second_factor=user.has_totp)
        if user.totp_pending is None:
            raise InvalidRequest("No TOTP enrolment is under way: start one first.")
        secret = self._sealer.open(user.totp_pending, user_id=user.user_id)
        step = totp.matched_step(secret, code, self._clock())
        if step is None:
            raise InvalidGrant(_WRONG_CODE)
        codes = recovery.new_codes()
        try:
            self._store.confirm_enrolment(
                user, user.totp_pending, step, [recovery.digest(c) for c in codes]
            )
        except WriteConflict:
            # Another enrolment started (or this one was confirmed) in between.
            raise InvalidGrant(_WRONG_CODE) from None
        self._security_event("mfa_enabled", {"sub": user.user_id, "method": "totp"})
        return codes

    def disable_totp(self, caller: Authenticated) -> None:
        user = self._account(caller)
        self._recent(caller, second_factor=True)
        if not user.has_totp and user.totp_pending is None:
            raise NotFound("TOTP is not on.")
        self._store.disable(user)
        self._security_event("mfa_disabled", {"sub": user.user_id, "method": "totp"})

    def new_recovery_codes(self, caller: Authenticated) -> list[str]:
        user = self._account(caller)
        self._recent(caller, second_factor=True)
        if not user.has_totp:
            raise NotFound("TOTP is not on.")
        codes = recovery.new_codes()
        try:
            self._store.replace_recovery_codes(user, [recovery.digest(c) for c in codes])
        except WriteConflict:
            raise NotFound("TOTP is not on.") from None
        return codes

    # ------------------------------------------------------------ login, second step
    def complete_login(
        self,
        mfa_token: str,
        *,
        code: str | None,
        recovery_code: str | None,
        issuer: str,
        user_agent: str,
    ) -> SecondStep:
        """One session for a pending login and a right code, or ``InvalidGrant``
        (unknown, expired or spent token; wrong, replayed or spent code; an account
        disabled, its password changed or its TOTP turned off since the password)."""
        if self._sessions is None:
            raise ConfigError("SESSIONS_TABLE is not set")
        sessions = self._sessions
        now = self._clock()
        digest = digest_of(mfa_token)
        pending = self._store.get_pending(digest)
        if pending is None or pending.expires_at <= now:
            raise InvalidGrant("The login expired: log in again.")
        user = self._users.get(pending.username)
        if (
            user is None
            or user.disabled
            or not user.has_totp
            or user.password_hash != pending.password_hash
        ):
            raise InvalidGrant("The login expired: log in again.")
        retry_after = user.mfa_failures.retry_after(self._lockout, now)
        if retry_after:
            raise AccountLocked(retry_after)
        try:
            count = self._store.count_attempt(user, now=now, policy=self._lockout)
        except CounterLocked as locked:
            raise AccountLocked(max(1, locked.failures.retry_after(self._lockout, now))) from None
        if code is not None:
            secret = self._sealer.open(user.totp_secret or b"", user_id=user.user_id)
            step = totp.matched_step(secret, code, now)
            if step is None or step <= user.totp_last_step:
                self._failed(user, count)
            guard = self._store.totp_guard(user, step)
        else:
            spent = recovery.digest(recovery_code or "")
            if not any(secrets.compare_digest(spent, d) for d in user.recovery_codes):
                self._failed(user, count)
            guard = self._store.recovery_guard(user, spent)
        try:
            issued = open_session(
                self._settings,
                self._issuer,
                sessions,
                Principal(user.user_id, user.username, user.scope, PASSWORD_AND_OTP, now),
                issuer=issuer,
                now=now,
                user_agent=user_agent,
                guards=[guard, self._store.spend_pending(digest, now=now)],
            )
        except InvalidGrant:
            # A concurrent request spent the step, the code or the pending login first.
            raise InvalidGrant(_WRONG_CODE) from None
        if code is None:
            left = len(user.recovery_codes) - 1
            self._security_event("recovery_code_used", {"sub": user.user_id, "codes_left": left})
        return SecondStep(issued, pending.delivery)

    def _failed(self, user: User, count: int) -> NoReturn:
        lock = self._lockout.lock_seconds(count)
        if lock:
            self._security_event(
                "mfa_lockout", {"sub": user.user_id, "failures": count, "lock_seconds": lock}
            )
        raise InvalidGrant(_WRONG_CODE)
