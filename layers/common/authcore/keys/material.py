"""Where the private halves of signing keys live.

* ``KmsMaterial``: asymmetric KMS keys; the private key never leaves KMS, every
  signature is a KMS request (mind the account-wide quota, see docs/keys.md).
* ``SecretsMaterial``: a private JWK set in one Secrets Manager secret, loaded
  once per container and cached with a bounded age; signing is local and free,
  for deployments that must not be bound by the KMS quota.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from authcore.aws import unavailable_on_error
from authcore.awsjson import adapt
from authcore.clock import Clock, system_clock
from authcore.errors import TemporarilyUnavailable, UnusableKey
from authcore.keys.signers import (
    KmsSigner,
    LocalSigner,
    PrivateKey,
    PublicKey,
    public_jwk,
    thumbprint,
)
from authcore.keys.table import KeyRecord

if TYPE_CHECKING:
    from types_boto3_kms import KMSClient
    from types_boto3_secretsmanager import SecretsManagerClient

KMS_KEY_SPECS = {"ES256": "ECC_NIST_P256", "RS256": "RSA_2048"}
STACK_TAG = "auth-stack"
SECRET_CACHE_SECONDS = 300


class KmsMaterial:
    backend = "kms"

    def __init__(self, kms: KMSClient, *, stack: str, pending_deletion_days: int = 7) -> None:
        self._kms = adapt(kms)
        self._stack = stack
        self._deletion_days = pending_deletion_days

    def create(self, alg: str) -> tuple[str, str, dict[str, Any]]:
        with unavailable_on_error():
            key_id = self._kms.create_key(
                KeySpec=KMS_KEY_SPECS[alg],  # type: ignore[arg-type]
                KeyUsage="SIGN_VERIFY",
                Description=f"{self._stack} access-token signing key ({alg})",
                # The functions' IAM policies only reach keys carrying this tag.
                Tags=[{"TagKey": STACK_TAG, "TagValue": self._stack}],
            )["KeyMetadata"]["KeyId"]
            der = self._kms.get_public_key(KeyId=key_id)["PublicKey"]
        public_key = serialization.load_der_public_key(der)
        if not isinstance(public_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
            raise UnusableKey("unexpected KMS key type")
        kid = thumbprint(public_key)
        return kid, key_id, public_jwk(public_key, kid, alg)

    def signer(self, record: KeyRecord) -> KmsSigner:
        return KmsSigner(self._kms, record.ref, record.alg, kid=record.kid)

    def destroy(self, record: KeyRecord) -> None:
        # Disabled at once (no signature can be made any more), deleted after
        # the waiting period KMS enforces, during which a mistake can be undone.
        with unavailable_on_error():
            self._kms.disable_key(KeyId=record.ref)
            self._kms.schedule_key_deletion(
                KeyId=record.ref, PendingWindowInDays=self._deletion_days
            )


def _private_jwk(key: PrivateKey, kid: str, alg: str) -> dict[str, Any]:
    from jwt.algorithms import ECAlgorithm, RSAAlgorithm  # as in signers.public_jwk

    jwk: dict[str, Any]
    if isinstance(key, ec.EllipticCurvePrivateKey):
        jwk = json.loads(ECAlgorithm.to_jwk(key))
    else:
        jwk = json.loads(RSAAlgorithm.to_jwk(key))
    jwk.update({"kid": kid, "alg": alg, "use": "sig"})
    return jwk


def _load_private(jwk: dict[str, Any]) -> PrivateKey:
    from jwt.algorithms import ECAlgorithm, RSAAlgorithm  # as in signers.public_jwk

    key: Any = (ECAlgorithm if jwk["kty"] == "EC" else RSAAlgorithm).from_jwk(jwk)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise UnusableKey("not a private key")
    return key


class SecretsMaterial:
    backend = "secretsmanager"

    def __init__(
        self,
        secrets: SecretsManagerClient,
        secret_id: str,
        *,
        max_age: float = SECRET_CACHE_SECONDS,
        clock: Clock = system_clock,
    ) -> None:
        self._secrets = adapt(secrets)
        self._secret_id = secret_id
        self._max_age = max_age
        self._clock = clock
        self._cache: tuple[float, dict[str, dict[str, Any]]] | None = None

    def _read(self, *, fresh: bool = False) -> dict[str, dict[str, Any]]:
        now = self._clock()
        if fresh or self._cache is None or now - self._cache[0] >= self._max_age:
            with unavailable_on_error():
                text = self._secrets.get_secret_value(SecretId=self._secret_id)["SecretString"]
            document = json.loads(text or "{}")
            keys = {jwk["kid"]: jwk for jwk in document.get("keys", [])}
            self._cache = (now, keys)
        return self._cache[1]

    def _write(self, keys: dict[str, dict[str, Any]]) -> None:
        with unavailable_on_error():
            self._secrets.put_secret_value(
                SecretId=self._secret_id, SecretString=json.dumps({"keys": list(keys.values())})
            )
        self._cache = (self._clock(), keys)

    def create(self, alg: str) -> tuple[str, str, dict[str, Any]]:
        signer = LocalSigner.generate("", alg)
        public_key: PublicKey = signer.public_key()
        kid = thumbprint(public_key)
        keys = dict(self._read(fresh=True))
        keys[kid] = _private_jwk(signer.private_key, kid, alg)
        self._write(keys)
        return kid, kid, public_jwk(public_key, kid, alg)

    def signer(self, record: KeyRecord) -> LocalSigner:
        jwk = self._read().get(record.kid) or self._read(fresh=True).get(record.kid)
        if jwk is None:
            raise TemporarilyUnavailable("The signing key is not available.")
        return LocalSigner(_load_private(jwk), record.kid, record.alg)

    def destroy(self, record: KeyRecord) -> None:
        keys = dict(self._read(fresh=True))
        if keys.pop(record.kid, None) is not None:
            self._write(keys)
