"""Strict, stateless verification of access tokens (the authorizer's hot path).

Each check names the attack it stops. The order matters: everything that can be
refused without cryptography is refused first, and nothing in the header is
trusted until the key it names has been found in our own ring.
"""

from __future__ import annotations

import hmac
import json
import re
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from authcore import b64
from authcore.clock import Clock, system_clock
from authcore.errors import InvalidToken
from authcore.keyring import VerificationKey
from authcore.tokens import ACCESS_TOKEN_TYPE

MAX_TOKEN_LENGTH = 4096
MAX_KID_LENGTH = 128
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
# Only what our issuer writes. jwk/jku/x5u/x5c would invite the verifier to take
# the key from the attacker (CVE-2018-0114); crit/b64 change the JWS semantics
# (RFC 7515 §4.1.11, RFC 7797). None of them is ever read: their presence refuses.
_ALLOWED_HEADER = frozenset({"alg", "kid", "typ"})
_REQUIRED_STRINGS = ("iss", "aud", "sub", "jti", "sid")
# Order of the P-256 group: r and s must lie in [1, n-1] (CVE-2022-21449 accepted 0).
_P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise InvalidToken("duplicate_member")
    return obj


def _reject_constant(name: str) -> Any:
    raise InvalidToken("malformed")


def _json_object(segment: str) -> dict[str, Any]:
    try:
        text = b64.decode(segment).decode("utf-8")
        value = json.loads(
            text, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant
        )
    except InvalidToken:
        raise
    except (ValueError, RecursionError) as exc:
        raise InvalidToken("malformed") from exc
    if not isinstance(value, dict):
        raise InvalidToken("malformed")
    return value


def _is_number(value: object) -> bool:
    # bool is an int subclass in Python; PyJWT also accepts numeric strings.
    return isinstance(value, int | float) and not isinstance(value, bool)


def _verify_signature(key: VerificationKey, signing_input: bytes, signature: bytes) -> None:
    try:
        if isinstance(key.key, ec.EllipticCurvePublicKey):
            # JWS ECDSA signatures are exactly 64 bytes r||s (RFC 7518 §3.4).
            if len(signature) != 64:
                raise InvalidToken("bad_signature")
            r = int.from_bytes(signature[:32], "big")
            s = int.from_bytes(signature[32:], "big")
            if not (0 < r < _P256_N and 0 < s < _P256_N):
                raise InvalidToken("bad_signature")
            key.key.verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(hashes.SHA256()))
        else:
            if len(signature) != key.key.key_size // 8:
                raise InvalidToken("bad_signature")
            key.key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature as exc:
        raise InvalidToken("bad_signature") from exc


KeyLookup = Callable[[str], VerificationKey | None]


class AccessTokenVerifier:
    """Verifies our access tokens and nothing else.

    ``keys`` maps a kid to its pinned key; the algorithm comes from the key,
    never from the token (stops ``alg: none``, HS256-with-the-public-key and
    RS/ES swaps). Verified tokens are remembered until their ``exp`` so a
    repeated token costs a dictionary lookup.
    """

    def __init__(
        self,
        keys: KeyLookup,
        *,
        issuer: str,
        audience: str,
        max_lifetime: int,
        leeway: int = 60,
        clock: Clock = system_clock,
        cache_size: int = 1024,
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._max_lifetime = max_lifetime
        self._leeway = min(leeway, 60)
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()
        self._cache_size = cache_size

    def verify(self, token: object) -> dict[str, Any]:
        now = self._clock()
        if not isinstance(token, str):
            raise InvalidToken("malformed")
        hit = self._cache.get(token)
        if hit is not None:
            if now < hit[0] + self._leeway:
                return hit[1]
            del self._cache[token]
        claims = self._verify(token, now)
        self._remember(token, claims)
        return claims

    def _remember(self, token: str, claims: dict[str, Any]) -> None:
        self._cache[token] = (float(claims["exp"]), claims)
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def _verify(self, token: str, now: float) -> dict[str, Any]:
        # Size and shape before any decoding: no work for garbage, no JSON
        # serialization form, no detached payload.
        if len(token) > MAX_TOKEN_LENGTH or not _COMPACT_JWS.fullmatch(token):
            raise InvalidToken("malformed")
        header_segment, payload_segment, signature_segment = token.split(".")
        header = _json_object(header_segment)
        if not header.keys() <= _ALLOWED_HEADER:
            raise InvalidToken("forbidden_header")
        # RFC 9068 §4: refresh and ID tokens must never pass as access tokens.
        if header.get("typ") != ACCESS_TOKEN_TYPE:
            raise InvalidToken("wrong_type")
        kid = header.get("kid")
        if not isinstance(kid, str) or not 0 < len(kid) <= MAX_KID_LENGTH:
            raise InvalidToken("bad_kid")
        key = self._keys(kid)
        if key is None:
            raise InvalidToken("unknown_kid")
        alg = header.get("alg")
        if not isinstance(alg, str) or not hmac.compare_digest(alg, key.alg):
            raise InvalidToken("wrong_alg")
        try:
            signature = b64.decode(signature_segment)
        except ValueError as exc:
            raise InvalidToken("malformed") from exc
        signing_input = f"{header_segment}.{payload_segment}".encode("ascii")
        _verify_signature(key, signing_input, signature)
        claims = _json_object(payload_segment)
        self._check_claims(claims, now)
        return claims

    def _check_claims(self, claims: dict[str, Any], now: float) -> None:
        for name in ("exp", "iat"):
            if not _is_number(claims.get(name)):
                raise InvalidToken("bad_claims")
        if "nbf" in claims and not _is_number(claims["nbf"]):
            raise InvalidToken("bad_claims")
        for name in _REQUIRED_STRINGS:
            value = claims.get(name)
            if not isinstance(value, str) or not value:
                raise InvalidToken("bad_claims")
        for name in ("scope", "username", "client_id"):
            if name in claims and not isinstance(claims[name], str):
                raise InvalidToken("bad_claims")
        # Exact string equality: no substring, list, case or trailing-slash games.
        if claims["iss"] != self._issuer:
            raise InvalidToken("wrong_issuer")
        if claims["aud"] != self._audience:
            raise InvalidToken("wrong_audience")
        exp, iat = claims["exp"], claims["iat"]
        if exp <= now - self._leeway:
            raise InvalidToken("expired")
        if iat > now + self._leeway or claims.get("nbf", iat) > now + self._leeway:
            raise InvalidToken("not_yet_valid")
        # A stolen signing path could mint long-lived tokens; ours never do.
        if exp - iat > self._max_lifetime:
            raise InvalidToken("lifetime_too_long")
