"""Public verification keys by ``kid``, loaded from a JWKS and reloaded sparingly.

Imported by the authorizer, so it stays light: the standard library (not even
``http.client``: ``authcore.transport``) and ``cryptography``'s key constructors only.
JWKs are parsed here rather than with PyJWT's ``jwt.algorithms``, which imports the whole
``jwt`` package and ``cryptography.x509`` (about 60 ms of cold start for two small
constructors).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric import ec

from authcore import b64, transport
from authcore.clock import Clock, system_clock
from authcore.errors import InvalidKey, InvalidKeySet, KeySourceRefused, KeysUnconfirmed
from authcore.records import record

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import rsa

log = logging.getLogger(__name__)

# An unknown kid reloads the ring at most this often: a spray of random kids costs
# one read per interval, not one per request.
RELOAD_INTERVAL_SECONDS = 30
# After a failed or empty reload (or with no key at all) the next attempt comes
# sooner, still bounded: the ring is running out of trust (below).
EMPTY_RING_RETRY_SECONDS = 5
# A ring older than this is re-confirmed on the next lookup, even when every request
# repeats a known token, so a revoked key stops verifying within this interval plus
# one read (docs/keys.md, "Revoked keys stop fast").
MAX_RING_AGE_SECONDS = 30
MAX_JWKS_BYTES = 64 * 1024
MIN_RSA_BITS = 2048
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")


@record
class VerificationKey:
    kid: str
    alg: str
    key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey


def _uint(value: object) -> int:
    """A base64urlUInt member (RFC 7518 §2), strictly encoded."""
    if not isinstance(value, str) or not value:
        raise InvalidKey("not a base64url string")
    return int.from_bytes(b64.decode(value), "big")


def _ec_p256(jwk: Mapping[str, Any]) -> ec.EllipticCurvePublicKey:
    x, y = jwk.get("x"), jwk.get("y")
    if not isinstance(x, str) or not isinstance(y, str):
        raise InvalidKey("missing coordinate")
    raw_x, raw_y = b64.decode(x), b64.decode(y)
    # RFC 7518 §6.2.1.2: coordinates are the full size of the field (32 bytes).
    if len(raw_x) != 32 or len(raw_y) != 32:
        raise InvalidKey("coordinate length")
    # The constructor checks that the point lies on the curve (invalid-curve attacks).
    numbers = ec.EllipticCurvePublicNumbers(
        int.from_bytes(raw_x, "big"), int.from_bytes(raw_y, "big"), ec.SECP256R1()
    )
    return numbers.public_key()


def _rsa(jwk: Mapping[str, Any]) -> rsa.RSAPublicKey:
    # Imported by RS256 rings only: ES256's cold start (the default) does without it.
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.RSAPublicNumbers(_uint(jwk.get("e")), _uint(jwk.get("n"))).public_key()
    if key.key_size < MIN_RSA_BITS:
        raise InvalidKey("RSA key too small")
    return key


def public_key_from_jwk(jwk: Mapping[str, Any]) -> VerificationKey:
    """One JWK as a pinned verification key, or ``InvalidKey`` (a ValueError).

    Only what we can pin: an explicit ``alg`` we support that matches the key
    type (ES256 on P-256, RS256 on RSA >= 2048 bits), signature use, and no
    private or symmetric member (an ``oct`` key would let anyone holding the
    JWKS mint tokens: the HS256-with-the-public-key confusion).
    """
    kid, alg = jwk.get("kid"), jwk.get("alg")
    if not isinstance(kid, str) or not kid:
        raise InvalidKey("missing kid")
    if jwk.get("use", "sig") != "sig":
        raise InvalidKey("not a signature key")
    ops = jwk.get("key_ops")
    if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
        raise InvalidKey("not a verification key")
    if any(member in jwk for member in _PRIVATE_MEMBERS):
        raise InvalidKey("private or symmetric key material")
    key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey
    if alg == "ES256" and jwk.get("kty") == "EC" and jwk.get("crv") == "P-256":
        key = _ec_p256(jwk)
    elif alg == "RS256" and jwk.get("kty") == "RSA":
        key = _rsa(jwk)
    else:
        raise InvalidKey("unsupported alg or key type")
    return VerificationKey(kid=kid, alg=alg, key=key)


def parse_jwks(jwks: Any) -> dict[str, VerificationKey]:
    """The keys of a JWKS we can pin; anything else is skipped (and logged)."""
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list):
        raise InvalidKeySet("JWKS has no keys array")
    ring: dict[str, VerificationKey] = {}
    seen: set[str] = set()
    for jwk in keys:
        if not isinstance(jwk, dict):
            continue
        kid = jwk.get("kid")
        if isinstance(kid, str) and kid in seen:
            # Two keys under one kid: which one a token means is ambiguous. Use neither.
            ring.pop(kid, None)
            continue
        try:
            key = public_key_from_jwk(jwk)
        except Exception as exc:
            log.warning("skipping JWK (%s)", type(exc).__name__)
            if isinstance(kid, str):
                seen.add(kid)
            continue
        seen.add(key.kid)
        ring[key.kid] = key
    return ring


def fetch_jwks(url: str, timeout: float = 2.0) -> Any:
    """GET the JWKS over HTTPS (plain HTTP only to this machine, for local runs).

    Redirects are not followed; anything but ``200`` with a body of at most 64 KiB
    fails, and the ring keeps its last good keys.
    """
    opened = transport.connect(url, timeout)
    if opened is None:
        raise KeySourceRefused("JWKS must be fetched over https")
    connection, target = opened
    try:
        response = connection.request(
            "GET",
            target,
            {"Accept": "application/json"},
            limit=MAX_JWKS_BYTES,
            too_large=lambda _: KeySourceRefused("response too large"),
        )
    finally:
        connection.close()
    if response.status != 200:
        raise OSError(f"JWKS answered {response.status}")
    if response.headers.get("content-encoding", "identity").lower() != "identity":
        raise KeySourceRefused("encoded JWKS response")
    return json.loads(response.body)


class KeyRing:
    """The keys of one issuer.

    Reloads on an unknown ``kid`` at most once per interval (an attacker spraying
    random kids cannot turn each request into a read), re-confirms a ring older
    than ``max_age`` on the next lookup, and keeps the last good ring when a
    reload fails or yields no usable key, but only for a while: a ring not
    re-confirmed for ``trust_for`` (twice ``max_age`` by default) raises
    ``KeysUnconfirmed`` on every lookup until a reload succeeds. A key that a
    reload republishes unchanged stays the same object, so holders of a key (the
    verifier's cache) can tell "still published" from "withdrawn or replaced" by
    identity.
    """

    def __init__(
        self,
        source: Callable[[], Any],
        *,
        clock: Clock = system_clock,
        reload_interval: float = RELOAD_INTERVAL_SECONDS,
        max_age: float = MAX_RING_AGE_SECONDS,
        trust_for: float | None = None,
    ) -> None:
        self._source = source
        self._clock = clock
        self._interval = reload_interval
        self._max_age = max_age
        self._trust_for = 2 * max_age if trust_for is None else trust_for
        self._keys: dict[str, VerificationKey] = {}
        self._last_attempt: float | None = None
        self._last_failed = False
        self._loaded_at = float("-inf")
        self._distrust_logged = False

    @property
    def kids(self) -> frozenset[str]:
        return frozenset(self._keys)

    @property
    def confirmed_at(self) -> float:
        """When a reload last succeeded (-inf: never)."""
        return self._loaded_at

    def _reload(self, now: float) -> None:
        self._last_attempt = now
        self._last_failed = True
        try:
            fresh = parse_jwks(self._source())
        except Exception as exc:
            # The class name only: library messages may echo URLs or payloads.
            log.warning(
                "key ring reload failed (%s); keeping the last good keys", type(exc).__name__
            )
            return
        if not fresh:
            log.warning("key ring reload found no usable key; keeping the last good keys")
            return
        old = self._keys
        self._keys = {kid: old[kid] if old.get(kid) == key else key for kid, key in fresh.items()}
        self._loaded_at = now
        self._last_failed = False
        self._distrust_logged = False
        withdrawn = sum(1 for kid, key in old.items() if self._keys.get(kid) is not key)
        if withdrawn:
            log.warning("key ring reload withdrew or replaced %d key(s)", withdrawn)

    def get(self, kid: str) -> VerificationKey | None:
        now = self._clock()
        key = self._keys.get(kid)
        if key is not None and now - self._loaded_at < self._max_age:
            return key
        interval = self._interval
        if self._last_failed or not self._keys:
            interval = min(interval, EMPTY_RING_RETRY_SECONDS)
        if self._last_attempt is None or now - self._last_attempt >= interval:
            self._reload(now)
        if now - self._loaded_at >= self._trust_for:
            if not self._distrust_logged:
                # Once per outage; each refused request adds its own denial line.
                log.error(
                    "key ring not re-confirmed for %d s: refusing every token (fail closed)",
                    min(now - self._loaded_at, 10**9),
                )
                self._distrust_logged = True
            raise KeysUnconfirmed
        return self._keys.get(kid)

    def load(self) -> None:
        """Load eagerly (at cold start) if never loaded."""
        if self._last_attempt is None:
            self._reload(self._clock())
