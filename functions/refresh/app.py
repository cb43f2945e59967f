"""POST /auth/refresh: rotate the refresh token, issue a new access token."""

from __future__ import annotations

from authcore.edge import http, requests, responses
from authcore.edge.observability import metrics
from authcore.edge.router import Response
from authcore.errors import InvalidGrant
from authcore.runtime import signing

app = http.new_app("/auth/refresh")


@app.post("/auth/refresh")
def refresh() -> Response:
    request = requests.refresh(app.current_event, signing.settings())
    try:
        issued = signing.session_service(signing=True).refresh_any(
            request.tokens, issuer=request.issuer
        )
    except InvalidGrant as refused:
        return responses.refresh_refused(refused, request)
    metrics.add_metric(name="RefreshSucceeded", unit="Count", value=1)
    return responses.tokens(issued, request.delivery)


lambda_handler = http.lambda_handler(app)
