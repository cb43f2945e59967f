"""One-time tokens sent by mail: reset a password, verify an address, accept an
invitation (contract §7).

A token is 256 bits from ``secrets`` (base64url, 43 characters). Only its SHA-256
digest is stored: a copy of the table holds nothing that opens an account. A plain
hash is enough because the input is random, not chosen by a person (no dictionary
to run). The digest keys an item naming the account and the purpose, and the
account itself names its current token of each purpose: issuing a newer one
replaces that name (the older token is void), and consuming one is a transaction
that deletes the token's item and clears the name on the account, both under
conditions. Two concurrent uses cannot both pass them, and a token of one purpose
cannot be spent on another. DynamoDB's TTL deletes expired items lazily (up to days
late), so expiry is checked in the condition and in code, never left to TTL.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Literal, get_args

from authcore.errors import InvalidGrant
from authcore.records import record

Purpose = Literal["reset", "verify", "invite"]
PURPOSES: tuple[Purpose, ...] = get_args(Purpose)
LIFETIME_SECONDS: dict[Purpose, int] = {
    "reset": 30 * 60,
    "verify": 7 * 86_400,
    "invite": 7 * 86_400,
}
TOKEN_BYTES = 32
TOKEN_LENGTH = 43  # base64url of 32 bytes, unpadded
_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
REFUSED = "The link is invalid, used or expired."


@record(repr=False)
class MailToken:
    value: str

    @classmethod
    def new(cls) -> MailToken:
        return cls(secrets.token_urlsafe(TOKEN_BYTES))

    @classmethod
    def parse(cls, raw: str) -> MailToken:
        """Any string that is not a token's shape is refused exactly as an unknown
        token is (401 invalid_grant): no answer says how close a guess came."""
        if len(raw) != TOKEN_LENGTH or not _ALPHABET.issuperset(raw):
            raise InvalidGrant(REFUSED)
        return cls(raw)

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.value.encode("ascii")).hexdigest()

    def __str__(self) -> str:
        return self.value


@record
class StoredToken:
    """What the table holds for a token: its digest, purpose, account and expiry,
    and for a verification the address it was sent to."""

    digest: str
    purpose: Purpose
    username: str
    expires_at: float
    email: str = ""

    def usable_for(self, purposes: tuple[Purpose, ...], now: float) -> bool:
        return self.purpose in purposes and now < self.expires_at
