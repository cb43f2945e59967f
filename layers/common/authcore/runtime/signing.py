"""The production wiring of the AWS-backed functions (their AWS clients: authcore.aws),
built once per container.

Nothing here runs at import time; tests call ``reset()`` between cases.
"""

from __future__ import annotations

import sys
import time
from functools import cache, lru_cache
from typing import Any

from authcore import aws
from authcore.accounts.devices import DeviceCookies
from authcore.accounts.dynamo import DynamoUserStore
from authcore.accounts.login import LoginService
from authcore.accounts.passwords import Passwords
from authcore.clock import Clock, system_clock
from authcore.config import Settings
from authcore.edge.observability import logger, metrics
from authcore.keys.lifecycle import CurrentSigner, KeyLifecycle, KeyMaterial, RotationPolicy
from authcore.keys.material import KmsMaterial, SecretsMaterial
from authcore.keys.publish import published_jwks
from authcore.keys.ring import KeyRing
from authcore.keys.signers import Signer
from authcore.keys.table import KeyTable
from authcore.mfa.dynamo import DynamoMfaStore
from authcore.sessions.dynamo import DynamoSessionStore
from authcore.sessions.service import SessionService
from authcore.tokens.claims import AccessClaims
from authcore.tokens.issue import TokenIssuer
from authcore.tokens.verify import AccessTokenVerifier


@cache
def settings() -> Settings:
    return Settings.from_env()


def security_event(event: str, fields: dict[str, Any]) -> None:
    logger.warning("security event", extra={"security_event": event, **fields})
    metrics.add_metric(name=_METRIC_NAMES.get(event, event), unit="Count", value=1)


_METRIC_NAMES = {
    "refresh_token_reuse": "RefreshTokenReuseDetected",
    "login_lockout": "LoginLockoutStarted",
    "refresh_hold_failed": "RefreshHoldFailed",
    "refresh_undelivered_expired": "RefreshUndeliveredExpired",
    "logout_all_refused": "LogoutAllRefused",
    "refresh_cookie_tossing": "RefreshCookieTossing",
    "password_changed": "PasswordChanged",
    "password_reset": "PasswordResetCompleted",
    "email_verified": "EmailVerified",
    "mail_suppressed": "MailSuppressed",
    "session_sweep_deferred": "SessionSweepDeferred",
    "password_notice_lost": "PasswordNoticeLost",
    "client_quota_exceeded": "ClientTokenQuotaExceeded",
    "mfa_enabled": "MfaEnabled",
    "mfa_disabled": "MfaDisabled",
    "mfa_lockout": "MfaLockoutStarted",
    "recovery_code_used": "RecoveryCodeUsed",
    "passkey_sign_count_regressed": "PasskeySignCountRegressed",
}

# The services' time source; tests and benchmarks swap it with use_clock().
_clock: list[Clock] = [system_clock]


def clock() -> Clock:
    return _clock[0]


def _reset_dependents() -> None:
    # The account, client, second-factor and passkey wirings (authcore.runtime.accounts,
    # .clients, .mfa, .passkeys) build on this module's; they are reset with it, if the
    # function imported them at all.
    for name in (
        "authcore.runtime.accounts",
        "authcore.runtime.clients",
        "authcore.runtime.mfa",
        "authcore.runtime.passkeys",
    ):
        module = sys.modules.get(name)
        if module is not None:
            module.reset()


def use_clock(clock: Clock) -> None:
    """Run the login and session services on another clock (reset() restores it)."""
    _clock[0] = clock
    login_service.cache_clear()
    session_service.cache_clear()
    _reset_dependents()


@cache
def passwords() -> Passwords:
    s = settings()
    return Passwords(
        time_cost=s.argon2_time_cost,
        memory_kib=s.argon2_memory_kib,
        parallelism=s.argon2_parallelism,
    )


@cache
def users() -> DynamoUserStore:
    return DynamoUserStore(aws.dynamodb(), settings().users_table_name)


@cache
def sessions() -> DynamoSessionStore:
    return DynamoSessionStore(aws.dynamodb(), settings().sessions_table_name)


@cache
def key_table() -> KeyTable:
    return KeyTable(aws.dynamodb(), settings().keys_table_name)


@cache
def key_material() -> KeyMaterial:
    s = settings()
    if s.signing_backend == "secretsmanager":
        return SecretsMaterial(aws.secretsmanager(), s.signing_keys_secret_name)
    return KmsMaterial(aws.kms(), stack=s.stack_name)


@cache
def current_signer() -> CurrentSigner:
    material = key_material()
    return CurrentSigner(
        key_table(), {material.backend: material}, max_age=settings().signer_cache_seconds
    )


def signer() -> Signer:
    return current_signer().get()


@cache
def key_lifecycle() -> KeyLifecycle:
    s = settings()
    policy = RotationPolicy.for_tokens(
        access_ttl=s.access_ttl,
        leeway=s.leeway,
        interval=s.key_rotation_interval_days * 86_400,
    )
    return KeyLifecycle(key_table(), key_material(), alg=s.signing_alg, policy=policy)


_jwks_cache: list[tuple[float, dict[str, Any]]] = []


def jwks(max_age: float) -> dict[str, Any]:
    """The published key set, re-read from the key table at most every ``max_age`` s."""
    now = time.monotonic()
    if not _jwks_cache or now - _jwks_cache[0][0] > max_age:
        _jwks_cache[:] = [(now, published_jwks(key_table().load()))]
    return _jwks_cache[0][1]


@cache
def token_issuer() -> TokenIssuer:
    return TokenIssuer(settings(), signer)


@cache
def login_service() -> LoginService:
    s = settings()
    return LoginService(
        s,
        users=users(),
        passwords=passwords(),
        sessions=sessions(),
        issuer=token_issuer(),
        clock=_clock[0],
        lockout_key=s.lockout_key.encode() if s.lockout_key else None,
        on_security_event=security_event,
        # No key, no device cookies: a built-in key would let anyone mint them.
        devices=DeviceCookies(s.device_cookie_key.encode()) if s.device_cookie_key else None,
        pending=mfa_store(),
    )


@cache
def mfa_store() -> DynamoMfaStore:
    """The second factor's items on the users table (the pending logins among them)."""
    return DynamoMfaStore(aws.dynamodb(), settings().users_table_name)


@cache
def session_service(*, signing: bool = False) -> SessionService:
    return SessionService(
        settings(),
        sessions=sessions(),
        issuer=token_issuer() if signing else None,
        clock=_clock[0],
        on_security_event=security_event,
        verify_access=verify_access,
    )


def verify_access(token: str, issuer: str) -> AccessClaims:
    return access_verifier(issuer).verify(token)


@lru_cache(maxsize=8)
def access_verifier(issuer: str) -> AccessTokenVerifier:
    s = settings()
    ring = KeyRing(lambda: jwks(s.jwks_cache_seconds))
    return AccessTokenVerifier(
        ring.get, issuer=issuer, audience=s.audience, max_lifetime=s.access_ttl, leeway=s.leeway
    )


def reset() -> None:
    for cached in (
        settings,
        passwords,
        users,
        sessions,
        key_table,
        key_material,
        current_signer,
        key_lifecycle,
        token_issuer,
        login_service,
        mfa_store,
        session_service,
    ):
        cached.cache_clear()
    access_verifier.cache_clear()
    _jwks_cache.clear()
    _clock[0] = system_clock
    aws.reset_clients()
    _reset_dependents()
