"""TOTP secrets at rest: sealed by KMS, never stored in clear.

The secret (20 bytes) is encrypted directly under a symmetric KMS key (``MFA_KEY_ID``):
the key never leaves KMS, each decryption is in CloudTrail, and the encryption context
binds a ciphertext to its user and purpose, so a ciphertext copied onto another account
(by someone who can write the table) does not decrypt there. One ``Decrypt`` per second
step, one ``Encrypt`` per enrolment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from authcore.aws import unavailable_on_error
from authcore.awsjson import adapt

if TYPE_CHECKING:
    from types_boto3_kms import KMSClient


class Sealer(Protocol):
    def seal(self, secret: str, *, user_id: str) -> bytes: ...
    def open(self, sealed: bytes, *, user_id: str) -> str: ...


def _context(user_id: str) -> dict[str, str]:
    return {"purpose": "totp", "user_id": user_id}


class KmsSealer:
    def __init__(self, kms: KMSClient, key_id: str) -> None:
        self._kms = adapt(kms)
        self._key_id = key_id

    def seal(self, secret: str, *, user_id: str) -> bytes:
        with unavailable_on_error():
            answer = self._kms.encrypt(
                KeyId=self._key_id,
                Plaintext=secret.encode("ascii"),
                EncryptionContext=_context(user_id),
            )
        return answer["CiphertextBlob"]

    def open(self, sealed: bytes, *, user_id: str) -> str:
        # A ciphertext of another user (or altered) fails like an outage: 503, and
        # nothing is accepted.
        with unavailable_on_error():
            answer = self._kms.decrypt(
                KeyId=self._key_id, CiphertextBlob=sealed, EncryptionContext=_context(user_id)
            )
        return answer["Plaintext"].decode("ascii")
