"""GET /.well-known/jwks.json and /.well-known/openid-configuration.

Everything another service (or API Gateway's native JWT authorizer) needs to
verify our tokens on its own: the issuer, byte for byte as in ``iss``, and the
public keys with their pinned algorithms.
"""

from __future__ import annotations

from authcore.edge import http, requests, responses
from authcore.edge.router import Response
from authcore.keys.publish import discovery_document
from authcore.runtime import signing

app = http.new_app(allowed=("GET",))


@app.get("/.well-known/jwks.json")
def jwks() -> Response:
    return responses.public(signing.jwks(signing.settings().jwks_cache_seconds))


@app.get("/.well-known/openid-configuration")
def openid_configuration() -> Response:
    settings = signing.settings()
    issuer = requests.issuer(app.current_event, settings)
    return responses.public(discovery_document(issuer, settings.signing_alg))


lambda_handler = http.lambda_handler(app, with_metrics=False)
