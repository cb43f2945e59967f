"""Device cookies: a device that has logged in to an account before is not locked
out by failures that came from elsewhere (OWASP, "Slow Down Online Guessing
Attacks with Device Cookies").

Without them the lockout is a weapon: five wrong guesses an hour, from anywhere,
keep any account locked and its owner out. With them, failures are counted per
*counter*: a request carrying a valid device cookie for the account is charged to
that device's own counter; every other request (no cookie, a cookie of another
account, expired, forged) is charged to the account's counter for untrusted
clients, exactly as before. An attacker without the owner's device can lock only
the untrusted counter; the owner's device keeps its own five-guess budget.

The cookie is not a credential: the password is always checked. It is
``v1.<nonce>.<expires>.<mac>``, where the MAC is HMAC-SHA256 under
``DEVICE_COOKIE_KEY`` over the account's stable ``sub``, the nonce and the expiry,
so it is bound to one account, cannot be forged or extended, and names neither
the account nor the user. Its failure counter lives in the users table under a
keyed digest of the nonce (``#device#…``, never a username: ``#`` is not allowed
in one) and expires like the unknown-username counters.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from authcore import b64

DEVICE_COOKIE = "__Host-device"
# How long a device stays trusted after its latest successful login (each success
# issues a fresh cookie, so a device in regular use never expires).
DEVICE_COOKIE_TTL_SECONDS = 90 * 86_400
DEVICE_COUNTER_PREFIX = "#device#"
_VERSION = "v1"
_MAX_COOKIE_LENGTH = 128
_SHAPE = re.compile(r"v1\.([A-Za-z0-9_-]{22})\.([0-9]{1,12})\.([A-Za-z0-9_-]{43})")
# Stands in for the account of an unknown username, so that checking a cookie
# costs the same work whether the account exists or not.
_NO_ACCOUNT = "\x00no-account"


def binding(user_id: str, password_hash: str) -> str:
    """What a device cookie is bound to: the account and its current password hash.

    A password change (above all the reset after a compromise) untrusts every device at
    once: cookies a thief collected while he knew the old password, each with a guess
    budget of its own, buy nothing against the new one."""
    return f"{user_id}\x00{hashlib.sha256(password_hash.encode()).hexdigest()}"


class DeviceCookies:
    """Issues and checks device cookies under one secret key."""

    def __init__(self, key: bytes, *, ttl: int = DEVICE_COOKIE_TTL_SECONDS) -> None:
        # Separate keys for the MAC and the counter digests, derived from the one secret.
        self._mac_key = hmac.new(key, b"device-cookie/mac/v1", hashlib.sha256).digest()
        self._counter_key = hmac.new(key, b"device-cookie/counter/v1", hashlib.sha256).digest()
        self.ttl = ttl

    def _mac(self, user_id: str, nonce: str, expires: int) -> bytes:
        message = f"{_VERSION}\x00{user_id}\x00{nonce}\x00{expires}".encode()
        return hmac.new(self._mac_key, message, hashlib.sha256).digest()

    def issue(self, user_id: str, now: float) -> str:
        """A new cookie for this account on this device (only after a successful login)."""
        nonce = b64.encode(secrets.token_bytes(16))
        expires = int(now) + self.ttl
        return f"{_VERSION}.{nonce}.{expires}.{b64.encode(self._mac(user_id, nonce, expires))}"

    @staticmethod
    def nonce_of(value: str | None) -> str | None:
        """The nonce of a well-formed cookie (not yet verified), else None.

        Anything malformed is simply no device cookie: a stale or foreign value
        must never turn a login into an error."""
        if not value or len(value) > _MAX_COOKIE_LENGTH:
            return None
        match = _SHAPE.fullmatch(value)
        return match.group(1) if match else None

    def counter_key(self, nonce: str) -> str:
        """The users-table key of this device's failure counter."""
        digest = hmac.new(self._counter_key, nonce.encode("ascii"), hashlib.sha256)
        return DEVICE_COUNTER_PREFIX + digest.hexdigest()[:32]

    def is_trusted(self, value: str | None, user_id: str | None, now: float) -> bool:
        """True when ``value`` is a cookie this service issued to this account and it
        has not expired. Compared in constant time: a timing leak would let a MAC be
        built byte by byte."""
        match = _SHAPE.fullmatch(value) if value and len(value) <= _MAX_COOKIE_LENGTH else None
        if match is None:
            return False
        nonce, expires_text, mac_text = match.groups()
        expires = int(expires_text)
        try:
            presented = b64.decode(mac_text)
        except ValueError:
            return False
        # Computed for unknown accounts too, so the answer's timing does not tell.
        expected = self._mac(user_id or _NO_ACCOUNT, nonce, expires)
        genuine = hmac.compare_digest(presented, expected)
        # A cookie claiming more than the lifetime was not issued by this configuration.
        fresh = now < expires <= now + self.ttl + 1
        return genuine and fresh and user_id is not None
