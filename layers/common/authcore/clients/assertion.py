"""``private_key_jwt`` client authentication (RFC 7523 §2.2 and §3, OpenID Connect Core §9).

A machine client proves who it is with a short-lived JWT signed by its private key;
we hold only the public keys registered for it (a JWKS). The token endpoint works
in two steps:

1. ``claimed_client(assertion)``: the client the assertion claims to be, read without
   verification and used for nothing but finding that client's registered keys;
2. ``verify_assertion(...)``: every check of RFC 7523 §3 against those keys.

Single use is the caller's part: this module is stateless, so the endpoint must
remember each ``VerifiedAssertion.jti`` until its ``exp`` plus the leeway and refuse
it a second time (RFC 7523 §3 item 7). Without that, an assertion read off a log or
a proxy is a password for its remaining lifetime.

Every refusal is one ``InvalidClient`` (RFC 6749 §5.2): the same status, code and
text whatever failed, so a caller probing keys, clocks or claims learns nothing.
The reason is kept on the exception (``AssertionRefused.reason``) for logs only.

As in ``authcore.tokens.verify``: nothing is decoded before the size and shape are
checked, nothing in the header is trusted until the key it names is found in the
client's own registration, the algorithm is the key's, and the claims are not read
before the signature has been verified.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import Algorithm, ECAlgorithm, RSAAlgorithm, RSAPSSAlgorithm

from authcore import b64
from authcore.errors import InvalidClient, InvalidKey, Malformed
from authcore.records import record
from authcore.strictjson import loads_object

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# Seconds between now and exp: a long-lived assertion is a reusable password, and
# the endpoint must remember each jti this long.
MAX_ASSERTION_LIFETIME = 300
# Refused before any decoding: no base64 or JSON work for a megabyte of garbage.
MAX_ASSERTION_LENGTH = 8 * 1024
MAX_JTI_LENGTH = 256
# The claimed client id becomes a lookup key (DynamoDB refuses keys over 2 KiB with
# an error, not a miss): bounded here so a long one is a refusal, not a 503.
MAX_CLIENT_ID_LENGTH = 256
MAX_KID_LENGTH = 256
# Contract §3: clock leeway at most 60 s, whatever a caller passes.
MAX_LEEWAY = 60
MIN_RSA_BITS = 2048

_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")

# The only algorithms a client may sign with, each bound to one PyJWT verifier. No
# "none" (an unsigned assertion), no HS* (HS256 keyed with the public key's text, which
# anyone can read, is the classic confusion attack), and PyJWT is never asked to pick
# an algorithm from the header.
_ALGORITHMS: dict[str, Algorithm] = {
    "ES256": ECAlgorithm(ECAlgorithm.SHA256, ec.SECP256R1),
    "ES384": ECAlgorithm(ECAlgorithm.SHA384, ec.SECP384R1),
    "RS256": RSAAlgorithm(RSAAlgorithm.SHA256),
    "PS256": RSAPSSAlgorithm(RSAPSSAlgorithm.SHA256),
}
# crv -> (curve, coordinate length of RFC 7518 §6.2.1.2, the one algorithm it signs).
_CURVES: dict[str, tuple[ec.EllipticCurve, int, str]] = {
    "P-256": (ec.SECP256R1(), 32, "ES256"),
    "P-384": (ec.SECP384R1(), 48, "ES384"),
}
_RSA_ALGORITHMS = frozenset({"RS256", "PS256"})
# Header members that would take the key from the token rather than the registration
# (jku/jwk/x5u/x5c: CVE-2018-0114), change what is signed (crit, RFC 7515 §4.1.11; b64,
# RFC 7797), or make the payload something other than these claims (zip/enc: JWE;
# cty: a nested JWT whose inner claims nobody here checks, RFC 7519 §5.2). Other
# members are ignored, as RFC 7515 §4 requires of unknown ones.
_FORBIDDEN_HEADER = frozenset({"jku", "jwk", "x5u", "x5c", "crit", "b64", "zip", "enc", "cty"})
# typ, if present (RFC 7515 §4.1.9: case-insensitive, "application/" optional): a plain
# JWT or the explicit type of draft-ietf-oauth-rfc7523bis. Another type (an access
# token, "at+jwt"; a logout token) is a JWT the client's key signed for another
# purpose and must not pass as an assertion (RFC 8725 §3.11, cross-JWT confusion).
_TYPES = frozenset({"jwt", "client-authentication+jwt"})
# A registered JWKS holding any of these leaked a private key (or a shared secret, k)
# into a registration: refused outright, never used, so the mistake is noticed.
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")

_PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey


class AssertionRefused(InvalidClient):
    """An ``InvalidClient`` like any other (same status, code and text); ``reason``
    says which check failed, for logs and metrics, never for the client."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


@record
class VerifiedAssertion:
    client_id: str
    jti: str
    exp: float  # the jti must be remembered (single use) until exp + leeway


@record
class _Key:
    algorithms: frozenset[str]  # what this key may verify: pinned, never the token's choice
    key: _PublicKey


def _segments(assertion: object) -> tuple[str, str, str]:
    # Size and shape before any decoding: no JSON serialization, no JWE (five parts),
    # no unsigned "header.payload." (an empty signature), no padding or spaces.
    if not isinstance(assertion, str) or len(assertion) > MAX_ASSERTION_LENGTH:
        raise AssertionRefused("malformed")
    if not _COMPACT_JWS.fullmatch(assertion):
        raise AssertionRefused("malformed")
    header, payload, signature = assertion.split(".")
    return header, payload, signature


def _object(segment: str, reason: str) -> dict[str, Any]:
    # Strict base64url (one spelling per value) and strict JSON: a duplicate member
    # ({"sub":"a","sub":"b"}) is read differently by different parsers, and RFC 7515
    # §5.2 requires a JWS to be refused for it; NaN and Infinity are not JSON.
    try:
        return loads_object(b64.decode(segment))
    except Malformed as exc:
        raise AssertionRefused(reason) from exc


def _is_client_id(value: object) -> bool:
    return type(value) is str and 0 < len(value) <= MAX_CLIENT_ID_LENGTH


def _is_number(value: object) -> bool:
    # A JSON number and nothing else: bool is an int in Python, PyJWT's own checks
    # accept numeric strings, and "1e999" parses to inf, which never expires.
    return (type(value) is int or type(value) is float) and value - value == 0


def claimed_client(assertion: str) -> str:
    """The client the assertion claims to be (its ``iss``, which must equal its ``sub``),
    read WITHOUT verifying, only to find the client's keys. ``InvalidClient`` if it is
    not a well-formed JWS, or ``iss`` != ``sub``, or either is missing."""
    header, payload, _ = _segments(assertion)
    _object(header, "malformed_header")
    claims = _object(payload, "malformed_payload")
    iss = claims.get("iss")
    if not _is_client_id(iss):
        raise AssertionRefused("bad_iss")
    # OpenID Connect Core §9: both are the client id. Checked again after verification.
    if claims.get("sub") != iss:
        raise AssertionRefused("iss_not_sub")
    return str(iss)


def verify_assertion(
    assertion: str,
    *,
    client_id: str,
    jwks: Mapping[str, Any],
    issuer: str,
    now: float,
    leeway: int = 60,
) -> VerifiedAssertion:
    """RFC 7523 §3 checks, all of them; ``InvalidClient`` on any failure.

    ``jwks`` is the client's registered key set, ``issuer`` our issuer identifier
    (the only audience accepted). The caller must then refuse the returned ``jti``
    if it has seen it before, and remember it until ``exp`` + ``leeway``.
    """
    leeway = max(0, min(leeway, MAX_LEEWAY))
    if not _is_client_id(client_id) or not isinstance(issuer, str) or not issuer:
        raise AssertionRefused("bad_arguments")
    header_segment, payload_segment, signature_segment = _segments(assertion)
    header = _object(header_segment, "malformed_header")
    alg = header.get("alg")
    if type(alg) is not str or alg not in _ALGORITHMS:
        raise AssertionRefused("alg_not_allowed")
    if not header.keys().isdisjoint(_FORBIDDEN_HEADER):
        raise AssertionRefused("forbidden_header")
    if "typ" in header and not _allowed_type(header["typ"]):
        raise AssertionRefused("wrong_type")
    kid = header.get("kid")
    if "kid" in header and (type(kid) is not str or not 0 < len(kid) <= MAX_KID_LENGTH):
        raise AssertionRefused("bad_kid")
    key = _select_key(jwks, kid, alg)
    try:
        signature = b64.decode(signature_segment)
    except Malformed as exc:
        raise AssertionRefused("malformed_signature") from exc
    _verify_signature(alg, key, f"{header_segment}.{payload_segment}".encode("ascii"), signature)
    claims = _object(payload_segment, "malformed_payload")
    return _check_claims(claims, client_id=client_id, issuer=issuer, now=now, leeway=leeway)


def _allowed_type(typ: object) -> bool:
    if type(typ) is not str:
        return False
    typ = typ.lower()
    return typ.removeprefix("application/") in _TYPES


def _select_key(jwks: object, kid: str | None, alg: str) -> _PublicKey:
    """The one registered key this assertion may be verified with, pinned to ``alg``."""
    entries = jwks.get("keys") if isinstance(jwks, Mapping) else None
    if not isinstance(entries, list):
        raise AssertionRefused("bad_jwks")
    jwks_entries = [jwk for jwk in entries if isinstance(jwk, Mapping)]
    if any(member in jwk for jwk in jwks_entries for member in _PRIVATE_MEMBERS):
        raise AssertionRefused("private_key_in_jwks")
    if kid is None:
        # No kid: nothing to choose by, so there must be nothing to choose from (trying
        # every key would let one weak or forgotten key verify for all of them).
        usable = [key for key in map(_usable_key, jwks_entries) if key is not None]
        if len(usable) != 1:
            raise AssertionRefused("no_single_key")
        chosen = usable[0]
    else:
        # The kid is only compared, never used as a path or URL. Two keys under one kid
        # are ambiguous: neither is used.
        named = [jwk for jwk in jwks_entries if jwk.get("kid") == kid]
        if len(named) != 1:
            raise AssertionRefused("unknown_kid" if not named else "ambiguous_kid")
        found = _usable_key(named[0])
        if found is None:
            raise AssertionRefused("unusable_key")
        chosen = found
    # The algorithm is the key's: stops RS/PS/ES swaps and an RS256 assertion against
    # a key registered for PS256 only.
    if alg not in chosen.algorithms:
        raise AssertionRefused("alg_mismatch")
    return chosen.key


def _usable_key(jwk: Mapping[str, Any]) -> _Key | None:
    """The JWK as a key pinned to the algorithms it may verify, or None if we will not
    use it: not for signatures, an unsupported type, an invalid point, a weak RSA
    modulus, or an ``alg`` that does not fit the key."""
    if jwk.get("use", "sig") != "sig":
        return None
    ops = jwk.get("key_ops")
    if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
        return None
    kty, crv, alg = jwk.get("kty"), jwk.get("crv"), jwk.get("alg")
    key: _PublicKey
    try:
        if kty == "EC" and type(crv) is str and crv in _CURVES:
            curve, size, curve_alg = _CURVES[crv]
            key = _ec_key(jwk, curve, size)
            algorithms = frozenset({curve_alg})
        elif kty == "RSA":
            key = _rsa_key(jwk)
            algorithms = _RSA_ALGORITHMS
        else:
            return None
    except ValueError:  # InvalidKey, bad base64, a point off the curve, a bad exponent
        return None
    if alg is not None:
        # An explicit alg narrows the key to that one algorithm; one that does not fit
        # the key (ES384 on P-256, ES256 on RSA, HS256 anywhere) makes it unusable.
        if type(alg) is not str or alg not in algorithms:
            return None
        algorithms = frozenset({alg})
    return _Key(algorithms=algorithms, key=key)


def _ec_key(jwk: Mapping[str, Any], curve: ec.EllipticCurve, size: int) -> _PublicKey:
    x, y = jwk.get("x"), jwk.get("y")
    if type(x) is not str or type(y) is not str:
        raise InvalidKey("missing coordinate")
    raw_x, raw_y = b64.decode(x), b64.decode(y)
    if len(raw_x) != size or len(raw_y) != size:
        raise InvalidKey("coordinate length")
    # The constructor checks the point lies on the curve (invalid-curve attacks).
    numbers = ec.EllipticCurvePublicNumbers(
        int.from_bytes(raw_x, "big"), int.from_bytes(raw_y, "big"), curve
    )
    return numbers.public_key()


def _rsa_key(jwk: Mapping[str, Any]) -> _PublicKey:
    n, e = jwk.get("n"), jwk.get("e")
    if type(n) is not str or type(e) is not str or not n or not e:
        raise InvalidKey("missing modulus or exponent")
    key = rsa.RSAPublicNumbers(
        int.from_bytes(b64.decode(e), "big"), int.from_bytes(b64.decode(n), "big")
    ).public_key()
    # NIST SP 800-131A: below 2048 bits a modulus can be factored by a determined
    # attacker, who then signs as the client.
    if key.key_size < MIN_RSA_BITS:
        raise InvalidKey("RSA key too small")
    return key


def _verify_signature(alg: str, key: _PublicKey, signing_input: bytes, signature: bytes) -> None:
    # ES256/ES384: PyJWT takes only the fixed-width r||s of RFC 7518 §3.4 (never DER).
    # RSA: exactly the modulus length (RFC 8017 §8.2.2 step 1). Low-S is not required
    # here, unlike for our own tokens: a re-spelled signature carries the same jti,
    # which single use refuses.
    if isinstance(key, rsa.RSAPublicKey) and len(signature) != (key.key_size + 7) // 8:
        raise AssertionRefused("bad_signature")
    if not _ALGORITHMS[alg].verify(signing_input, key, signature):
        raise AssertionRefused("bad_signature")


def _check_claims(
    claims: dict[str, Any], *, client_id: str, issuer: str, now: float, leeway: int
) -> VerifiedAssertion:
    # RFC 7523 §3 items 1 and 2.B, OpenID Connect Core §9: iss and sub are both the
    # client id, exactly (no case folding or trimming).
    iss = claims.get("iss")
    if type(iss) is not str or iss != client_id:
        raise AssertionRefused("wrong_iss")
    if claims.get("sub") != iss:
        raise AssertionRefused("wrong_sub")
    # RFC 7523 §3 item 3, contract §9: the audience is our issuer identifier and only
    # that. The token endpoint's URL is refused too: one accepted spelling, and an
    # assertion meant for us is never also meant for a second audience that could
    # replay it here (or we there).
    aud = claims.get("aud")
    if not ((type(aud) is str and aud == issuer) or (type(aud) is list and aud == [issuer])):
        raise AssertionRefused("wrong_aud")
    # RFC 7523 §3 item 4: exp is required. Also at most MAX_ASSERTION_LIFETIME ahead
    # (plus the leeway, for a client whose clock runs ahead): a long-lived assertion
    # is a password, and its jti would have to be remembered that long.
    exp: Any = claims.get("exp")
    if not _is_number(exp):
        raise AssertionRefused("bad_exp")
    if exp <= now - leeway:
        raise AssertionRefused("expired")
    if exp - now > MAX_ASSERTION_LIFETIME + leeway:
        raise AssertionRefused("exp_too_far")
    # RFC 7523 §3 items 5 and 6: nbf and iat are optional, but when present they are
    # numbers and not in the future.
    for name in ("iat", "nbf"):
        if name in claims:
            value = claims[name]
            if not _is_number(value):
                raise AssertionRefused(f"bad_{name}")
            if value > now + leeway:
                raise AssertionRefused("not_yet_valid")
    # RFC 7523 §3 item 7 makes jti optional; OpenID Connect Core §9 requires it, and
    # single use needs it. Bounded: the caller stores it.
    jti = claims.get("jti")
    if type(jti) is not str or not 0 < len(jti) <= MAX_JTI_LENGTH:
        raise AssertionRefused("bad_jti")
    return VerifiedAssertion(client_id=iss, jti=jti, exp=float(exp))
