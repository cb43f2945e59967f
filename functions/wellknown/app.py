"""GET /.well-known/jwks.json and /.well-known/openid-configuration.

Everything another service (or API Gateway's native JWT authorizer) needs to
verify our tokens on its own: the issuer, byte for byte as in ``iss``, and the
public keys with their pinned algorithms.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from authcore.edge import http
from authcore.edge.observability import logger, tracer
from authcore.keys.publish import JWKS_MAX_AGE_SECONDS
from authcore.runtime import signing

# Verifiers may cache the key set for JWKS_MAX_AGE_SECONDS; key rotation publishes
# a new key well before it signs anything, and an emergency revocation leaves this
# answer within JWKS_CACHE_SECONDS, 5 s (see README, key rotation arithmetic).
_PUBLIC = {"Cache-Control": f"public, max-age={JWKS_MAX_AGE_SECONDS}"}

app = http.new_app(allowed=("GET",))


@app.get("/.well-known/jwks.json")
def jwks() -> Response[Any]:
    return Response(
        200,
        "application/json",
        signing.jwks(signing.settings().jwks_cache_seconds),
        headers=_PUBLIC,
    )


@app.get("/.well-known/openid-configuration")
def openid_configuration() -> Response[Any]:
    issuer = http.issuer(app.current_event, signing.settings())
    document = {
        "issuer": issuer,
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "token_endpoint": f"{issuer}/auth/login",
        "revocation_endpoint": f"{issuer}/auth/logout",
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [signing.settings().signing_alg],
        "token_endpoint_auth_methods_supported": ["none"],
    }
    return Response(200, "application/json", document, headers=_PUBLIC)


# log_event pinned, whatever POWERTOOLS_LOGGER_LOG_EVENT says: the event carries
# the caller's tokens (cookies, Authorization, body).
@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_HTTP, log_event=False
)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
