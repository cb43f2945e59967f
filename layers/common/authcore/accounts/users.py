"""User accounts: canonical usernames, the user and login records, and the store's port
(its DynamoDB adapter is ``accounts.dynamo``)."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any, Protocol

from authcore.accounts.lockout import Failures, LockoutPolicy
from authcore.accounts.mailtokens import StoredToken
from authcore.errors import InvalidRequest
from authcore.records import field, record

MAX_USERNAME_LENGTH = 64
_USERNAME_PUNCTUATION = frozenset("._-@+")
# RFC 5321 §4.5.3.1.3: a path holds at most 256 octets, so an address at most 254.
MAX_EMAIL_LENGTH = 254


def canonical_username(username: str) -> str:
    """NFKC + case fold, in the spirit of RFC 8265's UsernameCaseMapped profile:
    ``Sam``, ``SAM`` and its full-width form are one account, for login and
    lockout alike, so variants cannot dodge a lock or register look-alikes."""
    canonical = unicodedata.normalize("NFKC", username).casefold()
    canonical = unicodedata.normalize("NFKC", canonical)
    if not 0 < len(canonical) <= MAX_USERNAME_LENGTH:
        raise InvalidRequest("username must have 1 to 64 characters")
    if not all(ch.isalnum() or ch in _USERNAME_PUNCTUATION for ch in canonical):
        raise InvalidRequest("username has characters that are not allowed")
    return canonical


def canonical_email(email: str) -> str:
    """The form an address is stored and compared in: NFKC and case-folded whole.

    RFC 5321 lets a server treat the local part as case-sensitive, but no mail
    provider in use does, and two accounts for ``Ann@x.org`` and ``ann@x.org``
    would let one person's inbox be split between two owners. Only the shape is
    checked (one ``@``, text either side, no spaces): whether the address
    receives mail is what the verification link proves."""
    canonical = unicodedata.normalize("NFKC", email.strip()).casefold()
    local, at, domain = canonical.rpartition("@")
    if (
        not at
        or not local
        or "." not in domain.strip(".")
        or len(canonical) > MAX_EMAIL_LENGTH
        or any(ch.isspace() or not ch.isprintable() for ch in canonical)
        or canonical.count("@") != 1
    ):
        raise InvalidRequest("'email' is not an email address")
    return canonical


@record
class User:
    username: str
    user_id: str
    # "" while an invitation is not accepted: no password can match it.
    password_hash: str
    scope: str = ""
    disabled: bool = False
    failures: Failures = field(default_factory=Failures)
    # Canonical (canonical_email), unique across accounts; "" when none.
    email: str = ""
    email_verified: bool = False
    # The digest of the account's current mail token of each purpose, and the
    # times of recent mails of each budgeted kind (authcore.accounts.service).
    mail_tokens: Mapping[str, str] = field(default_factory=dict)
    mail_sent: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    # The second factor (authcore.mfa): the TOTP secret sealed by KMS (None: TOTP is
    # off), one awaiting its first code, the last time step accepted, the recovery
    # codes' digests, and the second step's own failure counter.
    totp_secret: bytes | None = None
    totp_pending: bytes | None = None
    totp_last_step: int = 0
    recovery_codes: frozenset[str] = frozenset()
    mfa_failures: Failures = field(default_factory=Failures)

    @property
    def has_totp(self) -> bool:
        return self.totp_secret is not None

    @classmethod
    def new(
        cls,
        username: str,
        password_hash: str,
        scope: str = "",
        *,
        email: str = "",
        email_verified: bool = False,
    ) -> User:
        import uuid  # only accounts being made need it (and platform, which it imports)

        return cls(
            canonical_username(username),
            str(uuid.uuid4()),
            password_hash,
            scope,
            email=canonical_email(email) if email else "",
            email_verified=email_verified and bool(email),
        )


@record
class Counter:
    """One failure counter: where it lives and what was read of it.

    ``account``: the counter of a real account, kept on its item and written
    only while the item exists (no stub accounts); any other counter is an item
    of its own that expires."""

    key: str
    failures: Failures
    account: bool


@record
class LoginRecord:
    """What a login attempt reads, in one round trip: the account (if any), the
    failure counter for untrusted clients that applies to it — the account's own,
    or for an unknown username the counter kept under ``unknown_key`` — and, when
    the request carried a device cookie, that device's counter."""

    user: User | None
    failures: Failures
    unknown_key: str
    device_key: str | None = None
    device_failures: Failures = field(default_factory=Failures)

    @property
    def counter_key(self) -> str:
        return self.user.username if self.user else self.unknown_key

    def counter(self, *, trusted_device: bool) -> Counter:
        """The counter this attempt is charged to (authcore.accounts.devices)."""
        if trusted_device and self.device_key is not None:
            return Counter(self.device_key, self.device_failures, account=False)
        return Counter(self.counter_key, self.failures, account=self.user is not None)


class UserStore(Protocol):
    def get(self, username: str) -> User | None: ...
    def get_by_email(self, email: str) -> User | None: ...
    def unchanged_condition(
        self, user: User, *, clear_failures: bool = False
    ) -> dict[str, Any]: ...
    def create(self, user: User, *, now: float) -> None: ...
    def set_password_hash(self, username: str, password_hash: str, *, now: float) -> None: ...
    def set_disabled(self, username: str, disabled: bool, *, now: float) -> None: ...
    def find_for_login(
        self, username: str, unknown_key: str, device_key: str | None = None
    ) -> LoginRecord: ...
    def count_attempt(self, counter: Counter, *, now: float, policy: LockoutPolicy) -> int: ...
    def clear_counter(self, key: str) -> None: ...
    def after_login(
        self, user: User, *, clear_failures: bool, new_hash: str | None, now: float
    ) -> None: ...
    def clear_failures(self, username: str) -> None: ...
    def change_password(self, user: User, password_hash: str, *, now: float) -> None: ...
    def find_mail_token(self, digest: str) -> StoredToken | None: ...
    def issue_mail_token(
        self,
        user: User,
        stored: StoredToken,
        *,
        now: float,
        budget: tuple[str, tuple[float, ...]] | None,
    ) -> None: ...
    def record_mail(self, user: User, kind: str, times: tuple[float, ...]) -> None: ...
    def consume_mail_token(
        self, stored: StoredToken, *, now: float, password_hash: str | None
    ) -> None: ...
