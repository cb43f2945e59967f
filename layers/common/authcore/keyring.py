"""Public verification keys by ``kid``, loaded from a JWKS and reloaded sparingly.

Imported by the authorizer: standard library, PyJWT's key parsers and
cryptography only (no boto3), so the cold start stays light.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from authcore.clock import Clock, system_clock

log = logging.getLogger(__name__)

RELOAD_INTERVAL_SECONDS = 60
# With no key at all (the first load failed) every request is refused anyway:
# retry sooner, still bounded.
EMPTY_RING_RETRY_SECONDS = 5
MAX_JWKS_BYTES = 64 * 1024


@dataclass(frozen=True)
class VerificationKey:
    kid: str
    alg: str
    key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey


def parse_jwks(jwks: Any) -> dict[str, VerificationKey]:
    """Keep only keys we can pin: an explicit supported ``alg`` matching the key
    type, signature use, and no private members. Anything else is skipped."""
    ring: dict[str, VerificationKey] = {}
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list):
        raise TypeError("JWKS has no keys array")
    for jwk in keys:
        if not isinstance(jwk, dict):
            continue
        kid, alg = jwk.get("kid"), jwk.get("alg")
        if not isinstance(kid, str) or not kid or kid in ring:
            continue
        if jwk.get("use", "sig") != "sig":
            continue
        ops = jwk.get("key_ops")
        if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
            continue
        if any(member in jwk for member in ("d", "p", "q", "dp", "dq", "qi", "k")):
            continue  # a published private key is a leak, not a verification key
        try:
            if alg == "ES256" and jwk.get("kty") == "EC" and jwk.get("crv") == "P-256":
                key: Any = ECAlgorithm.from_jwk(jwk)
                if not isinstance(key, ec.EllipticCurvePublicKey):
                    continue
            elif alg == "RS256" and jwk.get("kty") == "RSA":
                key = RSAAlgorithm.from_jwk(jwk)
                if not isinstance(key, rsa.RSAPublicKey) or key.key_size < 2048:
                    continue
            else:
                continue
        except Exception:
            log.warning("skipping malformed JWK", extra={"kid": kid[:64]})
            continue
        ring[kid] = VerificationKey(kid=kid, alg=alg, key=key)
    return ring


def fetch_jwks(url: str, timeout: float = 2.0) -> Any:
    if not url.startswith(("https://", "http://localhost", "http://127.0.0.1")):
        raise ValueError("JWKS must be fetched over https")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        body = response.read(MAX_JWKS_BYTES + 1)
    if len(body) > MAX_JWKS_BYTES:
        raise ValueError("JWKS too large")
    return json.loads(body)


class KeyRing:
    """The keys of one issuer, with a reload on unknown ``kid`` at most once per
    interval: an attacker spraying random kids cannot turn each request into a
    JWKS fetch, and a failed reload keeps the last good ring."""

    def __init__(
        self,
        source: Callable[[], Any],
        *,
        clock: Clock = system_clock,
        reload_interval: float = RELOAD_INTERVAL_SECONDS,
    ) -> None:
        self._source = source
        self._clock = clock
        self._interval = reload_interval
        self._keys: dict[str, VerificationKey] = {}
        self._last_attempt: float | None = None

    def _reload(self) -> None:
        self._last_attempt = self._clock()
        try:
            self._keys = parse_jwks(self._source())
        except Exception as exc:
            # The class name only: library messages may echo URLs or payloads.
            log.warning(
                "key ring reload failed (%s); keeping the last good keys", type(exc).__name__
            )

    def get(self, kid: str) -> VerificationKey | None:
        key = self._keys.get(kid)
        if key is not None:
            return key
        interval = self._interval if self._keys else min(self._interval, EMPTY_RING_RETRY_SECONDS)
        if self._last_attempt is None or self._clock() - self._last_attempt >= interval:
            self._reload()
            return self._keys.get(kid)
        return None

    def load(self) -> None:
        """Load eagerly (at cold start) if never loaded."""
        if self._last_attempt is None:
            self._reload()
