"""User accounts: canonical usernames, the user and login records, and the store's port
(its DynamoDB adapter is ``accounts.dynamo``)."""

from __future__ import annotations

import unicodedata
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

from authcore.accounts.lockout import Failures, LockoutPolicy
from authcore.errors import InvalidRequest

MAX_USERNAME_LENGTH = 64
_USERNAME_PUNCTUATION = frozenset("._-@+")


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


@dataclass(frozen=True)
class User:
    username: str
    user_id: str
    password_hash: str
    scope: str = ""
    disabled: bool = False
    failures: Failures = field(default_factory=Failures)

    @classmethod
    def new(cls, username: str, password_hash: str, scope: str = "") -> User:
        return cls(canonical_username(username), str(uuid.uuid4()), password_hash, scope)


@dataclass(frozen=True)
class Counter:
    """One failure counter: where it lives and what was read of it.

    ``account``: the counter of a real account, kept on its item and written
    only while the item exists (no stub accounts); any other counter is an item
    of its own that expires."""

    key: str
    failures: Failures
    account: bool


@dataclass(frozen=True)
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
