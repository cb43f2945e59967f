"""Signing keys: who signs (KMS or local key material) and how to publish them.

The signing side needs boto3 (KMS); the verifying side (``authcore.keys.ring``) must
not, so the two live in separate modules.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any, Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from authcore import b64
from authcore.aws import unavailable_on_error
from authcore.awsjson import adapt

if TYPE_CHECKING:
    from types_boto3_kms import KMSClient

PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

# JWS algorithm -> KMS signing algorithm. Pinned per key: a key signs with one
# algorithm only, and verifiers take that algorithm from the JWKS, never from a token.
KMS_ALGORITHMS = {"ES256": "ECDSA_SHA_256", "RS256": "RSASSA_PKCS1_V1_5_SHA_256"}


class Signer(Protocol):
    kid: str
    alg: str

    def sign(self, signing_input: bytes) -> bytes:
        """Return the JWS signature bytes (raw r||s for ES256, RFC 7518 §3.4)."""
        ...


# Order of the P-256 group.
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def der_to_raw_p256(der: bytes) -> bytes:
    """KMS returns ECDSA signatures DER-encoded; JWS wants fixed-width r||s.

    Normalised to low-S: (r, n - s) is the same signature's other spelling, and
    our verifier accepts only the low one (authcore.tokens.verify), so neither KMS nor
    OpenSSL, which pick either at random, may hand out the high one.
    """
    r, s = decode_dss_signature(der)
    if s > P256_N // 2:
        s = P256_N - s
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


class KmsSigner:
    """Signs inside KMS: the private key never exists outside the HSM."""

    def __init__(
        self, kms: KMSClient, key_id: str, alg: str = "ES256", *, kid: str | None = None
    ) -> None:
        self._kms = adapt(kms)
        self._key_id = key_id
        self.kid = kid or key_id
        self.alg = alg

    def sign(self, signing_input: bytes) -> bytes:
        # MessageType RAW: KMS hashes the input itself (inputs stay far below
        # the 4096-byte limit), and moto implements RAW faithfully.
        with unavailable_on_error():
            response = self._kms.sign(
                KeyId=self._key_id,
                Message=signing_input,
                MessageType="RAW",
                SigningAlgorithm=KMS_ALGORITHMS[self.alg],  # type: ignore[arg-type]
            )
        signature = response["Signature"]
        return der_to_raw_p256(signature) if self.alg == "ES256" else signature


class LocalSigner:
    """Key material held in memory (tests, benchmarks, a secret-backed key store)."""

    def __init__(self, private_key: PrivateKey, kid: str, alg: str = "ES256") -> None:
        self._key = private_key
        self.kid = kid
        self.alg = alg

    @classmethod
    def generate(cls, kid: str = "test-key", alg: str = "ES256") -> LocalSigner:
        key: PrivateKey
        if alg == "ES256":
            key = ec.generate_private_key(ec.SECP256R1())
        else:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return cls(key, kid, alg)

    @property
    def private_key(self) -> PrivateKey:
        return self._key

    def public_key(self) -> PublicKey:
        return self._key.public_key()

    def sign(self, signing_input: bytes) -> bytes:
        if isinstance(self._key, ec.EllipticCurvePrivateKey):
            der = self._key.sign(signing_input, ec.ECDSA(hashes.SHA256()))
            return der_to_raw_p256(der)
        return self._key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())


def public_jwk(public_key: PublicKey, kid: str, alg: str) -> dict[str, Any]:
    """The public half as a JWK (RFC 7517) with its pinned ``alg`` and ``use``."""
    # Imported here: PyJWT's package imports cryptography.x509 (~25 ms of a cold start),
    # and only minting or publishing a key needs a JWK, never issuing a token.
    from jwt.algorithms import ECAlgorithm, RSAAlgorithm

    if isinstance(public_key, ec.EllipticCurvePublicKey):
        jwk: dict[str, Any] = ECAlgorithm.to_jwk(public_key, as_dict=True)
    else:
        jwk = RSAAlgorithm.to_jwk(public_key, as_dict=True)
    jwk.update({"kid": kid, "alg": alg, "use": "sig"})
    jwk.pop("key_ops", None)
    return jwk


def thumbprint(public_key: PublicKey) -> str:
    """RFC 7638 JWK thumbprint: a stable key id derived from the key itself."""
    jwk = public_jwk(public_key, "", "")
    members = ("crv", "kty", "x", "y") if jwk["kty"] == "EC" else ("e", "kty", "n")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return b64.encode(hashlib.sha256(canonical.encode()).digest())
