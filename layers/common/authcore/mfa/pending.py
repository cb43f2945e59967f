"""A login between its two steps: the password was right, the second factor is awaited.
Light on purpose: the login function imports it, and neither pyotp nor KMS."""

from __future__ import annotations

import hashlib
import secrets
from typing import Literal, Protocol

from authcore.accounts.users import User
from authcore.errors import MfaRequired
from authcore.records import record

Delivery = Literal["cookie", "body"]


@record
class PendingLogin:
    """A login whose password was right, waiting for its second factor."""

    username: str
    delivery: Delivery
    # The hash the password was checked against: a password changed in between
    # voids the pending login.
    password_hash: str
    expires_at: float


PENDING_LIFETIME_SECONDS = 300
METHODS = ("totp", "recovery_code")


def digest_of(mfa_token: str) -> str:
    return hashlib.sha256(mfa_token.encode("utf-8")).hexdigest()


class PendingLogins(Protocol):
    def put_pending(self, digest: str, pending: PendingLogin) -> None: ...


def require_second_step(
    pending: PendingLogins, user: User, delivery: Delivery, now: float
) -> MfaRequired:
    """The password was right and the account has a second factor: a pending login
    (5 minutes, bound to the account, its password and the delivery asked) and the
    refusal that carries its token. The token is 256 random bits; only its digest is
    stored, and only ``POST /auth/login/mfa`` looks it up."""
    mfa_token = secrets.token_urlsafe(32)
    expires_at = now + PENDING_LIFETIME_SECONDS
    pending.put_pending(
        digest_of(mfa_token), PendingLogin(user.username, delivery, user.password_hash, expires_at)
    )
    return MfaRequired(mfa_token, METHODS)
