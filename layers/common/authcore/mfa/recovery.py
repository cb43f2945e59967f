"""Recovery codes: the way back in when the phone is lost, without an administrator.

Ten codes, shown once, stored as SHA-256 digests, each spent by a conditional write.
Each has 80 random bits (16 characters of Crockford's base32, which has no I, L, O
or U to misread), so a fast digest is enough: there is nothing guessable to slow
down, and the second step's back-off limits online guessing to a handful of tries.
"""

from __future__ import annotations

import hashlib
import secrets

COUNT = 10
_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_GROUPS = 4
_GROUP_LENGTH = 4
# Crockford's decoding: what people type for what they read.
_READ_AS = str.maketrans({"o": "0", "i": "1", "l": "1", "-": None, " ": None})


def new_codes() -> list[str]:
    return [
        "-".join(
            "".join(secrets.choice(_ALPHABET) for _ in range(_GROUP_LENGTH)) for _ in range(_GROUPS)
        )
        for _ in range(COUNT)
    ]


def normalize(code: str) -> str:
    return code.strip().lower().translate(_READ_AS)


def digest(code: str) -> str:
    return hashlib.sha256(normalize(code).encode("utf-8")).hexdigest()
