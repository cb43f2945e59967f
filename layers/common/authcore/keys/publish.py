"""The public JWKS and the cache lifetimes that bound how long a revoked key is trusted."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from authcore.clients.model import AUTH_METHODS

if TYPE_CHECKING:
    from authcore.keys.table import KeyRecord

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
    # Imported here: the routes that only read the cache bounds above (every HTTP
    # function's responses) must not load the table's AWS client machinery.
    from authcore.keys.table import PUBLISHED

    order = {state: i for i, state in enumerate(("current", "pending", "previous"))}
    keys = sorted((r for r in records if r.state in PUBLISHED), key=lambda r: order[r.state])
    return {"keys": [r.public_jwk for r in keys]}


# The private_key_jwt assertion algorithms authcore.clients.assertion accepts.
ASSERTION_ALGS = ("ES256", "ES384", "RS256", "PS256")


def discovery_document(issuer: str, signing_alg: str) -> dict[str, Any]:
    """OpenID Provider Metadata: enough for another service (or API Gateway's
    native JWT authorizer) to find and verify our tokens."""
    # RFC 8414's metadata of the OAuth endpoints (machine clients, contract §9): a
    # client library (Authlib, for one) finds the token endpoint and how to
    # authenticate from here. People log in at /auth/login, which is no OAuth endpoint.
    auth_methods = list(AUTH_METHODS)
    assertion_algs = list(ASSERTION_ALGS)
    return {
        "issuer": issuer,
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "token_endpoint": f"{issuer}/oauth2/token",
        "introspection_endpoint": f"{issuer}/oauth2/introspect",
        "revocation_endpoint": f"{issuer}/oauth2/revoke",
        "grant_types_supported": ["client_credentials"],
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [signing_alg],
        "token_endpoint_auth_methods_supported": auth_methods,
        "token_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "introspection_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_signing_alg_values_supported": assertion_algs,
    }
