"""API Gateway Lambda authorizer: stateless verification of access tokens.

Runs before every protected route, so its import graph is part of its latency:
standard library, PyJWT's key parsing and cryptography only. No boto3, no
Powertools resolver. Keys come from the issuer's JWKS over HTTPS, as API
Gateway's own JWT authorizers get them.
"""

from __future__ import annotations

import json
import logging
import os
from functools import lru_cache
from typing import Any

from authcore import credentials
from authcore.config import Settings
from authcore.errors import AuthError, InvalidToken
from authcore.keyring import KeyRing, fetch_jwks
from authcore.verify import AccessTokenVerifier

log = logging.getLogger("authorizer")
log.setLevel(os.environ.get("POWERTOOLS_LOG_LEVEL", "INFO"))

DENY: dict[str, Any] = {"isAuthorized": False}


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings.from_env()


@lru_cache(maxsize=8)
def verifier_for(issuer: str) -> AccessTokenVerifier:
    config = settings()
    jwks_url = config.jwks_url or f"{issuer}/.well-known/jwks.json"
    ring = KeyRing(lambda: fetch_jwks(jwks_url))
    ring.load()
    return AccessTokenVerifier(
        ring.get,
        issuer=issuer,
        audience=config.audience,
        max_lifetime=config.access_ttl,
        leeway=config.leeway,
    )


def reset() -> None:
    """Forget configuration and keys (a new container, for tests)."""
    settings.cache_clear()
    verifier_for.cache_clear()


def authorize_http(event: dict[str, Any]) -> dict[str, Any]:
    """HTTP API, payload format 2.0, simple responses."""
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    request_context = event.get("requestContext") or {}
    method = (request_context.get("http") or {}).get("method", "")
    config = settings()
    issuer = config.issuer_for(request_context.get("domainName"))
    token = credentials.bearer_token(headers)
    if token is None:
        token = credentials.cookie_value(event.get("cookies"), credentials.ACCESS_COOKIE)
        if token is None:
            raise InvalidToken("missing_token")
        if method.upper() not in credentials.SAFE_METHODS:
            # A cookie rides along on cross-site requests; a Bearer header never does.
            credentials.check_same_site(
                headers, config.allowed_origins, credentials.origin_of(issuer)
            )
    claims = verifier_for(issuer).verify(token)
    # Context values must be strings, numbers or booleans.
    return {
        "isAuthorized": True,
        "context": {
            "sub": claims["sub"],
            "username": claims.get("username", ""),
            "scope": claims.get("scope", ""),
            "sid": claims["sid"],
            "client_id": claims.get("client_id", ""),
            "exp": claims["exp"],
        },
    }


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        return authorize_http(event)
    except InvalidToken as denied:
        _log_denial(denied.reason)
    except AuthError as denied:
        _log_denial(denied.code)
    except Exception as error:
        _log_denial("error", error_type=type(error).__name__)
    return DENY


def _log_denial(reason: str, **fields: str) -> None:
    log.info(json.dumps({"message": "denied", "reason": reason, **fields}))
