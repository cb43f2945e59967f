"""Back-off after failed logins: the brake on online guessing and credential stuffing.

After ``threshold`` consecutive failures an account refuses logins for
``base_seconds``, doubling with every further failure up to ``max_seconds``; a
success resets the count. While an account is locked its password is not even
checked, so guesses sent during a lock teach nothing.

Unknown usernames are counted too, in an item keyed by a keyed hash of the
name: if only real accounts could lock, "429 after five tries" would tell an
attacker which usernames exist, undoing the identical-401 defence. The hash
keeps the strings people type into the username field (sometimes their
password) out of the table; those items expire through DynamoDB TTL, and an
attacker inventing names can only add items as fast as the API's throttling
lets them log in. Existing accounts forget their failures after the same
window as unknown names, so the two cannot be told apart by waiting either.
"""

from __future__ import annotations

import hashlib
import hmac
import math

from authcore.records import record

# Used when LOCKOUT_KEY is not configured: the digests still have a fixed size
# and never hold the typed string, but they can be confirmed by guessing.
_FALLBACK_KEY = b"authcore/unknown-account-failures/v1"
UNKNOWN_ACCOUNT_PREFIX = "#failures#"


@record
class LockoutPolicy:
    threshold: int = 5
    base_seconds: int = 60
    max_seconds: int = 900
    # Failures older than this (counted from the latest one) are forgotten.
    forget_after_seconds: int = 86_400

    def lock_seconds(self, failures: int) -> int:
        """How long the account stays locked after its ``failures``-th failure."""
        if failures < self.threshold:
            return 0
        doublings = min(failures - self.threshold, 32)
        return min(self.base_seconds << doublings, self.max_seconds)

    def item_lifetime(self) -> int:
        """How long a failure counter can matter: the forget window plus a lock."""
        return self.forget_after_seconds + self.max_seconds


@record
class Failures:
    """The stored failure counter of one account (or unknown username)."""

    count: int = 0
    last_at: float = 0.0

    def current(self, policy: LockoutPolicy, now: float) -> int:
        """The count that still matters: zero once the forget window has passed."""
        if self.count <= 0 or now - self.last_at >= policy.forget_after_seconds:
            return 0
        return self.count

    def is_stale(self, policy: LockoutPolicy, now: float) -> bool:
        """Stored failures that no longer count (the next failure restarts at 1)."""
        return self.count > 0 and self.current(policy, now) == 0

    def retry_after(self, policy: LockoutPolicy, now: float) -> int:
        """Whole seconds until a login may be tried again; 0 when not locked."""
        lock = policy.lock_seconds(self.current(policy, now))
        remaining = self.last_at + lock - now
        if lock == 0 or remaining <= 0:
            return 0
        # A clock running ahead in another container must not lock for longer.
        return min(math.ceil(remaining), lock)


def unknown_account_key(canonical_username: str, key: bytes | None) -> str:
    """The users-table key that counts failures for a username with no account.

    ``#`` never occurs in a canonical username, so this cannot collide with a user.
    """
    digest = hmac.new(key or _FALLBACK_KEY, canonical_username.encode("utf-8"), hashlib.sha256)
    return UNKNOWN_ACCOUNT_PREFIX + digest.hexdigest()[:32]
