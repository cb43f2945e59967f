"""The wiring of the passkey function, built once per container on top of
``runtime.signing``'s. A module of its own because it imports py_webauthn (through
``authcore.mfa.passkeys``), about 110 ms at a cold start that login, refresh, the
authorizers and the account functions must never pay.
"""

from __future__ import annotations

from functools import cache

from authcore import aws
from authcore.mfa.passkey_store import DynamoPasskeyStore
from authcore.mfa.passkeys import PasskeyService
from authcore.runtime import signing


@cache
def passkey_store() -> DynamoPasskeyStore:
    return DynamoPasskeyStore(aws.dynamodb(), signing.settings().users_table_name)


@cache
def passkey_service() -> PasskeyService:
    return PasskeyService(
        signing.settings(),
        store=passkey_store(),
        sessions=signing.sessions(),
        issuer=signing.token_issuer(),
        clock=signing.clock(),
        on_security_event=signing.security_event,
    )


def reset() -> None:
    """Called by ``signing.reset`` and ``signing.use_clock``."""
    for cached in (passkey_store, passkey_service):
        cached.cache_clear()
