"""Opaque refresh tokens: ``<sid>.<base64url(family || secret)>``.

* ``secret`` is 256 bits from ``secrets``: unguessable, so a fast digest suffices
  for storage (no brute force can invert SHA-256 of 256 random bits) and the
  table never holds a usable token.
* ``family`` (128 bits) is shared by every token of one session and appears
  nowhere else (not in access tokens, logs or session lists). Presenting a token
  whose family matches but which is not the current one proves the presenter has
  seen a genuine earlier token: that is replay, and it revokes the session. A
  guess that merely knows a ``sid`` cannot do that.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from authcore import b64
from authcore.errors import InvalidGrant
from authcore.records import record

SID_BYTES = 16
FAMILY_BYTES = 16
SECRET_BYTES = 32
MAX_REFRESH_TOKEN_LENGTH = 512
_SID = re.compile(r"[A-Za-z0-9_-]{22}")
_FORMAT = re.compile(r"([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{64})")


def new_sid() -> str:
    return secrets.token_urlsafe(SID_BYTES)


def is_sid(value: str) -> bool:
    return bool(_SID.fullmatch(value))


def digest(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


@record(repr=False)
class RefreshToken:
    sid: str
    family: bytes
    secret: bytes

    @classmethod
    def new(cls, sid: str | None = None, family: bytes | None = None) -> RefreshToken:
        return cls(
            sid=sid or new_sid(),
            family=family or secrets.token_bytes(FAMILY_BYTES),
            secret=secrets.token_bytes(SECRET_BYTES),
        )

    def successor(self) -> RefreshToken:
        return RefreshToken.new(self.sid, self.family)

    @classmethod
    def parse(cls, text: str) -> RefreshToken:
        match = _FORMAT.fullmatch(text)
        if not match:
            raise InvalidGrant("The refresh token is invalid, expired or revoked.")
        try:
            raw = b64.decode(match.group(2))
        except ValueError:
            raise InvalidGrant("The refresh token is invalid, expired or revoked.") from None
        return cls(match.group(1), raw[:FAMILY_BYTES], raw[FAMILY_BYTES:])

    def __str__(self) -> str:
        return f"{self.sid}.{b64.encode(self.family + self.secret)}"

    def __repr__(self) -> str:
        # Never let a token reach a log line through a repr.
        return f"RefreshToken(sid={self.sid!r}, ...)"

    @property
    def digest(self) -> bytes:
        return digest(str(self).encode("ascii"))

    @property
    def family_digest(self) -> bytes:
        return digest(self.family)

    def _box_key(self) -> AESGCM:
        key = HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=None,
            info=b"authcore/refresh-successor/v1",
        ).derive(self.family + self.secret)
        return AESGCM(key)

    def seal_successor(self, successor: RefreshToken) -> bytes:
        """Encrypt the successor under a key only this token can derive, so that
        within the grace window this token can fetch the *same* successor while
        the table alone never yields a usable token."""
        nonce = os.urandom(12)
        plaintext = successor.family + successor.secret
        return nonce + self._box_key().encrypt(nonce, plaintext, self.sid.encode())

    def open_successor(self, box: bytes) -> RefreshToken | None:
        try:
            raw = self._box_key().decrypt(box[:12], box[12:], self.sid.encode())
        except (InvalidTag, ValueError):
            return None
        return RefreshToken(self.sid, raw[:FAMILY_BYTES], raw[FAMILY_BYTES:])
