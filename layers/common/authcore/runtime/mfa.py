"""The second factor's wiring (TOTP, recovery codes), on top of ``runtime.signing``'s:
a module of its own so that only the functions that check or change a second factor
import pyotp and reach KMS's Encrypt and Decrypt."""

from __future__ import annotations

from functools import cache

from authcore import aws
from authcore.mfa.sealing import KmsSealer
from authcore.mfa.service import MfaService
from authcore.runtime import signing


@cache
def mfa_service() -> MfaService:
    settings = signing.settings()
    return MfaService(
        settings,
        users=signing.users(),
        store=signing.mfa_store(),
        sealer=KmsSealer(aws.kms(), settings.mfa_key_id),
        # The login function's second step opens sessions; the MFA function has no
        # SESSIONS_TABLE (template.yaml) and never does.
        sessions=signing.sessions() if settings.sessions_table else None,
        issuer=signing.token_issuer(),
        clock=signing.clock(),
        on_security_event=signing.security_event,
    )


def reset() -> None:
    mfa_service.cache_clear()
