"""The account lifecycle (contract §7): password change, forgotten passwords,
sign-up, email verification and invitations.

Two halves. The HTTP half answers requests; where the answer must not depend on
whether an account exists (forgot, sign-up) it does the same work for every
well-formed request and hands the rest to the mail function as a *job*, so the
answer, its headers and its timing are the same for a stranger's address and a
customer's. The mail half (``run``) runs those jobs: it looks the account up,
spends the hourly mail allowance, issues the one-time token and sends the mail.

A password change or reset ends the user's sessions twice: at once, from the
``by_user`` index, and again a moment later from the mail function, for a login
that committed just before the new password did and that the eventually
consistent index did not list yet (the same race the admin command line closes).
Logins that verified the old password after the write cannot commit at all
(their transaction checks the hash, ``DynamoUserStore.unchanged_condition``).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Set
from typing import Any

from authcore.accounts.lockout import LockoutPolicy
from authcore.accounts.mail import (
    Mail,
    Mailer,
    MailJobs,
    invitation_mail,
    password_changed_mail,
    reset_mail,
    signup_notice_mail,
    verification_mail,
)
from authcore.accounts.mailtokens import (
    LIFETIME_SECONDS,
    REFUSED,
    MailToken,
    Purpose,
    StoredToken,
)
from authcore.accounts.passwords import Passwords
from authcore.accounts.policy import check_new_password
from authcore.accounts.users import (
    Counter,
    User,
    UserStore,
    canonical_email,
    canonical_username,
)
from authcore.clock import Clock, system_clock
from authcore.config import Settings
from authcore.errors import (
    AccountLocked,
    ConfigError,
    CounterLocked,
    InvalidGrant,
    InvalidRequest,
    MailBudgetSpent,
    NotFound,
    TemporarilyUnavailable,
    WriteConflict,
)
from authcore.mfa.stepup import require_recent
from authcore.sessions.service import SessionService
from authcore.tokens.issue import SecurityEvent, ignore_event

# At most this many mails of one budgeted kind per account per rolling hour.
MAILS_PER_HOUR = 3
MAIL_WINDOW_SECONDS = 3600
# How long the mail function waits before its second sweep of a user's sessions:
# DynamoDB's global secondary indexes typically catch up well within a second.
INDEX_SETTLE_SECONDS = 2.0
_LINK_PATHS: dict[Purpose, str] = {
    "reset": "/reset-password",
    "verify": "/verify-email",
    "invite": "/accept-invite",
}


class AccountService:
    def __init__(
        self,
        settings: Settings,
        *,
        users: UserStore,
        passwords: Passwords,
        sessions: SessionService,
        jobs: MailJobs | None = None,
        mailer: Mailer | None = None,
        clock: Clock = system_clock,
        lockout: LockoutPolicy | None = None,
        on_security_event: SecurityEvent = ignore_event,
        settle_seconds: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._settings = settings
        self._users = users
        self._passwords = passwords
        self._sessions = sessions
        self._jobs = jobs
        self._mailer = mailer
        self._clock = clock
        self._lockout = lockout or LockoutPolicy()
        self._security_event = on_security_event
        self._settle_seconds = INDEX_SETTLE_SECONDS if settle_seconds is None else settle_seconds
        self._sleep = sleep

    # ================================================================ HTTP half
    def change_password(
        self,
        *,
        sub: str,
        sid: str,
        username: str,
        current: str,
        new: str,
        amr: Set[str] = frozenset(),
        auth_time: float = 0.0,
    ) -> None:
        """The caller's password, replaced; every *other* session ends. A wrong
        ``current`` is a failed login: counted before it is checked, refused while
        the account is locked, so a stolen access token cannot be used to guess
        the password at leisure. An account with a second factor also needs a login
        with it in the last few minutes (contract §8: a sensitive change)."""
        user = self._users.get(canonical_username(username))
        # The token names a user id: an account deleted and re-created under the
        # same name is another person's.
        if user is None or user.user_id != sub or user.disabled:
            raise InvalidGrant("Invalid password.")
        normalized = check_new_password(new, username=user.username, email=user.email)
        now = self._clock()
        if user.has_totp:
            require_recent(
                amr,
                auth_time,
                now=now,
                max_age=self._settings.step_up_max_age,
                second_factor=True,
            )
        counter = Counter(user.username, user.failures, account=True)
        retry_after = counter.failures.retry_after(self._lockout, now)
        if retry_after:
            raise AccountLocked(retry_after)
        try:
            self._users.count_attempt(counter, now=now, policy=self._lockout)
        except CounterLocked as locked:
            raise AccountLocked(max(1, locked.failures.retry_after(self._lockout, now))) from None
        if not self._passwords.verify(user.password_hash, current):
            raise InvalidGrant("Invalid password.")
        try:
            self._users.change_password(user, self._passwords.hash(normalized), now=now)
        except WriteConflict:
            # Changed (or disabled) between our read and our write.
            raise InvalidGrant("Invalid password.") from None
        self._security_event("password_changed", {"sub": user.user_id, "flow": "change"})
        self._end_sessions(user, reason="password_changed", keep=sid, reset=False)

    def forgot_password(self, *, email: str | None, username: str | None) -> None:
        """Hand the reset to the mail function, whoever asked: only the shape of
        the input is checked here, the account is looked up there."""
        if email is not None:
            job = {"job": "reset", "email": canonical_email(email)}
        elif username is not None:
            job = {"job": "reset", "username": canonical_username(username)}
        else:
            raise InvalidRequest("Give 'email' or 'username'.")
        self._submit(job)

    def reset_password(self, raw_token: str, new_password: str) -> None:
        """Set a new password with a reset or invitation token. Every session of
        the user ends; none is created (the user logs in afresh, second factor
        included: a reset never stands in for it); a lock is lifted; the address
        counts as verified."""
        token = MailToken.parse(raw_token)
        stored, user = self._token_owner(token, ("reset", "invite"))
        normalized = check_new_password(new_password, username=user.username, email=user.email)
        self._consume(stored, password_hash=self._passwords.hash(normalized))
        flow = "invitation" if stored.purpose == "invite" else "reset"
        self._security_event("password_reset", {"sub": user.user_id, "flow": flow})
        self._end_sessions(user, reason="password_reset", keep=None, reset=True)

    def signup(self, *, username: str, email: str, password: str) -> None:
        """Create an unverified account, or, when the username or the address is
        taken, create nothing and mail the owner. The same work either way (one
        argon2 hash, one conditional transaction, one job), and the same answer."""
        if not self._settings.signup_enabled:
            raise NotFound("No such route.")
        name, address = canonical_username(username), canonical_email(email)
        normalized = check_new_password(password, username=name, email=address)
        user = User.new(name, self._passwords.hash(normalized), email=address)
        try:
            self._users.create(user, now=self._clock())
        except WriteConflict:
            self._submit({"job": "signup_taken", "username": name, "email": address})
            return
        self._submit({"job": "verify", "username": name})

    def verify_email(self, raw_token: str) -> None:
        token = MailToken.parse(raw_token)
        stored, user = self._token_owner(token, ("verify",))
        self._consume(stored, password_hash=None)
        self._security_event("email_verified", {"sub": user.user_id})

    # ================================================================ mail half
    def run(self, job: dict[str, Any]) -> str:
        """Run one job; the outcome's name (for the log and the metrics)."""
        kind = job.get("job")
        username = job.get("username")
        if kind == "reset":
            email = job.get("email")
            if isinstance(email, str):
                return self.send_reset(self._users.get_by_email(email))
            if isinstance(username, str):
                return self.send_reset(self._users.get(username))
        elif kind == "verify" and isinstance(username, str):
            return self.send_verification(username)
        elif kind == "invite" and isinstance(username, str):
            return self.send_invitation(username)
        elif kind == "signup_taken" and isinstance(username, str):
            return self.notice_signup_taken(username, str(job.get("email", "")))
        elif kind == "password_changed" and isinstance(username, str):
            keep = job.get("keep")
            return self.after_password_change(
                username, keep=keep if isinstance(keep, str) else None, reset=bool(job.get("reset"))
            )
        raise InvalidRequest("unknown job")

    def send_reset(self, user: User | None) -> str:
        if user is None or user.disabled or not user.email:
            return "no_account"
        return self._send_with_token(user, "reset", reset_mail, budget="reset")

    def send_verification(self, username: str) -> str:
        user = self._users.get(username)
        if user is None or user.disabled or not user.email or user.email_verified:
            return "no_account"
        return self._send_with_token(user, "verify", verification_mail, budget="verify")

    def send_invitation(self, username: str) -> str:
        user = self._users.get(username)
        if user is None or user.disabled or not user.email:
            return "no_account"
        # An administrator's act, not a request from the internet: no allowance.
        return self._send_with_token(user, "invite", invitation_mail, budget=None)

    def notice_signup_taken(self, username: str, email: str) -> str:
        """Mail the owner of a taken username and the owner of a taken address
        (one mail if they are the same account), within the hourly allowance.
        Nothing links the attempt to the account: no token, no verification."""
        owners = {u.username: u for u in (self._users.get(username),) if u is not None}
        if email:
            by_address = self._users.get_by_email(email)
            if by_address is not None:
                owners[by_address.username] = by_address
        outcome = "no_account"
        for owner in owners.values():
            spend = None if owner.disabled or not owner.email else self._allowance(owner, "notice")
            if spend is None:
                continue
            try:
                self._users.record_mail(owner, *spend)
            except MailBudgetSpent:
                continue
            self._deliver(signup_notice_mail(owner.email, owner.username, self._app_url))
            outcome = "sent"
        return outcome

    def after_password_change(self, username: str, *, keep: str | None, reset: bool) -> str:
        """The second sweep (see the module's docstring) and the owner's notice."""
        user = self._users.get(username)
        if user is None:
            return "no_account"
        self._sleep(self._settle_seconds)
        self._sessions.revoke_all(user.user_id, reason="password_changed", keep=keep)
        if user.email:
            mail = password_changed_mail(user.email, user.username, self._app_url, reset=reset)
            self._deliver(mail)
        return "sent"

    # ================================================================ helpers
    @property
    def _app_url(self) -> str:
        return self._settings.app_url_value

    def _submit(self, job: dict[str, str]) -> None:
        if self._jobs is None:
            raise ConfigError("this function cannot hand off mail jobs")
        self._jobs.submit(job)

    def _deliver(self, mail: Mail) -> None:
        if self._mailer is None:
            raise ConfigError("this function cannot send mail")
        self._mailer.send(mail)

    def _token_owner(
        self, token: MailToken, purposes: tuple[Purpose, ...]
    ) -> tuple[StoredToken, User]:
        """The token's stored record and account, if the token may be spent now on
        one of ``purposes``; one answer (401) for every reason it may not."""
        now = self._clock()
        stored = self._users.find_mail_token(token.digest)
        if stored is None or not stored.usable_for(purposes, now):
            raise InvalidGrant(REFUSED)
        user = self._users.get(stored.username)
        current = user.mail_tokens.get(stored.purpose, "") if user else ""
        if user is None or user.disabled or not hmac.compare_digest(current, token.digest):
            raise InvalidGrant(REFUSED)
        return stored, user

    def _consume(self, stored: StoredToken, *, password_hash: str | None) -> None:
        try:
            self._users.consume_mail_token(stored, now=self._clock(), password_hash=password_hash)
        except WriteConflict:
            raise InvalidGrant(REFUSED) from None

    def _end_sessions(self, user: User, *, reason: str, keep: str | None, reset: bool) -> None:
        """End the sessions now and have the mail function sweep again (and tell
        the owner). If the first sweep fails the second still runs, with Lambda's
        retries; only if the job cannot be handed off either is the answer 503."""
        swept = True
        try:
            self._sessions.revoke_all(user.user_id, reason=reason, keep=keep)
        except TemporarilyUnavailable:
            swept = False
            self._security_event("session_sweep_deferred", {"sub": user.user_id})
        job = {"job": "password_changed", "username": user.username, "keep": keep or ""}
        if reset:
            job["reset"] = "true"
        try:
            self._submit(job)
        except TemporarilyUnavailable:
            if not swept:
                raise
            self._security_event("password_notice_lost", {"sub": user.user_id})

    def _allowance(self, user: User, kind: str) -> tuple[str, tuple[float, ...]] | None:
        """The account's mail times of ``kind`` with one more mail now, or None
        when the hourly allowance is spent (the mail is not sent; nobody's answer
        changes)."""
        now = self._clock()
        recent = tuple(t for t in user.mail_sent.get(kind, ()) if now - t < MAIL_WINDOW_SECONDS)
        if len(recent) >= MAILS_PER_HOUR:
            self._security_event("mail_suppressed", {"sub": user.user_id, "kind": kind})
            return None
        return kind, (*recent, now)

    def _send_with_token(
        self,
        user: User,
        purpose: Purpose,
        compose: Callable[[str, str, str, str], Mail],
        *,
        budget: str | None,
    ) -> str:
        now = self._clock()
        spend = self._allowance(user, budget) if budget is not None else None
        if budget is not None and spend is None:
            return "suppressed"
        token = MailToken.new()
        stored = StoredToken(
            digest=token.digest,
            purpose=purpose,
            username=user.username,
            expires_at=now + LIFETIME_SECONDS[purpose],
            email=user.email if purpose == "verify" else "",
        )
        try:
            # Stored before it is sent: a mail never carries a link that does not work.
            self._users.issue_mail_token(user, stored, now=now, budget=spend)
        except MailBudgetSpent:
            # A concurrent job changed the account first; it sent (or refused) its own.
            return "suppressed"
        link = f"{self._app_url}{_LINK_PATHS[purpose]}#token={token}"
        self._deliver(compose(user.email, user.username, link, self._app_url))
        return "sent"
