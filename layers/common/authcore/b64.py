"""base64url without padding (RFC 7515 §2), strict on the way in."""

from __future__ import annotations

import base64
import binascii

from authcore.errors import Malformed


def encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def decode(text: str) -> bytes:
    """Decode canonical unpadded base64url; raise ``Malformed`` (a ValueError) on anything else.

    Non-canonical encodings (stray bits in the last character) would make two
    different strings decode to the same bytes: token malleability, so refuse.
    """
    if len(text) % 4 == 1:
        raise Malformed("impossible base64 length")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise Malformed("invalid base64url") from exc
    if encode(raw) != text:
        raise Malformed("non-canonical base64url")
    return raw
