"""The public JWKS and the cache lifetimes that bound how long a revoked key is trusted."""

from __future__ import annotations

from typing import Any

from authcore.keys.table import PUBLISHED, KeyRecord

API_GATEWAY_JWKS_CACHE_SECONDS = 2 * 3600
# What the JWKS's Cache-Control allows other verifiers: a revoked key leaves a
# verifier that honours it within this plus the JWKS function's own cache.
JWKS_MAX_AGE_SECONDS = 60
# The JWKS function re-reads the keys table at most this often (target: the JWKS
# drops a revoked key within 10 s).
JWKS_CACHE_SECONDS = 5
# Our authorizers re-confirm their ring at least this often (authcore.keys.ring).
AUTHORIZER_RELOAD_SECONDS = 30


def published_jwks(records: list[KeyRecord]) -> dict[str, Any]:
    """The public JWKS: pending, current and previous keys, public members only."""
    order = {state: i for i, state in enumerate(("current", "pending", "previous"))}
    keys = sorted((r for r in records if r.state in PUBLISHED), key=lambda r: order[r.state])
    return {"keys": [r.public_jwk for r in keys]}


def discovery_document(issuer: str, signing_alg: str) -> dict[str, Any]:
    """OpenID Provider Metadata: enough for another service (or API Gateway's
    native JWT authorizer) to find and verify our tokens."""
    return {
        "issuer": issuer,
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "token_endpoint": f"{issuer}/auth/login",
        "revocation_endpoint": f"{issuer}/auth/logout",
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [signing_alg],
        "token_endpoint_auth_methods_supported": ["none"],
    }
