"""Strict, stateless verification of access tokens (the authorizer's hot path).

Each check names the attack it stops. Everything that can be refused without
cryptography is refused first, nothing in the header is trusted until the key
it names has been found in our own ring, and the payload is not even parsed
before its signature has been verified.

Imported by the authorizer: the standard library, ``cryptography`` and the
light modules of ``authcore`` only (``authcore.tokens`` would pull the signing
side, and with it boto3).
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any, cast

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from authcore import b64
from authcore.clock import Clock, system_clock
from authcore.errors import InvalidToken
from authcore.keys.ring import KeyRing, VerificationKey
from authcore.tokens.claims import ACCESS_TOKEN_TYPE, AccessClaims

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.padding import AsymmetricPadding

MAX_TOKEN_LENGTH = 4096
MAX_KID_LENGTH = 128
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
# Only what our issuer writes. jwk/jku/x5u/x5c would invite the verifier to take
# the key from the attacker (CVE-2018-0114); crit/b64 change the JWS semantics
# (RFC 7515 §4.1.11, RFC 7797). None of them is ever read: their presence refuses.
_ALLOWED_HEADER = frozenset({"alg", "kid", "typ"})
# The members of AccessClaims (authcore.tokens.claims), by type. sid and username are
# absent from a machine client's token, and never empty when present.
_REQUIRED_STRINGS = ("iss", "aud", "sub", "jti")
_OPTIONAL_NON_EMPTY = ("sid", "username")
_OPTIONAL_STRINGS = ("scope", "client_id")
# Order of the P-256 group: r and s must lie in [1, n-1] (CVE-2022-21449 accepted 0).
_P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
# Low-S only (as BIP 62/146 require of Bitcoin): (r, n - s) verifies whenever (r, s)
# does, so without this every token has a second spelling nobody signed. Our signers
# normalise (authcore.keys.signers.der_to_raw_p256); a high-S token was altered in transit.
_P256_HALF_N = _P256_N // 2
_SHA256 = hashes.SHA256()


class _ECDSAVerification(ec.ECDSA):
    """``ec.ECDSA(hashes.SHA256())``, for verifying. ECDSA's constructor imports the whole
    of cryptography's OpenSSL backend (its ciphers, RSA, padding: ~5 ms of the authorizer's
    cold start, issue #20) only to check an RFC 6979 signing option a verifier never reads.
    ``verify`` asks what this class answers: an ``ECDSA`` instance and its ``algorithm``."""

    algorithm = _SHA256
    deterministic_signing = False

    def __init__(self) -> None:  # not ECDSA's: see above
        pass


_ECDSA_SHA256 = _ECDSAVerification()

KeyLookup = Callable[[str], VerificationKey | None]


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        # {"sub":"admin","sub":"user"}: parsers disagree on which one wins.
        raise InvalidToken("duplicate_member")
    return obj


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON (RFC 8259); "exp": Infinity never expires.
    raise InvalidToken("malformed")


_DECODER = json.JSONDecoder(object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant)


def _json_object(segment: str) -> dict[str, Any]:
    try:
        value = _DECODER.decode(b64.decode(segment).decode("utf-8"))
    except InvalidToken:
        raise
    except (ValueError, RecursionError) as exc:  # bad base64, UTF-8 or JSON
        raise InvalidToken("malformed") from exc
    if not isinstance(value, dict):
        raise InvalidToken("malformed")
    return value


def _is_number(value: Any) -> bool:
    # A JSON number and nothing else: bool is an int subclass in Python, and PyJWT
    # also accepts numeric strings. "1e999" parses to inf, which is not a date.
    return (type(value) is int or type(value) is float) and value - value == 0


@cache
def _pkcs1v15() -> AsymmetricPadding:
    # Imported by RS256 tokens only (the padding module brings the RSA one): ES256's cold
    # start, the default, does without them.
    from cryptography.hazmat.primitives.asymmetric import padding

    return padding.PKCS1v15()


def verify_signature(key: VerificationKey, signing_input: bytes, signature: bytes) -> None:
    """Verify a JWS signature with the key's pinned algorithm; InvalidToken if not.

    ES256 signatures are exactly 64 bytes r||s (RFC 7518 §3.4), never DER, r in
    [1, n-1] (the "psychic signature" CVE-2022-21449 accepted r = s = 0) and s in
    [1, n/2] (low-S: no second, malleated spelling of a signed token).
    RS256 signatures are exactly the modulus length (RFC 8017 §8.2.2 step 1).
    """
    try:
        if isinstance(key.key, ec.EllipticCurvePublicKey):
            if len(signature) != 64:
                raise InvalidToken("bad_signature")
            r = int.from_bytes(signature[:32], "big")
            s = int.from_bytes(signature[32:], "big")
            if not (0 < r < _P256_N and 0 < s <= _P256_HALF_N):
                raise InvalidToken("bad_signature")
            key.key.verify(encode_dss_signature(r, s), signing_input, _ECDSA_SHA256)
        else:
            if len(signature) != (key.key.key_size + 7) // 8:
                raise InvalidToken("bad_signature")
            key.key.verify(signature, signing_input, _pkcs1v15(), _SHA256)
    except InvalidSignature as exc:
        raise InvalidToken("bad_signature") from exc


def open_jws(token: str, keys: KeyLookup) -> tuple[dict[str, Any], str, VerificationKey]:
    """JWS compact verification in our profile; returns the header, the
    (verified, still encoded) payload segment and the key that verified it.
    The ``typ`` and the claims are the access-token layer's business."""
    # Size and shape before any decoding: no work for garbage, no JSON
    # serialization, no detached or unencoded payload, no padding, no spaces.
    if len(token) > MAX_TOKEN_LENGTH or not _COMPACT_JWS.fullmatch(token):
        raise InvalidToken("malformed")
    header_segment, payload_segment, signature_segment = token.split(".")
    header = _json_object(header_segment)
    if not header.keys() <= _ALLOWED_HEADER:
        raise InvalidToken("forbidden_header")
    kid = header.get("kid")
    if type(kid) is not str or not 0 < len(kid) <= MAX_KID_LENGTH:
        raise InvalidToken("bad_kid")
    # The kid is only ever a dictionary key: traversal or injection strings
    # simply do not match.
    key = keys(kid)
    if key is None:
        raise InvalidToken("unknown_kid")
    # The algorithm is the key's, never the token's: stops "none" in every
    # spelling, HS256 keyed with our public key, and RS/ES swaps.
    if header.get("alg") != key.alg:
        raise InvalidToken("wrong_alg")
    try:
        signature = b64.decode(signature_segment)
    except ValueError as exc:
        raise InvalidToken("malformed") from exc
    verify_signature(key, f"{header_segment}.{payload_segment}".encode("ascii"), signature)
    return header, payload_segment, key


class AccessTokenVerifier:
    """Verifies our access tokens and nothing else.

    ``keys`` is a ``KeyRing`` (or any kid -> key lookup); the algorithm comes
    from the key, never from the token. Verified tokens are remembered, keyed by
    the exact token string, until their ``exp`` (plus the leeway the check
    allows), so a repeated token costs two dictionary lookups. The second one
    asks the ring whether the key that verified it is still the key it
    publishes under that kid: a reload that withdraws or replaces a key ends its
    tokens' cache entries at once, and a stale ring refreshes even when every
    request repeats a known token.
    """

    def __init__(
        self,
        keys: KeyRing | KeyLookup,
        *,
        issuer: str,
        audience: str,
        max_lifetime: int,
        leeway: int = 60,
        clock: Clock = system_clock,
        cache_size: int = 1024,
    ) -> None:
        self._keys: KeyLookup = keys.get if isinstance(keys, KeyRing) else keys
        self._issuer = issuer
        self._audience = audience
        self._max_lifetime = max_lifetime
        self._leeway = max(0, min(leeway, 60))
        self._clock = clock
        # token -> (usable until, claims, the key that verified it)
        self._cache: OrderedDict[str, tuple[float, AccessClaims, VerificationKey]] = OrderedDict()
        self._cache_size = cache_size

    def verify(self, token: object) -> AccessClaims:
        """The claims of a valid access token (a shared dict: do not mutate)."""
        if not isinstance(token, str):
            raise InvalidToken("malformed")
        now = self._clock()
        hit = self._cache.get(token)
        if hit is not None:
            deadline, claims, key = hit
            if now < deadline and self._keys(key.kid) is key:
                return claims
            del self._cache[token]
        claims, key = self._verify(token, now)
        self._cache[token] = (claims["exp"] + self._leeway, claims, key)
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return claims

    def _verify(self, token: str, now: float) -> tuple[AccessClaims, VerificationKey]:
        header, payload_segment, key = open_jws(token, self._keys)
        # RFC 9068 §4: refresh and ID tokens must never pass as access tokens.
        if header.get("typ") != ACCESS_TOKEN_TYPE:
            raise InvalidToken("wrong_type")
        claims = _json_object(payload_segment)
        self._check_claims(claims, now)
        return cast(AccessClaims, claims), key

    def _check_claims(self, claims: dict[str, Any], now: float) -> None:
        exp: Any = claims.get("exp")
        iat: Any = claims.get("iat")
        nbf: Any = claims.get("nbf", 0)
        if not (_is_number(exp) and _is_number(iat) and _is_number(nbf)):
            raise InvalidToken("bad_claims")
        for name in _REQUIRED_STRINGS:
            value = claims.get(name)
            if type(value) is not str or not value:
                raise InvalidToken("bad_claims")
        for name in _OPTIONAL_NON_EMPTY:
            if name in claims and (type(claims[name]) is not str or not claims[name]):
                raise InvalidToken("bad_claims")
        for name in _OPTIONAL_STRINGS:
            if name in claims and type(claims[name]) is not str:
                raise InvalidToken("bad_claims")
        amr: Any = claims.get("amr", [])
        if type(amr) is not list or any(type(m) is not str or not m for m in amr):
            raise InvalidToken("bad_claims")
        if "auth_time" in claims and not _is_number(claims["auth_time"]):
            raise InvalidToken("bad_claims")
        if "sid" not in claims and (
            claims.get("client_id") != claims["sub"] or "username" in claims
        ):
            # No session: the token speaks for a machine client, and then only in the
            # client-credentials shape (RFC 9068 §2.2: sub is the client_id, no username).
            # A user's token that lost its sid (sub a user id, client_id "web") is refused,
            # never taken for a client's.
            raise InvalidToken("bad_claims")
        # Exact string equality: no substring, list, case or trailing-slash games.
        if claims["iss"] != self._issuer:
            raise InvalidToken("wrong_issuer")
        if claims["aud"] != self._audience:
            raise InvalidToken("wrong_audience")
        if exp <= now - self._leeway:
            raise InvalidToken("expired")
        if iat > now + self._leeway or nbf > now + self._leeway:
            raise InvalidToken("not_yet_valid")
        # A stolen signing path could mint long-lived tokens; ours never do.
        if exp - iat > self._max_lifetime:
            raise InvalidToken("lifetime_too_long")
