"""TOTP (RFC 6238: HMAC-SHA-1, 6 digits, 30-second steps), through pyotp.

A code is accepted within one step either side of now (clocks drift, people type
slowly) and names the step it matched: the caller stores the last step used and
accepts only later ones, which is what makes a code single use (RFC 6238 §5.2: "the
verifier MUST NOT accept the second attempt of the OTP after the successful
validation has been issued for the first OTP").
"""

from __future__ import annotations

import base64
import io
import re
import secrets

import pyotp

# RFC 4226 §4 asks for at least 128 bits and recommends 160: the length of SHA-1's output.
SECRET_BYTES = 20
DIGITS = 6
PERIOD = 30
VALID_WINDOW = 1
_CODE = re.compile(r"[0-9]{6}")


def new_secret() -> str:
    """160 random bits, base32 (what authenticator apps take)."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def otpauth_uri(secret: str, *, account: str, issuer: str) -> str:
    """The Key URI Format authenticator apps read from a QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD).provisioning_uri(
        name=account, issuer_name=issuer
    )


def qr_svg_data_uri(uri: str) -> str:
    """The URI as a QR code, an SVG ``data:`` URI a page can show as an image (segno
    is pure Python: no image library in the layer)."""
    import segno  # only enrolment draws one

    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=4, border=2)
    return "data:image/svg+xml;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def matched_step(secret: str, code: str, now: float) -> int | None:
    """The time step ``code`` is valid for within ±1 step of ``now``; None if none.
    Malformed codes are no match (never an error: the answer must be the same)."""
    code = code.strip().replace(" ", "")
    if not _CODE.fullmatch(code):
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD)
    try:
        return totp.verify_and_get_timecode(code, for_time=now, valid_window=VALID_WINDOW)
    except pyotp.OTPVerificationError:
        return None


def step_at(now: float) -> int:
    return int(now // PERIOD)
