"""A software authenticator for the passkey tests: what a browser and a platform authenticator
(WebAuthn L3 §6) hand the relying party, built by hand so that every field can be made wrong.

One EC P-256 key per credential (COSE alg -7, ES256), "none" attestation (§8.7), the
authenticator data of §6.1 (rpIdHash, flags UP|UV|BE|BS|AT, a signature counter), and the
client data of §5.8.1. Answers are ``PublicKeyCredential.toJSON()`` dicts (base64url fields).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Credential:
    credential_id: bytes
    key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    sign_count: int = 0

    def cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps(
            {
                1: 2,  # kty: EC2
                3: -7,  # alg: ES256
                -1: 1,  # crv: P-256
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )


@dataclass
class SoftAuthenticator:
    """Its credentials, by id. ``counting``: whether it keeps a signature counter (many
    synced passkeys always report 0)."""

    origin: str
    rp_id: str
    counting: bool = True
    credentials: dict[bytes, Credential] = field(default_factory=dict)

    @staticmethod
    def _client_data(kind: str, challenge: str, origin: str) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False},
            separators=(",", ":"),
        ).encode()

    @staticmethod
    def _flags(uv: bool, backed_up: bool, attested: bool = False) -> int:
        flags = UP | BE
        if uv:
            flags |= UV
        if backed_up:
            flags |= BS
        if attested:
            flags |= AT
        return flags

    def create(
        self,
        public_key: dict[str, Any],
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        uv: bool = True,
        backed_up: bool = True,
    ) -> dict[str, Any]:
        """``navigator.credentials.create({publicKey})`` answered, as ``toJSON()`` gives it."""
        rp = rp_id or public_key["rp"]["id"]
        excluded = {unb64url(c["id"]) for c in public_key.get("excludeCredentials", [])}
        assert not excluded & set(self.credentials), "InvalidStateError: already registered"
        credential = Credential(
            credential_id=os.urandom(16),
            key=ec.generate_private_key(ec.SECP256R1()),
            rp_id=rp,
            user_handle=unb64url(public_key["user"]["id"]),
        )
        self.credentials[credential.credential_id] = credential
        auth_data = (
            hashlib.sha256(rp.encode()).digest()
            + bytes([self._flags(uv, backed_up, attested=True)])
            + struct.pack(">I", credential.sign_count)
            + bytes(16)  # AAGUID: none given with "none" attestation
            + struct.pack(">H", len(credential.credential_id))
            + credential.credential_id
            + credential.cose_key()
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = self._client_data(
            "webauthn.create", public_key["challenge"], origin or self.origin
        )
        return {
            "id": b64url(credential.credential_id),
            "rawId": b64url(credential.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": ["internal", "hybrid"],
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    def get(
        self,
        public_key: dict[str, Any],
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        uv: bool = True,
        backed_up: bool = True,
        credential_id: bytes | None = None,
        sign_count: int | None = None,
        user_handle: bool = True,
        kind: str = "webauthn.get",
    ) -> dict[str, Any]:
        """``navigator.credentials.get({publicKey})`` answered: with an allow list, one of
        its credentials; without, a discoverable one of this RP (or ``credential_id``)."""
        rp = rp_id or public_key.get("rpId") or self.rp_id
        allowed = [unb64url(c["id"]) for c in public_key.get("allowCredentials", [])]
        if credential_id is None:
            candidates = (
                [i for i in allowed if i in self.credentials]
                if allowed
                else [i for i, c in self.credentials.items() if c.rp_id == rp]
            )
            assert candidates, "NotAllowedError: no credential"
            credential_id = candidates[0]
        credential = self.credentials[credential_id]
        if sign_count is None:
            if self.counting:
                credential.sign_count += 1
            sign_count = credential.sign_count
        auth_data = (
            hashlib.sha256(rp.encode()).digest()
            + bytes([self._flags(uv, backed_up)])
            + struct.pack(">I", sign_count)
        )
        client_data = self._client_data(kind, public_key["challenge"], origin or self.origin)
        signature = credential.key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        return {
            "id": b64url(credential_id),
            "rawId": b64url(credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(credential.user_handle) if user_handle else None,
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }
