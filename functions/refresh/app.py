"""POST /auth/refresh: rotate the refresh token, issue a new access token."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response

from authcore.edge import http, requests, responses
from authcore.edge.observability import metrics
from authcore.errors import InvalidGrant
from authcore.runtime import signing

app = http.new_app("/auth/refresh")


@app.post("/auth/refresh")
def refresh() -> Response[Any]:
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
