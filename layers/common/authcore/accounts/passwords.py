"""argon2id password hashing (argon2-cffi) with NIST SP 800-63B normalisation."""

from __future__ import annotations

import unicodedata
from functools import cached_property

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from authcore.errors import InvalidRequest

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024


def normalize_password(password: str) -> str:
    """NFKC, as SP 800-63B §5.1.1.2 asks, so the same password typed on two
    keyboards (composed vs decomposed accents, full-width digits) matches."""
    if len(password) > MAX_PASSWORD_LENGTH:
        # Refused before hashing: no hash-flooding with megabyte passwords.
        raise InvalidRequest("password is too long")
    try:
        # JSON lets a client send a lone surrogate ("\ud800"), which is no
        # character at all and cannot be hashed as UTF-8: a 400, not a crash.
        password.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequest("password is not valid Unicode text") from None
    return unicodedata.normalize("NFKC", password)


class Passwords:
    def __init__(self, *, time_cost: int = 2, memory_kib: int = 19_456, parallelism: int = 1):
        self._hasher = PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            hash_len=32,
            salt_len=16,
            type=Type.ID,
        )

    def hash(self, password: str) -> str:
        normalized = normalize_password(password)
        if len(normalized) < MIN_PASSWORD_LENGTH:
            raise InvalidRequest(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
        return self._hasher.hash(normalized)

    def rehash(self, password: str) -> str:
        """A fresh hash of a password that has just verified, at the current
        parameters. No length policy here: a password accepted under an older
        policy must keep working, and its hash must still be upgraded."""
        return self._hasher.hash(normalize_password(password))

    def verify(self, stored_hash: str, password: str) -> bool:
        if not stored_hash:
            # No password yet (an invitation not accepted): the same time as a wrong one.
            self.burn(password)
            return False
        try:
            return self._hasher.verify(stored_hash, normalize_password(password))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        """True when the hash was made with other parameters than the configured
        ones (cost, memory, lanes, salt or output length, argon2 version)."""
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return False

    @cached_property
    def _dummy_hash(self) -> str:
        return self._hasher.hash("dummy password for unknown users")

    def burn(self, password: str) -> None:
        """Spend one verification on a dummy hash, so an unknown username costs
        the same time as a wrong password and timing cannot enumerate accounts."""
        self.verify(self._dummy_hash, password)
