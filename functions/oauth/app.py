"""OAuth 2.0 for machine clients: POST /oauth2/token (client credentials),
/oauth2/introspect (RFC 7662) and /oauth2/revoke (RFC 7009)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from authcore.edge import http, requests, responses
from authcore.edge.observability import metrics
from authcore.edge.router import Response
from authcore.errors import InvalidClient
from authcore.runtime import clients, signing

app = http.new_app("/oauth2/token", "/oauth2/introspect", "/oauth2/revoke")


@contextmanager
def counting_failed_authentication() -> Iterator[None]:
    # On all three routes: guessing secrets through introspection or revocation
    # shows in the same metric (and alarm) as through the token endpoint.
    try:
        yield
    except InvalidClient:
        metrics.add_metric(name="ClientAuthenticationFailed", unit="Count", value=1)
        raise


@app.post("/oauth2/token")
def token() -> Response:
    with counting_failed_authentication():
        request = requests.token_request(app.current_event, signing.settings())
        issued = clients.client_service().token(
            request.auth, grant_type=request.grant_type, scope=request.scope, issuer=request.issuer
        )
    metrics.add_metric(name="ClientTokenIssued", unit="Count", value=1)
    return responses.client_token(issued)


@app.post("/oauth2/introspect")
def introspect() -> Response:
    with counting_failed_authentication():
        request = requests.token_presented(app.current_event, signing.settings())
        service = clients.client_service()
        answer = service.introspect(request.auth, request.token, issuer=request.issuer)
    metrics.add_metric(
        name="TokenIntrospected" if answer["active"] else "TokenIntrospectedInactive",
        unit="Count",
        value=1,
    )
    return responses.json(200, answer)


@app.post("/oauth2/revoke")
def revoke() -> Response:
    with counting_failed_authentication():
        request = requests.token_presented(app.current_event, signing.settings())
        clients.client_service().revoke(request.auth, request.token, issuer=request.issuer)
    metrics.add_metric(name="TokenRevocationRequested", unit="Count", value=1)
    # RFC 7009 §2.2: 200 whether or not the token was valid.
    return responses.json(200)


# Bodies hold client secrets, assertions and tokens: nothing is logged or traced.
lambda_handler = http.lambda_handler(app, capture_error=False)
